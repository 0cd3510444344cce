"""Faults of the online store under load: a hung Redis, a Redis that lost its data, SQLite writes.

Each test runs the real server (`bentoml serve`, as `journey serve` does) on a private copy of
the trained project and sends a closed-loop load of scoring requests and health checks while it
injects the fault; it counts the outcomes by status in each phase and bounds every latency.
The Redis is one the test starts itself on a free port (no persistence), so stopping or killing
it touches nothing else. The printed figures are those of docs/reliability.md
(`pytest -m faults tests/serving/test_faults_store.py -s`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest
import yaml
from helpers.load import Load, Outcome, summary

from core.config import Settings, load_settings
from pipelines import service_process
from serving.batch import active, newest_features

pytestmark = [pytest.mark.faults, pytest.mark.slow]

UNAVAILABLE = "online feature store unavailable"
EMPTY = "online store is empty: run `journey features materialize --reload`"
TIMEOUT_S = 2.0  # feast.timeout_seconds of the copies (the shipped default)
HEALTH_BOUND_S = 3.0  # /livez, /metrics, /score_features: answered fast whatever the store does
OUTAGE_BOUND_S = 2 * TIMEOUT_S + 2  # a /score while the store hangs: its timeout, the deadline, slack
RECOVERY_BOUND_S = 5.0


class RedisServer:
    """A redis-server of the test's own on a free port, no persistence: killed, it comes back empty."""

    def __init__(self, binary: str, folder: Path) -> None:
        self.binary, self.folder = binary, folder
        self.port = service_process.free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.folder / "redis.log").open("ab")
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.folder)]
        self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while not self.ping():
            assert self.proc.poll() is None, f"redis-server exited: {(self.folder / 'redis.log').read_text()}"
            assert time.monotonic() < deadline, "redis-server did not answer a ping in 15 s"
            time.sleep(0.05)

    def ping(self) -> bool:
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.signal(signal.SIGCONT)
            self.proc.terminate()
            self.proc.wait(timeout=10)


@dataclass(frozen=True)
class Served:
    url: str
    config: Path
    settings: Settings
    ids: list[str]  # active customers of the newest snapshot
    customers: int  # customers of the newest snapshot
    log: Path
    body: Callable[[int], dict[str, Any]]  # a valid /score_features body


@pytest.fixture(scope="module")
def redis_binary(unavailable: Callable[[str], NoReturn]) -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server not found on PATH: the fault tests start their own Redis")
    return binary


