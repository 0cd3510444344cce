"""Behavioural tests of the trained churn champion, scored the way the service scores.

CheckList-style tests (directional expectation, invariance, minimum functionality) on top of the
aggregate metrics of test_training.py. The champion is loaded from the MLflow registry through
serving.models.load_champion and scored by serving.scoring.Scorer, so the probabilities tested are
the calibrated ones the HTTP service and the batch lists return.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.project import END, START, Trained, make_config

from core.config import Settings, load_settings
from core.io import write_tables
from core.schema import CHURN_MODEL, STAGE_MODEL
from features.build import TIMESTAMP, feature_path, read_manifest, stages_path
from features.catalog import FAMILIES
from features.store import apply_definitions, open_store
from pipelines.steps import build, validate_data
from serving.models import load_champion
from serving.scoring import Scorer
from synthetic.generate import generate_tables
from training.dataset import label_frame, task_split, training_set

RECENCY = "days_since_last_purchase"
# Every whole day up to 120 (the active buyers the model learnt from all bought within the churn
# definition of 90 days, so its thresholds on the feature lie there), then every 10 days to 2 years.
GRID = np.unique(np.concatenate([np.arange(0, 121), np.arange(120, 721, 10)])).astype(np.float64)
TOLERANCE = 1e-12


@pytest.fixture(scope="module")
def scorer(trained: Trained) -> Scorer:
    """Both champions as the service loads them (models:/<name>@champion), with the calibration."""
    settings = trained.settings
    return Scorer(load_champion(CHURN_MODEL, settings), load_champion(STAGE_MODEL, settings), settings)


@pytest.fixture(scope="module")
def held_out(trained: Trained) -> pd.DataFrame:
    """The churn task's out-of-time test rows, joined point-in-time by Feast as training joins them.

    These are the rows the churn model is meant for: active buyers (stage purchase, retention or
    advocacy) at the test cutoffs, with every feature of both models' feature services.
    """
    settings = trained.settings
    labels = label_frame(settings.paths.clean, settings, "churn", task_split(settings, "churn"))
    store = open_store(settings)
    apply_definitions(store, settings)
    rows = training_set(store, labels[labels["split"] == "test"], "churn_v1")
    assert len(rows) > 500, "too few held-out rows for behavioural tests"
    return rows.reset_index(drop=True)


def _raw_churn(scorer: Scorer, frame: pd.DataFrame) -> np.ndarray:
    """The booster's uncalibrated probability (to tell a booster fault from a calibration fault)."""
    booster = scorer.churn.booster
    x = scorer.churn.inputs.matrix(frame)
    return np.asarray(booster.predict(x, num_iteration=booster.best_iteration))


# --- directional expectation ----------------------------------------------------------------------


def test_more_days_since_the_last_purchase_never_lowers_the_churn_probability(
    scorer: Scorer, held_out: pd.DataFrame
) -> None:
    """Sweep days_since_last_purchase over GRID for every held-out row, all other features fixed.

    configs/journey.yaml training.churn_monotone gives the booster a +1 monotone constraint on the
    feature, and the calibration is increasing: the served probability must be too.
    """
    assert scorer.settings.training.churn_monotone.get(RECENCY) == 1
    n, k = len(held_out), len(GRID)
    swept = held_out.loc[held_out.index.repeat(k)].reset_index(drop=True)
    swept[RECENCY] = np.tile(GRID, n)

    calibrated = scorer.predict(swept).churn.reshape(n, k)
    raw = _raw_churn(scorer, swept).reshape(n, k)

    for name, p in (("booster (uncalibrated)", raw), ("calibrated", calibrated)):
        steps = np.diff(p, axis=1)
        row, col = (int(i) for i in np.unravel_index(np.argmin(steps), steps.shape))
        assert steps.min() >= -TOLERANCE, (
            f"{name} churn probability falls from {p[row, col]:.6f} to {p[row, col + 1]:.6f} when "
            f"{RECENCY} goes from {GRID[col]:g} to {GRID[col + 1]:g} "
            f"(row {held_out.iloc[row][['customer_id', TIMESTAMP]].to_dict()})"
        )

    # Not vacuous: the feature does move the score. The probability rises from 0 to 720 days for
    # almost every row, calibrated too (the calibration map is strictly increasing: no ties).
    raw_rises = float(np.mean(raw[:, -1] > raw[:, 0]))
    calibrated_rises = float(np.mean(calibrated[:, -1] > calibrated[:, 0]))
    mean_rise = float(np.mean(calibrated[:, -1] - calibrated[:, 0]))
    assert raw_rises > 0.9, f"the booster's probability rises for only {raw_rises:.0%} of rows"
    assert calibrated_rises == raw_rises, "calibration must keep every rise of the raw score"
    assert mean_rise > 0.01, f"the calibrated probability rises by only {mean_rise:.4f} on average"


