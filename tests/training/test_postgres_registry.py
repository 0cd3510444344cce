"""MLflow tracking and registry in PostgreSQL, by configuration alone.

A copy of the `trained_copy` fixture's configuration differs only in `mlflow.tracking_uri`, pointing at a
fresh PostgreSQL database. Training, the champion/challenger aliases, a refused and a forced
promotion and a rollback then run through the ordinary code (training.train, training.promote,
the `journey` CLI), and the records are checked in PostgreSQL, and checked absent from the
fixture's SQLite file. MLflow artifacts stay where training/registry.py puts them (<workdir>/mlartifacts).
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import mlflow
import mlflow.tracking.fluent
import pytest
from helpers.project import Trained
from mlflow import MlflowClient
from typer.testing import CliRunner

from core.config import load_settings
from core.registry import connect
from core.schema import CHALLENGER, CHAMPION, CHURN_MODEL
from pipelines.cli import app
from training.promote import PromotionRefused, promote, rollback
from training.registry import alias_version
from training.train import train_task

Unavailable = Callable[[str], NoReturn]
HOST, PORT = "127.0.0.1", 5432
REASON = "audit wants the retrained copy"


def _server(unavailable: Unavailable) -> tuple[str, str]:
    """(user, maintenance database) of a reachable server, or skip/fail with the reason."""
    import psycopg

    tried = []
    for user in dict.fromkeys(("postgres", getpass.getuser())):
        for database in ("test", "postgres"):
            try:
                with psycopg.connect(f"postgresql://{user}@{HOST}:{PORT}/{database}", connect_timeout=3):
                    return user, database
            except psycopg.Error as err:
                tried.append(f"{user}@{database}: {str(err).strip().splitlines()[0]}")
    return unavailable(f"PostgreSQL not reachable on {HOST}:{PORT} ({'; '.join(tried)})")


@pytest.fixture
def pg_database(unavailable: Unavailable) -> Iterator[str]:
    """A fresh database for this test, as a SQLAlchemy URI with the psycopg 3 driver; dropped after."""
    import psycopg

    user, maintenance = _server(unavailable)
    admin = f"postgresql://{user}@{HOST}:{PORT}/{maintenance}"
    name = f"journey_mlflow_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as con:  # CREATE DATABASE cannot run in a transaction
        con.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{user}@{HOST}:{PORT}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as con:  # FORCE: MLflow's pool keeps connections
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def unchanged_mlflow_globals() -> Iterator[None]:
    """MLflow's process-wide tracking/registry URI and experiment are the same after the test.

    Everything reaches the registry through core.registry (a bound client, or the `tracking` block
    that puts the globals back), so no other test of the session finds MLflow pointing at the
    database this test drops.
    """
    before = _mlflow_globals()
    yield
    assert _mlflow_globals() == before


def _mlflow_globals() -> tuple[str, str, str | None, str | None]:
    fluent = mlflow.tracking.fluent
    experiment = os.environ.get("MLFLOW_EXPERIMENT_ID")
    return mlflow.get_tracking_uri(), mlflow.get_registry_uri(), fluent._active_experiment_id, experiment


def postgres_config(trained: Trained, folder: Path, uri: str) -> Path:
    """A copy of the fixture's configs/ whose journey.yaml differs in mlflow.tracking_uri only.

    The fixture's journey.yaml already holds the absolute workdir, so the copy reads the same clean
    tables, feature build and Feast repository.
    """
    configs = folder / "configs"
    shutil.copytree(trained.config.parent, configs)
    text = trained.config.read_text()
    new, count = re.subn(r"(?m)^(\s+tracking_uri:)\s*null\b", rf"\g<1> {uri}", text)
    assert count == 1, "configs/journey.yaml no longer has `mlflow: tracking_uri: null`"
    (configs / trained.config.name).write_text(new)
    return configs / trained.config.name


def _sqlite_file(trained: Trained) -> Path:
    uri = trained.settings.mlflow.uri(trained.settings.paths.workdir.resolve())
    assert uri.startswith("sqlite:///"), uri
    return Path(uri.removeprefix("sqlite:///"))


def _sqlite_records(path: Path) -> tuple[set[tuple[str, int]], set[str]]:
    """(model versions, run ids) in the fixture's SQLite MLflow database, read directly."""
    with sqlite3.connect(path) as con:
        versions = {(str(n), int(v)) for n, v in con.execute("SELECT name, version FROM model_versions")}
        runs = {str(r) for (r,) in con.execute("SELECT run_uuid FROM runs")}
    return versions, runs


