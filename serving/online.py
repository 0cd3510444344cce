"""Reads from the Feast online store for the scoring service: one read per request, health, freshness."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from feast import FeatureStore

from serving.sqlite_rows import SqliteRows, sqlite_path

log = logging.getLogger(__name__)
PROBE_ID = "__journey_readiness_probe__"
HEALTH_CACHE_S = 1.0  # /readyz may be polled often; probe the store at most once a second


class StoreUnavailable(RuntimeError):
    """The online store did not answer; the message says why (shown to the client with a 503)."""


@dataclass(frozen=True)
class OnlineRows:
    columns: dict[str, list[Any]]
    known: np.ndarray  # bool per id: the store holds a row for it
    as_of: list[pd.Timestamp | None]  # snapshot time of each row
    stale: np.ndarray  # bool per id: the row is older than the time to live


class OnlineFeatures:
    """The FeatureService of the churn champion, read for lists of customer ids."""

    def __init__(self, store: FeatureStore, service_name: str, ttl_days: int) -> None:
        self.store = store
        self.service = store.get_feature_service(service_name)
        self.ttl = pd.Timedelta(days=ttl_days)
        self.newest = self._newest_snapshot()
        path = sqlite_path(store)
        self.sqlite = SqliteRows(store, self.service, path) if path is not None else None
        self._health: tuple[float, str | None] = (0.0, None)
        self._lock = threading.Lock()

    def _newest_snapshot(self) -> pd.Timestamp | None:
        """End of the newest materialisation: the snapshot time freshness is judged against."""
        ends = [end for view in self.store.list_feature_views() for _, end in view.materialization_intervals]
        return pd.Timestamp(max(ends)).tz_convert("UTC") if ends else None

    def read(self, ids: list[str], features: list[str]) -> OnlineRows:
        """One online-store read for all ids; raises StoreUnavailable when the store fails."""
        try:
            columns, stamps = self._fetch(ids, features)
        except Exception as err:  # any client error of the store's driver means: not available
            self._health = (time.monotonic(), f"{type(err).__name__}: {err}")
            raise StoreUnavailable(f"online feature store unavailable: {type(err).__name__}: {err}") from err
        self._health = (time.monotonic(), None)
        as_of = [pd.Timestamp(s, unit="s", tz="UTC") if s else None for s in stamps]
        known = np.array([s is not None for s in as_of], dtype=bool)
        cutoff = (self.newest - self.ttl) if self.newest is not None else None
        stale = np.array([bool(cutoff is not None and t is not None and t < cutoff) for t in as_of])
        return OnlineRows(columns, known, as_of, stale)

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
        """None when the store answers (probed at most once a second), else the reason."""
        checked, problem = self._health
        if time.monotonic() - checked < HEALTH_CACHE_S:
            return problem
        with self._lock:
            checked, problem = self._health  # another caller may have probed while we waited
            if time.monotonic() - checked < HEALTH_CACHE_S:
                return problem
            try:
                self.store.get_online_features(features=self.service, entity_rows=[{"customer_id": PROBE_ID}])
                self._health = (time.monotonic(), None)
            except Exception as err:
                self._health = (time.monotonic(), f"{type(err).__name__}: {err}")
                log.warning("online store probe failed: %s", self._health[1])
        return self._health[1]
