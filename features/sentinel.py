"""The online store's sentinel: a customer the last materialization wrote, who must be found there.

Why: an online store that lost its rows (Redis restarted without persistence, a new empty Redis,
a switch of store without a materialization) still answers every read, with every customer
unknown, and Feast's registry still says the snapshot was materialized. A customer of the newest
snapshot, recorded beside the Feast repo at materialization time, tells the two apart: the
service's readiness check reads that customer and reports an empty store when it is missing, and
`journey features materialize` reloads in full instead of loading nothing incrementally.
The record is one JSON file per Feast project, replaced atomically.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from feast import FeatureStore

EMPTY = "online store is empty: run `journey features materialize --reload`"


@dataclass(frozen=True)
class Sentinel:
    customer_id: str
    snapshot: str  # ISO time of the snapshot the customer's row comes from
    customers: int  # customers the materialization that recorded it wrote


def sentinel_path(store: FeatureStore) -> Path:
    return Path(store.config.repo_path or ".") / f"online_sentinel.{store.project}.json"


def write_sentinel(store: FeatureStore, sentinel: Sentinel) -> Path:
    """Record the sentinel (write beside, then rename: a reader never sees half a file)."""
    path = sentinel_path(store)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(sentinel), indent=2) + "\n")
    tmp.replace(path)
    return path


def read_sentinel(store: FeatureStore) -> Sentinel | None:
    """The recorded sentinel, or None when no materialization recorded one (an older Journey)."""
    path = sentinel_path(store)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return Sentinel(str(raw["customer_id"]), str(raw["snapshot"]), int(raw["customers"]))
