"""Read one mapped table with DuckDB SQL from a CSV/Parquet file, a DuckDB table or a PostgreSQL table."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pandas as pd

from ingest.files import csv_problem, file_problem, sniffed_one_column
from ingest.mapping import describe
from ingest.validate import DUPLICATE_OF, SOURCE_ROW, Drop

if TYPE_CHECKING:
    from ingest.mapping import Filter, Join, Source

ROW = SOURCE_ROW  # 1-based row number in the main source, for examples a user can find
MAX_EXAMPLES = 5
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MISSING_COLUMN = re.compile(r'Referenced column "(.+?)" not found')


class SourceReadError(Exception):
    """A source that cannot be opened: missing file, table or connection; carries one message."""


@dataclass(frozen=True)
class ReadSpec:
    """What to compute from one source: target column -> DuckDB SQL expression, and row filters."""

    table: str
    label: str
    source: Source
    columns: Mapping[str, str]
    extra: Mapping[str, str] = field(default_factory=dict)  # computed besides the mapped columns
    joins: tuple[Join, ...] = ()
    filters: tuple[Filter, ...] = ()
    by_name: tuple[str, ...] = ()  # when `columns` is empty: these targets, by name, if present
    timezone: str = "UTC"  # the mapping's zone: where DuckDB reads a naive time as zoned, it is this one
    duplicates: bool = False  # add DUPLICATE_OF: the first kept source row each row exactly repeats
    roles: Mapping[str, str] = field(default_factory=dict)  # how to name an `extra` column in messages


@dataclass
class ReadResult:
    """The mapped rows (with a ROW column), the rows filters dropped, and every problem found."""

    frame: pd.DataFrame | None = None
    drops: list[Drop] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def read_mapped(spec: ReadSpec, root: Path) -> ReadResult:
    """Evaluate a ReadSpec in a fresh in-process DuckDB connection."""
    con = duckdb.connect()
    try:
        # a CSV column with some offsets is sniffed as TIMESTAMPTZ, its naive values read in the
        # session's zone: that must be the mapping's, not UTC
        con.execute(f"SET TimeZone = {_literal(spec.timezone)}")
        columns = _open_all(con, spec, root)
        return _evaluate(con, spec, columns)
    except SourceReadError as error:
        return ReadResult(problems=[f"{spec.label}: {error}"])
    except duckdb.Error as error:  # anything not foreseen above still gets the table's name
        return ReadResult(problems=[f"{spec.label}: {first_line(error)}"])
    finally:
        con.close()


# --- opening sources ------------------------------------------------------------------------------


def _open_all(con: duckdb.DuckDBPyConnection, spec: ReadSpec, root: Path) -> dict[str, list[str]]:
    """Materialise the main source as `src` (with ROW) and each join under its alias."""
    columns = {"src": _materialise(con, "src", spec.source, root, numbered=True)}
    for join in spec.joins:
        columns[join.alias] = _materialise(con, join.alias, join, root, numbered=False)
    return columns


def _materialise(
    con: duckdb.DuckDBPyConnection, alias: str, source: Source, root: Path, *, numbered: bool
) -> list[str]:
    """A temp table of the source's rows in their order (a view `alias` adds ROW); its columns."""
    raw = _ident(alias + "_raw")
    candidates = _relations(con, alias, source, root)
    csv_file = _csv_path(source, root)
    for attempt, relation in enumerate(candidates, 1):
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {raw} AS SELECT * FROM {relation}")
            break
        except duckdb.Error as error:
            if attempt == len(candidates):
                found = csv_problem(csv_file, source.read_options) if csv_file else None
                raise SourceReadError(
                    found or f"cannot read {describe(source)}: {first_line(error)}"
                ) from error
    number = f"rowid + 1 AS {ROW}, " if numbered else ""
    con.execute(f"CREATE TEMP VIEW {_ident(alias)} AS SELECT {number}* FROM {raw}")
    columns = [row[0] for row in con.execute(f"DESCRIBE {raw}").fetchall()]
    if csv_file and sniffed_one_column(columns):  # DuckDB's fallback when a line breaks the dialect
        found = csv_problem(csv_file, source.read_options)
        if found:
            raise SourceReadError(found)
    return columns


