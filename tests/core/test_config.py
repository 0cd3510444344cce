"""Tests of the typed configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from core.config import RiskTiers, StageRules, load_settings

REPO = Path(__file__).resolve().parents[2]


def test_shipped_configs_load_with_absolute_paths():
    settings = load_settings(REPO / "configs" / "journey.yaml")
    assert settings.paths.workdir == REPO / ".journey"
    assert settings.stages.churn_definition_days == 90
    assert {a.stage for a in settings.actions} >= {"purchase", "retention", "advocacy"}
    assert settings.mlflow.uri(settings.paths.workdir).startswith("sqlite:///")


def test_settings_are_frozen():
    settings = load_settings(REPO / "configs" / "journey.yaml")
    with pytest.raises(ValidationError):
        settings.labels.prediction_window_days = 30  # type: ignore[misc]


def test_unknown_event_family_in_stage_rules_is_rejected():
    with pytest.raises(ValidationError, match="unknown event family 'pricing_page'"):
        StageRules(consideration_events=("pricing_page",))


def test_risk_tiers_must_be_ordered():
    with pytest.raises(ValidationError, match="medium must be below"):
        RiskTiers(high=0.3, medium=0.5)


def test_unknown_key_and_missing_file_are_clear(tmp_path: Path):
    (tmp_path / "journey.yaml").write_text("labels: {prediction_window: 90}\n")
    (tmp_path / "stages.yaml").write_text("{}\n")
    (tmp_path / "actions.yaml").write_text("actions: []\n")
    with pytest.raises(ValidationError, match="prediction_window"):
        load_settings(tmp_path / "journey.yaml")
    with pytest.raises(FileNotFoundError, match="config file not found"):
        load_settings(tmp_path / "nope.yaml")
