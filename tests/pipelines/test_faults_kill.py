"""kill -9 of `journey validate`, `features build` and `targets` at several moments: the outputs are
the old complete set or the new complete set, and a re-run succeeds (issue 17, items 3 and 4)."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from helpers.kill import journey, kill_after_changes, run_journey
from helpers.project import END, START, Trained, make_config

from core.config import Settings, load_settings
from core.io import read_dataset_info, read_raw_tables, write_tables

pytestmark = [pytest.mark.faults, pytest.mark.slow]

AS_OF = ["--as-of", END]
# kill at the k-th file created, changed or removed under the watched folder (early, middle, late)
VALIDATE_AT = (1, 2, 3, 4, 5, 8)  # a validate writes a handful of tables
BUILD_AT = (1, 3, 30, 60, 90, 100)  # a build writes 4 tables x 22 snapshots, each via a temporary name
TARGETS_AT = (1, 2, 3, 4, 5, 6, 8)  # a new folder, three files, the link staged, switched, pruning
CUSTOMERS = 1500
# every risk (no default floor): lists of 40 and 70 differ on the trained project
TARGETS_40 = ("targets", "--capacity", "40", "--min-probability", "0")
TARGETS_70 = ("targets", "--capacity", "70", "--min-probability", "0")


def digest(frame: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()


def same(a: object, b: object) -> bool:
    """Equal states; feature frames equal up to float rounding (DuckDB's parallel sums vary in the
    last bits from run to run)."""
    if isinstance(a, pd.DataFrame) and isinstance(b, pd.DataFrame):
        try:
            pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9)
        except AssertionError:
            return False
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def clean_state(settings: Settings) -> dict[str, Any]:
    """What `journey validate` left: each clean table's content, the dataset info, the report."""
    try:
        tables = read_raw_tables(settings.paths.clean)
    except Exception as error:  # a set missing a required table is a torn set
        return {"unreadable": repr(error)}
    report = settings.paths.clean / "validation.json"
    return {
        "tables": {name: digest(frame) for name, frame in sorted(tables.items())},
        "info": read_dataset_info(settings.paths.clean),
        "report": json.loads(report.read_text()) if report.is_file() else None,
    }


def feature_state(settings: Settings) -> dict[str, Any]:
    """What `journey features build` left: the manifest and every feature row of its snapshots,
    read as `journey score` reads them."""
    from features.build import TIMESTAMP, read_features, read_manifest, stages_path

    try:
        manifest = read_manifest(settings.paths.features)
        rows = read_features(settings.paths.features, [(TIMESTAMP, "in", manifest.snapshots)])
        stages = pd.read_parquet(stages_path(settings.paths.features))
    except Exception as error:  # a manifest over missing files is a torn set
        return {"unreadable": repr(error)}
    order = ["customer_id", TIMESTAMP]
    return {
        "manifest": [manifest.snapshots, manifest.end, manifest.fingerprints],
        "features": rows.sort_values(order, ignore_index=True),
        "stages": digest(stages.sort_values(["as_of", "customer_id"], ignore_index=True)),
        "snapshots": sorted(rows[TIMESTAMP].unique()) == manifest.snapshots,
    }


@dataclass(frozen=True)
class Scenario:
    """A project whose outputs are those of dataset A, dataset B beside it, and B's reference outputs."""

    folder: Path
    data_b: dict[str, pd.DataFrame]
    old: dict[str, dict[str, Any]]
    new: dict[str, dict[str, Any]]


def states(settings: Settings) -> dict[str, dict[str, Any]]:
    return {"clean": clean_state(settings), "features": feature_state(settings)}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """Dataset A validated and built; B (another seed, without the optional campaigns table)
    validated and built in a copy, for the reference of a complete new set."""
    from pipelines.steps import build, validate_data
    from synthetic.generate import generate_tables

    folder = tmp_path_factory.mktemp("kill_a")
    settings = load_settings(make_config(folder))
    raw_a = generate_tables(CUSTOMERS, seed=1, start=START, end=END)
    write_tables(raw_a, settings.paths.data)
    validate_data(settings, pd.Timestamp(END, tz="UTC"))
    build(settings)
    raw_b = generate_tables(CUSTOMERS, seed=2, start=START, end=END)
    data_b = {name: frame for name, frame in raw_b.items() if name not in ("campaigns", "truth")}
    reference = project_copy(folder, tmp_path_factory.mktemp("kill_b"), data_b)
    validate_data(reference, pd.Timestamp(END, tz="UTC"))
    build(reference)
    return Scenario(folder, data_b, states(settings), states(reference))


def project_copy(source: Path, folder: Path, data: dict[str, pd.DataFrame]) -> Settings:
    """The project of `source` (state A) in `folder`, its raw data replaced by `data`."""
    settings = load_settings(make_config(folder))
    shutil.rmtree(settings.paths.workdir, ignore_errors=True)
    shutil.copytree(source / "work", settings.paths.workdir, symlinks=True)
    shutil.rmtree(settings.paths.data)
    write_tables(data, settings.paths.data)
    return settings