# --- invariance -----------------------------------------------------------------------------------


def _padded(cid: str) -> str:
    return f"C-{int(cid[1:]):06d}"


def _uuid(cid: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"journey-test/{cid}"))


def test_scores_do_not_depend_on_the_ids_attached(scorer: Scorer, held_out: pd.DataFrame) -> None:
    """Scorer.scores on the same feature rows under other ids: everything but the id is identical."""
    rows = held_out.sample(200, random_state=5).reset_index(drop=True)
    original = rows["customer_id"].astype(str).tolist()
    variants = {
        "original": original,
        "someone else's": original[::-1],
        "zero-padded": [_padded(c) for c in original],
        "uuid": [_uuid(c) for c in original],
        "digits": [str(int(c[1:])) for c in original],
    }
    known = [True] * len(rows)
    as_of = rows[TIMESTAMP].tolist()

    def scored(ids: list[str]) -> list[dict[str, object]]:
        records = scorer.scores(ids, rows, known, as_of, explain=3)
        assert [r.customer_id for r in records] == ids
        assert all(r.status == "ok" for r in records)
        return [r.model_dump(exclude={"customer_id"}) for r in records]

    expected = scored(original)
    for name, ids in variants.items():
        assert scored(ids) == expected, f"scores change with {name} ids"


N_SMALL = 300
ID_FORMATS: dict[str, Callable[[pd.Series], pd.Series]] = {
    # "C0000123" -> "C-000123": another prefix and padding, same order
    "zero-padded": lambda ids: ids.map(_padded),
    # UUID-like strings: another length, and the customers sort in another order
    "uuid": lambda ids: ids.map(_uuid),
    # plain integers (an int64 column, as a database key arrives): "10" sorts before "9" as text
    "integer": lambda ids: ids.str[1:].astype("int64"),
}


def _build(folder: Path, tables: dict[str, pd.DataFrame]) -> tuple[Settings, dict[str, object]]:
    """validate and build as the `trained` fixture does (no Feast, no training: not needed here)."""
    settings = load_settings(make_config(folder))
    write_tables(tables, settings.paths.data)
    report = validate_data(settings, pd.Timestamp(END, tz="UTC"))
    build(settings)
    return settings, report.to_dict()


def _outputs(settings: Settings, back: dict[str, str] | None = None) -> dict[str, pd.DataFrame]:
    """Every feature table and the stage table, ids mapped back to the original ones, sorted."""
    features = settings.paths.features
    frames: dict[str, pd.DataFrame] = {fam: pd.read_parquet(feature_path(features, fam)) for fam in FAMILIES}
    frames["stages"] = pd.read_parquet(stages_path(features))
    out: dict[str, pd.DataFrame] = {}
    for name, frame in frames.items():
        if back is not None:
            mapped = frame["customer_id"].map(back)
            assert mapped.notna().all(), f"{name}: ids that are not one of the rewritten ids"
            frame = frame.assign(customer_id=mapped)
        time_col = TIMESTAMP if TIMESTAMP in frame.columns else "as_of"
        out[name] = frame.sort_values(["customer_id", time_col], ignore_index=True)
    return out


@pytest.fixture(scope="module")
def small_world(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, pd.DataFrame], dict[str, object], dict[str, pd.DataFrame], list[pd.Timestamp]]:
    """A few hundred generated customers built once with the generator's own ids ("C0000123")."""
    tables = generate_tables(N_SMALL, seed=23, start=START, end=END)
    settings, report = _build(tmp_path_factory.mktemp("ids_original"), tables)
    return tables, report, _outputs(settings), read_manifest(settings.paths.features).snapshots


