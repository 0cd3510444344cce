"""The snapshot grid and the plan of a training split: which cutoffs train, validate and test.

One module decides both for everyone: the feature build computes the grid, training splits it,
and `journey validate` asks the same planner whether training will run (so "usable" means
`journey train` runs, and the advice names what to change).

Two modes (docs/models.md, "Splits"):
- **rolling** (the default when the history allows it): the newest complete cutoffs are the
  test set; training cutoffs are those whose label window closes before the first test cutoff;
  the newest training cutoff validates.
- **cohort** (for histories too short for rolling cutoffs): one cutoff T, features as of T and
  the label over [T, T + window); its customers are split into train, validation and test
  (seeded, stratified by the label). When an earlier cutoff's label window closes by T, its test
  customers are scored too, as an out-of-time check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import pandas as pd

if TYPE_CHECKING:
    from core.config import Settings

SplitMode = Literal["auto", "rolling", "cohort"]
COHORT_SHARES = {"train": 0.6, "valid": 0.2, "test": 0.2}  # of the cohort's customers


class NotEnoughHistory(ValueError):
    """The data does not cover enough cutoffs for the split asked for; the message says what would."""


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


@dataclass(frozen=True)
class CutoffSplit:
    """The cutoffs of each part. In cohort mode train, valid and test hold the one cohort cutoff
    (its customers are split by `training.dataset`), and `check` an earlier cutoff, if any."""

    train: list[pd.Timestamp]
    valid: list[pd.Timestamp]
    test: list[pd.Timestamp]
    mode: Literal["rolling", "cohort"] = "rolling"
    check: list[pd.Timestamp] = field(default_factory=list)
    reason: str = ""

    @property
    def cutoffs(self) -> list[pd.Timestamp]:
        return sorted({*self.train, *self.valid, *self.test, *self.check})

    def describe(self) -> str:
        if self.mode == "cohort":
            check = f"; out-of-time check at {self.check[0].date()}" if self.check else ""
            return f"cohort split at {self.test[0].date()} (customers 60/20/20){check}: {self.reason}"
        return (
            f"rolling split: train {self.train[0].date()}..{self.train[-1].date()}, validate "
            f"{self.valid[0].date()}, test {', '.join(str(t.date()) for t in self.test)}: {self.reason}"
        )


def plan_split(
    snapshots: list[pd.Timestamp],
    end: pd.Timestamp,
    window_days: int,
    n_test: int,
    min_train: int,
    mode: SplitMode = "auto",
    test_from: pd.Timestamp | None = None,
) -> CutoffSplit:
    """The split training will use, or NotEnoughHistory saying which windows each mode supports.

    `test_from` is the first test cutoff (rolling: the first complete cutoff on or after it; cohort:
    the newest complete cutoff on or before it). "auto" is rolling when it fits, else cohort.
    """
    complete = complete_cutoffs(snapshots, end, window_days)
    if test_from is not None:
        _check_date(test_from, snapshots, complete, window_days)
    if mode in ("auto", "rolling"):
        try:
            return _rolling(complete, window_days, n_test, min_train, test_from)
        except NotEnoughHistory as err:
            if mode == "rolling":
                raise NotEnoughHistory(f"{err} {_advice(snapshots, end, n_test, min_train)}") from err
            why = f"rolling cutoffs do not fit ({err})"
    else:
        why = "cohort mode asked for"
    return _cohort(snapshots, end, complete, window_days, n_test, min_train, test_from, why)


def _rolling(
    complete: list[pd.Timestamp],
    window_days: int,
    n_test: int,
    min_train: int,
    test_from: pd.Timestamp | None,
) -> CutoffSplit:
    if len(complete) < n_test + min_train + 1:
        raise NotEnoughHistory(
            f"only {len(complete)} snapshots have a complete {window_days}-day label window; need "
            f"{n_test} test + {min_train + 1} training cutoffs."
        )
    if test_from is None:
        test = complete[-n_test:]
        reason = f"the newest {n_test} complete cutoffs test"
    else:
        test = [t for t in complete if t >= test_from][:n_test]
        reason = f"testing from {test[0].date()} (--test-from)"
    horizon = pd.Timedelta(days=window_days)
    train = [t for t in complete if t + horizon <= test[0]]
    if len(train) < min_train + 1:
        raise NotEnoughHistory(
            f"only {len(train)} cutoffs have label windows that close before the first test cutoff "
            f"{test[0].date()}; need {min_train + 1}."
        )
    return CutoffSplit(train=train[:-1], valid=train[-1:], test=test, mode="rolling", reason=reason)


def _cohort(
    snapshots: list[pd.Timestamp],
    end: pd.Timestamp,
    complete: list[pd.Timestamp],
    window_days: int,
    n_test: int,
    min_train: int,
    test_from: pd.Timestamp | None,
    why: str,
) -> CutoffSplit:
    usable = [t for t in complete if test_from is None or t <= test_from]
    if not usable:
        raise NotEnoughHistory(
            f"no snapshot has a complete {window_days}-day label window before {end.date()}, so not even "
            f"a cohort split fits. {_advice(snapshots, end, n_test, min_train)}"
        )
    cohort = usable[-1]
    horizon = pd.Timedelta(days=window_days)
    earlier = [t for t in complete if t + horizon <= cohort]
    return CutoffSplit(
        train=[cohort], valid=[cohort], test=[cohort], mode="cohort", check=earlier[-1:], reason=why
    )


def _check_date(
    test_from: pd.Timestamp, snapshots: list[pd.Timestamp], complete: list[pd.Timestamp], window_days: int
) -> None:
    if not complete:
        return  # the planner's own message explains
    first, last = snapshots[0], complete[-1]
    if not first <= test_from <= last:
        raise NotEnoughHistory(
            f"--test-from {test_from.date()} is outside the cutoffs a {window_days}-day label window "
            f"allows: choose a date from {first.date()} to {last.date()}"
        )


def longest_windows(
    snapshots: list[pd.Timestamp], end: pd.Timestamp, n_test: int, min_train: int
) -> dict[str, int]:
    """The longest label window (days) each mode supports on this grid (0 = none)."""
    if not snapshots:
        return {"rolling": 0, "cohort": 0}
    cohort = max(0, int((end - snapshots[0]) / pd.Timedelta(days=1)))
    rolling = 0
    low, high = 1, cohort
    while low <= high:  # feasibility only shrinks as the window grows: bisect
        mid = (low + high) // 2
        try:
            _rolling(complete_cutoffs(snapshots, end, mid), mid, n_test, min_train, None)
            rolling, low = mid, mid + 1
        except NotEnoughHistory:
            high = mid - 1
    return {"rolling": rolling, "cohort": cohort}


def _advice(snapshots: list[pd.Timestamp], end: pd.Timestamp, n_test: int, min_train: int) -> str:
    longest = longest_windows(snapshots, end, n_test, min_train)
    parts = [f"{mode} up to {days} days" if days else f"{mode}: none" for mode, days in longest.items()]
    return (
        f"On this history the longest label windows are: {'; '.join(parts)}. Shorten the window "
        f"(labels in configs/journey.yaml), use data covering a longer period, or lower "
        f"training.test_cutoffs / min_train_cutoffs."
    )


@dataclass(frozen=True)
class SplitRules:
    """What the split depends on besides the data (configs/journey.yaml: snapshots, training)."""

    min_history_days: int = 60
    n_test: int = 2
    min_train: int = 2
    mode: SplitMode = "auto"
    test_from: pd.Timestamp | None = None

    @classmethod
    def of(cls, settings: Settings) -> SplitRules:
        t = settings.training
        test_from = pd.Timestamp(t.test_from, tz="UTC") if t.test_from is not None else None
        return cls(
            settings.snapshots.min_history_days, t.test_cutoffs, t.min_train_cutoffs, t.split, test_from
        )

    def plan(self, snapshots: list[pd.Timestamp], end: pd.Timestamp, window_days: int) -> CutoffSplit:
        """The split of a feature build's grid (training) for a label window."""
        return plan_split(snapshots, end, window_days, self.n_test, self.min_train, self.mode, self.test_from)

    def plan_for_span(self, first: pd.Timestamp, newest: pd.Timestamp, window_days: int) -> CutoffSplit:
        """The split the data from `first` to its `newest` record will get (`journey validate`):
        the grid the feature build will compute, then `plan`."""
        end = data_end(newest)
        return self.plan(snapshot_dates(first, end, self.min_history_days), end, window_days)

    def longest(self, first: pd.Timestamp, newest: pd.Timestamp) -> dict[str, int]:
        end = data_end(newest)
        return longest_windows(
            snapshot_dates(first, end, self.min_history_days), end, self.n_test, self.min_train
        )
