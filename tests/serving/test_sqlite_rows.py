"""The direct SQLite read returns exactly what Feast's own online read returns."""

from __future__ import annotations

import math

import pytest

from features.store import open_store
from pipelines.batch import active, newest_features
from serving.online import OnlineFeatures
from serving.sqlite_rows import SqliteRows, sqlite_path


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b and type(a) is type(b)


@pytest.fixture(scope="module")
def setup(trained):
    store = open_store(trained.settings)
    service = store.list_feature_services()[0]
    features = [f.name for p in service.feature_view_projections for f in p.features]
    ids = active(newest_features(trained.settings))["customer_id"].astype(str).tolist()
    return store, service, features, ids


def test_rows_equal_feasts_for_known_unknown_and_repeated_ids(setup):
    store, service, features, ids = setup
    path = sqlite_path(store)
    assert path is not None and path.exists()
    asked = [*ids[:40], "NOPE-1", ids[3], "", ids[-1]]
    columns, stamps = SqliteRows(store, service, path).read(asked, features)
    feast = store.get_online_features(features=service, entity_rows=[{"customer_id": i} for i in asked])
    expected = feast.to_dict(include_event_timestamps=True)
    assert len(features) > 50
    for name in features:
        mismatched = [
            i for i, (a, b) in enumerate(zip(columns[name], expected[name], strict=True)) if not _same(a, b)
        ]
        assert not mismatched, (name, [(columns[name][i], expected[name][i]) for i in mismatched[:3]])
    assert stamps == [ts or None for ts in expected[f"{features[0]}__ts"]]  # Feast: 0 when unknown
    assert stamps[40] is None and stamps[42] is None and stamps[0] is not None


def test_the_service_reader_uses_it_and_flags_unknown_ids(setup):
    store, service, features, ids = setup
    online = OnlineFeatures(store, service.name, ttl_days=45)
    assert online.sqlite is not None
    rows = online.read([ids[0], "NOPE-2"], features)
    assert rows.known.tolist() == [True, False] and rows.as_of[1] is None
    assert rows.columns["current_stage"][0] in ("purchase", "retention", "advocacy")


def test_a_missing_file_is_an_unavailable_store(setup, tmp_path):
    store, service, features, ids = setup
    reader = SqliteRows(store, service, tmp_path / "gone.db")
    with pytest.raises(FileNotFoundError, match="journey features materialize"):
        reader.read(ids[:1], features)
