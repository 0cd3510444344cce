"""The Feast feature repository: declarative definitions that `feast plan` in the runtime folder accepts."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from feast import FeatureView
from feast.repo_contents import RepoContents
from helpers.project import validated_generated

from core.config import Feast, Settings
from core.io import write_tables
from features.build import build_features
from features.catalog import FAMILIES, catalog
from features.store import DEFINITIONS, PARAMS, apply_definitions, open_store, parse_definitions

FEAST = Path(sys.executable).with_name("feast")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
ENTRY = re.compile(r"^(?=(?:Created|Updated|Deleted) )", re.MULTILINE)


def plan_changes(output: str) -> list[str]:
    """The objects a `feast plan` output creates, deletes or updates (with the changed properties)."""
    changes = []
    for entry in ENTRY.split(ANSI.sub("", output))[1:]:
        header, _, body = entry.partition("\n")
        props = [p.split("\n\n")[0].partition(":")[0] for p in re.split(r"^\t", body, flags=re.MULTILINE)[1:]]
        changes.append(f"{header} ({', '.join(props)})" if props else header)
    return changes


def view(contents: RepoContents, name: str) -> FeatureView:
    return next(v for v in contents.feature_views if v.name == name)


def feast_plan(settings: Settings) -> str:
    """`feast plan` as a user runs it: the venv's CLI inside the runtime repo folder."""
    done = subprocess.run(
        [str(FEAST), "plan"],
        cwd=settings.paths.feast_repo,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def clean() -> dict[str, pd.DataFrame]:
    return validated_generated(300, seed=5, start="2023-01-01", end="2024-04-01")


def test_the_definitions_import_only_feast_the_catalog_and_the_standard_library():
    tree = ast.parse(DEFINITIONS.read_text())
    imported = {n.name for node in ast.walk(tree) if isinstance(node, ast.Import) for n in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    journey = {m for m in imported if m.split(".")[0] not in {"feast", *sys.stdlib_module_names}}
    assert journey == {"features.catalog"}
    assert any(m.startswith("feast") for m in imported)


def test_each_project_parses_its_own_parameters_and_the_process_is_left_as_it_was(settings: Settings):
    other = settings.with_paths(workdir=settings.paths.workdir.parent / "other").model_copy(
        update={"feast": Feast(ttl_days=7), "demographics": ()}
    )
    cwd, path = Path.cwd(), list(sys.path)
    first, second, again = parse_definitions(settings), parse_definitions(other), parse_definitions(settings)
    assert (Path.cwd(), sys.path) == (cwd, path)
    ttl = {c.feature_views[0].ttl.days for c in (first, second, again)}
    assert ttl == {settings.feast.ttl_days, 7}
    assert first.feature_views[0].ttl == again.feature_views[0].ttl != second.feature_views[0].ttl
    assert [f.name for f in view(second, "demographic").features] == ["tenure_days"]
    assert {d.name for d in settings.demographics} <= {f.name for f in view(first, "demographic").features}
    sources = {v.batch_source.path for v in second.feature_views}
    assert all(Path(s).is_absolute() and s.startswith(str(other.paths.features.resolve())) for s in sources)


def test_a_service_per_model_pins_exactly_the_catalog_features_it_trains_on(settings: Settings):
    contents = parse_definitions(settings)
    services = {s.name: s for s in contents.feature_services}
    names = settings.training.feature_services
    assert set(services) == {names.churn, names.stage} == {"churn_v1", "next_stage_v1"}
    want = {family: [f.name for f in feats] for family, feats in catalog(settings.demographics).items()}
    for service in services.values():
        pinned = {p.name: [f.name for f in p.features] for p in service.feature_view_projections}
        assert pinned == want
    assert [e.name for e in contents.entities if e.name != "__dummy"] == ["customer"]
    assert sorted(v.name for v in contents.feature_views) == sorted(FAMILIES)


def test_feast_plan_in_the_runtime_folder_agrees_with_what_journey_registered(
    clean, settings: Settings, tmp_path: Path
):
    from pipelines.steps import materialize

    data = tmp_path / "clean"
    write_tables(clean, data)
    build_features(data, settings)
    assert apply_definitions(open_store(settings), settings) == ["churn_v1", "next_stage_v1"]
    out = feast_plan(settings)
    assert "No changes to registry" in out and "No changes to infrastructure" in out, out

    materialize(settings)  # the sources keep the registry's times: no permadiff (feast-dev/feast#5573)
    out = feast_plan(settings)
    assert plan_changes(out) == [] and "No changes to registry" in out, out
    assert "No changes to infrastructure" in out, out

    params = settings.paths.feast_repo / PARAMS
    values = json.loads(params.read_text())
    params.write_text(json.dumps(values | {"ttl_days": values["ttl_days"] + 1}))
    changed = plan_changes(feast_plan(settings))
    assert sorted(changed) == sorted(f"Updated feature view {family} (ttl)" for family in FAMILIES)


def test_the_runtime_folder_holds_the_definitions_and_nothing_else_feast_would_import(settings: Settings):
    parse_definitions(settings)
    repo = settings.paths.feast_repo
    assert sorted(p.name for p in repo.rglob("*.py")) == [DEFINITIONS.name]
    copy = (repo / DEFINITIONS.name).read_text()
    assert copy.startswith("# GENERATED") and copy.endswith(DEFINITIONS.read_text())
    assert not os.path.exists(repo / "__pycache__")
