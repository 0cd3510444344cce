"""Journey's Feast definitions: entity `customer`, a FeatureView per family, a FeatureService per model.

What differs between projects (the absolute Parquet paths, the TTL, the declared demographic
attributes) is read from `journey_repo.json` beside this file; `journey features materialize`
writes it, with feature_store.yaml and a copy of this file, into the runtime repo folder
(.journey/feature_repo), where `feast plan` and `feast apply` read them (see README.md here).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from feast import Entity, FeatureService, FeatureView, Field, FileSource, Project, ValueType
from feast.data_format import ParquetFormat
from feast.types import Float64, String

from features.catalog import Demographic, Family, catalog

PARAMS = json.loads((Path(__file__).parent / "journey_repo.json").read_text())
FEATURES = catalog([Demographic.model_validate(d) for d in PARAMS["demographics"]])
TTL = timedelta(days=PARAMS["ttl_days"])  # an online row older than this reads as missing

project = Project(name=PARAMS["project"], description="Customer-journey churn and next-stage features")

customer = Entity(
    name="customer",
    join_keys=["customer_id"],
    value_type=ValueType.STRING,
    description="a customer of the journey data",
)


def _source(family: Family) -> FileSource:
    """The family's Parquet files; with the created/updated times the registry holds for it, so that
    `feast plan` after a materialization compares equal sources (feast-dev/feast#5573)."""
    source = FileSource(
        name=f"{family}_source",
        path=PARAMS["sources"][family],
        file_format=ParquetFormat(),
        timestamp_field="event_timestamp",
    )
    times = PARAMS.get("source_times", {}).get(family)
    if times:
        source.created_timestamp, source.last_updated_timestamp = (datetime.fromisoformat(t) for t in times)
    return source


def _view(family: Family, description: str) -> FeatureView:
    """A family's features at each monthly snapshot, one Parquet file per snapshot."""
    return FeatureView(
        name=family,
        entities=[customer],
        ttl=TTL,
        schema=[
            Field(
                name=f.name, dtype=String if f.kind == "categorical" else Float64, description=f.description
            )
            for f in FEATURES[family]
        ],
        source=_source(family),
        online=True,
        description=description,
    )


behavioural = _view("behavioural", "events, recencies, rates, trend and journey-stage history")
transactional = _view("transactional", "recency, frequency, monetary value, purchase rhythm, refunds")
demographic = _view("demographic", "declared customer attributes and tenure")

# The features each model version trains and is served on: every catalog feature for both models
# today (training/train.py `_inputs`). A model that changes its features gets a new service (v2)
# beside this one, so the champion trained on v1 keeps being served until it is retired.
EVERY_FEATURE: dict[str, list[str]] = {family: [f.name for f in feats] for family, feats in FEATURES.items()}

churn_v1 = FeatureService(
    name="churn_v1",
    features=[view[EVERY_FEATURE[view.name]] for view in (behavioural, transactional, demographic)],
    description="features of the registered model `churn`, version 1",
    tags={"model": "churn"},
)
next_stage_v1 = FeatureService(
    name="next_stage_v1",
    features=[view[EVERY_FEATURE[view.name]] for view in (behavioural, transactional, demographic)],
    description="features of the registered model `next_stage`, version 1",
    tags={"model": "next_stage"},
)
