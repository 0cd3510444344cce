"""What is wrong with a source file DuckDB cannot read, said with the line: empty, not Parquet,
not UTF-8, a row with more or fewer fields than the header.

DuckDB's own messages for these name no line ("Error when sniffing file") or a misleading one
(a zero-byte CSV becomes one column named 'column0'), so the file is looked at first (size,
magic bytes) and, when DuckDB fails or sniffs a single column, read once with Python's csv module.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator, Mapping
from pathlib import Path

PARQUET_MAGIC = b"PAR1"
DELIMITERS = (",", ";", "\t", "|")
_SHOWN = 80  # characters of an offending line shown in a message


def file_problem(path: Path, file_format: str) -> str | None:
    """Why the file cannot be a source of its format before anything parses it, or None."""
    size = path.stat().st_size
    if size == 0:
        return f"{path.name} is empty (0 bytes): no header, no rows"
    if file_format != "parquet":
        return None
    with path.open("rb") as handle:
        head = handle.read(4)
        handle.seek(max(size - 4, 0))
        tail = handle.read(4)
    if size < 12 or head != PARQUET_MAGIC or tail != PARQUET_MAGIC:
        looks = " (it looks like text: a CSV named .parquet?)" if _is_text(head) else ""
        return (
            f"{path.name} is not a Parquet file: it does not start and end with the bytes 'PAR1'"
            f"{looks}; a file cut short while being written looks like this too"
        )
    return None


def csv_problem(path: Path, options: Mapping[str, object]) -> str | None:
    """The first line that breaks the CSV (not UTF-8, wrong number of fields), or None."""
    encoding = str(options.get("encoding", "utf-8")).lower().replace("_", "-")
    if encoding in ("utf-8", "utf8"):
        bad = _first_non_utf8(path)
        if bad is not None:
            return bad
        encoding = "utf-8"
    delimiter = options.get("delim", options.get("sep"))
    return _first_ragged(path, encoding, str(delimiter) if delimiter else None)


def sniffed_one_column(columns: list[str]) -> bool:
    """DuckDB fell back to one column holding whole lines: the header has a delimiter in it."""
    return len(columns) == 1 and any(mark in columns[0] for mark in DELIMITERS)


def _is_text(head: bytes) -> bool:
    return all(32 <= byte < 127 or byte in (9, 10, 13) for byte in head)


def _lines(path: Path) -> Iterator[bytes]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        yield from handle


def _first_non_utf8(path: Path) -> str | None:
    for number, line in enumerate(_lines(path), 1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as error:
            shown = line[max(error.start - 10, 0) : error.end + 10]
            return (
                f"{path.name} line {number} is not UTF-8 text (byte {line[error.start]:#04x} at "
                f"character {error.start + 1}, in {shown!r}); if the file is in another encoding, "
                "set it in the mapping: read_options: {encoding: latin-1}"
            )
    return None


def _first_ragged(path: Path, encoding: str, delimiter: str | None) -> str | None:
    raw = gzip.open(path) if path.suffix == ".gz" else path.open("rb")  # noqa: SIM115  # closed by the wrapper
    with io.TextIOWrapper(raw, encoding) as stream:
        header = stream.readline()
        mark = delimiter or max(DELIMITERS, key=header.count)
        expected = len(next(csv.reader([header], delimiter=mark), []))
        reader = csv.reader(stream, delimiter=mark)
        for record in reader:
            if record and len(record) != expected:
                line = reader.line_num + 1  # + the header line read before the reader
                text = mark.join(record)
                shown = text if len(text) <= _SHOWN else text[:_SHOWN] + "..."
                return (
                    f"{path.name} line {line} has {len(record)} fields where the header has {expected} "
                    f"(delimiter {mark!r}): {shown!r}; fix or remove the line (a delimiter inside a "
                    "value needs quotes)"
                )
    return None
