"""Windowed aggregates without range joins: running totals per customer, read back by ASOF join.

A count over [s - w, s) is the running total just before s minus the running total just before
s - w. Running totals are computed once per customer and day (or order); each (customer, snapshot,
lag) probe then finds the newest row strictly before `s - lag` with an ASOF join. The cost grows
with customers x snapshots, not with events x snapshots, which is what keeps 10M events fast.
Leakage guard: the ASOF condition is strict (`row time < probe time`), so nothing at or after a
snapshot is ever read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

import ibis
from ibis.expr.types import Table

KEYS = ["customer_id", "as_of"]


def running_totals(
    rows: Table,
    time_col: str,
    counts: Mapping[str, ibis.Value],
    carry: Mapping[str, ibis.Value] = MappingProxyType({}),
) -> Table:
    """Per customer and time_col: cumulative sums of `counts` and cumulative maxima of `carry`."""
    w = ibis.cumulative_window(group_by="customer_id", order_by=time_col)
    base = rows.select("customer_id", time_col, **counts, **carry)
    return base.select(
        "customer_id",
        time_col,
        **{name: base[name].sum().over(w) for name in counts},
        **{name: base[name].max().over(w) for name in carry},
    )


def lookup(grid: Table, totals: Table, time_col: str, columns: Mapping[str, Sequence[int]]) -> Table:
    """For each (customer_id, as_of), each column's running total just before as_of - lag days.

    `columns` maps a running-total column to the lags (days) it is needed at. Returns one row per
    grid row with columns `<column>_<lag>`; a customer with no row before the probe time gets
    null (callers coalesce counts to 0). One ASOF join per lag, each carrying only its columns.
    """
    lags = sorted({lag for wanted in columns.values() for lag in wanted})
    parts = []
    for lag in lags:
        probe = grid.mutate(probe_ts=grid.as_of - ibis.interval(days=lag))
        j = probe.asof_join(totals, on=probe.probe_ts > totals[time_col], predicates="customer_id")
        parts.append(j.select(*KEYS, **{f"{c}_{lag}": j[c] for c, want in columns.items() if lag in want}))
    out = parts[0]
    for part in parts[1:]:
        out = out.join(part, KEYS)
    return out


Stash = Callable[[Table, str], Table]


def no_stash(expr: Table, name: str) -> Table:
    """Keep an intermediate as an expression (tests, small data)."""
    return expr


def day_of(ts: ibis.Value) -> ibis.Value:
    return ts.truncate("D")


def whole_days(later: ibis.Value, earlier: ibis.Value) -> ibis.Value:
    """Whole days between two midnights (or from a midnight back to the day of a timestamp)."""
    return ((later.epoch_seconds() - day_of(earlier).epoch_seconds()) / 86400).round().cast("float64")


def window_count(agg: Table, column: str, lag: int) -> ibis.Value:
    """Rows in [as_of - lag days, as_of): the running total at lag 0 minus the one at `lag`."""
    return agg[f"{column}_0"].fill_null(0) - agg[f"{column}_{lag}"].fill_null(0)
