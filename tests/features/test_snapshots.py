"""Tests of the snapshot grid and label-window completeness."""

from __future__ import annotations

import pandas as pd

from features.snapshots import complete_cutoffs, data_end, snapshot_dates


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_snapshots_are_month_starts_after_min_history_plus_the_end():
    dates = snapshot_dates(ts("2023-01-15"), ts("2023-06-10"), min_history_days=30)
    assert dates == [
        ts("2023-03-01"),
        ts("2023-04-01"),
        ts("2023-05-01"),
        ts("2023-06-01"),
        ts("2023-06-10"),
    ]
    assert all(d == d.floor("D") for d in dates)


def test_end_that_is_a_month_start_is_not_repeated():
    dates = snapshot_dates(ts("2023-01-01"), ts("2023-04-01"), min_history_days=0)
    assert dates == [ts("2023-01-01"), ts("2023-02-01"), ts("2023-03-01"), ts("2023-04-01")]


def test_data_end_is_the_midnight_after_the_newest_record():
    assert data_end(ts("2011-12-09 12:50")) == ts("2011-12-10")


def test_complete_cutoffs_need_the_whole_window_inside_the_data():
    snaps = [ts("2024-01-01"), ts("2024-02-01"), ts("2024-03-01")]
    assert complete_cutoffs(snaps, ts("2024-03-30"), 30) == [ts("2024-01-01"), ts("2024-02-01")]
