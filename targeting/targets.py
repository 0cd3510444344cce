"""`journey targets`: value and rank every active customer, list the best within a budget, with reasons.

Scoring, value, ranking and selection are vectorised over all customers; TreeSHAP reasons (about
a millisecond a row) are computed only for the selected rows. Outputs: targets.csv, targets.xlsx
and targets_summary.json, each written to a temporary name and renamed once all three are done,
the summary last: each file is whole, and a summary of this run means its list files are in place
(a run killed between the renames leaves the old summary; re-run it). docs/reliability.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import mlflow
import numpy as np
import pandas as pd

from core.config import Settings
from core.registry import connect
from core.schema import CHAMPION, CHURN_MODEL
from features.build import TIMESTAMP
from serving.artifact import PROBABILITY_DIGITS
from serving.batch import active, load_scorer, newest_features, snapshot_features
from serving.scoring import Scorer, risk_tiers, run_rate_value
from targeting.select import (
    Filters,
    Score,
    TargetingError,
    attach_actions,
    cost_threshold,
    expected_value_saved,
    filter_mask,
    refine_actions,
    select,
    stage_actions,
    summarize,
    uplift_value_saved,
)
from targeting.spreadsheet import write_xlsx
from targeting.value import compare_methods, customer_value

SCORE = "expected_value_saved"
FILES = ("targets.csv", "targets.xlsx", "targets_summary.json")
TEST_PREDICTIONS = "test_predictions.parquet"


@dataclass(frozen=True)
class Request:
    """What the marketer asked for: a budget and/or a number of contacts, and who may be listed."""

    budget: float | None = None
    capacity: int | None = None
    filters: Filters = field(default_factory=Filters)
    rank_by: Literal["value", "uplift"] = "value"  # uplift: needs a model from `journey uplift`

    def __post_init__(self) -> None:
        if self.budget is not None and not self.budget > 0:
            raise TargetingError(f"--budget must be a positive amount, got {self.budget}")
        if self.capacity is not None and self.capacity <= 0:
            raise TargetingError(f"--capacity must be a positive number of customers, got {self.capacity}")


@dataclass(frozen=True)
class Ranking:
    scores: pd.DataFrame  # every active customer: scores, value, stage default action, score
    eligible: int  # customers passing the filters
    selected: pd.DataFrame  # the list, indexed by row of the feature frame
    value_method: str
    capacity: int | None


def rank(
    scorer: Scorer,
    feats: pd.DataFrame,
    settings: Settings,
    request: Request,
    score: Score = expected_value_saved,
    uplift: np.ndarray | None = None,
) -> Ranking:
    """Score, value and rank every row of `feats`; select the list (no reasons yet)."""
    t = settings.targeting
    window = settings.labels.prediction_window_days
    value, method = customer_value(feats, t.value_method, window, t.value_fit_sample, settings.training.seed)
    scores = attach_actions(_scores(scorer, feats, value, settings), settings.actions)
    if uplift is not None:
        scores["uplift"] = uplift
    scores[SCORE] = score(scores)
    mask = filter_mask(scores, feats, request.filters)
    capacity = request.capacity or (None if request.budget else t.default_capacity)
    selected = select(scores[mask], SCORE, request.budget, capacity)
    return Ranking(scores, int(mask.sum()), selected, method, capacity)


def _scores(scorer: Scorer, feats: pd.DataFrame, value: np.ndarray, settings: Settings) -> pd.DataFrame:
    """Churn probability, tier, stage and value of every row (the next stage waits for the list)."""
    p = scorer.churn_probability(feats)
    tiers = settings.serving.risk_tiers
    return pd.DataFrame(
        {
            "customer_id": feats["customer_id"].to_numpy(),
            "churn_probability": p,
            "risk_tier": risk_tiers(p, tiers.high, tiers.medium),
            "current_stage": feats["current_stage"].to_numpy(),
            "customer_value": value,
            "expected_value_at_risk": p * value,
        }
    )


def explain(
    scorer: Scorer,
    feats: pd.DataFrame,
    ranking: Ranking,
    settings: Settings,
    budget: float | None,
    score: Score = expected_value_saved,
) -> pd.DataFrame:
    """The selected rows with reasons, the action of their main reason where it pays, ranked."""
    rows = feats.loc[ranking.selected.index].reset_index(drop=True)
    k = settings.serving.reasons
    reasons = scorer.reasons(scorer.churn.inputs.matrix(rows), rows, range(len(rows)), k)
    families = [
        scorer.catalog[r[0].feature].family if r and r[0].feature in scorer.catalog else None for r in reasons
    ]
    table = refine_actions(ranking.selected, families, settings.actions, score, budget)
    table["next_stage"] = scorer.next_stage(rows)
    table[SCORE] = score(table)
    for i in range(k):
        table[f"reason_{i + 1}"] = [r[i].sentence if len(r) > i else "" for r in reasons]
    table = table.sort_values(SCORE, ascending=False, kind="stable").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    for name, version in scorer.versions.items():
        table[f"{name}_model_version"] = version
    return _presented(table, k)


def _presented(table: pd.DataFrame, k: int) -> pd.DataFrame:
    columns = [
        "rank", "customer_id", "churn_probability", "risk_tier", "current_stage", "next_stage",
        "customer_value", "expected_value_at_risk", SCORE, *[f"reason_{i + 1}" for i in range(k)],
        "recommended_action", "action_cost", "success_rate", "contact_channel",
    ]  # fmt: skip
    versions = [c for c in table.columns if c.endswith("_model_version")]
    if "uplift" in table:
        columns.insert(columns.index(SCORE), "uplift")
    out = table[columns + versions].copy()
    out["churn_probability"] = out["churn_probability"].round(PROBABILITY_DIGITS)
    for money in ("customer_value", "expected_value_at_risk", SCORE, "action_cost"):
        out[money] = out[money].astype(float).round(2)
    return out


def champion_test_predictions(settings: Settings) -> pd.DataFrame | None:
    """The churn champion's out-of-time test predictions (logged by training), if its run has them."""
    client = connect(settings)
    run_id = str(client.get_model_version_by_alias(CHURN_MODEL, CHAMPION).run_id)
    try:
        path = client.download_artifacts(run_id, TEST_PREDICTIONS)
    except (mlflow.exceptions.MlflowException, OSError):
        return None
    return pd.read_parquet(path)


