"""The candidate features of the ablation study, by hand on one customer's orders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.ablation import candidates


def test_candidate_features_are_computed_as_of_each_cutoff_from_earlier_orders_only():
    cutoff = pd.Timestamp("2024-01-01", tz="UTC")
    days_before = [400, 300, 120, 100, 10]  # one order each; the one at +5 days is after the cutoff
    ts = [cutoff - pd.Timedelta(days=d) for d in days_before] + [cutoff + pd.Timedelta(days=5)]
    tx = pd.DataFrame({"customer_id": "a", "ts": ts, "amount": 10.0, "quantity": [1, 1, 2, 2, 4, 9]})
    tx.loc[len(tx)] = ["a", cutoff - pd.Timedelta(days=50), -10.0, -1]  # a refund is no order
    frame = pd.DataFrame(
        {
            "customer_id": ["a"],
            "event_timestamp": [cutoff],
            "gap_std_days": [50.0],
            "gap_mean_days": [97.5],
            "days_since_last_purchase": [10.0],
            "days_since_first_purchase": [400.0],
            "purchases_90d": [1.0],
        }
    )
    row = candidates(frame, tx, window_days=90).iloc[0]
    assert row["decay_30"] == pytest.approx(sum(np.exp(-np.log(2) * d / 30) for d in days_before))
    assert row["last_gap"] == pytest.approx(90.0)  # from 100 days back to 10 days back
    assert row["last_gap_ratio"] == pytest.approx(10 / 90)
    assert row["count_trend"] == pytest.approx((1 + 1) / (2 + 1))  # 120 and 100 days back
    assert row["quantity_trend"] == pytest.approx((4 + 1) / (4 + 1))
    assert row["same_window_last_year"] == 1  # 300 days back is in [365 - 90, 365)
    assert row["gap_cv"] == pytest.approx(50 / 97.5) and row["recency_share"] == pytest.approx(10 / 400)
