"""Tests of the journey-stage rules on hand-made customers, one per rule."""

from __future__ import annotations

import ibis
import pandas as pd

from core.config import StageRules
from features.stages import known_grid, stage_at
from features.tables import snapshot_table

AS_OF = pd.Timestamp("2024-06-01", tz="UTC")


def day(offset: int) -> pd.Timestamp:
    return AS_OF + pd.Timedelta(days=offset)


def frame(rows: list[tuple], columns: list[str]) -> ibis.Table:
    df = pd.DataFrame(rows, columns=columns)
    for col in ("ts", "created_at"):
        if col in df:
            df[col] = pd.to_datetime(df[col], utc=True).astype("datetime64[us, UTC]")
    return ibis.memtable(df)


def stages_of(customers, orders, events, rules=StageRules()) -> dict[str, str]:
    grid = known_grid(customers, snapshot_table([AS_OF], "as_of"))
    out = stage_at(grid, [AS_OF], orders, events, rules).execute()
    return dict(zip(out.customer_id, out.stage, strict=True))


CUSTOMERS = [
    (c, day(-400)) for c in ("aware", "consider", "buyer", "repeat", "loyal", "referrer", "gone", "late")
]
ORDERS = [
    ("buyer", day(-10), 20.0),
    ("repeat", day(-200), 20.0),
    ("repeat", day(-5), 20.0),
    *[("loyal", day(-30 * k - 1), 20.0) for k in range(5)],
    ("referrer", day(-50), 20.0),
    ("gone", day(-91), 20.0),
    ("gone", day(-300), 20.0),
    ("buyer", AS_OF, 99.0),  # at as_of itself: the future, must not count
]
EVENTS = [
    ("aware", day(-40), "product_view", None),
    ("consider", day(-3), "cart", None),
    ("referrer", day(-100), "referral", None),
    ("repeat", day(-1), "review", 2.0),
    ("gone", day(-2), "referral", None),
]


def test_each_rule_gives_its_stage():
    customers = frame([*CUSTOMERS, ("unborn", day(1))], ["customer_id", "created_at"])
    orders = frame(ORDERS, ["customer_id", "ts", "amount"])
    events = frame(EVENTS, ["customer_id", "ts", "event_type", "value"])
    got = stages_of(customers, orders, events)
    assert got == {
        "aware": "awareness",
        "consider": "consideration",
        "buyer": "purchase",
        "repeat": "retention",
        "loyal": "advocacy",
        "referrer": "advocacy",
        "gone": "churned",
        "late": "awareness",
    }


def test_thresholds_come_from_the_rules():
    customers = frame(CUSTOMERS, ["customer_id", "created_at"])
    orders = frame(ORDERS, ["customer_id", "ts", "amount"])
    events = frame(EVENTS, ["customer_id", "ts", "event_type", "value"])
    rules = StageRules(churn_definition_days=95, loyal_purchases=6, advocacy_signal_days=60)
    got = stages_of(customers, orders, events, rules)
    assert got["gone"] == "advocacy"  # 91 days < 95 is active; its referral 2 days ago counts
    assert got["loyal"] == "retention"
    assert got["referrer"] == "purchase"  # referral 100 days ago is older than 60; one order


def test_crm_stage_history_overrides_the_rules_point_in_time():
    customers = frame(CUSTOMERS, ["customer_id", "created_at"])
    orders = frame(ORDERS, ["customer_id", "ts", "amount"])
    events = frame(EVENTS, ["customer_id", "ts", "event_type", "value"])
    history = frame(
        [
            ("repeat", day(-20), "purchase"),
            ("repeat", day(-3), "advocacy"),  # the newest record before as_of wins
            ("buyer", AS_OF, "churned"),  # at as_of: the future, ignored
            ("aware", day(-1), "consideration"),
        ],
        ["customer_id", "ts", "stage"],
    )
    grid = known_grid(customers, snapshot_table([AS_OF], "as_of"))
    out = stage_at(grid, [AS_OF], orders, events, StageRules(), history=history).execute()
    got = dict(zip(out.customer_id, out.stage, strict=True))
    assert got["repeat"] == "advocacy"
    assert got["buyer"] == "purchase"
    assert got["aware"] == "consideration"
    assert got["loyal"] == "advocacy"  # no CRM record: the rules decide
