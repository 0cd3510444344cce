"""Training sets: labelled (customer_id, cutoff) rows joined point-in-time to features by Feast."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from feast import FeatureStore

from core.config import Settings
from core.cutoffs import COHORT_SHARES, SplitRules
from features.build import TIMESTAMP, parquet_glob, read_manifest, stages_path
from features.store import service_names
from features.tables import connect, open_tables
from training.labels import churn_labels, stage_labels
from training.split import CutoffSplit

log = logging.getLogger(__name__)
Task = Literal["churn", "stage"]
LABEL = {"churn": "churn", "stage": "next_stage"}


def service_name(settings: Settings, task: Task) -> str:
    """The FeatureService a task trains on, checked against the feature repository's services."""
    name = str(getattr(settings.training.feature_services, task))
    known = service_names(settings)
    if name not in known:
        raise ValueError(
            f"training.feature_services.{task} names '{name}', which the feature repository does not "
            f"define; known: {', '.join(known)} (features/feature_repo/feature_definitions.py)"
        )
    return name


def task_window(settings: Settings, task: Task) -> int:
    return settings.labels.prediction_window_days if task == "churn" else settings.labels.stage_horizon_days


def task_split(settings: Settings, task: Task) -> CutoffSplit:
    """The split for a task (training.split, training.test_from), on the last feature build's grid."""
    manifest = read_manifest(settings.paths.features)
    return SplitRules.of(settings).plan(manifest.snapshots, manifest.end, task_window(settings, task))


def label_frame(clean_dir: Path, settings: Settings, task: Task, split: CutoffSplit) -> pd.DataFrame:
    """customer_id, event_timestamp (= cutoff), the label and the split of every labelled row."""
    con = connect()
    src = open_tables(con, clean_dir)
    cutoffs = split.cutoffs
    if task == "churn":
        stages = con.read_parquet(parquet_glob(stages_path(settings.paths.features)))
        expr = churn_labels(stages, src, cutoffs, settings.labels.prediction_window_days)
    else:
        expr = stage_labels(src, cutoffs, settings)
    frame = expr.rename({TIMESTAMP: "as_of"}).execute()
    frame[TIMESTAMP] = pd.to_datetime(frame[TIMESTAMP], utc=True).astype("datetime64[us, UTC]")
    return split_rows(frame, split, LABEL[task], settings.training.seed)


def split_rows(frame: pd.DataFrame, split: CutoffSplit, label: str, seed: int) -> pd.DataFrame:
    """The rows with their part (train, valid, test; cohort: also check), sorted by cutoff and id.

    DuckDB returns the label rows in no fixed order; the rows are sorted first, so the cohort's
    seeded draw puts the same customers in the same parts in every process (training and a later
    `journey promote` must score the same test customers).
    """
    frame = frame.sort_values([TIMESTAMP, "customer_id"], ignore_index=True)
    if split.mode == "cohort":
        frame["split"] = cohort_parts(frame, split, label, seed)
        return frame[frame["split"] != ""].reset_index(drop=True)
    part = {t: name for name in ("train", "valid", "test") for t in getattr(split, name)}
    frame["split"] = frame[TIMESTAMP].map(part)
    return frame


def cohort_parts(frame: pd.DataFrame, split: CutoffSplit, label: str, seed: int) -> np.ndarray:
    """train / valid / test for the cohort's customers (seeded, stratified by the label); "check"
    for the earlier cutoff's rows of test-group customers; "" for the rest (dropped).

    Every customer belongs to one group: those of the cohort by the stratified draw, those seen
    only at the earlier cutoff (most of them churned before the cohort date) by a draw with the
    same shares. The check is then a random fifth of the earlier cutoff's customers, none of
    whom the model was fitted or calibrated on.
    """
    out = np.full(len(frame), "", dtype=object)
    ids = frame["customer_id"].to_numpy()
    at_cohort = (frame[TIMESTAMP] == split.test[0]).to_numpy()
    rng = np.random.default_rng(seed)
    labels = frame[label].to_numpy()
    for value in pd.unique(labels[at_cohort]):
        rows = np.flatnonzero(at_cohort & (labels == value))
        out[rows[rng.permutation(len(rows))]] = _shares(len(rows))
    if split.check:
        group = dict(zip(ids[at_cohort], out[at_cohort], strict=True))
        at_check = (frame[TIMESTAMP] == split.check[0]).to_numpy()
        others = sorted(set(ids[at_check]) - group.keys())
        group |= dict(zip(others, _shares(len(others))[rng.permutation(len(others))], strict=True))
        out[at_check] = np.where([group[i] == "test" for i in ids[at_check]], "check", "")
    return out


def _shares(n: int) -> np.ndarray:
    """n labels in COHORT_SHARES' proportions: train first, then valid, then test."""
    n_train = round(n * COHORT_SHARES["train"])
    n_valid = round(n * COHORT_SHARES["valid"])
    return np.array(
        ["train"] * n_train + ["valid"] * n_valid + ["test"] * (n - n_train - n_valid), dtype=object
    )


def training_set(store: FeatureStore, labels: pd.DataFrame, service_name: str) -> pd.DataFrame:
    """Point-in-time join of the labelled rows with a FeatureService through Feast."""
    service = store.get_feature_service(service_name)
    log.info("retrieving %d rows from feature service %s", len(labels), service.name)
    job = store.get_historical_features(entity_df=labels, features=service)
    frame = job.to_df()
    return frame.sort_values([TIMESTAMP, "customer_id"], ignore_index=True)
