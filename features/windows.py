"""Windowed aggregates at many as-of dates in one pass over the records, with joins only.

The days of all window edges {as_of - w} and of the as-of dates split time into buckets; every
bucket is either wholly inside or wholly outside each window. Records are aggregated once per
(customer, bucket) through a small day -> bucket table (an equi-join, no range join), then each
window sums the buckets it covers through a small bucket -> as-of coverage table. Window
functions and ASOF joins, which are what made the earlier engine slow at 10M events, are not
needed. Leakage guard: a bucket covers an as-of date only when it ends at or before it, so
nothing at or after an as-of date is ever read.

What keeps it fast at 100k customers on DuckDB: one bucket pass per kind of rows, shared by
every family that reads it (`Partials`); counts summed as doubles; distinct days as bit masks;
windows of sums skip buckets that add nothing; all-history aggregates pair whole stretches
between as-of dates rather than buckets; grouping and joining on a small customer number;
counts by event type packed three to an int64 (`Kinds`); the plan's small tables materialised
so DuckDB sizes its joins; window results kept as parts that each reader joins onto the grid
as it needs them (`Facts`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Literal

import ibis
import ibis.expr.datatypes as dt
import numpy as np
import pandas as pd
from ibis.expr.types import Table

KEYS = ["customer_id", "as_of"]
NUMBER = "cid"  # a small integer per customer, in customer_id order (`customer_numbers`)
EPOCH = pd.Timestamp("1970-01-01", tz="UTC")
ALL_HISTORY = -1  # the "window" of everything before the as-of date
HISTORY_DAYS = 36_500  # all-history aggregates reach back a century before the first window edge
MASK_DAYS = 63  # the longest bucket after the first edge: its days fit one bit each in an int64
US_PER_DAY = 86_400_000_000
FIELD_BITS = 21  # one packed count: up to 2**21 - 1 rows of one customer
FIELDS_PER_WORD = 3  # packed counts per int64 (63 bits)
ROWS = "rows_n"  # per-bucket row count, kept beside packed counts to check they fit
Stash = Callable[[Table, str], Table]
Agg = Callable[[Table], ibis.Value]


@dataclass(frozen=True)
class Reduced:
    """An aggregate over covered bucket rows: the sum, maximum or minimum of one partial column.

    Unlike an arbitrary aggregate, it can be applied in stages (to groups of buckets, then to
    their results), and a sum of zeros is known to be zero.
    """

    how: Literal["sum", "max", "min"]
    column: str

    def __call__(self, j: Table) -> ibis.Value:
        return getattr(j[self.column], self.how)()


def summed(column: str) -> Reduced:
    return Reduced("sum", column)


def maxed(column: str) -> Reduced:
    return Reduced("max", column)


def minned(column: str) -> Reduced:
    return Reduced("min", column)


def no_stash(expr: Table, name: str) -> Table:
    """Keep an intermediate as an expression (tests, small data)."""
    return expr


@ibis.udf.scalar.builtin(signature=((dt.Timestamp(timezone="UTC"),), dt.int64))
def epoch_us(ts: ibis.Value) -> ibis.Value:
    """Microseconds since 1970-01-01 UTC: DuckDB's builtin, read straight off the stored instant."""


@ibis.udf.scalar.builtin(signature=((dt.int64,), dt.int64))
def bit_count(mask: ibis.Value) -> ibis.Value:
    """The number of set bits (DuckDB and Spark builtin)."""


def keys(table: Table) -> list[str]:
    """A row's keys: customer and as-of date, and the customer number where the table carries it."""
    return [*KEYS, NUMBER] if NUMBER in table.columns else KEYS


