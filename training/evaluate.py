"""Metrics of the churn and next-stage models (computed here, not by mlflow.evaluate)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    roc_auc_score,
)


class SingleClassError(ValueError):
    """A label set with one class cannot train or evaluate a classifier."""


def require_two_classes(y: np.ndarray, what: str) -> None:
    if len(np.unique(y)) < 2:
        raise SingleClassError(
            f"{what} has only one class ({np.unique(y).tolist()}): churn needs both churners and "
            "non-churners; use more customers, more cutoffs or a different prediction window"
        )


def churn_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC AUC, PR AUC, Brier score and the base rate of a churn score."""
    require_two_classes(y, "the churn test set")
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "base_rate": float(np.mean(y)),
    }


def recency_rule_auc(y: np.ndarray, days_since_last_purchase: np.ndarray) -> float:
    """ROC AUC of the "longer since the last purchase, more likely to churn" rule."""
    score = np.nan_to_num(days_since_last_purchase, nan=np.nanmax(days_since_last_purchase) + 1)
    return float(roc_auc_score(y, score))


def stage_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-F1 of next-stage predictions (class indices)."""
    pred = proba.argmax(axis=1)
    labels = np.unique(np.concatenate([y, pred]))
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "macro_f1": float(f1_score(y, pred, average="macro", labels=labels)),
    }


def stays_in_stage_accuracy(y: np.ndarray, current: np.ndarray) -> float:
    """Accuracy of the "stays in the current stage" rule (the naive next-stage baseline)."""
    return float(np.mean(y == current))


def markov_predict(
    train_current: np.ndarray, train_next: np.ndarray, test_current: np.ndarray, n: int
) -> np.ndarray:
    """The empirical transition matrix's most likely next stage for each test row's current stage.

    Stages never seen as a current stage in training stay where they are.
    """
    counts = np.zeros((n, n))
    np.add.at(counts, (train_current, train_next), 1)
    best = np.where(counts.sum(axis=1) > 0, counts.argmax(axis=1), np.arange(n))
    return best[test_current]


def label_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-F1 of hard predictions (for rule baselines)."""
    labels = np.unique(np.concatenate([y, pred]))
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "macro_f1": float(f1_score(y, pred, average="macro", labels=labels)),
    }
