"""Check raw tables against the input contract (SPEC section 3) and normalise their types."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.config import Demographic
from features.schema import EVENT_FAMILIES, OTHER_EVENT, STAGES, TABLES, ColumnKind, TableSpec

TS_DTYPE = "datetime64[us, UTC]"
MAX_EXAMPLES = 5
MISSING = "<missing>"
# Tables whose rows are customer activity: their ts bounds the customer's first contact (rule 12).
ACTIVITY_TABLES = ("transactions", "events")
CUSTOMER_TABLES = ("transactions", "events", "campaigns", "stage_history")
# Spellings that mean "no value", typically left behind by astype(str) upstream.
_BLANK_TEXT = frozenset({"", "nan", "<na>", "nat"})
_BLANK_IDS = _BLANK_TEXT | {"none", "null"}
_BOOL_WORDS = {
    **dict.fromkeys(("true", "yes", "1", "1.0"), True),
    **dict.fromkeys(("false", "no", "0", "0.0"), False),
}
_FLOAT_LIKE_ID = r"^(-?\d+)\.0*$"
# Vocabulary columns compared case-insensitively against STAGES / EVENT_FAMILIES.
_LOWERED = frozenset({"stage", "event_type"})


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
) -> tuple[dict[str, pd.DataFrame], ValidationReport]:
    """Check the contract tables and return them typed, cleaned and sorted, with a report.

    Contract breaches raise DataContractError listing every problem found; row-level problems a
    user would tolerate (missing ids, future rows, unknown customers) are dropped and counted.
    """
    sources = dict(sources or {})
    report = ValidationReport(warnings=_unknown_table_warnings(tables))
    present = _present_tables(tables, sources, report)
    report.rows_in = {name: len(frame) for name, frame in present.items()}
    cleaned = _normalise_all(present, demographics, sources, report)
    cutoff = _as_utc(as_of)
    cleaned = _drop_future_activity(cleaned, cutoff, report)
    positions = _customer_positions(cleaned)
    cleaned["customers"] = _backdate_created_at(cleaned, positions, report)
    cleaned["customers"], positions = _drop_future_customers(
        cleaned["customers"], positions, cutoff, report
    )
    cleaned, positions = _drop_unknown_customers(cleaned, positions, report)
    if "events" in cleaned:
        cleaned["events"] = _map_event_types(cleaned["events"], report)
    cleaned = _sort_all(cleaned, positions)
    report.rows_out = {name: len(frame) for name, frame in cleaned.items()}
    report.warnings += [
        f"table {n!r} has no rows left" for n, r in report.rows_out.items() if not r
    ]
    return cleaned, report


# --- tables and columns -------------------------------------------------------------------------


def _label(name: str, sources: Mapping[str, str]) -> str:
    return f"table {name!r} ({sources[name]})" if name in sources else f"table {name!r}"


def _unknown_table_warnings(tables: Mapping[str, pd.DataFrame]) -> list[str]:
    unknown = sorted(str(name) for name in tables if name not in TABLES)
    if not unknown:
        return []
    return [f"ignoring table(s) not in the contract: {unknown}; known tables: {list(TABLES)}"]


def _present_tables(
    tables: Mapping[str, pd.DataFrame], sources: Mapping[str, str], report: ValidationReport
) -> dict[str, pd.DataFrame]:
    """The contract tables given; a missing or empty required table is an error."""
    problems, present = [], {}
    for name, spec in TABLES.items():
        frame, label = tables.get(name), _label(name, sources)
        if frame is None:
            if spec.must_exist:
                problems.append(f"required {label} is missing; tables given: {sorted(tables)}")
        elif len(frame) == 0 and spec.must_exist:
            problems.append(f"{label} is empty")
        elif len(frame) == 0:
            report.warnings.append(f"{label} is empty and is ignored")
        else:
            present[name] = frame.reset_index(drop=True)
    if problems:
        raise DataContractError(problems)
    return present


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
        f"column {str(c)!r} appears more than once"
        for c in frame.columns[frame.columns.duplicated()]
    ]
    problems += [
        f"missing required column {c!r}; {present}" for c in spec.required if c not in columns
    ]
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
        # a bare number has no unit (seconds? milliseconds?): refuse rather than guess
        _raise_if(_is_number(values) & values.notna(), values, "are numbers, not timestamps")
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
        raise DataContractError(
            f"{count:,} rows {problem}; examples: {', '.join(_examples(values[bad]))}"
        )


def _examples(values: pd.Series) -> tuple[str, ...]:
    """Up to MAX_EXAMPLES distinct values as a user would recognise them in the file."""
    shown = values.head(10_000).map(_show)
    return tuple(shown.drop_duplicates().head(MAX_EXAMPLES))


def _show(value: object) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return MISSING
    if isinstance(value, float) and np.isnan(value):
        return MISSING
    return repr(value) if isinstance(value, str) else str(value)


# --- converters ---------------------------------------------------------------------------------


def _as_text(
    values: pd.Series, *, blank: frozenset[str], ids: bool = False, lower: bool = False
) -> pd.Series:
    """Python str per row (None when missing), converting each distinct value only once."""
    codes, uniques = pd.factorize(values)
    distinct = pd.Series(uniques)
    if pd.api.types.is_float_dtype(distinct.dtype):
        # 17850.0 is an integer id read as float (NaN in the column): show it as 17850
        whole = np.isfinite(distinct) & (distinct % 1 == 0) & (distinct.abs() < 2**53)
        text = distinct.astype(str)
        text[whole] = distinct[whole].astype("int64").astype(str)
    else:
        text = distinct.astype(str)
    text = text.str.strip()
    if ids:
        text = text.str.replace(_FLOAT_LIKE_ID, r"\1", regex=True)
    if lower:
        text = text.str.lower()
    text = text.where(~text.str.lower().isin(blank), None)
    # code -1 (missing) indexes the trailing None
    lookup = np.concatenate([text.to_numpy(dtype=object), np.array([None], dtype=object)])
    return pd.Series(lookup[codes], index=values.index, dtype=object)


def _as_timestamps(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """UTC timestamps (naive input read as UTC) and a mask of present but unparseable values."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        parsed = values.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(values.dtype):
        parsed = values.dt.tz_localize("UTC")
    else:
        parsed = pd.to_datetime(values, utc=True, errors="coerce")
        retry = parsed.isna() & values.notna()
        if retry.any():
            # the format is inferred from the first value; other ISO 8601 shapes get a second pass
            parsed[retry] = pd.to_datetime(
                values[retry], utc=True, errors="coerce", format="ISO8601"
            )
    parsed = parsed.astype(TS_DTYPE)
    return parsed, _failed(values, parsed.isna())


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
    codes, uniques = pd.factorize(values)
    mapped = pd.Series(uniques).astype(str).str.strip().str.lower().map(_BOOL_WORDS)
    lookup = np.append(mapped.fillna(False).to_numpy(dtype=bool), False)
    unknown = np.append(mapped.isna().to_numpy(), True)  # code -1: missing is not a flag either
    return (
        pd.Series(lookup[codes], index=values.index, dtype=bool),
        pd.Series(unknown[codes], index=values.index),
    )