def model_grades(settings: Settings, versions: dict[str, str]) -> dict[str, str | None]:
    """The grade (A best) of each model version that scored the list, for the people who read it."""
    client = connect(settings)
    return {
        name: client.get_model_version(name, version).tags.get("grade") for name, version in versions.items()
    }


def threshold_report(settings: Settings, scores: pd.DataFrame, test: pd.DataFrame | None) -> dict[str, Any]:
    """The cost-minimising churn cut-off on the champion's test rows, and who is above it today."""
    if test is None or test.empty:
        return {"skipped": "the churn champion's run has no test_predictions.parquet: retrain it"}
    terms = stage_actions(settings.actions, tuple(dict.fromkeys(test["current_stage"])))
    chosen = terms.loc[test["current_stage"].to_numpy()]
    value = run_rate_value(test, settings.labels.prediction_window_days)
    t = cost_threshold(
        test["churn_probability"].to_numpy(dtype=np.float64),
        test["churned"].to_numpy(dtype=np.float64),
        value,
        chosen["success_rate"].to_numpy(dtype=np.float64),
        chosen["action_cost"].to_numpy(dtype=np.float64),
    )
    out = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in asdict(t).items()}
    out["threshold"] = None if math.isinf(t.threshold) else round(t.threshold, 4)
    out["customers_above_now"] = int((scores["churn_probability"] >= t.threshold).sum())
    out["value"] = "run rate (spend_365d x window / 365) of the test rows; stage default actions"
    return out