def _csv_path(source: Source, root: Path) -> Path | None:
    """The file of a CSV source, which a failed read is diagnosed on line by line."""
    if source.file is None or source.file_format == "parquet":
        return None
    return _under(root, source.file)


def _relations(con: duckdb.DuckDBPyConnection, alias: str, source: Source, root: Path) -> list[str]:
    """How to read the source, in the order to try."""
    if source.file is not None:
        return _file_relations(source, root)
    if source.duckdb is not None:
        return [_duckdb_relation(con, alias, source.duckdb.database, source.duckdb.table, root)]
    if source.postgres is not None:
        frame = _postgres_frame(source.postgres.dsn_env, source.postgres.table)
        con.register(f"{alias}_pg", frame)
        return [_ident(f"{alias}_pg")]
    raise SourceReadError("no source given (file, duckdb or postgres)")


def _file_relations(source: Source, root: Path) -> list[str]:
    """read_parquet, or read_csv and, should a value beyond the sniffer's sample break the type
    it detected, read_csv sniffing every row (slower, so only then)."""
    path = _under(root, source.file or "")
    if not path.is_file():
        raise SourceReadError(f"file not found: {path}")
    problem = file_problem(path, source.file_format)
    if problem:
        raise SourceReadError(problem)
    options, quoted = dict(source.read_options), _literal(str(path))
    if source.file_format == "parquet":
        return [f"read_parquet({quoted}{_options(options)})"]
    relations = [f"read_csv({quoted}{_options(options)})"]
    if "sample_size" not in options:
        relations.append(f"read_csv({quoted}{_options({**options, 'sample_size': -1})})")
    return relations


def _duckdb_relation(
    con: duckdb.DuckDBPyConnection, alias: str, database: str, table: str, root: Path
) -> str:
    path = _under(root, database)
    if not path.is_file():
        raise SourceReadError(f"DuckDB database not found: {path}")
    catalog = f"{alias}_db"
    try:
        con.execute(f"ATTACH {_literal(str(path))} AS {_ident(catalog)} (READ_ONLY)")
        relation = ".".join(_ident(part) for part in (catalog, *table.split(".")))
        con.execute(f"SELECT * FROM {relation}").fetchmany(0)
    except duckdb.Error as error:
        raise SourceReadError(f"cannot read table {table!r} of {path}: {first_line(error)}") from error
    return relation


def _postgres_frame(dsn_env: str, table: str) -> pd.DataFrame:
    """All rows of a PostgreSQL table; the connection string comes from the environment."""
    import psycopg
    import sqlalchemy as sa

    dsn = os.environ.get(dsn_env)
    if not dsn:
        raise SourceReadError(
            f"environment variable {dsn_env} (postgres.dsn_env) is not set; it must hold the "
            "connection string, e.g. postgresql://user@127.0.0.1:5432/db"
        )
    engine = sa.create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(dsn))
    schema, _, name = table.rpartition(".")
    try:
        with engine.connect() as connection:
            return pd.read_sql_table(name, connection, schema=schema or None, dtype_backend="numpy_nullable")
    except (sa.exc.SQLAlchemyError, psycopg.Error, ValueError) as error:
        # the message never shows the DSN: it may hold a password
        message = f"cannot read PostgreSQL table {table!r} (${dsn_env}): {first_line(error)}"
        raise SourceReadError(message) from None
    finally:
        engine.dispose()


# --- evaluating columns and filters --------------------------------------------------------------


def _evaluate(con: duckdb.DuckDBPyConnection, spec: ReadSpec, present: dict[str, list[str]]) -> ReadResult:
    """Check every expression binds, count the filters' drops, then select the kept rows."""
    columns = (dict(spec.columns) or _by_name(spec.by_name, present["src"])) | dict(spec.extra)
    frm = _from_clause(spec.joins)
    problems = _bind_problems(con, spec, columns, frm, present)
    if not _count(con, "src"):
        # no rows (a header-only CSV): every column is text, so only missing columns are errors;
        # the empty table is the contract's to judge (required tables must have rows)
        missing = [p for p in problems if "which is not in" in p]
        return ReadResult(problems=missing) if missing else ReadResult(frame=_empty(columns, spec))
    if problems:
        return ReadResult(problems=problems)
    keep = " AND ".join(f"coalesce(({f.keep}), false)" for f in spec.filters) or "true"
    try:
        drops = _filter_drops(con, spec, frm)
        copies = _duplicate_of(present["src"]) if spec.duplicates else None
        frame = _select(con, columns, frm, keep, copies)
    except duckdb.Error as error:
        return ReadResult(problems=_runtime_problems(con, spec, columns, frm, keep, error))
    joined = frame[ROW].duplicated(keep=False)
    if joined.any():
        return ReadResult(problems=[_fan_out_problem(spec, frame[ROW][joined])])
    return ReadResult(frame=frame, drops=drops)


