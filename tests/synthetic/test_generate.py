"""Tests of the seeded synthetic-data generator: determinism, contract, invariants, signal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.schema import EVENT_FAMILIES, TABLES
from synthetic.generate import generate_tables

START, END = pd.Timestamp("2023-01-01", tz="UTC"), pd.Timestamp("2025-01-01", tz="UTC")
DAYS = pd.Timedelta(days=1)
TS = "datetime64[us, UTC]"
COLUMNS = {
    "customers": {
        "customer_id": "object",
        "created_at": TS,
        "age": "float64",
        "gender": "object",
        "region": "object",
        "acquisition_channel": "object",
        "plan": "object",
    },
    "events": {
        "customer_id": "object",
        "ts": TS,
        "event_type": "object",
        "channel": "object",
        "value": "float64",
    },
    "transactions": {
        "customer_id": "object",
        "ts": TS,
        "amount": "float64",
        "order_id": "object",
        "quantity": "float64",
        "category": "object",
        "discount": "float64",
    },
    "campaigns": {
        "customer_id": "object",
        "ts": TS,
        "campaign_id": "object",
        "treated": "bool",
        "cost": "float64",
    },
    "truth": {
        "customer_id": "object",
        "engagement": "float64",
        "value": "float64",
        "converted_at": TS,
        "churned_at": TS,
    },
    "campaign_truth": {
        "customer_id": "object",
        "campaign_id": "object",
        "segment": "object",
        "true_uplift": "float64",
    },
}
VOCAB = {
    ("customers", "gender"): {"female", "male", "other"},
    ("customers", "region"): {"north", "south", "east", "west", "central"},
    ("customers", "acquisition_channel"): {"organic", "paid_search", "social", "referral", "email"},
    ("customers", "plan"): {"basic", "standard", "premium"},
    ("events", "channel"): {"web", "app", "email", "support"},
}
TIMED = ("events", "transactions", "campaigns")


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return generate_tables(3000, seed=11)


@pytest.fixture(scope="module")
def buyers(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    truth = tables["truth"]
    return truth[truth["converted_at"].notna()]


def test_same_seed_gives_identical_frames() -> None:
    first, second = generate_tables(200, seed=3), generate_tables(200, seed=3)
    assert set(first) == {"customers", "events", "transactions", "campaigns", "truth", "campaign_truth"}
    for name, frame in first.items():
        pd.testing.assert_frame_equal(frame, second[name])


def test_different_seed_gives_different_frames() -> None:
    first, second = generate_tables(200, seed=3), generate_tables(200, seed=4)
    assert not first["events"].equals(second["events"])
    assert not first["customers"]["created_at"].equals(second["customers"]["created_at"])


@pytest.mark.parametrize("name", list(COLUMNS))
def test_columns_dtypes_and_index(tables: dict[str, pd.DataFrame], name: str) -> None:
    frame = tables[name]
    assert {col: str(dtype) for col, dtype in frame.dtypes.items()} == COLUMNS[name]
    assert frame.index.equals(pd.RangeIndex(len(frame)))
    assert len(frame) > 0


@pytest.mark.parametrize("name", ["customers", *TIMED])
def test_contract_required_columns_present(tables: dict[str, pd.DataFrame], name: str) -> None:
    spec = TABLES[name]
    assert set(spec.required) <= set(tables[name].columns)
    assert set(tables[name].columns) <= set(spec.required) | set(spec.optional) | {
        "age",
        "gender",
        "region",
        "acquisition_channel",
        "plan",
    }


@pytest.mark.parametrize("name", list(COLUMNS))
def test_text_columns_hold_plain_strings(tables: dict[str, pd.DataFrame], name: str) -> None:
    frame = tables[name]
    for col in frame.select_dtypes(include="object").columns:
        assert pd.api.types.infer_dtype(frame[col], skipna=False) == "string", col


def test_categorical_values_come_from_the_vocabularies(tables: dict[str, pd.DataFrame]) -> None:
    for (name, col), allowed in VOCAB.items():
        assert set(tables[name][col]) <= allowed, (name, col)
    assert set(tables["events"]["event_type"]) <= set(EVENT_FAMILIES)
    assert {"visit", "cart", "complaint", "review", "referral"} <= set(tables["events"]["event_type"])
    assert tables["customers"]["age"].between(18, 80).all()


def test_customer_ids_are_padded_and_unique(tables: dict[str, pd.DataFrame]) -> None:
    ids = tables["customers"]["customer_id"]
    assert ids.str.fullmatch(r"C\d{7}").all()
    assert ids.is_unique
    assert ids.equals(tables["truth"]["customer_id"])
    for name in TIMED:
        assert set(tables[name]["customer_id"]) <= set(ids)


@pytest.mark.parametrize("name", ["customers", *TIMED])
def test_rows_sorted_by_customer_then_time(tables: dict[str, pd.DataFrame], name: str) -> None:
    frame = tables[name]
    time_col = "created_at" if name == "customers" else "ts"
    keys = pd.MultiIndex.from_frame(frame[["customer_id", time_col]])
    assert keys.is_monotonic_increasing


@pytest.mark.parametrize("name", TIMED)
def test_times_inside_span_and_after_creation(tables: dict[str, pd.DataFrame], name: str) -> None:
    frame = tables[name].merge(tables["customers"][["customer_id", "created_at"]], on="customer_id")
    assert frame["ts"].min() >= START
    assert frame["ts"].max() < END
    assert (frame["ts"] >= frame["created_at"]).all()


def test_created_at_front_loaded_and_not_in_last_30_days(tables: dict[str, pd.DataFrame]) -> None:
    created = tables["customers"]["created_at"]
    early_share = (created < START + 60 * DAYS).mean()
    assert 0.33 < early_share < 0.48
    assert created.min() >= START
    assert created.max() < END - 30 * DAYS


def test_review_values_are_ratings_and_only_on_reviews(tables: dict[str, pd.DataFrame]) -> None:
    events = tables["events"]
    is_review = events["event_type"] == "review"
    assert events.loc[~is_review, "value"].isna().all()
    assert set(events.loc[is_review, "value"]) == {1.0, 2.0, 3.0, 4.0, 5.0}


def test_refunds_are_negative_and_follow_their_order(tables: dict[str, pd.DataFrame]) -> None:
    tx = tables["transactions"]
    refunds, orders = tx[tx["amount"] < 0], tx[tx["amount"] > 0]
    assert len(refunds) + len(orders) == len(tx)
    assert 0.03 <= len(refunds) / len(tx) <= 0.05
    assert orders["order_id"].is_unique
    assert refunds["order_id"].is_unique
    pairs = refunds.merge(orders, on="order_id", suffixes=("", "_order"), validate="1:1")
    assert len(pairs) == len(refunds)
    assert (pairs["customer_id"] == pairs["customer_id_order"]).all()
    assert (pairs["ts"] > pairs["ts_order"]).all()
    assert (-pairs["amount"] <= pairs["amount_order"]).all()
    assert (refunds["quantity"] < 0).all()
    assert (tx["discount"] >= 0).all()


def test_customers_prefer_some_categories(tables: dict[str, pd.DataFrame]) -> None:
    orders = tables["transactions"].query("amount > 0")
    assert orders["category"].nunique() == 8
    top_share = orders.groupby("customer_id")["category"].agg(
        lambda c: c.value_counts(normalize=True).iloc[0]
    )
    many = orders["customer_id"].value_counts() >= 10
    assert top_share[many[many].index].mean() > 0.4  # uniform choice would give about 0.25


def test_campaign_groups_split_about_half(tables: dict[str, pd.DataFrame]) -> None:
    campaigns = tables["campaigns"]
    assert 0.45 < campaigns["treated"].mean() < 0.55
    assert (campaigns.loc[~campaigns["treated"], "cost"] == 0).all()
    assert campaigns.loc[campaigns["treated"], "cost"].between(1, 5).all()
    assert campaigns["campaign_id"].nunique() >= 6


def test_truth_matches_the_observable_tables(tables: dict[str, pd.DataFrame], buyers: pd.DataFrame) -> None:
    orders = tables["transactions"].query("amount > 0")
    first = orders.groupby("customer_id")["ts"].min()
    assert first.sort_index().equals(
        buyers.set_index("customer_id")["converted_at"].rename("ts").sort_index()
    )
    truth = tables["truth"]
    assert truth.loc[truth["converted_at"].isna(), "churned_at"].isna().all()
    assert (buyers["churned_at"].dropna() > buyers.loc[buyers["churned_at"].notna(), "converted_at"]).all()
    late = orders.merge(truth[["customer_id", "churned_at"]], on="customer_id")
    assert not (late["ts"] >= late["churned_at"]).any()


def test_targeted_customers_were_active_buyers(tables: dict[str, pd.DataFrame]) -> None:
    rows = tables["campaigns"].merge(tables["truth"], on="customer_id")
    assert (rows["converted_at"] < rows["ts"]).all()
    assert not (rows["churned_at"] <= rows["ts"]).any()


def test_campaign_truth_gives_each_row_its_segment_response(tables: dict[str, pd.DataFrame]) -> None:
    campaigns, truth = tables["campaigns"], tables["campaign_truth"]
    assert truth[["customer_id", "campaign_id"]].equals(campaigns[["customer_id", "campaign_id"]])
    uplift = truth.groupby("segment")["true_uplift"].agg(["min", "max"])
    assert (uplift["min"] == uplift["max"]).all()
    assert uplift["max"].to_dict() == {
        "persuadable": 0.6,
        "moderate": 0.2,
        "sure_thing": 0.0,
        "lost_cause": 0.0,
        "do_not_disturb": -0.4,
    }
    share = truth["segment"].value_counts(normalize=True)
    assert share["do_not_disturb"] < 0.1  # a small segment
    assert (share[["persuadable", "sure_thing", "lost_cause"]] > 0.08).all()


def test_campaigns_follow_the_monthly_refresh(tables: dict[str, pd.DataFrame]) -> None:
    """Quarterly, in the first week of March, June, September and December, 09:00-10:00."""
    ts = tables["campaigns"]["ts"]
    assert set(ts.dt.month) == {3, 6, 9, 12}
    assert ts.dt.day.max() <= 7
    assert set(ts.dt.hour) == {9}


def test_overall_rates_are_plausible(tables: dict[str, pd.DataFrame], buyers: pd.DataFrame) -> None:
    n = len(tables["customers"])
    assert 70 < len(tables["events"]) / n < 140
    assert 8 < (tables["transactions"]["amount"] > 0).sum() / len(buyers) < 20
    assert 0.5 < len(buyers) / n < 0.85
    assert 0.3 < buyers["churned_at"].notna().mean() < 0.55


def _events_before(events: pd.DataFrame, ref: pd.Series, days_from: int, days_to: int) -> pd.Series:
    """Events per customer in [ref - days_from, ref - days_to); ref is indexed by customer_id."""
    rows = events[["customer_id", "ts"]].merge(ref.rename("ref"), left_on="customer_id", right_index=True)
    inside = (rows["ts"] >= rows["ref"] - days_from * DAYS) & (rows["ts"] < rows["ref"] - days_to * DAYS)
    return inside.groupby(rows["customer_id"]).sum().reindex(ref.index, fill_value=0)


def test_activity_fades_before_latent_churn(tables: dict[str, pd.DataFrame], buyers: pd.DataFrame) -> None:
    lo, hi = pd.Timestamp("2023-10-01", tz="UTC"), pd.Timestamp("2024-10-01", tz="UTC")
    tenure_ok = buyers["converted_at"] < buyers["churned_at"] - 150 * DAYS
    churners = buyers[buyers["churned_at"].between(lo, hi, inclusive="left") & tenure_ok]
    stayers = buyers[buyers["churned_at"].isna() & (buyers["converted_at"] < lo - 150 * DAYS)]
    assert len(churners) > 100
    assert len(stayers) > 100
    ref_dates = churners["churned_at"].to_numpy()
    ref = pd.concat(
        [
            pd.Series(ref_dates, index=churners["customer_id"]),
            pd.Series(ref_dates[np.arange(len(stayers)) % len(ref_dates)], index=stayers["customer_id"]),
        ]
    )
    last = _events_before(tables["events"], ref, 30, 0)
    earlier = _events_before(tables["events"], ref, 150, 120)
    churn_ids, stay_ids = churners["customer_id"], stayers["customer_id"]
    assert last[churn_ids].mean() < 0.6 * last[stay_ids].mean()
    churner_trend = last[churn_ids].mean() / earlier[churn_ids].mean()
    stayer_trend = last[stay_ids].mean() / earlier[stay_ids].mean()
    assert churner_trend < 0.9 < stayer_trend


def _label_churn(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Campaign rows with a complete 90-day window, their segment and the no-purchase label."""
    rows = tables["campaigns"].merge(tables["campaign_truth"], on=["customer_id", "campaign_id"])
    rows = rows[rows["ts"] + 90 * DAYS <= END].reset_index(drop=True)
    buys = tables["transactions"].query("amount > 0")[["customer_id", "ts"]]
    pairs = rows[["customer_id", "ts"]].reset_index().merge(buys, on="customer_id", suffixes=("", "_buy"))
    inside = (pairs["ts_buy"] >= pairs["ts"]) & (pairs["ts_buy"] < pairs["ts"] + 90 * DAYS)
    return rows.assign(churn=~rows.index.isin(pairs.loc[inside, "index"]))


