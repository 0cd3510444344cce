"""A private copy of a trained project, for tests that write to its registries; and a check that they don't.

The session's trained project is shared by every test that reads it. A test that promotes, rolls
back, registers a version, moves an alias or applies Feast definitions works on a copy, so that no
result depends on which tests ran before it. Paths inside a project are absolute: MLflow's SQLite
database stores the artifact locations of the experiment, runs, logged models and versions, each
MLmodel file names its folder, Feast's registry stores every FileSource path (in the feature views,
again in the feature services' projections and in each view's version history) and
feature_store.yaml names the registry and the online store. The copy rewrites them all, then checks
that none of its files names the original.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from core.config import Settings, load_settings
from helpers.project import Trained

MLFLOW_DB = "mlflow.db"
FEAST_REGISTRY = "registry.db"


def copy_project(trained: Trained, folder: Path) -> Trained:
    """The trained project (configs, workdir, outputs) copied into `folder`, every path in it moved there."""
    old = trained.settings.paths
    root = trained.config.parent.parent.resolve()
    if not old.workdir.resolve().is_relative_to(root):
        raise ValueError(f"the workdir {old.workdir} is not inside the project folder {root}")
    folder = folder.resolve()
    configs = folder / trained.config.parent.name
    shutil.copytree(trained.config.parent, configs)
    config = configs / trained.config.name
    config.write_text(config.read_text().replace(f"{root}/", f"{folder}/"))
    settings = load_settings(config)
    workdir = settings.paths.workdir.resolve()
    if not workdir.is_relative_to(folder) or not settings.paths.outputs_dir.resolve().is_relative_to(folder):
        raise ValueError(f"{config} still points outside {folder}")
    shutil.copytree(old.workdir, workdir, symlinks=True)  # generation links stay links
    if old.outputs_dir.is_dir():
        shutil.copytree(old.outputs_dir, settings.paths.outputs_dir)
    repoint(workdir, str(old.workdir.resolve()), str(workdir))
    return replace(trained, config=config, settings=settings)


def repoint(workdir: Path, old: str, new: str) -> None:
    """Rewrite every mention of the folder `old` in the files under `workdir` (a copy of it) as `new`."""
    needle = f"{old}/".encode()
    for path in sorted(p for p in workdir.rglob("*") if p.is_file()):
        if needle not in path.read_bytes():
            continue
        if path.name == MLFLOW_DB:
            _repoint_sqlite(path, f"{old}/", f"{new}/")
        elif path.name == FEAST_REGISTRY:
            _repoint_feast_registry(path, f"{old}/", f"{new}/")
        else:  # MLmodel, feature_store.yaml: text
            path.write_text(path.read_text(encoding="utf-8").replace(f"{old}/", f"{new}/"), encoding="utf-8")
        if needle in path.read_bytes():
            raise AssertionError(f"{path} of the copy still names the original project folder {old}")


def _repoint_sqlite(db: Path, old: str, new: str) -> None:
    with contextlib.closing(sqlite3.connect(db)) as con:
        with con:
            tables = [t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in tables:
                for column in [row[1] for row in con.execute(f'PRAGMA table_info("{table}")')]:
                    con.execute(
                        f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) '
                        f'WHERE typeof("{column}") = \'text\' AND instr("{column}", ?) > 0',
                        (old, new, old),
                    )
        con.execute("VACUUM")  # the old text would otherwise stay in the file's free pages


def _repoint_feast_registry(path: Path, old: str, new: str) -> None:
    from feast.protos.feast.core.FeatureView_pb2 import FeatureView
    from feast.protos.feast.core.Registry_pb2 import Registry

    registry = Registry.FromString(path.read_bytes())
    _repoint_message(registry, old, new)
    for record in registry.feature_view_version_history.records:  # each version: a serialised view
        if record.feature_view_type == "feature_view":
            view = FeatureView.FromString(record.feature_view_proto)
            _repoint_message(view, old, new)
            record.feature_view_proto = view.SerializeToString()
    path.write_bytes(registry.SerializeToString())


def _repoint_message(message: Message, old: str, new: str) -> None:
    """Replace `old` by `new` in every string of a protobuf message, nested messages and maps included."""
    for field, value in message.ListFields():
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            nested = entry.fields_by_name["value"].message_type is not None
            for key in list(value):
                if nested:
                    _repoint_message(value[key], old, new)
                elif isinstance(value[key], str):
                    value[key] = value[key].replace(old, new)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            for item in value if field.is_repeated else [value]:
                _repoint_message(item, old, new)
        elif field.type == FieldDescriptor.TYPE_STRING:
            if field.is_repeated:
                value[:] = [v.replace(old, new) for v in value]
            else:
                setattr(message, field.name, value.replace(old, new))


def registry_state(settings: Settings) -> dict[str, object]:
    """What a write to the project's registries changes: every row of MLflow's SQLite database (runs,
    versions, aliases, tags...) and a digest of Feast's registry without its commit time."""
    state: dict[str, object] = {}
    db = settings.paths.workdir.resolve() / MLFLOW_DB
    with contextlib.closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)) as con:
        tables = [t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            state[f"mlflow {table}"] = sorted(map(repr, con.execute(f'SELECT * FROM "{table}"')))
    from feast.protos.feast.core.Registry_pb2 import Registry

    registry = Registry.FromString((settings.paths.feast_repo / FEAST_REGISTRY).read_bytes())
    registry.ClearField("last_updated")
    state["feast registry"] = hashlib.sha256(registry.SerializeToString(deterministic=True)).hexdigest()
    return state


def changed(before: dict[str, object], after: dict[str, object]) -> list[str]:
    """The parts of a registry_state that differ."""
    return sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))


@contextlib.contextmanager
def kept_mlflow_globals() -> Iterator[None]:
    """Put MLflow's process-wide tracking and registry URIs and active experiment back afterwards.

    core.registry.tracking restores them itself; this guards against a test that sets them directly,
    so that the next test never finds MLflow pointing at a copy.
    """
    from core.registry import _Globals

    before = _Globals.save()
    try:
        yield
    finally:
        before.restore()
