"""The training split: planned by core.cutoffs (shared with `journey validate`), kept here for training."""

from __future__ import annotations

import pandas as pd

from core.cutoffs import CutoffSplit, NotEnoughHistory, SplitMode, plan_split

__all__ = ["CutoffSplit", "NotEnoughHistory", "SplitMode", "plan_split", "split_cutoffs"]


def split_cutoffs(
    snapshots: list[pd.Timestamp], end: pd.Timestamp, window_days: int, n_test: int, min_train: int
) -> CutoffSplit:
    """The rolling out-of-time split (NotEnoughHistory when it does not fit)."""
    return plan_split(snapshots, end, window_days, n_test, min_train, mode="rolling")
