"""Train the churn and next-stage models end to end: labels, Feast training set, fit, evaluate, register."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from core.config import Settings
from core.io import read_dataset_info
from core.registry import connect
from core.schema import ACTIVE_STAGES, CHURN_MODEL, STAGE_MODEL, STAGES
from features.build import TIMESTAMP
from features.catalog import catalog
from features.store import apply_definitions, open_store
from monitoring.drift import PROFILE_FILE, model_scores, profile_json, reference_profile
from monitoring.fairness import UnknownAttribute, fairness_tables, protected_attributes
from serving.artifact import Calibration, ModelInputs
from serving.pyfunc import probabilities as model_probabilities
from training import plots
from training.baselines import RECENCY, best_recency_rule, flag_metrics, logistic_scores, top_flags
from training.calibrate import expected_calibration_error, fit_calibration
from training.card import model_card
from training.dataset import LABEL, Task, label_frame, service_name, task_split, training_set
from training.evaluate import (
    churn_metrics,
    conversion_auc,
    label_metrics,
    ranking_auc,
    recency_rule_auc,
    require_two_classes,
    stage_confusion,
    stage_metrics,
    transition_matrix,
)
from training.fit import fit_booster, fit_rows
from training.grade import Grade, churn_grade, stage_grade
from training.recovery import recover
from training.registry import Artifacts, Registered, log_and_register, tracked_run
from training.split import NotEnoughHistory
from training.tune import Progress, Tuned, tune

log = logging.getLogger(__name__)
MODEL_NAME = {"churn": CHURN_MODEL, "stage": STAGE_MODEL}
FAIRNESS_TABLE = "fairness.parquet"  # the churn model's per-group figures on the test rows
TEST_PREDICTIONS = "test_predictions.parquet"  # one row per out-of-time test row, logged with the run
VALUE_COLUMNS = ("spend_365d", "days_since_last_purchase")
IMPORTANCE_ROWS = 2000  # test rows whose TreeSHAP contributions make the global importance
XY = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class TrainResult:
    task: Task
    metrics: dict[str, float]
    registered: Registered
    rows: dict[str, int]
    grade: Grade
    seconds: dict[str, float]  # wall time of each phase: data, fit, evaluate, register
    best_iteration: int = 0
    split: str = ""  # which split was used and why
    tuning: str = ""  # with --tune: whether the tuned or the configured parameters were kept


@dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, float]
    figures: dict[str, Any]
    texts: dict[str, str]
    tables: dict[str, pd.DataFrame]


def _targets(frame: pd.DataFrame, task: Task) -> np.ndarray:
    if task == "churn":
        return frame[LABEL[task]].to_numpy(dtype=np.int64)
    return _stage_codes(frame, LABEL[task])


def _stage_codes(frame: pd.DataFrame, column: str) -> np.ndarray:
    return frame[column].map({s: i for i, s in enumerate(STAGES)}).to_numpy(dtype=np.int64)


def _inputs(train: pd.DataFrame, settings: Settings, task: Task, service: str) -> ModelInputs:
    feats = [f for family in catalog(settings.demographics).values() for f in family]
    if settings.training.exclude_protected:  # serving follows: it scores the features ModelInputs names
        feats = [f for f in feats if f.name not in protected_attributes(settings)]
    unknown = sorted(set(settings.training.churn_monotone) - {f.name for f in feats})
    if unknown:
        raise ValueError(f"training.churn_monotone names features not in the catalog: {unknown}")
    categorical = [f.name for f in feats if f.kind == "categorical"]
    classes = ("no_churn", "churn") if task == "churn" else STAGES
    return ModelInputs.fit(train, service, [f.name for f in feats], categorical, classes)


def _predict(booster: lgb.Booster, x: np.ndarray) -> np.ndarray:
    return np.asarray(booster.predict(x, num_iteration=booster.best_iteration))


def _bgnbd_scores(train: pd.DataFrame, test: pd.DataFrame, window_days: int) -> dict[str, np.ndarray]:
    """Churn scores of a BG/NBD fitted on the training rows (higher = more likely to churn).

    The field's usual ranking is by the expected number of purchases in the window (fewer, more
    likely to churn); P(alive) and P(no purchase in the window) are kept beside it. Empty when
    the model is not identified on these rows.
    """
    from training.clv import fit_bgnbd, rfm_from_features

    try:
        model = fit_bgnbd(rfm_from_features(train))
    except ValueError as err:
        log.warning("BG/NBD baseline skipped: %s", err)
        return {}
    rfm, window = rfm_from_features(test), float(window_days)
    return {
        "bgnbd": -np.asarray(model.expected_purchases(rfm, window)),
        "bgnbd_p_alive": 1 - np.asarray(model.p_alive(rfm)),
        "bgnbd_p_no_purchase": np.asarray(model.p_no_purchase(rfm, window)),
    }


def evaluate_churn(
    y: np.ndarray,
    p: np.ndarray,
    raw: np.ndarray,
    parts: dict[str, pd.DataFrame],
    inputs: ModelInputs,
    settings: Settings,
) -> Evaluation:
    """Model metrics on the test cutoffs beside every churn baseline, and the plots that show them."""
    train, test = parts["train"], parts["test"]
    y_train = _targets(train, "churn")
    metrics = churn_metrics(y, p) | {
        "ece_uncalibrated": expected_calibration_error(y, raw),
        "roc_auc_uncalibrated": churn_metrics(y, raw)["roc_auc"],  # calibration must not change it
    }
    scores = {"LightGBM (calibrated)": p, "recency": test[RECENCY].to_numpy(dtype=np.float64)}
    metrics["baseline_recency_roc_auc"] = recency_rule_auc(y, scores["recency"])
    rule = best_recency_rule(train[RECENCY].to_numpy(), y_train)
    flags = rule.flags(test[RECENCY].to_numpy())
    metrics["baseline_rule_days"] = float(rule.days)
    metrics |= {f"baseline_rule_{k}": v for k, v in flag_metrics(y, flags).items()}
    at_volume = flag_metrics(y, top_flags(p, int(flags.sum())))
    metrics |= {f"model_at_rule_volume_{k}": at_volume[k] for k in ("precision", "recall", "f1")}
    scores["logistic regression"] = logistic_scores(train, y_train, test, inputs, settings.training.seed)
    metrics["baseline_logistic_roc_auc"] = churn_metrics(y, scores["logistic regression"])["roc_auc"]
    bgnbd = _bgnbd_scores(train, test, settings.labels.prediction_window_days)
    for key, score in bgnbd.items():
        metrics[f"baseline_{key}_roc_auc"] = ranking_auc(y, score)
    if bgnbd:
        scores["BG/NBD expected purchases"] = bgnbd["bgnbd"]
    reliability = plots.reliability(y, p).reset_index()
    figures = {
        "roc.png": plots.roc_figure(y, scores),
        "precision_recall.png": plots.pr_figure(y, scores),
        "calibration.png": plots.calibration_figure(y, {"calibrated": p, "raw LightGBM": raw}),
        "lift.png": plots.lift_figure(y, scores),
    }
    predictions = _keys(test).assign(
        churned=y, churn_probability=p, churn_probability_raw=raw, recency=scores["recency"]
    )
    texts = {"calibration.csv": reliability.to_csv(index=False)}
    return Evaluation(metrics, figures, texts, {TEST_PREDICTIONS: predictions})


def _fairness(
    test: pd.DataFrame, y: np.ndarray, result: Evaluation, settings: Settings
) -> pd.DataFrame | str:
    """Per protected group of the churn test rows: ROC AUC, ECE, share listed (medium or high risk)
    and the 80% rule (monitoring/fairness.py); when an attribute is absent, why (for the card)."""
    p = result.tables[TEST_PREDICTIONS]["churn_probability"].to_numpy()
    listed = p >= settings.serving.risk_tiers.medium
    try:
        return fairness_tables(test.reset_index(drop=True), y, p, listed, settings)
    except UnknownAttribute as err:
        log.warning("fairness not computed: %s", err)
        return f"Not computed: {err}."


def _keys(test: pd.DataFrame) -> pd.DataFrame:
    """Who and when of each test row, for the per-row predictions logged beside the model."""
    keep = ["customer_id", TIMESTAMP, "current_stage", *[c for c in VALUE_COLUMNS if c in test]]
    return test[keep].reset_index(drop=True).rename(columns={TIMESTAMP: "cutoff"})


def evaluate_stage(y: np.ndarray, proba: np.ndarray, parts: dict[str, pd.DataFrame]) -> Evaluation:
    """Next-stage metrics beside "stays in stage" and the Markov transition matrix."""
    n = len(STAGES)
    current = _stage_codes(parts["test"], "current_stage")
    metrics = stage_metrics(y, proba, STAGES)
    metrics |= {f"baseline_stay_{k}": v for k, v in label_metrics(y, current).items()}
    train = parts["train"]
    matrix = transition_matrix(_stage_codes(train, "current_stage"), _targets(train, "stage"), n)
    markov = matrix[current]
    metrics |= {f"baseline_markov_{k}": v for k, v in label_metrics(y, markov.argmax(axis=1)).items()}
    before = [STAGES.index(s) for s in ("awareness", "consideration")]
    after = [STAGES.index(s) for s in ACTIVE_STAGES]
    for key, probabilities in (("conversion_roc_auc", proba), ("baseline_markov_conversion_roc_auc", markov)):
        auc = conversion_auc(y, probabilities[:, after].sum(axis=1), current, before, after)
        if auc is not None:
            metrics[key] = auc
    pred = proba.argmax(axis=1)
    confusion = stage_confusion(y, pred, n)
    figures = {
        "confusion_matrix.png": plots.confusion_figure(confusion, STAGES),
        "stage_reliability.png": plots.calibration_figure(
            (pred == y).astype(np.float64), {"top-label confidence": proba.max(axis=1)}
        ),
    }
    table = pd.DataFrame(confusion, index=pd.Index(STAGES, name="actual"), columns=list(STAGES))
    predictions = _keys(parts["test"]).assign(
        next_stage=np.asarray(STAGES)[y], predicted_stage=np.asarray(STAGES)[pred]
    )
    for k, stage in enumerate(STAGES):
        predictions[f"p_{stage}"] = proba[:, k]
    return Evaluation(
        metrics, figures, {"confusion_matrix.csv": table.to_csv()}, {TEST_PREDICTIONS: predictions}
    )


def global_importance(booster: lgb.Booster, x: np.ndarray, names: tuple[str, ...]) -> pd.Series:
    """Mean |TreeSHAP contribution| per feature over (a sample of) the test rows, summed over classes."""
    rows = x[: min(len(x), IMPORTANCE_ROWS)]
    contrib = np.asarray(booster.predict(rows, pred_contrib=True, num_iteration=booster.best_iteration))
    per_class = contrib.reshape(len(rows), -1, len(names) + 1)[:, :, :-1]  # drop the bias column
    values = np.abs(per_class).sum(axis=1).mean(axis=0)
    return pd.Series(values, index=list(names), name="mean_abs_shap").sort_values(ascending=False)


def _lineage(
    clean_dir: Path, settings: Settings, task: Task, frame: pd.DataFrame, split: Any
) -> dict[str, str]:
    info = read_dataset_info(clean_dir) or {}
    return {
        "source": str(info.get("source", "unknown")),
        "feature_service": service_name(settings, task),
        "split_mode": split.mode,
        "split": split.describe(),
        "train_cutoffs": f"{split.train[0].date()}..{split.train[-1].date()}",
        "valid_cutoff": str(split.valid[0].date()),
        "test_cutoffs": ",".join(str(t.date()) for t in split.test),
        "data_as_of": str(frame[TIMESTAMP].max().date()),
        "label_windows": f"prediction_window_days={settings.labels.prediction_window_days},"
        f"stage_horizon_days={settings.labels.stage_horizon_days}",
    }


MIN_COHORT_CLASS = 200  # customers of each class a cohort split needs (train, validation and test)


def require_cohort_size(parts: dict[str, pd.DataFrame], task: Task) -> None:
    """A cohort split needs enough customers of each class to fit, calibrate and test honestly."""
    if task != "churn":
        return
    y = pd.concat([p[LABEL[task]] for p in parts.values()])
    counts = y.value_counts()
    small = {int(k): int(v) for k, v in counts.items() if v < MIN_COHORT_CLASS}
    if small or len(counts) < 2:
        raise NotEnoughHistory(
            f"the cohort has too few customers in a class for a cohort split (churned / stayed: "
            f"{int(counts.get(1, 0)):,} / {int(counts.get(0, 0)):,}; need {MIN_COHORT_CLASS} of each). "
            f"Use data with more customers, a longer history for rolling cutoffs, or a window that "
            f"gives both outcomes."
        )


def _check_metrics(
    booster: lgb.Booster, calibration: Calibration | None, inputs: ModelInputs, rows: pd.DataFrame, task: Task
) -> dict[str, float]:
    """The out-of-time check of a cohort split: unseen customers at the earlier cutoff."""
    proba = _predict(booster, inputs.matrix(rows))
    y = _targets(rows, task)
    out: dict[str, float] = {"check_rows": float(len(rows))}
    if task == "churn":
        if len(np.unique(y)) == 2:
            p = calibration.apply(proba) if calibration is not None else proba
            out |= {
                "check_roc_auc": churn_metrics(y, p)["roc_auc"],
                "check_ece": expected_calibration_error(y, p),
            }
    else:
        pred = proba.reshape(len(y), -1).argmax(axis=1)
        out["check_accuracy"] = float(np.mean(pred == y))
    return out


def train_task(
    clean_dir: Path, settings: Settings, task: Task, tune_trials: int = 0, progress: Progress | None = None
) -> TrainResult:
    """Build the out-of-time training set for a task, fit LightGBM, evaluate, log and register it."""
    clock = Clock()
    recover(connect(settings), settings)  # what an earlier training killed with -9 left behind
    service = service_name(settings, task)
    split = task_split(settings, task)
    labels = label_frame(clean_dir, settings, task, split)
    store = open_store(settings)
    apply_definitions(store, settings)  # idempotent: training does not depend on `materialize` first
    frame = training_set(store, labels, service)
    log.info("%s: %s", task, split.describe())
    parts = {name: frame[frame["split"] == name] for name in ("train", "valid", "test")}
    check = frame[frame["split"] == "check"]
    if split.mode == "cohort":
        require_cohort_size(parts, task)
    if task == "churn":
        for name in ("train", "valid", "test"):
            require_two_classes(parts[name][LABEL[task]].to_numpy(), f"the churn {name} set")
    inputs = _inputs(parts["train"], settings, task, service)
    xy: dict[str, XY] = {name: (inputs.matrix(p), _targets(p, task)) for name, p in parts.items()}
    n_classes = 2 if task == "churn" else len(STAGES)
    name = MODEL_NAME[task]
    clock.lap("data")
    with tracked_run(settings, name) as client:
        tuned: Tuned | None = None
        if tune_trials:
            tuned = tune(
                inputs, xy["train"], xy["valid"], settings.training, n_classes, tune_trials, progress
            )
        overrides = tuned.params if tuned is not None and tuned.improved else None
        booster = fit_booster(inputs, xy["train"], xy["valid"], settings.training, n_classes, overrides)
        clock.lap("fit")
        proba = _predict(booster, xy["test"][0])
        calibration: Calibration | None = None
        y = xy["test"][1]
        if task == "churn":
            calibration = fit_calibration(_predict(booster, xy["valid"][0]), xy["valid"][1])
            result = evaluate_churn(y, calibration.apply(proba), proba, parts, inputs, settings)
            grade = churn_grade(result.metrics)
        else:
            result = evaluate_stage(y, proba.reshape(len(y), -1), parts)
            grade = stage_grade(result.metrics)
        if len(check):
            result.metrics.update(_check_metrics(booster, calibration, inputs, check, task))
        importance = global_importance(booster, xy["test"][0], inputs.features)
        fit_scores = model_scores(inputs, model_probabilities(booster, inputs, calibration, xy["train"][0]))
        profile = reference_profile(parts["train"], inputs, fit_scores, settings)
        fairness = _fairness(parts["test"], y, result, settings) if task == "churn" else None
        tags = _lineage(clean_dir, settings, task, frame, split) | {"grade": grade.letter}
        if calibration is not None:
            tags["calibration"] = calibration.method
        if tuned is not None:
            tags["tuning"] = tuned.describe()
        tags["fit_rows"] = str(fit_rows(len(xy["train"][1]), settings.training))
        rows = {k: len(p) for k, p in parts.items()}
        artifacts = Artifacts(
            figures={**result.figures, "importance.png": plots.importance_figure(importance)},
            texts={
                **result.texts,
                "importance.csv": importance.to_csv(),
                PROFILE_FILE: profile_json(profile),
            },
            tables=result.tables | ({FAIRNESS_TABLE: fairness} if isinstance(fairness, pd.DataFrame) else {}),
            card=lambda version: model_card(
                task, name, version, result.metrics, grade, tags, rows, importance, booster.params, fairness
            ),
        )
        headline = ("roc_auc", "pr_auc", "ece") if task == "churn" else ("macro_f1", "accuracy")
        version_tags = {"grade": grade.letter, "grade_reason": grade.sentence} | {
            k: f"{result.metrics[k]:.4f}" for k in headline if k in result.metrics
        }
        clock.lap("evaluate")
        example = parts["test"].head(5)  # raw rows: categories as text
        registered = log_and_register(
            client,
            name,
            booster,
            inputs,
            example,
            result.metrics,
            tags,
            artifacts,
            calibration,
            version_tags,
            settings.training.first_champion_grades,
        )
    clock.lap("register")
    log.info("%s model: %s on %s rows in %s", task, result.metrics, rows, clock.laps)
    return TrainResult(
        task,
        result.metrics,
        registered,
        rows,
        grade,
        clock.laps,
        booster.best_iteration,
        split.describe(),
        tuned.describe() if tuned is not None else "",
    )


class Clock:
    """Wall time per phase, for the CLI and the training benchmark."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = now - self._last
        self._last = now
