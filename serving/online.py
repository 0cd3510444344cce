"""Reads from the Feast online store for the scoring service: one read per request, health, freshness."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from feast import FeatureStore

from features.sentinel import EMPTY, read_sentinel
from serving.sqlite_rows import SqliteRows, sqlite_path

T = TypeVar("T")

log = logging.getLogger(__name__)
PROBE_ID = "__journey_readiness_probe__"  # read when no sentinel was recorded: the store answers at all
HEALTH_CACHE_S = 1.0  # /readyz may be polled often; probe the store at most once a second
UNAVAILABLE = "online feature store unavailable"


class StoreUnavailable(RuntimeError):
    """The online store did not answer; the message says why (shown to the client with a 503)."""


@dataclass(frozen=True)
class OnlineRows:
    columns: dict[str, list[Any]]
    known: np.ndarray  # bool per id: the store holds a row for it
    as_of: list[pd.Timestamp | None]  # snapshot time of each row
    stale: np.ndarray  # bool per id: the row is older than the time to live


class OnlineFeatures:
    """The FeatureService of the churn champion, read for lists of customer ids.

    Every call of the store is bounded (Redis socket timeouts, SQLite's busy timeout: both
    `feast.timeout_seconds`). While the store is failing, one call at a time tries it and the
    others fail at once with the last reason: an outage holds one thread for the timeout, not one
    per request, and the first call that succeeds ends it.
    """

    def __init__(self, store: FeatureStore, service_name: str, ttl_days: int, timeout_s: float = 2.0) -> None:
        self.store = store
        self.service = store.get_feature_service(service_name)
        self.ttl = pd.Timedelta(days=ttl_days)
        self.newest = self._newest_snapshot()
        path = sqlite_path(store)
        self.sqlite = SqliteRows(store, self.service, path, timeout_s) if path is not None else None
        self._failing: str | None = None  # why the last call of the store failed; None: it answered
        self._trial = threading.Lock()  # held by the one call that tries a failing store
        self._ready: tuple[float, str | None] = (float("-inf"), None)  # (probed at, problem)
        self._probing = threading.Lock()

    def _newest_snapshot(self) -> pd.Timestamp | None:
        """End of the newest materialisation: the snapshot time freshness is judged against."""
        ends = [end for view in self.store.list_feature_views() for _, end in view.materialization_intervals]
        return pd.Timestamp(max(ends)).tz_convert("UTC") if ends else None

    def read(self, ids: list[str], features: list[str]) -> OnlineRows:
        """One online-store read for all ids; raises StoreUnavailable when the store fails."""
        columns, stamps = self._call(self._fetch, ids, features)
        as_of = [pd.Timestamp(s, unit="s", tz="UTC") if s else None for s in stamps]
        known = np.array([s is not None for s in as_of], dtype=bool)
        cutoff = (self.newest - self.ttl) if self.newest is not None else None
        stale = np.array([bool(cutoff is not None and t is not None and t < cutoff) for t in as_of])
        return OnlineRows(columns, known, as_of, stale)

    def _call(self, fetch: Callable[..., T], *args: Any) -> T:
        """`fetch(*args)` against the store; fails fast while another call tries a failing store."""
        failing = self._failing
        if failing is not None and not self._trial.acquire(blocking=False):
            raise StoreUnavailable(f"{UNAVAILABLE}: {failing}")
        try:
            out = fetch(*args)
        except Exception as err:  # any client error of the store's driver means: not available
            self._failing = f"{type(err).__name__}: {err}"
            if failing is None:
                log.warning("%s: %s", UNAVAILABLE, self._failing)
            raise StoreUnavailable(f"{UNAVAILABLE}: {self._failing}") from err
        finally:
            if failing is not None:
                self._trial.release()
        if failing is not None:
            self._failing = None
            log.warning("online feature store answers again")
        return out

    def _fetch(self, ids: list[str], features: list[str]) -> tuple[dict[str, list[Any]], list[Any]]:
        """Feature columns and event times (epoch seconds) per id: SQLite directly, else Feast's read."""
        if self.sqlite is not None:
            return self.sqlite.read(ids, features)
        response = self.store.get_online_features(
            features=self.service, entity_rows=[{"customer_id": i} for i in ids]
        )
        data = response.to_dict(include_event_timestamps=True)
        stamps = data.get(f"{features[0]}__ts") or [None] * len(ids)
        return {name: data[name] for name in features}, stamps

    def problem(self) -> str | None:
        """None when the store answers and holds its sentinel customer, else the reason.

        Probed at most once a second and by one caller at a time (the others get the last
        answer), each probe bounded by the store's timeouts: /readyz never queues behind a hung store.
        """
        checked, problem = self._ready
        if time.monotonic() - checked < HEALTH_CACHE_S or not self._probing.acquire(blocking=False):
            return problem
        try:
            now = self._probe()
            self._ready = (time.monotonic(), now)
        finally:
            self._probing.release()
        if now != problem:  # one line per change, not per probe
            log.warning("readiness: %s", now or "ready again")
        return now

    def _probe(self) -> str | None:
        sentinel = read_sentinel(self.store)
        feature = self.service.feature_view_projections[0].features[0].name
        try:
            rows = self.read([sentinel.customer_id if sentinel else PROBE_ID], [feature])
        except StoreUnavailable as err:
            return str(err)
        if sentinel is not None and not rows.known[0]:
            return f"{EMPTY} (customer {sentinel.customer_id}, written by it, is missing)"
        return None
