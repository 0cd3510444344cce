"""Calibration of churn probabilities and how well probabilities match observed rates.

Monotone maps compete on the validation slice (the rows the booster was not fitted on): the
booster's own probabilities, Platt scaling (a logistic curve on the raw log-odds), beta
calibration (Kull et al., 2017: a logistic regression on ln p and -ln(1 - p), which also bends
the ends) and isotonic regression (a step function, smoothed here into a strictly increasing
line through the middles of its steps). Cross-validated log loss decides, with a preference
for the simpler map (the one-standard-error rule): isotonic fits any monotone shape but overfits
a small slice, the parametric maps the other way round.

Every map is kept as interpolation knots (serving applies it with np.interp, no model code at
scoring time), is strictly increasing (the booster's ranking, and so its ROC AUC, survives
exactly) and stays inside [FLOOR, 1 - FLOOR]: no customer is told 0% or 100%.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import expit, logit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from serving.artifact import Calibration

FLOOR = 1e-4  # calibrated probabilities lie in [FLOOR, 1 - FLOOR]
EPS = 1e-7  # raw probabilities are clipped to [EPS, 1 - EPS] before taking logs
GRID = 400  # knots of a smooth map, spread over the raw scores' log-odds
FOLDS = 5
METHODS = ("identity", "platt", "beta", "isotonic")  # in order of flexibility
Fitter = Callable[[np.ndarray, np.ndarray], Callable[[np.ndarray], np.ndarray]]


def fit_calibration(p: np.ndarray, y: np.ndarray, methods: tuple[str, ...] = METHODS) -> Calibration:
    """The simplest map among `methods` whose cross-validated log loss is as good as the best's.

    "As good" is the one-standard-error rule on paired folds: a more flexible map must beat a
    simpler one by more than the folds' noise, else the simpler one is kept (a slice of a few
    hundred rows lets isotonic win by chance and lose out of time). The order of `methods` is the
    order of simplicity. With too few rows of either class for cross-validation, Platt scaling
    (two parameters) is used.
    """
    p, y = np.asarray(p, dtype=np.float64), np.asarray(y, dtype=np.int64)
    if min(int(y.sum()), int(len(y) - y.sum())) < FOLDS * 2:
        method, losses = "platt", {}
    else:
        folds = {m: _fold_log_losses(FITTERS[m], p, y) for m in methods}
        losses = {m: float(np.mean(v)) for m, v in folds.items()}
        method = _simplest_as_good(folds, methods)
    calibrate = FITTERS[method](p, y)
    x = _knot_grid(p)
    knots = _strictly_increasing(FLOOR + (1 - 2 * FLOOR) * np.clip(calibrate(x), 0.0, 1.0))
    return Calibration(tuple(map(float, x)), tuple(map(float, knots)), method, losses)


def _simplest_as_good(folds: dict[str, np.ndarray], order: tuple[str, ...]) -> str:
    best = min(folds, key=lambda m: float(np.mean(folds[m])))
    for method in order:
        gap = folds[method] - folds[best]  # paired by fold
        if method == best or gap.mean() <= gap.std(ddof=1) / np.sqrt(len(gap)):
            return method
    return best


def fit_isotonic(p: np.ndarray, y: np.ndarray) -> Calibration:
    """Isotonic calibration alone (smoothed, strictly increasing, inside the floor)."""
    return fit_calibration(p, y, ("isotonic",))


def _fold_log_losses(fitter: Fitter, p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Log loss of the map on each stratified fold (fitted on the other folds); same folds for all."""
    losses = []
    for train, test in StratifiedKFold(FOLDS, shuffle=True, random_state=0).split(p, y):
        q = np.clip(fitter(p[train], y[train])(p[test]), FLOOR, 1 - FLOOR)
        losses.append(-np.mean(y[test] * np.log(q) + (1 - y[test]) * np.log(1 - q)))
    return np.asarray(losses)


