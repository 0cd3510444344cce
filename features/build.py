"""Build the stage table and the three feature tables at every snapshot, as Parquet."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import ibis
import pandas as pd
from ibis.expr.types import Table

from features.behavioural import behavioural_features
from features.catalog import FAMILIES, Family, catalog
from features.config import Settings
from features.demographic import demographic_features
from features.snapshots import snapshot_dates
from features.stages import known_grid, stage_at
from features.tables import SourceTables, connect, open_tables, snapshot_table
from features.transactional import transactional_features
from features.windows import Stash

log = logging.getLogger(__name__)
TIMESTAMP = "event_timestamp"


@dataclass(frozen=True)
class Manifest:
    """What a feature build covered: the snapshot grid and the end of the data."""

    snapshots: list[pd.Timestamp]
    end: pd.Timestamp

    def to_json(self) -> str:
        return json.dumps(
            {"snapshots": [s.isoformat() for s in self.snapshots], "end": self.end.isoformat()},
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        raw = json.loads(text)
        stamps = [pd.Timestamp(s).as_unit("us") for s in raw["snapshots"]]
        return cls(snapshots=stamps, end=pd.Timestamp(raw["end"]).as_unit("us"))


def feature_path(features_dir: Path, family: str) -> Path:
    return features_dir / f"{family}.parquet"


def stages_path(features_dir: Path) -> Path:
    return features_dir / "stages.parquet"


def manifest_path(features_dir: Path) -> Path:
    return features_dir / "manifest.json"


def read_manifest(features_dir: Path) -> Manifest:
    path = manifest_path(features_dir)
    if not path.is_file():
        raise FileNotFoundError(f"no feature build found in {features_dir}: run `journey features build`")
    return Manifest.from_json(path.read_text())


def _write(con: ibis.BaseBackend, expr: Table, target: Path) -> None:
    tmp = target.with_suffix(".tmp.parquet")
    con.to_parquet(expr, tmp)
    tmp.replace(target)


def parquet_stash(con: ibis.BaseBackend, folder: Path) -> Stash:
    """Materialise an intermediate once as Parquet, so the several lookups reading it share it."""
    folder.mkdir(parents=True, exist_ok=True)

    def stash(expr: Table, name: str) -> Table:
        path = folder / f"{name}.parquet"
        con.to_parquet(expr, path)
        return con.read_parquet(path, table_name=f"stash_{name}")

    return stash


def _family_exprs(
    src: SourceTables, grid: Table, dates: list[pd.Timestamp], stages: Table, settings: Settings, stash: Stash
) -> dict[Family, Table]:
    return {
        "behavioural": behavioural_features(grid, dates, src.events, stages, stash),
        "transactional": transactional_features(grid, dates, src.orders, src.transactions, stash),
        "demographic": demographic_features(grid, src.customers, settings.demographics),
    }


def build_features(
    clean_dir: Path,
    settings: Settings,
    on_step: Callable[[str], None] = lambda _: None,
) -> Manifest:
    """Compute stages and features at every snapshot from the validated tables in clean_dir."""
    out_dir = settings.paths.features
    out_dir.mkdir(parents=True, exist_ok=True)
    con = connect()
    src = open_tables(con, clean_dir)
    snaps = snapshot_dates(src.start, src.end, settings.snapshots.min_history_days)
    log.info("building features at %d snapshots up to %s", len(snaps), src.end)
    grid = known_grid(src.customers, snapshot_table(snaps, "as_of"))
    scratch = out_dir / "_scratch"
    stash = parquet_stash(con, scratch)
    on_step("stages")
    _write(con, stage_at(grid, snaps, src.orders, src.events, settings.stages, stash), stages_path(out_dir))
    stages = con.read_parquet(stages_path(out_dir), table_name="stages")
    names = catalog(settings.demographics)
    for family, expr in _family_exprs(src, grid, snaps, stages, settings, stash).items():
        on_step(family)
        typed = {
            f.name: expr[f.name].cast("string" if f.kind == "categorical" else "float64")
            for f in names[family]
        }
        ordered = expr.select("customer_id", **{TIMESTAMP: expr.as_of}, **typed)
        _write(con, ordered.order_by([TIMESTAMP, "customer_id"]), feature_path(out_dir, family))
    shutil.rmtree(scratch, ignore_errors=True)
    manifest = Manifest(snapshots=snaps, end=src.end)
    manifest_path(out_dir).write_text(manifest.to_json())
    return manifest


__all__ = ["FAMILIES", "Manifest", "build_features", "feature_path", "read_manifest", "stages_path"]
