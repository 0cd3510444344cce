"""Training sets: labelled (customer_id, cutoff) rows joined point-in-time to features by Feast."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import pandas as pd
from feast import FeatureStore

from core.config import Settings
from features.build import TIMESTAMP, parquet_glob, read_manifest, stages_path
from features.store import service_names
from features.tables import connect, open_tables
from training.labels import churn_labels, stage_labels
from training.split import CutoffSplit, split_cutoffs

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


def task_split(settings: Settings, task: Task) -> CutoffSplit:
    """The out-of-time cutoff split for a task, from the snapshot grid of the last feature build."""
    manifest = read_manifest(settings.paths.features)
    window = settings.labels.prediction_window_days if task == "churn" else settings.labels.stage_horizon_days
    t = settings.training
    return split_cutoffs(manifest.snapshots, manifest.end, window, t.test_cutoffs, t.min_train_cutoffs)


def label_frame(clean_dir: Path, settings: Settings, task: Task, split: CutoffSplit) -> pd.DataFrame:
    """customer_id, event_timestamp (= cutoff), the label and the split of every labelled row."""
    con = connect()
    src = open_tables(con, clean_dir)
    cutoffs = [*split.train, *split.valid, *split.test]
    if task == "churn":
        stages = con.read_parquet(parquet_glob(stages_path(settings.paths.features)))
        expr = churn_labels(stages, src, cutoffs, settings.labels.prediction_window_days)
    else:
        expr = stage_labels(src, cutoffs, settings)
    frame = expr.rename({TIMESTAMP: "as_of"}).execute()
    frame[TIMESTAMP] = pd.to_datetime(frame[TIMESTAMP], utc=True).astype("datetime64[us, UTC]")
    part = {t: name for name, ts in vars(split).items() for t in ts}
    frame["split"] = frame[TIMESTAMP].map(part)
    return frame.sort_values([TIMESTAMP, "customer_id"], ignore_index=True)


def training_set(store: FeatureStore, labels: pd.DataFrame, service_name: str) -> pd.DataFrame:
    """Point-in-time join of the labelled rows with a FeatureService through Feast."""
    service = store.get_feature_service(service_name)
    log.info("retrieving %d rows from feature service %s", len(labels), service.name)
    job = store.get_historical_features(entity_df=labels, features=service)
    frame = job.to_df()
    return frame.sort_values([TIMESTAMP, "customer_id"], ignore_index=True)
