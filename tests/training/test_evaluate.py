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
    from training.evaluate import label_metrics, markov_predict

    current = np.array([0, 0, 0, 1, 1, 2])
    nxt = np.array([1, 1, 0, 1, 2, 2])
    pred = markov_predict(current, nxt, np.array([0, 1, 2, 3]), n=4)
    assert pred[0] == 1 and pred[2] == 2
    assert pred[3] == 3  # never seen as a current stage: stays
    assert pred[1] in (1, 2)
    assert label_metrics(np.array([1, 2]), np.array([1, 2])) == {"accuracy": 1.0, "macro_f1": 1.0}
