"""The BentoML service through its ASGI app: scores, unknown ids, client errors, health."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from features.schema import STAGES
from pipelines.batch import active, newest_features


@pytest.fixture(scope="module")
def client(trained):
    import os

    os.environ["JOURNEY_CONFIG"] = str(trained.config)
    from serving.service import JourneyService

    with TestClient(JourneyService.to_asgi()) as c:
        yield c


@pytest.fixture(scope="module")
def known_ids(trained) -> list[str]:
    return active(newest_features(trained.settings))["customer_id"].head(3).tolist()


def test_score_returns_the_spec_fields(client, known_ids):
    r = client.post("/score", json={"customer_ids": known_ids})
    assert r.status_code == 200
    body = r.json()
    assert [s["customer_id"] for s in body["scores"]] == known_ids
    for s in body["scores"]:
        assert s["status"] == "ok"
        assert 0 <= s["churn_probability"] <= 1
        assert s["risk_tier"] in {"high", "medium", "low"}
        assert s["current_stage"] in {"purchase", "retention", "advocacy"}
        assert set(s["next_stage_probabilities"]) == set(STAGES)
        assert abs(sum(s["next_stage_probabilities"].values()) - 1) < 1e-2
        assert len(s["top_reasons"]) == 3 and all(r["sentence"] for r in s["top_reasons"])
        assert s["expected_value_at_risk"] == pytest.approx(
            s["churn_probability"] * s["customer_value"], abs=0.02
        )
        assert s["models"] == body["models"] and set(body["models"]) == {"churn", "next_stage"}


def test_served_probability_is_the_calibrated_booster_output(client, known_ids, trained):
    from serving.models import load_champion

    churn = load_champion("churn", trained.settings)
    assert churn.calibration is not None
    feats = newest_features(trained.settings).set_index("customer_id").loc[known_ids[:1]].reset_index()
    raw = churn.booster.predict(churn.inputs.matrix(feats), num_iteration=churn.booster.best_iteration)
    served = client.post("/score", json={"customer_ids": known_ids[:1], "explain": 0}).json()
    assert served["scores"][0]["churn_probability"] == pytest.approx(
        churn.calibration.apply(raw)[0], abs=1e-4
    )


def test_unknown_ids_are_marked_not_scored(client, known_ids):
    r = client.post("/score", json={"customer_ids": ["NOPE", known_ids[0]], "explain": 0})
    first, second = r.json()["scores"]
    assert first == {**first, "status": "unknown", "churn_probability": None, "top_reasons": []}
    assert second["status"] == "ok" and second["top_reasons"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"customer_ids": []}, "customer_ids"),
        ({"customer_ids": "C1"}, "customer_ids"),
        ({"ids": ["C1"]}, "customer_ids"),
        ({"customer_ids": ["C1"], "explain": -1}, "explain"),
        ({"customer_ids": [f"C{i}" for i in range(1001)]}, "customer_ids"),
    ],
)
def test_client_mistakes_are_4xx_naming_the_field(client, body, field):
    r = client.post("/score", json=body)
    assert 400 <= r.status_code < 500
    assert field in r.text


def test_malformed_json_is_a_400(client):
    r = client.post("/score", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert "Invalid JSON" in r.text


def test_health_endpoints(client):
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200
