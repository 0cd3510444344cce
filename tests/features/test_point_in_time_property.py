"""Point-in-time property: records at or after a snapshot never change that snapshot's features.

Hypothesis draws small random tables over about eight months, picks a month-start snapshot s of
their grid, adds arbitrary events and transaction lines (refunds too) at or after s (s itself
included), rebuilds, and checks stages and every feature at the month starts up to s. The newest
snapshot is left out: it is the end of the data and moves when data is added.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import pytest
from helpers.oracle import disagreements, oracle_features, oracle_stages
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import Demographic, Settings
from core.io import write_tables
from core.schema import EVENT_FAMILIES
from features.build import build_features, feature_path, read_manifest, stages_path
from features.catalog import FAMILIES
from ingest.validate import validate_tables

pytestmark = pytest.mark.disk  # builds in tempfile folders: Hypothesis examples cannot share tmp_path

T0 = pd.Timestamp("2024-01-01", tz="UTC")
SPAN_DAYS = 240
DEMOGRAPHICS = (Demographic(name="plan", kind="categorical"),)
CONFIG = Settings(demographics=DEMOGRAPHICS)
EVENT_TYPES = (*EVENT_FAMILIES, "wishlist")  # an unknown type, counted as 'other'
AMOUNTS = (-40.0, -7.5, 0.0, 0.01, 12.0, 19.99, 55.5, 300.0)
FIXED_TIMES = tuple(T0 + pd.Timedelta(days=d) for d in (3, 31, 60, 61, 90, 121, 152, 182))
PROPERTY = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def t(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def moments(start: pd.Timestamp, days: int) -> st.SearchStrategy[pd.Timestamp]:
    """Any second in [start, start + days], a midnight, or a time shared by many rows."""
    return st.one_of(
        st.integers(0, days * 86_400).map(lambda sec: start + pd.Timedelta(seconds=sec)),
        st.integers(0, days).map(lambda d: start + pd.Timedelta(days=d)),
        st.sampled_from([m for m in FIXED_TIMES if m >= start] or [start]),
    )


def event_rows(ids: list[str], when: st.SearchStrategy[pd.Timestamp], size: int) -> st.SearchStrategy:
    value = st.one_of(st.none(), st.sampled_from([1.0, 3.0, 4.0, 5.0]))
    row = st.tuples(st.sampled_from(ids), when, st.sampled_from(EVENT_TYPES), value)
    return st.lists(row, max_size=size)


def line_rows(ids: list[str], when: st.SearchStrategy[pd.Timestamp], size: int) -> st.SearchStrategy:
    category = st.one_of(st.none(), st.sampled_from(["books", "toys", "home"]))
    discount = st.one_of(st.none(), st.sampled_from([0.0, 2.5, 10.0]))
    row = st.tuples(st.sampled_from(ids), when, st.sampled_from(AMOUNTS), category, discount)
    return st.lists(row, max_size=size)


def frames(events: list[tuple], lines: list[tuple]) -> dict[str, pd.DataFrame]:
    return {
        "events": pd.DataFrame(events, columns=["customer_id", "ts", "event_type", "value"]),
        "transactions": pd.DataFrame(lines, columns=["customer_id", "ts", "amount", "category", "discount"]),
    }


@st.composite
def base_tables(draw: st.DrawFn) -> dict[str, pd.DataFrame]:
    """1-4 customers with random activity; c0 is there from T0 to T0 + SPAN_DAYS (the grid's span)."""
    ids = [f"c{i}" for i in range(draw(st.integers(1, 4)))]
    created = [T0, *(draw(moments(T0, 200)) for _ in ids[1:])]
    plans = draw(st.lists(st.sampled_from(["basic", "premium", None]), min_size=len(ids), max_size=len(ids)))
    customers = pd.DataFrame({"customer_id": ids, "created_at": created, "plan": plans})
    anchors = [("c0", T0, "visit", None), ("c0", T0 + pd.Timedelta(days=SPAN_DAYS), "login", None)]
    when = moments(T0, SPAN_DAYS)
    lines = draw(line_rows(ids, when, 15).filter(bool))  # the contract wants some transactions
    tables = frames(anchors + draw(event_rows(ids, when, 30)), lines)
    return {"customers": customers, **tables}


def future(draw: st.DrawFn, ids: list[str], s: pd.Timestamp) -> dict[str, list[tuple]]:
    """Records at or after s; at least one order of c0 so that something later must change."""
    when = st.one_of(st.just(s), moments(s, 120))
    newcomers = [f"n{i}" for i in range(draw(st.integers(0, 2)))]
    events = draw(event_rows(ids + newcomers, when, 20))
    lines = [("c0", draw(when), 25.0, "books", None), *draw(line_rows(ids + newcomers, when, 10))]
    return {"events": events, "transactions": lines, "newcomers": newcomers}


def with_future(tables: dict[str, pd.DataFrame], added: dict, s: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """The tables plus the future records; new customers are created at or after s."""
    new = pd.DataFrame({"customer_id": added["newcomers"], "created_at": s, "plan": "basic"})
    more = frames(added["events"], added["transactions"])
    return {
        "customers": pd.concat([tables["customers"], new], ignore_index=True),
        "events": pd.concat([tables["events"], more["events"]], ignore_index=True),
        "transactions": pd.concat([tables["transactions"], more["transactions"]], ignore_index=True),
    }


def build(raw: dict[str, pd.DataFrame], folder: Path) -> tuple[list[pd.Timestamp], dict[str, pd.DataFrame]]:
    """Validate, build with Ibis/DuckDB, read back: (snapshots, stages and the three families)."""
    clean, _ = validate_tables(raw, demographics=DEMOGRAPHICS)
    config = CONFIG.with_paths(workdir=folder / "work")
    write_tables(clean, folder / "clean")
    build_features(folder / "clean", config)
    out = config.paths.features
    tables = {family: pd.read_parquet(feature_path(out, family)) for family in FAMILIES}
    tables["stages"] = pd.read_parquet(stages_path(out))[["customer_id", "as_of", "stage"]]
    return read_manifest(out).snapshots, tables


def month_starts(snapshots: list[pd.Timestamp]) -> list[pd.Timestamp]:
    return [t for t in snapshots if t.day == 1 and t == t.normalize()]


def up_to(frame: pd.DataFrame, s: pd.Timestamp) -> pd.DataFrame:
    """Rows at month-start snapshots <= s (the column after customer_id is the snapshot)."""
    when = frame.iloc[:, 1]
    return frame[(when <= s) & (when.dt.day == 1)].reset_index(drop=True)


def changes_up_to(old: dict[str, pd.DataFrame], new: dict[str, pd.DataFrame], s: pd.Timestamp) -> list[str]:
    problems = []
    for name in old:
        before, after = up_to(old[name], s), up_to(new[name], s)
        assert len(before) > 0, f"{name}: no rows up to {s}: the check would be vacuous"
        problems += disagreements(name, after, before, rtol=1e-12, atol=1e-12)
    return problems


@PROPERTY
@given(data=st.data())
def test_future_records_leave_past_snapshots_unchanged(data: st.DataObject):
    tables = data.draw(base_tables())
    with tempfile.TemporaryDirectory() as tmp:
        snapshots, before = build(tables, Path(tmp) / "before")
        s = data.draw(st.sampled_from(month_starts(snapshots)), label="s")
        added = future(data.draw, list(tables["customers"]["customer_id"]), s)
        _, after = build(with_future(tables, added, s), Path(tmp) / "after")
    problems = changes_up_to(before, after, s)
    assert not problems, f"records at or after {s} changed earlier snapshots:\n" + "\n\n".join(problems)
    # not vacuous: at the end of the data, c0's spend grew by exactly the orders added
    added_spend = sum(a for c, _, a, *_ in added["transactions"] if c == "c0" and a > 0)
    end_before, end_after = (at_end(frame["transactional"], "c0") for frame in (before, after))
    grown = end_after["spend_total"] - end_before["spend_total"]
    assert grown == pytest.approx(added_spend, rel=1e-9, abs=1e-9)


def at_end(frame: pd.DataFrame, customer: str) -> pd.Series:
    newest = frame[frame["event_timestamp"] == frame["event_timestamp"].max()]
    return newest[newest["customer_id"] == customer].iloc[0]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_oracle_is_point_in_time_too(data: st.DataObject):
    """The same property for the pandas oracle (cheap: no DuckDB build), on a grid fixed up front."""
    tables = data.draw(base_tables())
    grid = list(pd.date_range(T0 + pd.Timedelta(days=60), T0 + pd.Timedelta(days=SPAN_DAYS), freq="MS"))
    s = data.draw(st.sampled_from(grid), label="s")
    added = future(data.draw, list(tables["customers"]["customer_id"]), s)
    past = [g for g in grid if g <= s]
    rules = CONFIG.stages

    def oracle(raw: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        clean, _ = validate_tables(raw, demographics=DEMOGRAPHICS)
        return {
            **oracle_features(clean, past, DEMOGRAPHICS, rules),
            "stages": oracle_stages(clean, past, rules),
        }

    before, after = oracle(tables), oracle(with_future(tables, added, s))
    problems = changes_up_to(before, after, s)
    assert not problems, "\n\n".join(problems)


def test_future_order_at_the_snapshot_shows_up_one_snapshot_later():
    """Not vacuous: an order at exactly s is invisible at s and counted at the next snapshot."""
    customers = pd.DataFrame({"customer_id": ["c0"], "created_at": [T0], "plan": ["basic"]})
    end = T0 + pd.Timedelta(days=SPAN_DAYS)
    raw = {
        "customers": customers,
        **frames(
            [("c0", T0, "visit", None), ("c0", end, "login", None)],
            [("c0", t("2024-01-11"), 5.0, None, None)],
        ),
    }
    s, later = t("2024-04-01"), t("2024-05-01")
    added = {"events": [], "transactions": [("c0", s, 40.0, None, None)], "newcomers": []}
    with tempfile.TemporaryDirectory() as tmp:
        _, before = build(raw, Path(tmp) / "before")
        _, after = build(with_future(raw, added, s), Path(tmp) / "after")
    assert changes_up_to(before, after, s) == []
    old, new = (f["transactional"].set_index("event_timestamp") for f in (before, after))
    assert old.loc[s, "purchases_total"] == new.loc[s, "purchases_total"] == 1
    assert (old.loc[later, "purchases_total"], new.loc[later, "purchases_total"]) == (1, 2)
    assert new.loc[later, "days_since_last_purchase"] == 30
    old_stage, new_stage = (f["stages"].set_index("as_of")["stage"] for f in (before, after))
    assert (old_stage[s], old_stage[later]) == ("purchase", "churned")
    assert (new_stage[s], new_stage[later]) == ("purchase", "retention")
