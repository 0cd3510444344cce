"""A feature build is one generation: an interrupted build leaves the previous build readable, an
incremental one reuses the unchanged snapshot files without copying them (issue 17, item 3)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from helpers.project import validated_generated

import features.build as build
from core.config import Settings
from core.io import write_tables
from features.build import FAMILIES, TIMESTAMP, build_features, feature_path, read_features, read_manifest

CUT = pd.Timestamp("2024-01-15", tz="UTC")


@pytest.fixture(scope="module")
def clean() -> dict[str, pd.DataFrame]:
    return validated_generated(200, seed=6, start="2023-01-01", end="2024-04-01")


def before(tables: dict[str, pd.DataFrame], moment: pd.Timestamp) -> dict[str, pd.DataFrame]:
    return {k: v[v["ts" if "ts" in v else "created_at"] < moment] for k, v in tables.items()}


def rows(settings: Settings) -> pd.DataFrame:
    snapshots = read_manifest(settings.paths.features).snapshots
    frame = read_features(settings.paths.features, [(TIMESTAMP, "in", snapshots)])
    return frame.sort_values(["customer_id", TIMESTAMP], ignore_index=True)


def test_an_interrupted_build_leaves_the_previous_build_readable(
    clean, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "clean"
    write_tables(before(clean, CUT), data)
    first = build_features(data, settings)
    old = rows(settings)
    write_tables(clean, data)
    real_write = build._write_file

    def dying(part, target: Path, keys):  # the process stops half way through the files
        if target.parent.name == "behavioural.parquet":
            raise KeyboardInterrupt
        real_write(part, target, keys)

    monkeypatch.setattr(build, "_write_file", dying)
    with pytest.raises(KeyboardInterrupt):
        build_features(data, settings)
    assert read_manifest(settings.paths.features) == first
    pd.testing.assert_frame_equal(rows(settings), old)
    monkeypatch.undo()
    assert build_features(data, settings).snapshots[-1] > first.snapshots[-1]


def test_an_incremental_build_links_unchanged_snapshots_and_keeps_two_builds(
    clean, settings: Settings, tmp_path: Path
) -> None:
    data = tmp_path / "clean"
    write_tables(before(clean, CUT), data)
    first = build_features(data, settings)
    kept = first.snapshots[0]
    inode = (build.snapshot_file(feature_path(settings.paths.features, "demographic"), kept)).stat().st_ino
    write_tables(clean, data)
    second = build_features(data, settings)
    assert kept not in second.computed
    for family in FAMILIES:  # the unchanged snapshot is the same file, not a copy
        assert build.snapshot_file(feature_path(settings.paths.features, family), kept).is_file()
    assert (
        build.snapshot_file(feature_path(settings.paths.features, "demographic"), kept).stat().st_ino == inode
    )
    build_features(data, settings)
    assert len(list(settings.paths.features.glob("gen-*"))) == 2  # the current build and the previous one
