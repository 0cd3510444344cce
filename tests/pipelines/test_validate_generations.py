"""`journey validate` writes the clean tables, dataset info and report as one set (issue 17, item 4)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from core.config import Settings
from core.io import read_raw_tables, write_tables
from ingest.validate import DataContractError
from pipelines.steps import validate_data
from synthetic.generate import generate_tables

AS_OF = pd.Timestamp("2025-01-01", tz="UTC")


@pytest.fixture
def validated(settings: Settings) -> dict[str, pd.DataFrame]:
    """Generated raw tables (with campaigns) in the data folder, validated once."""
    raw = {
        k: v
        for k, v in generate_tables(60, seed=3, start="2023-01-01", end="2025-01-01").items()
        if k != "truth"
    }
    write_tables(raw, settings.paths.data)
    validate_data(settings, AS_OF)
    return raw


def test_a_removed_optional_table_leaves_the_clean_set(settings: Settings, validated) -> None:
    assert "campaigns" in read_raw_tables(settings.paths.clean)
    (settings.paths.data / "campaigns.parquet").unlink()
    validate_data(settings, AS_OF)
    assert sorted(read_raw_tables(settings.paths.clean)) == ["customers", "events", "transactions"]


def test_a_failed_validate_keeps_the_set_and_says_it_failed(settings: Settings, validated) -> None:
    before = read_raw_tables(settings.paths.clean)
    write_tables({"customers": validated["customers"].iloc[:0]}, settings.paths.data)  # empty: refused
    with pytest.raises(DataContractError):
        validate_data(settings, AS_OF)
    after = read_raw_tables(settings.paths.clean)
    assert after.keys() == before.keys() and all(after[n].equals(before[n]) for n in before)
    last = json.loads((settings.paths.workdir / "validation.json").read_text())
    assert last["status"] == "failed" and "customers" in " ".join(last["problems"])
    assert last["clean_tables"].startswith("unchanged")
    kept = json.loads((settings.paths.clean / "validation.json").read_text())  # the set's own report
    assert kept["rows_out"]["customers"] == 60
