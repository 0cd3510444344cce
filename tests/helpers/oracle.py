"""A short, obvious pandas implementation of the stage rules and the feature catalog (the oracle).

It follows the feature definitions literally, one snapshot at a time, so that the Ibis/DuckDB
build can be checked against it (tests/features/test_oracle.py) and timed against it (benchmarks
insert <repo>/tests into sys.path and import `helpers.oracle`). Clarity first: every feature is a
filter on the rows before the snapshot followed by a group-by per customer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.config import Demographic, StageRules
from features.catalog import (
    EVENT_COUNTS,
    EVENT_RECENCY,
    FAMILIES,
    PURCHASE_WINDOWS,
    Family,
    catalog,
    count_name,
    recency_name,
)

TIMESTAMP = "event_timestamp"
DAY = pd.Timedelta(days=1)
_EMPTY_HISTORY = pd.DataFrame(
    {
        "current_stage": pd.Series(dtype=object),
        "stage_changes": pd.Series(dtype="float64"),
        "since": pd.Series(dtype="datetime64[us, UTC]"),
    }
)


@dataclass(frozen=True)
class _Data:
    """The contract tables with customer_id replaced by the customer's row number (fast group-by)."""

    ids: pd.Index
    customers: pd.DataFrame
    events: pd.DataFrame
    lines: pd.DataFrame
    orders: pd.DataFrame