@pytest.fixture
def redis(redis_binary: str, tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(redis_binary, tmp_path)
    server.start()
    yield server
    server.close()


def with_store(trained: Any, **feast: Any) -> tuple[Path, Settings]:
    """A config beside the copy's own with other Feast settings."""
    raw = yaml.safe_load(trained.config.read_text())
    raw["feast"].update(feast)
    path = trained.config.parent / "faults.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path, load_settings(path)


def _plain(value: Any) -> Any:
    """A feature value as JSON: NumPy scalars to Python, missing to null."""
    if hasattr(value, "item"):
        value = value.item()
    return None if isinstance(value, float) and value != value else value


@contextlib.contextmanager
def serve(config: Path, settings: Settings, folder: Path) -> Iterator[Served]:
    """Start the server on the config (open API), wait until ready; stop it afterwards."""
    frame = newest_features(settings)
    port = service_process.free_port()
    url, log = f"http://127.0.0.1:{port}", folder / "service.log"
    proc = service_process.start(settings, config, port, log, open_api=True)
    try:
        service_process.wait_ready(proc, url, 240, log)
        info = httpx.get(f"{url}/model_info", timeout=30).json()
        names = list(dict.fromkeys(f for model in info["models"] for f in model["features"]))
        rows = frame.head(20).to_dict("records")

        def body(n: int) -> dict[str, Any]:
            row = rows[n % len(rows)]
            features = {f: _plain(row[f]) for f in names}
            return {
                "customers": [{"customer_id": str(row["customer_id"]), "features": features}],
                "explain": 0,
            }

        ids = active(frame)["customer_id"].astype(str).head(50).tolist()
        yield Served(url, config, settings, ids, int(frame["customer_id"].nunique()), log, body)
    finally:
        service_process.stop(proc)


def score_one(served: Served) -> Callable[[httpx.Client, int], httpx.Response]:
    """/score of one id with one reason: the small request that used to run on the event loop."""
    ids = served.ids
    return lambda c, n: c.post("/score", json={"customer_ids": [ids[n % len(ids)]], "explain": 1})


def score_many(served: Served) -> Callable[[httpx.Client, int], httpx.Response]:
    """/score of 50 ids: the larger request scored in a worker thread."""
    return lambda c, n: c.post("/score", json={"customer_ids": served.ids, "explain": 0})


def health_load(load: Load, served: Served) -> None:
    """Health checks, metrics and scoring from the body: none of them needs the store."""
    load.add("livez", lambda c, n: c.get("/livez"), pause_s=0.2)
    load.add("metrics", lambda c, n: c.get("/metrics"), pause_s=0.2)
    load.add("score_features", lambda c, n: c.post("/score_features", json=served.body(n)), pause_s=0.2)
    load.add("readyz", lambda c, n: c.get("/readyz"), pause_s=0.2)


def report(title: str, load: Load, phases: dict[str, tuple[float, float]], kinds: list[str]) -> None:
    """Print the outcomes of each request kind by phase (the figures of docs/reliability.md)."""
    print(f"\n{title}")
    for phase, (start, end) in phases.items():
        for kind in kinds:
            print(f"  {phase:<28} {kind:<15} {summary(load.of(kind, start, end))}")


def slow(outcomes: list[Outcome], bound_s: float) -> list[Outcome]:
    return [o for o in outcomes if o.status is None or o.seconds > bound_s]


def wait_for(what: str, check: Callable[[], bool], timeout_s: float) -> float:
    """Poll `check` until true; the seconds it took (fails after `timeout_s`)."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout_s, f"{what}: not within {timeout_s:.0f} s"
        time.sleep(0.1)
    return time.monotonic() - started


def readyz(served: Served) -> httpx.Response:
    return httpx.get(f"{served.url}/readyz", timeout=10)


def redis_project(trained_copy: Any, redis: RedisServer) -> tuple[Path, Settings]:
    """The copy with the test's Redis as online store, loaded in full."""
    from pipelines.steps import materialize

    config, settings = with_store(
        trained_copy,
        online_store="redis",
        redis_connection=f"127.0.0.1:{redis.port}",
        timeout_seconds=TIMEOUT_S,
    )
    done = materialize(settings, reload=True)
    assert done.customers > 0
    return config, settings


def test_a_hung_redis_is_a_fast_503_and_health_keeps_answering(trained_copy, redis, tmp_path):
    """Redis stopped (SIGSTOP) under load: /score answers 503 with the reason within the timeout,
    health, metrics and /score_features keep answering, the log has no traceback, and the service
    recovers by itself after SIGCONT."""
    config, settings = redis_project(trained_copy, redis)
    with serve(config, settings, tmp_path) as served:
        load = Load(served.url)
        load.add("score_one", score_one(served), clients=3)
        load.add("score_many", score_many(served))
        health_load(load, served)
        time.sleep(4)
        stopped = load.now()
        redis.signal(signal.SIGSTOP)
        time.sleep(10)
        resumed = load.now()
        redis.signal(signal.SIGCONT)
        time.sleep(8)
        load.stop()
        log = served.log.read_text(errors="replace")

    kinds = ["score_one", "score_many", "livez", "metrics", "score_features", "readyz"]
    phases = {
        "before": (0.0, stopped),
        "Redis stopped (10 s)": (stopped, resumed),
        "after SIGCONT": (resumed, float("inf")),
    }
    report("Redis SIGSTOP for 10 s under load", load, phases, kinds)
    assert {o.status for o in load.of("score_one", 0, stopped) if o.done < stopped} == {200}
    during = [o for kind in ("score_one", "score_many") for o in load.of(kind, stopped, resumed)]
    assert not slow(during, OUTAGE_BOUND_S), (
        f"/score held during the outage: {slow(during, OUTAGE_BOUND_S)[:3]}"
    )
    failed = [o for o in during if o.status != 200]
    assert failed and all(o.status == 503 and UNAVAILABLE in o.body for o in failed), failed[:3]
    # once the first calls have timed out, every /score is refused at once, not after the timeout
    settled = [o for o in during if stopped + TIMEOUT_S + 1 <= o.sent < resumed - TIMEOUT_S - 1]
    assert settled and {o.status for o in settled} == {503}
    assert sorted(o.seconds for o in settled)[len(settled) // 2] < 0.5
    for kind in ("livez", "metrics", "score_features"):
        answered = load.of(kind, stopped, resumed)
        assert answered and not slow(answered, HEALTH_BOUND_S), (kind, slow(answered, HEALTH_BOUND_S)[:3])
        assert {o.status for o in answered} == {200}, kind
    ready = load.of("readyz", stopped + OUTAGE_BOUND_S, resumed)
    assert ready and not slow(ready, OUTAGE_BOUND_S) and {o.status for o in ready} == {503}
    assert UNAVAILABLE in ready[-1].body
    back = [o for o in load.of("score_one", resumed) if o.status == 200]
    assert back and back[0].sent + back[0].seconds - resumed < RECOVERY_BOUND_S
    print(f"  first 200 /score {back[0].sent + back[0].seconds - resumed:.2f} s after SIGCONT")
    assert {o.status for o in load.of("score_one", resumed + RECOVERY_BOUND_S)} == {200}
    assert {o.status for o in load.of("readyz", resumed + RECOVERY_BOUND_S)} == {200}
    assert "Traceback" not in log  # one line per 503, naming the reason
    lines = [line for line in log.splitlines() if UNAVAILABLE in line]
    print(
        f"  service log: {len(log.splitlines())} lines, {len(lines)} name the outage, e.g. {lines[-1][:240]}"
    )
    assert any("WARNING" in line for line in lines)


def test_a_redis_that_lost_its_data_is_not_ready_until_reloaded(trained_copy, redis, tmp_path):
    """Redis killed (SIGKILL) under load, then restarted empty: 503 while it is down, /readyz names
    the empty store once it is back, `journey features materialize --reload` fills it, scores return."""
    config, settings = redis_project(trained_copy, redis)
    with serve(config, settings, tmp_path) as served:
        load = Load(served.url)
        load.add("score_one", score_one(served), clients=3)
        load.add("readyz", lambda c, n: c.get("/readyz"), pause_s=0.2)
        time.sleep(3)
        killed = load.now()
        redis.kill()
        time.sleep(5)
        restarted = load.now()
        redis.start()  # same port, no data
        empty = wait_for("/readyz naming the empty store", lambda: EMPTY in readyz(served).text, 15)
        reloading = load.now()
        cli = Path(sys.executable).parent / "journey"
        out = subprocess.run(
            [str(cli), "--config", str(config), "features", "materialize", "--reload"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        reloaded = load.now()
        ready = wait_for("/readyz after the reload", lambda: readyz(served).status_code == 200, 15)
        time.sleep(3)
        load.stop()
        last = httpx.post(f"{served.url}/score", json={"customer_ids": served.ids[:5]}, timeout=30)

    phases = {
        "before": (0.0, killed),
        "Redis killed": (killed, restarted),
        "restarted empty": (restarted, reloading),
        "materialize --reload": (reloading, reloaded),
        "after the reload": (reloaded, float("inf")),
    }
    report("Redis SIGKILL, restarted empty, reloaded", load, phases, ["score_one", "readyz"])
    print(
        f"  /readyz named the empty store {empty:.2f} s after the restart, "
        f"ready {ready:.2f} s after the reload"
    )
    print(f"  {out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr[-2000:]}")
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"(reload: {served.customers:,} customers loaded)" in out.stdout, out.stdout
    assert {o.status for o in load.of("score_one", 0, killed) if o.done < killed} == {200}
    down = load.of("score_one", killed + 0.5, restarted)
    assert down and {o.status for o in down} == {503} and not slow(down, OUTAGE_BOUND_S)
    assert all(UNAVAILABLE in o.body for o in down)
    assert {o.status for o in load.of("readyz", killed + 1.5, restarted)} == {503}
    # past the readiness cache (1 s) of the outage, /readyz names the empty store until reloaded
    not_ready = [o for o in load.of("readyz", restarted + 1.5, reloaded) if o.status != 200]
    odd = [o for o in not_ready if o.status != 503 or EMPTY not in o.body]
    assert not_ready and not odd, odd[:3]
    assert last.status_code == 200 and {s["status"] for s in last.json()["scores"]} == {"ok"}
    assert {o.status for o in load.of("score_one", reloaded + ready)} == {200}


def hold_the_file(db: Path, seconds: float) -> None:
    """A writer holding SQLite's strongest lock for `seconds` (a long materialization), then undoing."""
    with contextlib.closing(sqlite3.connect(db, timeout=60, isolation_level=None)) as conn:
        conn.execute("BEGIN EXCLUSIVE")
        time.sleep(seconds)
        conn.execute("ROLLBACK")


def test_materializing_into_sqlite_during_load_gives_no_5xx(trained_copy, tmp_path):
    """`features materialize --reload` rewrites every row of the SQLite store while the service reads
    it, then a writer holds the file longer than the timeout: no request fails or waits on a lock,
    and /readyz stays 200."""
    from pipelines.steps import materialize

    config, settings = with_store(trained_copy, timeout_seconds=TIMEOUT_S)
    with serve(config, settings, tmp_path) as served:
        load = Load(served.url)
        load.add("score_one", score_one(served), clients=3)
        load.add("score_many", score_many(served))
        load.add("readyz", lambda c, n: c.get("/readyz"), pause_s=0.1)
        time.sleep(3)
        began = load.now()
        written: list[Any] = []
        writer = threading.Thread(target=lambda: written.append(materialize(settings, reload=True)))
        writer.start()
        writer.join(timeout=600)
        ended = load.now()
        time.sleep(2)
        held = load.now()
        hold_the_file(settings.paths.feast_repo / "online.db", 3 * TIMEOUT_S)
        released = load.now()
        time.sleep(2)
        load.stop()

    kinds = ["score_one", "score_many", "readyz"]
    phases = {
        "before": (0.0, began),
        "materialize --reload": (began, ended),
        "between": (ended, held),
        f"a writer holds the file {3 * TIMEOUT_S:g} s": (held, released),
        "after": (released, float("inf")),
    }
    report(f"SQLite materialize --reload ({ended - began:.1f} s) under load", load, phases, kinds)
    assert written and written[0].customers == served.customers
    for start, end in ((began, ended), (held, released)):
        assert all(load.of(kind, start, end) for kind in kinds), "a request kind was not sent meanwhile"
    every = [o for kind in kinds for o in load.of(kind)]
    failed = [o for o in every if o.status != 200]
    assert not failed, f"{len(failed)} requests failed, e.g. {failed[:3]}"
    assert not slow(every, OUTAGE_BOUND_S), slow(every, OUTAGE_BOUND_S)[:3]
