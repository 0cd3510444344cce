"""One row per customer beside Feast's SQLite online table, kept exact by triggers.

Why: Feast's SQLite layout holds one row per (customer, feature); reading 1,000 customers of a
65-feature service is 65,000 index lookups, most of a 1,000-id request's budget
(docs/benchmarks.md). The mirror table `<table>__by_customer` holds, per customer, the
grouped row the service's reader would otherwise compute on every request: the feature names and
the hex of their serialized values (concatenated in one aggregation pass, so they line up) and
the newest event time.

Exactness: triggers on Feast's table delete a customer's mirror row whenever any of that
customer's Feast rows is inserted, updated or deleted, by whichever writer (Feast's
materialization, `feast materialize`, a push). `refresh` (after each materialization) re-groups
the customers that have no mirror row. Readers use the mirror only while its table and all three
triggers exist (Feast drops the triggers with its table) and read customers without a mirror row
from Feast's table. So the mirror can be missing or partial, but never differ from Feast's rows.

The file is in WAL mode (`use_wal`, set before every materialization), so the service's readers
never wait for these writes.

Dropping a mirror table by hand leaves its triggers failing every write to Feast's table (SQLite
names the missing table); the next `journey features materialize` recreates it (`prepare`).
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from feast import FeatureStore

log = logging.getLogger(__name__)
OPS = ("insert", "update", "delete")
# what the reader needs per customer: key, names, hex values (same order), newest event time.
# group_concat skips NULLs, so a NULL value is read as an empty one (Feast writes an unset Value
# as b"" either way).
GROUPED = (
    "entity_key, group_concat(feature_name, ','), group_concat(hex(coalesce(value, x'')), ','), max(event_ts)"
)


def sqlite_path(store: FeatureStore) -> Path | None:
    """The online store's SQLite file, or None when the online store is not SQLite."""
    online = store.config.online_store
    if getattr(online, "type", None) != "sqlite":
        return None
    path = Path(online.path)
    return path if path.is_absolute() else Path(store.config.repo_path or ".") / path


def table_name(project: str, view: str) -> str:
    """Feast 0.67's online table of a feature view: `<project>_<view>`."""
    return f"{project}_{view}"


def table_names(store: FeatureStore) -> list[str]:
    return [table_name(store.project, view.name) for view in store.list_feature_views()]


def existing(conn: sqlite3.Connection, tables: list[str]) -> list[str]:
    """The tables that exist (Feast creates a view's table on `apply`)."""
    found = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return [t for t in tables if t in found]


def mirror(table: str) -> str:
    return f"{table}__by_customer"


def triggers(table: str) -> list[str]:
    return [f"{mirror(table)}_{op}" for op in OPS]


def grouped_query(table: str, count: int) -> str:
    """Feast's rows of `count` entity keys (bound parameters), grouped into one row per customer."""
    marks = ",".join("?" * count)
    return f'SELECT {GROUPED} FROM "{table}" WHERE entity_key IN ({marks}) GROUP BY entity_key'


def mirror_query(table: str, count: int) -> str:
    """The mirror rows of `count` entity keys, in the grouped query's shape."""
    marks = ",".join("?" * count)
    columns = "entity_key, names, hex_values, event_ts"
    return f'SELECT {columns} FROM "{mirror(table)}" WHERE entity_key IN ({marks})'


def mirrored(conn: sqlite3.Connection, tables: list[str]) -> set[str]:
    """The tables whose mirror can be trusted now: the mirror table and its three triggers exist."""
    wanted = {t: {mirror(t), *triggers(t)} for t in tables}
    names = [n for group in wanted.values() for n in group]
    marks = ",".join("?" * len(names))
    found = {row[0] for row in conn.execute(f"SELECT name FROM sqlite_master WHERE name IN ({marks})", names)}
    return {t for t, group in wanted.items() if group <= found}


def prepare(conn: sqlite3.Connection, table: str) -> None:
    """Create the mirror and its triggers; call before anything writes to Feast's table.

    A mirror found without its triggers may hold rows Feast has changed since: it is emptied.
    """
    name = mirror(table)
    if table not in mirrored(conn, [table]):
        conn.execute(f'DROP TABLE IF EXISTS "{name}"')
    # a rowid table with a unique index, not WITHOUT ROWID: rows of ~1 KB would spread the
    # key b-tree over many pages and slow the lookups
    conn.execute(
        f'CREATE TABLE IF NOT EXISTS "{name}" '
        "(entity_key BLOB NOT NULL UNIQUE, names TEXT, hex_values TEXT, event_ts)"
    )
    rows = {"insert": ["NEW"], "update": ["OLD", "NEW"], "delete": ["OLD"]}
    for op, trigger in zip(OPS, triggers(table), strict=True):
        body = " ".join(f'DELETE FROM "{name}" WHERE entity_key = {r}.entity_key;' for r in rows[op])
        when = f'AFTER {op.upper()} ON "{table}"'
        conn.execute(f'CREATE TRIGGER IF NOT EXISTS "{trigger}" {when} BEGIN {body} END')


def refresh(conn: sqlite3.Connection, table: str) -> int:
    """Group the customers that have no mirror row; returns how many rows were written."""
    cursor = conn.execute(
        f'INSERT INTO "{mirror(table)}" SELECT {GROUPED} FROM "{table}" '
        f'WHERE entity_key NOT IN (SELECT entity_key FROM "{mirror(table)}") GROUP BY entity_key'
    )
    return cursor.rowcount


def _connect(store: FeatureStore) -> sqlite3.Connection | None:
    path = sqlite_path(store)
    if path is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=60)
    use_wal(conn)
    return conn


def use_wal(conn: sqlite3.Connection) -> None:
    """Put the file in write-ahead-log mode (kept in the file, for every later connection).

    In SQLite's default rollback-journal mode a writer locks readers out while it commits or
    spills its cache: the service's reads waited ~5 s and failed with "database is locked" while
    `journey features materialize` ran. In WAL mode readers read the last committed state and
    never wait for the writer, nor the writer for them.
    """
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        log.warning("online store: SQLite kept journal mode %s (not WAL): reads may wait for writes", mode)


def prepare_store(store: FeatureStore) -> None:
    """Mirrors and triggers for every feature view of a SQLite online store (else nothing)."""
    conn = _connect(store)
    if conn is None:
        return
    with conn:
        for table in existing(conn, table_names(store)):
            prepare(conn, table)
    conn.close()


def refresh_store(store: FeatureStore) -> int:
    """Fill the mirrors of every feature view after a materialization; rows written in all."""
    conn = _connect(store)
    if conn is None:
        return 0
    with conn:
        trusted = mirrored(conn, table_names(store))
        written = sum(refresh(conn, table) for table in trusted)
    conn.close()
    log.info("online store: %d customer rows regrouped for wide reads", written)
    return written