def _log_odds(p: np.ndarray) -> np.ndarray:
    return np.asarray(logit(np.clip(p, EPS, 1 - EPS)))


def _logistic(features: np.ndarray, y: np.ndarray) -> LogisticRegression:
    return LogisticRegression(C=1e6, max_iter=1000).fit(features, y)  # (almost) unregularised


def _platt(p: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    model = _logistic(_log_odds(p)[:, None], y)
    a, b = float(model.coef_[0, 0]), float(model.intercept_[0])
    if a <= 0:  # scores that do not rank: fall back to the base rate (flat, made increasing later)
        return lambda q: np.full(np.shape(q), y.mean())
    return lambda q: np.asarray(expit(a * _log_odds(q) + b))


def _beta(p: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Beta calibration: logistic on (ln p, -ln(1 - p)); a negative weight drops that term."""
    columns = [0, 1]
    while True:
        features = _beta_features(p)[:, columns]
        model = _logistic(features, y)
        weights = model.coef_[0]
        if (weights >= 0).all() or len(columns) == 1:
            break
        columns = [columns[int(np.argmax(weights))]]
    if (weights <= 0).all():
        return _platt(p, y)
    w, b, kept = weights.copy(), float(model.intercept_[0]), list(columns)
    return lambda q: np.asarray(expit(_beta_features(q)[:, kept] @ w + b))


def _beta_features(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.column_stack([np.log(q), -np.log1p(-q)])


def _isotonic(p: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Isotonic steps, smoothed: a line through each step's middle, so the map is increasing.

    Flat steps would give whole groups of customers one probability (the ranking lost within a
    step); joining the steps' centres keeps the isotonic shape and every difference in raw score.
    """
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)
    xs, ys = iso.X_thresholds_, iso.y_thresholds_
    # the thresholds come in pairs (start, end) per step; their means are the steps' centres
    centres_x, centres_y = [], []
    start = 0
    for end in range(1, len(xs) + 1):
        if end == len(xs) or ys[end] != ys[start]:
            centres_x.append(float(np.mean(xs[start:end])))
            centres_y.append(float(ys[start]))
            start = end
    if len(centres_x) < 2:
        return lambda q: np.full(np.shape(q), y.mean())
    # beyond the outer centres, head linearly for 0 at p = 0 and 1 at p = 1 (the floor clips)
    cx = np.asarray([0.0, *centres_x, 1.0])
    cy = np.asarray([0.0, *centres_y, 1.0])
    keep = np.concatenate([[True], np.diff(cx) > 0])
    return lambda q: np.interp(q, cx[keep], cy[keep])


def _identity(p: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The booster's own probabilities (LightGBM's log loss often calibrates them already)."""
    return lambda q: np.asarray(q, dtype=np.float64)


FITTERS: dict[str, Fitter] = {"identity": _identity, "platt": _platt, "beta": _beta, "isotonic": _isotonic}


def _knot_grid(p: np.ndarray) -> np.ndarray:
    """Knots from 0 to 1: dense over the raw scores' range in log-odds, plus every step's ends."""
    lo, hi = _log_odds(np.array([p.min(), p.max()]))
    inner = expit(np.linspace(lo, hi, GRID))
    quantiles = np.quantile(p, np.linspace(0, 1, GRID))
    x = np.unique(np.concatenate([[0.0, 1.0], inner, quantiles]))
    return x[(x >= 0) & (x <= 1)]


def _strictly_increasing(knots: np.ndarray) -> np.ndarray:
    """Knots made strictly increasing: each knot of a flat run is lifted 1e-7 above the one before."""
    out = knots.astype(np.float64).copy()
    step = 1e-7
    for i in range(1, len(out)):
        if out[i] <= out[i - 1]:
            out[i] = out[i - 1] + step
    if out[-1] > 1 - FLOOR:  # lifting pushed past the ceiling: squeeze back linearly
        lo = out[0]
        out = lo + (out - lo) * ((1 - FLOOR - lo) / (out[-1] - lo))
    return out


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
