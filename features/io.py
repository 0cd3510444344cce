"""Reading and writing the contract tables as Parquet."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.schema import TABLES


def table_path(data_dir: Path, name: str) -> Path:
    return data_dir / f"{name}.parquet"


def write_tables(tables: dict[str, pd.DataFrame], out_dir: Path) -> dict[str, Path]:
    """Write each table to <out_dir>/<name>.parquet via a temporary name, so no half-written file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, frame in tables.items():
        target = table_path(out_dir, name)
        tmp = target.with_suffix(".parquet.tmp")
        frame.to_parquet(tmp, index=False)
        tmp.replace(target)
        written[name] = target
    return written


def read_raw_tables(data_dir: Path) -> dict[str, pd.DataFrame]:
    """Read the contract tables present in data_dir; a required table that is missing is an error."""
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data folder not found: {data_dir}")
    tables = {}
    for name, spec in TABLES.items():
        path = table_path(data_dir, name)
        if path.is_file():
            tables[name] = pd.read_parquet(path)
        elif spec.must_exist:
            raise FileNotFoundError(f"required table {name!r} not found: expected {path}")
    return tables