def _count(con: duckdb.DuckDBPyConnection, relation: str) -> int:
    found = con.execute(f"SELECT count(*) FROM {_ident(relation)}").fetchone()
    return int(found[0]) if found else 0


def _empty(columns: Mapping[str, str], spec: ReadSpec) -> pd.DataFrame:
    names = [ROW, *columns, *([DUPLICATE_OF] if spec.duplicates else [])]
    return pd.DataFrame({name: pd.Series(dtype=object) for name in names})


def _by_name(targets: tuple[str, ...], available: list[str]) -> dict[str, str]:
    return {name: _ident(name) for name in targets if name in available}


def _from_clause(joins: tuple[Join, ...]) -> str:
    clause = "src"
    for join in joins:
        keys = ", ".join(_ident(key) for key in join.using)
        clause += f" LEFT JOIN {_ident(join.alias)} USING ({keys})"
    return clause


def _bind_problems(
    con: duckdb.DuckDBPyConnection,
    spec: ReadSpec,
    columns: Mapping[str, str],
    frm: str,
    present: dict[str, list[str]],
) -> list[str]:
    """Every expression and filter that does not bind, each with a specific message."""
    checks = [(_what(spec, target, expr), expr) for target, expr in columns.items()]
    checks += [
        (f"where filter {f.keep!r} ({f.reason})", f"CAST(({f.keep}) AS BOOLEAN)") for f in spec.filters
    ]
    problems = []
    for what, expr in checks:
        try:
            con.execute(f"DESCRIBE SELECT {expr} FROM {frm}")
        except duckdb.Error as error:
            typed = "Binder" in str(error) and "VARCHAR" in str(error)  # text compared with a number
            cause = _text_numbers(con, expr, present) if typed else ""
            problems.append(
                f"{spec.label}: {what} cannot be computed: {cause}"
                if cause
                else _bind_message(spec, what, error, present)
            )
    return problems


def _what(spec: ReadSpec, target: str, expr: str) -> str:
    role = spec.roles.get(target)
    return f"{role} {expr!r}" if role else f"column {target!r} = {expr!r}"


def _text_numbers(con: duckdb.DuckDBPyConnection, expr: str, present: dict[str, list[str]]) -> str:
    """Why a column an expression compares with numbers was read as text: the rows that are not numbers."""
    said = []
    for column in present["src"]:
        if not re.search(rf'(?<![\w"]){re.escape(column)}(?![\w"])|"{re.escape(column)}"', expr):
            continue
        value = f"src.{_ident(column)}"
        rows = con.execute(
            f"SELECT {ROW}, CAST({value} AS VARCHAR) FROM src WHERE typeof({value}) = 'VARCHAR' AND "
            f"{value} IS NOT NULL AND TRY_CAST({value} AS DOUBLE) IS NULL ORDER BY {ROW} LIMIT {MAX_EXAMPLES}"
        ).fetchall()
        if rows:
            shown = ", ".join(f"row {row} ({text!r})" for row, text in rows)
            said.append(f"column {column!r} is read as text because some values are not numbers: {shown}")
    return "; ".join(said)


def _bind_message(spec: ReadSpec, what: str, error: duckdb.Error, present: dict[str, list[str]]) -> str:
    missing = _MISSING_COLUMN.search(str(error))
    if missing is None:
        hint = ' (quote names with spaces or SQL keywords: "Customer ID")' if "Parser" in str(error) else ""
        return f"{spec.label}: {what} is not valid DuckDB SQL here: {first_line(error)}{hint}"
    where = ", ".join([describe(spec.source), *(describe(join) for join in spec.joins)])
    available = [name for names in present.values() for name in names]
    return (
        f"{spec.label}: {what} names column {missing.group(1)!r}, which is not in {where}; "
        f"columns present: {available}"
    )


