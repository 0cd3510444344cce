"""Tests of the pure scoring helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.config import Action, ReasonTemplate, load_settings
from core.schema import STAGES
from features.catalog import Feature, by_name
from serving.artifact import ModelInputs
from serving.scoring import pick_action, reason_sentence, risk_tiers, templated_sentence

REPO = Path(__file__).resolve().parents[2]
SHIPPED = load_settings(REPO / "configs" / "journey.yaml")
CATALOG = by_name(SHIPPED.demographics)
# a declared attribute is the user's: it gets the generic sentence, not a shipped template
TEMPLATED = [f for f in CATALOG.values() if not (f.family == "demographic" and f.window == "static")]
VALUES = (0.0, 0.4, 1.0, 2.0, 7.0, 45.0, 120.0, 400.0, 5000.0)


def test_risk_tiers_use_the_thresholds():
    tiers = risk_tiers(np.array([0.1, 0.3, 0.7]), high=0.5, medium=0.25)
    assert tiers.tolist() == ["low", "medium", "high"]


def test_most_specific_action_wins():
    actions = [
        Action(stage="retention", action="generic", success_rate=0.1, cost=1.0),
        Action(stage="retention", risk_tier="high", action="win-back call", success_rate=0.2, cost=9.0),
        Action(stage="retention", reason_family="transactional", action="offer", success_rate=0.2, cost=5.0),
    ]
    assert pick_action(actions, "retention", "low", "behavioural") == "generic"
    assert pick_action(actions, "retention", "high", "behavioural") == "win-back call"
    assert pick_action(actions, "retention", "high", "transactional") == "offer"  # the reason refines
    assert pick_action(actions, "retention", None, None) == "generic"  # no tier: rows without one
    assert pick_action(actions, "advocacy", "high", "behavioural") is None


def test_shipped_actions_never_offer_a_likely_churner_a_referral_bonus():
    from core.config import TIERS, choose_action, load_settings
    from core.schema import ACTIVE_STAGES
    from features.catalog import FAMILIES

    actions = load_settings().actions
    chosen = {
        (stage, tier, family): choose_action(actions, stage, tier, family)
        for stage in ACTIVE_STAGES
        for tier in TIERS
        for family in (None, *FAMILIES)
    }
    assert all(chosen.values())
    for (_, tier, _), action in chosen.items():
        assert action is not None
        assert tier == "low" or "referral" not in action.action.lower(), (tier, action.action)
    assert any("referral" in a.action.lower() for a in chosen.values() if a)  # the low tier keeps it
    assert len({a.action for a in chosen.values() if a}) >= 2 * len(ACTIVE_STAGES)


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
    assert reason_sentence(feat, feat.name, None, templates, row.get) == "No purchase yet"


@pytest.mark.parametrize("feature", TEMPLATED, ids=[f.name for f in TEMPLATED])
def test_every_catalog_feature_has_a_sentence_for_any_value_and_for_none(feature):
    """configs/reasons.yaml words every feature of the catalog, whatever its value, even when no
    other feature of the customer is known: the raw "<meaning>: <value>" never shows."""
    templates = SHIPPED.reasons.get(feature.name)
    assert templates, f"configs/reasons.yaml has no template for {feature.name!r} ({feature.description})"
    values = STAGES if feature.kind == "categorical" else VALUES
    for value in (*values, None):
        sentence = templated_sentence(feature.name, value, templates, {}.get)
        assert sentence, f"no template of {feature.name!r} fits the value {value!r}"
        assert not sentence.startswith(f"{feature.description.capitalize()}:")


def test_templates_say_both_directions_where_the_value_decides():
    words = {
        v: templated_sentence("purchases_90d", v, SHIPPED.reasons["purchases_90d"]) for v in (0.0, 1.0, 6.0)
    }
    assert words == {
        0.0: "No purchase in the last 90 days",
        1.0: "One purchase in the last 90 days",
        6.0: "6 purchases in the last 90 days",
    }
    trend = SHIPPED.reasons["spend_trend"]
    assert templated_sentence("spend_trend", 0.5, trend).startswith("Spending down: last 90 days at 50%")
    assert templated_sentence("spend_trend", 2.0, trend).startswith("Spending up: last 90 days at 200%")
    assert templated_sentence("days_since_last_visit", None, SHIPPED.reasons["days_since_last_visit"]) == (
        "No visit ever recorded"
    )


def test_a_missing_template_fits_only_an_unknown_value():
    templates = (
        ReasonTemplate(text="Never visited", missing=True),
        ReasonTemplate(text="No visit for {days_since_last_visit:.0f} days"),
    )
    assert templated_sentence("days_since_last_visit", None, templates) == "Never visited"
    assert templated_sentence("days_since_last_visit", float("nan"), templates) == "Never visited"
    assert templated_sentence("days_since_last_visit", 12.0, templates) == "No visit for 12 days"
    assert templated_sentence("days_since_last_visit", None, templates[1:]) is None


def test_declared_attributes_read_as_a_sentence():
    region = Feature("region", "demographic", "static", "region", "categorical")
    assert reason_sentence(region, "region", "north") == "Customer with region north"
    assert reason_sentence(region, "region", None) == "Customer with no region recorded"
    age = Feature("age", "demographic", "static", "age")
    assert reason_sentence(age, "age", 34.0) == "Customer with age 34"
    mine = (ReasonTemplate(text="Lives in the {region} region"),)  # a user's own wording wins
    assert reason_sentence(region, "region", "north", mine, {}.get) == "Lives in the north region"


def test_reason_template_bounds_and_missing_fields():
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


def test_the_api_recommends_the_action_of_the_customers_stage_tier_and_main_reason(trained):
    from core.config import choose_action
    from serving.batch import active, load_scorer, newest_features

    scorer = load_scorer(trained.settings)
    feats = active(newest_features(trained.settings))
    rows = feats.sort_values("days_since_last_purchase", ascending=False).head(60).reset_index(drop=True)
    ids, as_of = rows["customer_id"].tolist(), rows["event_timestamp"].tolist()
    scores = scorer.scores(ids, rows, [True] * len(rows), as_of, 1)
    tiers = {s.risk_tier for s in scores}
    assert len(tiers) >= 2  # the long-lapsed and the recent ones: the tier matters here
    for s in scores:
        family = scorer.catalog[s.top_reasons[0].feature].family
        chosen = choose_action(trained.settings.actions, s.current_stage, s.risk_tier, family)
        assert chosen is not None and s.recommended_action == chosen.action
        assert s.risk_tier == "low" or "referral" not in s.recommended_action.lower()
