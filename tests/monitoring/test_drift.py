"""Drift: a shift planted in one feature of generated rows is named first; the others stay stable."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from core.config import Drift, Settings
from core.schema import CHURN_MODEL, STAGES
from monitoring.drift import (
    NoReferenceProfile,
    drift_alerts,
    drift_report,
    load_profile,
    model_drift,
    model_scores,
    reference_profile,
)
from monitoring.profile import build_profile, compare, numeric_shares, psi
from serving.artifact import ModelInputs

NUMERIC = ("spend_90d", "purchases_90d", "days_since_last_purchase", "tenure_days", "avg_order_value")
RULES = Drift()


def rows(n: int, seed: int, shift: dict[str, float] | None = None) -> pd.DataFrame:
    """Generated feature rows: skewed money, counts with many zeros, recencies, a region, a stage."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "spend_90d": rng.lognormal(4, 1, n),
            "purchases_90d": rng.poisson(0.8, n).astype(float),
            "days_since_last_purchase": rng.exponential(40, n),
            "tenure_days": rng.uniform(30, 900, n),
            "avg_order_value": rng.gamma(3, 20, n),
            "region": rng.choice(["north", "south", "east", "west"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "current_stage": rng.choice(["purchase", "retention", "advocacy"], n, p=[0.3, 0.5, 0.2]),
        }
    )
    for name, factor in (shift or {}).items():
        frame[name] = frame[name] * factor
    return frame


def inputs() -> ModelInputs:
    return ModelInputs.fit(
        rows(50, 0), "churn_v1", [*NUMERIC, "region", "current_stage"], ["region", "current_stage"]
    )


def churn_scores(frame: pd.DataFrame) -> pd.Series:
    """A stand-in model: churn rises with the days since the last purchase."""
    return model_scores(inputs(), 1 - np.exp(-frame["days_since_last_purchase"].to_numpy() / 60))


def drift_of(now: pd.DataFrame) -> dict:
    train = rows(4000, 1)
    profile = reference_profile(train, inputs(), churn_scores(train), Settings())
    return model_drift(profile, now, churn_scores(now), RULES)


def test_a_planted_drift_is_named_first_and_the_other_features_stay_under_threshold() -> None:
    drift = drift_of(rows(3000, 2, shift={"avg_order_value": 1.6}))
    features = {f["feature"]: f for f in drift["features"]}
    assert drift["features"][0]["feature"] == "avg_order_value"
    assert features["avg_order_value"]["psi"] > RULES.psi_alert
    assert all(f["psi"] < RULES.psi_watch for name, f in features.items() if name != "avg_order_value")
    alerts = drift_alerts("churn v1", drift, RULES)
    assert len(alerts) == 1, alerts
    assert "most: avg_order_value (" in alerts[0]
    assert drift["level"]["avg_order_value"] == "drifted"


def test_fresh_rows_of_the_same_population_raise_no_alert() -> None:
    drift = drift_of(rows(3000, 3))
    assert drift_alerts("churn v1", drift, RULES) == []
    assert drift["scores"]["psi"] < RULES.psi_watch


def test_a_feature_that_moves_the_scores_alerts_on_the_scores_too() -> None:
    drift = drift_of(rows(3000, 4, shift={"days_since_last_purchase": 2.5}))
    alerts = drift_alerts("churn v1", drift, RULES)
    assert drift["features"][0]["feature"] == "days_since_last_purchase"
    assert any("churn_probability distribution drifted" in a for a in alerts), alerts


def test_missing_values_new_categories_and_the_stage_mix_each_alert() -> None:
    now = rows(3000, 5)
    now.loc[now.index[:900], "tenure_days"] = np.nan  # 30% missing, none in training
    now.loc[now.index[:150], "region"] = "overseas"  # 5% in a region never seen
    now["current_stage"] = np.random.default_rng(6).choice(["purchase", "retention"], len(now), p=[0.7, 0.3])
    alerts = drift_alerts("churn v1", drift_of(now), RULES)
    assert any("missing-value rate" in a and "tenure_days (0.0% -> 30.0%)" in a for a in alerts), alerts
    assert any("region has values never seen in training: 'overseas' (5.0%)" in a for a in alerts), alerts
    assert any("stage mix moved" in a and "purchase 30" in a for a in alerts), alerts


