"""Tests of the feature build on generated data: catalog agreement and point-in-time correctness."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from core.config import Settings
from core.io import write_tables
from features.build import TIMESTAMP, build_features, feature_path, read_manifest, stages_path
from features.catalog import FAMILIES, catalog
from ingest.validate import validate_tables
from synthetic.generate import generate_tables

CUT = pd.Timestamp("2024-03-01", tz="UTC")


def built(settings: Settings, tables: dict[str, pd.DataFrame], folder: Path) -> dict[str, pd.DataFrame]:
    clean, _ = validate_tables(
        {k: v for k, v in tables.items() if k != "truth"}, demographics=settings.demographics
    )
    write_tables(clean, folder)
    build_features(folder, settings)
    out = {fam: pd.read_parquet(feature_path(settings.paths.features, fam)) for fam in FAMILIES}
    out["stages"] = pd.read_parquet(stages_path(settings.paths.features))
    return out


@pytest.fixture(scope="module")
def small_tables() -> dict[str, pd.DataFrame]:
    return generate_tables(300, seed=3, start="2023-01-01", end="2024-07-01")


def test_tables_match_the_catalog(settings: Settings, small_tables, tmp_path: Path):
    out = built(settings, small_tables, tmp_path / "clean")
    names = catalog(settings.demographics)
    assert sum(len(v) for v in names.values()) >= 30
    for family in FAMILIES:
        assert list(out[family].columns) == [
            "customer_id",
            TIMESTAMP,
            *[f.name for f in names[family]],
        ]
        assert str(out[family][TIMESTAMP].dtype) == "datetime64[us, UTC]"
        assert not out[family].duplicated(["customer_id", TIMESTAMP]).any()
        in_order = out[family].sort_values([TIMESTAMP, "customer_id"], ignore_index=True)
        assert out[family][["customer_id", TIMESTAMP]].equals(in_order[["customer_id", TIMESTAMP]])
    manifest = read_manifest(settings.paths.features)
    assert out["behavioural"][TIMESTAMP].max() == manifest.snapshots[-1] == manifest.end


def _after(frame: pd.DataFrame, column: str, moment: pd.Timestamp) -> pd.DataFrame:
    """Copy rows of frame to later times (>= moment), as if the future had arrived."""
    future = frame.sample(frac=0.3, random_state=0).copy()
    future[column] = moment + pd.to_timedelta((future.index % 90).astype(int), unit="D")
    return pd.concat([frame, future], ignore_index=True)


def test_future_data_does_not_change_past_snapshots(settings: Settings, small_tables, tmp_path: Path):
    before = built(settings, small_tables, tmp_path / "a")
    changed = dict(small_tables)
    changed["events"] = _after(small_tables["events"], "ts", CUT)
    changed["transactions"] = _after(small_tables["transactions"], "ts", CUT)
    after = built(settings.with_paths(workdir=tmp_path / "w2"), changed, tmp_path / "b")
    key = ["customer_id", "event_timestamp"]
    for name in (*FAMILIES, "stages"):
        ts_col = "as_of" if name == "stages" else TIMESTAMP
        old = before[name][before[name][ts_col] <= CUT].sort_values(
            key if name != "stages" else ["customer_id", "as_of"]
        )
        new = after[name][after[name][ts_col] <= CUT].sort_values(
            key if name != "stages" else ["customer_id", "as_of"]
        )
        assert len(old) > 0
        pd.testing.assert_frame_equal(old.reset_index(drop=True), new.reset_index(drop=True))
    later = after["transactional"][after["transactional"][TIMESTAMP] > CUT]
    earlier = before["transactional"][before["transactional"][TIMESTAMP] > CUT]
    assert later["purchases_total"].sum() > earlier["purchases_total"].sum()  # the change was real


def test_a_crm_stage_history_table_drives_current_stage(settings: Settings, small_tables, tmp_path: Path):
    customer = small_tables["customers"]["customer_id"].iloc[0]
    history = pd.DataFrame(
        {"customer_id": [customer], "ts": [pd.Timestamp("2023-02-01", tz="UTC")], "stage": ["advocacy"]}
    )
    out = built(settings, {**small_tables, "stage_history": history}, tmp_path / "clean")
    rows = out["behavioural"][out["behavioural"]["customer_id"] == customer]
    assert len(rows) > 0
    assert (rows["current_stage"] == "advocacy").all()
    others = out["behavioural"][out["behavioural"]["customer_id"] != customer]
    assert others["current_stage"].nunique() > 1


def test_a_failed_file_write_fails_the_build_and_leaves_no_manifest(
    settings: Settings, small_tables, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Files are ordered and written in a pool: an error there must reach the caller, and the
    manifest (which says what the build covered) must not be written."""
    import features.build as build

    real_write = build._write_file

    def failing(part, target: Path, keys):
        if target.parent.name == "transactional.parquet":
            raise OSError("disk full")
        real_write(part, target, keys)

    monkeypatch.setattr(build, "_write_file", failing)
    with pytest.raises(OSError, match="disk full"):
        built(settings, small_tables, tmp_path / "clean")
    assert not build.manifest_path(settings.paths.features).exists()
