"""The Ibis/DuckDB feature build agrees with the pandas oracle (tests/oracle.py), row by row."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from helpers.oracle import disagreements, oracle_features, oracle_stages

from core.config import Settings
from core.io import write_tables
from features.build import build_features, feature_path, read_manifest, stages_path
from features.catalog import FAMILIES
from ingest.validate import validate_tables
from synthetic.generate import generate_tables

S = pd.Timestamp("2024-03-01", tz="UTC")  # a snapshot of the hand-made grid
NEXT = pd.Timestamp("2024-04-01", tz="UTC")
US = pd.Timedelta(microseconds=1)


def t(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def before(days: int) -> pd.Timestamp:
    """Exactly `days` days before S: the oldest moment a `days`-day window at S still counts."""
    return S - pd.Timedelta(days=days)


def validated(tables: dict[str, pd.DataFrame], settings: Settings) -> dict[str, pd.DataFrame]:
    clean, _ = validate_tables(
        {k: v for k, v in tables.items() if k in ("customers", "events", "transactions")},
        demographics=settings.demographics,
    )
    return clean


def build_vs_oracle(clean: dict[str, pd.DataFrame], settings: Settings, folder: Path) -> list[str]:
    """Build the features from `clean` with Ibis/DuckDB; every disagreement with the oracle."""
    write_tables(clean, folder)
    build_features(folder, settings)
    out = settings.paths.features
    snapshots = read_manifest(out).snapshots
    want = oracle_features(clean, snapshots, settings.demographics, settings.stages)
    got_stages = pd.read_parquet(stages_path(out))[["customer_id", "as_of", "stage"]]
    problems = disagreements("stages", got_stages, oracle_stages(clean, snapshots, settings.stages))
    for family in FAMILIES:
        problems += disagreements(family, pd.read_parquet(feature_path(out, family)), want[family])
    return problems


# --- hand-made edge cases -----------------------------------------------------------------------

DEMOGRAPHICS = ("age", "gender", "region", "acquisition_channel", "plan")
CUSTOMERS = [
    ("anchor", "2023-01-01", 30.0, "female", "north", "organic", "basic"),
    ("browser", "2023-01-05", 41.0, "male", "south", "email", "basic"),
    ("one_order", "2023-02-01", 52.0, "female", "east", "social", "standard"),
    ("two_orders", "2023-02-01", 23.0, "other", "west", "referral", "premium"),
    ("three_orders", "2023-02-01", 35.0, "female", "central", "paid_search", "basic"),
    ("late", "2023-11-15 13:00", 61.0, "male", "north", "organic", "basic"),
    ("loyal", "2023-02-01", 44.0, "female", "south", "organic", "premium"),
    ("reviewer", "2023-02-01", 38.0, "male", "east", "social", "standard"),
    ("refunds_only", "2023-02-01", 29.0, "female", "west", "email", "basic"),
    ("silent", "2023-05-01", None, None, None, None, None),
    ("born_at_snapshot", "2024-02-01", 33.0, "male", None, "organic", None),
    ("steady", "2023-01-01", 47.0, "female", "north", "organic", "premium"),
    ("lapsed", "2023-01-01", 58.0, "male", "south", "paid_search", "basic"),
]
EVENTS = [  # (customer_id, ts, event_type, value)
    ("anchor", t("2023-01-01"), "visit", None),
    ("anchor", t("2024-06-10 12:00"), "login", None),  # the end of the data: last snapshot 2024-06-11
    ("browser", S - US, "visit", None),  # age 1 at S
    ("browser", before(7), "visit", None),  # exactly at the edge of the 7-day window: counts
    ("browser", before(7) - US, "visit", None),  # just outside it
    ("browser", before(30), "product_view", None),  # consideration at S, on the edge
    ("browser", S, "cart", None),  # at the snapshot: not before S
    ("browser", t("2024-02-10 08:00"), "wishlist", None),  # unknown type: counted as 'other'
    ("browser", t("2024-02-10 21:00"), "Pricing page", None),
    ("browser", t("2024-02-10 20:00"), "email_open", None),
    ("browser", t("2024-02-11 00:00"), "email_open", None),
    ("browser", t("2024-02-11 07:00"), "email_click", None),
    ("browser", before(90), "email_open", None),
    ("browser", before(90) - US, "email_click", None),
    ("browser", t("2023-05-01 09:30"), "support_contact", None),
    ("browser", before(365), "complaint", None),  # recency has no lookback limit
    ("browser", t("2023-11-20"), "email_click", None),  # clicks without opens in 90 days at times
    ("one_order", t("2023-11-30 18:00"), "product_view", None),
    ("two_orders", t("2024-05-05"), "support_contact", None),
    ("late", t("2024-01-02"), "checkout", None),
    ("reviewer", before(180), "review", 5.0),  # advocacy window edge: counts at S
    ("reviewer", t("2024-01-10"), "review", None),  # a review without a value
    ("reviewer", t("2024-02-10"), "review", 4.0),  # exactly advocacy_min_review
    ("reviewer", t("2024-04-10"), "review", 3.0),
    ("reviewer", S, "referral", None),
    ("born_at_snapshot", t("2024-02-01"), "visit", None),
    ("born_at_snapshot", t("2024-02-01 06:00"), "visit", None),
]
LINES = [  # (customer_id, ts, amount, category, discount)
    ("one_order", before(90), 20.0, "books", 5.0),  # two lines at one time: one order of 50
    ("one_order", before(90), 30.0, "toys", None),
    ("two_orders", t("2023-06-15 10:00"), 40.0, "home", 0.0),
    ("two_orders", S - pd.Timedelta(seconds=1), 60.0, "home", 10.0),
    ("two_orders", t("2024-01-10"), -15.0, "home", None),  # a refund
    ("three_orders", before(365), 10.0, None, None),
    ("three_orders", before(180), 20.0, "beauty", 2.5),  # the previous 90 days of spend_trend
    ("three_orders", before(180), -5.0, "beauty", None),  # a refund at the time of an order
    ("three_orders", before(90) + pd.Timedelta(seconds=1), 30.33, "sports", None),
    ("three_orders", S, 99.0, "toys", 1.0),  # at the snapshot: counts only from NEXT on
    ("late", t("2024-01-05 10:00"), 25.0, "home", None),
    ("late", t("2024-04-20 10:00"), 35.0, "home", None),
    ("late", t("2024-04-25 10:00"), -5.0, "home", None),
    *[("loyal", t(f"2023-{m:02d}-10"), 12.5 * m, "grocery", 0.0) for m in (4, 6, 8, 10, 12)],
    ("reviewer", t("2024-02-01 12:00"), 70.0, "electronics", 14.0),
    ("refunds_only", t("2023-08-01"), -12.5, "books", None),
    ("refunds_only", t("2023-08-02"), 0.0, "books", 3.0),  # neither an order nor a refund
    # a fixed cycle of 73.3 days (up to 1 µs rounding): the spread of the gaps is ~1e-11 days
    *[
        ("steady", t("2023-01-02 08:00") + k * pd.Timedelta(hours=73.3 * 24), 1234.56, "home", 0.0)
        for k in range(6)
    ],
    ("lapsed", t("2023-01-15"), 80.0, "toys", 20.0),  # more than a year before S: no 365-day sales
]


def edge_tables(*, optional_columns: bool) -> dict[str, pd.DataFrame]:
    """Hand-made raw tables; without optional columns there is no value, category or discount."""
    customers = pd.DataFrame(CUSTOMERS, columns=["customer_id", "created_at", *DEMOGRAPHICS])
    customers["created_at"] = pd.to_datetime(customers["created_at"], utc=True, format="ISO8601")
    events = pd.DataFrame(EVENTS, columns=["customer_id", "ts", "event_type", "value"])
    lines = pd.DataFrame(LINES, columns=["customer_id", "ts", "amount", "category", "discount"])
    if not optional_columns:
        events, lines = events.drop(columns="value"), lines.drop(columns=["category", "discount"])
    return {"customers": customers, "events": events, "transactions": lines}


@pytest.fixture
def edge(settings: Settings) -> dict[str, pd.DataFrame]:
    return validated(edge_tables(optional_columns=True), settings)


def at(frame: pd.DataFrame, customer: str, snapshot: pd.Timestamp = S) -> pd.Series:
    column = "as_of" if "as_of" in frame else "event_timestamp"
    row = frame[(frame["customer_id"] == customer) & (frame[column] == snapshot)]
    assert len(row) == 1, f"{customer} at {snapshot}: {len(row)} rows"
    return row.iloc[0]


def test_oracle_gives_the_hand_computed_values(settings: Settings, edge):
    """The oracle itself on the edge cases, against values worked out by hand from the definitions."""
    snapshots = list(pd.date_range("2023-04-01", "2024-06-01", freq="MS", tz="UTC"))
    f = oracle_features(edge, snapshots, settings.demographics, settings.stages)
    b, tr, demo = f["behavioural"], f["transactional"], f["demographic"]
    browser = at(b, "browser")
    assert browser[["visit_7d", "days_since_last_visit", "cart_30d", "product_view_30d"]].tolist() == [
        2,
        1,
        0,
        1,
    ]
    assert browser["current_stage"] == "consideration"
    assert (browser["email_open_90d"], browser["email_click_90d"]) == (3, 1)
    assert browser["events_30d"] == 3 + 1 + 2 + 3  # visits, product view, two 'other', e-mails
    assert browser["active_days_30d"] == 6  # 02-29, 02-23, 02-22, 02-11, 02-10, 01-31
    assert browser["days_since_last_complaint"] == 365
    no_opens = at(b, "browser", t("2023-12-01"))
    assert no_opens["email_click_90d"] == 1 and pd.isna(no_opens["email_click_rate_90d"])
    reviewer = at(b, "reviewer")
    assert reviewer[["reviews_365d", "avg_review_365d", "current_stage"]].tolist() == [3, 4.5, "advocacy"]
    assert at(b, "reviewer", NEXT)["referrals_365d"] == 1
    # awareness, purchase (05-01), retention (07-01), advocacy (2024-01-01), churned (NEXT)
    assert at(b, "loyal")[["current_stage", "stage_changes", "days_in_stage"]].tolist() == [
        "advocacy",
        3,
        31 + 29,
    ]
    assert at(b, "loyal", NEXT)[["current_stage", "stage_changes", "days_in_stage"]].tolist() == [
        "churned",
        4,
        0,
    ]
    one = at(tr, "one_order")
    assert (one["purchases_total"], one["spend_total"], one["days_since_last_purchase"]) == (1, 50.0, 90)
    assert at(b, "one_order")["current_stage"] == "purchase"  # last order exactly 90 days ago
    assert at(b, "one_order", NEXT)["current_stage"] == "churned"
    assert (one["discount_share_365d"], one["categories_365d"]) == (5.0 / 55.0, 2)
    three = at(tr, "three_orders")
    assert (three["purchases_total"], three["purchases_365d"], three["purchases_90d"]) == (3, 3, 1)
    assert three["spend_trend"] == pytest.approx((30.33 + 1) / (20.0 + 1))
    assert at(tr, "three_orders", NEXT)["purchases_total"] == 4
    assert (three["refunds_365d"], three["refund_rate_365d"], three["categories_365d"]) == (1, 1 / 3, 2)
    two = at(tr, "two_orders")
    assert pd.isna(two["gap_std_days"]) and two["days_since_last_purchase"] == 1
    refunds = at(tr, "refunds_only")
    assert refunds["refunds_365d"] == 1 and pd.isna(refunds["refund_rate_365d"])
    assert pd.isna(refunds["discount_share_365d"]) and refunds["categories_365d"] == 0
    assert "late" not in set(tr.loc[tr["event_timestamp"] < t("2023-12-01"), "customer_id"])
    born = demo.loc[demo["event_timestamp"] == t("2024-02-01"), "customer_id"]
    assert "born_at_snapshot" not in set(born)
    assert at(demo, "born_at_snapshot")["tenure_days"] == 29
    assert at(demo, "silent")[["age", "gender"]].isna().all()


@pytest.mark.parametrize("optional_columns", [True, False], ids=["all-columns", "required-only"])
def test_build_agrees_with_oracle_on_edge_cases(settings: Settings, tmp_path: Path, optional_columns):
    clean = validated(edge_tables(optional_columns=optional_columns), settings)
    problems = build_vs_oracle(clean, settings, tmp_path / "clean")
    assert not problems, "\n\n".join(problems)


def test_build_agrees_with_oracle_on_generated_data(settings: Settings, tmp_path: Path):
    raw = generate_tables(250, seed=5, start="2023-01-01", end="2024-04-01")
    clean = validated(raw, settings)
    problems = build_vs_oracle(clean, settings, tmp_path / "clean")
    assert not problems, "\n\n".join(problems)


def test_more_categories_than_mask_bits_fall_back_to_a_distinct_count_and_agree(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Up to 63 categories are counted as bit masks; more take the distinct-count path."""
    from features import transactional

    calls = []
    counted = transactional.category_parts
    monkeypatch.setattr(transactional, "MASK_CATEGORIES", 0)
    monkeypatch.setattr(transactional, "category_parts", lambda *a: calls.append(1) or counted(*a))
    clean = validated(generate_tables(120, seed=6, start="2023-01-01", end="2024-04-01"), settings)
    problems = build_vs_oracle(clean, settings, tmp_path / "clean")
    assert calls and not problems, "\n\n".join(problems)


