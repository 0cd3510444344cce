"""The API key, staleness and store failures of the scoring service."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
from starlette.testclient import TestClient

from serving.batch import active, newest_features

KEY = "s3cret-journey-key-do-not-log"


@pytest.fixture(scope="module")
def locked(trained, service_app):
    """The service with JOURNEY_API_KEY set."""
    mp = pytest.MonkeyPatch()
    mp.setenv("JOURNEY_CONFIG", str(trained.config))
    mp.setenv("JOURNEY_API_KEY", KEY)
    with TestClient(service_app()) as c:
        yield c
    mp.undo()


@pytest.fixture(scope="module")
def some_ids(trained) -> list[str]:
    return active(newest_features(trained.settings))["customer_id"].head(2).tolist()


def test_scoring_and_info_need_the_key_health_does_not(locked, some_ids, caplog):
    caplog.set_level(logging.DEBUG)
    body = {"customer_ids": some_ids, "explain": 1}
    assert locked.post("/score", json=body).status_code == 401
    assert locked.post("/score", json=body, headers={"X-API-Key": "wrong"}).status_code == 401
    assert locked.get("/model_info").status_code == 401
    assert locked.post("/score_features", json={"customers": []}).status_code == 401
    ok = locked.post("/score", json=body, headers={"X-API-Key": KEY})
    assert ok.status_code == 200 and ok.json()["scores"][0]["status"] == "ok"
    bearer = locked.get("/model_info", headers={"Authorization": f"Bearer {KEY}"})
    assert bearer.status_code == 200
    for path in ("/livez", "/readyz", "/metrics"):
        assert locked.get(path).status_code == 200, path
    assert "API key" in locked.post("/score", json=body).json()["error"]
    assert KEY not in caplog.text  # not in any log record, including the start-up line


def test_rows_older_than_the_ttl_are_scored_and_flagged_stale(trained, some_ids):
    from features.store import open_store
    from serving.champions import Champions
    from serving.online import OnlineFeatures

    champions = Champions(trained.settings)
    scorer = champions.scorer
    online = OnlineFeatures(open_store(trained.settings), "churn_v1", trained.settings.feast.ttl_days)
    fresh = online.read([*some_ids, "NOPE"], scorer.features)
    assert fresh.known.tolist() == [True, True, False] and not fresh.stale.any()
    online.newest = online.newest + pd.Timedelta(days=trained.settings.feast.ttl_days + 1)  # time moved on
    old = online.read(some_ids, scorer.features)
    assert old.stale.all()
    scores = scorer.scores(some_ids, old.columns, old.known, old.as_of, 0, old.stale)
    assert {s.status for s in scores} == {"stale"} and all(s.churn_probability is not None for s in scores)
    assert not champions.refresh()  # the registry's champion is the one loaded: nothing to reload


def test_an_unreachable_store_is_a_503_with_the_reason_and_readyz_false(trained_copy, some_ids, service_app):
    """The online store on Redis at a port where nothing listens: every read fails."""
    from core.config import load_settings

    text = trained_copy.config.read_text().replace("online_store: sqlite", "online_store: redis")
    text = text.replace("redis_connection: 127.0.0.1:6379", "redis_connection: 127.0.0.1:9")
    config = trained_copy.config.parent / "unreachable.yaml"
    config.write_text(text)
    assert load_settings(config).feast.online_store == "redis"
    mp = pytest.MonkeyPatch()
    mp.setenv("JOURNEY_CONFIG", str(config))
    mp.delenv("JOURNEY_API_KEY", raising=False)
    try:
        with TestClient(service_app(), raise_server_exceptions=False) as c:
            r = c.post("/score", json={"customer_ids": some_ids})
            assert r.status_code == 503
            assert (
                "online feature store unavailable" in r.json()["error"] and "Connection" in r.json()["error"]
            )
            assert c.get("/readyz").status_code == 503
            assert c.get("/livez").status_code == 200
            assert c.post("/score", json={"customer_ids": []}).status_code == 400  # still the client's fault
    finally:
        mp.undo()
