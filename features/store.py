"""The Feast feature repository: entity `customer`, a FeatureView per family, a FeatureService per model.

Definitions are built in code (FileSource paths must be absolute: Feast resolves relative paths
against the process's working directory) and applied with `FeatureStore.apply`, the programmatic
`feast apply`. A feature_store.yaml is written beside the registry so the `feast` CLI works there.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from feast import Entity, FeatureService, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.data_format import ParquetFormat
from feast.repo_config import RepoConfig
from feast.types import Float64, String

from core.config import Settings
from features import online_rows
from features.build import TIMESTAMP, Manifest, feature_path, parquet_glob
from features.catalog import FAMILIES, catalog

log = logging.getLogger(__name__)

# Which feature views each model's FeatureService pins.
SERVICES: dict[str, tuple[str, ...]] = {
    "churn_v1": FAMILIES,
    "stage_v1": FAMILIES,
}
ENTITY_KEY = "customer_id"


def customer_entity() -> Entity:
    return Entity(name="customer", join_keys=[ENTITY_KEY], value_type=ValueType.STRING)


def feature_views(settings: Settings) -> dict[str, FeatureView]:
    """One FeatureView per family over its Parquet table, with the schema from the catalog."""
    entity = customer_entity()
    views: dict[str, FeatureView] = {}
    for family, feats in catalog(settings.demographics).items():
        source = FileSource(
            name=f"{family}_source",
            path=parquet_glob(feature_path(settings.paths.features, family)),
            file_format=ParquetFormat(),
            timestamp_field=TIMESTAMP,
        )
        views[family] = FeatureView(
            name=family,
            entities=[entity],
            ttl=timedelta(days=settings.feast.ttl_days),
            schema=[Field(name=f.name, dtype=String if f.kind == "categorical" else Float64) for f in feats],
            source=source,
            online=True,
        )
    return views


def feature_services(views: dict[str, FeatureView]) -> list[FeatureService]:
    return [
        FeatureService(name=name, features=[views[f] for f in families])
        for name, families in SERVICES.items()
    ]


def _online_store(settings: Settings, repo: Path) -> dict[str, Any]:
    if settings.feast.online_store == "redis":
        connection = settings.feast.redis_connection
        if "retry=" not in connection:
            # fail fast: redis-py's default retries would hold a request for up to ~14 s during an
            # outage; without them an outage is an immediate 503 and readiness does not hang
            connection += ",retry=null"
        return {"type": "redis", "connection_string": connection}
    return {"type": "sqlite", "path": str(repo / "online.db")}


def repo_config_dict(settings: Settings) -> dict[str, Any]:
    repo = settings.paths.feast_repo.resolve()
    return {
        "project": settings.feast.project,
        "provider": "local",
        "registry": str(repo / "registry.db"),
        "online_store": _online_store(settings, repo),
        "offline_store": {"type": "duckdb"},
        "entity_key_serialization_version": 3,
    }


def open_store(settings: Settings) -> FeatureStore:
    """A FeatureStore on this project's registry, online and offline stores."""
    repo = settings.paths.feast_repo.resolve()
    repo.mkdir(parents=True, exist_ok=True)
    config = repo_config_dict(settings)
    (repo / "feature_store.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return FeatureStore(config=RepoConfig(repo_path=repo, **config))


def apply_definitions(store: FeatureStore, settings: Settings) -> list[str]:
    """Register the entity, views and services (idempotent), returning the service names."""
    views = feature_views(settings)
    services = feature_services(views)
    store.apply([customer_entity(), *views.values(), *services])
    return [s.name for s in services]


def materialize_newest(store: FeatureStore, manifest: Manifest) -> tuple[pd.Timestamp, str]:
    """Bring the online store up to the newest snapshot: a one-off backfill, then incrementally.

    The first run loads only the newest snapshot (every known customer has a row there); later
    runs let Feast load what arrived since the last materialised time.
    """
    newest = manifest.snapshots[-1]
    end = (newest + pd.Timedelta(seconds=1)).to_pydatetime()
    views = store.list_feature_views()
    online_rows.prepare_store(store)  # the triggers must see every write
    if not any(view.materialization_intervals for view in views):
        store.materialize(start_date=(newest - pd.Timedelta(seconds=1)).to_pydatetime(), end_date=end)
        log.info("backfilled snapshot %s into the online store", newest)
        mode = "backfill"
    else:
        store.materialize_incremental(end_date=end)
        log.info("materialized incrementally up to snapshot %s", newest)
        mode = "incremental"
    online_rows.refresh_store(store)
    return newest, mode
