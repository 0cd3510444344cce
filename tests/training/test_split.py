"""Tests of the out-of-time cutoff split."""

from __future__ import annotations

import pandas as pd
import pytest

from training.split import NotEnoughHistory, split_cutoffs

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
