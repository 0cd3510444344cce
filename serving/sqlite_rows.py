"""A lean read of Feast's SQLite online store: the same rows as Feast's own read, much faster.

Why: Feast's `get_online_features` turns every (customer, feature) row into a Python datetime, a
response protobuf and then a dict; for 1,000 customers that conversion, not SQLite, is most of a
request's time (docs/benchmarks.md). This reader runs one query per feature view on the same table (Feast
0.67's layout: table `<project>_<view>`, one row per entity key and feature, the value a serialized
`feast.types.Value`), and lets SQLite group the rows by customer: one result row per customer with
the feature names and the hex of the values concatenated in the same aggregation pass (so names
and values line up whatever order SQLite reads them in). Customers with a row in the table's
mirror (features/online_rows.py: the same grouped row, written at materialization and kept exact
by triggers) are read from there instead, one lookup each. The values are then decoded
column-wise: doubles (the common case) with one NumPy gather, strings by slicing, anything else
through the protobuf parser.

Guard: tests/serving/test_sqlite_rows.py checks it returns exactly what Feast returns (values,
types, timestamps, unknown and repeated ids), so a Feast upgrade that changes the layout fails a
test instead of serving wrong features. Other online stores (Redis) keep Feast's own read.
"""

from __future__ import annotations

import sqlite3
import struct
import threading
from pathlib import Path
from typing import Any

import numpy as np
from feast import FeatureService, FeatureStore
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value

from features.online_rows import grouped_query, mirror_query, mirrored, sqlite_path, table_name

__all__ = ["SqliteRows", "decode_values", "sqlite_path"]

ENTITY = "customer_id"
DOUBLE_TAG = 0x29  # field 5 (double_val), wire type 1 (64-bit): the tag byte of a double Value
STRING_TAG = 0x12  # field 2 (string_val), wire type 2 (length-delimited)
_BYTES = np.arange(1, 9)  # offsets of a double's eight bytes after its tag
_DOUBLE = struct.Struct("<d")
_DOUBLE_HEX = f"{DOUBLE_TAG:02X}"  # as SQLite's hex() writes it
SMALL = 400  # values; below this decode_values decodes one by one
MMAP_BYTES = 1 << 30  # map up to 1 GiB of the file: page reads without a copy per read


def decode_values(hex_values: list[str]) -> np.ndarray:
    """Serialized `feast.types.Value`s (as hex) -> an object array of the values Feast returns.

    Empty -> None; a double is one NumPy gather over all of them; a short string is a slice;
    anything else goes through the protobuf parser. Fewer than SMALL values (a request for a
    few ids) skip NumPy, whose fixed cost per call is larger than the work there.
    """
    if len(hex_values) < SMALL:
        return np.fromiter(map(_decode_one, hex_values), dtype=object, count=len(hex_values))
    sizes = np.fromiter(map(len, hex_values), dtype=np.int64, count=len(hex_values)) // 2
    buf = np.frombuffer(bytes.fromhex("".join(hex_values)), dtype=np.uint8)
    starts = np.zeros(len(sizes), dtype=np.int64)
    np.cumsum(sizes[:-1], out=starts[1:])
    tags = np.zeros(len(sizes), dtype=np.uint8)
    filled = sizes > 0
    tags[filled] = buf[starts[filled]]
    double = filled & (tags == DOUBLE_TAG) & (sizes == 9)
    out = np.full(len(sizes), None, dtype=object)
    if double.any():
        rows = np.flatnonzero(double)
        out[rows] = buf[starts[rows, None] + _BYTES].copy().view("<f8").ravel()  # Python floats
    raw = buf.tobytes()
    for i in np.flatnonzero(filled & ~double).tolist():
        start, size = int(starts[i]), int(sizes[i])
        if tags[i] == STRING_TAG and size >= 2 and buf[start + 1] == size - 2:  # one-byte length
            out[i] = raw[start + 2 : start + size].decode()
        else:
            out[i] = _parsed(raw[start : start + size])
    return out


def _decode_one(hex_value: str) -> Any:
    if not hex_value:
        return None
    if len(hex_value) == 18 and hex_value.startswith(_DOUBLE_HEX):
        return _DOUBLE.unpack(bytes.fromhex(hex_value[2:]))[0]
    return _parsed(bytes.fromhex(hex_value))


def _parsed(blob: bytes) -> Any:
    """One serialized Value through the protobuf parser (Feast's own decoding)."""
    value = Value()
    value.ParseFromString(blob)
    kind = value.WhichOneof("val")
    return getattr(value, kind) if kind and kind != "null_val" else None