def _is_number(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype)


def _failed(values: pd.Series, unparsed: pd.Series) -> pd.Series:
    """Rows that had a value but did not parse; blanks and 'nan'-like spellings are missing."""
    candidates = unparsed & values.notna()
    if not candidates.any():
        return candidates
    blank = values[candidates].astype(str).str.strip().str.lower().isin(_BLANK_IDS)
    return candidates & ~blank.reindex(values.index, fill_value=False)


# --- row rules ----------------------------------------------------------------------------------


def _record(
    report: ValidationReport, table: str, reason: str, mask: pd.Series, shown: pd.Series
) -> None:
    rows = int(mask.sum())
    if rows:
        report.drops.append(Drop(table, reason, rows, _examples(shown[mask])))


def _drop_missing_keys(
    frame: pd.DataFrame, spec: TableSpec, report: ValidationReport
) -> pd.DataFrame:
    """Rows without a required id or timestamp cannot be placed in any journey: drop and count."""
    rows = pd.Series((frame.index + 1).astype(str), index=frame.index).radd("row ")
    for column, kind in spec.required.items():
        if kind in ("id", "timestamp"):
            missing = frame[column].isna()
            _record(report, spec.name, f"missing {column}", missing, rows)
            if missing.any():
                frame, rows = frame[~missing], rows[~missing]
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
    _record(report, name, reason, future, frame[column].astype(str))
    return future


