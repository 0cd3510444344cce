"""Tests of the pure scoring helpers."""

from __future__ import annotations

import numpy as np

from features.catalog import Feature
from features.config import Action
from features.encoding import ModelInputs
from serving.scoring import pick_action, reason_sentence, risk_tiers


def test_risk_tiers_use_the_thresholds():
    tiers = risk_tiers(np.array([0.1, 0.3, 0.7]), high=0.5, medium=0.25)
    assert tiers.tolist() == ["low", "medium", "high"]


def test_most_specific_action_wins():
    actions = [
        Action(stage="retention", action="generic"),
        Action(stage="retention", reason_family="transactional", action="win-back"),
    ]
    assert pick_action(actions, "retention", "transactional") == "win-back"
    assert pick_action(actions, "retention", "behavioural") == "generic"
    assert pick_action(actions, "advocacy", "behavioural") is None


def test_reason_sentences_quote_the_catalog():
    feat = Feature("days_since_last_purchase", "transactional", "all", "days since the last purchase")
    assert reason_sentence(feat, feat.name, 74.2) == "Days since the last purchase: 74"
    assert reason_sentence(None, "spend_trend", float("nan")) == "Spend trend: none recorded"


def test_encoding_maps_unknown_levels_to_missing_and_round_trips():
    inputs = ModelInputs("churn_v1", ("age", "plan"), {"plan": ("basic", "premium")})
    x = inputs.matrix({"age": [30, None, 50], "plan": ["premium", "gold", None]})
    assert x[0].tolist() == [30.0, 1.0]
    assert np.isnan(x[1]).all()
    assert np.isnan(x[2, 1])
    assert ModelInputs.from_metadata(inputs.to_metadata()) == inputs
