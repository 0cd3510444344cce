"""Reading and writing the contract tables as Parquet; the clean tables as one atomic set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from core.generations import current, new_generation
from core.schema import TABLES


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
    data_dir = current(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data folder not found: {data_dir}")
    tables = {}
    for name, spec in TABLES.items():
        path = table_path(data_dir, name)
        if path.is_file():
            tables[name] = _read_parquet(path)
        elif spec.must_exist:
            raise FileNotFoundError(f"required table {name!r} not found: expected {path}")
    return tables


def _read_parquet(path: Path) -> pd.DataFrame:
    """A raw table; a file that is empty or not Parquet is named (pyarrow's message names a buffer)."""
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as error:  # pyarrow.ArrowInvalid is a ValueError
        reason = str(error).split(": ", 1)[-1] if "<Buffer>" in str(error) else str(error)
        raise ValueError(f"{path}: cannot be read as Parquet: {reason}") from None


DATASET_INFO = "dataset.json"
REPORT = "validation.json"


def write_clean_set(
    root: Path,
    tables: dict[str, pd.DataFrame],
    source: str,
    demographics: list[dict[str, str]],
    report: dict[str, Any] | None = None,
    zero_amount_orders: bool = False,
) -> Path:
    """Write one complete set of clean tables as a new generation of `root` and switch to it.

    The set is every table this dataset has (a table an earlier dataset had and this one lacks is
    not carried over), the dataset info and the validation report; readers see the old set or
    this one (core/generations.py). Returns the new generation's folder.
    """
    with new_generation(root) as folder:
        write_tables(tables, folder)
        write_dataset_info(folder, source, demographics, zero_amount_orders)
        if report is not None:
            (folder / REPORT).write_text(json.dumps(report, indent=2, default=str))
    return folder


def write_dataset_info(
    folder: Path, source: str, demographics: list[dict[str, str]], zero_amount_orders: bool = False
) -> None:
    """Record which source the clean tables came from, its declared demographics and whether its
    amount-0 lines are purchases (the mapping's `zero_amounts: purchase`)."""
    folder.mkdir(parents=True, exist_ok=True)
    info = {"source": source, "demographics": demographics, "zero_amount_orders": zero_amount_orders}
    (folder / DATASET_INFO).write_text(json.dumps(info, indent=2))


def read_dataset_info(folder: Path) -> dict[str, Any] | None:
    path = current(folder) / DATASET_INFO
    return dict(json.loads(path.read_text())) if path.is_file() else None
