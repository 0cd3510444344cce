"""Tests of targeting/uplift.py: campaign rows, T/X-learners, Qini and uplift at k, value at a budget.

- metrics on hand-made data with answers worked out by hand (best, reversed and random rankings);
- the learners on a simulated data set whose effect is known: they must put the rows with an
  effect on top, and their ranking must keep more true value than a churn-probability ranking;
- the campaign frame on hand-made tables (point in time, outcome window, complete windows only);
- end to end on 12,000 generated customers through validate and the feature build.

On generated data the contact's effect depends on the customer's state (synthetic.generate):
persuadables are won back, lost causes and sure things do not respond, recent complainers leave.
There the learned uplift x value ranking keeps more true value than churn probability x value at
every budget on the held-out campaigns (measured at 1.2-4.5x on this seed; asserted with a margin
of 1.1x), and the fitted model round-trips through the MLflow registry.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.project import END, START, make_config
from sklearn.metrics import roc_auc_score

from features.build import read_manifest
from targeting.uplift import (
    KEYS,
    TLearner,
    UpliftReport,
    XLearner,
    campaign_frame,
    evaluate_uplift_on_tables,
    load_features,
    load_uplift,
    observed_uplift,
    qini_coefficient,
    qini_curve,
    split_by_campaign,
    true_effect,
    true_gain,
    uplift_at_k,
    value_at_budget,
)

UTC = "UTC"


# ---------------------------------------------------------------------------------------------
# Metrics on hand-made data
# ---------------------------------------------------------------------------------------------


def _groups(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three groups of 100 treated + 100 control rows, shuffled; returns churn, treated, group.

    Churners (control / treated): A 50 / 10 (uplift 0.4), B 30 / 30 (0), C 20 / 40 (-0.2).
    """
    churn, treated, group = [], [], []
    for g, (c_control, c_treated) in enumerate([(50, 10), (30, 30), (20, 40)]):
        for arm, churners in ((False, c_control), (True, c_treated)):
            churn += [1] * churners + [0] * (100 - churners)
            treated += [arm] * 100
            group += [g] * 100
    order = rng.permutation(len(churn))
    return np.array(churn)[order], np.array(treated)[order], np.array(group)[order]


