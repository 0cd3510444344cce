"""Customer value over the prediction window (run rate or BG/NBD x Gamma-Gamma) and its out-of-time check.

Both methods use only what is known at the scoring snapshot: the run rate scales the trailing
year's spend to the window; BG/NBD x Gamma-Gamma is fitted on the recency/frequency/monetary
summaries of the snapshot's own customers (no labels, so nothing from the future leaks in).
`compare_methods` measures both against the spend that actually followed each test cutoff.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from serving.scoring import run_rate_value
from training.clv import FitError, fit_bgnbd, fit_gamma_gamma, rfm_from_features

log = logging.getLogger(__name__)
ValueMethod = Literal["bgnbd", "run_rate"]
METHODS: tuple[ValueMethod, ...] = ("run_rate", "bgnbd")
PENALIZER = 1e-3  # a light ridge on the log-parameters keeps fits finite on small or odd snapshots


def fit_rows(n: int, size: int, seed: int) -> np.ndarray:
    """A seeded sample of row positions to fit on (all rows when there are at most `size`)."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def bgnbd_value(frame: pd.DataFrame, window_days: int, sample: int, seed: int) -> np.ndarray:
    """Expected purchases in the window (BG/NBD) x expected value per purchase (Gamma-Gamma).

    Both are fitted on a seeded sample of at most `sample` of the rows themselves; raises FitError
    when the snapshot does not identify them (nobody repeats, too few buyers).
    """
    clean = frame.assign(avg_order_value=frame["avg_order_value"].clip(lower=0.0))
    rfm = rfm_from_features(clean)
    fit = rfm.subset(fit_rows(len(rfm), sample, seed))
    assert fit.monetary is not None and rfm.monetary is not None  # avg_order_value is present
    purchases = fit_bgnbd(fit, PENALIZER).expected_purchases(rfm, float(window_days))
    spend_model = fit_gamma_gamma(fit.orders, fit.monetary, PENALIZER)
    spend = spend_model.expected_spend(rfm.orders, rfm.monetary)
    return np.nan_to_num(purchases * spend, nan=0.0).clip(min=0.0)


def customer_value(
    frame: pd.DataFrame, method: ValueMethod, window_days: int, sample: int, seed: int
) -> tuple[np.ndarray, ValueMethod]:
    """The value of each row by `method`, and the method used (run rate when a BG/NBD fit fails)."""
    if method == "bgnbd":
        try:
            return bgnbd_value(frame, window_days, sample, seed), "bgnbd"
        except FitError as err:
            log.warning("BG/NBD x Gamma-Gamma value not identified (%s): using the run rate", err)
    return run_rate_value(frame, window_days), "run_rate"


def future_spend(
    transactions: pd.DataFrame, keys: pd.DataFrame, window_days: int, cutoff: str = "cutoff"
) -> np.ndarray:
    """Net spend of each (customer_id, cutoff) row of `keys` in [cutoff, cutoff + window), 0 if none."""
    tx = transactions[["customer_id", "ts", "amount"]].merge(
        keys[["customer_id", cutoff]].drop_duplicates(), on="customer_id"
    )
    inside = (tx["ts"] >= tx[cutoff]) & (tx["ts"] < tx[cutoff] + pd.Timedelta(days=window_days))
    sums = tx[inside].groupby(["customer_id", cutoff])["amount"].sum()
    index = pd.MultiIndex.from_frame(keys[["customer_id", cutoff]])
    return sums.reindex(index, fill_value=0.0).to_numpy(dtype=np.float64)


def value_metrics(predicted: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """Rank agreement, error, top-decile capture of future spend, and the ratio of totals."""
    positive = actual.clip(min=0.0)
    top = np.argsort(-predicted, kind="stable")[: max(1, len(predicted) // 10)]
    return {
        "spearman": float(spearmanr(predicted, actual).statistic),
        "mae": float(np.abs(predicted - actual).mean()),
        "top_decile_capture": float(positive[top].sum() / positive.sum()) if positive.sum() > 0 else 0.0,
        "total_ratio": float(predicted.sum() / actual.sum()) if actual.sum() > 0 else float("nan"),
    }


def compare_methods(
    features: pd.DataFrame, transactions: pd.DataFrame, window_days: int, sample: int, seed: int
) -> dict[str, dict[str, float]]:
    """Each method's metrics against the actual spend after each cutoff of `features`.

    `features` holds one row per (customer_id, cutoff) with spend_365d and the RFM columns; each
    cutoff is valued on its own, as `journey targets` values a scoring snapshot.
    """
    parts = [frame for _, frame in features.groupby("cutoff", sort=True)]
    ordered = pd.concat(parts, ignore_index=True)
    actual = future_spend(transactions, ordered, window_days)
    out: dict[str, dict[str, float]] = {}
    for method in METHODS:
        predicted = np.concatenate([_value_only(p, method, window_days, sample, seed) for p in parts])
        out[method] = value_metrics(predicted, actual) | {"rows": float(len(ordered))}
    return out


def _value_only(
    frame: pd.DataFrame, method: ValueMethod, window_days: int, sample: int, seed: int
) -> np.ndarray:
    if method == "bgnbd":
        return bgnbd_value(frame, window_days, sample, seed)  # no silent fallback while evaluating
    return run_rate_value(frame, window_days)
