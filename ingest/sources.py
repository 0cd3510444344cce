"""Reading a mapped source: each table through its mapping, the rules applied, drops counted."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from core.schema import TABLES
from ingest.mapping import SHARED_DATA_ENV, SourceMapping, TableMapping, describe
from ingest.readers import ROW, ReadSpec, read_mapped
from ingest.rules import (
    apply_refunds,
    as_labels,
    dedupe_customers,
    derive_customers,
    map_event_types,
    to_utc,
)
from ingest.validate import CUSTOMER_TABLES as ACTIVITY
from ingest.validate import DUPLICATE_OF, DataContractError, Drop, empty_table

ATTRIBUTE_PREFIX = "__attr_"
REFUND_FLAG = "__refund"


def resolve_root(
    mapping: SourceMapping, *, data_dir: Path, project_dir: Path, env: Mapping[str, str] | None = None
) -> Path:
    """The folder file paths are relative to: `shared` = $JOURNEY_SHARED_DATA or
    <project>/../shared/data, `data` = the configured data folder, else a path (relative: to the
    project)."""
    env = os.environ if env is None else env
    if mapping.root == "shared":
        return (
            Path(env[SHARED_DATA_ENV]) if env.get(SHARED_DATA_ENV) else project_dir.parent / "shared" / "data"
        )
    if mapping.root == "data":
        return data_dir
    path = Path(mapping.root).expanduser()
    return path if path.is_absolute() else project_dir / path


# --- reading --------------------------------------------------------------------------------------


def read_source(mapping: SourceMapping, root: Path) -> tuple[dict[str, pd.DataFrame], list[Drop]]:
    """Raw contract tables of a mapped source and the rows its rules dropped, with reasons.

    Column types are left for ingest.validate.validate_tables to normalise, except timestamps,
    which come back in UTC (naive ones read in the mapping's zone). Tables declared absent are empty.
    Every problem found in any table is raised together as one DataContractError.
    """
    tables, drops, problems = {}, [], []
    for name, table in mapping.mapped.items():
        if name == "customers" and table.derive_from:
            continue
        frame, table_drops, table_problems = _read_table(mapping, name, table, root)
        drops += table_drops
        problems += table_problems
        if frame is not None:
            tables[name] = frame
    if problems:
        raise DataContractError(problems)
    if mapping.customers.derive_from:
        activity = tables[mapping.customers.derive_from]
        tables["customers"] = derive_customers(activity, mapping.customers.attributes, ATTRIBUTE_PREFIX)
    tables = {name: _visible(frame) for name, frame in tables.items()}
    tables |= {name: empty_table(name) for name in mapping.absent if TABLES[name].must_exist}
    return {name: tables[name] for name in TABLES if name in tables}, drops


def _read_table(
    mapping: SourceMapping, name: str, table: TableMapping, root: Path
) -> tuple[pd.DataFrame | None, list[Drop], list[str]]:
    label = f"table {name!r} ({describe(table)})"
    spec = ReadSpec(
        table=name,
        label=label,
        source=table,
        columns=table.columns,
        extra=_extra_columns(mapping, name, table),
        joins=table.joins,
        filters=table.where,
        by_name=_by_name(mapping, name),
        timezone=table.timezone or mapping.timezone,
        duplicates=name in ACTIVITY,
        roles=_roles(mapping, name, table),
    )
    result = read_mapped(spec, root)
    if result.frame is None:
        return None, result.drops, result.problems
    frame = to_utc(result.frame, TABLES[name], table.timezone or mapping.timezone)
    return _apply_rules(name, table, frame, label, result.drops)


def _apply_rules(
    name: str, table: TableMapping, frame: pd.DataFrame, label: str, drops: list[Drop]
) -> tuple[pd.DataFrame | None, list[Drop], list[str]]:
    """Table-specific rules after the SQL: event types, refunds, duplicate customers."""
    problems: list[str] = []
    more: list[Drop] = []
    if name == "events" and table.event_types:
        frame = map_event_types(frame, table.event_types)
    if name == "transactions":
        frame, more, problems = apply_refunds(frame, table.refunds, label, REFUND_FLAG)
    if name == "customers":
        frame, more, problems = dedupe_customers(frame, label)
    return (None if problems else frame), drops + more, problems


def _extra_columns(mapping: SourceMapping, name: str, table: TableMapping) -> dict[str, str]:
    """Columns the rules need besides the mapped ones: created_at from tenure, the refund flag,
    the attributes of a customers table derived from this one."""
    extra = {}
    label = mapping.snapshot_label
    if name == "customers" and table.tenure_months and label is not None:
        as_of = pd.Timestamp(label.as_of).isoformat(sep=" ")
        extra["created_at"] = f"TIMESTAMP '{as_of}' - to_months(CAST(({table.tenure_months}) AS INTEGER))"
    if name == "transactions" and table.refunds is not None:
        extra[REFUND_FLAG] = f"coalesce(({table.refunds.when}), false)"
    if name == mapping.customers.derive_from:
        extra |= {f"{ATTRIBUTE_PREFIX}{a}": f.expression for a, f in mapping.customers.attributes.items()}
    return extra


def _roles(mapping: SourceMapping, name: str, table: TableMapping) -> dict[str, str]:
    """How messages name the columns the rules compute: by the mapping key that declares them."""
    roles = {REFUND_FLAG: "refunds rule"} if name == "transactions" and table.refunds is not None else {}
    if name == mapping.customers.derive_from:
        roles |= {
            f"{ATTRIBUTE_PREFIX}{a}": f"customers attribute {a!r}" for a in mapping.customers.attributes
        }
    return roles


def _by_name(mapping: SourceMapping, name: str) -> tuple[str, ...]:
    spec = TABLES[name]
    extra = tuple(d.name for d in mapping.demographics) if name == "customers" else ()
    return (*spec.required, *spec.optional, *extra)


def _visible(frame: pd.DataFrame) -> pd.DataFrame:
    """The mapped columns, and the source row number and first copy validation names rows by."""
    hidden = [c for c in frame.columns if c.startswith("__") and c not in (ROW, DUPLICATE_OF)]
    return frame.drop(columns=hidden).reset_index(drop=True)


def read_snapshot_labels(mapping: SourceMapping, root: Path) -> tuple[pd.DataFrame, list[Drop]]:
    """customer_id and the 0/1 label of a single-snapshot source (needs snapshot_label)."""
    label = mapping.snapshot_label
    if label is None:
        raise ValueError(f"source {mapping.name!r} declares no snapshot_label")
    customers = mapping.customers
    own = bool(label.given())
    spec = ReadSpec(
        table="snapshot_label",
        label=f"snapshot_label ({describe(label if own else customers)})",
        source=label if own else customers,
        columns={
            "customer_id": label.customer_id or customers.columns.get("customer_id", '"customer_id"'),
            label.name: label.expression,
        },
        joins=() if own else customers.joins,
        filters=() if own else customers.where,
    )
    result = read_mapped(spec, root)
    if result.frame is None:
        raise DataContractError(result.problems)
    labels, drops = as_labels(result.frame, label.name, spec.label)
    return labels.assign(as_of=pd.Timestamp(label.as_of, tz="UTC")), result.drops + drops