def test_treatment_effect_depends_on_the_segment() -> None:
    # 12k customers (under a second) give ~500 targeted persuadables per arm: clear gaps.
    tables = generate_tables(12_000, seed=5)
    rows = _label_churn(tables)
    rate = rows.groupby(["segment", "treated"])["churn"].mean().unstack()
    assert rows.groupby(["segment", "treated"]).size().min() > 100
    # A contact wins persuadables back: their 90-day no-purchase rate falls by more than half.
    assert rate.loc["persuadable", True] < 0.5 * rate.loc["persuadable", False]
    # It drives recent complainers away and does nothing for lost causes and sure things.
    assert rate.loc["do_not_disturb", True] > rate.loc["do_not_disturb", False] + 0.1
    for segment in ("lost_cause", "sure_thing"):
        assert abs(rate.loc[segment, True] - rate.loc[segment, False]) < 0.06
    # Lost causes are the riskiest, sure things the safest: churn ranking alone picks the wrong rows.
    control = rate[False]
    assert control.idxmax() == "lost_cause" and control.idxmin() == "sure_thing"
    # Latent churn too: won-back customers do not churn for 8 weeks.
    won = rows.merge(tables["truth"][["customer_id", "churned_at"]], on="customer_id")
    won = won[(won["segment"] == "persuadable") & (won["ts"] + 56 * DAYS < END)]
    window = (won["churned_at"] > won["ts"]) & (won["churned_at"] <= won["ts"] + 56 * DAYS)
    latent = window.groupby(won["treated"]).mean()
    assert latent[True] < 0.75 * latent[False]


def test_short_span_keeps_the_invariants() -> None:
    start, end = "2024-03-01T12:00:00", "2024-03-20"
    tables = generate_tables(300, seed=1, start=start, end=end)
    lo, hi = pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC")
    assert tables["customers"]["created_at"].between(lo, hi, inclusive="left").all()
    for name in ("events", "transactions"):
        assert tables[name]["ts"].between(lo, hi, inclusive="left").all()
    assert len(tables["events"]) > 0
    assert tables["campaigns"].empty
    assert str(tables["campaigns"]["ts"].dtype) == TS


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_customers": 0}, "n_customers"),
        ({"n_customers": -5}, "n_customers"),
        ({"n_customers": 2.5}, "n_customers"),
        ({"seed": None}, "seed"),
        ({"start": "2024-01-01", "end": "2024-01-01"}, "after start"),
        ({"start": "2024-06-01", "end": "2024-01-01"}, "after start"),
        ({"start": "2024-01-01", "end": "2024-01-01T06:00"}, "at least one day"),
        ({"start": "not a date"}, "start"),
    ],
)
def test_bad_arguments_raise(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"n_customers": 10, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=message):
        generate_tables(**args)  # type: ignore[arg-type]