def _drop_future_activity(
    cleaned: dict[str, pd.DataFrame], cutoff: pd.Timestamp | None, report: ValidationReport
) -> dict[str, pd.DataFrame]:
    if cutoff is None:
        return cleaned
    out = dict(cleaned)
    for name in CUSTOMER_TABLES:
        if name in out:
            out[name] = out[name][~_future(out[name], name, "ts", cutoff, report)]
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
    """Row position in customers of each activity row's customer (-1: unknown), hashed once."""
    known = pd.Index(cleaned["customers"]["customer_id"])
    return {
        name: known.get_indexer(cleaned[name]["customer_id"])
        for name in CUSTOMER_TABLES
        if name in cleaned
    }


def _remap(positions: Mapping[str, np.ndarray], kept: np.ndarray) -> dict[str, np.ndarray]:
    """Positions after dropping customers: dropped ones become -1 (unknown)."""
    new = np.where(kept, np.cumsum(kept) - 1, -1)
    new = np.append(new, -1)  # position -1 stays -1
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
        unknown = pos < 0
        if unknown.any():
            frame = cleaned[name]
            mask = pd.Series(unknown, index=frame.index)
            _record(report, name, "customer_id not in customers", mask, frame["customer_id"])
            tables[name], kept_positions[name] = frame[~mask], pos[~unknown]
    return tables, kept_positions


def _map_event_types(events: pd.DataFrame, report: ValidationReport) -> pd.DataFrame:
    """Event types to canonical families; unknown ones become OTHER_EVENT and are counted."""
    types = events["event_type"]
    unknown = ~types.isin(EVENT_FAMILIES)
    if unknown.any():
        counts = types[unknown].fillna(MISSING).value_counts()
        report.other_event_types = {str(k): int(v) for k, v in counts.items()}
        report.warnings.append(
            f"{int(unknown.sum()):,} events with {len(counts)} unknown event type(s) counted as "
            f"{OTHER_EVENT!r}: {', '.join(repr(k) for k in list(counts.index)[:MAX_EXAMPLES])}"
        )
        types = types.where(~unknown, OTHER_EVENT)
    return events.assign(event_type=types)


def _sort_all(
    cleaned: Mapping[str, pd.DataFrame], positions: Mapping[str, np.ndarray]
) -> dict[str, pd.DataFrame]:
    """Customers by id, activity by (customer_id, ts); sorting integer ranks, not strings."""
    customers = cleaned["customers"]
    order = np.argsort(customers["customer_id"].to_numpy(), kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    out = {"customers": customers.take(order).reset_index(drop=True)}
    for name, pos in positions.items():
        frame = cleaned[name]
        rows = np.lexsort((_ts_int(frame["ts"]), rank[pos]))
        out[name] = frame.take(rows).reset_index(drop=True)
    return out


def _ts_int(values: pd.Series) -> np.ndarray:
    """Microseconds since the epoch of a datetime64[us, UTC] column."""
    return values.dt.tz_localize(None).to_numpy().view("int64")


def _as_utc(moment: pd.Timestamp | None) -> pd.Timestamp | None:
    if moment is None:
        return None
    moment = pd.Timestamp(moment)
    return moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
