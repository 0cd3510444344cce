"""Batch scoring of every active customer; targeting/targets.py turns the scores into the target list."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.config import Settings
from core.schema import ACTIVE_STAGES, CHURN_MODEL, STAGE_MODEL
from features.build import TIMESTAMP, read_features, read_manifest
from monitoring.log import log_predictions
from serving.models import load_champion
from serving.scoring import Scorer


class NoActiveCustomers(ValueError):
    """Nothing to score: no customer is an active buyer at the newest snapshot."""


def load_scorer(settings: Settings) -> Scorer:
    return Scorer(load_champion(CHURN_MODEL, settings), load_champion(STAGE_MODEL, settings), settings)


def newest_features(settings: Settings) -> pd.DataFrame:
    """Every feature of every customer at the scoring snapshot (`scoring_snapshot`), offline."""
    return snapshot_features(settings, [scoring_snapshot(settings)])


def scoring_snapshot(settings: Settings) -> pd.Timestamp:
    """The newest snapshot, or with serving.as_of (`--as-of`) the newest at or before that date."""
    snapshots = read_manifest(settings.paths.features).snapshots
    as_of = settings.serving.as_of
    if as_of is None:
        return snapshots[-1]
    moment = pd.Timestamp(as_of, tz="UTC")
    earlier = [s for s in snapshots if s <= moment]
    if not earlier:
        raise ValueError(
            f"--as-of {as_of} is before the first feature snapshot ({snapshots[0].date()}); the snapshots "
            f"run from {snapshots[0].date()} to {snapshots[-1].date()}"
        )
    return earlier[-1]


def snapshot_features(settings: Settings, snapshots: list[pd.Timestamp]) -> pd.DataFrame:
    """Every feature of every customer at the given snapshots, from the offline tables."""
    return read_features(settings.paths.features, [(TIMESTAMP, "in", snapshots)])


def active(frame: pd.DataFrame) -> pd.DataFrame:
    rows = frame[frame["current_stage"].isin(ACTIVE_STAGES)].reset_index(drop=True)
    if rows.empty:
        raise NoActiveCustomers("no active customers at the newest snapshot: nothing to score")
    return rows


def _write_csv(frame: pd.DataFrame, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(target)
    return target


def score_all(settings: Settings, scorer: Scorer | None = None) -> tuple[pd.DataFrame, Path]:
    """Score every active customer (no reasons: TreeSHAP is costly per row); write outputs/scores.csv
    and append the scores to the prediction log (monitoring/log.py)."""
    scorer = scorer or load_scorer(settings)
    feats = active(newest_features(settings))
    scores = scorer.score_frame(feats)
    scores.insert(1, "as_of", feats[TIMESTAMP].to_numpy())
    for name, version in scorer.versions.items():
        scores[f"{name}_model_version"] = version
    path = _write_csv(scores, settings.paths.outputs_dir / "scores.csv")
    log_predictions(settings, scores, feats[TIMESTAMP].max(), scorer.versions, "score")
    return scores, path
