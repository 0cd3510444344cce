"""Customer value over the window: run rate, BG/NBD x Gamma-Gamma, actual future spend and the metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from serving.scoring import run_rate_value
from targeting.value import (
    bgnbd_value,
    compare_methods,
    customer_value,
    fit_rows,
    future_spend,
    value_metrics,
)

CUTOFF = pd.Timestamp("2024-01-01", tz="UTC")


def simulate(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Customers buying as Poisson processes (heterogeneous rates and basket sizes) for a year.

    Returns the features at CUTOFF and every transaction, before and after it.
    """
    rng = np.random.default_rng(seed)
    rates = rng.gamma(1.5, 1 / 60.0, n)  # purchases per day, mean one every 40 days
    baskets = rng.gamma(4.0, 10.0, n)
    rows = []
    for i in range(n):
        times = np.cumsum(rng.exponential(1 / rates[i], 40))
        times = times[times < 365 + 180] - 365  # one year before the cutoff, half a year after
        amounts = rng.gamma(8.0, baskets[i] / 8.0, times.size)
        rows += [
            (f"c{i}", CUTOFF + pd.Timedelta(days=float(t)), a) for t, a in zip(times, amounts, strict=True)
        ]
    tx = pd.DataFrame(rows, columns=["customer_id", "ts", "amount"])
    past = tx[tx["ts"] < CUTOFF]
    age = (CUTOFF - past["ts"]).dt.total_seconds() / 86400
    feats = (
        past.assign(age=age)
        .groupby("customer_id")
        .agg(
            purchases_total=("amount", "size"),
            days_since_first_purchase=("age", "max"),
            days_since_last_purchase=("age", "min"),
            avg_order_value=("amount", "mean"),
            spend_365d=("amount", "sum"),
        )
        .reset_index()
        .assign(cutoff=CUTOFF)
    )
    return feats, tx


def test_run_rate_scales_the_trailing_year_and_never_goes_negative():
    frame = pd.DataFrame({"spend_365d": [365.0, -20.0, np.nan]})
    assert run_rate_value(frame, 90).tolist() == [90.0, 0.0, 0.0]


def test_fit_rows_sample_is_seeded_and_bounded():
    assert fit_rows(5, 10, 1).tolist() == [0, 1, 2, 3, 4]
    a, b = fit_rows(1000, 100, 7), fit_rows(1000, 100, 7)
    assert len(a) == 100 and len(set(a)) == 100 and (a == b).all()
    assert not (a == fit_rows(1000, 100, 8)).all()


def test_future_spend_counts_only_the_window_after_each_cutoff():
    later = CUTOFF + pd.Timedelta(days=30)
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "a", "b"],
            "ts": [
                CUTOFF - pd.Timedelta(seconds=1),  # before: not counted
                CUTOFF,  # the cutoff itself: counted
                CUTOFF + pd.Timedelta(days=10),
                CUTOFF + pd.Timedelta(days=10),  # refund: netted
                CUTOFF + pd.Timedelta(days=90),  # window end: excluded for the first cutoff
                CUTOFF + pd.Timedelta(days=200),
            ],
            "amount": [1000.0, 10.0, 5.0, -3.0, 7.0, 50.0],
        }
    )
    keys = pd.DataFrame({"customer_id": ["a", "a", "b", "c"], "cutoff": [CUTOFF, later, CUTOFF, CUTOFF]})
    assert future_spend(tx, keys, 90).tolist() == [12.0, 7.0, 0.0, 0.0]


def test_value_metrics_on_a_known_example():
    actual = np.array([100.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    perfect = value_metrics(actual.copy(), actual)
    assert perfect["mae"] == 0 and perfect["top_decile_capture"] == 1.0 and perfect["total_ratio"] == 1.0
    wrong = value_metrics(actual[::-1].copy(), actual)
    assert wrong["top_decile_capture"] == 0.0 and wrong["mae"] == pytest.approx(20.0)
    assert wrong["spearman"] < 0


def test_bgnbd_value_ranks_future_spend_on_simulated_buyers():
    feats, tx = simulate(1500, seed=3)
    actual = future_spend(tx, feats, 90)
    predicted = bgnbd_value(feats, 90, sample=1000, seed=1)
    m = value_metrics(predicted, actual)
    assert m["spearman"] > 0.4
    assert 0.6 < m["total_ratio"] < 1.6
    assert (predicted >= 0).all() and np.isfinite(predicted).all()
    np.testing.assert_array_equal(predicted, bgnbd_value(feats, 90, sample=1000, seed=1))


def test_customer_value_falls_back_to_the_run_rate_when_bgnbd_is_not_identified():
    one_purchase = pd.DataFrame(
        {
            "purchases_total": [1.0] * 20,
            "days_since_first_purchase": np.arange(20.0),
            "days_since_last_purchase": np.arange(20.0),
            "avg_order_value": np.full(20, 30.0),
            "spend_365d": np.full(20, 30.0),
        }
    )
    value, method = customer_value(one_purchase, "bgnbd", 73, 100, 1)
    assert method == "run_rate" and value == pytest.approx(np.full(20, 6.0))


def test_compare_methods_scores_both_on_the_same_rows():
    feats, tx = simulate(600, seed=5)
    second = feats.assign(cutoff=CUTOFF + pd.Timedelta(days=1))  # a second cutoff, valued on its own
    result = compare_methods(pd.concat([feats, second]), tx, 90, sample=500, seed=1)
    assert set(result) == {"run_rate", "bgnbd"}
    assert result["run_rate"]["rows"] == result["bgnbd"]["rows"] == 2 * len(feats)
    assert all(0 < r["spearman"] <= 1 for r in result.values())
