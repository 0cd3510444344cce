"""Soak: a real `bentoml serve` under 16 concurrent clients for a minute, valid and invalid requests mixed.

Every valid request must succeed (no 5xx, no transport error), every invalid one must be a 4xx,
and the memory of the server's process tree must stay flat once warmed up.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from pipelines import service_process
from pipelines.service_process import process_tree, tree_rss_mb
from serving.batch import active, newest_features
from serving.schemas import MAX_IDS

DURATION_S = 60.0
CLIENTS = 16
SAMPLE_EVERY_S = 2.0
# RSS growth: the median of the samples in the warm window against the median of the last ones
# (medians, because a worker's RSS swings by up to ~35 MiB between samples under this load).
WARM_WINDOW_S = (20.0, 35.0)
LAST_WINDOW_S = 15.0
MAX_GROWTH_MB = 50.0  # see the end of the test for the reasoning
REQUEST_TIMEOUT_S = 30.0
VALID_SHARE = 0.7
VALID_WEIGHTS = {  # score_max: the largest allowed request, about a second of server time each
    "score_known": 35,
    "score_mixed": 15,
    "score_unknown": 8,
    "score_max": 0.5,
    "score_features": 31.5,
    "model_info": 10,
}


@dataclass(frozen=True)
class Request:
    kind: str
    valid: bool
    method: str
    path: str
    body: bytes | None = None
    check: Callable[[Any], bool] | None = None  # on the JSON of a valid answer


@dataclass
class Tally:
    sent: Counter[str] = field(default_factory=Counter)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    transport: Counter[tuple[str, str]] = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)  # unexpected answers, for the failure message
    latency_ms: list[float] = field(default_factory=list)  # of valid requests


def _dump(obj: Any) -> bytes:
    return json.dumps(obj).encode()


class Mix:
    """Draws requests: 70% valid across the endpoints (VALID_WEIGHTS), 30% invalid of 19 kinds."""

    def __init__(self, known: list[str], rows: list[dict[str, Any]]) -> None:
        self.known = known
        self.rows = rows

    def _score(self, rng: random.Random, kind: str, ids: list[str], explain: int) -> Request:
        known = set(self.known)

        def check(answer: Any) -> bool:
            scores = answer["scores"]
            return [s["customer_id"] for s in scores] == ids and all(
                (s["status"] in ("ok", "stale")) == (s["customer_id"] in known)
                and len(s["top_reasons"]) == (explain if s["status"] != "unknown" else 0)
                for s in scores
            )

        return Request(kind, True, "POST", "/score", _dump({"customer_ids": ids, "explain": explain}), check)

    def valid(self, rng: random.Random) -> Request:
        explain = rng.randint(0, 3)
        (kind,) = rng.choices(list(VALID_WEIGHTS), weights=list(VALID_WEIGHTS.values()))
        if kind == "score_known":
            return self._score(rng, kind, rng.sample(self.known, rng.randint(1, 20)), explain)
        if kind == "score_mixed":
            ids = [*rng.sample(self.known, rng.randint(1, 5)), *(f"NOPE-{rng.randint(0, 10**6)}",) * 2]
            rng.shuffle(ids)
            return self._score(rng, kind, ids, explain)
        if kind == "score_unknown":
            return self._score(rng, kind, [f"NOPE-{rng.randint(0, 10**6)}"], explain)
        if kind == "score_max":
            return self._score(rng, kind, [rng.choice(self.known) for _ in range(MAX_IDS)], 0)
        if kind == "score_features":
            rows = rng.sample(self.rows, rng.randint(1, 5))

            def check(answer: Any) -> bool:
                scores = answer["scores"]
                return len(scores) == len(rows) and all(s["status"] == "ok" for s in scores)

            body = _dump({"customers": rows, "explain": explain})
            return Request("score_features", True, "POST", "/score_features", body, check)
        return Request("model_info", True, "GET", "/model_info", check=lambda a: len(a["models"]) == 2)

    def invalid_bodies(self, rng: random.Random) -> dict[str, tuple[str, bytes]]:
        """kind -> (path, body) of every invalid request, each expected to be a 4xx."""
        row = rng.choice(self.rows)
        some = rng.sample(self.known, 2)
        missing = {**row, "features": dict(list(row["features"].items())[1:])}
        extra_feature = {**row, "features": {**row["features"], "favourite_colour": "blue"}}
        bad_value = {**row, "features": {**row["features"], next(iter(row["features"])): {"a": 1}}}
        bodies: dict[str, tuple[str, bytes]] = {
            "malformed_json": ("/score", b'{"customer_ids": ["C1", '),
            "not_json": ("/score", b"customer_ids=C1"),
            "json_array": ("/score", _dump(some)),
            "ids_not_a_list": ("/score", _dump({"customer_ids": some[0]})),
            "ids_not_strings": ("/score", _dump({"customer_ids": [1, 2]})),
            "explain_text": ("/score", _dump({"customer_ids": some, "explain": "three"})),
            "explain_too_big": ("/score", _dump({"customer_ids": some, "explain": 11})),
            "explain_negative": ("/score", _dump({"customer_ids": some, "explain": -1})),
            "unknown_field": ("/score", _dump({"customer_ids": some, "explian": 2})),
            "missing_ids": ("/score", _dump({"explain": 1})),
            "empty_ids": ("/score", _dump({"customer_ids": []})),
            "too_many_ids": ("/score", _dump({"customer_ids": [*some] * (MAX_IDS // 2 + 1)})),
            "features_missing": ("/score_features", _dump({"customers": [missing]})),
            "features_unknown": ("/score_features", _dump({"customers": [extra_feature]})),
            "features_bad_value": ("/score_features", _dump({"customers": [bad_value]})),
            "features_no_customers": ("/score_features", _dump({"customers": []})),
            "features_not_a_list": ("/score_features", _dump({"customers": row})),
            "customer_unknown_field": ("/score_features", _dump({"customers": [{**row, "name": "x"}]})),
            "features_too_many": ("/score_features", _dump({"customers": [row] * (MAX_IDS + 1)})),
        }
        return bodies

    def invalid(self, rng: random.Random) -> Request:
        bodies = self.invalid_bodies(rng)
        kind = rng.choice(sorted(bodies))
        path, body = bodies[kind]
        return Request(kind, False, "POST", path, body)

    def draw(self, rng: random.Random) -> Request:
        return self.valid(rng) if rng.random() < VALID_SHARE else self.invalid(rng)


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    return None if isinstance(value, float) and value != value else value


async def _one(client: httpx.AsyncClient, request: Request, tally: Tally) -> None:
    tally.sent[request.kind] += 1
    headers = {"content-type": "application/json"} if request.body is not None else {}
    sent = time.perf_counter()
    try:
        response = await client.request(request.method, request.path, content=request.body, headers=headers)
    except httpx.HTTPError as err:
        tally.transport[(request.kind, type(err).__name__)] += 1
        return
    if request.valid:
        tally.latency_ms.append((time.perf_counter() - sent) * 1000)
    status = response.status_code
    tally.statuses[(request.kind, status)] += 1
    if request.valid:
        ok = status == 200 and (request.check is None or request.check(response.json()))
    else:
        ok = 400 <= status < 500
    if not ok and len(tally.wrong) < 20:
        tally.wrong.append(f"{request.kind}: {status} {response.text[:300]}")


async def soak(url: str, pid: int, mix: Mix) -> tuple[Tally, list[tuple[float, float]]]:
    tally = Tally()
    samples: list[tuple[float, float]] = []
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=REQUEST_TIMEOUT_S) as client:
        start = time.monotonic()
        end = start + DURATION_S

        async def client_loop(seed: int) -> None:
            rng = random.Random(seed)
            while time.monotonic() < end:
                await _one(client, mix.draw(rng), tally)

        async def sampler() -> None:
            while True:
                samples.append((round(time.monotonic() - start, 1), round(tree_rss_mb(pid), 1)))
                if time.monotonic() >= end:
                    return
                await asyncio.sleep(min(SAMPLE_EVERY_S, max(0.0, end - time.monotonic())))

        bound = DURATION_S + REQUEST_TIMEOUT_S + 15
        await asyncio.wait_for(asyncio.gather(sampler(), *(client_loop(s) for s in range(CLIENTS))), bound)
    samples.append((round(time.monotonic() - start, 1), round(tree_rss_mb(pid), 1)))
    return tally, samples


@pytest.fixture(scope="module")
def open_server(trained):
    """A real `bentoml serve` of the trained models, without an API key."""
    port = service_process.free_port()
    url = f"http://127.0.0.1:{port}"
    log_file = trained.settings.paths.workdir / "service-soak.log"
    saved = os.environ.pop("JOURNEY_API_KEY", None)
    try:
        proc = service_process.start(trained.settings, trained.config, port, log_file)
    finally:
        if saved is not None:
            os.environ["JOURNEY_API_KEY"] = saved
    try:
        service_process.wait_ready(proc, url, timeout_s=180, log_file=log_file)
        yield url, proc
    finally:
        service_process.stop(proc)


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_soak_mixed_traffic_no_5xx_and_flat_memory(open_server, trained):
    url, proc = open_server
    frame = active(newest_features(trained.settings))
    info = httpx.get(f"{url}/model_info", timeout=30).json()
    features = list(dict.fromkeys(f for model in info["models"] for f in model["features"]))
    known = frame["customer_id"].astype(str).tolist()
    rows = [
        {"customer_id": str(r["customer_id"]), "features": {f: _plain(r[f]) for f in features}}
        for r in frame.head(200).to_dict("records")
    ]
    mix = Mix(known, rows)
    # before the soak, every kind once or more, one at a time: the payloads are what the server
    # accepts (valid ones answer 200), and each code path has allocated what it keeps
    rng = random.Random(-1)
    warm_up = [*(mix.valid(rng) for _ in range(60)), *(mix.invalid(rng) for _ in range(60))]
    for kind in sorted(VALID_WEIGHTS):
        while not any(w.kind == kind for w in warm_up):
            warm_up.append(mix.valid(rng))
    for request in warm_up:
        r = httpx.request(request.method, f"{url}{request.path}", content=request.body, timeout=60)
        assert (r.status_code == 200) if request.valid else (400 <= r.status_code < 500), (
            request.kind,
            r.status_code,
            r.text[:500],
        )

    tally, samples = asyncio.run(soak(url, proc.pid, mix))

    valid_kinds = set(VALID_WEIGHTS)
    total = sum(tally.sent.values())
    valid = sum(n for k, n in tally.sent.items() if k in valid_kinds)
    by_class: Counter[str] = Counter()
    for (kind, status), n in tally.statuses.items():
        by_class[f"{'valid' if kind in valid_kinds else 'invalid'} {status}"] += n
    warm = statistics.median(rss for t, rss in samples if WARM_WINDOW_S[0] <= t <= WARM_WINDOW_S[1])
    last = statistics.median(rss for t, rss in samples if t >= DURATION_S - LAST_WINDOW_S)
    growth = last - warm
    latency = statistics.quantiles(tally.latency_ms, n=100) if len(tally.latency_ms) > 1 else [math.nan] * 99
    print(f"\nsoak: {total} requests in {DURATION_S:.0f} s at {CLIENTS} clients ({valid} valid)")
    print(f"by kind: {dict(sorted(tally.sent.items()))}")
    print(f"status classes: {dict(sorted(by_class.items()))}; transport errors: {dict(tally.transport)}")
    print(f"valid requests: p50 {latency[49]:.0f} ms, p99 {latency[98]:.0f} ms")
    print(f"server processes: {len(process_tree(proc.pid))}; RSS samples (s, MiB): {samples}")
    print(f"RSS median {warm:.1f} MiB in {WARM_WINDOW_S} s, {last:.1f} MiB in the last {LAST_WINDOW_S:.0f} s")
    assert proc.poll() is None, "the server died during the soak"
    assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
    assert not tally.transport, f"transport errors: {dict(tally.transport)}"
    assert not tally.wrong, "unexpected answers:\n" + "\n".join(tally.wrong)
    server_errors = {k: n for k, n in tally.statuses.items() if k[1] >= 500}
    assert not server_errors, f"5xx answers: {server_errors}"
    every_kind = valid_kinds | set(mix.invalid_bodies(random.Random(0)))
    assert set(tally.sent) == every_kind, f"kinds never drawn: {every_kind - set(tally.sent)}"
    assert total >= 1000, f"only {total} requests in {DURATION_S:.0f} s"
    # The bound: once warm, the tree (arbiter + one worker, ~760 MiB) holds the models, the Feast
    # registry and the allocator's arenas; between samples it swings by up to ~35 MiB as large
    # responses come and go. The window medians moved by +7 and +13 MiB on the runs this bound
    # was set from (~4,500-5,200 requests); runs of one request kind at a time level off within
    # a minute or two (allocator high-water marks, not a per-request leak), and a 5-minute mixed
    # run rose ~40 MiB from its first 30 s and was flat over its last 90 s. 50 MiB (~7%) is about
    # four times the drift seen here and fails on a leak of ~10 KiB per request.
    assert growth < MAX_GROWTH_MB, f"RSS grew {growth:.1f} MiB after warm-up: {samples}"
