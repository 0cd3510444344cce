"""Calibration of churn probabilities and how well probabilities match observed rates."""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression

from serving.artifact import Calibration

TIE_BREAK = 1e-6  # slope added to the isotonic steps so that calibration never ties two customers


def fit_isotonic(p: np.ndarray, y: np.ndarray) -> Calibration:
    """Isotonic regression of outcomes on raw probabilities, kept as interpolation knots over [0, 1].

    Isotonic steps are flat, and flat steps would give many customers the same probability,
    losing the booster's ranking (a measurable drop in ROC AUC). A slope of 1e-6 over [0, 1]
    makes the map strictly increasing: probabilities move by at most 1e-6 and the order of the raw
    scores is kept exactly.
    """
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)
    x = np.concatenate([[0.0], iso.X_thresholds_, [1.0]])
    keep = np.concatenate([[True], np.diff(x) > 0])  # knots must be strictly increasing
    x = x[keep]
    steps = iso.predict(x)
    knots = steps * (1 - TIE_BREAK) + TIE_BREAK * x
    return Calibration(tuple(map(float, x)), tuple(map(float, knots)))


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed rate - mean probability| over equal-width probability bins, weighted by size."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            error += members.mean() * abs(y[members].mean() - p[members].mean())
    return float(error)
