"""Evaluation plots logged as MLflow artifacts: ROC, PR, calibration, lift, confusion, importance.

Each function returns a matplotlib Figure built without pyplot (no global state, no display
needed); the caller logs it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

Scores = Mapping[str, np.ndarray]


def _axes(title: str, xlabel: str, ylabel: str) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(5.5, 4.5), dpi=100)
    ax = fig.subplots()
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    return fig, ax


def _finite(score: np.ndarray) -> np.ndarray:
    finite = np.isfinite(score)
    return np.where(finite, score, (np.max(score[finite]) + 1) if finite.any() else 0.0)


def roc_figure(y: np.ndarray, scores: Scores) -> Figure:
    fig, ax = _axes("ROC, out-of-time test", "false positive rate", "true positive rate")
    for name, score in scores.items():
        fpr, tpr, _ = roc_curve(y, _finite(score))
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def pr_figure(y: np.ndarray, scores: Scores) -> Figure:
    fig, ax = _axes("Precision-recall, out-of-time test", "recall", "precision")
    for name, score in scores.items():
        precision, recall, _ = precision_recall_curve(y, _finite(score))
        ax.plot(recall, precision, label=name)
    ax.axhline(float(np.mean(y)), color="k", ls=":", lw=1, label="base rate")
    ax.legend(loc="upper right", fontsize=8)
    return fig


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability, observed rate and count per equal-width probability bin."""
    index = np.clip(np.digitize(p, np.linspace(0, 1, bins + 1)[1:-1]), 0, bins - 1)
    frame = pd.DataFrame({"bin": index, "p": p, "y": y})
    return frame.groupby("bin").agg(predicted=("p", "mean"), observed=("y", "mean"), rows=("y", "size"))


def calibration_figure(y: np.ndarray, probabilities: Scores) -> Figure:
    fig, ax = _axes("Calibration, out-of-time test", "predicted probability", "observed rate")
    for name, p in probabilities.items():
        table = reliability(y, p)
        ax.plot(table["predicted"], table["observed"], "o-", label=name)
    ax.plot([0, 1], [0, 1], "k:", lw=1, label="perfect")
    ax.legend(loc="upper left", fontsize=8)
    return fig


def lift_figure(y: np.ndarray, scores: Scores) -> Figure:
    """Cumulative gains: share of churners captured by contacting the top x% of customers."""
    fig, ax = _axes("Cumulative gains, out-of-time test", "share of customers contacted", "churners captured")
    for name, score in scores.items():
        order = np.argsort(-_finite(score), kind="stable")
        captured = np.cumsum(y[order]) / max(1, int(np.sum(y)))
        ax.plot(np.arange(1, len(y) + 1) / len(y), captured, label=name)
    ax.plot([0, 1], [0, 1], "k:", lw=1, label="random")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def confusion_figure(matrix: np.ndarray, labels: Sequence[str]) -> Figure:
    fig = Figure(figsize=(6, 5), dpi=100)
    ax = fig.subplots()
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set(
        title="Next stage: actual (rows) vs predicted (columns)",
        xticks=range(len(labels)),
        yticks=range(len(labels)),
        xticklabels=labels,
        yticklabels=labels,
    )
    ax.tick_params(axis="x", rotation=45)
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(
            j, i, f"{count:,}", ha="center", va="center", fontsize=7, color="k" if shares[i, j] < 0.6 else "w"
        )
    fig.tight_layout()
    return fig


def importance_figure(importance: pd.Series, top: int = 20) -> Figure:
    head = importance.head(top)[::-1]
    fig = Figure(figsize=(6, 0.25 * len(head) + 1.2), dpi=100)
    ax = fig.subplots()
    ax.barh(head.index, head.to_numpy())
    ax.set(title="Global importance: mean |SHAP contribution|", xlabel="mean |contribution| (log-odds)")
    fig.tight_layout()
    return fig
