"""Tests of the churn baselines, grades, plots, the model card and tuning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.config import Training
from serving.artifact import ModelInputs
from training.baselines import (
    RecencyRule,
    best_recency_rule,
    flag_metrics,
    logistic_scores,
    top_flags,
)
from training.grade import churn_grade, stage_grade


def test_best_recency_rule_finds_the_threshold_that_separates_churners():
    rng = np.random.default_rng(0)
    days = rng.uniform(0, 400, 5000)
    y = (days >= 120).astype(np.int64)
    y[rng.random(5000) < 0.05] ^= 1  # 5% label noise
    rule = best_recency_rule(days, y)
    assert 110 <= rule.days <= 130
    assert flag_metrics(y, rule.flags(days))["f1"] > 0.9


def test_recency_rule_flags_customers_who_never_bought():
    assert RecencyRule(30).flags(np.array([10.0, 30.0, np.nan])).tolist() == [0, 1, 1]


def test_top_flags_match_the_rules_volume():
    flags = top_flags(np.array([0.1, 0.9, 0.5, 0.7]), 2)
    assert flags.tolist() == [0, 1, 0, 1]


def test_logistic_baseline_learns_a_signal_with_categories_and_missing_values():
    rng = np.random.default_rng(1)
    n = 4000
    frame = pd.DataFrame(
        {
            "days_since_last_purchase": rng.uniform(0, 300, n),
            "plan": rng.choice(["basic", "pro", None], n),
            "empty": np.full(n, np.nan),  # all missing: kept, not a crash
        }
    )
    y = (frame["days_since_last_purchase"] + rng.normal(0, 40, n) > 150).to_numpy(dtype=np.int64)
    inputs = ModelInputs.fit(frame, "svc", list(frame.columns), ["plan"])
    p = logistic_scores(frame[:3000], y[:3000], frame[3000:], inputs, seed=0)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y[3000:], p) > 0.9


@pytest.mark.parametrize(
    ("model", "baselines", "ece", "letter"),
    [
        (0.85, (0.70, 0.80), 0.02, "A"),
        (0.85, (0.70, 0.80), 0.08, "B"),  # enough gain, but not calibrated
        (0.81, (0.70, 0.80), 0.02, "B"),
        (0.78, (0.70, 0.80), 0.02, "C"),
    ],
)
def test_churn_grade_against_the_best_baseline(model, baselines, ece, letter):
    metrics = {
        "roc_auc": model,
        "ece": ece,
        "baseline_recency_roc_auc": baselines[0],
        "baseline_logistic_roc_auc": baselines[1],
    }
    grade = churn_grade(metrics)
    assert grade.letter == letter
    assert grade.baseline == "logistic regression"
    assert grade.gain == pytest.approx(model - 0.80)


def test_stage_grade_and_a_missing_baseline():
    assert stage_grade({"macro_f1": 0.8, "baseline_markov_macro_f1": 0.74}).letter == "A"
    assert stage_grade({"macro_f1": 0.76, "baseline_markov_macro_f1": 0.74}).letter == "B"
    assert stage_grade({"macro_f1": 0.7, "baseline_stay_macro_f1": 0.74}).letter == "C"
    with pytest.raises(ValueError, match="no baseline"):
        stage_grade({"macro_f1": 0.7})


def test_plots_draw_every_curve():
    from training import plots

    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 500)
    p = np.clip(y * 0.3 + rng.uniform(0, 0.7, 500), 0, 1)
    scores = {"model": p, "recency": np.where(y == 1, np.nan, rng.uniform(0, 9, 500))}
    for fig in (plots.roc_figure(y, scores), plots.pr_figure(y, scores), plots.lift_figure(y, scores)):
        assert len(fig.axes[0].lines) == 3  # two scores and the reference line
    table = plots.reliability(y, p)
    assert table["rows"].sum() == 500
    assert ((table["predicted"] >= 0) & (table["predicted"] <= 1)).all()
    confusion = plots.confusion_figure(np.array([[5, 1], [2, 7]]), ["a", "b"])
    assert [t.get_text() for t in confusion.axes[0].texts] == ["5", "1", "2", "7"]


def test_model_card_holds_grade_metrics_baselines_and_lineage():
    from training.card import model_card

    metrics = {"roc_auc": 0.85, "ece": 0.02, "baseline_recency_roc_auc": 0.7}
    grade = churn_grade(metrics)
    importance = pd.Series({"days_since_last_purchase": 0.5, "spend_90d": 0.2})
    card = model_card(
        "churn",
        "churn",
        "3",
        metrics,
        grade,
        {"source": "online_retail"},
        {"train": 10},
        importance,
        {"a": 1},
    )
    assert "version 3" in card and "Grade A" in card
    assert "| roc_auc | 0.8500 |" in card and "| recency_roc_auc | 0.7000 |" in card
    assert "| source | online_retail |" in card and "1. `days_since_last_purchase`" in card


@pytest.fixture
def scratch_tracking(settings):
    """A throwaway MLflow store in the test's own workdir, the fluent API pointed at it for the test."""
    from core.registry import tracking

    settings.paths.workdir.mkdir(parents=True)
    with tracking(settings) as client:
        yield client


@pytest.mark.parametrize("learning_rate", [0.0001, 0.1])
def test_tuning_reports_progress_and_keeps_the_configured_parameters_unless_beaten(
    scratch_tracking, learning_rate
):
    import mlflow

    from training.tune import tune

    rng = np.random.default_rng(3)
    x = rng.normal(size=(600, 3))
    y = (x[:, 0] + rng.normal(0, 0.5, 600) > 0).astype(np.int64)
    inputs = ModelInputs("svc", ("a", "b", "c"))
    lightgbm = {"num_threads": 1, "learning_rate": learning_rate, "num_leaves": 7, "min_data_in_leaf": 20}
    cfg = Training(num_boost_round=20, early_stopping_rounds=5, lightgbm=lightgbm)
    seen: list[tuple[int, int, float]] = []
    with mlflow.start_run() as parent:
        tuned = tune(inputs, (x[:400], y[:400]), (x[400:], y[400:]), cfg, 2, 3, lambda *a: seen.append(a))
    runs = mlflow.search_runs(filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert len(runs) == 4 and runs["metrics.valid_log_loss"].notna().all()  # configured + 3 trials
    assert [(n, total) for n, total, _ in seen] == [(1, 3), (2, 3), (3, 3)]
    losses = runs.set_index("tags.mlflow.runName")["metrics.valid_log_loss"]
    assert seen[-1][2] == pytest.approx(losses.min())  # best so far includes the configured fit
    assert tuned.default_loss == pytest.approx(losses["configured"])
    if tuned.improved:  # a learning rate of 1e-4 barely moves in 20 rounds: any trial beats it
        assert tuned.loss < tuned.default_loss and {"learning_rate", "num_leaves"} <= set(tuned.params)
    else:
        assert tuned.loss == tuned.default_loss and "kept" in tuned.describe()
    assert tuned.improved == (learning_rate == 0.0001)
    with pytest.raises(ValueError, match="at least one trial"):
        tune(inputs, (x, y), (x, y), cfg, 2, trials=0)