@pytest.mark.parametrize("id_format", list(ID_FORMATS))
def test_features_do_not_depend_on_the_id_format(
    small_world: tuple[
        dict[str, pd.DataFrame], dict[str, object], dict[str, pd.DataFrame], list[pd.Timestamp]
    ],
    id_format: str,
    tmp_path: Path,
) -> None:
    """The same data under ids of another format, rewritten consistently in every table, gives the
    same validation report counts, snapshot grid, stages and feature values per customer."""
    tables, report, expected, snapshots = small_world
    original = tables["customers"]["customer_id"]
    rewritten = ID_FORMATS[id_format](original)
    assert rewritten.nunique() == len(original)
    forward = dict(zip(original, rewritten, strict=True))
    renamed = {
        name: frame.assign(customer_id=frame["customer_id"].map(forward)) for name, frame in tables.items()
    }
    for name, frame in renamed.items():
        assert frame["customer_id"].notna().all(), f"{name} has ids unknown to the customers table"

    settings, new_report = _build(tmp_path, renamed)
    assert read_manifest(settings.paths.features).snapshots == snapshots
    for key in ("rows_in", "rows_out", "drops"):
        assert new_report[key] == report[key], f"validation {key} differ"

    back = {str(new): old for old, new in forward.items()}
    got = _outputs(settings, back)
    assert got.keys() == expected.keys()
    for name, frame in expected.items():
        assert len(frame) > 0
        # Text, timestamps and counts must match exactly. Float sums (spend, gaps) get 1e-9: two
        # builds of the very same tables already differ in the last bits of a few transactional
        # aggregates (DuckDB adds floats in a thread-dependent order), whatever the ids.
        pd.testing.assert_frame_equal(
            got[name][frame.columns], frame, check_exact=False, rtol=1e-9, atol=1e-9, obj=name
        )


# --- minimum functionality ------------------------------------------------------------------------

EVENT_COUNTS = [
    *(f"{fam}_{w}d" for fam in ("events", "visit", "product_view", "login") for w in (7, 30, 90)),
    *(f"{fam}_{w}d" for fam in ("cart", "checkout", "email_open", "email_click") for w in (30, 90)),
    *(f"{fam}_{w}d" for fam in ("support_contact", "complaint") for w in (30, 90)),
]
ACTIVITY_RECENCIES = [
    "days_since_last_event",
    "days_since_last_visit",
    "days_since_last_product_view",
    "days_since_last_cart",
    "days_since_last_email_open",
]


def obvious_churners(rows: pd.DataFrame) -> pd.DataFrame:
    """Copies of real rows turned into customers who have obviously left.

    Demographics, tenure, purchases_total, spend_total, avg_order_value and the purchase rhythm
    (gap mean/std) stay as they were; the rest is set to what the feature pipeline writes for a
    customer whose last purchase was 400 days ago and whose last activity of any kind was at least
    200 days ago (values checked against real `churned` rows of the generated data):
    - no purchase, spend, refund or category in the last 30/90/365 days; 400 days since the last
      purchase (first purchase at least that long ago); overdue ratio 400 / usual gap;
    - every event count 0, no active day, no review or referral; every activity recency at least
      200 days (a recency that was missing, i.e. never happened, stays missing);
    - the pipeline's values for "nothing in either window": spend_trend and event_trend 1.0, refund
      rate, discount share, e-mail click rate and average review missing;
    - current stage `churned` (stages.yaml: bought before, nothing in 90 days) for 310 days: the
      stage a real customer like this has, which the churn model never saw (it scores as missing).
    """
    r = rows.copy()
    r[EVENT_COUNTS] = 0.0
    zero = ["active_days_30d", "active_days_90d", "reviews_365d", "referrals_365d"]
    zero += ["purchases_30d", "purchases_90d", "purchases_365d", "spend_90d", "spend_365d"]
    zero += ["refunds_365d", "categories_365d"]
    r[zero] = 0.0
    r[["refund_rate_365d", "discount_share_365d", "email_click_rate_90d", "avg_review_365d"]] = np.nan
    r[["spend_trend", "event_trend"]] = 1.0
    r[RECENCY] = 400.0
    r["days_since_first_purchase"] = r["days_since_first_purchase"].clip(lower=400.0)
    r["overdue_ratio"] = 400.0 / r["gap_mean_days"]
    r["days_since_last_event"] = r["days_since_last_event"].fillna(0.0).clip(lower=200.0)
    for col in [*ACTIVITY_RECENCIES[1:], "days_since_last_support_contact", "days_since_last_complaint"]:
        r[col] = r[col].clip(lower=200.0)  # NaN (never) stays NaN
    r["current_stage"] = "churned"
    r["days_in_stage"] = 310.0
    return r


