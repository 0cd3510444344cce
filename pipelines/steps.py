"""The pipeline steps, each a thin composition of the packages' pure functions."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from core.config import Demographic, Settings
from core.io import read_dataset_info, read_raw_tables, write_dataset_info, write_tables
from ingest.validate import ValidationReport, validate_tables

if TYPE_CHECKING:  # Feast and the feature engine load when a step runs, not with the settings
    import pandas as pd

    from features.build import Manifest
    from features.store import Materialized

log = logging.getLogger(__name__)


def effective(settings: Settings) -> Settings:
    """Settings with the demographics of the source the clean tables came from (if validated)."""
    info = read_dataset_info(settings.paths.clean)
    if info is None:
        return settings
    declared = tuple(Demographic.model_validate(d) for d in info["demographics"])
    return settings.model_copy(update={"demographics": declared})


def validate_data(settings: Settings, as_of: pd.Timestamp | None) -> ValidationReport:
    """Validate the raw tables against the contract; write the clean tables and the report."""
    data = settings.paths.data
    tables = read_raw_tables(data)
    sources = {name: str(data / f"{name}.parquet") for name in tables}
    clean, report = validate_tables(tables, as_of=as_of, demographics=settings.demographics, sources=sources)
    write_tables(clean, settings.paths.clean)
    write_dataset_info(settings.paths.clean, "data", [d.model_dump() for d in settings.demographics])
    (settings.paths.workdir / "validation.json").write_text(json.dumps(report.to_dict(), indent=2))
    return report


def build(settings: Settings) -> Manifest:
    from features.build import build_features

    return build_features(settings.paths.clean, settings)


def materialize(settings: Settings, reload: bool = False) -> Materialized:
    """feast apply, then bring the online store up to the newest snapshot (in full when `reload`)."""
    from features.build import read_manifest
    from features.store import apply_definitions, materialize_newest, open_store

    store = open_store(settings)
    apply_definitions(store, settings)
    return materialize_newest(store, read_manifest(settings.paths.features), settings.paths.features, reload)