def test_qini_and_uplift_at_k_known_answers() -> None:
    churn, treated, group = _groups(np.random.default_rng(0))
    best, reversed_ = -group.astype(float), group.astype(float)  # A, B, C vs C, B, A
    # Best: after A, n_T = 100 and rates 0.5 - 0.1 -> 100 x 0.4 / 300 = 2/15; after A+B, 200 x
    # (80 - 40) / 200 / 300 = 2/15; all: 300 x (100 - 80) / 300 / 300 = 1/15.
    x, q = qini_curve(churn, treated, best)
    np.testing.assert_allclose(x, [0, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(q, [0, 2 / 15, 2 / 15, 1 / 15])
    # Area (1/3)(1/15 + 2/15 + 1.5/15) = 1/10, minus the random line's 1/30.
    assert qini_coefficient(churn, treated, best) == pytest.approx(1 / 15)
    # Reversed: -1/15, -1/15, 1/15 -> area -1/30 - 1/30.
    np.testing.assert_allclose(qini_curve(churn, treated, reversed_)[1], [0, -1 / 15, -1 / 15, 1 / 15])
    assert qini_coefficient(churn, treated, reversed_) == pytest.approx(-1 / 15)
    # A constant score is one tie group: exactly the random line.
    x, q = qini_curve(churn, treated, np.zeros(churn.size))
    np.testing.assert_allclose(q, [0, 1 / 15])
    assert qini_coefficient(churn, treated, np.zeros(churn.size)) == pytest.approx(0.0)
    # Uplift at a third: exactly group A (best) or C (reversed); random gets the overall 1/15.
    assert uplift_at_k(churn, treated, best, 1 / 3) == pytest.approx(0.4)
    assert uplift_at_k(churn, treated, reversed_, 1 / 3) == pytest.approx(-0.2)
    assert observed_uplift(churn, treated) == pytest.approx(1 / 15)
    assert uplift_at_k(churn, treated, best, 1.0) == pytest.approx(1 / 15)


def test_qini_of_random_scores_averages_zero() -> None:
    churn, treated, _ = _groups(np.random.default_rng(1))
    rng = np.random.default_rng(2)
    draws = [qini_coefficient(churn, treated, rng.random(churn.size)) for _ in range(200)]
    assert abs(np.mean(draws)) < 0.005  # vs +-1/15 for the best and reversed rankings


def test_qini_curve_does_not_depend_on_the_outcome_coding() -> None:
    """Churns prevented = retained customers gained: coding the outcome as retention flips the sign."""
    churn, treated, _ = _groups(np.random.default_rng(3))
    score = np.random.default_rng(4).random(churn.size)
    _, q_churn = qini_curve(churn, treated, score)
    _, q_retained = qini_curve(1 - churn, treated, score)
    np.testing.assert_allclose(q_churn, -q_retained, atol=1e-12)


def test_metrics_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="same length"):
        qini_curve([0, 1], [True, False], [0.1])
    with pytest.raises(ValueError, match="both treated and control"):
        qini_curve([0, 1], [True, True], [0.1, 0.2])
    with pytest.raises(ValueError, match="k must be"):
        uplift_at_k([0, 1], [True, False], [0.1, 0.2], 0.0)
    assert np.isnan(uplift_at_k([0, 1, 1], [True, True, False], [3, 2, 1], 0.5))  # top rows all treated


# ---------------------------------------------------------------------------------------------
# Learners on simulated data with a known effect
# ---------------------------------------------------------------------------------------------


def _simulate(n: int, seed: int, treated_share: float = 0.5) -> dict[str, np.ndarray]:
    """Risk from x1; only rows with x0 > 0 respond (churn probability cut by 60%); x2, x3 noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    treated = rng.random(n) < treated_share
    p_control = 1.0 / (1.0 + np.exp(-(-0.6 + 0.9 * x[:, 1])))
    effect = np.where(x[:, 0] > 0, 0.6 * p_control, 0.0)
    churn = (rng.random(n) < np.where(treated, p_control - effect, p_control)).astype(int)
    return {"x": x, "treated": treated, "churn": churn, "effect": effect, "p_control": p_control}


@pytest.mark.parametrize("learner", [TLearner, XLearner])
def test_learners_rank_the_responsive_rows_first(learner: type[TLearner] | type[XLearner]) -> None:
    train, test = _simulate(6000, seed=1), _simulate(4000, seed=2)
    model = learner(seed=7).fit(train["x"], train["treated"], train["churn"])
    uplift = model.predict(test["x"])
    assert roc_auc_score(test["effect"] > 0, uplift) > 0.8
    assert (
        roc_auc_score(test["churn"][~test["treated"]], model.churn_control(test["x"])[~test["treated"]]) > 0.7
    )
    qini = qini_coefficient(test["churn"], test["treated"], uplift)
    assert qini > 0.01
    assert qini > qini_coefficient(test["churn"], test["treated"], model.churn_control(test["x"]))
    assert uplift_at_k(test["churn"], test["treated"], uplift, 0.2) > observed_uplift(
        test["churn"], test["treated"]
    )


def test_x_learner_propensity() -> None:
    """Unbalanced arms (20% treated): the default propensity is the treated share, and it still ranks."""
    train, test = _simulate(8000, seed=3, treated_share=0.2), _simulate(4000, seed=4)
    model = XLearner(seed=7).fit(train["x"], train["treated"], train["churn"])
    assert model.e == pytest.approx(train["treated"].mean())
    assert roc_auc_score(test["effect"] > 0, model.predict(test["x"])) > 0.8
    with pytest.raises(ValueError, match="propensity"):
        XLearner(propensity=1.0).fit(train["x"], train["treated"], train["churn"])
    with pytest.raises(ValueError, match="both treated and control"):
        XLearner().fit(train["x"], np.ones(len(train["x"]), dtype=bool), train["churn"])


def test_uplift_ranking_keeps_more_value_when_the_effect_is_learnable() -> None:
    """Effect known exactly (gain = effect x value): uplift x value beats churn x value and random."""
    train, test = _simulate(6000, seed=5), _simulate(4000, seed=6)
    model = XLearner(seed=7).fit(train["x"], train["treated"], train["churn"])
    value = np.random.default_rng(7).lognormal(3.0, 0.5, len(test["x"]))
    rankings = {
        "uplift": model.predict(test["x"]) * value,
        "churn_probability": model.churn_control(test["x"]) * value,
    }
    table = value_at_budget(
        rankings, value, test["churn"], test["treated"], (0.1, 0.2, 0.3), test["effect"] * value
    )
    true = table.pivot(index="budget", columns="ranking", values="true_value")
    assert (true["uplift"] > 1.2 * true["churn_probability"]).all()
    assert (true["churn_probability"] > true["random"]).all()
    assert list(table.columns) == ["budget", "contacts", "ranking", "true_value", "estimated_value"]
    assert table.loc[table["budget"] == 0.2, "contacts"].eq(800).all()
    # Random gets its expectation: the budget share of the total.
    assert true["random"][0.2] == pytest.approx(0.2 * float(np.sum(test["effect"] * value)))
    with pytest.raises(ValueError, match="budget"):
        value_at_budget(rankings, value, test["churn"], test["treated"], (1.5,))


# ---------------------------------------------------------------------------------------------
# Campaign frame on hand-made tables
# ---------------------------------------------------------------------------------------------


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=UTC)


def test_campaign_frame_point_in_time_and_outcome() -> None:
    campaigns = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "ts": [_ts("2024-02-05 09:00")] * 4 + [_ts("2024-05-01 09:00")],
            "campaign_id": ["c1"] * 4 + ["c2"],
            "treated": [True, False, True, False, True],
            "cost": [1.0, 0.0, 1.0, 0.0, 1.0],
        }
    )
    transactions = pd.DataFrame(
        {
            "customer_id": ["a", "b", "b", "c", "d"],
            # a buys at the campaign time itself (counts); b only refunds, then buys exactly at
            # ts + 90 days (outside); c buys before the campaign only; d has no snapshot before it.
            "ts": [
                _ts("2024-02-05 09:00"),
                _ts("2024-02-10"),
                _ts("2024-05-05 09:00"),
                _ts("2024-01-20"),
                _ts("2024-02-20"),
            ],
            "amount": [10.0, -5.0, 20.0, 30.0, 40.0],
        }
    )
    snapshots = [_ts("2024-01-01"), _ts("2024-02-01"), _ts("2024-03-01")]
    features = pd.DataFrame(
        {
            "customer_id": ["a"] * 3 + ["b"] * 3 + ["c"] * 3 + ["d"] + ["e"] * 3,
            "event_timestamp": snapshots * 3 + [_ts("2024-03-01")] + snapshots,
            "spend_365d": [1.0, 2.0, 3.0] * 3 + [9.0] + [1.0, 2.0, 3.0],
            "plan": ["basic"] * 13,
        }
    )
    end = _ts("2024-06-01")  # c2 (2024-05-01) has no complete 90-day window
    frame = campaign_frame(campaigns, transactions, features, end, 90)
    assert frame["customer_id"].tolist() == ["a", "b", "c"]
    assert (frame["snapshot"] == _ts("2024-02-01")).all()  # not the 2024-03-01 snapshot after it
    assert frame["spend_365d"].tolist() == [2.0, 2.0, 2.0]
    assert frame["churn"].tolist() == [0, 1, 1]
    assert frame["treated"].tolist() == [True, False, True]
    assert set(frame.columns) == {*KEYS, "spend_365d", "plan"}


def test_split_by_campaign_is_out_of_time_with_a_gap() -> None:
    starts = {"k1": "2024-01-01", "k2": "2024-03-01", "k3": "2024-05-01", "k4": "2024-08-01"}
    frame = pd.DataFrame(
        {"campaign_id": list(starts), "ts": [_ts(t) for t in starts.values()], "customer_id": list("wxyz")}
    )
    train, test = split_by_campaign(frame, test_campaigns=1, window_days=90)
    assert test["campaign_id"].tolist() == ["k4"]
    # k3's window (to 2024-07-30) closes before k4 starts; k2's too.
    assert train["campaign_id"].tolist() == ["k1", "k2", "k3"]
    train, test = split_by_campaign(frame, test_campaigns=2, window_days=90)
    assert test["campaign_id"].tolist() == ["k3", "k4"]
    assert train["campaign_id"].tolist() == ["k1"]  # k2's window ends 2024-05-30, after k3 started
    with pytest.raises(ValueError, match="campaigns"):
        split_by_campaign(frame, test_campaigns=4, window_days=90)


# ---------------------------------------------------------------------------------------------
# End to end on generated data
# ---------------------------------------------------------------------------------------------

N_GENERATED = 12_000


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, pd.DataFrame]]:
    """12,000 generated customers through validate and the feature build: clean dir, features, tables."""
    from core.config import load_settings
    from core.io import write_tables
    from pipelines.steps import build, validate_data
    from synthetic.generate import generate_tables

    settings = load_settings(make_config(tmp_path_factory.mktemp("uplift")))
    tables = generate_tables(N_GENERATED, seed=11, start=START, end=END)
    write_tables(tables, settings.paths.data)
    validate_data(settings, pd.Timestamp(END, tz=UTC))
    build(settings)
    return settings.paths.clean, settings.paths.features, tables


def test_campaign_frame_on_generated_data(generated: tuple[Path, Path, dict[str, pd.DataFrame]]) -> None:
    _, features_dir, tables = generated
    campaigns, transactions = tables["campaigns"], tables["transactions"]
    manifest = read_manifest(features_dir)
    features = load_features(features_dir, campaigns["customer_id"].unique().tolist())
    frame = campaign_frame(campaigns, transactions, features, manifest.end, 90)
    complete = campaigns[campaigns["ts"] + pd.Timedelta(days=90) <= manifest.end]
    # Dropped only: rows before the first snapshot (the first campaign) and customers with none yet.
    after_first = complete[complete["ts"] >= manifest.snapshots[0]]
    assert len(complete) > len(after_first) and len(frame) > 0.99 * len(after_first)
    assert (frame["ts"] + pd.Timedelta(days=90) <= manifest.end).all()
    # Point in time: the newest snapshot at or before the campaign.
    grid = pd.DatetimeIndex(manifest.snapshots)
    newest = grid[grid.searchsorted(pd.DatetimeIndex(frame["ts"]), side="right") - 1]
    assert (pd.DatetimeIndex(frame["snapshot"]) == newest).all()
    # Outcome against a direct count of purchases in [ts, ts + 90 days).
    buys = transactions[transactions["amount"] > 0]
    pairs = frame[["customer_id", "ts"]].reset_index().merge(buys, on="customer_id", suffixes=("", "_buy"))
    inside = (pairs["ts_buy"] >= pairs["ts"]) & (pairs["ts_buy"] < pairs["ts"] + pd.Timedelta(days=90))
    bought = pairs.loc[inside, "index"].unique()
    expected = np.ones(len(frame), dtype=np.int64)
    expected[bought] = 0
    np.testing.assert_array_equal(frame["churn"].to_numpy(), expected)


def test_true_effect_and_gain_follow_the_generator() -> None:
    """r x q for a win-back response, r x (1 - q) for a driven-away one; gain only on control rows."""
    np.testing.assert_allclose(true_effect([0.6, 0.0, -0.4], [0.5, 0.9, 0.25]), [0.3, 0.0, -0.3])
    gain = true_gain(
        [0.6, 0.6, -0.4, -0.4], [1, 1, 0, 1], [10.0, 10.0, 10.0, 10.0], [True, False, False, True]
    )
    np.testing.assert_allclose(gain, [0.0, 0.6 * 10 / 0.5, -0.4 * 10 / 0.5, 0.0])
    with pytest.raises(ValueError, match="control"):
        true_gain([0.1], [1], [1.0], [True])


@pytest.fixture(scope="module")
def report(generated: tuple[Path, Path, dict[str, pd.DataFrame]]) -> UpliftReport:
    clean, features_dir, tables = generated
    return evaluate_uplift_on_tables(clean, features_dir, tables["campaign_truth"], window_days=90)


def test_uplift_evaluation_on_generated_data(report: UpliftReport) -> None:
    assert report.test_campaigns == ["retention-2024-06-02", "retention-2024-09-01"]
    assert len(report.train_campaigns) == 4  # the first (2023-03-05) is before the first snapshot
    assert report.n_test == len(report.scores) > 2000
    assert report.churn_auc > 0.7  # the churn ranking is a real baseline, not a straw man
    ranks = report.rankings.set_index("ranking")
    assert list(ranks.index) == ["x_learner", "t_learner", "churn_probability", "true_uplift", "random"]
    assert list(ranks.columns) == ["qini", "uplift_at_10", "uplift_at_20", "uplift_at_30"]
    assert np.isfinite(ranks.to_numpy()).all()
    assert ranks.loc["random", "qini"] == 0.0
    assert ranks.loc["true_uplift", "qini"] > ranks.loc["churn_probability", "qini"]
    true = report.value.pivot(index="budget", columns="ranking", values="true_value")
    # At budgets of 10%, 20% and 30% of the held-out campaign rows, ranking by the learned uplift x
    # value keeps more true value than churn probability x value, which keeps more than random; the
    # generator's own response (at mu0's risk) keeps the most.
    for budget in (0.1, 0.2, 0.3):
        assert true["x_learner"][budget] > 1.1 * true["churn_probability"][budget]
        assert true["t_learner"][budget] > 1.1 * true["churn_probability"][budget]
        assert true["true_uplift"][budget] > 1.3 * max(true["x_learner"][budget], true["t_learner"][budget])
        assert true["churn_probability"][budget] > true["random"][budget]


def test_the_learner_is_chosen_and_scores_feature_frames(
    generated: tuple[Path, Path, dict[str, pd.DataFrame]], report: UpliftReport
) -> None:
    assert report.model.name == "x_learner"
    test = report.scores
    clean, features_dir, _ = generated
    with pytest.raises(ValueError, match="unknown uplift learner"):
        evaluate_uplift_on_tables(clean, features_dir, learner="s_learner", window_days=90)
    features = load_features(features_dir, test["customer_id"].head(50).tolist())
    uplift = report.model.predict(features)
    assert uplift.shape == (len(features),) and np.isfinite(uplift).all()
    assert np.ptp(uplift) > 0.01  # not a constant


def test_uplift_model_round_trips_through_the_registry(tmp_path: Path, report: UpliftReport) -> None:
    from core.config import load_settings
    from targeting.uplift_model import log_uplift
    from training.registry import tracked_run

    settings = load_settings(make_config(tmp_path))
    assert load_uplift(settings) is None  # nothing registered yet
    with tracked_run(settings, "uplift") as client:
        first = log_uplift(client, report, {"task": "uplift"})
    with tracked_run(settings, "uplift") as client:
        second = log_uplift(client, report, {"task": "uplift"})
    assert (first.version, first.champion, second.version, second.champion) == ("1", True, "2", False)
    loaded = load_uplift(settings)
    assert loaded is not None
    frame = pd.DataFrame(
        np.zeros((3, len(report.model.inputs.features))), columns=report.model.inputs.features
    )
    np.testing.assert_allclose(loaded.predict(frame), report.model.predict(frame))
