"""Tests of calibration: the choice among Platt, beta and isotonic, what every map must keep, ECE."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from serving.artifact import PROBABILITY_DIGITS, Calibration
from training.calibrate import (
    FLOOR,
    METHODS,
    expected_calibration_error,
    fit_calibration,
    fit_isotonic,
)

# raw scores that rank well but are badly calibrated, each in a different way
DISTORTIONS = {
    "overconfident ends": lambda t: 1 / (1 + np.exp(-12 * (t - 0.25))),
    "too low": lambda t: t**3,
    "too high": np.sqrt,
}


def _sample(distort, n: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    true = rng.beta(1.0, 4.0, n)  # mostly low churn risk, as among active customers
    y = (rng.uniform(0, 1, n) < true).astype(int)
    return distort(true), y


@pytest.mark.parametrize("name", DISTORTIONS)
def test_calibration_fixes_rates_and_keeps_the_ranking(name: str):
    raw, y = _sample(DISTORTIONS[name])
    half = len(raw) // 2
    calibration = fit_calibration(raw[:half], y[:half])
    out = calibration.apply(raw[half:])
    assert set(calibration.log_loss) == set(METHODS)
    assert calibration.method != "identity"  # the raw scores are far off: a map must win
    assert expected_calibration_error(y[half:], raw[half:]) > 0.05
    assert expected_calibration_error(y[half:], out) <= 0.025  # sampling noise of 10k rows: ~0.01
    # the order of the raw scores survives exactly, so does ROC AUC
    order = np.argsort(raw[half:], kind="stable")
    assert np.all(np.diff(out[order]) >= 0)
    assert roc_auc_score(y[half:], out) == pytest.approx(roc_auc_score(y[half:], raw[half:]), abs=1e-12)
    # nobody is told 0% or 100%, and the printed probabilities keep customers apart
    assert out.min() >= FLOOR and out.max() <= 1 - FLOOR
    printed = np.round(out, PROBABILITY_DIGITS)
    assert len(np.unique(printed)) >= 0.9 * len(np.unique(raw[half:]))


def test_each_map_is_strictly_increasing_and_inside_the_floor():
    raw, y = _sample(DISTORTIONS["too low"], n=6000, seed=3)
    for method in METHODS:
        calibration = fit_calibration(raw, y, (method,))
        knots = np.asarray(calibration.y)
        assert calibration.method == method
        assert np.all(np.diff(knots) > 0), method
        assert knots.min() >= FLOOR and knots.max() <= 1 - FLOOR, method
        assert calibration.x[0] == 0.0 and calibration.x[-1] == 1.0, method


def test_the_choice_follows_the_shape():
    """A logistic distortion is Platt's home ground; a step in the true rate only isotonic follows."""
    rng = np.random.default_rng(7)
    raw = rng.uniform(0.01, 0.99, 30_000)
    y = (rng.uniform(0, 1, raw.size) < np.where(raw > 0.5, 0.6, 0.1)).astype(int)
    assert fit_calibration(raw, y).method == "isotonic"
    true = rng.beta(1.0, 4.0, 30_000)
    y = (rng.uniform(0, 1, true.size) < true).astype(int)
    logistic = 1 / (1 + np.exp(-(2.0 * np.log(true / (1 - true)) + 1.0)))
    assert fit_calibration(logistic, y).method in ("platt", "beta")


def test_calibrated_scores_stay_as_they_are_unless_a_map_is_clearly_better():
    """Already calibrated scores keep the identity (one-standard-error rule), not a lucky isotonic."""
    rng = np.random.default_rng(4)
    true = rng.beta(1.0, 4.0, 700)  # a validation slice of a few hundred rows
    y = (rng.uniform(0, 1, true.size) < true).astype(int)
    calibration = fit_calibration(true, y)
    assert calibration.method == "identity"
    grid = np.linspace(0.01, 0.99, 99)
    assert np.allclose(calibration.apply(grid), grid, atol=2e-4)


def test_too_few_of_a_class_falls_back_to_platt():
    rng = np.random.default_rng(2)
    raw = rng.uniform(0, 1, 300)
    y = np.zeros(300, dtype=int)
    y[np.argsort(raw)[-6:]] = 1  # six churners: too few for five folds of each class
    calibration = fit_calibration(raw, y)
    assert calibration.method == "platt" and calibration.log_loss == {}
    assert np.all(np.diff(np.asarray(calibration.y)) > 0)


def test_round_trip_through_metadata_and_old_artefacts():
    raw, y = _sample(DISTORTIONS["too high"], n=4000, seed=5)
    calibration = fit_isotonic(raw, y)
    assert calibration.method == "isotonic"
    assert Calibration.from_metadata(calibration.to_metadata()) == calibration
    assert Calibration.from_metadata(None) is None
    old = Calibration.from_metadata({"x": [0.0, 1.0], "y": [0.1, 0.9]})  # before `method` existed
    assert old is not None and old.method == "isotonic" and old.log_loss == {}


def test_ece_is_zero_for_exact_rates_and_large_for_wrong_ones():
    y = np.array([0, 0, 1, 1])
    assert expected_calibration_error(y, np.array([0.5, 0.5, 0.5, 0.5])) == 0.0
    assert expected_calibration_error(y, np.array([0.95, 0.95, 0.05, 0.05])) > 0.8
