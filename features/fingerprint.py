"""Fingerprints of the data before each snapshot: what decides whether a snapshot must be rebuilt.

A snapshot's features depend only on records and customers before it and on the feature
configuration. Each table's rows are hashed and summed per day (customers by their first
contact); the running sum up to a snapshot changes when any row before it is added, removed or
edited, and only then.
"""

from __future__ import annotations

import hashlib
import json

import ibis
import ibis.expr.datatypes as dt
import numpy as np
import pandas as pd
from ibis.expr.types import Table

from core.config import Settings
from features.tables import SourceTables
from features.windows import epoch_day, to_day

FEATURE_VERSION = "2"  # bump when a feature definition changes: every snapshot is rebuilt
PRIME = 1_000_000_007


def _row_hash(table: Table) -> ibis.Value:
    """A per-row checksum: one hash of the whole row (as a struct of its columns), reduced mod a prime.

    One hash call per row; hashing each column on its own compiled to bit-string casts that cost
    about three times as much over ten million events.
    """
    row = ibis.struct({c: table[c] for c in sorted(table.columns)})
    whole_row_hash = ibis.udf.scalar.builtin(name="hash", signature=((row.type(),), dt.uint64))(_builtin)
    return (whole_row_hash(row) % PRIME).cast("int64")


def _builtin(row: ibis.Value) -> ibis.Value:
    """The body of a builtin UDF: never called, the engine's function is."""
    raise NotImplementedError


def _daily_sums(table: Table, ts: str) -> pd.DataFrame:
    daily = table.group_by(day=epoch_day(table[ts])).aggregate(n=table.count(), h=_row_hash(table).sum())
    return daily.execute().sort_values("day")


def _before(daily: pd.DataFrame, days: np.ndarray) -> list[str]:
    cum_n = np.concatenate([[0], daily["n"].to_numpy(np.int64).cumsum()])
    cum_h = np.concatenate([[0], (daily["h"].to_numpy(np.float64) % PRIME).cumsum()])
    idx = np.searchsorted(daily["day"].to_numpy(), days, side="left")
    return [f"{cum_n[i]}:{cum_h[i]:.0f}" for i in idx]


def config_hash(settings: Settings) -> str:
    """Everything besides the data that changes feature values."""
    payload = {
        "version": FEATURE_VERSION,
        "stages": settings.stages.model_dump(),
        "demographics": [d.model_dump() for d in settings.demographics],
        "min_history_days": settings.snapshots.min_history_days,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def snapshot_fingerprints(
    src: SourceTables, snapshots: list[pd.Timestamp], settings: Settings
) -> dict[str, str]:
    """snapshot (ISO) -> fingerprint of the configuration, the customers and all records before it."""
    days = np.array([to_day(s) for s in snapshots])
    tables = [(src.customers, "created_at"), (src.events, "ts"), (src.transactions, "ts")]
    if src.stage_history is not None:
        tables.append((src.stage_history, "ts"))
    parts = zip(*(_before(_daily_sums(t, ts), days) for t, ts in tables), strict=True)
    head = config_hash(settings)
    return {
        s.isoformat(): hashlib.sha256(f"{head}|{'|'.join(p)}".encode()).hexdigest()[:16]
        for s, p in zip(snapshots, parts, strict=True)
    }
