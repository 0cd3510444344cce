"""Rules a source mapping applies after its SQL: time zones, event types, refunds, customers, labels."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.schema import TableSpec
from ingest.readers import MAX_EXAMPLES, ROW
from ingest.validate import FALSE_WORDS, TRUE_WORDS, DataContractError, Drop, parse_timestamps

if TYPE_CHECKING:
    from ingest.mapping import Attribute, Refunds


def to_utc(frame: pd.DataFrame, spec: TableSpec, timezone: str) -> pd.DataFrame:
    """Timestamp columns in UTC, naive ones read in `timezone`.

    A column with unparseable values is left as it is: validation then names the offending values.
    """
    out = frame.copy()
    for column, kind in {**spec.required, **spec.optional}.items():
        if kind == "timestamp" and column in out:
            parsed, bad = parse_timestamps(out[column], timezone)
            if not bad.any():
                out[column] = parsed
    return out


def map_event_types(frame: pd.DataFrame, families: Mapping[str, str]) -> pd.DataFrame:
    """Source event types onto canonical families (case-insensitive); unmapped ones stay as they are."""
    lookup = {str(key).strip().lower(): family for key, family in families.items()}
    text = frame["event_type"].astype("string").str.strip().str.lower()
    mapped = text.map(lookup, na_action="ignore")
    return frame.assign(event_type=mapped.astype(object).where(mapped.notna(), frame["event_type"]))


def apply_refunds(
    frame: pd.DataFrame, rule: Refunds | None, label: str, flag: str
) -> tuple[pd.DataFrame, list[Drop], list[str]]:
    """Negative amounts must be refunds by a declared rule: sign them, drop and count the rest.

    Without a rule any negative amount or quantity is an error: a return booked as a purchase, or
    a stock correction, would silently change every monetary feature.
    """
    amount = pd.to_numeric(frame["amount"], errors="coerce")
    quantity = pd.to_numeric(frame["quantity"], errors="coerce") if "quantity" in frame else None
    negative = (amount < 0) | (quantity < 0 if quantity is not None else False)
    if rule is None:
        if negative.any():
            return frame, [], [_no_rule_problem(frame, negative, amount, quantity, label)]
        return frame, [], []
    refund = frame[flag].fillna(False).astype(bool)
    if rule.amounts == "positive":
        frame = _negate(frame, refund, amount, quantity)
        wrong = pd.Series(False, index=frame.index)
    else:
        wrong = refund & (amount > 0)
    stray = ~refund & negative
    drops = [
        _drop("transactions", f"refund by rule ({rule.when}) with a positive amount", frame, wrong),
        _drop(
            "transactions", f"negative amount or quantity not marked a refund by ({rule.when})", frame, stray
        ),
    ]
    return frame[~(wrong | stray)], [d for d in drops if d.rows], []


def _negate(
    frame: pd.DataFrame, refund: pd.Series, amount: pd.Series, quantity: pd.Series | None
) -> pd.DataFrame:
    """Refunds the source books as positive numbers become negative ones."""
    out = frame.assign(amount=np.where(refund & (amount > 0), -amount, amount))
    if quantity is not None:
        out["quantity"] = np.where(refund & (quantity > 0), -quantity, quantity)
    return out


def _no_rule_problem(
    frame: pd.DataFrame, negative: pd.Series, amount: pd.Series, quantity: pd.Series | None, label: str
) -> str:
    shown = [
        f"row {row} (amount {a:g}" + (f", quantity {q:g})" if quantity is not None else ")")
        for row, a, q in zip(
            frame.loc[negative, ROW].head(MAX_EXAMPLES),
            amount[negative].head(MAX_EXAMPLES),
            (quantity if quantity is not None else amount)[negative].head(MAX_EXAMPLES),
            strict=True,
        )
    ]
    return (
        f"{label}: {int(negative.sum()):,} rows have a negative amount or quantity but the mapping "
        f"declares no refunds rule; examples: {'; '.join(shown)}. Declare `refunds: {{when: <SQL "
        "predicate>}}` to mark returns, or drop such rows with a `where` filter and a reason"
    )


def dedupe_customers(frame: pd.DataFrame, label: str) -> tuple[pd.DataFrame, list[Drop], list[str]]:
    """One row per customer: exact repeats are dropped and counted, conflicting ones are an error."""
    data = frame.drop(columns=[ROW])
    exact = data.duplicated(keep="first")
    drop = _drop("customers", "exact duplicate of an earlier customer row", frame, exact)
    kept = frame[~exact]
    ids = kept["customer_id"]
    repeated = ids.duplicated(keep=False) & ids.notna()
    if not repeated.any():
        return kept, [drop] if drop.rows else [], []
    clash = kept[repeated]
    differ = [
        c
        for c in data.columns
        if c != "customer_id" and (clash.groupby("customer_id")[c].nunique(dropna=False) > 1).any()
    ]
    examples = [
        f"{key!r} (rows {', '.join(str(r) for r in group[ROW].head(3))})"
        for key, group in list(clash.groupby("customer_id", sort=False))[:MAX_EXAMPLES]
    ]
    problem = (
        f"{label}: {clash['customer_id'].nunique():,} customer ids appear on more than one row with "
        f"different values (columns that differ: {differ}); examples: {', '.join(examples)}. A customers "
        "table needs one row per customer: fix the source, or keep one row with a `where` filter"
    )
    return kept, [drop] if drop.rows else [], [problem]


def derive_customers(
    activity: pd.DataFrame, attributes: Mapping[str, Attribute], prefix: str
) -> pd.DataFrame:
    """A customers table from activity rows: created_at = first activity, one value per attribute."""
    ts = activity["ts"]
    if not isinstance(ts.dtype, pd.DatetimeTZDtype):  # unparseable: validation reports it on the activity
        ts = pd.to_datetime(ts, utc=True, errors="coerce", format="ISO8601")
    rows = activity.assign(ts=ts)[activity["customer_id"].notna()]
    customers = rows.groupby("customer_id", sort=True)["ts"].min().rename("created_at").reset_index()
    for name, attribute in attributes.items():
        values = _pick(rows, f"{prefix}{name}", attribute.pick)
        customers[name] = customers["customer_id"].map(values)
    return customers


def _pick(rows: pd.DataFrame, column: str, how: str) -> pd.Series:
    """Per customer: the most frequent value (ties: the earliest seen), or the first or last one."""
    present = rows[rows[column].notna()]
    if how == "most_frequent":
        stats = present.groupby(["customer_id", column], sort=False)["ts"].agg(["size", "min"]).reset_index()
        ordered = stats.sort_values(
            ["customer_id", "size", "min"], ascending=[True, False, True], kind="stable"
        )
        chosen = ordered.drop_duplicates("customer_id")
    else:
        ordered = present.sort_values("ts", kind="stable")
        chosen = ordered.drop_duplicates("customer_id", keep="first" if how == "first" else "last")
    return chosen.set_index("customer_id")[column]


def as_labels(frame: pd.DataFrame, name: str, label: str) -> tuple[pd.DataFrame, list[Drop]]:
    """customer_id and a 0/1 label column; missing labels are dropped and counted, others refused."""
    values = frame[name]
    missing = values.isna()
    drops = [_drop("snapshot_label", "no label value", frame, missing)]
    text = values[~missing].astype(str).str.strip().str.lower()
    flags = pd.Series(pd.NA, index=text.index, dtype="Int8")
    flags[text.isin(TRUE_WORDS)] = 1
    flags[text.isin(FALSE_WORDS)] = 0
    bad = flags.isna()
    if bad.any():
        shown = ", ".join(repr(v) for v in values[~missing][bad].drop_duplicates().head(MAX_EXAMPLES))
        raise DataContractError(
            f"{label}: {int(bad.sum()):,} label values are not 0/1 or true/false; examples: {shown}"
        )
    ids = (
        frame.loc[~missing, "customer_id"]
        .astype(str)
        .str.strip()
        .str.replace(r"^(-?\d+)\.0*$", r"\1", regex=True)
    )
    labels = pd.DataFrame({"customer_id": ids.to_numpy(), name: flags.astype("int8").to_numpy()})
    return labels, [d for d in drops if d.rows]


def _drop(table: str, reason: str, frame: pd.DataFrame, mask: pd.Series) -> Drop:
    rows = frame.loc[mask, ROW].head(MAX_EXAMPLES)
    return Drop(table, reason, int(mask.sum()), tuple(f"row {row}" for row in rows))