def _filter_drops(con: duckdb.DuckDBPyConnection, spec: ReadSpec, frm: str) -> list[Drop]:
    """Rows each filter removes (a row counts for the first filter it fails), with row examples."""
    if not spec.filters:
        return []
    cases = " ".join(f"WHEN NOT coalesce(({f.keep}), false) THEN {i}" for i, f in enumerate(spec.filters))
    rows = con.execute(
        f"SELECT rule, count(*), list({ROW} ORDER BY {ROW})[1:{MAX_EXAMPLES}] FROM "
        f"(SELECT src.{ROW} AS {ROW}, CASE {cases} ELSE -1 END AS rule FROM {frm}) "
        "WHERE rule >= 0 GROUP BY rule ORDER BY rule"
    ).fetchall()
    return [
        Drop(spec.table, spec.filters[rule].reason, int(count), tuple(f"row {row}" for row in examples))
        for rule, count, examples in rows
    ]


def _select(
    con: duckdb.DuckDBPyConnection,
    columns: Mapping[str, str],
    frm: str,
    keep: str,
    copies: str | None = None,
) -> pd.DataFrame:
    projected = ", ".join(f"({expr}) AS {_ident(target)}" for target, expr in columns.items())
    projected = f"src.{ROW} AS {ROW}" + (f", {projected}" if projected else "")
    if copies:
        projected += f", {copies} AS {_ident(DUPLICATE_OF)}"
    return con.execute(f"SELECT {projected} FROM {frm} WHERE {keep} ORDER BY src.{ROW}").df()


def _duplicate_of(raw_columns: list[str]) -> str:
    """SQL for the first kept row equal to this one in every column of the source file, else NULL.

    Over the source's own columns, not the mapped ones: two line items of one invoice with the
    same amount are distinct rows of the file though equal once mapped.
    """
    partition = ", ".join(f"src.{_ident(column)}" for column in raw_columns)
    first = f"min(src.{ROW}) OVER (PARTITION BY {partition})"
    return f"nullif({first}, src.{ROW})"


def _runtime_problems(
    con: duckdb.DuckDBPyConnection,
    spec: ReadSpec,
    columns: Mapping[str, str],
    frm: str,
    keep: str,
    error: duckdb.Error,
) -> list[str]:
    """Which expressions fail on the data (a cast of a bad value, say): run each one alone."""
    problems = []
    for target, expr in columns.items():
        try:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE __probe AS SELECT ({expr}) AS v FROM {frm} WHERE {keep}"
            )
        except duckdb.Error as failed:
            problems.append(
                f"{spec.label}: {_what(spec, target, expr)} fails on the data: {first_line(failed)}"
            )
    return problems or [f"{spec.label}: the where filters fail on the data: {first_line(error)}"]


def _fan_out_problem(spec: ReadSpec, rows: pd.Series) -> str:
    examples = ", ".join(f"row {row}" for row in rows.drop_duplicates().head(MAX_EXAMPLES))
    aliases = ", ".join(f"{join.alias!r} on {list(join.using)}" for join in spec.joins)
    return (
        f"{spec.label}: {rows.nunique():,} source rows match more than one row of a joined table "
        f"({aliases}); a join must find at most one row per key; examples: {examples}"
    )


# --- SQL text -----------------------------------------------------------------------------------


def first_line(error: BaseException) -> str:
    """The first line of a (DuckDB) error: the rest lists candidate functions and hints."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _under(root: Path, path: str) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else root / candidate


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: object) -> str:
    """A DuckDB literal for a read option value (text, number, bool, list or mapping of text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(str(k))}: {_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return "'" + str(value).replace("'", "''") + "'"


def _options(options: Mapping[str, object]) -> str:
    for key in options:
        if not _IDENTIFIER.match(key):
            raise SourceReadError(f"read_options: {key!r} is not an option name")
    return "".join(f", {key} = {_literal(value)}" for key, value in options.items())
