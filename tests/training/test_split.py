"""Tests of the out-of-time cutoff split."""

from __future__ import annotations

import pandas as pd
import pytest

from core.cutoffs import longest_windows, snapshot_dates
from training.split import NotEnoughHistory, plan_split, split_cutoffs

SNAPS = list(pd.date_range("2023-03-01", "2025-01-01", freq="MS", tz="UTC"))
END = pd.Timestamp("2025-01-01", tz="UTC")


def test_test_cutoffs_are_the_newest_complete_and_train_labels_close_before_them():
    split = split_cutoffs(SNAPS, END, window_days=90, n_test=2, min_train=2)
    assert split.test == [
        pd.Timestamp("2024-09-01", tz="UTC"),
        pd.Timestamp("2024-10-01", tz="UTC"),
    ]
    last_train = max(split.train + split.valid)
    assert last_train + pd.Timedelta(days=90) <= split.test[0]
    assert split.valid == [last_train]
    assert max(split.train) < split.valid[0]


def test_too_short_history_is_a_clear_error():
    with pytest.raises(NotEnoughHistory, match="complete 90-day label window"):
        split_cutoffs(SNAPS[:4], pd.Timestamp("2023-07-01", tz="UTC"), 90, n_test=2, min_train=2)


# 18 months of monthly snapshots (the first after 60 days of history) and a 9-month window
SHORT_START = pd.Timestamp("2023-01-01", tz="UTC")
SHORT_END = pd.Timestamp("2024-07-01", tz="UTC")
SHORT = snapshot_dates(SHORT_START, SHORT_END, 60)


def test_auto_falls_back_to_a_cohort_when_rolling_cutoffs_do_not_fit():
    with pytest.raises(NotEnoughHistory, match="rolling up to"):
        plan_split(SHORT, SHORT_END, 270, n_test=2, min_train=2, mode="rolling")
    split = plan_split(SHORT, SHORT_END, 270, n_test=2, min_train=2)
    assert split.mode == "cohort"
    cohort = split.test[0]
    assert split.train == split.valid == split.test == [cohort]
    assert cohort + pd.Timedelta(days=270) <= SHORT_END  # its label window closes inside the data
    assert cohort == max(t for t in SHORT if t + pd.Timedelta(days=270) <= SHORT_END)
    assert "rolling cutoffs do not fit" in split.describe()
    assert split.check == []  # no earlier cutoff's 9-month window closes by the cohort date


def test_a_cohort_gets_an_out_of_time_check_when_the_history_allows():
    split = plan_split(SNAPS, END, 270, n_test=2, min_train=2, mode="cohort")
    assert split.mode == "cohort" and len(split.check) == 1
    assert split.check[0] + pd.Timedelta(days=270) <= split.test[0]


def test_test_from_moves_the_first_test_cutoff_and_the_cohort():
    split = plan_split(SNAPS, END, 90, n_test=2, min_train=2, test_from=pd.Timestamp("2024-03-15", tz="UTC"))
    assert split.mode == "rolling"
    assert split.test == [pd.Timestamp("2024-04-01", tz="UTC"), pd.Timestamp("2024-05-01", tz="UTC")]
    assert max(split.valid) + pd.Timedelta(days=90) <= split.test[0]
    cohort = plan_split(SNAPS, END, 90, 2, 2, mode="cohort", test_from=pd.Timestamp("2024-03-15", tz="UTC"))
    assert cohort.test == [pd.Timestamp("2024-03-01", tz="UTC")]


@pytest.mark.parametrize("day", ["2019-01-01", "2031-01-01"])
def test_a_test_from_date_outside_the_data_names_the_range(day: str):
    with pytest.raises(NotEnoughHistory, match=r"--test-from .* choose a date from 2023-03-01 to 2024-10-01"):
        plan_split(SNAPS, END, 90, n_test=2, min_train=2, test_from=pd.Timestamp(day, tz="UTC"))


def test_no_mode_fits_and_the_error_gives_the_longest_windows():
    with pytest.raises(NotEnoughHistory) as err:
        plan_split(SHORT, SHORT_END, 600, n_test=2, min_train=2)
    longest = longest_windows(SHORT, SHORT_END, 2, 2)
    assert f"cohort up to {longest['cohort']} days" in str(err.value)
    assert f"rolling up to {longest['rolling']} days" in str(err.value)
    # the longest windows are exact: one day more and the mode no longer fits
    for mode, days in longest.items():
        plan_split(SHORT, SHORT_END, days, 2, 2, mode=mode)  # type: ignore[arg-type]
        with pytest.raises(NotEnoughHistory):
            plan_split(SHORT, SHORT_END, days + 1, 2, 2, mode=mode)  # type: ignore[arg-type]