class SqliteRows:
    """Columns of a FeatureService's features for a list of ids, read from the SQLite file."""

    def __init__(
        self, store: FeatureStore, service: FeatureService, path: Path, timeout_s: float = 2.0
    ) -> None:
        self.path = path
        self.timeout_s = timeout_s  # SQLite's busy timeout: how long a read may wait for a lock
        self.version = store.config.entity_key_serialization_version
        self.tables = [table_name(store.project, p.name) for p in service.feature_view_projections]
        self.use_mirror = True  # False: always group Feast's rows (benchmarks compare the two)
        self._local = threading.local()  # sqlite3 connections stay in the thread that made them
        self._prefix = self._key_prefix()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if not self.path.exists():
                raise FileNotFoundError(f"no online store at {self.path}: run `journey features materialize`")
            # a WAL-mode file (features/online_rows.py) never locks a reader out; the busy timeout
            # bounds the rare waits left (a file still in rollback mode, WAL recovery)
            conn = sqlite3.connect(
                f"file:{self.path}?mode=ro",
                uri=True,
                check_same_thread=False,
                isolation_level=None,
                timeout=self.timeout_s,
            )
            conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")  # reads without a copy per page
            self._local.conn = conn
        return conn

    def feast_key(self, customer_id: str) -> bytes:
        entity = EntityKey(join_keys=[ENTITY], entity_values=[Value(string_val=customer_id)])
        return bytes(serialize_entity_key(entity, entity_key_serialization_version=self.version))

    def _key_prefix(self) -> bytes | None:
        """Feast's serialized key of a string id is a fixed prefix, the id's length and its UTF-8
        bytes; checked against Feast's own serializer here, else every key goes through it."""
        prefix = self.feast_key("")[:-4]
        fast = lambda i: prefix + struct.pack("<I", len(i.encode())) + i.encode()  # noqa: E731
        samples = ["", "C-000123", "ünïcødé-客户", "x" * 300]
        return prefix if all(fast(i) == self.feast_key(i) for i in samples) else None

    def key(self, customer_id: str) -> bytes:
        if self._prefix is None:
            return self.feast_key(customer_id)
        raw = customer_id.encode()
        return self._prefix + struct.pack("<I", len(raw)) + raw

    def read(self, ids: list[str], features: list[str]) -> tuple[dict[str, list[Any]], list[int | None]]:
        """(feature -> values in id order, None where unknown; event time in epoch seconds per id)."""
        positions: dict[bytes, list[int]] = {}
        for j, customer_id in enumerate(ids):
            positions.setdefault(self.key(customer_id), []).append(j)  # an id may come twice
        columns: dict[str, list[Any]] = {name: [None] * len(ids) for name in features}
        stamps: list[int | None] = [None] * len(ids)
        keys = list(positions)
        conn = self._conn()
        conn.execute("BEGIN")  # one snapshot of the file for the trigger check and every table
        try:
            trusted = mirrored(conn, self.tables) if self.use_mirror else set()
            for table in self.tables:
                rows = self._rows(conn, table, keys, table in trusted)
                if rows:
                    self._fill(rows, positions, columns, stamps)
        finally:
            conn.execute("COMMIT")
        return columns, stamps

    @staticmethod
    def _rows(conn: sqlite3.Connection, table: str, keys: list[bytes], use_mirror: bool) -> list[Any]:
        """One grouped row per known customer: from the mirror where it has one, else Feast's rows."""
        if not use_mirror:
            return conn.execute(grouped_query(table, len(keys)), keys).fetchall()
        rows = conn.execute(mirror_query(table, len(keys)), keys).fetchall()
        if len(rows) < len(keys):  # not mirrored yet (or unknown): group Feast's rows for those
            found = {row[0] for row in rows}
            rest = [k for k in keys if k not in found]
            rows += conn.execute(grouped_query(table, len(rest)), rest).fetchall()
        return rows

    @staticmethod
    def _fill(
        rows: list[tuple[bytes, str, str, Any]],
        positions: dict[bytes, list[int]],
        columns: dict[str, list[Any]],
        stamps: list[int | None],
    ) -> None:
        """Spread one table's grouped rows (one per customer) into the id-ordered columns.

        The usual case, every customer holding every feature, is filled column by column with
        NumPy; a few values, or customers whose feature lists differ, value by value.
        """
        values = decode_values(",".join(r[2] for r in rows).split(","))
        # (row of `rows`, position in the request) pairs; an id asked for twice gets both
        pairs = [(r, j) for r, row in enumerate(rows) for j in positions[row[0]]]
        for r, j in pairs:
            if rows[r][3] is not None:
                stamps[j] = int(rows[r][3])
        first = rows[0][1]
        if len(values) >= SMALL and all(row[1] == first for row in rows):
            names = first.split(",")
            source = np.fromiter((r for r, _ in pairs), dtype=np.int64, count=len(pairs))
            target = np.fromiter((j for _, j in pairs), dtype=np.int64, count=len(pairs))
            grid = np.full((len(stamps), len(names)), None, dtype=object)
            grid[target] = values.reshape(len(rows), len(names))[source]
            for k, name in enumerate(names):
                if name in columns:
                    columns[name] = grid[:, k].tolist()
            return
        at, starts = 0, []
        for row in rows:
            starts.append(at)
            at += row[1].count(",") + 1
        for r, j in pairs:
            names = rows[r][1].split(",")
            for name, value in zip(names, values[starts[r] : starts[r] + len(names)].tolist(), strict=True):
                if name in columns:
                    columns[name][j] = value
