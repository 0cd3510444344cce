"""Per-day checksums behind snapshot fingerprints: any edit to any column of a row shows."""

from __future__ import annotations

import ibis
import pandas as pd
import pytest

from features.fingerprint import _daily_sums

ROWS = pd.DataFrame(
    {
        "customer_id": ["a", "b", "c"],
        "ts": pd.to_datetime(["2024-01-01 10:00", "2024-01-01 11:00", "2024-01-02 09:00"], utc=True),
        "event_type": ["visit", "cart", "visit"],
        "value": [1.0, None, 2.5],
    }
)


def sums(frame: pd.DataFrame) -> pd.DataFrame:
    return _daily_sums(ibis.memtable(frame), "ts").reset_index(drop=True)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("customer_id", "z"),
        ("event_type", "checkout"),
        ("value", 7.0),
        ("ts", pd.Timestamp("2024-01-01 10:01", tz="UTC")),
    ],
)
def test_an_edit_to_any_column_changes_that_days_checksum_only(column: str, value: object):
    edited = ROWS.copy()
    edited.loc[0, column] = value
    before, after = sums(ROWS), sums(edited)
    assert before["day"].tolist() == after["day"].tolist()
    assert before["h"].iloc[0] != after["h"].iloc[0]
    assert before["h"].iloc[1] == after["h"].iloc[1]


def test_swapping_values_between_rows_changes_the_checksum():
    swapped = ROWS.copy()
    swapped.loc[[0, 1], "event_type"] = ["cart", "visit"]
    assert sums(ROWS)["h"].iloc[0] != sums(swapped)["h"].iloc[0]


def test_the_checksum_ignores_row_and_column_order():
    shuffled = ROWS.iloc[[2, 0, 1]][["value", "ts", "customer_id", "event_type"]]
    pd.testing.assert_frame_equal(sums(ROWS), sums(shuffled))
