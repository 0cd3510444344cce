"""What the report shows, as frozen dataclasses: filled by `data.gather`, read by `context`."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from core.config import RiskTiers


@dataclass(frozen=True)
class ModelInfo:
    """One champion: registry name, version, its aliases and tags, and its training run's lineage."""

    name: str
    version: str
    aliases: tuple[str, ...]
    tags: dict[str, str]
    run_id: str
    lineage: dict[str, str]


@dataclass(frozen=True)
class TargetList:
    file: str
    head: pd.DataFrame
    rows: int


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows; `churn_test`/`stage_test` are None for runs that predate them."""

    as_of: pd.Timestamp
    scores: pd.DataFrame  # every active customer at the newest snapshot (no reasons)
    reasons: pd.DataFrame  # the REASON_SAMPLE riskiest of them, with their top 3 reason features
    churn_test: pd.DataFrame | None
    stage_test: pd.DataFrame | None
    importance: pd.Series | None
    models: tuple[ModelInfo, ...]
    targets: TargetList | None
    tiers: RiskTiers
    window_days: int  # the churn label's prediction window
    descriptions: dict[str, str]  # feature name -> plain-language meaning
