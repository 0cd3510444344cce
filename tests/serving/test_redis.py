"""The online store on Redis: materialised into it and served from it; an outage and the recovery.

Each test works on a private copy of the trained project (it applies Feast definitions) and uses
its own Feast project (Feast's Redis keys end with the project name), so other users of the Redis
server are not touched, and deletes its keys and its registry entries at the end. The outage test
puts a TCP proxy it controls between the service and Redis.
"""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml
from starlette.testclient import TestClient

from core.config import Settings, load_settings
from serving.batch import active, newest_features

pytestmark = pytest.mark.redis

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
UNAVAILABLE = "online feature store unavailable"


@pytest.fixture(scope="session")
def redis_server(unavailable: Callable[[str], NoReturn]) -> Iterator[Any]:
    """A client of the Redis server, or skip (fail in CI) when it does not answer a ping.

    Session-scoped so that the check runs before the session's `trained` fixture is built.
    """
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis(
        host=REDIS_HOST,
        port=REDIS_PORT,
        socket_connect_timeout=2,
        socket_timeout=5,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        client.ping()
    except redis.RedisError as err:
        client.close()
        unavailable(f"Redis not reachable on {REDIS_HOST}:{REDIS_PORT}: {type(err).__name__}: {err}")
    yield client
    client.close()


def project_keys(client: Any, project: str) -> list[bytes]:
    """Feast's Redis keys of one project: the serialised entity key followed by the project name."""
    return list(client.scan_iter(match=b"*" + project.encode(), count=1000))


def customer_key(customer_id: str, project: str) -> bytes:
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    key = EntityKey(join_keys=["customer_id"], entity_values=[Value(string_val=customer_id)])
    return serialize_entity_key(key, entity_key_serialization_version=3) + project.encode()


def redis_settings(trained: Any, project: str, connection: str) -> tuple[Path, Settings]:
    """A copy of the fixture's config (same workdir, features and models) with Redis as online store."""
    raw = yaml.safe_load(trained.config.read_text())
    raw["feast"].update(project=project, online_store="redis", redis_connection=connection)
    path = trained.config.parent / f"{project}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    settings = load_settings(path)
    assert (settings.feast.online_store, settings.feast.project) == ("redis", project)
    return path, settings


def materialize_into_redis(settings: Settings) -> None:
    from features.build import read_manifest
    from features.store import apply_definitions, materialize_newest, open_store

    store = open_store(settings)
    apply_definitions(store, settings)
    done = materialize_newest(store, read_manifest(settings.paths.features), settings.paths.features)
    assert done.mode == "backfill"  # a new project: nothing was materialised for it before


def clean_up(client: Any, trained: Any, project: str, config: Path) -> None:
    """Delete the project's Redis keys and registry entries; leave the fixture's Feast repo as it was."""
    from features.store import open_store

    keys = project_keys(client, project)
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])
    store = open_store(trained.settings)  # also rewrites feature_store.yaml for the fixture's SQLite store
    if any(p.name == project for p in store.registry.list_projects()):
        store.registry.delete_project(project, commit=True)
    config.unlink(missing_ok=True)


def sqlite_tables(trained: Any) -> list[str]:
    db = trained.settings.paths.feast_repo / "online.db"
    with contextlib.closing(sqlite3.connect(db)) as con:
        return [row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]


def unique_project() -> str:
    return f"journey_test_{uuid.uuid4().hex[:12]}"


def test_materialized_into_redis_and_served_from_it(redis_server, trained_copy, service_app):
    """Same scores as the SQLite-backed service for the same ids, with the rows read from Redis."""
    frame = newest_features(trained_copy.settings)
    ids = [*active(frame)["customer_id"].head(4), *frame["customer_id"].tail(2)]
    unknown = f"NOPE-{uuid.uuid4().hex[:8]}"
    body = {"customer_ids": [*ids, unknown], "explain": 3}
    mp = pytest.MonkeyPatch()
    mp.delenv("JOURNEY_API_KEY", raising=False)
    mp.setenv("JOURNEY_CONFIG", str(trained_copy.config))
    with TestClient(service_app()) as c:  # the reference: the fixture's SQLite online store
        expected = c.post("/score", json=body).json()["scores"]
    project = unique_project()
    config, settings = redis_settings(trained_copy, project, f"{REDIS_HOST}:{REDIS_PORT}")
    try:
        materialize_into_redis(settings)
        keys = project_keys(redis_server, project)
        assert len(keys) == frame["customer_id"].nunique()  # one hash per customer of the newest snapshot
        assert all(redis_server.exists(customer_key(i, project)) for i in ids)
        assert not redis_server.exists(customer_key(unknown, project))
        assert not [t for t in sqlite_tables(trained_copy) if t.startswith(project)]  # nothing went to SQLite

        mp.setenv("JOURNEY_CONFIG", str(config))
        with TestClient(service_app()) as c:
            info = c.get("/model_info").json()
            assert info["online_store"] == "redis"
            assert c.get("/readyz").status_code == 200
            r = c.post("/score", json=body)
            assert r.status_code == 200, r.text
            scores = r.json()["scores"]
            assert [s["customer_id"] for s in scores] == [*ids, unknown]
            assert [s["status"] for s in scores[:-1]] == ["ok"] * len(ids)
            assert scores[-1]["status"] == "unknown" and scores[-1]["churn_probability"] is None
            for got, want in zip(scores, expected, strict=True):
                assert got["churn_probability"] == pytest.approx(want["churn_probability"], abs=1e-12)
                assert got == want  # every field: stage, value, reasons, action, as-of

            # The rows really come from Redis: remove one customer's hash and it becomes unknown.
            assert redis_server.delete(customer_key(ids[0], project)) == 1
            again = c.post("/score", json={"customer_ids": ids[:2], "explain": 0}).json()["scores"]
            assert [s["status"] for s in again] == ["unknown", "ok"]
    finally:
        mp.undo()
        clean_up(redis_server, trained_copy, project, config)
    assert project_keys(redis_server, project) == []


