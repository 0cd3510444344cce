"""Train the churn and next-stage models end to end: labels, Feast training set, fit, evaluate, register."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.build import TIMESTAMP
from features.catalog import catalog
from features.config import Settings
from features.encoding import ModelInputs
from features.schema import CHURN_MODEL, STAGE_MODEL, STAGES
from features.store import apply_definitions, open_store
from training.calibrate import expected_calibration_error, fit_isotonic
from training.dataset import LABEL, SERVICE, Task, label_frame, task_split, training_set
from training.evaluate import (
    churn_metrics,
    label_metrics,
    markov_predict,
    recency_rule_auc,
    require_two_classes,
    stage_metrics,
    stays_in_stage_accuracy,
)
from training.fit import fit_booster
from training.registry import Registered, log_and_register

log = logging.getLogger(__name__)
MODEL_NAME = {"churn": CHURN_MODEL, "stage": STAGE_MODEL}


@dataclass(frozen=True)
class TrainResult:
    task: Task
    metrics: dict[str, float]
    registered: Registered
    rows: dict[str, int]


def _targets(frame: pd.DataFrame, task: Task) -> np.ndarray:
    if task == "churn":
        return frame[LABEL[task]].to_numpy(dtype=np.int64)
    return frame[LABEL[task]].map({s: i for i, s in enumerate(STAGES)}).to_numpy(dtype=np.int64)


def _inputs(train: pd.DataFrame, settings: Settings, task: Task) -> ModelInputs:
    feats = [f for family in catalog(settings.demographics).values() for f in family]
    unknown = sorted(set(settings.training.churn_monotone) - {f.name for f in feats})
    if unknown:
        raise ValueError(f"training.churn_monotone names features not in the catalog: {unknown}")
    categorical = [f.name for f in feats if f.kind == "categorical"]
    classes = ("no_churn", "churn") if task == "churn" else STAGES
    return ModelInputs.fit(train, SERVICE[task], [f.name for f in feats], categorical, classes)


def _stage_codes(frame: pd.DataFrame, column: str) -> np.ndarray:
    return frame[column].map({s: i for i, s in enumerate(STAGES)}).to_numpy(dtype=np.int64)


def _evaluate(
    task: Task, y: np.ndarray, proba: np.ndarray, test: pd.DataFrame, train: pd.DataFrame
) -> dict[str, float]:
    if task == "churn":
        metrics = churn_metrics(y, proba)
        metrics["baseline_recency_roc_auc"] = recency_rule_auc(y, test["days_since_last_purchase"].to_numpy())
        return metrics
    metrics = stage_metrics(y, proba)
    current = _stage_codes(test, "current_stage")
    metrics["baseline_stay_accuracy"] = stays_in_stage_accuracy(y, current)
    markov = markov_predict(
        _stage_codes(train, "current_stage"), _stage_codes(train, LABEL[task]), current, len(STAGES)
    )
    metrics |= {f"baseline_markov_{k}": v for k, v in label_metrics(y, markov).items()}
    return metrics


def train_task(clean_dir: Path, settings: Settings, task: Task) -> TrainResult:
    """Build the out-of-time training set for a task, fit LightGBM, log and register the champion."""
    split = task_split(settings, task)
    labels = label_frame(clean_dir, settings, task, split)
    store = open_store(settings)
    apply_definitions(store, settings)  # idempotent: training does not depend on `materialize` first
    frame = training_set(store, labels, task)
    parts = {name: frame[frame["split"] == name] for name in ("train", "valid", "test")}
    if task == "churn":
        require_two_classes(parts["train"][LABEL[task]].to_numpy(), "the churn training set")
    inputs = _inputs(parts["train"], settings, task)
    xy = {name: (inputs.matrix(p), _targets(p, task)) for name, p in parts.items()}
    n_classes = 2 if task == "churn" else len(STAGES)
    booster = fit_booster(inputs, xy["train"], xy["valid"], settings.training, n_classes)
    proba = np.asarray(booster.predict(xy["test"][0], num_iteration=booster.best_iteration))
    calibration = None
    if task == "churn":
        raw_valid = np.asarray(booster.predict(xy["valid"][0], num_iteration=booster.best_iteration))
        calibration = fit_isotonic(raw_valid, xy["valid"][1])
        raw_ece = expected_calibration_error(xy["test"][1], proba)
        proba = calibration.apply(proba)
    metrics = _evaluate(task, xy["test"][1], proba, parts["test"], parts["train"])
    if calibration is not None:
        metrics |= {"ece": expected_calibration_error(xy["test"][1], proba), "ece_uncalibrated": raw_ece}
    tags = {
        "feature_service": SERVICE[task],
        "train_cutoffs": f"{split.train[0].date()}..{split.train[-1].date()}",
        "valid_cutoff": str(split.valid[0].date()),
        "test_cutoffs": ",".join(str(t.date()) for t in split.test),
        "data_as_of": str(frame[TIMESTAMP].max().date()),
        "label_windows": f"prediction_window_days={settings.labels.prediction_window_days},"
        f"stage_horizon_days={settings.labels.stage_horizon_days}",
    }
    registered = log_and_register(
        MODEL_NAME[task], booster, inputs, xy["test"][0], metrics, tags, settings, calibration
    )
    rows = {name: len(p) for name, p in parts.items()}
    log.info("%s model: %s on %s rows", task, metrics, rows)
    return TrainResult(task=task, metrics=metrics, registered=registered, rows=rows)
