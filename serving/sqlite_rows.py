"""A lean read of Feast's SQLite online store: the same rows as Feast's own read, 5x faster.

Why: Feast's `get_online_features` turns every (customer, feature) row into a Python datetime, a
response protobuf and then a dict; for 1,000 customers x 65 features that was ~2 s here, most of
it conversions, not SQLite. This reader runs the same query on the same table (one per feature
view; Feast 0.67's layout: table `<project>_<view>`, one row per entity key and feature, the value
a serialized `feast.types.Value`) and decodes each value once, straight into columns.

Guard: tests/serving/test_sqlite_rows.py checks it returns exactly what Feast returns, so a Feast
upgrade that changes the layout fails a test instead of serving wrong features. Other online stores
(Redis) keep Feast's own read.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from feast import FeatureService, FeatureStore
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value

ENTITY = "customer_id"


def sqlite_path(store: FeatureStore) -> Path | None:
    """The online store's SQLite file, or None when the online store is not SQLite."""
    online = store.config.online_store
    if getattr(online, "type", None) != "sqlite":
        return None
    path = Path(online.path)
    return path if path.is_absolute() else Path(store.config.repo_path or ".") / path


class SqliteRows:
    """Columns of a FeatureService's features for a list of ids, read from the SQLite file."""

    def __init__(self, store: FeatureStore, service: FeatureService, path: Path) -> None:
        self.path = path
        self.version = store.config.entity_key_serialization_version
        self.tables = [f"{store.project}_{p.name}" for p in service.feature_view_projections]
        self._local = threading.local()  # sqlite3 connections stay in the thread that made them

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if not self.path.exists():
                raise FileNotFoundError(f"no online store at {self.path}: run `journey features materialize`")
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self._local.conn = conn
        return conn

    def key(self, customer_id: str) -> bytes:
        entity = EntityKey(join_keys=[ENTITY], entity_values=[Value(string_val=customer_id)])
        return bytes(serialize_entity_key(entity, entity_key_serialization_version=self.version))

    def read(self, ids: list[str], features: list[str]) -> tuple[dict[str, list[Any]], list[int | None]]:
        """(feature -> values in id order, None where unknown; event time in epoch seconds per id)."""
        keys = [self.key(i) for i in ids]
        positions: dict[bytes, list[int]] = {}
        for j, k in enumerate(keys):
            positions.setdefault(k, []).append(j)  # an id may be asked for more than once
        wanted = set(features)
        columns: dict[str, list[Any]] = {name: [None] * len(ids) for name in features}
        stamps: list[int | None] = [None] * len(ids)
        value = Value()
        marks = ",".join("?" * len(positions))
        for table in self.tables:
            # table names come from the registry; the ids are bound parameters
            query = f'SELECT entity_key, feature_name, value, event_ts FROM "{table}" WHERE entity_key IN ({marks})'  # noqa: E501
            for key, name, blob, ts in self._conn().execute(query, list(positions)):
                if name not in wanted:
                    continue
                value.ParseFromString(blob)
                kind = value.WhichOneof("val")
                decoded = getattr(value, kind) if kind and kind != "null_val" else None
                for j in positions[key]:
                    columns[name][j] = decoded
                    stamps[j] = int(ts) if ts is not None else stamps[j]
        return columns, stamps
