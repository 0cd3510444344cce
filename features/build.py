"""Build the stage table and the three feature tables at every snapshot, as Parquet."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from itertools import count
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from ibis.expr.types import Table

from core.config import Settings
from core.generations import current, new_generation, reuse
from features.behavioural import EVENT_WINDOWS, behavioural_from, event_partials, recency_partials
from features.catalog import FAMILIES, Family, catalog
from features.demographic import demographic_features
from features.fingerprint import snapshot_fingerprints
from features.snapshots import snapshot_dates
from features.stages import known_grid, rule_windows, signal_partials, stage_from
from features.stages import order_partials as stage_orders
from features.tables import SourceTables, connect, open_tables, snapshot_table
from features.transactional import WINDOWS, line_source, order_rows, transactional_from
from features.transactional import order_partials as transactional_orders
from features.windows import (
    NUMBER,
    Facts,
    Plan,
    Stash,
    customer_numbers,
    event_rows,
    outputs,
    window_facts,
)

log = logging.getLogger(__name__)
TIMESTAMP = "event_timestamp"
MAX_BLOCKS = 4096  # rows in more sorted blocks than this are copied in order


@dataclass(frozen=True)
class Manifest:
    """What a feature build covered: the snapshot grid, the end of the data, per-snapshot fingerprints."""

    snapshots: list[pd.Timestamp]
    end: pd.Timestamp
    fingerprints: dict[str, str] = field(default_factory=dict)
    computed: list[pd.Timestamp] = field(default_factory=list)  # by the build that wrote it

    def to_json(self) -> str:
        return json.dumps(
            {
                "snapshots": [s.isoformat() for s in self.snapshots],
                "end": self.end.isoformat(),
                "fingerprints": self.fingerprints,
                "computed": [s.isoformat() for s in self.computed],
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        raw = json.loads(text)
        stamps = [pd.Timestamp(s).as_unit("us") for s in raw["snapshots"]]
        end = pd.Timestamp(raw["end"]).as_unit("us")
        computed = [pd.Timestamp(s).as_unit("us") for s in raw.get("computed", [])]
        return cls(snapshots=stamps, end=end, fingerprints=raw.get("fingerprints", {}), computed=computed)


def feature_path(features_dir: Path, family: str) -> Path:
    """The folder of a family's table in the current build: one Parquet file per snapshot
    (pandas/pyarrow read it whole). Given a generation folder, the folder in that generation."""
    return current(features_dir) / f"{family}.parquet"


def read_features(features_dir: Path, filters: list[tuple[str, str, object]]) -> pd.DataFrame:
    """The three feature families' rows that pass the Parquet `filters`, joined on customer and snapshot."""
    frames = [pd.read_parquet(feature_path(features_dir, fam), filters=filters) for fam in FAMILIES]
    out = frames[0]
    for frame in frames[1:]:
        out = out.merge(frame, on=["customer_id", TIMESTAMP], how="inner")
    return out


def stages_path(features_dir: Path) -> Path:
    return current(features_dir) / "stages.parquet"


def parquet_glob(folder: Path) -> str:
    """Every snapshot file of a table folder, for DuckDB and Feast: an absolute path that keeps
    the `current` link unresolved, so a Feast source follows each switch to a new build."""
    return os.path.join(os.path.abspath(folder), "*.parquet")


def snapshot_file(folder: Path, snapshot: pd.Timestamp) -> Path:
    return folder / f"{snapshot.strftime('%Y-%m-%dT%H%M')}.parquet"


def manifest_path(features_dir: Path) -> Path:
    """The manifest of the current build; it lives in the build's generation with its files."""
    return current(features_dir) / "manifest.json"


def read_manifest(features_dir: Path) -> Manifest:
    path = manifest_path(features_dir)
    if not path.is_file():
        raise FileNotFoundError(f"no feature build found in {features_dir}: run `journey features build`")
    return Manifest.from_json(path.read_text())


def table_stash(con: ibis.BaseBackend) -> Stash:
    """Materialise an intermediate once as a temporary table, so the several queries reading it share it."""
    names = count()

    def stash(expr: Table, name: str) -> Table:
        return con.create_table(f"stash_{name}_{next(names)}", expr, temp=True)

    return stash


def _write_file(part: pa.Table, target: Path, keys: list[str]) -> None:
    """Write via a temporary name, so no half-written file is left.

    Statistics only for the key columns (readers filter on those, never on feature values), and
    a small dictionary page: a column with many distinct values falls back to plain encoding
    early instead of building a dictionary it then drops. Both cut encoding CPU and file size
    against pyarrow's defaults (docs/benchmarks.md).
    """
    tmp = target.with_suffix(".tmp")
    pq.write_table(part, tmp, write_statistics=keys, dictionary_pagesize_limit=64 * 1024)
    tmp.replace(target)


