"""Broken source files (issue 17, item 12): each message names the file, and the column and the
row or line where one is at fault, instead of DuckDB's or pyarrow's unrelated wording."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
import pytest

from core.io import read_raw_tables
from ingest.mapping import load_mapping
from ingest.sources import read_source
from ingest.validate import DataContractError, validate_tables

HEADER = b"CustomerID,InvoiceDate,Amount\n"
GOOD = b"1,2024-01-01 10:00:00,12.5\n"
MAPPING = """
    root: .
    timezone: UTC
    absent: [events]
    customers:
      derive_from: transactions
    transactions:
      file: {file}
      columns:
        customer_id: CustomerID
        ts: InvoiceDate
        amount: Amount
"""
REFUNDS = '  refunds: {when: "Amount < 0"}\n'


def error_of(folder: Path, content: bytes, *, file: str = "tx.csv", refunds: bool = False) -> str:
    """The message of reading (and validating) a one-table source whose file holds `content`."""
    sources = folder / "configs" / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    text = textwrap.dedent(MAPPING).format(file=file) + (REFUNDS if refunds else "")
    (sources / "shop.yaml").write_text(text)
    (folder / file).write_bytes(content)
    m = load_mapping("shop", folder / "configs")
    with pytest.raises(DataContractError) as caught:
        validate_tables(read_source(m, folder)[0], sources=m.sources(), optional=m.absent)
    return str(caught.value)


def test_a_zero_byte_csv_says_it_is_empty(tmp_path: Path) -> None:
    message = error_of(tmp_path, b"")
    assert "tx.csv is empty (0 bytes)" in message
    assert "column0" not in message


def test_a_header_only_csv_is_an_empty_table_not_a_binder_error(tmp_path: Path) -> None:
    message = error_of(tmp_path, HEADER, refunds=True)
    assert "table 'transactions' (tx.csv) is empty" in message
    assert "Binder" not in message and "__refund" not in message


def test_a_text_amount_names_column_and_row(tmp_path: Path) -> None:
    content = HEADER + GOOD + b"2,2024-01-02 10:00:00,12abc\n"
    message = error_of(tmp_path, content, refunds=True)
    assert "refunds rule" in message and "column 'Amount' is read as text" in message
    assert "row 2 ('12abc')" in message
    assert "Binder" not in message and "__refund" not in message
    plain = error_of(tmp_path, content)  # without a refunds rule validation names it
    assert "table 'transactions' (tx.csv), column 'amount'" in plain
    assert "'12abc' (rows 2)" in plain


def test_a_ragged_row_names_its_line(tmp_path: Path) -> None:
    content = HEADER + GOOD + b"2,2024-01-02 10:00:00,3,4,5\n" + GOOD
    message = error_of(tmp_path, content)
    assert "tx.csv line 3 has 5 fields where the header has 3" in message
    assert "sniffing" not in message


def test_a_ragged_row_beyond_the_sniffer_sample_names_its_line(tmp_path: Path) -> None:
    rows = b"".join(b"%d,2024-01-01 10:00:00,%d.5\n" % (i, i) for i in range(3000))
    message = error_of(tmp_path, HEADER + rows + b"7,2024-01-01,3,4\n")
    assert "tx.csv line 3002 has 4 fields where the header has 3" in message


def test_non_utf8_bytes_name_the_line_and_the_encoding_option(tmp_path: Path) -> None:
    message = error_of(tmp_path, HEADER + GOOD + b"2,2024-01-02 10:00:00,3\n3,2024-01-03,caf\xe9\n")
    assert "tx.csv line 4 is not UTF-8 text (byte 0xe9" in message
    assert "read_options: {encoding: latin-1}" in message


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"", "tx.parquet is empty (0 bytes)"),
        (HEADER + GOOD, "tx.parquet is not a Parquet file"),
        (b"PAR1" + b"\0" * 40, "tx.parquet is not a Parquet file"),  # cut short while written
    ],
)
def test_a_broken_parquet_file_is_named(tmp_path: Path, content: bytes, said: str) -> None:
    assert said in error_of(tmp_path, content, file="tx.parquet")


def test_a_broken_raw_parquet_table_is_named(tmp_path: Path) -> None:
    pd.DataFrame({"customer_id": ["c1"], "created_at": ["2024-01-01"]}).to_parquet(
        tmp_path / "customers.parquet"
    )
    (tmp_path / "transactions.parquet").write_bytes(b"")
    with pytest.raises(ValueError, match=r"transactions\.parquet: cannot be read as Parquet: .*0 bytes"):
        read_raw_tables(tmp_path)
