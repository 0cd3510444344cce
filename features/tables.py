"""Open the validated contract tables as Ibis tables on an embedded DuckDB connection."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ibis
import pandas as pd
from ibis.expr.types import Table

from core.io import read_dataset_info, table_path
from core.schema import TABLES


@dataclass(frozen=True)
class SourceTables:
    """The contract tables of one dataset, plus the time span they cover."""

    customers: Table
    events: Table
    transactions: Table
    start: pd.Timestamp
    end: pd.Timestamp
    stage_history: Table | None = None  # the CRM's own stages; they override the rules
    zero_amount_orders: bool = False  # the mapping's `zero_amounts: purchase`

    @property
    def orders(self) -> Table:
        """Purchases: positive transaction lines (and amount-0 ones when the mapping counts them)
        grouped per customer and timestamp (one invoice)."""
        t = self.transactions
        bought = t.amount >= 0 if self.zero_amount_orders else t.amount > 0
        return t.filter(bought).group_by(["customer_id", "ts"]).aggregate(amount=t.amount.sum())


def connect(written_join_sides: bool = False) -> ibis.BaseBackend:
    """A fresh in-process DuckDB connection (the embedded default engine), calendar in UTC.

    With `written_join_sides`, every hash join builds on its right side as written, so a left
    side's order survives in blocks (see `features.build.in_key_order`); the queries must then be
    written with the smaller side on the right, as the feature build's are.
    """
    con = ibis.duckdb.connect()
    con.raw_sql("SET TimeZone = 'UTC'")  # day boundaries are UTC whatever the machine's zone
    # Pushing partial aggregates below the bucket -> as-of joins only re-groups rows that are
    # already one per (customer, bucket), then combines aggregate states: about 40% slower here.
    disabled = ["partial_aggregate_pushdown", *(["build_side_probe_side"] if written_join_sides else [])]
    con.raw_sql(f"SET disabled_optimizers = '{','.join(disabled)}'")
    return con


def open_tables(con: ibis.BaseBackend, data_dir: Path) -> SourceTables:
    """Read customers, events and transactions Parquet files from a folder of validated tables."""
    from features.snapshots import data_end

    missing = [n for n in ("customers", "events", "transactions") if not table_path(data_dir, n).is_file()]
    if missing:
        raise FileNotFoundError(
            f"validated tables {missing} not found in {data_dir}: run `journey validate` first"
        )
    tables = {
        name: _typed(con.read_parquet(table_path(data_dir, name), table_name=f"src_{name}"), name)
        for name in ("customers", "events", "transactions")
    }
    span = _time_span(tables["events"], tables["transactions"])
    history_file = table_path(data_dir, "stage_history")
    history = None
    if history_file.is_file():
        history = _typed(con.read_parquet(history_file, table_name="src_stage_history"), "stage_history")
    zero = bool((read_dataset_info(data_dir) or {}).get("zero_amount_orders", False))
    return SourceTables(
        **tables, start=span[0], end=data_end(span[1]), stage_history=history, zero_amount_orders=zero
    )


IBIS_TYPES = {
    "id": "string",
    "timestamp": "timestamp('UTC')",
    "float": "float64",
    "str": "string",
    "bool": "boolean",
}


def _typed(table: Table, name: str) -> Table:
    """Cast contract columns to their types: an empty table's Parquet columns may be untyped."""
    spec = TABLES[name]
    kinds = {**spec.required, **spec.optional}
    return table.mutate(**{c: table[c].cast(IBIS_TYPES[k]) for c, k in kinds.items() if c in table.columns})


def _time_span(events: Table, transactions: Table) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last activity over both tables (an empty table, e.g. no events, is skipped)."""
    spans = [t.aggregate(low=t.ts.min(), high=t.ts.max()).execute().iloc[0] for t in (events, transactions)]
    lows = [pd.Timestamp(s["low"]) for s in spans if not pd.isna(s["low"])]
    highs = [pd.Timestamp(s["high"]) for s in spans if not pd.isna(s["high"])]
    if not lows:
        raise ValueError(
            "no events and no transactions: features need activity over time (a single-snapshot "
            "source such as Telco only supports its snapshot label; see docs/sources.md)"
        )
    return min(lows).tz_convert("UTC"), max(highs).tz_convert("UTC")


def snapshot_table(dates: list[pd.Timestamp], column: str = "snapshot_ts") -> Table:
    """An in-memory Ibis table with one timestamp column."""
    frame = pd.DataFrame({column: pd.DatetimeIndex(dates).as_unit("us")})
    return ibis.memtable(frame)