def obvious_loyals(rows: pd.DataFrame) -> pd.DataFrame:
    """Copies of the same real rows turned into obviously loyal, engaged customers.

    Demographics and tenure stay; the customer bought 2 days ago and buys about every 5 days
    (6 purchases in 30 days, 18 in 90, 70 in 365, at least 80 in all, at the row's own average
    order value, steady spend), was active yesterday on 25 of the last 30 days (15 events a week:
    visits, product views, logins, carts, checkouts matching the purchases, e-mail opens and
    clicks), has no support contact or complaint in 90 days, writes 5-star reviews, refers friends
    and is in the `advocacy` stage.
    """
    r = rows.copy()
    aov = r["avg_order_value"]
    counts = {
        "events_7d": 15, "events_30d": 60, "events_90d": 180,
        "visit_7d": 4, "visit_30d": 15, "visit_90d": 45,
        "product_view_7d": 5, "product_view_30d": 20, "product_view_90d": 60,
        "login_7d": 3, "login_30d": 10, "login_90d": 30,
        "cart_30d": 6, "cart_90d": 18, "checkout_30d": 6, "checkout_90d": 18,
        "email_open_30d": 4, "email_open_90d": 12, "email_click_30d": 2, "email_click_90d": 6,
        "support_contact_30d": 0, "support_contact_90d": 0, "complaint_30d": 0, "complaint_90d": 0,
    }  # fmt: skip
    assert set(counts) == set(EVENT_COUNTS)
    for col, value in counts.items():
        r[col] = float(value)
    r[ACTIVITY_RECENCIES] = 1.0
    r["days_since_last_support_contact"] = r["days_since_last_support_contact"].clip(lower=120.0)
    r["days_since_last_complaint"] = r["days_since_last_complaint"].clip(lower=120.0)
    r["active_days_30d"], r["active_days_90d"] = 25.0, 70.0
    r["event_trend"], r["email_click_rate_90d"] = 1.0, 0.5
    r["reviews_365d"], r["avg_review_365d"], r["referrals_365d"] = 3.0, 5.0, 2.0
    r["purchases_30d"], r["purchases_90d"], r["purchases_365d"] = 6.0, 18.0, 70.0
    r["purchases_total"] = r["purchases_total"].clip(lower=80.0)
    r[RECENCY] = 2.0
    r["days_since_first_purchase"] = r["days_since_first_purchase"].clip(lower=400.0)
    r["spend_90d"], r["spend_365d"] = 18.0 * aov, 70.0 * aov
    r["spend_total"] = np.maximum(r["spend_total"], r["purchases_total"] * aov)
    r["gap_mean_days"], r["gap_std_days"], r["overdue_ratio"] = 5.0, 2.0, 0.4
    r["spend_trend"], r["refunds_365d"], r["refund_rate_365d"] = 1.0, 0.0, 0.0
    r["categories_365d"] = r["categories_365d"].clip(lower=3.0)
    r["current_stage"] = "advocacy"
    return r


def test_obvious_churners_score_above_obvious_loyal_customers(scorer: Scorer, held_out: pd.DataFrame) -> None:
    base = held_out.sample(100, random_state=17).reset_index(drop=True)
    churners = scorer.predict(obvious_churners(base)).churn
    loyals = scorer.predict(obvious_loyals(base)).churn
    tiers = scorer.settings.serving.risk_tiers
    assert churners.min() > loyals.max(), (
        f"an obvious churner scores {churners.min():.4f}, an obvious loyal customer {loyals.max():.4f}"
    )
    assert churners.min() >= tiers.high, f"obvious churner not in the high tier: {churners.min():.4f}"
    assert loyals.max() < tiers.medium, f"obvious loyal customer not in the low tier: {loyals.max():.4f}"
