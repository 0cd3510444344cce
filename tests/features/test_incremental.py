"""Incremental feature builds: only new or changed snapshots are computed, with full-build results."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from helpers.project import validated_generated

from core.config import Settings, StageRules
from core.io import write_tables
from features.build import FAMILIES, build_features, feature_path, stages_path

CUT = pd.Timestamp("2024-01-15", tz="UTC")


@pytest.fixture(scope="module")
def clean() -> dict[str, pd.DataFrame]:
    return validated_generated(300, seed=5, start="2023-01-01", end="2024-04-01")


def before(tables: dict[str, pd.DataFrame], moment: pd.Timestamp) -> dict[str, pd.DataFrame]:
    return {k: v[v["ts" if "ts" in v else "created_at"] < moment] for k, v in tables.items()}


def read_all(settings: Settings) -> dict[str, pd.DataFrame]:
    folders = {f: feature_path(settings.paths.features, f) for f in FAMILIES}
    folders["stages"] = stages_path(settings.paths.features)
    out = {}
    for name, folder in folders.items():
        frame = pd.read_parquet(folder)
        out[name] = frame.sort_values(list(frame.columns[:2])).reset_index(drop=True)
    return out


def test_unchanged_data_computes_nothing_and_new_data_only_new_snapshots(clean, tmp_path: Path, settings):
    data = tmp_path / "clean"
    write_tables(before(clean, CUT), data)
    first = build_features(data, settings)
    assert first.computed == first.snapshots
    again = build_features(data, settings)
    assert again.computed == []
    write_tables(clean, data)
    grown = build_features(data, settings)
    assert grown.computed == [s for s in grown.snapshots if s > CUT]
    assert pd.Timestamp("2024-01-15", tz="UTC") not in grown.snapshots  # the old end snapshot left
    fresh = settings.with_paths(workdir=tmp_path / "fresh")
    build_features(data, fresh)
    got, want = read_all(settings), read_all(fresh)
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name])


def test_a_changed_past_record_or_rule_recomputes_what_depends_on_it(clean, tmp_path: Path, settings):
    data = tmp_path / "clean"
    write_tables(clean, data)
    first = build_features(data, settings)
    edited = dict(clean)
    events = clean["events"].copy()
    row = events.index[events["ts"] < pd.Timestamp("2023-06-10", tz="UTC")][-1]
    events.loc[row, "event_type"] = "complaint"
    edited["events"] = events
    write_tables(edited, data)
    changed = build_features(data, settings)
    assert changed.computed == [s for s in first.snapshots if s > events.loc[row, "ts"]]
    stricter = settings.model_copy(update={"stages": StageRules(churn_definition_days=60)})
    assert build_features(data, stricter).computed == first.snapshots


def test_online_store_backfills_once_then_moves_incrementally(clean, tmp_path: Path, settings):
    from features.store import apply_definitions, materialize_newest, open_store

    data = tmp_path / "clean"
    write_tables(before(clean, CUT), data)
    store = open_store(settings)
    apply_definitions(store, settings)
    first = materialize_newest(store, build_features(data, settings), settings.paths.features)
    write_tables(clean, data)
    manifest = build_features(data, settings)
    apply_definitions(store, settings)
    second = materialize_newest(store, manifest, settings.paths.features)
    newest = second.snapshot
    assert (first.mode, second.mode) == ("backfill", "incremental")
    assert first.snapshot == CUT.floor("D") and newest == manifest.snapshots[-1] > first.snapshot
    assert first.customers > 0 and second.customers > 0  # each wrote the snapshots it covered
    customer = clean["customers"]["customer_id"].iloc[0]
    row = store.get_online_features(
        features=store.get_feature_service("churn_v1"), entity_rows=[{"customer_id": customer}]
    ).to_dict(include_event_timestamps=True)
    assert pd.Timestamp(row["tenure_days__ts"][0], unit="s", tz="UTC") == newest
    # the per-customer mirror followed the incremental write: same rows as Feast's own read
    from serving.sqlite_rows import SqliteRows, sqlite_path

    service = store.get_feature_service("churn_v1")
    reader = SqliteRows(store, service, sqlite_path(store))
    ids = clean["customers"]["customer_id"].astype(str).tolist()
    columns, stamps = reader.read(ids, ["tenure_days"])
    feast = store.get_online_features(features=service, entity_rows=[{"customer_id": i} for i in ids])
    expected = feast.to_dict(include_event_timestamps=True)
    assert columns["tenure_days"] == expected["tenure_days"]
    assert stamps == [ts or None for ts in expected["tenure_days__ts"]]
    assert stamps[0] is not None and pd.Timestamp(stamps[0], unit="s", tz="UTC") == newest
