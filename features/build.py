"""Build the stage table and the three feature tables at every snapshot, as Parquet."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
from ibis.expr.types import Table

from features.behavioural import behavioural_features
from features.catalog import FAMILIES, Family, catalog
from features.config import Settings
from features.demographic import demographic_features
from features.fingerprint import snapshot_fingerprints
from features.snapshots import snapshot_dates
from features.stages import known_grid, stage_at
from features.tables import SourceTables, connect, open_tables, snapshot_table
from features.transactional import transactional_features
from features.windows import Stash

log = logging.getLogger(__name__)
TIMESTAMP = "event_timestamp"


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
    """The folder of a family's table: one Parquet file per snapshot (pandas/pyarrow read it whole)."""
    return features_dir / f"{family}.parquet"


def read_features(features_dir: Path, filters: list[tuple[str, str, object]]) -> pd.DataFrame:
    """The three feature families' rows that pass the Parquet `filters`, joined on customer and snapshot."""
    frames = [pd.read_parquet(feature_path(features_dir, fam), filters=filters) for fam in FAMILIES]
    out = frames[0]
    for frame in frames[1:]:
        out = out.merge(frame, on=["customer_id", TIMESTAMP], how="inner")
    return out


def stages_path(features_dir: Path) -> Path:
    return features_dir / "stages.parquet"


def parquet_glob(folder: Path) -> str:
    """Every snapshot file of a table folder, for DuckDB and Feast."""
    return str(folder.resolve() / "*.parquet")


def snapshot_file(folder: Path, snapshot: pd.Timestamp) -> Path:
    return folder / f"{snapshot.strftime('%Y-%m-%dT%H%M')}.parquet"


def manifest_path(features_dir: Path) -> Path:
    return features_dir / "manifest.json"


def read_manifest(features_dir: Path) -> Manifest:
    path = manifest_path(features_dir)
    if not path.is_file():
        raise FileNotFoundError(f"no feature build found in {features_dir}: run `journey features build`")
    return Manifest.from_json(path.read_text())


def parquet_stash(con: ibis.BaseBackend, folder: Path) -> Stash:
    """Materialise an intermediate once as Parquet, so the several lookups reading it share it."""
    folder.mkdir(parents=True, exist_ok=True)

    def stash(expr: Table, name: str) -> Table:
        path = folder / f"{name}.parquet"
        con.to_parquet(expr, path)
        return con.read_parquet(path, table_name=f"stash_{name}")

    return stash


def _write_per_snapshot(
    con: ibis.BaseBackend, expr: Table, folder: Path, time_col: str, scratch: Path
) -> None:
    """Write one file per snapshot (via a temporary name each, so no half-written file is left)."""
    whole = scratch / f"{folder.name}.whole.parquet"
    con.to_parquet(expr.order_by([time_col, "customer_id"]), whole)
    table = pq.read_table(whole)
    folder.mkdir(parents=True, exist_ok=True)
    stamps = pc.unique(table[time_col]).to_pylist()
    for stamp in stamps:
        part = table.filter(pc.equal(table[time_col], stamp))
        target = snapshot_file(folder, pd.Timestamp(stamp))
        tmp = target.with_suffix(".tmp")
        pq.write_table(part, tmp)
        tmp.replace(target)


def _family_exprs(
    src: SourceTables, grid: Table, dates: list[pd.Timestamp], stages: Table, settings: Settings, stash: Stash
) -> dict[Family, Table]:
    return {
        "behavioural": behavioural_features(grid, dates, src.events, stages, stash),
        "transactional": transactional_features(grid, dates, src.orders, src.transactions, stash),
        "demographic": demographic_features(grid, src.customers, settings.demographics),
    }


def _plan_work(out_dir: Path, snaps: list[pd.Timestamp], prints: dict[str, str]) -> list[pd.Timestamp]:
    """Snapshots to (re)compute; files of snapshots that left the grid or changed are removed."""
    old = read_manifest(out_dir).fingerprints if manifest_path(out_dir).is_file() else {}
    folders = [stages_path(out_dir), *(feature_path(out_dir, f) for f in FAMILIES)]
    keep = {s for s in snaps if old.get(s.isoformat()) == prints[s.isoformat()]}
    keep = {s for s in keep if all(snapshot_file(f, s).is_file() for f in folders)}
    wanted = {snapshot_file(f, s) for f in folders for s in keep}
    for folder in folders:
        if folder.is_file():  # a table from an older single-file layout
            folder.unlink()
        for path in folder.glob("*.parquet") if folder.is_dir() else []:
            if path not in wanted:
                path.unlink()
    return [s for s in snaps if s not in keep]


def _compute(
    con: ibis.BaseBackend,
    src: SourceTables,
    todo: list[pd.Timestamp],
    settings: Settings,
    on_step: Callable[[str], None],
) -> None:
    out_dir = settings.paths.features
    scratch = out_dir / "_scratch"
    stash = parquet_stash(con, scratch)
    grid = known_grid(src.customers, snapshot_table(todo, "as_of"))
    on_step("stages")
    stages_new = stage_at(grid, todo, src.orders, src.events, settings.stages, stash, src.stage_history)
    _write_per_snapshot(con, stages_new, stages_path(out_dir), "as_of", scratch)
    stages = con.read_parquet(parquet_glob(stages_path(out_dir)), table_name="stages")
    names = catalog(settings.demographics)
    for family, expr in _family_exprs(src, grid, todo, stages, settings, stash).items():
        on_step(family)
        typed = {
            f.name: expr[f.name].cast("string" if f.kind == "categorical" else "float64")
            for f in names[family]
        }
        ordered = expr.select("customer_id", **{TIMESTAMP: expr.as_of}, **typed)
        _write_per_snapshot(con, ordered, feature_path(out_dir, family), TIMESTAMP, scratch)
    shutil.rmtree(scratch, ignore_errors=True)


def build_features(
    clean_dir: Path,
    settings: Settings,
    on_step: Callable[[str], None] = lambda _: None,
) -> Manifest:
    """Compute stages and features at the snapshots whose inputs changed since the last build.

    The first build computes every snapshot; later builds compute only new snapshots and those
    whose data before them (or the feature configuration) changed.
    """
    out_dir = settings.paths.features
    out_dir.mkdir(parents=True, exist_ok=True)
    con = connect()
    src = open_tables(con, clean_dir)
    snaps = snapshot_dates(src.start, src.end, settings.snapshots.min_history_days)
    prints = snapshot_fingerprints(src, snaps, settings)
    todo = _plan_work(out_dir, snaps, prints)
    log.info("%d of %d snapshots to compute (up to %s)", len(todo), len(snaps), src.end)
    if todo:
        _compute(con, src, todo, settings, on_step)
    manifest = Manifest(snapshots=snaps, end=src.end, fingerprints=prints, computed=todo)
    manifest_path(out_dir).write_text(manifest.to_json())
    return manifest


__all__ = ["FAMILIES", "Manifest", "build_features", "feature_path", "read_manifest", "stages_path"]
