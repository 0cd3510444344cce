"""Data checks users expect (issue 17, item 11): a file loaded twice, outlier amounts, implausible
dates; each refused or flagged with the rows named, on small generated tables."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.config import Validation
from ingest.mapping import load_mapping
from ingest.sources import read_source
from ingest.validate import DataContractError, ValidationReport, validate_tables

CUSTOMERS = 40
AS_OF = pd.Timestamp("2025-01-01", tz="UTC")


def shop(rows: int = 400, seed: int = 5) -> dict[str, pd.DataFrame]:
    """Customers, and a year of purchases of about 50 with distinct timestamps."""
    rng = np.random.default_rng(seed)
    ids = [f"c{i}" for i in range(CUSTOMERS)]
    customers = pd.DataFrame({"customer_id": ids, "created_at": pd.Timestamp("2023-01-01")})
    start = pd.Timestamp("2023-01-01")
    transactions = pd.DataFrame(
        {
            "customer_id": rng.choice(ids, rows),
            "ts": start + pd.to_timedelta(np.sort(rng.choice(365 * 86_400, rows, replace=False)), "s"),
            "amount": rng.normal(50, 10, rows).round(2),
        }
    )
    events = pd.DataFrame(
        {"customer_id": ids, "ts": start + pd.Timedelta(days=3), "event_type": "product_view"}
    )
    return {"customers": customers, "transactions": transactions, "events": events}


def refused(tables: dict[str, pd.DataFrame], checks: Validation | None = None) -> str:
    with pytest.raises(DataContractError) as caught:
        validate_tables(tables, as_of=AS_OF, checks=checks)
    return str(caught.value)


def report_of(tables: dict[str, pd.DataFrame], checks: Validation | None = None) -> ValidationReport:
    return validate_tables(tables, as_of=AS_OF, checks=checks)[1]


# --- duplicates --------------------------------------------------------------------------------------


def test_a_doubled_transactions_file_is_refused_with_the_repeated_rows() -> None:
    tables = shop()
    tables["transactions"] = pd.concat([tables["transactions"]] * 2, ignore_index=True)
    message = refused(tables)
    assert "table 'transactions'" in message
    assert "400 of 800 rows (50.0%) exactly repeat an earlier row" in message
    assert "row 401 = row 1" in message
    assert "validation.max_duplicate_share (10%)" in message


def test_a_doubled_events_file_is_refused_too() -> None:
    tables = shop()
    tables["events"] = pd.concat([tables["events"]] * 2, ignore_index=True)
    assert "table 'events'" in refused(tables)


def test_a_few_identical_purchases_are_counted_and_kept() -> None:
    tables = shop()
    tables["transactions"] = pd.concat([tables["transactions"], tables["transactions"].head(3)])
    clean, report = validate_tables(tables, as_of=AS_OF)
    assert len(clean["transactions"]) == 403
    said = [w for w in report.warnings if "exactly repeat" in w]
    assert said and "3 of 403 rows (0.7%)" in said[0] and "kept" in said[0]


def test_the_duplicate_share_is_configurable() -> None:
    tables = shop()
    tables["transactions"] = pd.concat([tables["transactions"], tables["transactions"].head(3)])
    assert "exactly repeat" in refused(tables, Validation(max_duplicate_share=0.005, min_duplicate_rows=3))


def test_a_few_repeats_in_a_tiny_table_are_never_refused() -> None:
    """1 of 3 rows repeated is 33%, but says nothing about a file loaded twice: a warning only."""
    tables = shop()
    tables["events"] = pd.concat([tables["events"].head(2), tables["events"].head(1)], ignore_index=True)
    clean, report = validate_tables(tables, as_of=AS_OF)
    assert len(clean["events"]) == 3
    assert any("exactly repeat" in w and "fewer than 20 rows" in w for w in report.warnings)


# --- outlier amounts ---------------------------------------------------------------------------------


def test_refunds_of_a_million_are_flagged_with_their_rows_and_kept() -> None:
    tables = shop(rows=4000)
    tx = tables["transactions"]
    tx.loc[tx.index[::2][:200], "amount"] = -1_000_000.0  # 5% of the rows
    clean, report = validate_tables(tables, as_of=AS_OF)
    said = [w for w in report.warnings if "outlier_factor" in w]
    assert len(said) == 1
    assert "200 amounts are more than validation.outlier_factor (1000)" in said[0]
    assert "row 1 (-1,000,000.00)" in said[0] and "row 3 (-1,000,000.00)" in said[0]
    assert (clean["transactions"]["amount"] == -1_000_000).sum() == 200  # flagged, not dropped


def test_ordinary_amounts_raise_no_flag() -> None:
    assert not [w for w in report_of(shop()).warnings if "outlier_factor" in w]


# --- dates -------------------------------------------------------------------------------------------


def test_a_1970_transaction_is_refused_with_its_row() -> None:
    tables = shop()
    tables["transactions"].loc[17, "ts"] = pd.Timestamp("1970-01-01")
    message = refused(tables)
    assert "column 'ts': 1 rows are dated before validation.earliest (1980-01-01)" in message
    assert "row 18 (1970-01-01 00:00:00+00:00)" in message


def test_an_isolated_old_transaction_is_refused_by_the_gap_rule() -> None:
    tables = shop()
    tables["transactions"].loc[5, "ts"] = pd.Timestamp("2001-06-01")
    message = refused(tables)
    assert "1 rows lie more than validation.max_gap_days (365) days away" in message
    assert "row 6 (2001-06-01" in message


def test_a_real_gap_with_many_rows_on_both_sides_is_accepted() -> None:
    tables = shop()
    tx = tables["transactions"]
    tx.loc[:99, "ts"] = tx.loc[:99, "ts"] - pd.Timedelta(days=3 * 365)  # a quarter of the rows, years earlier
    clean, _ = validate_tables(tables, as_of=AS_OF)
    assert len(clean["transactions"]) == 400


def test_the_earliest_date_is_configurable() -> None:
    tables = shop()
    tables["transactions"].loc[17, "ts"] = pd.Timestamp("1970-01-01")
    checks = Validation(earliest=pd.Timestamp("1960-01-01").date(), max_gap_days=365 * 60)
    assert len(validate_tables(tables, as_of=AS_OF, checks=checks)[0]["transactions"]) == 400


# --- through a mapped CSV: rows named by their place in the file -------------------------------------

MAPPING = """
    root: .
    timezone: UTC
    absent: [events]
    customers:
      derive_from: transactions
    transactions:
      file: tx.csv
      columns:
        customer_id: Customer
        ts: Date
        amount: Price * Quantity
      where:
        - {keep: Customer IS NOT NULL, reason: no customer}