def _aliases(client: MlflowClient) -> tuple[str | None, str | None]:
    return alias_version(client, CHURN_MODEL, CHAMPION), alias_version(client, CHURN_MODEL, CHALLENGER)


@pytest.mark.postgres
def test_mlflow_registry_lives_in_postgresql_by_configuration_alone(
    trained_copy: Trained, pg_database: str, unchanged_mlflow_globals: None, tmp_path: Path
) -> None:
    import psycopg

    config = postgres_config(trained_copy, tmp_path, pg_database)
    settings = load_settings(config)
    assert settings.mlflow.uri(settings.paths.workdir.resolve()) == pg_database
    assert settings.paths.workdir.resolve() == trained_copy.settings.paths.workdir.resolve()
    sqlite_file = _sqlite_file(trained_copy)
    sqlite_before = _sqlite_records(sqlite_file)
    client = connect(settings)
    assert client.tracking_uri == pg_database
    clean = settings.paths.clean

    # first version of the model in the fresh store: registered and champion
    first = train_task(clean, settings, "churn")
    assert first.registered.version == "1"
    assert first.registered.champion
    assert _aliases(client) == ("1", None)  # one alias per version
    assert client.get_run(first.registered.run_id).data.tags["feature_service"] == "churn_v1"

    # retrained: waits as challenger, the champion stays
    second = train_task(clean, settings, "churn")
    assert second.registered.version == "2"
    assert not second.registered.champion
    assert _aliases(client) == ("1", "2")

    # `journey promote churn` with this configuration: the equal challenger is refused
    runner = CliRunner()
    refused = runner.invoke(app, ["-c", str(config), "promote", "churn"])
    assert refused.exit_code == 1, refused.output
    assert "does not beat" in " ".join(refused.output.split())  # rich wraps long lines
    with pytest.raises(PromotionRefused, match="does not beat"):
        promote(clean, settings, "churn")
    assert _aliases(client) == ("1", "2")

    # forced, with a reason: the tag is recorded; rollback gives the champion back
    promote(clean, settings, "churn", force_reason=REASON)
    assert _aliases(client)[0] == "2"
    tags = client.get_model_version(CHURN_MODEL, "2").tags
    assert tags["forced_promotion_reason"] == REASON
    assert tags["previous_champion"] == "1"
    assert rollback(settings, "churn") == ("2", "1")
    assert _aliases(client)[0] == "1"
    assert client.get_model_version(CHURN_MODEL, "2").tags["rolled_back"] == "true"

    # the records are rows of the PostgreSQL database ...
    runs = {first.registered.run_id, second.registered.run_id}
    with psycopg.connect(pg_database.replace("postgresql+psycopg://", "postgresql://")) as con:
        versions = con.execute("SELECT name, version, run_id FROM model_versions ORDER BY version").fetchall()
        aliases: dict[str, int] = dict(
            con.execute("SELECT alias, version FROM registered_model_aliases WHERE name = %s", [CHURN_MODEL])
        )
        reason = con.execute(
            "SELECT value FROM model_version_tags WHERE name = %s AND version = 2 AND key = %s",
            [CHURN_MODEL, "forced_promotion_reason"],
        ).fetchone()
        pg_runs = {r for (r,) in con.execute("SELECT run_uuid FROM runs")}
        artifact_location = con.execute(
            "SELECT artifact_location FROM experiments WHERE name = %s", [settings.mlflow.experiment]
        ).fetchone()
    assert versions == [(CHURN_MODEL, 1, first.registered.run_id), (CHURN_MODEL, 2, second.registered.run_id)]
    assert aliases == {CHAMPION: 1, CHALLENGER: 2}
    assert reason == (REASON,)
    assert runs <= pg_runs
    assert artifact_location is not None
    assert artifact_location[0] == (settings.paths.workdir.resolve() / "mlartifacts").as_uri()

    # ... and none of them reached the SQLite file of the default configuration
    sqlite_versions, sqlite_runs = _sqlite_records(sqlite_file)
    assert (sqlite_versions, sqlite_runs) == sqlite_before
    assert not runs & sqlite_runs
