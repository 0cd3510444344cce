"""Check raw tables against the input contract (SPEC section 3) and normalise their types."""

from __future__ import annotations

import re
import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.tseries.api import guess_datetime_format

from core.config import Demographic, Validation
from core.schema import EVENT_FAMILIES, OTHER_EVENT, STAGES, TABLES, ColumnKind, TableSpec
from ingest.checks import date_problems, duplicate_check, first_copies, outlier_warning

TS_DTYPE = "datetime64[us, UTC]"
MAX_EXAMPLES = 5
MISSING = "<missing>"
# Hidden columns a reader may add to a table: the row's 1-based number in its source file (rows
# are named by it), and the source row it exactly repeats (else null), computed over every source
# column. Without them rows are numbered by position and repeats found over the columns given.
SOURCE_ROW = "__row"
DUPLICATE_OF = "__duplicate_of"
# Tables whose rows are customer activity: their ts bounds the customer's first contact (rule 12).
ACTIVITY_TABLES = ("transactions", "events")
CUSTOMER_TABLES = ("transactions", "events", "campaigns", "stage_history")
# Spellings that mean "no value", typically left behind by astype(str) upstream.
_BLANK_TEXT = frozenset({"", "nan", "<na>", "nat"})
_BLANK_IDS = _BLANK_TEXT | {"none", "null"}
# How true and false are spelled in input files (compared stripped and lower-cased): the one list
# for boolean columns and for snapshot labels.
TRUE_WORDS = frozenset({"true", "yes", "y", "1", "1.0"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", "0.0"})
_FLOAT_LIKE_ID = r"^(-?\d+)\.0*$"
# Vocabulary columns compared case-insensitively against STAGES / EVENT_FAMILIES.
_LOWERED = frozenset({"stage", "event_type"})
# A time of day followed by an explicit zone ('Z', '+02:00', '-0500', ' UTC'): not wall-clock time.
_EXPLICIT_ZONE = re.compile(r"\d:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?|UTC|GMT)\s*$")
_EMPTY_DTYPES: dict[ColumnKind, str] = {
    "id": "object",
    "str": "object",
    "timestamp": TS_DTYPE,
    "float": "float64",
    "bool": "bool",
}


class DataContractError(ValueError):
    """Input that breaks the contract: names table, file, column, offending values and row count."""

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems = (problems,) if isinstance(problems, str) else tuple(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            lines = "\n".join(f"- {problem}" for problem in self.problems)
            message = f"input data breaks the contract in {len(self.problems)} places:\n{lines}"
        super().__init__(message)


@dataclass(frozen=True)
class Drop:
    """Rows removed from one table for one reason, with a few examples to find them by."""

    table: str
    reason: str
    rows: int
    examples: tuple[str, ...] = ()


@dataclass
class ValidationReport:
    """What validation saw and did: row counts, counted drops, unknown event types, warnings."""

    rows_in: dict[str, int] = field(default_factory=dict)
    rows_out: dict[str, int] = field(default_factory=dict)
    drops: list[Drop] = field(default_factory=list)
    other_event_types: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable form, for run records and the CLI's --json output."""
        return {
            "rows_in": {name: int(rows) for name, rows in self.rows_in.items()},
            "rows_out": {name: int(rows) for name, rows in self.rows_out.items()},
            "drops": [
                {
                    "table": d.table,
                    "reason": d.reason,
                    "rows": int(d.rows),
                    "examples": [*d.examples],
                }
                for d in self.drops
            ],
            "other_event_types": {str(k): int(v) for k, v in self.other_event_types.items()},
            "warnings": list(self.warnings),
        }

    def summary_lines(self) -> list[str]:
        """Short terminal lines: one per table, then one per drop and per warning."""
        lines = [
            f"{name}: {rows:,} rows in, {self.rows_out.get(name, 0):,} kept"
            for name, rows in self.rows_in.items()
        ]
        for drop in self.drops:
            shown = f" (e.g. {', '.join(drop.examples)})" if drop.examples else ""
            lines.append(f"dropped {drop.rows:,} {drop.table} rows: {drop.reason}{shown}")
        lines.extend(f"warning: {warning}" for warning in self.warnings)
        return lines


def validate_tables(
    tables: dict[str, pd.DataFrame],
    *,
    as_of: pd.Timestamp | None = None,
    demographics: Sequence[Demographic] = (),
    sources: Mapping[str, str] | None = None,
    optional: Collection[str] = (),
    checks: Validation | None = None,
) -> tuple[dict[str, pd.DataFrame], ValidationReport]:
    """Check the contract tables and return them typed, cleaned and sorted, with a report.

    Contract breaches raise DataContractError listing every problem found; row-level problems a
    user would tolerate (missing ids, future rows, unknown customers) are dropped and counted.
    Tables named in `optional` are declared absent by the source: they may be missing or empty
    (a warning, not an error), and required ones among them come back as empty typed tables.
    The `checks` (duplicates, outlier amounts, plausible dates) run on the typed rows; rows are
    named by their source row (SOURCE_ROW) when the reader gives it.
    """
    sources, checks = dict(sources or {}), checks or Validation()
    report = ValidationReport(warnings=_unknown_table_warnings(tables))
    present = _present_tables(tables, sources, report, _optional_tables(optional))
    copies = {name: _copies(present[name]) for name in CUSTOMER_TABLES if name in present}
    present = {name: frame.drop(columns=[DUPLICATE_OF], errors="ignore") for name, frame in present.items()}
    absent = [name for name in optional if name not in present and TABLES[name].must_exist]
    report.rows_in = {name: len(present[name]) if name in present else 0 for name in [*present, *absent]}
    cleaned = _normalise_all(present, demographics, sources, report)
    cutoff = _as_utc(as_of)
    cleaned = _drop_future_activity(cleaned, cutoff, report)
    _run_checks(cleaned, copies, sources, checks, report)
    positions = _customer_positions(cleaned)
    cleaned["customers"] = _backdate_created_at(cleaned, positions, report)
    cleaned["customers"], positions = _drop_future_customers(cleaned["customers"], positions, cutoff, report)
    cleaned, positions = _drop_unknown_customers(cleaned, positions, report)
    if "events" in cleaned:
        cleaned["events"] = _map_event_types(cleaned["events"], report)
    cleaned = _sort_all(cleaned, positions) | {name: empty_table(name) for name in absent}
    report.rows_out = {name: len(frame) for name, frame in cleaned.items()}
    report.warnings += [
        f"table {n!r} has no rows left" for n, r in report.rows_out.items() if not r and n not in absent
    ]
    return cleaned, report


def empty_table(name: str) -> pd.DataFrame:
    """A contract table with its required columns in their normal dtypes and no rows."""
    spec = TABLES[name]
    return pd.DataFrame({c: pd.Series(dtype=_EMPTY_DTYPES[kind]) for c, kind in spec.required.items()})


def parse_timestamps(values: pd.Series, timezone: str = "UTC") -> tuple[pd.Series, pd.Series]:
    """UTC timestamps and a mask of present but unparseable values; naive ones are in `timezone`.

    Text with an explicit zone ('Z', '+02:00') keeps it; numbers are refused (no unit to go by).
    Wall-clock times a DST change makes ambiguous are read as standard time.
    """
    if _is_number(values):
        return pd.Series(pd.NaT, index=values.index, dtype=TS_DTYPE), values.notna()
    parsed, bad = _as_timestamps(values)
    if timezone == "UTC" or isinstance(values.dtype, pd.DatetimeTZDtype):
        return parsed, bad
    naive = parsed.notna()
    if not pd.api.types.is_datetime64_dtype(values.dtype):
        naive &= ~_has_zone(values)
    wall = parsed[naive].dt.tz_localize(None)
    local = wall.dt.tz_localize(timezone, ambiguous=np.zeros(len(wall), bool), nonexistent="shift_forward")
    parsed[naive] = local.dt.tz_convert("UTC").astype(TS_DTYPE)
    return parsed, bad


# --- tables and columns -------------------------------------------------------------------------


def _label(name: str, sources: Mapping[str, str]) -> str:
    return f"table {name!r} ({sources[name]})" if name in sources else f"table {name!r}"


def _unknown_table_warnings(tables: Mapping[str, pd.DataFrame]) -> list[str]:
    unknown = sorted(str(name) for name in tables if name not in TABLES)
    if not unknown:
        return []
    return [f"ignoring table(s) not in the contract: {unknown}; known tables: {list(TABLES)}"]


def _optional_tables(optional: Collection[str]) -> frozenset[str]:
    unknown = sorted(set(optional) - set(TABLES) | set(optional) & {"customers"})
    if unknown:
        raise ValueError(f"optional tables must be contract tables other than 'customers': {unknown}")
    return frozenset(optional)


def _present_tables(
    tables: Mapping[str, pd.DataFrame],
    sources: Mapping[str, str],
    report: ValidationReport,
    optional: frozenset[str] = frozenset(),
) -> dict[str, pd.DataFrame]:
    """The contract tables given; a missing or empty required table is an error unless optional."""
    problems, present = [], {}
    for name, spec in TABLES.items():
        frame, label = tables.get(name), _label(name, sources)
        if name in optional and (frame is None or (isinstance(frame, pd.DataFrame) and frame.empty)):
            report.warnings.append(f"{label} is declared absent by the source: it stays empty")
        elif frame is None:
            if spec.must_exist:
                problems.append(f"required {label} is missing; tables given: {sorted(tables)}")
        elif not isinstance(frame, pd.DataFrame):
            problems.append(f"{label} is a {type(frame).__name__}, not a pandas DataFrame")
        elif len(frame) == 0 and spec.must_exist:
            problems.append(f"{label} is empty")
        elif len(frame) == 0:
            report.warnings.append(f"{label} is empty and is ignored")
        else:
            present[name] = _by_source_row(frame)
    if problems:
        raise DataContractError(problems)
    return present


def _by_source_row(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame indexed by 0-based source row: every later message names rows by index + 1."""
    if SOURCE_ROW not in frame.columns:
        return frame.reset_index(drop=True)
    rows = pd.to_numeric(frame[SOURCE_ROW], errors="coerce")
    if rows.isna().any() or rows.duplicated().any():
        return frame.drop(columns=[SOURCE_ROW]).reset_index(drop=True)
    index = pd.Index(rows.astype("int64").to_numpy() - 1)
    return frame.drop(columns=[SOURCE_ROW]).set_axis(index, axis=0)


def _copies(frame: pd.DataFrame) -> pd.Series:
    """Per row, the source position of the first identical source row, or -1."""
    if DUPLICATE_OF not in frame.columns:
        return first_copies(frame)
    first = pd.to_numeric(frame[DUPLICATE_OF], errors="coerce")
    return (first.fillna(0).astype("int64") - 1).where(first.notna(), -1)


def _run_checks(
    cleaned: Mapping[str, pd.DataFrame],
    copies: Mapping[str, pd.Series],
    sources: Mapping[str, str],
    checks: Validation,
    report: ValidationReport,
) -> None:
    """Duplicates, outlier amounts and plausible dates; refuses with every problem found at once."""
    problems: list[str] = []
    for name, first in copies.items():
        found, warned = duplicate_check(_label(name, sources), first, checks)
        problems += found
        report.warnings += warned
    if "transactions" in cleaned:
        transactions = cleaned["transactions"]
        report.warnings += outlier_warning(_label("transactions", sources), transactions["amount"], checks)
    stamps = {name: cleaned[name]["ts"] for name in CUSTOMER_TABLES if name in cleaned}
    problems += date_problems(stamps, {name: _label(name, sources) for name in stamps}, checks)
    if problems:
        raise DataContractError(problems)


def _normalise_all(
    present: Mapping[str, pd.DataFrame],
    demographics: Sequence[Demographic],
    sources: Mapping[str, str],
    report: ValidationReport,
) -> dict[str, pd.DataFrame]:
    """Typed tables without rows missing an id or timestamp; raises once with every problem."""
    problems: list[str] = []
    cleaned = {}
    for name, frame in present.items():
        label, spec = _label(name, sources), TABLES[name]
        kinds, found = _column_kinds(frame, spec, demographics if name == "customers" else ())
        problems += [f"{label}: {problem}" for problem in found]
        if found:
            continue
        extra = [str(column) for column in frame.columns if column not in kinds]
        if extra:
            report.warnings.append(f"{label}: dropping column(s) not in the contract: {extra}")
        typed, found = _convert_columns(frame, kinds, spec)
        problems += [f"{label}, {problem}" for problem in found]
        if found:
            continue
        cleaned[name] = _drop_missing_keys(typed, spec, report)
        problems += [f"{label}, {problem}" for problem in _content_problems(name, cleaned[name])]
    if problems:
        raise DataContractError(problems)
    return cleaned


def _column_kinds(
    frame: pd.DataFrame, spec: TableSpec, demographics: Sequence[Demographic]
) -> tuple[dict[str, ColumnKind], list[str]]:
    """Kind of every column to keep (required, optional present, declared demographics)."""
    columns = list(frame.columns)
    present = f"columns present: {[str(c) for c in columns]}"
    problems = [
        f"column {str(c)!r} appears more than once" for c in frame.columns[frame.columns.duplicated()]
    ]
    problems += [f"missing required column {c!r}; {present}" for c in spec.required if c not in columns]
    problems += [
        f"declared demographic {d.name!r} ({d.kind}) is not a column; {present}"
        for d in demographics
        if d.name not in columns
    ]
    kinds: dict[str, ColumnKind] = dict(spec.required)
    kinds.update({c: kind for c, kind in spec.optional.items() if c in columns})
    for demographic in demographics:
        kinds.setdefault(demographic.name, "float" if demographic.kind == "numeric" else "str")
    return kinds, problems


def _convert_columns(
    frame: pd.DataFrame, kinds: Mapping[str, ColumnKind], spec: TableSpec
) -> tuple[pd.DataFrame, list[str]]:
    """Each kept column converted to its kind; problems are prefixed with the column name."""
    converted, problems = {}, []
    for column, kind in kinds.items():
        try:
            required, lower = column in spec.required, column in _LOWERED
            converted[column] = _convert(frame[column], kind, required=required, lower=lower)
        except DataContractError as error:
            problems.append(f"column {column!r}: {error}")
    return pd.DataFrame(converted, index=frame.index), problems


def _convert(values: pd.Series, kind: ColumnKind, *, required: bool, lower: bool) -> pd.Series:
    """One column in its normal form, or DataContractError naming the offending values."""
    if kind == "id":
        return _as_text(values, blank=_BLANK_IDS, ids=True)
    if kind == "str":
        return _as_text(values, blank=_BLANK_TEXT, lower=lower)
    if kind == "timestamp":
        if _is_number(values):
            # a bare number has no unit (seconds? milliseconds?): refuse rather than guess
            _raise_if(values.notna(), values, "are numbers, not timestamps")
        parsed, bad = _as_timestamps(values)
        _raise_if(bad, values, "are not timestamps (expected e.g. '2024-05-31 14:00:00')")
        return parsed
    if kind == "float":
        numbers, bad = _as_floats(values)
        _raise_if(bad, values, "are not finite numbers")
        if required:
            _raise_if(numbers.isna(), values, "have no value (a number is required)")
        return numbers
    flags, bad = _as_bools(values)
    _raise_if(bad, values, "are not true/false (accepted: true/false, yes/no, 1/0)")
    return flags


def _raise_if(bad: pd.Series, values: pd.Series, problem: str) -> None:
    count = int(bad.sum())
    if count:
        rows = ", ".join(str(int(row) + 1) for row in values.index[bad.to_numpy()][:MAX_EXAMPLES])
        raise DataContractError(
            f"{count:,} rows {problem}; examples: {', '.join(_examples(values[bad]))} (rows {rows}"
            f"{' ...' if count > MAX_EXAMPLES else ''})"
        )


def _examples(values: pd.Series, *, quote: bool = True) -> tuple[str, ...]:
    """Up to MAX_EXAMPLES distinct values as a user would recognise them in the file."""
    shown = values.head(10_000).astype(object).map(_show if quote else str)
    return tuple(shown.drop_duplicates().head(MAX_EXAMPLES))


def _show(value: object) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return MISSING
    if isinstance(value, float) and np.isnan(value):
        return MISSING
    return repr(value) if isinstance(value, str) else str(value)


def _key(value: object) -> str:
    return MISSING if _show(value) == MISSING else str(value)


# --- converters ---------------------------------------------------------------------------------
# Text columns stay Categorical while rows are checked, dropped and sorted (integer codes are
# cheap to compare and move); _plain() turns them into Python str at the end.


def _as_text(
    values: pd.Series, *, blank: frozenset[str], ids: bool = False, lower: bool = False
) -> pd.Series:
    """Text per row (missing for blanks), cleaning each distinct value once."""
    codes, uniques = _factorize(values)
    kind = pd.api.types.infer_dtype(uniques, skipna=False)
    text = _unique_text(uniques, kind)
    labels = _clean_text(text, blank=blank, ids=ids, lower=lower)
    if kind in ("string", "integer", "floating") and np.array_equal(labels, text):
        # distinct strings or numbers have distinct texts; unchanged by cleaning they stay distinct
        return _coded(codes, labels, values.index)
    return _categorical(codes, labels, values.index)


def _unique_text(distinct: pd.Series, kind: str) -> np.ndarray:
    """Distinct raw values as str; integral floats (integers read as float) lose their '.0'."""
    if kind == "string":
        return distinct.to_numpy(dtype=object)
    if not pd.api.types.is_float_dtype(distinct.dtype):
        return distinct.astype(str).to_numpy(dtype=object)
    whole = (np.isfinite(distinct) & (distinct % 1 == 0) & (distinct.abs() < 2**53)).to_numpy()
    text = np.empty(len(distinct), dtype=object)
    text[whole] = distinct[whole].astype("int64").astype(str).to_numpy()
    text[~whole] = distinct[~whole].astype(str).to_numpy()
    return text


def _clean_text(text: np.ndarray, *, blank: frozenset[str], ids: bool, lower: bool) -> np.ndarray:
    """Trimmed (and for ids '17850.0' -> '17850') strings; blank spellings become None."""
    cleaned = pc.utf8_trim_whitespace(pa.array(text, type=pa.large_string()))
    if ids:
        cleaned = pc.replace_substring_regex(cleaned, pattern=_FLOAT_LIKE_ID, replacement=r"\1")
    if lower:
        cleaned = pc.utf8_lower(cleaned)
    is_blank = pc.is_in(pc.utf8_lower(cleaned), value_set=pa.array(sorted(blank)))
    cleaned = pc.if_else(is_blank, pa.scalar(None, pa.large_string()), cleaned)
    return np.asarray(cleaned.to_numpy(zero_copy_only=False), dtype=object)


def _categorical(
    codes: np.ndarray, labels: np.ndarray, index: pd.Index, missing: str | None = None
) -> pd.Series:
    """Rows coded into labels (code -1: `missing`) as a Categorical of the distinct labels."""
    labels = np.concatenate([labels, np.array([missing], dtype=object)])
    label_codes, categories = pd.factorize(labels)
    return _coded(label_codes[codes], categories, index)


def _coded(codes: np.ndarray, categories: np.ndarray, index: pd.Index) -> pd.Series:
    """A Categorical Series from codes (-1: missing) into distinct, non-null categories."""
    labels = pd.Index(categories, dtype=object)
    small = pd.Categorical.from_codes([], labels).codes.dtype  # the code type pandas would pick
    categorical = pd.Categorical.from_codes(codes.astype(small), labels, validate=False)
    return pd.Series(categorical, index=index)


def _plain(column: pd.Series) -> pd.Series:
    """A Categorical text column as Python str (None when missing), the contract's form."""
    if not isinstance(column.dtype, pd.CategoricalDtype):
        return column
    labels = column.cat.categories.to_numpy(dtype=object)
    lookup = np.concatenate([labels, np.array([None], dtype=object)])
    return pd.Series(lookup[column.cat.codes.to_numpy()], index=column.index, dtype=object)


def _as_timestamps(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """UTC timestamps (naive input read as UTC) and a mask of present but unparseable values."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        parsed = values.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(values.dtype):
        parsed = values.dt.tz_localize("UTC")
    else:
        zoned = _has_zone(values)
        if zoned.any() and not zoned.all():
            # parsed apart: pandas would read every naive value in the zone of the first zoned one
            parsed = pd.Series(pd.NaT, index=values.index, dtype=TS_DTYPE)
            parsed[zoned] = _parse_text(values[zoned])
            parsed[~zoned] = _parse_text(values[~zoned])
        else:
            parsed = _parse_text(values)
    parsed = parsed.astype(TS_DTYPE)
    return parsed, _failed(values, parsed.isna())


def _has_zone(values: pd.Series) -> pd.Series:
    """Which text values carry an explicit zone ('Z', '+05:00', 'UTC'); missing values do not."""
    text = pa.array(values.astype(str).where(values.notna(), None), type=pa.string())
    found = pc.match_substring_regex(text, _EXPLICIT_ZONE.pattern).fill_null(False)
    return pd.Series(found.to_numpy(zero_copy_only=False), index=values.index, dtype=bool)


def _parse_text(values: pd.Series) -> pd.Series:
    """ISO 8601 text as UTC (naive read as UTC), else the one format guessed from the first value."""
    parsed = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    retry = parsed.isna() & values.notna()
    if retry.any():
        parsed[retry] = _parse_guessed(values[retry])
    return parsed


def _parse_guessed(values: pd.Series) -> pd.Series:
    """Non-ISO timestamps in the one format guessed from the first of them.

    Never dateutil's value-by-value guessing: it fills partial dates ('Jan 5') from today's date.
    """
    text = values.astype(str).str.strip()
    text = text[~text.str.lower().isin(_BLANK_IDS)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dayfirst hints; bad values are reported by the caller
        form = guess_datetime_format(text.iloc[0]) if len(text) else None
    if form is None:
        return pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    return pd.to_datetime(values, utc=True, errors="coerce", format=form)


def _as_floats(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """float64 values and a mask of present values that are not finite numbers."""
    if _is_number(values):
        numbers = values.astype("float64")
    else:
        numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    return numbers, _failed(values, numbers.isna()) | np.isinf(numbers)


def _as_bools(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """bool values and a mask of values that are not a recognised true/false spelling."""
    if pd.api.types.is_bool_dtype(values.dtype) and not values.hasnans:
        return values.astype(bool), pd.Series(False, index=values.index)
    codes, uniques = _factorize(values)
    words = uniques.astype(str).str.strip().str.lower()
    flags = np.append(words.isin(TRUE_WORDS).to_numpy(), False)
    unknown = np.append(~words.isin(TRUE_WORDS | FALSE_WORDS).to_numpy(), True)  # code -1: missing is no flag
    return (
        pd.Series(flags[codes], index=values.index, dtype=bool),
        pd.Series(unknown[codes], index=values.index),
    )


def _factorize(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Row codes (-1: missing) and distinct values; lists or dicts in cells are a contract error."""
    try:
        codes, uniques = pd.factorize(values)
    except TypeError:
        _raise_if(values.map(_unhashable), values, "are lists or mappings, not single values")
        raise
    return codes, pd.Series(uniques)


def _unhashable(value: object) -> bool:
    return isinstance(value, list | dict | set | np.ndarray)


def _is_number(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype)


def _failed(values: pd.Series, unparsed: pd.Series) -> pd.Series:
    """Rows that had a value but did not parse; blanks and 'nan'-like spellings are missing."""
    if not unparsed.any():
        return unparsed
    candidates = unparsed & values.notna()
    blank = values[candidates].astype(str).str.strip().str.lower().isin(_BLANK_IDS)
    return candidates & ~blank.reindex(values.index, fill_value=False)


# --- row rules ----------------------------------------------------------------------------------


def _record(
    report: ValidationReport, table: str, reason: str, dropped: pd.Series, *, quote: bool = True
) -> None:
    """Count a drop; `dropped` holds, per dropped row, the value that identifies it."""
    if len(dropped):
        report.drops.append(Drop(table, reason, len(dropped), _examples(dropped, quote=quote)))


def _drop_missing_keys(frame: pd.DataFrame, spec: TableSpec, report: ValidationReport) -> pd.DataFrame:
    """Rows without a required id or timestamp cannot be placed in any journey: drop and count.

    Examples are the row's customer, or its 1-based row number when the id itself is missing.
    """
    for column, kind in spec.required.items():
        if kind not in ("id", "timestamp"):
            continue
        missing = frame[column].isna()
        if missing.any():
            if kind == "id":
                rows = pd.Series(frame.index[missing.to_numpy()] + 1).astype(str)
                _record(report, spec.name, f"missing {column}", "row " + rows, quote=False)
            else:
                _record(report, spec.name, f"missing {column}", frame["customer_id"][missing])
            frame = frame[~missing]
    return frame


def _content_problems(name: str, frame: pd.DataFrame) -> list[str]:
    """Value rules of single tables: unique customers, known stages."""
    if name == "customers":
        repeated = frame["customer_id"].duplicated(keep=False)
        if repeated.any():
            ids = frame["customer_id"][repeated]
            return [
                f"column 'customer_id': {ids.nunique():,} ids appear more than once "
                f"({int(repeated.sum()):,} rows); examples: {', '.join(_examples(ids))}"
            ]
    if name == "stage_history":
        unknown = ~frame["stage"].isin(STAGES)
        if unknown.any():
            return [
                f"column 'stage': {int(unknown.sum()):,} rows have an unknown stage; "
                f"examples: {', '.join(_examples(frame['stage'][unknown]))}; known: {list(STAGES)}"
            ]
    return []


def _future(
    frame: pd.DataFrame, name: str, column: str, cutoff: pd.Timestamp, report: ValidationReport
) -> pd.Series:
    """Rows dated after as_of, recorded as a drop: nothing after as_of may reach the features."""
    future = frame[column] > cutoff
    reason = f"{column} after as_of {cutoff.isoformat()} (timestamp in the future)"
    _record(report, name, reason, frame[column][future], quote=False)
    return future


def _drop_future_activity(
    cleaned: dict[str, pd.DataFrame], cutoff: pd.Timestamp | None, report: ValidationReport
) -> dict[str, pd.DataFrame]:
    if cutoff is None:
        return cleaned
    out = dict(cleaned)
    for name in CUSTOMER_TABLES:
        if name in out:
            future = _future(out[name], name, "ts", cutoff, report)
            out[name] = out[name][~future] if future.any() else out[name]
    return out


def _drop_future_customers(
    customers: pd.DataFrame,
    positions: Mapping[str, np.ndarray],
    cutoff: pd.Timestamp | None,
    report: ValidationReport,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Customers first seen after as_of; their remaining rows become unknown-customer rows."""
    if cutoff is None:
        return customers, dict(positions)
    kept = ~_future(customers, "customers", "created_at", cutoff, report).to_numpy()
    return customers[kept], _remap(positions, kept)


def _customer_positions(cleaned: Mapping[str, pd.DataFrame]) -> dict[str, np.ndarray]:
    """Row position in customers of each activity row's customer (-1: unknown)."""
    known = pd.Index(_plain(cleaned["customers"]["customer_id"]))
    positions = {}
    for name in CUSTOMER_TABLES:
        if name in cleaned:
            ids = cleaned[name]["customer_id"].cat
            lookup = np.append(known.get_indexer(ids.categories), -1)
            positions[name] = lookup[ids.codes.to_numpy()]
    return positions


def _remap(positions: Mapping[str, np.ndarray], kept: np.ndarray) -> dict[str, np.ndarray]:
    """Positions after dropping customers: dropped ones become -1 (unknown)."""
    new = np.append(np.where(kept, np.cumsum(kept) - 1, -1), -1)  # position -1 stays -1
    return {name: new[pos] for name, pos in positions.items()}


def _backdate_created_at(
    cleaned: Mapping[str, pd.DataFrame],
    positions: Mapping[str, np.ndarray],
    report: ValidationReport,
) -> pd.DataFrame:
    """First known contact cannot be after activity: move created_at back to the first event."""
    customers = cleaned["customers"]
    created = _ts_int(customers["created_at"])
    first = created.copy()
    for name in ACTIVITY_TABLES:
        if name in cleaned:
            known = positions[name] >= 0
            np.minimum.at(first, positions[name][known], _ts_int(cleaned[name]["ts"])[known])
    moved = int((first < created).sum())
    if not moved:
        return customers
    report.warnings.append(
        f"{moved:,} customers have transactions or events before their created_at; "
        "created_at was set to their first activity"
    )
    dates = pd.Series(first.view("datetime64[us]"), index=customers.index).dt.tz_localize("UTC")
    return customers.assign(created_at=dates)


def _drop_unknown_customers(
    cleaned: Mapping[str, pd.DataFrame],
    positions: Mapping[str, np.ndarray],
    report: ValidationReport,
) -> tuple[dict[str, pd.DataFrame], dict[str, np.ndarray]]:
    """Rows whose customer is not (or no longer) in customers cannot be joined: count them."""
    tables, kept_positions = dict(cleaned), dict(positions)
    for name, pos in positions.items():
        known = pos >= 0
        if not known.all():
            frame = cleaned[name]
            reason = "customer_id not in customers"
            _record(report, name, reason, frame["customer_id"][~known])
            tables[name], kept_positions[name] = frame[known], pos[known]
    return tables, kept_positions


def _map_event_types(events: pd.DataFrame, report: ValidationReport) -> pd.DataFrame:
    """Event types to canonical families; unknown ones become OTHER_EVENT and are counted."""
    types = events["event_type"]
    unknown = ~types.isin(EVENT_FAMILIES)
    if not unknown.any():
        return events
    counts = types[unknown].value_counts(dropna=False)
    counts = counts[counts > 0]
    report.other_event_types = {_key(key): int(rows) for key, rows in counts.items()}
    shown = ", ".join(repr(key) for key in list(report.other_event_types)[:MAX_EXAMPLES])
    report.warnings.append(
        f"{int(unknown.sum()):,} events with {len(counts)} unknown event type(s) counted as "
        f"{OTHER_EVENT!r}: {shown}"
    )
    categories = types.cat.categories.to_numpy(dtype=object)
    labels = np.where(np.isin(categories, EVENT_FAMILIES), categories, OTHER_EVENT)
    mapped = _categorical(types.cat.codes.to_numpy(), labels, events.index, missing=OTHER_EVENT)
    return events.assign(event_type=mapped)


def _sort_all(
    cleaned: Mapping[str, pd.DataFrame], positions: Mapping[str, np.ndarray]
) -> dict[str, pd.DataFrame]:
    """Customers by id, activity by (customer_id, ts), text as Python str, index 0..n-1."""
    customers = cleaned["customers"]
    ids = pa.array(_plain(customers["customer_id"]).to_numpy(), type=pa.string())
    order = pc.sort_indices(ids).to_numpy()
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    out = {"customers": _finish(customers, order)}
    for name, pos in positions.items():
        out[name] = _finish(cleaned[name], _order(rank[pos], _ts_int(cleaned[name]["ts"])))
    return out


def _order(major: np.ndarray, minor: np.ndarray) -> np.ndarray:
    """Stable order by (major, minor); one packed int64 key when both fit, else lexsort."""
    if not len(major):
        return np.arange(0)
    minor = minor - minor.min()
    for unit in (1_000_000, 1_000):  # whole seconds or milliseconds need fewer bits
        if not (minor % unit).any():
            minor = minor // unit
            break
    shift = int(minor.max()).bit_length()
    if int(major.max()).bit_length() + shift <= 62:
        return np.argsort((major << shift) | minor, kind="stable")
    return np.lexsort((minor, major))


def _finish(frame: pd.DataFrame, order: np.ndarray) -> pd.DataFrame:
    """Rows in order with a fresh index; Categorical text columns back to Python str."""
    taken = frame.take(order).reset_index(drop=True)
    for column in taken.columns:
        if isinstance(taken[column].dtype, pd.CategoricalDtype):
            taken[column] = _plain(taken[column])
    return taken


def _ts_int(values: pd.Series) -> np.ndarray:
    """Microseconds since the epoch of a datetime64[us, UTC] column."""
    return values.dt.tz_localize(None).to_numpy().view("int64")


def _as_utc(moment: pd.Timestamp | None) -> pd.Timestamp | None:
    if moment is None:
        return None
    moment = pd.Timestamp(moment)
    return moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
