"""Tests of the pure scoring helpers."""

from __future__ import annotations

import numpy as np

from core.config import Action
from features.catalog import Feature
from serving.artifact import ModelInputs
from serving.scoring import pick_action, reason_sentence, risk_tiers


def test_risk_tiers_use_the_thresholds():
    tiers = risk_tiers(np.array([0.1, 0.3, 0.7]), high=0.5, medium=0.25)
    assert tiers.tolist() == ["low", "medium", "high"]


def test_most_specific_action_wins():
    actions = [
        Action(stage="retention", action="generic", success_rate=0.1, cost=1.0),
        Action(
            stage="retention", reason_family="transactional", action="win-back", success_rate=0.2, cost=5.0
        ),
    ]
    assert pick_action(actions, "retention", "transactional") == "win-back"
    assert pick_action(actions, "retention", "behavioural") == "generic"
    assert pick_action(actions, "advocacy", "behavioural") is None


def test_reason_sentences_quote_the_catalog():
    feat = Feature("days_since_last_purchase", "transactional", "all", "days since the last purchase")
    assert reason_sentence(feat, feat.name, 74.2) == "Days since the last purchase: 74"
    assert reason_sentence(None, "spend_trend", float("nan")) == "Spend trend: none recorded"


def test_configured_reason_templates_pick_the_first_that_fits():
    from core.config import load_settings

    templates = load_settings().reasons["days_since_last_purchase"]  # the shipped configs/reasons.yaml
    feat = Feature("days_since_last_purchase", "transactional", "all", "days since the last purchase")
    row = {"overdue_ratio": 3.04}
    sentence = reason_sentence(feat, feat.name, 74.0, templates, row.get)
    assert sentence == "No purchase for 74 days, 3.0x longer than usual"
    row = {"overdue_ratio": 1.1}  # not overdue enough for the first template
    assert reason_sentence(feat, feat.name, 74.0, templates, row.get) == "No purchase for 74 days"
    row = {"overdue_ratio": float("nan")}  # one purchase only: no usual gap
    assert reason_sentence(feat, feat.name, 74.0, templates, row.get) == "No purchase for 74 days"
    assert (
        reason_sentence(feat, feat.name, None, templates, row.get)
        == "Days since the last purchase: none recorded"
    )


def test_reason_template_bounds_and_missing_fields():
    from core.config import ReasonTemplate

    templates = (
        ReasonTemplate(text="No purchase in 90 days", max={"purchases_90d": 0}),
        ReasonTemplate(text="Only {purchases_90d:.0f} purchases, {unknown_feature}"),
        ReasonTemplate(text="Only {purchases_90d:.0f} purchases"),
    )
    assert reason_sentence(None, "purchases_90d", 0.0, templates, {}.get) == "No purchase in 90 days"
    assert reason_sentence(None, "purchases_90d", np.float64(2.0), templates, {}.get) == "Only 2 purchases"


def test_encoding_maps_unknown_levels_to_missing_and_round_trips():
    inputs = ModelInputs("churn_v1", ("age", "plan"), {"plan": ("basic", "premium")})
    x = inputs.matrix({"age": [30, None, 50], "plan": ["premium", "gold", None]})
    assert x[0].tolist() == [30.0, 1.0]
    assert np.isnan(x[1]).all()
    assert np.isnan(x[2, 1])
    assert ModelInputs.from_metadata(inputs.to_metadata()) == inputs
