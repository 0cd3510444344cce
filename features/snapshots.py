"""The monthly snapshot grid: the dates at which stages and features are computed."""

from __future__ import annotations

import pandas as pd


def data_end(max_ts: pd.Timestamp) -> pd.Timestamp:
    """The first midnight after the newest record: the as-of date of "now" for this data."""
    return (pd.Timestamp(max_ts).tz_convert("UTC").floor("D") + pd.Timedelta(days=1)).as_unit("us")


def snapshot_dates(start: pd.Timestamp, end: pd.Timestamp, min_history_days: int) -> list[pd.Timestamp]:
    """Month starts with at least min_history_days of data before them, up to and including end.

    The newest snapshot is `end` itself even when it is not a month start, so that the online
    store always serves features as of the end of the data. All snapshots are midnights UTC:
    a record at ts belongs to snapshot s exactly when ts < s.
    """
    start = pd.Timestamp(start).tz_convert("UTC")
    end = pd.Timestamp(end).tz_convert("UTC").floor("D")
    first = (start + pd.Timedelta(days=min_history_days)).floor("D")
    month_start = pd.Timestamp(year=first.year, month=first.month, day=1, tz="UTC")
    months = pd.date_range(month_start, end, freq="MS")
    dates = [d for d in months if first <= d <= end]
    if not dates or dates[-1] != end:
        dates.append(end)
    return [d.as_unit("us") for d in dates]


def complete_cutoffs(
    snapshots: list[pd.Timestamp], end: pd.Timestamp, window_days: int
) -> list[pd.Timestamp]:
    """Snapshots whose label window [t, t + window) lies entirely inside the data."""
    horizon = pd.Timedelta(days=window_days)
    return [t for t in snapshots if t + horizon <= end]
