"""The BentoML service through its ASGI app: scores, unknown ids, client errors, health."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
from starlette.testclient import TestClient

from core.schema import STAGES
from serving.batch import active, newest_features


@pytest.fixture(scope="module")
def client(trained, service_app):
    mp = pytest.MonkeyPatch()  # not left set for the modules after this one
    mp.setenv("JOURNEY_CONFIG", str(trained.config))
    with TestClient(service_app()) as c:
        yield c
    mp.undo()


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
        ({"customer_ids": ["C1"], "explain": "three"}, "explain"),
        ({"customer_ids": ["C1"], "explian": 2}, "explian"),  # a typo is not silently ignored
    ],
)
def test_client_mistakes_are_4xx_naming_the_field(client, body, field):
    r = client.post("/score", json=body)
    assert 400 <= r.status_code < 500
    assert field in r.text
    assert isinstance(r.json(), dict) and isinstance(r.json()["error"], str)


def test_malformed_json_is_a_400_with_one_error_object(client):
    r = client.post("/score", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400
    body = r.json()
    assert isinstance(body["error"], str) and "Invalid JSON" in body["detail"][0]["msg"]
    assert r.headers["content-length"] == str(len(r.content)) and r.headers["x-request-id"]


def test_client_errors_log_one_line_not_a_traceback(client, caplog):
    with caplog.at_level(logging.INFO, logger="bentoml._internal.server.http_app"):
        client.post("/score", content=b"{not json", headers={"content-type": "application/json"})
        client.post("/score", json={"customer_ids": []})
    records = [r for r in caplog.records if r.name == "bentoml._internal.server.http_app"]
    assert len(records) == 2
    assert all(r.levelno == logging.INFO and r.exc_info is None for r in records)
    assert "client error" in records[0].getMessage()


def test_health_endpoints(client):
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_metrics_count_scored_customers_and_latency(client, known_ids):
    client.post("/score", json={"customer_ids": [*known_ids[:2], "NOPE"], "explain": 0})
    text = client.get("/metrics").text
    assert 'journey_customers_scored_total{endpoint="score",status="unknown"}' in text
    assert 'journey_score_seconds_bucket{endpoint="score",le="0.015"}' in text


def test_request_id_is_echoed_in_body_and_header(client, known_ids):
    r = client.post(
        "/score", json={"customer_ids": known_ids[:1], "explain": 0}, headers={"X-Request-ID": "crm-42"}
    )
    assert r.json()["request_id"] == "crm-42" and r.headers["x-request-id"] == "crm-42"
    fresh = client.post("/score", json={"customer_ids": known_ids[:1], "explain": 0})
    assert (
        len(fresh.json()["request_id"]) == 32 and fresh.headers["x-request-id"] == fresh.json()["request_id"]
    )


def _feature_rows(trained, ids: list[str]) -> list[dict]:
    from serving.models import load_champion
    from serving.scoring import Scorer

    scorer = Scorer(
        load_champion("churn", trained.settings),
        load_champion("next_stage", trained.settings),
        trained.settings,
    )
    frame = newest_features(trained.settings).set_index("customer_id").loc[ids, scorer.features]
    frame = frame.astype(object).where(frame.notna(), None)
    return [{"customer_id": cid, "features": row.to_dict()} for cid, row in frame.iterrows()]


def test_score_features_gives_the_same_answer_as_the_online_store(client, known_ids, trained):
    by_id = client.post("/score", json={"customer_ids": known_ids, "explain": 2}).json()["scores"]
    body = {"customers": _feature_rows(trained, known_ids), "explain": 2}
    r = client.post("/score_features", json=body)
    assert r.status_code == 200, r.text
    by_body = r.json()["scores"]
    for a, b in zip(by_id, by_body, strict=True):
        assert b["status"] == "ok" and b["churn_probability"] == pytest.approx(
            a["churn_probability"], abs=1e-6
        )
        assert b["next_stage"] == a["next_stage"] and b["top_reasons"] == a["top_reasons"]


def test_score_features_names_unknown_and_missing_features(client, known_ids, trained):
    row = _feature_rows(trained, known_ids[:1])[0]
    typo = {**row, "features": {**row["features"], "days_snce_last_purchase": 3}}
    r = client.post("/score_features", json={"customers": [typo]})
    assert r.status_code == 400 and "days_snce_last_purchase" in r.json()["error"]
    partial = {**row, "features": {k: v for k, v in row["features"].items() if k != "spend_90d"}}
    r = client.post("/score_features", json={"customers": [partial]})
    assert r.status_code == 400 and "customers[0].features.spend_90d: missing" in r.json()["error"]


def test_model_info_names_versions_aliases_and_data_as_of(client, trained):
    r = client.get("/model_info")
    assert r.status_code == 200
    info = r.json()
    assert [m["name"] for m in info["models"]] == ["churn", "next_stage"]
    for m in info["models"]:
        assert "champion" in m["aliases"] and m["version"] == "1" and m["data_as_of"]
        assert m["feature_service"] == f"{m['name']}_v1" and "days_since_last_purchase" in m["features"]
    from features.build import read_manifest

    assert info["online_store"] == "sqlite"
    newest = pd.Timestamp(info["newest_snapshot"])
    snapshot = read_manifest(trained.settings.paths.features).snapshots[-1]
    assert snapshot <= newest <= snapshot + pd.Timedelta(seconds=1)  # materialised up to it


def test_openapi_document_describes_every_endpoint(client):
    paths = client.get("/docs.json").json()["paths"]
    assert {"/score", "/score_features", "/model_info", "/readyz", "/metrics"} <= set(paths)


def test_prospects_get_their_conversion_not_a_churn_score(client, trained):
    """Issue 18 item 6: churn is defined for buyers; a prospect gets its conversion probability."""
    frame = newest_features(trained.settings)
    prospects = frame[frame["current_stage"].isin(["awareness", "consideration"])]
    ids = prospects["customer_id"].head(5).tolist()
    assert ids, "the generated data has prospects"
    scores = client.post("/score", json={"customer_ids": ids}).json()["scores"]
    for s in scores:
        assert s["status"] == "ok" and s["current_stage"] in {"awareness", "consideration"}
        assert s["churn_probability"] is None and s["risk_tier"] is None
        assert s["expected_value_at_risk"] is None and s["top_reasons"] == []
        assert s["note"].startswith("prospect: churn is scored for buyers only")
        buying = sum(s["next_stage_probabilities"][k] for k in ("purchase", "retention", "advocacy"))
        assert s["conversion_probability"] == pytest.approx(buying, abs=1e-5)
        assert 0 < s["conversion_probability"] < 1