"""


def mapped(folder: Path, lines: list[str]) -> tuple[dict[str, pd.DataFrame], ValidationReport]:
    sources = folder / "configs" / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    (sources / "shop.yaml").write_text(textwrap.dedent(MAPPING))
    (folder / "tx.csv").write_text("\n".join(["Customer,Date,Item,Price,Quantity", *lines]) + "\n")
    m = load_mapping("shop", folder / "configs")
    tables, _ = read_source(m, folder)
    return validate_tables(tables, as_of=AS_OF, sources=m.sources(), optional=m.absent)


def test_duplicates_of_a_mapped_file_are_whole_source_rows(tmp_path: Path) -> None:
    # two items of one order with the same price are distinct lines, equal once mapped
    lines = [f"c{i % 7},2024-01-{1 + i % 28:02d} 10:00:00,item{i},5.0,1" for i in range(40)]
    _, report = mapped(tmp_path, lines)
    assert not [w for w in report.warnings if "exactly repeat" in w]
    with pytest.raises(DataContractError) as caught:
        mapped(tmp_path, [",2024-01-01 09:00:00,x,1,1", *lines, *lines])  # the file twice
    assert "40 of 80 rows (50.0%) exactly repeat" in str(caught.value)
    assert "row 42 = row 2" in str(caught.value)  # line 1 has no customer: filtered, still counted


def test_a_1970_row_of_a_mapped_file_is_named_by_its_line(tmp_path: Path) -> None:
    lines = [f"c{i % 7},2024-01-{1 + i % 28:02d} 10:00:00,item{i},5.0,1" for i in range(40)]
    lines[30] = "c1,1970-01-01 00:00:00,item30,5.0,1"
    with pytest.raises(DataContractError) as caught:
        mapped(tmp_path, [",2024-01-01 09:00:00,x,1,1", *lines])
    assert "table 'transactions' (tx.csv), column 'ts'" in str(caught.value)
    assert "row 32 (1970-01-01" in str(caught.value)
