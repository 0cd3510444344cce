"""`journey targets`: value and rank every active customer, list the best within a budget, with reasons.

Scoring, value, ranking and selection are vectorised over all customers; TreeSHAP reasons (about
a millisecond a row) are computed only for the selected rows. Outputs: targets.csv, targets.xlsx
and targets_summary.json, written together into a new folder `<out>/targets/gen-*` that one link,
`<out>/targets/current`, then switches to (core.generations): a run killed at any moment leaves
the old set or the new one, never a mix. `<out>/targets.csv` (and the two others) are links
through `current`, so the familiar paths always show one complete set. docs/reliability.md.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import mlflow
import numpy as np
import pandas as pd

from core.config import Settings
from core.generations import CURRENT, new_generation
from core.registry import connect
from core.schema import CHAMPION, CHURN_MODEL, STAGES
from features.build import TIMESTAMP
from monitoring.log import log_predictions
from serving.artifact import PROBABILITY_DIGITS
from serving.batch import active, load_scorer, newest_features, snapshot_features
from serving.scoring import Scorer, risk_tiers, run_rate_value
from targeting.columns import column
from targeting.select import (
    GROSS,
    NET,
    Filters,
    Score,
    Stop,
    TargetingError,
    actions_for,
    attach_actions,
    cost_threshold,
    filter_mask,
    net_value_saved,
    refine_actions,
    select,
    summarize,
    uplift_net_value_saved,
    why_stopped,
    with_risk_floor,
)
from targeting.spreadsheet import write_xlsx
from targeting.value import compare_methods, customer_value

SCORE = NET  # the ranking: expected value saved net of the contact cost
FILES = ("targets.csv", "targets.xlsx", "targets_summary.json")
SET_FOLDER = "targets"  # <out>/targets/gen-* hold the sets, <out>/targets/current the newest
TEST_PREDICTIONS = "test_predictions.parquet"
# The list's columns in order (the CSV's names); the spreadsheet's headings, formats and
# meanings are in targeting/columns.py. reason_<i> and <model>_model_version columns are added
# by `_presented`.
ORDER: tuple[str, ...] = (
    "rank",
    "customer_id",
    "churn_probability",
    "risk_tier",
    "current_stage",
    "next_stage",
    "customer_value",
    "expected_value_at_risk",
    "uplift",
    GROSS,
    NET,
    "recommended_action",
    "action_cost",
    "success_rate",
    "contact_channel",
)


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
    scores: pd.DataFrame  # every active customer: scores, value, default action, score
    eligible: int  # customers passing the filters
    selected: pd.DataFrame  # the list, indexed by row of the feature frame
    value_method: str
    capacity: int | None
    filters: Filters  # as applied: the risk floor resolved
    stop: Stop  # why the list ends where it does


def rank(
    scorer: Scorer,
    feats: pd.DataFrame,
    settings: Settings,
    request: Request,
    score: Score = net_value_saved,
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
    filters = with_risk_floor(request.filters, settings.serving.risk_tiers.medium)
    unfloored = filter_mask(scores, feats, Filters(filters.stages, filters.tiers, filters.where, 0.0))
    mask = filter_mask(scores, feats, filters)
    capacity = request.capacity or (None if request.budget else t.default_capacity)
    selected = select(scores[mask], SCORE, request.budget, capacity)
    limits = (request.budget, capacity, filters.min_probability or 0.0)
    stop = why_stopped(scores, mask, unfloored, len(selected), SCORE, limits)
    return Ranking(scores, int(mask.sum()), selected, method, capacity, filters, stop)


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
    score: Score = net_value_saved,
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
    table[GROSS] = table[SCORE] + table["action_cost"]
    for i in range(k):
        table[f"reason_{i + 1}"] = [r[i].sentence if len(r) > i else "" for r in reasons]
    table = table.sort_values(SCORE, ascending=False, kind="stable").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    for name, version in scorer.versions.items():
        table[f"{name}_model_version"] = version
    return _presented(table, k)


def _presented(table: pd.DataFrame, k: int) -> pd.DataFrame:
    """The list's columns in ORDER, the k reasons before the action, money to cents."""
    names = [c for c in ORDER if c in table]
    at = names.index("recommended_action")
    versions = [c for c in table.columns if c.endswith("_model_version")]
    reasons = [f"reason_{i + 1}" for i in range(k)]
    out = table[[*names[:at], *reasons, *names[at:], *versions]].copy()
    out["churn_probability"] = out["churn_probability"].round(PROBABILITY_DIGITS)
    for money in (c for c in names if column(c).kind == "money"):
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