def in_key_order(table: pa.Table, time_col: str, key: str = NUMBER) -> pa.Table:
    """`table` sorted by (`time_col`, `key`), as slices of it where rows arrive in sorted blocks.

    With the join sides as written (`connect(written_join_sides=True)`), a query over the sorted
    grid returns its rows in sorted blocks: DuckDB hands row ranges of the grid to threads and
    each join keeps the order within a range. The order is found by a stable argsort (a merge
    of the few presorted runs, milliseconds), and realised by slicing the blocks without copying
    a value (cheaper than DuckDB's ORDER BY: docs/benchmarks.md). Rows in any other order are
    taken in sorted order (a copy): the result never depends on the order DuckDB returns.
    """
    if table.num_rows == 0:
        return table
    times = pc.dictionary_encode(table[time_col].combine_chunks())
    ranks = np.argsort(np.argsort(times.dictionary.cast(pa.int64()).to_numpy()))
    ids = table[key].combine_chunks().cast(pa.int64()).to_numpy()
    order = np.argsort((ranks[times.indices.to_numpy()].astype(np.int64) << 32) | ids, kind="stable")
    starts = [0, *(np.flatnonzero(np.diff(order) != 1) + 1).tolist()]
    if len(starts) > MAX_BLOCKS:
        return table.take(order)
    ends = [*starts[1:], len(order)]
    return pa.concat_tables([table.slice(int(order[s]), e - s) for s, e in zip(starts, ends, strict=True)])


def _write_per_snapshot(
    con: ibis.BaseBackend, expr: Table, folder: Path, time_col: str, pool: Executor
) -> Future[list[Future[None]]]:
    """Write one file per snapshot in the background; the caller waits on the returned future's
    futures.

    Rows go in order of snapshot, then customer: by the customer number `expr` carries (`cid`,
    in customer_id order, so the same order), since integers sort faster than id strings, and by
    slicing the sorted blocks the query returns (`in_key_order`) rather than sorting in DuckDB.
    Each snapshot is then a zero-copy slice of the table. Only the query runs here: ordering and Parquet
    encoding (single-threaded per file, so files are written side by side) run in `pool` while
    DuckDB computes the next table.
    """
    table = con.to_pyarrow(expr)
    folder.mkdir(parents=True, exist_ok=True)
    return pool.submit(_split_and_write, table, folder, time_col, pool)


def _split_and_write(table: pa.Table, folder: Path, time_col: str, pool: Executor) -> list[Future[None]]:
    """Put the rows in key order and submit one file write per snapshot to `pool`."""
    table = in_key_order(table, time_col).drop_columns([NUMBER])
    keys = [time_col, "customer_id"]
    runs = pc.run_end_encode(table[time_col].combine_chunks())
    ends = runs.run_ends.to_pylist()
    return [
        pool.submit(
            _write_file, table.slice(start, end - start), snapshot_file(folder, pd.Timestamp(stamp)), keys
        )
        for start, end, stamp in zip([0, *ends[:-1]], ends, runs.values.to_pylist(), strict=True)
    ]


def _facts(
    src: SourceTables, grid: Table, ids: Table, dates: list[pd.Timestamp], settings: Settings, stash: Stash
) -> tuple[Facts, dict[str, set[str]]]:
    """Every window aggregate that stages and the event and transactional features read, and
    which of them each of those reads.

    Events are bucketed once for behavioural features and stage signals, orders once for
    transactional features and stage purchase rules; all windows share one plan. The window
    parts that stages read are shared with a family, so they are materialised once.
    """
    rules = settings.stages
    plan = Plan.of(dates, sorted({*EVENT_WINDOWS, *WINDOWS, *rule_windows(rules)}))
    lined, extra = line_source(src.transactions, plan)
    events = event_rows(src.events)
    behaviour, recency, purchases = event_partials(plan), recency_partials(), transactional_orders()
    signals, buying = signal_partials(rules), stage_orders(rules)
    sources = [
        (events, behaviour | signals),
        (events, recency),
        (order_rows(src.orders), purchases | buying),
        lined,
    ]
    reads = {
        "stages": outputs(signals) | outputs(buying),
        "behavioural": outputs(behaviour) | outputs(recency),
        "transactional": outputs(purchases) | outputs(lined[1]) | {c for p in extra for c in p.columns},
    }
    facts = window_facts(grid, plan, sources, extra, stash, ids).shared(reads["stages"], stash)
    return facts, reads


def _family_exprs(
    src: SourceTables,
    grid: Table,
    facts: Facts,
    reads: dict[str, set[str]],
    stages: Table,
    settings: Settings,
) -> dict[Family, Table]:
    has_categories = "category" in src.transactions.columns
    return {
        "behavioural": behavioural_from(facts.on_grid(reads["behavioural"]), stages),
        "transactional": transactional_from(facts.on_grid(reads["transactional"]), has_categories),
        "demographic": demographic_features(grid, src.customers, settings.demographics),
    }


def _tables(folder: Path) -> list[Path]:
    return [stages_path(folder), *(feature_path(folder, f) for f in FAMILIES)]