def epoch_day(ts: ibis.Value) -> ibis.Value:
    """Whole days since 1970-01-01 UTC (integer arithmetic: no time-zone calendar involved).

    Not `epoch_seconds()`: on DuckDB it casts each value to a naive timestamp through the ICU
    time-zone code, about 40 times slower over ten million events.
    """
    return (epoch_us(ts) // US_PER_DAY).cast("int32")


def to_day(stamp: pd.Timestamp) -> int:
    return int((pd.Timestamp(stamp).tz_convert("UTC") - EPOCH).days)


@dataclass(frozen=True)
class Plan:
    """The as-of dates (epoch days, midnights) and window lengths (days) of one computation."""

    as_of: tuple[int, ...]
    windows: tuple[int, ...]
    # Where its small tables live: as real tables (`stashed`), DuckDB knows their size and key
    # counts; as in-memory tables it guessed the events x day-table join far too small and
    # built the next join's hash table on the wrong side.
    stash: Stash = field(default=no_stash, compare=False, repr=False)
    tables: dict[str, Table] = field(default_factory=dict, compare=False, repr=False)

    def stashed(self, stash: Stash) -> Plan:
        """The same plan, its tables stashed once each on first use."""
        return replace(self, stash=stash, tables={})

    def _table(self, name: str, frame: pd.DataFrame) -> Table:
        if name not in self.tables:
            self.tables[name] = self.stash(ibis.memtable(frame), name)
        return self.tables[name]

    @classmethod
    def of(cls, dates: Sequence[pd.Timestamp], windows: Sequence[int]) -> Plan:
        return cls(tuple(sorted({to_day(d) for d in dates})), tuple(sorted(set(windows))))

    @property
    def edges(self) -> np.ndarray:
        """Window edges and as-of days, plus fillers so no bucket after the first exceeds MASK_DAYS."""
        edges = sorted({a - w for a in self.as_of for w in (0, *self.windows)})
        fill = [e for lo, hi in pairwise(edges) for e in range(lo + MASK_DAYS, hi, MASK_DAYS)]
        return np.array(sorted([*edges, *fill]))

    def day_buckets(self, stretches: bool = False) -> Table:
        """day -> bucket start for every day up to the last as-of date (exclusive).

        Days before the first edge share one bucket (`first edge - 1`): they only count for
        all-history aggregates. The table reaches back HISTORY_DAYS before the first edge.
        With `stretches`, the bucket is the stretch's: see `stretch_of`.
        """
        edges = self.edges
        days = np.arange(edges[0] - HISTORY_DAYS, self.as_of[-1], dtype=np.int64)
        index = np.searchsorted(edges, days, side="right") - 1
        bucket = np.where(index < 0, edges[0] - 1, edges[np.clip(index, 0, None)])
        bucket = self.stretch_of(bucket) if stretches else bucket
        frame = pd.DataFrame({"day": days.astype("int32"), "bucket": bucket.astype("int32")})
        return self._table("day_stretches" if stretches else "day_buckets", frame)

    def stretch_of(self, starts: np.ndarray) -> np.ndarray:
        """The start of each bucket's stretch: the as-of date (or history start) at or before it.

        Stretches are buckets too, only coarser: all-history coverage pairs them with the same
        as-of dates as each bucket inside them.
        """
        marks = np.array([self.edges[0] - 1, *self.as_of])
        return marks[np.searchsorted(marks, starts, side="right") - 1]

    def stretches(self) -> Table:
        """bucket start -> start of its stretch."""
        starts = np.concatenate([[self.edges[0] - 1], self.edges])
        frame = pd.DataFrame({"bucket": starts, "stretch": self.stretch_of(starts)})
        return self._table("stretches", frame.astype("int32"))

    def coverage(self, window: int) -> Table:
        """bucket -> as-of day for every bucket inside [as_of - window, as_of) (or before as_of)."""
        starts = np.concatenate([[self.edges[0] - 1], self.edges])
        pairs = [
            (int(b), a)
            for a in self.as_of
            for b in starts
            if b < a and (window == ALL_HISTORY or b >= a - window)
        ]
        frame = pd.DataFrame(pairs, columns=["bucket", "as_of_day"]).astype("int32")
        return self._table(f"coverage_{'all' if window == ALL_HISTORY else window}", frame)


@dataclass(frozen=True)
class Kinds:
    """Counts of rows by kind (the value of one column, e.g. the event type), packed into words.

    Each count is a FIELD_BITS-bit field of an int64 word. A small weights table gives every
    kind, per word, the sum of 2**shift over the counts it belongs to; joined on the kind, a
    bucket then sums each word once, and so does every window. Three counts cost one sum
    instead of three filtered counts (about 30% of the events bucket pass). Exact while no
    customer has 2**FIELD_BITS rows in all: `window_facts` checks, and otherwise counts one by one.
    """

    column: str
    counts: Mapping[str, frozenset[str]]  # count name -> the kinds it counts

    def slots(self) -> dict[str, tuple[str, int]]:
        """count name -> (word column, bit shift)."""
        return {
            name: (f"word{i // FIELDS_PER_WORD}", FIELD_BITS * (i % FIELDS_PER_WORD))
            for i, name in enumerate(self.counts)
        }

    def weights(self) -> Table:
        """kind -> what one row of that kind adds to each word."""
        slots = self.slots()
        words = sorted({word for word, _ in slots.values()})
        kinds = sorted({k for ks in self.counts.values() for k in ks})
        frame = pd.DataFrame({"kind": kinds, **{w: np.zeros(len(kinds), dtype=np.int64) for w in words}})
        for name, ks in self.counts.items():
            word, shift = slots[name]
            frame.loc[frame["kind"].isin(ks), word] += 1 << shift
        return ibis.memtable(frame)

    def packed(self, j: Table) -> dict[str, ibis.Value]:
        """Per-bucket word sums (and the row count); a bucket too big to fit gets 0 (see `fits`)."""
        n = j.count()
        sums = {w: ibis.ifelse(n < 2**FIELD_BITS, j[w].fill_null(0).sum(), 0) for w in self._words()}
        return {**sums, ROWS: n}

    def one_by_one(self, j: Table) -> dict[str, ibis.Value]:
        """The same counts as separate filtered counts (when packed ones could overflow)."""
        return {
            name: tally(j[self.column], where=j[self.column].isin(sorted(ks)))
            for name, ks in self.counts.items()
        }

    def _words(self) -> list[str]:
        return sorted({word for word, _ in self.slots().values()})

    def __or__(self, other: Kinds) -> Kinds:
        assert self.column == other.column, "packed counts of one pass share their kind column"
        return Kinds(self.column, {**self.counts, **other.counts})


def fits(buckets: Table, key: str = "customer_id") -> bool:
    """Whether every customer has fewer than 2**FIELD_BITS rows: then no packed count overflows."""
    totals = buckets.group_by(key).aggregate(n=buckets[ROWS].sum())
    return bool((totals.n.max().fill_null(0) < 2**FIELD_BITS).execute())


def bucketed(
    rows: Table,
    plan: Plan,
    aggregates: Callable[[Table], Mapping[str, ibis.Value]],
    stretches: bool = False,
    kinds: Kinds | None = None,
    packed: bool = True,
) -> Table:
    """Per (customer_id, bucket) partial aggregates of rows that carry an integer `day` column.

    With `kinds`, also its counts: packed into words (and a row count), or one by one.
    """
    if kinds is not None and packed:
        w = kinds.weights()
        j = rows.left_join(w, rows[kinds.column] == w.kind)
        rows = j.select(*[j[c] for c in rows.columns], *[j[c] for c in w.columns if c != "kind"])
    j = rows.join(plan.day_buckets(stretches), "day")
    counts = {} if kinds is None else kinds.packed(j) if packed else kinds.one_by_one(j)
    return j.group_by(["customer_id", "bucket"]).aggregate(**aggregates(j), **counts)


def tally(column: ibis.Column, where: ibis.Value | None = None) -> ibis.Value:
    """A per-bucket count as a double: DuckDB sums doubles about 30% faster than 64-bit integers
    (which it sums into 128 bits), and exactly while counts stay below 2**53."""
    return column.count(where=where).cast("float64")


def active_days(j: Table, plan: Plan) -> ibis.Value:
    """Per bucket, the number of distinct days with a row (as a double, like `tally`).

    One bit per day, OR-ed and counted: far cheaper than a distinct count. Only buckets from the
    first edge on are masked (they are at most MASK_DAYS long); the history bucket before it is
    in no finite window.
    """
    one = ibis.literal(1).cast("int64")
    offset = ibis.greatest(j.day - j.bucket, 0).cast("int64")  # the filter still computes history rows
    return bit_count((one << offset).bit_or(where=j.day >= int(plan.edges[0]))).cast("float64")


def _adding(
    buckets: Table, wanted: Mapping[str, Agg], zero: Collection[str], slots: Mapping[str, tuple[str, int]]
) -> Table:
    """The bucket rows that add anything to a window whose aggregates are all zero-defaulted sums.

    A row whose summed columns (or packed counts) are all 0 or null changes no such sum, and a
    customer left without rows gets the same 0 from `on_grid`. Windows of rare events (reviews,
    referrals over a year) so pair a small fraction of the rows with as-of dates.
    """
    if not all(isinstance(f, Reduced) and f.how == "sum" and name in zero for name, f in wanted.items()):
        return buckets

    def adds(column: str) -> ibis.Value:
        if column not in slots:
            return buckets[column] != 0
        word, shift = slots[column]
        return (buckets[word] & (((1 << FIELD_BITS) - 1) << shift)) != 0

    return buckets.filter(ibis.or_(*[adds(f.column) for f in wanted.values()]))  # type: ignore[attr-defined]


def _unpacking(
    wanted: Mapping[str, Agg], slots: Mapping[str, tuple[str, int]]
) -> tuple[dict[str, Agg], dict[str, tuple[str, int]]]:
    """Window aggregates with sums of packed counts replaced by sums of their words.

    Returns the aggregates to compute and, per output, the (word, shift) to read it from after.
    """
    packed = {
        name: slots[f.column]
        for name, f in wanted.items()
        if isinstance(f, Reduced) and f.how == "sum" and f.column in slots
    }
    plain: dict[str, Agg] = {name: f for name, f in wanted.items() if name not in packed}
    return {**plain, **{word: summed(word) for word, _ in packed.values()}}, packed


def _unpacked(part: Table, packed: Mapping[str, tuple[str, int]]) -> Table:
    if not packed:
        return part
    mask = (1 << FIELD_BITS) - 1
    fields = {name: ((part[w] >> shift) & mask).cast("float64") for name, (w, shift) in packed.items()}
    return part.mutate(**fields).drop(*sorted({w for w, _ in packed.values()}))


def _by_stretch(buckets: Table, plan: Plan, wanted: Mapping[str, Reduced], key: str) -> tuple[Table, dict]:
    """Buckets pre-reduced to the stretches between as-of dates, for all-history aggregates.

    Sums, maxima and minima of a whole stretch combine like those of its buckets; a stretch
    pairs with the same as-of dates as each of its buckets, with about a third of the rows.
    """
    j = buckets.join(plan.stretches(), "bucket")
    pre = {f"{f.how}_{f.column}": f(j) for f in wanted.values()}
    staged = {name: Reduced(f.how, f"{f.how}_{f.column}") for name, f in wanted.items()}
    return j.group_by([key, "stretch"]).aggregate(**pre).rename(bucket="stretch"), staged


def over_windows(
    buckets: Table,
    plan: Plan,
    columns: Mapping[int, Mapping[str, Agg]],
    key: str = "customer_id",
    zero: Collection[str] = (),
    stretches: bool = False,
    slots: Mapping[str, tuple[str, int]] | None = None,
) -> list[Table]:
    """For each window, aggregates of the buckets it covers, per (customer `key`, as_of_day).

    `columns` maps a window (days, or ALL_HISTORY) to output name -> aggregate over the covered
    bucket rows. Customers without any covered bucket are absent: `on_grid` left-joins the parts
    and fills the `zero` columns with 0. Sums of packed counts (`slots`, see `Kinds`) sum their
    words and read the fields after.
    """
    slots = slots or {}
    parts = []
    for window, named in columns.items():
        wanted, packed = _unpacking(named, slots)
        reduced = {name: f for name, f in wanted.items() if isinstance(f, Reduced)}
        if window == ALL_HISTORY and len(reduced) == len(wanted) and not stretches:
            rows, wanted = _by_stretch(buckets, plan, reduced, key)
        else:
            rows = _adding(buckets, named, zero, slots)
        j = rows.join(plan.coverage(window), "bucket")
        part = j.group_by([key, "as_of_day"]).aggregate(**{k: f(j) for k, f in wanted.items()})
        parts.append(_unpacked(part, packed))
    return parts


@dataclass(frozen=True)
class Partials:
    """What one kind of rows contributes: per-bucket partials and the window aggregates of them.

    Partials of the same rows merge with `|`, so one bucket pass serves several families.
    """

    per_bucket: Callable[[Table], Mapping[str, ibis.Value]]
    columns: Mapping[int, Mapping[str, Agg]]
    zero: tuple[str, ...] = ()
    stretches: bool = False  # per stretch between as-of dates, for all-history windows only
    kinds: Kinds | None = None  # counts of rows by kind, packed; columns read them by name

    def __or__(self, other: Partials) -> Partials:
        assert self.stretches == other.stretches, "bucket and stretch partials need separate passes"
        columns = {w: dict(named) for w, named in self.columns.items()}
        for w, named in other.columns.items():
            columns.setdefault(w, {}).update(named)
        kinds = self.kinds | other.kinds if self.kinds and other.kinds else self.kinds or other.kinds
        return Partials(
            per_bucket=lambda j: {**self.per_bucket(j), **other.per_bucket(j)},
            columns=columns,
            zero=(*self.zero, *other.zero),
            stretches=self.stretches,
            kinds=kinds,
        )


@dataclass(frozen=True)
class Facts:
    """Window aggregates as parts keyed by (customer number, as_of_day), put on the grid per use.

    Each reader left-joins only the parts holding the columns it reads onto the grid, instead of
    every reader selecting from one wide table materialised once (slower: docs/benchmarks.md);
    parts that several readers need are materialised (`shared`).
    """

    grid: Table  # (customer_id, as_of, cid)
    parts: tuple[Table, ...]
    zero: tuple[str, ...]
    numbered: bool = False  # whether `on_grid` keeps cid (the caller's grid carried it)

    def shared(self, columns: Collection[str], stash: Stash) -> Facts:
        """The same, with the parts holding any of `columns` stashed once for their several readers."""
        kept = tuple(stash(p, "part") if set(p.columns) & set(columns) else p for p in self.parts)
        return replace(self, parts=kept)

    def on_grid(self, columns: Collection[str] | None = None) -> Table:
        """The grid with every part holding any of `columns` (all parts when None)."""
        chosen = [p for p in self.parts if columns is None or set(p.columns) & set(columns)]
        held = {c for p in chosen for c in p.columns}
        out = on_grid(self.grid, chosen, zero=[z for z in self.zero if z in held], key=NUMBER)
        return out if self.numbered else out.drop(NUMBER)


def window_facts(
    grid: Table,
    plan: Plan,
    sources: Sequence[tuple[Table, Partials]],
    extra: Sequence[Table] = (),
    stash: Stash = no_stash,
    ids: Table | None = None,
) -> Facts:
    """Every window aggregate of every source of rows, as parts to put on the grid; `extra` are
    further parts keyed by customer_id.

    Sources stay apart (stacking their buckets made every window read every source's rows and
    columns). Bucket rows get a small integer customer number: grouping and joining millions of
    rows on it is cheaper than on the id string. Stash a large grid first: with its exact size
    known, DuckDB builds each join's hash table on the narrow part, not on the ever wider grid.
    A grid that already carries the numbers (`cid`, from `ids`) is used as it is, and the
    tables put on it keep them.
    """
    ids = ids if ids is not None else stash(customer_numbers(grid), "ids")
    plan = plan.stashed(stash)
    parts = []
    for i, (rows, partials) in enumerate(sources):
        keyed = stash(_keyed(rows, plan, partials, ids, packed=True), f"buckets{i}")
        slots = partials.kinds.slots() if partials.kinds else {}
        if partials.kinds and not fits(keyed, NUMBER):
            keyed, slots = stash(_keyed(rows, plan, partials, ids, packed=False), f"buckets{i}"), {}
        parts += over_windows(keyed, plan, partials.columns, NUMBER, partials.zero, partials.stretches, slots)
    parts += [part.join(ids, "customer_id").drop("customer_id") for part in extra]
    zero = tuple(name for _, partials in sources for name in partials.zero)
    if NUMBER in grid.columns:
        return Facts(grid, tuple(parts), zero, numbered=True)
    return Facts(grid.join(ids, "customer_id"), tuple(parts), zero)


def outputs(partials: Partials) -> set[str]:
    """The names of the window aggregates `partials` computes."""
    return {name for named in partials.columns.values() for name in named}


def _keyed(rows: Table, plan: Plan, partials: Partials, ids: Table, packed: bool) -> Table:
    """The bucket pass of one source, keyed by customer number."""
    b = bucketed(rows, plan, partials.per_bucket, partials.stretches, partials.kinds, packed)
    return b.join(ids, "customer_id").drop("customer_id")


def customer_numbers(grid: Table) -> Table:
    """customer_id -> cid, a small integer in customer_id order (1, 2, ...), the same in every use."""
    numbered = ibis.row_number().over(order_by="customer_id").cast("int32")
    return grid.select("customer_id").distinct().mutate(cid=numbered)


def on_grid(grid: Table, parts: Sequence[Table], zero: Sequence[str] = (), key: str = "customer_id") -> Table:
    """Left-join per-as-of parts onto a (customer_id, as_of) grid; `zero` columns default to 0.

    Parts are keyed by the grid's `key` column (the customer id or a number for it) and as_of_day.
    """
    out = grid.mutate(as_of_day=epoch_day(grid.as_of))
    for part in parts:
        values = [c for c in part.columns if c not in (key, "as_of_day")]
        j = out.join(part, [out[key] == part[key], out.as_of_day == part.as_of_day], how="left")
        out = j.select(*[j[c] for c in out.columns], *[j[c] for c in values])
    return out.mutate(**{c: out[c].fill_null(0) for c in zero})


def event_rows(events: Table) -> Table:
    """Events with their epoch `day` and a float `value` (null when the table has none)."""
    value = events.value.cast("float64") if "value" in events.columns else ibis.null("float64")
    return events.mutate(day=epoch_day(events.ts), value=value)


def days_since(as_of_day: ibis.Value, day: ibis.Value) -> ibis.Value:
    """Whole days from a day number back from the as-of day (null stays null)."""
    return (as_of_day - day).cast("float64")
