"""Load against a running service for fault-injection tests: every request's time, status and latency.

Threads with one keep-alive httpx client each send requests in a closed loop until stopped; each
answer (or transport error) is recorded with when it was sent, so a test can count outcomes by
status in the phases of a fault (before, during, after) and check how long any request took.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import httpx

Request = Callable[[httpx.Client, int], httpx.Response]  # (client, n-th call) -> the answer


@dataclass(frozen=True)
class Outcome:
    name: str  # which request kind
    sent: float  # seconds since the load started
    seconds: float  # latency
    status: int | None  # None: a transport error (timeout, refused)
    body: str  # the first 300 characters of the answer, or the transport error

    @property
    def done(self) -> float:
        """When the answer came, in seconds since the load started."""
        return self.sent + self.seconds


@dataclass
class Load:
    """Closed-loop clients, each sending one kind of request, until `stop`."""

    url: str
    timeout_s: float = 40.0
    outcomes: list[Outcome] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> float:
        return time.monotonic() - self.started

    def add(self, name: str, request: Request, clients: int = 1, pause_s: float = 0.0) -> None:
        for _ in range(clients):
            thread = threading.Thread(target=self._loop, args=(name, request, pause_s), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _loop(self, name: str, request: Request, pause_s: float) -> None:
        with httpx.Client(base_url=self.url, timeout=self.timeout_s) as client:
            n = 0
            while not self._stop.is_set():
                sent = self.now()
                try:
                    response = request(client, n)
                    status, body = response.status_code, response.text[:300]
                except httpx.HTTPError as err:
                    status, body = None, f"{type(err).__name__}: {err}"
                with self._lock:
                    self.outcomes.append(Outcome(name, sent, self.now() - sent, status, body))
                n += 1
                if pause_s:
                    self._stop.wait(pause_s)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout_s + 5)

    def of(self, name: str, start: float = 0.0, end: float = float("inf")) -> list[Outcome]:
        """The outcomes of one request kind sent in [start, end)."""
        with self._lock:
            return [o for o in self.outcomes if o.name == name and start <= o.sent < end]


def summary(outcomes: Iterable[Outcome]) -> str:
    """'n requests: {status: count}, latency p50 / p99 / max' (status 'error' = transport error)."""
    rows = list(outcomes)
    if not rows:
        return "0 requests"
    statuses = Counter("error" if o.status is None else str(o.status) for o in rows)
    ms = sorted(o.seconds * 1000 for o in rows)
    p99 = statistics.quantiles(ms, n=100, method="inclusive")[98] if len(ms) > 1 else ms[0]
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))
    return (
        f"{len(rows)} requests ({counts}), latency p50 {statistics.median(ms):.0f} ms, "
        f"p99 {p99:.0f} ms, max {ms[-1]:.0f} ms"
    )