def _plan_work(
    previous: Path, generation: Path, snaps: list[pd.Timestamp], prints: dict[str, str]
) -> list[pd.Timestamp]:
    """Snapshots to (re)compute; the files of the others are taken over from the previous build
    (hard links: no copy), so the new generation starts with every unchanged snapshot."""
    folders = _tables(previous)
    if not manifest_path(previous).is_file() or not all(f.is_dir() for f in folders):
        return list(snaps)  # no build yet, or one of an older single-file layout
    old = read_manifest(previous).fingerprints
    keep = {s for s in snaps if old.get(s.isoformat()) == prints[s.isoformat()]}
    keep = {s for s in keep if all(snapshot_file(f, s).is_file() for f in folders)}
    for source, target in zip(folders, _tables(generation), strict=True):
        for snap in keep:
            reuse(snapshot_file(source, snap), snapshot_file(target, snap))
    return [s for s in snaps if s not in keep]


def _stage_columns(stages: Table) -> Table:
    """Stages with the same column types whether just computed or read back from Parquet."""
    return stages.select(
        customer_id=stages.customer_id.cast("string"),
        as_of=stages.as_of.cast("timestamp('UTC')"),
        stage=stages.stage.cast("string"),
        cid=stages[NUMBER].cast("int32"),
    )


def _compute(
    con: ibis.BaseBackend,
    src: SourceTables,
    todo: list[pd.Timestamp],
    settings: Settings,
    stash: Stash,
    on_step: Callable[[str], None],
    out_dir: Path,
) -> None:
    ids = stash(customer_numbers(src.customers), "ids")
    # Numbered and sorted, so that the tables written come out of DuckDB in sorted blocks (`in_key_order`).
    known = known_grid(src.customers, snapshot_table(todo, "as_of")).join(ids, "customer_id")
    grid = stash(known.order_by(["as_of", NUMBER]), "grid")
    on_step("stages")
    facts, reads = _facts(src, grid, ids, todo, settings, stash)
    kept = sorted(stages_path(out_dir).glob("*.parquet"))  # stages of the snapshots not recomputed
    staged = stage_from(facts.on_grid(reads["stages"]), settings.stages, src.stage_history)
    stages_new = stash(_stage_columns(staged), "stages")
    stages = _stage_columns(stages_new)  # the stash reads its types back with a precision
    if kept:
        old = con.read_parquet([str(f) for f in kept], table_name="kept").join(ids, "customer_id")
        stages = stages.union(_stage_columns(old))
    with ThreadPoolExecutor(max_workers=2) as pool:
        writes = [_write_per_snapshot(con, stages_new, stages_path(out_dir), "as_of", pool)]
        names = catalog(settings.demographics)
        for family, expr in _family_exprs(src, grid, facts, reads, stages, settings).items():
            on_step(family)
            typed = {
                f.name: expr[f.name].cast("string" if f.kind == "categorical" else "float64")
                for f in names[family]
            }
            ordered = expr.select("customer_id", **{TIMESTAMP: expr.as_of}, **typed, cid=expr[NUMBER])
            target = feature_path(out_dir, family)
            writes.append(_write_per_snapshot(con, ordered, target, TIMESTAMP, pool))
        for files in writes:  # every table ordered and its writes submitted before the pool shuts
            for done in files.result():
                done.result()


def build_features(
    clean_dir: Path,
    settings: Settings,
    on_step: Callable[[str], None] = lambda _: None,
) -> Manifest:
    """Compute stages and features at the snapshots whose inputs changed since the last build.

    The first build computes every snapshot; later builds compute only new snapshots and those
    whose data before them (or the feature configuration) changed. The build is written as a new
    generation of settings.paths.features (the unchanged snapshots hard-linked from the previous
    one) and its manifest last; then the `current` link switches to it. An interrupted build
    leaves the previous build, manifest and files, as it was (core/generations.py).
    """
    root = settings.paths.features
    con = connect(written_join_sides=True)
    stash = table_stash(con)
    src = open_tables(con, clean_dir)
    # DuckDB scans a Parquet file one row group per thread: the transactions file is often one
    # row group, so every query reading it would run on one core. A table splits it.
    src = replace(src, transactions=stash(src.transactions, "transactions"))
    snaps = snapshot_dates(src.start, src.end, settings.snapshots.min_history_days)
    prints = snapshot_fingerprints(src, snaps, settings)
    with new_generation(root) as generation:
        todo = _plan_work(current(root), generation, snaps, prints)
        log.info("%d of %d snapshots to compute (up to %s)", len(todo), len(snaps), src.end)
        if todo:
            _compute(con, src, todo, settings, stash, on_step, generation)
        manifest = Manifest(snapshots=snaps, end=src.end, fingerprints=prints, computed=todo)
        manifest_path(generation).write_text(manifest.to_json())
    return manifest


__all__ = ["FAMILIES", "Manifest", "build_features", "feature_path", "read_manifest", "stages_path"]