def test_alerts_name_at_most_the_configured_number_of_features() -> None:
    shift = dict.fromkeys(NUMERIC, 3.0)
    drift = drift_of(rows(3000, 7, shift=shift))
    alert = drift_alerts("churn v1", drift, Drift(top=2))[0]
    assert alert.startswith("churn v1: 5 feature(s) drifted")
    assert len(alert.split("most: ")[1].split(", ")) == 2


def test_ignored_features_are_shown_but_never_alerted_on() -> None:
    drift = drift_of(rows(3000, 11, shift={"tenure_days": 2.0}))
    assert drift["features"][0]["feature"] == "tenure_days"
    assert "tenure_days" in drift_alerts("churn v1", drift, RULES)[0]
    assert drift_alerts("churn v1", drift, Drift(ignore=("tenure_days",))) == []


def test_psi_is_zero_for_the_same_shares_and_grows_with_the_shift() -> None:
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert 0 < psi([0.5, 0.5], [0.6, 0.4]) < psi([0.5, 0.5], [0.8, 0.2])


def test_ties_get_one_bin_and_values_beyond_the_training_range_fall_in_the_outer_bins() -> None:
    frame = pd.DataFrame({"n": [0.0] * 70 + [1.0] * 20 + [2.0] * 10})
    profile = build_profile(frame, ["n"], [])["features"]["n"]
    assert profile["edges"] == [0.0, 1.0]  # nine quantiles, three distinct values
    assert profile["shares"] == pytest.approx([0.7, 0.2, 0.1])
    assert numeric_shares(pd.Series([-5.0, 50.0]), profile["edges"]).tolist() == [0.5, 0.0, 0.5]


def test_a_feature_the_newest_rows_lack_is_left_out_not_an_error() -> None:
    profile = build_profile(rows(500, 8), NUMERIC, [])
    table = compare(profile, rows(500, 9).drop(columns=["tenure_days"]))
    assert "tenure_days" not in set(table["feature"])
    assert len(table) == len(NUMERIC) - 1


def test_the_stage_model_profiles_its_predicted_stage_mix() -> None:
    stage_inputs = ModelInputs("next_stage_v1", ("tenure_days",), {}, STAGES)
    raw = np.tile(np.eye(len(STAGES))[[2, 3, 3, 4]], (25, 1))
    scores = model_scores(stage_inputs, raw)
    profile = reference_profile(rows(100, 10), stage_inputs, scores, Settings())
    assert profile["scores"]["kind"] == "categorical"
    assert profile["scores"]["shares"] == {"advocacy": 0.25, "purchase": 0.25, "retention": 0.5}


def test_a_model_trained_before_profiles_says_to_retrain_it() -> None:
    def no_artifact(run_id: str, path: str, dst: str) -> str:
        raise OSError(f"no such artifact: {path}")

    client = SimpleNamespace(
        get_model_version=lambda name, version: SimpleNamespace(run_id="r1"), download_artifacts=no_artifact
    )
    model = SimpleNamespace(name=CHURN_MODEL, version="3")
    with pytest.raises(NoReferenceProfile, match=r"churn v3 has no reference profile .*retrain it"):
        load_profile(client, model)  # type: ignore[arg-type]


def test_without_a_feature_build_the_report_says_what_to_run() -> None:
    settings = Settings().with_paths(workdir=Path("no-such-journey-workdir"))
    report = drift_report(settings)
    assert report["alerts"] == [] and report["models"] == {}
    assert "run `journey features build`" in report["notes"][0]


def test_thresholds_are_checked_when_the_config_loads() -> None:
    with pytest.raises(ValueError, match="psi_watch must be below"):
        Drift(psi_watch=0.3, psi_alert=0.2)


def test_the_trained_champions_carry_a_profile_and_drift_reports_on_the_newest_snapshot(trained) -> None:
    from helpers.project import Trained

    assert isinstance(trained, Trained)
    report = drift_report(trained.settings)
    json.dumps(report)  # what `journey monitor` writes to outputs/monitor.json
    assert report["notes"] == []
    assert set(report["models"]) == {"churn", "next_stage"}
    churn = report["models"]["churn"]
    assert churn["reference_rows"] == trained.results["churn"].rows["train"]
    assert churn["rows"] > 0 and churn["scores"]["psi"] is not None
    psis = [f["psi"] for f in churn["features"] if f["psi"] is not None]
    assert psis == sorted(psis, reverse=True)
    assert set(churn["stage_mix"]["shares"]) == {"purchase", "retention", "advocacy"}
    assert report["models"]["next_stage"]["scores"]["name"] == "predicted_stage"