def kill_and_rerun(
    scenario: Scenario,
    tmp_path: Path,
    command: list[str],
    watched: Callable[[Settings], Path],
    state: Callable[[Settings], dict[str, Any]],
    part: str,
    kill_at: tuple[int, ...],
) -> list[str]:
    """For each kill point: a fresh copy of state A, the command killed there, the outputs checked
    to be A's or B's complete set, then a re-run checked to succeed with B's set."""
    outcomes = []
    for at in kill_at:
        settings = project_copy(scenario.folder, tmp_path / f"at{at}", scenario.data_b)
        config = settings.paths.workdir.parent / "configs" / "journey.yaml"
        roots = [watched(settings)]  # before the command starts: it may prepare the project
        kill = kill_after_changes(journey(config, *command), roots, at)
        after = state(settings)
        which = {same(scenario.old[part], after): "old", same(scenario.new[part], after): "new"}.get(True)
        assert which, f"kill -9 after {kill.changes} file changes left a mixed or torn set: {after}"
        rerun = run_journey(config, *command)
        assert rerun.returncode == 0, f"re-run after a kill at change {at}: {rerun.stdout}{rerun.stderr}"
        assert same(state(settings), scenario.new[part]), f"re-run after a kill at change {at}"
        outcomes.append(
            f"change {at}: {'killed' if kill.killed else 'finished'} at {kill.seconds:.2f} s, {which}"
        )
    print(f"{' '.join(command)}: " + "; ".join(outcomes))
    return outcomes


def test_killed_validate_leaves_the_old_or_the_new_clean_set(scenario: Scenario, tmp_path: Path) -> None:
    assert scenario.old["clean"] != scenario.new["clean"]
    outcomes = kill_and_rerun(
        scenario,
        tmp_path,
        ["validate", *AS_OF],
        lambda s: s.paths.workdir / "clean",
        clean_state,
        "clean",
        VALIDATE_AT,
    )
    assert any("killed" in o for o in outcomes)


def test_killed_features_build_leaves_the_old_or_the_new_build(scenario: Scenario, tmp_path: Path) -> None:
    from pipelines.steps import validate_data

    assert not same(scenario.old["features"], scenario.new["features"])

    def validated_b(settings: Settings) -> Path:  # clean tables of B in place, features still A's
        validate_data(settings, pd.Timestamp(END, tz="UTC"))
        return settings.paths.features

    outcomes = kill_and_rerun(
        scenario, tmp_path, ["features", "build"], validated_b, feature_state, "features", BUILD_AT
    )
    assert any("killed" in o for o in outcomes)


def test_score_and_materialize_work_after_a_killed_build(trained_copy: Trained) -> None:
    """A build killed at its first file change (the old build had removed files by then) leaves
    `journey score` and `features materialize` working on the previous build; the re-run succeeds."""
    from pipelines.steps import validate_data
    from synthetic.generate import generate_tables

    settings, config = trained_copy.settings, trained_copy.config
    before = feature_state(settings)
    raw = generate_tables(2000, seed=12, start=START, end=END)
    write_tables({k: v for k, v in raw.items() if k != "truth"}, settings.paths.data)
    validate_data(settings, pd.Timestamp(END, tz="UTC"))  # new data: every snapshot changes
    kill = kill_after_changes(journey(config, "features", "build"), [settings.paths.features], 1)
    assert kill.killed, "the build finished before its first file change could be seen"
    assert same(feature_state(settings), before)
    for command in (["score"], ["features", "materialize"], ["features", "build"], ["score"]):
        done = run_journey(config, *command)
        assert done.returncode == 0, f"journey {' '.join(command)} after a killed build: {done.stdout}"
    assert not same(feature_state(settings), before)


def targets_state(folder: Path) -> dict[str, Any]:
    """The three target-list files, each read whole: the rows listed and the summary's count."""
    from targeting.columns import label
    from targeting.targets import FILES

    csv, xlsx, summary = (folder / name for name in FILES)
    if not csv.is_file():
        return {"missing": [p.name for p in (csv, xlsx, summary) if not p.is_file()]}
    return {
        "csv": digest(pd.read_csv(csv, dtype={"customer_id": str})[["customer_id"]]),
        "xlsx": digest(pd.read_excel(xlsx, dtype={label("customer_id"): str})[[label("customer_id")]]),
        "summary": json.loads(summary.read_text()).get("capacity"),
    }


def test_killed_targets_leave_the_old_set_or_the_new_one(trained_copy: Trained) -> None:
    """targets.csv, .xlsx and the summary are written into a new folder outputs/targets/gen-*, then
    one link switches to it (core/generations.py); outputs/targets.csv and the others are links
    through it. A kill at any moment leaves the three old files or the three new ones, read through
    the familiar paths. (Before issue 19 each file was renamed into place on its own, and a kill
    between the renames left new list files beside the old summary.)"""
    settings, config = trained_copy.settings, trained_copy.config
    outputs = settings.paths.outputs_dir
    assert run_journey(config, *TARGETS_40).returncode == 0
    old = targets_state(outputs)
    assert run_journey(config, *TARGETS_70).returncode == 0
    new = targets_state(outputs)
    assert all(old[name] != new[name] for name in old)
    outcomes = []
    for at in TARGETS_AT:
        assert run_journey(config, *TARGETS_40).returncode == 0
        kill = kill_after_changes(journey(config, *TARGETS_70), [outputs], at)
        after = targets_state(outputs)
        whole = {name: {old[name]: "old", new[name]: "new"}.get(after.get(name)) for name in old}
        assert all(whole.values()), f"kill -9 after {kill.changes} changes left a torn file: {after}"
        assert set(whole.values()) in ({"old"}, {"new"}), (
            f"kill -9 after {kill.changes} changes: a mix {whole}"
        )
        outcomes.append(f"change {at}: {'killed' if kill.killed else 'finished'}, {whole}")
    assert run_journey(config, *TARGETS_70).returncode == 0
    assert targets_state(outputs) == new
    print("targets: " + "; ".join(outcomes))
