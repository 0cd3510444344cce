"""Hostile but fair client input: typed, bounded features, strict types, known paths, body limits.

Issue 17 items 8, 9, 10 and 14: each of these requests got a 500, was accepted, or grew /metrics.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from serving.batch import active, newest_features


@pytest.fixture(scope="module")
def client(trained, service_app):
    mp = pytest.MonkeyPatch()
    mp.setenv("JOURNEY_CONFIG", str(trained.config))
    mp.delenv("JOURNEY_API_KEY", raising=False)
    with TestClient(service_app()) as c:
        yield c
    mp.undo()


@pytest.fixture(scope="module")
def row(trained, client) -> dict:
    """One valid /score_features customer: a real customer's newest features (NaN -> null)."""
    features = client.get("/model_info").json()["models"][0]["features"]
    frame = active(newest_features(trained.settings)).head(1).set_index("customer_id")[features]
    frame = frame.astype(object).where(frame.notna(), None)
    customer_id, values = next(frame.iterrows())
    return {"customer_id": customer_id, "features": values.to_dict()}


def _with(row: dict, **features) -> dict:
    return {"customers": [{**row, "features": {**row["features"], **features}}], "explain": 1}


def test_a_valid_row_is_scored(client, row):
    r = client.post("/score_features", json=_with(row))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("spend_90d", "abc", "a finite number >= 0 or null"),  # was a 500
        ("spend_90d", "", "a finite number >= 0 or null"),  # was a 500
        ("spend_90d", "12", "a finite number >= 0 or null"),  # strict: a string is not a number
        ("spend_90d", "inf", "a finite number >= 0 or null"),
        ("purchases_30d", -3, "a finite number >= 0 or null"),  # a count can't be negative
        ("days_since_last_purchase", -1, "a finite number >= 0 or null"),
        ("current_stage", "zzz", "one of ['awareness', 'consideration'"),  # was echoed back
        ("current_stage", 3, "one of ['awareness', 'consideration'"),
        ("gender", 1, "one of ["),  # a number for a category
    ],
)
def test_feature_values_the_models_cannot_take_are_a_400_naming_the_feature(
    client, row, name, value, allowed
):
    r = client.post("/score_features", json=_with(row, **{name: value}))
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert f"customers[0].features.{name}: {value!r}" in error and allowed in error


@pytest.mark.parametrize("raw", ["Infinity", "-Infinity", "NaN", "1e309", "true"])
def test_non_finite_and_boolean_numbers_are_a_400_naming_the_feature(client, row, raw):
    body = json.dumps(_with(row, spend_90d="__X__")).replace('"__X__"', raw)
    r = client.post("/score_features", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["detail"][0]["loc"][:4] == ["customers", 0, "features", "spend_90d"]


@pytest.mark.parametrize("path", ["/score", "/score_features"])
@pytest.mark.parametrize("explain", ["3", True, 2.5])
def test_explain_must_be_an_integer(client, row, path, explain):
    body = {"customer_ids": [row["customer_id"]]} if path == "/score" else _with(row)
    r = client.post(path, json={**body, "explain": explain})
    assert r.status_code == 400 and "explain" in r.text


@pytest.mark.parametrize("path", ["/score", "/score_features"])
def test_a_whole_float_is_an_integer_as_the_document_says(client, row, path):
    """2.0 is the integer 2 in OpenAPI 3.1 (JSON Schema 2020-12): schemathesis sends it as valid."""
    body = {"customer_ids": [row["customer_id"]]} if path == "/score" else _with(row)
    r = client.post(path, json={**body, "explain": 2.0})
    assert r.status_code == 200, r.text
    assert len(r.json()["scores"][0]["top_reasons"]) == 2


@pytest.mark.parametrize("path", ["/score", "/score_features"])
def test_a_multipart_body_without_boundary_is_a_415_naming_the_content_type(client, path):
    r = client.post(path, content=b"x", headers={"content-type": "multipart/form-data"})
    assert r.status_code == 415 and "Content-Type" in r.json()["error"]


def test_unknown_paths_are_404_and_add_no_metric_series(client):
    before = client.get("/metrics").text
    for i in range(30):
        assert client.get(f"/probe-{i}/x").status_code == 404
    after = client.get("/metrics").text
    assert "probe-" not in after
    assert 'journey_refused_requests_total{reason="unknown_path"}' in after
    grown = len(after.splitlines()) - len(before.splitlines())
    assert grown < 10, f"/metrics grew by {grown} lines for 30 unknown paths"


def test_wrong_methods_are_405_with_allow(client):
    for method, path, allow in [
        ("GET", "/score", "POST"),
        ("PUT", "/model_info", "GET"),
        ("POST", "/livez", "GET"),
    ]:
        r = client.request(method, path)
        assert r.status_code == 405 and allow in r.headers["allow"], (method, path, r.headers)
        assert isinstance(r.json()["error"], str)


def test_a_body_over_the_limit_is_a_413_from_its_length(client, trained):
    limit = trained.settings.serving.max_body_bytes
    r = client.post("/score", content=b" " * (limit + 1), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "max_body_bytes" in r.json()["error"]


def test_the_gate_stops_reading_a_streamed_body_at_the_limit():
    """No Content-Length (chunked): the gate answers 413 once the limit is passed, and the app,
    which would read everything, sees the client gone instead of 100 MB."""
    from serving.http import RequestGate  # imported late: prometheus_client after BentoML set it up

    chunks = 100
    pulled = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"x" * 1_000_000, "more_body": pulled < chunks}

    async def send(message: dict) -> None:
        sent.append(message)

    async def greedy_app(scope, receive, send) -> None:
        while (await receive())["type"] == "http.request":
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    greedy_app.routes = [Route("/score", greedy_app, methods=["POST"])]  # type: ignore[attr-defined]
    gate = RequestGate(greedy_app, ["/score"], max_body=3_000_000)
    scope = {"type": "http", "method": "POST", "path": "/score", "headers": []}
    asyncio.run(gate(scope, receive, send))
    assert sent[0]["status"] == 413 and len(sent) == 2
    assert pulled == 4  # 4 MB read of 100, then the app was told the client disconnected


def test_the_served_document_describes_the_models_features(client):
    doc = client.get("/docs.json").json()
    features = doc["components"]["schemas"]["CustomerFeatures"]["properties"]["features"]
    assert features["additionalProperties"] is False and "spend_90d" in features["required"]
    assert {"minimum": 0, "type": "number"} in features["properties"]["purchases_30d"]["anyOf"]
    stages = features["properties"]["current_stage"]["anyOf"][0]["enum"]
    assert "zzz" not in stages and "retention" in stages
    for path in ("/score", "/score_features"):
        operation = doc["paths"][path]["post"]
        assert operation["requestBody"]["required"] is True and {"413", "415"} <= set(operation["responses"])
    detail = doc["components"]["schemas"]["Error"]["properties"]["detail"]
    assert {"type": "string"} in detail["anyOf"] and any(d["type"] == "array" for d in detail["anyOf"])
