"""Out-of-time split of cutoffs: the newest complete cutoffs are the test set."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from features.snapshots import complete_cutoffs


class NotEnoughHistory(ValueError):
    """The data does not cover enough cutoffs for an honest out-of-time split."""


@dataclass(frozen=True)
class CutoffSplit:
    train: list[pd.Timestamp]
    valid: list[pd.Timestamp]
    test: list[pd.Timestamp]


def split_cutoffs(
    snapshots: list[pd.Timestamp], end: pd.Timestamp, window_days: int, n_test: int, min_train: int
) -> CutoffSplit:
    """Test = newest complete cutoffs; train = cutoffs whose label window closes before the test.

    The gap keeps labels of training rows from seeing the test period. The newest training
    cutoff is held out for early stopping.
    """
    complete = complete_cutoffs(snapshots, end, window_days)
    if len(complete) < n_test + min_train + 1:
        raise NotEnoughHistory(
            f"only {len(complete)} snapshots have a complete {window_days}-day label window before "
            f"{end.date()}; need {n_test} test + {min_train + 1} training cutoffs. Use data covering "
            f"a longer period or shorter windows (configs/journey.yaml labels)."
        )
    test = complete[-n_test:]
    horizon = pd.Timedelta(days=window_days)
    train = [t for t in complete if t + horizon <= test[0]]
    if len(train) < min_train + 1:
        raise NotEnoughHistory(
            f"only {len(train)} cutoffs have label windows that close before the first test cutoff "
            f"{test[0].date()}; need {min_train + 1}."
        )
    return CutoffSplit(train=train[:-1], valid=train[-1:], test=test)