def out_of_time_check(
    settings: Settings, filters: Filters, listed: pd.DataFrame, test: pd.DataFrame | None
) -> dict[str, Any]:
    """The list's own rule replayed on the churn champion's out-of-time test rows, whose outcome is known.

    The rows get what today's customers get: tier-aware default actions, the run-rate value, the
    risk floor and stage filter, the ranking by expected net saving. Reported: what contacting those
    with a positive expected net saving was expected to save and would have saved (actual churners
    x value x success rate - cost), and the cut-off on the same ranking that would have saved most
    (targeting.select.cost_threshold). Ranking and cut-off are one scale, so the check can agree or
    warn, never point elsewhere (a cut-off on churn probability alone ignored value and cost).
    """
    if test is None or test.empty:
        return {"skipped": "the churn champion's run has no test_predictions.parquet: retrain it"}
    p = test["churn_probability"].to_numpy(dtype=np.float64)
    tiers = risk_tiers(p, settings.serving.risk_tiers.high, settings.serving.risk_tiers.medium)
    terms = actions_for(test["current_stage"].to_numpy(), tiers, settings.actions)
    value = run_rate_value(test, settings.labels.prediction_window_days)
    success, cost = (terms[c].to_numpy(dtype=np.float64) for c in ("success_rate", "action_cost"))
    churned = test["churned"].to_numpy(dtype=np.float64)
    expected, realised = p * value * success - cost, churned * value * success - cost
    keep = p >= (filters.min_probability or 0.0)
    if filters.stages:
        keep &= test["current_stage"].isin(filters.stages).to_numpy()
    rule = keep & (expected > 0)
    best = cost_threshold(expected[keep], churned[keep], value[keep], success[keep], cost[keep])
    return {
        "rows": int(keep.sum()),
        "listed_by_rule": int(rule.sum()),
        "expected_net": round(float(expected[rule].sum()), 2),
        "realised_net": round(float(realised[rule].sum()), 2),
        "best_cutoff": None if math.isinf(best.threshold) else round(best.threshold, 2),
        "best_contacted": best.contacted,
        "best_saving_vs_nobody": round(best.saving_vs_nobody, 2),
        "best_saving_vs_everyone": round(best.saving_vs_everyone, 2),
        "listed_now_above_best_cutoff": int((listed[SCORE] >= best.threshold).sum()),
        "value": "run rate (spend_365d x window / 365) of the test rows; tier-aware default actions",
    }


def atomic_write(folder: Path, writers: dict[str, Callable[[Path], object]]) -> list[Path]:
    """Write every file into a new generation of `folder`/targets, then switch to it in one rename,
    and link each name from `folder` through `targets/current`: readers of either path see the old
    complete set or the new one. A failing writer leaves the previous set as it was."""
    root = folder / SET_FOLDER
    with new_generation(root) as generation:
        for name, write in writers.items():
            write(generation / name)
    for name in writers:
        _link(folder / name, Path(SET_FOLDER) / CURRENT / name)
    return [folder / name for name in writers]


def _link(path: Path, target: Path) -> None:
    """Make `path` a relative symlink to `target` (a file of the older layout is replaced in one rename)."""
    if path.is_symlink() and Path(os.readlink(path)) == target:
        return
    staged = path.with_name(f".{path.name}.link")
    staged.unlink(missing_ok=True)
    os.symlink(target, staged)
    os.replace(staged, path)


def write_outputs(table: pd.DataFrame, summary: dict[str, Any], folder: Path) -> list[Path]:
    """targets.csv, targets.xlsx and targets_summary.json in `folder`, landing together."""
    csv, xlsx, summary_json = FILES
    return atomic_write(
        folder,
        {
            csv: lambda p: table.to_csv(p, index=False),
            xlsx: lambda p: write_xlsx(table, summary, p),
            summary_json: lambda p: p.write_text(json.dumps(summary, indent=2) + "\n"),
        },
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
    score: Score = net_value_saved,
) -> Targets:
    """Score every active customer at the newest snapshot and write the list, its summary and threshold.

    With `request.rank_by == "uplift"` the ranking is uplift x value - cost (targeting.select).
    Every scored customer, listed or not, is appended to the prediction log (monitoring/log.py).
    """
    scorer = scorer or load_scorer(settings)
    feats = active(newest_features(settings))
    uplift = None
    if request.rank_by == "uplift":
        uplift, score = _uplift(settings, feats), uplift_net_value_saved
    ranking = rank(scorer, feats, settings, request, score, uplift)
    table = explain(scorer, feats, ranking, settings, request.budget, score)
    summary = {
        "as_of": str(feats[TIMESTAMP].max()),
        "value_method": ranking.value_method,
        "ranked_by": "uplift x value - cost (net)"
        if uplift is not None
        else "churn probability x value x success rate - cost (net)",
        "budget": request.budget,
        "capacity": ranking.capacity,
        "filters": asdict(ranking.filters),
        "customers_scored": len(feats),
        "customers_eligible": ranking.eligible,
        **summarize(table),
        "stopped_by": ranking.stop.reason,
        "stopped_because": ranking.stop.sentence,
        "out_of_time_check": out_of_time_check(
            settings, ranking.filters, table, champion_test_predictions(settings)
        ),
        "models": scorer.versions,
        "model_grades": model_grades(settings, scorer.versions),
        "prediction_window_days": settings.labels.prediction_window_days,
    }
    paths = write_outputs(table, summary, out or settings.paths.outputs_dir)
    log_predictions(
        settings, _logged(scorer, feats, ranking), feats[TIMESTAMP].max(), scorer.versions, "targets", table
    )
    return Targets(table, summary, paths)


def _logged(scorer: Scorer, feats: pd.DataFrame, ranking: Ranking) -> pd.DataFrame:
    """What the prediction log keeps of every scored customer: the ranking's churn figures (not
    computed again) and the next stage, which the ranking left for the listed rows."""
    stage = scorer.stage_probabilities(feats)
    kept = ranking.scores[["customer_id", "churn_probability", "risk_tier", "current_stage"]]
    return kept.assign(
        next_stage=np.asarray(STAGES)[stage.argmax(axis=1)], next_stage_probability=stage.max(axis=1)
    )


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