class Proxy:
    """A TCP proxy to Redis that can be stopped (listener and every connection closed) and restarted."""

    def __init__(self, upstream: tuple[str, int], port: int = 0) -> None:
        self.upstream = upstream
        self.port = port
        self._stop = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.05)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stop.clear()
        self._spawn(self._accept)

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _track(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._stop.is_set():
                sock.close()
                return False
            self._sockets.add(sock)
            return True

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            if not self._track(client):
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            if not self._track(server):
                return
            self._spawn(self._pump, client, server)
            self._spawn(self._pump, server, client)

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        for sock in (source, target):  # one side closed: close the pair
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        """Close the listener (new connections are refused) and every open connection."""
        with self._lock:
            self._stop.set()
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []
        for sock in sockets:
            sock.close()
        if self._listener is not None:
            self._listener.close()
            self._listener = None


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    out = call()
    return out, time.monotonic() - started


def test_a_redis_outage_is_a_503_with_the_reason_and_the_service_recovers_by_itself(
    redis_server, trained_copy, service_app
):
    """Redis through a proxy: stop it (503 with the reason, not ready), restart it (ready again)."""
    ids = active(newest_features(trained_copy.settings))["customer_id"].head(3).tolist()
    body = {"customer_ids": ids, "explain": 1}
    proxy = Proxy((REDIS_HOST, REDIS_PORT))
    proxy.start()
    project = unique_project()
    config, settings = redis_settings(trained_copy, project, f"127.0.0.1:{proxy.port}")
    mp = pytest.MonkeyPatch()
    mp.delenv("JOURNEY_API_KEY", raising=False)
    mp.setenv("JOURNEY_CONFIG", str(config))
    timings: dict[str, float] = {}
    try:
        materialize_into_redis(settings)  # through the proxy
        with TestClient(service_app(), raise_server_exceptions=False) as c:
            before = c.post("/score", json=body)
            assert before.status_code == 200, before.text
            assert [s["status"] for s in before.json()["scores"]] == ["ok"] * len(ids)
            assert c.get("/readyz").status_code == 200

            proxy.stop()  # Redis is gone for the service: connections reset, new ones refused
            r, timings["score_down"] = timed(lambda: c.post("/score", json=body))
            assert r.status_code == 503, r.text
            error = r.json()["error"]
            assert UNAVAILABLE in error and "ConnectionError" in error, error
            # redis-py retries a refused connection 3 times with jittered backoff (base 1 s, cap 10 s):
            # the 503 takes up to ~14 s, still within BentoML's 30 s request timeout.
            assert timings["score_down"] < 30
            time.sleep(1.1)  # past the readiness cache: /readyz probes the store itself
            ready, timings["readyz_down"] = timed(lambda: c.get("/readyz"))
            assert ready.status_code == 503
            live, timings["livez_down"] = timed(lambda: c.get("/livez"))
            assert live.status_code == 200
            assert c.post("/score", json={"customer_ids": []}).status_code == 400  # still the client's fault

            proxy.start()  # same port
            assert proxy.port == int(settings.feast.redis_connection.rsplit(":", 1)[1])
            restarted = time.monotonic()
            first = c.post("/score", json=body)  # redis-py's pool holds a dead connection from before
            timings["first_score_after"] = time.monotonic() - restarted
            deadline = restarted + 30
            while c.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, "the service did not become ready after Redis came back"
                time.sleep(0.2)
            timings["ready_again"] = time.monotonic() - restarted
            after = c.post("/score", json=body)
            assert after.status_code == 200, after.text
            assert after.json()["scores"] == before.json()["scores"]
            print(f"first /score after Redis came back: {first.status_code}; timings (s): {timings}")
            assert first.status_code == 200, f"first call after recovery failed: {first.text}"
    finally:
        mp.undo()
        proxy.stop()
        clean_up(redis_server, trained_copy, project, config)
    assert project_keys(redis_server, project) == []