def test_event_counts_too_big_to_pack_are_counted_one_by_one_and_agree(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Event counts are packed three to an int64 while every customer has < 2**FIELD_BITS events;
    with 4-bit fields the generated customers have more, so the build counts them one by one."""
    from features import windows

    calls = []
    one_by_one = windows.Kinds.one_by_one
    monkeypatch.setattr(windows, "FIELD_BITS", 4)
    monkeypatch.setattr(windows.Kinds, "one_by_one", lambda *a: calls.append(1) or one_by_one(*a))
    clean = validated(generate_tables(120, seed=7, start="2023-01-01", end="2024-04-01"), settings)
    assert clean["events"]["customer_id"].value_counts().max() >= 2**4
    problems = build_vs_oracle(clean, settings, tmp_path / "clean")
    assert calls and not problems, "\n\n".join(problems)


def test_event_counts_are_packed_when_they_fit(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from features import windows

    monkeypatch.setattr(windows.Kinds, "one_by_one", lambda *a: pytest.fail("counted one by one"))
    clean = validated(generate_tables(60, seed=8, start="2023-01-01", end="2024-04-01"), settings)
    assert not build_vs_oracle(clean, settings, tmp_path / "clean")


def test_disagreements_name_family_feature_and_rows(settings: Settings, edge):
    """The comparison itself can fail, and says where."""
    snapshots = [S, NEXT]
    want = oracle_features(edge, snapshots, settings.demographics, settings.stages)["transactional"]
    got = want.copy()
    got.loc[got["customer_id"] == "late", "spend_total"] += 1.0
    got.loc[got["customer_id"] == "loyal", "gap_std_days"] = None
    problems = disagreements("transactional", got, want)
    assert len(problems) == 2
    assert problems[0].startswith("transactional.spend_total: 2 of") and "late" in problems[0]
    assert problems[1].startswith("transactional.gap_std_days: 2 of") and "loyal" in problems[1]
    assert disagreements("transactional", got.iloc[1:], want)[0].startswith("transactional: different")
    assert disagreements("transactional", want.sample(frac=1.0, random_state=0), want) == []
