"""Churn on a single-snapshot source (e.g. IBM Telco): features at the label date, stratified K-fold.

Such a source has no dated activity, so there are no rolling cutoffs and no out-of-time test:
the honest evaluation is stratified cross-validation, reported beside logistic regression on
the same features and folds. Features are the demographic family (declared attributes and
tenure) computed by the same Ibis code as everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ibis
import mlflow
import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from core.config import Settings
from core.io import table_path
from core.registry import tracking
from features.catalog import demographic_features as demographic_catalog
from features.demographic import demographic_features
from features.tables import _typed, connect
from serving.artifact import ModelInputs
from training.baselines import logistic_pipeline, tabular
from training.evaluate import churn_metrics, require_two_classes
from training.fit import fit_booster

SNAPSHOT_LABELS = "snapshot_labels.parquet"
FOLDS = 5


@dataclass(frozen=True)
class SnapshotResult:
    metrics: dict[str, float]
    rows: int
    run_id: str


def is_snapshot_source(clean_dir: Path) -> bool:
    return (clean_dir / SNAPSHOT_LABELS).is_file()


def snapshot_frame(clean_dir: Path, settings: Settings) -> pd.DataFrame:
    """Demographic features of every labelled customer at the label date, with the label."""
    labels = pd.read_parquet(clean_dir / SNAPSHOT_LABELS)
    as_of = pd.Timestamp(labels["as_of"].iloc[0]).as_unit("us")
    con = connect()
    customers = _typed(con.read_parquet(table_path(clean_dir, "customers")), "customers")
    grid = customers.select("customer_id", as_of=ibis.literal(as_of, type="timestamp('UTC')"))
    features = demographic_features(grid, customers, settings.demographics).execute()
    return features.merge(labels[["customer_id", "churn"]], on="customer_id", how="inner")


def _fold_metrics(frame: pd.DataFrame, inputs: ModelInputs, settings: Settings) -> dict[str, list[float]]:
    y = frame["churn"].to_numpy(dtype=np.int64)
    x = inputs.matrix(frame)
    table = tabular(frame, inputs)
    seed = settings.training.seed
    out: dict[str, list[float]] = {}
    for train, test in StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(x, y):
        fit, valid = train_test_split(train, test_size=0.1, stratify=y[train], random_state=seed)
        booster = fit_booster(inputs, (x[fit], y[fit]), (x[valid], y[valid]), settings.training, 2)
        p_gbm = booster.predict(x[test], num_iteration=booster.best_iteration)
        logistic = logistic_pipeline(inputs).fit(table.iloc[train], y[train])
        p_lr = logistic.predict_proba(table.iloc[test])[:, 1]
        for prefix, p in (("lightgbm", p_gbm), ("logistic", p_lr)):
            for key, value in churn_metrics(y[test], np.asarray(p)).items():
                out.setdefault(f"{prefix}_{key}", []).append(value)
    return out


def train_snapshot(clean_dir: Path, settings: Settings) -> SnapshotResult:
    """Stratified 5-fold CV of LightGBM and logistic regression; logged to MLflow (not registered:
    a one-snapshot model has no online features to serve from)."""
    frame = snapshot_frame(clean_dir, settings)
    require_two_classes(frame["churn"].to_numpy(), "the snapshot churn label")
    feats = demographic_catalog(settings.demographics)
    categorical = [f.name for f in feats if f.kind == "categorical"]
    inputs = ModelInputs.fit(frame, "snapshot", [f.name for f in feats], categorical, ("no_churn", "churn"))
    folds = _fold_metrics(frame, inputs, settings)
    metrics = {k: float(np.mean(v)) for k, v in folds.items()}
    metrics |= {f"{k}_sd": float(np.std(v)) for k, v in folds.items() if k.endswith("roc_auc")}
    with tracking(settings), mlflow.start_run(run_name="churn-snapshot-cv") as run:
        mlflow.log_metrics(metrics)
        mlflow.set_tags(
            {"evaluation": f"stratified {FOLDS}-fold", "kind": "snapshot", "rows": str(len(frame))}
        )
    return SnapshotResult(metrics=metrics, rows=len(frame), run_id=run.info.run_id)
