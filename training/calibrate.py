"""Calibration of churn probabilities and how well probabilities match observed rates."""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression

from features.encoding import Calibration


def fit_isotonic(p: np.ndarray, y: np.ndarray) -> Calibration:
    """Isotonic regression of outcomes on raw probabilities, kept as its step knots."""
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)
    return Calibration(tuple(map(float, iso.X_thresholds_)), tuple(map(float, iso.y_thresholds_)))


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
