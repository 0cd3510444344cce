"""Tests of calibration: isotonic knots, their application, and the calibration error."""

from __future__ import annotations

import numpy as np

from serving.artifact import Calibration
from training.calibrate import expected_calibration_error, fit_isotonic


def test_isotonic_fixes_overconfident_scores_and_round_trips():
    rng = np.random.default_rng(0)
    true = rng.uniform(0, 1, 20_000)
    y = (rng.uniform(0, 1, true.size) < true).astype(int)
    raw = true**3  # monotone but badly calibrated
    calibration = fit_isotonic(raw, y)
    assert expected_calibration_error(y, raw) > 0.1
    assert expected_calibration_error(y, calibration.apply(raw)) < 0.02
    assert Calibration.from_metadata(calibration.to_metadata()) == calibration
    assert Calibration.from_metadata(None) is None
    knots = np.asarray(calibration.y)
    assert (np.diff(knots) >= 0).all() and knots.min() >= 0 and knots.max() <= 1


def test_ece_is_zero_for_exact_rates_and_large_for_wrong_ones():
    y = np.array([0, 0, 1, 1])
    assert expected_calibration_error(y, np.array([0.5, 0.5, 0.5, 0.5])) == 0.0
    assert expected_calibration_error(y, np.array([0.95, 0.95, 0.05, 0.05])) > 0.8


def test_calibration_keeps_the_raw_ranking_exactly():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    raw = rng.uniform(0, 1, 5000)
    y = (rng.uniform(0, 1, raw.size) < raw**2).astype(int)
    calibrated = fit_isotonic(raw[:2500], y[:2500]).apply(raw[2500:])
    assert len(np.unique(calibrated)) == len(np.unique(raw[2500:]))  # no ties made by flat steps
    assert roc_auc_score(y[2500:], calibrated) == roc_auc_score(y[2500:], raw[2500:])
    assert np.all(np.diff(calibrated[np.argsort(raw[2500:])]) > 0)