def _prepare(tables: dict[str, pd.DataFrame]) -> _Data:
    customers = tables["customers"].reset_index(drop=True)
    ids = pd.Index(customers["customer_id"])

    def numbered(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(customer_id=ids.get_indexer(frame["customer_id"]))

    events = numbered(
        tables["events"][[c for c in ("customer_id", "ts", "event_type", "value") if c in tables["events"]]]
    )
    events = events.assign(event_type=events["event_type"].astype("category"))
    if "value" not in events:
        events["value"] = np.nan
    lines = numbered(tables["transactions"])
    sales = lines[lines["amount"] > 0]
    orders = sales.groupby(["customer_id", "ts"], as_index=False)["amount"].sum()  # one order per ts
    return _Data(ids, customers, events, lines, orders)


# --- small helpers ------------------------------------------------------------------------------


def _known(data: _Data, s: pd.Timestamp) -> pd.Index:
    """Customers in the grid at s: first contact strictly before s."""
    return data.customers.index[data.customers["created_at"] < s]


def _window(frame: pd.DataFrame, s: pd.Timestamp, days: int | None = None) -> pd.DataFrame:
    """Rows before s (ts < s), and within the last `days` days (s - days <= ts) when given."""
    keep = frame["ts"] < s
    if days is not None:
        keep &= frame["ts"] >= s - days * DAY
    return frame[keep]


def _of_type(events: pd.DataFrame, event_type: str | None) -> pd.DataFrame:
    return events if event_type is None else events[events["event_type"] == event_type]


def _count(rows: pd.DataFrame, known: pd.Index) -> pd.Series:
    return rows.groupby("customer_id").size().reindex(known, fill_value=0).astype("float64")


def _total(rows: pd.DataFrame, column: str, known: pd.Index) -> pd.Series:
    return rows.groupby("customer_id")[column].sum().reindex(known, fill_value=0.0)


def _age(ts: pd.Series, s: pd.Timestamp) -> pd.Series:
    """Whole days from the day of ts to s: an event yesterday at 23:59 has age 1."""
    return (s - ts.dt.floor("D")).dt.days.astype("float64")


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    """num / den, null where den is 0."""
    return num / den.where(den != 0)


# --- stages -------------------------------------------------------------------------------------


def _stage_at(data: _Data, s: pd.Timestamp, rules: StageRules) -> pd.Series:
    """The stage of every known customer at s, in the order of the cases in features/stages.py."""
    known = _known(data, s)
    orders = _window(data.orders, s)
    n_orders = _count(orders, known)
    last_order = orders.groupby("customer_id")["ts"].max().reindex(known)
    n_loyal = _count(_window(orders, s, rules.loyal_window_days), known)
    ev = _window(data.events, s, max(rules.advocacy_signal_days, rules.consideration_days))
    is_review = (ev["event_type"] == "review") & (ev["value"] >= rules.advocacy_min_review)
    advocacy = ev[ev["event_type"].isin(rules.advocacy_events) | is_review]
    n_advocacy = _count(_window(advocacy, s, rules.advocacy_signal_days), known)
    consideration = ev[ev["event_type"].isin(rules.consideration_events)]
    n_consideration = _count(_window(consideration, s, rules.consideration_days), known)
    churned = last_order < s - rules.churn_definition_days * DAY  # NaT (no order) compares False
    cases = {
        "consideration": (n_orders == 0) & (n_consideration > 0),
        "awareness": n_orders == 0,
        "churned": churned,
        "advocacy": (n_advocacy > 0) | (n_loyal >= rules.loyal_purchases),
        "retention": n_orders >= 2,
    }
    stage = np.select(list(cases.values()), list(cases), default="purchase")
    return pd.Series(stage, index=known, dtype=object, name="stage")


def _next_history(stage: pd.Series, previous: pd.DataFrame, s: pd.Timestamp) -> pd.DataFrame:
    """Stage, changes so far and start of the current run at s, from the same at the snapshot before."""
    prev = previous.reindex(stage.index)
    same = prev["current_stage"] == stage
    changed = prev["current_stage"].notna() & ~same
    return pd.DataFrame(
        {
            "current_stage": stage,
            "stage_changes": prev["stage_changes"].fillna(0.0) + changed,
            "since": prev["since"].where(same, s),
        }
    )


def _history_features(history: pd.DataFrame, s: pd.Timestamp) -> pd.DataFrame:
    return history.assign(days_in_stage=(s - history["since"]) / DAY).drop(columns="since")


# --- the three families -------------------------------------------------------------------------


def _event_counts(year: pd.DataFrame, s: pd.Timestamp, known: pd.Index) -> pd.DataFrame:
    f = pd.DataFrame(index=known)
    for event_type, windows in EVENT_COUNTS:
        for w in windows:
            f[count_name(event_type, w)] = _count(_window(_of_type(year, event_type), s, w), known)
    for w in (30, 90):
        recent = _window(year, s, w)
        days = recent["ts"].dt.floor("D").groupby(recent["customer_id"]).nunique()
        f[f"active_days_{w}d"] = days.reindex(known, fill_value=0).astype("float64")
    return f


def _behavioural(data: _Data, s: pd.Timestamp, known: pd.Index) -> pd.DataFrame:
    """Event counts, recencies (over all history), active days, trend, rates and reviews."""
    before = _window(data.events, s)
    year = _window(before, s, 365)
    f = _event_counts(year, s, known)
    for event_type in EVENT_RECENCY:
        newest = _of_type(before, event_type).groupby("customer_id")["ts"].max()
        f[recency_name(event_type)] = _age(newest, s).reindex(known)
    f["event_trend"] = (f["events_30d"] + 1) / ((f["events_90d"] - f["events_30d"]) / 2 + 1)
    f["email_click_rate_90d"] = _ratio(f["email_click_90d"], f["email_open_90d"])
    reviews = _of_type(year, "review")
    f["reviews_365d"] = _count(reviews, known)
    f["avg_review_365d"] = reviews.groupby("customer_id")["value"].mean().reindex(known)
    f["referrals_365d"] = _count(_of_type(year, "referral"), known)
    return f


def _order_features(data: _Data, s: pd.Timestamp, known: pd.Index) -> pd.DataFrame:
    """Frequency, recency, spend and the rhythm of orders before s."""
    orders = _window(data.orders, s)  # sorted by (customer_id, ts)
    f = pd.DataFrame(index=known)
    for w in PURCHASE_WINDOWS:
        f[f"purchases_{w}d"] = _count(_window(orders, s, w), known)
    f["purchases_total"] = _count(orders, known)
    f["days_since_last_purchase"] = _age(orders.groupby("customer_id")["ts"].max(), s).reindex(known)
    f["days_since_first_purchase"] = _age(orders.groupby("customer_id")["ts"].min(), s).reindex(known)
    f["spend_90d"] = _total(_window(orders, s, 90), "amount", known)
    f["spend_365d"] = _total(_window(orders, s, 365), "amount", known)
    f["spend_total"] = _total(orders, "amount", known)
    f["avg_order_value"] = _ratio(f["spend_total"], f["purchases_total"])
    gaps = orders.groupby("customer_id")["ts"].diff().dt.total_seconds() / 86400
    f["gap_mean_days"] = gaps.groupby(orders["customer_id"]).mean().reindex(known)
    f["gap_std_days"] = gaps.groupby(orders["customer_id"]).std(ddof=1).reindex(known)
    f["overdue_ratio"] = _ratio(f["days_since_last_purchase"], f["gap_mean_days"])
    previous = orders[(orders["ts"] >= s - 180 * DAY) & (orders["ts"] < s - 90 * DAY)]
    f["spend_trend"] = (f["spend_90d"] + 1) / (_total(previous, "amount", known) + 1)
    return f


def _line_features(data: _Data, s: pd.Timestamp, known: pd.Index) -> pd.DataFrame:
    """Refunds, discount share and categories from the transaction lines of the last year."""
    year = _window(data.lines, s, 365)
    sales = year[year["amount"] > 0]
    f = pd.DataFrame(index=known)
    f["refunds_365d"] = _count(year[year["amount"] < 0], known)
    f["discount_share_365d"] = np.nan
    if "discount" in sales:
        paid = _total(sales, "amount", known)
        off = _total(sales.assign(discount=sales["discount"].fillna(0.0)), "discount", known)
        f["discount_share_365d"] = _ratio(off, paid + off)
    f["categories_365d"] = np.nan
    if "category" in sales:
        distinct = sales.groupby("customer_id")["category"].nunique()  # nunique skips nulls
        f["categories_365d"] = distinct.reindex(known, fill_value=0).astype("float64")
    return f


def _transactional(data: _Data, s: pd.Timestamp, known: pd.Index) -> pd.DataFrame:
    f = _order_features(data, s, known).join(_line_features(data, s, known))
    f["refund_rate_365d"] = _ratio(f["refunds_365d"], f["purchases_365d"])
    return f


def _demographic(
    data: _Data, s: pd.Timestamp, known: pd.Index, demographics: Sequence[Demographic]
) -> pd.DataFrame:
    customers = data.customers.loc[known]
    f = pd.DataFrame(index=known)
    for d in demographics:
        f[d.name] = customers[d.name]
    f["tenure_days"] = _age(customers["created_at"], s)
    return f


# --- public API ---------------------------------------------------------------------------------


def _stamped(data: _Data, frame: pd.DataFrame, s: pd.Timestamp, column: str) -> pd.DataFrame:
    """Index (customer row numbers) back to customer_id, plus the snapshot column."""
    stamp = pd.Series(s, index=frame.index, dtype="datetime64[us, UTC]")
    return frame.assign(**{column: stamp}).assign(customer_id=data.ids[frame.index])


def _finish(parts: list[pd.DataFrame], demographics: Sequence[Demographic], family: Family) -> pd.DataFrame:
    """Catalog column order and types: numeric features float64, categorical str or None."""
    frame = pd.concat(parts, ignore_index=True)
    out = frame[["customer_id", TIMESTAMP]].copy()
    for feature in catalog(demographics)[family]:
        values = frame[feature.name]
        if feature.kind == "numeric":
            out[feature.name] = values.astype("float64")
        else:
            out[feature.name] = values.astype(object).where(values.notna(), None)
    return out.sort_values([TIMESTAMP, "customer_id"], ignore_index=True)


def oracle_stages(
    tables: dict[str, pd.DataFrame], snapshots: list[pd.Timestamp], rules: StageRules
) -> pd.DataFrame:
    """Stage of every known customer at every snapshot: columns customer_id, as_of, stage."""
    data = _prepare(tables)
    parts = [_stamped(data, _stage_at(data, s, rules).to_frame(), s, "as_of") for s in sorted(snapshots)]
    frame = pd.concat(parts, ignore_index=True)[["customer_id", "as_of", "stage"]]
    return frame.sort_values(["as_of", "customer_id"], ignore_index=True)


def oracle_features(
    tables: dict[str, pd.DataFrame],
    snapshots: list[pd.Timestamp],
    demographics: Sequence[Demographic],
    rules: StageRules,
) -> dict[str, pd.DataFrame]:
    """Every catalog feature of every known customer at every snapshot, keyed by family."""
    data = _prepare(tables)
    parts: dict[Family, list[pd.DataFrame]] = {family: [] for family in FAMILIES}
    history = _EMPTY_HISTORY
    for s in sorted(snapshots):  # ascending: the stage history carries over from one to the next
        known = _known(data, s)
        history = _next_history(_stage_at(data, s, rules), history, s)
        frames = {
            "behavioural": _behavioural(data, s, known).join(_history_features(history, s)),
            "transactional": _transactional(data, s, known),
            "demographic": _demographic(data, s, known, demographics),
        }
        for family, frame in frames.items():
            parts[family].append(_stamped(data, frame, s, TIMESTAMP))
    return {family: _finish(parts[family], demographics, family) for family in FAMILIES}


# --- agreement check shared by the tests and the benchmark --------------------------------------


def _differs(got: pd.Series, want: pd.Series, rtol: float, atol: float) -> np.ndarray:
    """Per row: one side null and the other not, or both set and not equal (close for floats)."""
    got_null, want_null = got.isna().to_numpy(), want.isna().to_numpy()
    if pd.api.types.is_float_dtype(got) and pd.api.types.is_float_dtype(want):
        equal = np.isclose(got.to_numpy(), want.to_numpy(), rtol=rtol, atol=atol)
    else:
        equal = (got.astype(object) == want.astype(object)).to_numpy()
    return (got_null != want_null) | (~got_null & ~want_null & ~equal)


def disagreements(
    name: str, got: pd.DataFrame, want: pd.DataFrame, rtol: float = 1e-6, atol: float = 1e-6
) -> list[str]:
    """Where two tables keyed by their first two columns (customer_id, snapshot) disagree.

    Returns one message per differing column naming the table, the column and a few rows; an
    empty list when they agree. Integral counts within atol < 1 are compared exactly in effect.
    """
    key = list(want.columns[:2])
    if list(got.columns) != list(want.columns):
        return [f"{name}: columns {list(got.columns)} != expected {list(want.columns)}"]
    got, want = (f.sort_values(key, ignore_index=True) for f in (got, want))
    rows = got[key].merge(want[key], how="outer", indicator=True)
    if (rows["_merge"] != "both").any():
        odd = rows[rows["_merge"] != "both"].head(5).to_string(index=False)
        return [f"{name}: different (customer_id, snapshot) rows (left_only = got):\n{odd}"]
    problems = []
    for column in want.columns[2:]:
        bad = _differs(got[column], want[column], rtol, atol)
        if bad.any():
            shown = got.loc[bad, key].assign(got=got.loc[bad, column], want=want.loc[bad, column])
            problems.append(
                f"{name}.{column}: {int(bad.sum())} of {len(bad)} rows differ, e.g.\n"
                + shown.head(5).to_string(index=False)
            )
    return problems