def atomic_write(writers: dict[Path, Callable[[Path], object]]) -> list[Path]:
    """Write every file to a temporary name, then rename them all: no half-written output on failure."""
    temporary: dict[Path, Path] = {}
    try:
        for target, write in writers.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary[target] = target.with_name(f".{target.stem}.tmp{target.suffix}")
            write(temporary[target])
    except BaseException:
        for tmp in temporary.values():
            tmp.unlink(missing_ok=True)
        raise
    for target, tmp in temporary.items():
        tmp.replace(target)
    return list(writers)


def write_outputs(table: pd.DataFrame, summary: dict[str, Any], folder: Path) -> list[Path]:
    csv, xlsx, summary_json = (folder / name for name in FILES)
    return atomic_write(
        {
            csv: lambda p: table.to_csv(p, index=False),
            xlsx: lambda p: write_xlsx(table, summary, p),
            summary_json: lambda p: p.write_text(json.dumps(summary, indent=2) + "\n"),
        }
    )


@dataclass(frozen=True)
class Targets:
    table: pd.DataFrame
    summary: dict[str, Any]
    paths: list[Path]


def build_targets(
    settings: Settings,
    request: Request,
    out: Path | None = None,
    scorer: Scorer | None = None,
    score: Score = expected_value_saved,
) -> Targets:
    """Score every active customer at the newest snapshot and write the list, its summary and threshold.

    With `request.rank_by == "uplift"` the ranking is uplift x value - cost (targeting.select).
    """
    scorer = scorer or load_scorer(settings)
    feats = active(newest_features(settings))
    uplift = None
    if request.rank_by == "uplift":
        uplift, score = _uplift(settings, feats), uplift_value_saved
    ranking = rank(scorer, feats, settings, request, score, uplift)
    table = explain(scorer, feats, ranking, settings, request.budget, score)
    test = champion_test_predictions(settings)
    summary = {
        "as_of": str(feats[TIMESTAMP].max()),
        "value_method": ranking.value_method,
        "ranked_by": "uplift x value - cost"
        if uplift is not None
        else "churn probability x value x success - cost",
        "budget": request.budget,
        "capacity": ranking.capacity,
        "filters": asdict(request.filters),
        "customers_scored": len(feats),
        "customers_eligible": ranking.eligible,
        **summarize(table, SCORE),
        "cost_aware_threshold": threshold_report(settings, ranking.scores, test),
        "models": scorer.versions,
        "model_grades": model_grades(settings, scorer.versions),
        "prediction_window_days": settings.labels.prediction_window_days,
    }
    paths = write_outputs(table, summary, out or settings.paths.outputs_dir)
    return Targets(table, summary, paths)


def _uplift(settings: Settings, feats: pd.DataFrame) -> np.ndarray:
    from targeting.uplift import load_uplift

    model = load_uplift(settings)
    if model is None:
        raise TargetingError(
            "no uplift model registered: run `journey uplift` first (needs campaigns with a control group)"
        )
    return np.asarray(model.predict(feats), dtype=np.float64)


def value_evaluation(settings: Settings) -> dict[str, dict[str, float]]:
    """Both value methods against the spend that followed the churn champion's test cutoffs.

    The rows are the champion's out-of-time test rows (active buyers at each test cutoff); each
    cutoff's BG/NBD x Gamma-Gamma is fitted on that cutoff's rows, as targeting fits the newest
    snapshot. Actual spend comes from the clean transactions.
    """
    test = champion_test_predictions(settings)
    if test is None:
        raise FileNotFoundError("the churn champion's run has no test_predictions.parquet: retrain it")
    cutoffs = sorted(pd.Timestamp(c) for c in test["cutoff"].unique())
    feats = snapshot_features(settings, cutoffs).rename(columns={TIMESTAMP: "cutoff"})
    frame = test[["customer_id", "cutoff"]].merge(feats, on=["customer_id", "cutoff"], how="inner")
    transactions = pd.read_parquet(settings.paths.clean / "transactions.parquet")
    t = settings.targeting
    window = settings.labels.prediction_window_days
    return compare_methods(frame, transactions, window, t.value_fit_sample, settings.training.seed)
