"""Tests of the metric helpers."""

from __future__ import annotations

import numpy as np
import pytest

from training.evaluate import SingleClassError, churn_metrics, recency_rule_auc, stage_metrics


def test_churn_metrics_of_a_perfect_and_a_useless_score():
    y = np.array([0, 0, 1, 1])
    assert churn_metrics(y, np.array([0.1, 0.2, 0.8, 0.9]))["roc_auc"] == 1.0
    assert churn_metrics(y, np.array([0.5, 0.5, 0.5, 0.5]))["roc_auc"] == 0.5
    assert churn_metrics(y, np.array([0.0, 0.0, 1.0, 1.0]))["brier"] == 0.0


def test_one_class_is_a_clear_error():
    with pytest.raises(SingleClassError, match="only one class"):
        churn_metrics(np.zeros(5, dtype=int), np.linspace(0, 1, 5))


def test_recency_rule_treats_never_bought_as_most_at_risk():
    y = np.array([0, 1, 1])
    assert recency_rule_auc(y, np.array([5.0, 50.0, np.nan])) == 1.0


def test_stage_metrics():
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    m = stage_metrics(np.array([0, 1, 1]), proba)
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert 0 < m["macro_f1"] < 1


def test_markov_baseline_takes_the_most_frequent_transition():
    from training.evaluate import label_metrics, transition_matrix

    current = np.array([0, 0, 0, 1, 1, 2])
    nxt = np.array([1, 1, 0, 1, 2, 2])
    pred = transition_matrix(current, nxt, n=4).argmax(axis=1)
    assert pred[0] == 1 and pred[2] == 2
    assert pred[3] == 3  # never seen as a current stage: stays
    assert pred[1] in (1, 2)
    assert label_metrics(np.array([1, 2]), np.array([1, 2])) == {"accuracy": 1.0, "macro_f1": 1.0}


def test_top_decile_lift_and_capture():
    from training.evaluate import top_decile

    y = np.array([1] * 10 + [0] * 90)
    perfect = np.arange(100, 0, -1, dtype=float)  # the 10 churners score highest
    assert top_decile(y, perfect) == (pytest.approx(10.0), pytest.approx(1.0))
    backwards = -perfect
    assert top_decile(y, backwards) == (0.0, 0.0)


def test_churn_metrics_report_calibration_and_log_loss():
    y = np.array([0, 1] * 50)
    good = np.where(y == 1, 0.9, 0.1)
    bad = np.where(y == 1, 0.6, 0.4)
    assert churn_metrics(y, good)["log_loss"] < churn_metrics(y, bad)["log_loss"]
    constant = np.full(100, 0.5)
    assert churn_metrics(y, constant)["ece"] == pytest.approx(0.0)
    assert churn_metrics(y, np.full(100, 0.9))["ece"] == pytest.approx(0.4)


def test_stage_metrics_per_stage_recall_and_reliability():
    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]])
    m = stage_metrics(y, proba, ("awareness", "consideration"))
    assert m["recall_awareness"] == 0.5 and m["recall_consideration"] == 1.0
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.8, 0.7])))
    assert 0 <= m["top_label_ece"] <= 1


def test_transition_matrix_rows_are_distributions():
    from training.evaluate import transition_matrix

    m = transition_matrix(np.array([0, 0, 0, 1]), np.array([0, 1, 1, 2]), 3)
    assert m[0].tolist() == pytest.approx([1 / 3, 2 / 3, 0])
    assert m[1].tolist() == [0, 0, 1]
    assert m[2].tolist() == [0, 0, 1]  # never seen as current: stays


def test_conversion_auc_counts_only_rows_before_the_funnel_step():
    from training.evaluate import conversion_auc

    current = np.array([0, 0, 1, 1, 2])
    y = np.array([2, 0, 5, 3, 2])  # converted, stayed, churned (not a conversion), converted, (excluded)
    score = np.array([0.9, 0.1, 0.2, 0.8, 0.0])
    assert conversion_auc(y, score, current, [0, 1], [2, 3, 4]) == 1.0
    assert conversion_auc(y, 1 - score, current, [0, 1], [2, 3, 4]) == 0.0
    assert conversion_auc(np.array([0, 1]), score[:2], current[:2], [0, 1], [2, 3, 4]) is None
