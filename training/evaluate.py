"""Metrics of the churn and next-stage models (computed here, not by mlflow.evaluate)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    log_loss,
    recall_score,
    roc_auc_score,
)

from training.calibrate import expected_calibration_error


class SingleClassError(ValueError):
    """A label set with one class cannot train or evaluate a classifier."""


def require_two_classes(y: np.ndarray, what: str) -> None:
    if len(np.unique(y)) < 2:
        raise SingleClassError(
            f"{what} has only one class ({np.unique(y).tolist()}): churn needs both churners and "
            "non-churners; use more customers, more cutoffs or a different prediction window"
        )


def top_decile(y: np.ndarray, p: np.ndarray, share: float = 0.1) -> tuple[float, float]:
    """Lift and capture of the highest-scored `share` of rows.

    Lift = churn rate among them / overall churn rate; capture = share of all churners among them.
    Ties at the cut are broken by a stable sort, so the group has exactly ceil(share * n) rows.
    """
    k = max(1, int(np.ceil(share * len(y))))
    top = np.argsort(-p, kind="stable")[:k]
    base = float(np.mean(y))
    hits = float(np.sum(y[top]))
    return (hits / k) / base, hits / float(np.sum(y))


def churn_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Ranking, probability and targeting quality of a churn score."""
    require_two_classes(y, "the churn test set")
    lift, capture = top_decile(y, p)
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "log_loss": float(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
        "lift_top_decile": lift,
        "capture_top_decile": capture,
        "base_rate": float(np.mean(y)),
    }


def ranking_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of a baseline score (higher = more likely to churn); missing scores rank highest."""
    finite = np.isfinite(score)
    fill = (np.max(score[finite]) + 1) if finite.any() else 0.0
    return float(roc_auc_score(y, np.where(finite, score, fill)))


def recency_rule_auc(y: np.ndarray, days_since_last_purchase: np.ndarray) -> float:
    """ROC AUC of the "longer since the last purchase, more likely to churn" rule."""
    return ranking_auc(y, np.asarray(days_since_last_purchase, dtype=np.float64))


def stage_metrics(y: np.ndarray, proba: np.ndarray, stages: Sequence[str] = ()) -> dict[str, float]:
    """Accuracy, macro-F1, log loss, per-stage recall and top-label calibration of next-stage scores."""
    pred = proba.argmax(axis=1)
    labels = np.unique(np.concatenate([y, pred]))
    confidence = proba.max(axis=1)
    out = {
        "accuracy": float(accuracy_score(y, pred)),
        "macro_f1": float(f1_score(y, pred, average="macro", labels=labels)),
        "log_loss": float(log_loss(y, np.clip(proba, 1e-9, 1.0), labels=np.arange(proba.shape[1]))),
        # reliability of the stage probabilities: |accuracy - confidence| over confidence bins
        "top_label_ece": expected_calibration_error((pred == y).astype(np.float64), confidence),
    }
    recalls = recall_score(y, pred, labels=np.arange(proba.shape[1]), average=None, zero_division=np.nan)
    for i, name in enumerate(stages):
        if np.any(y == i):
            out[f"recall_{name}"] = float(recalls[i])
    return out


def stage_confusion(y: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray:
    """Rows: actual stage, columns: predicted stage."""
    return confusion_matrix(y, pred, labels=np.arange(n))


def transition_matrix(train_current: np.ndarray, train_next: np.ndarray, n: int) -> np.ndarray:
    """Empirical P(next | current) from training rows; unseen current stages stay where they are."""
    counts = np.zeros((n, n))
    np.add.at(counts, (train_current, train_next), 1)
    totals = counts.sum(axis=1, keepdims=True)
    return np.where(totals > 0, counts / np.where(totals > 0, totals, 1), np.eye(n))


def label_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-F1 of hard predictions (for rule baselines)."""
    labels = np.unique(np.concatenate([y, pred]))
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "macro_f1": float(f1_score(y, pred, average="macro", labels=labels)),
    }


def conversion_auc(
    y: np.ndarray, score: np.ndarray, current: np.ndarray, before: Sequence[int], after: Sequence[int]
) -> float | None:
    """ROC AUC of converting (next stage in `after`) among rows now in a `before` stage, or None.

    For lead -> deal sources this is the lead-conversion figure. `score` is per row (e.g. the
    summed probability of the `after` stages); None when the rows hold only one outcome.
    """
    rows = np.isin(current, before)
    converted = np.isin(y[rows], after).astype(np.int64)
    if len(np.unique(converted)) < 2:
        return None
    return float(roc_auc_score(converted, score[rows]))
