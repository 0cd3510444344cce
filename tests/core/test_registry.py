"""core.registry: a client bound to the configured store, and a fluent-API block that leaves no trace."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import lightgbm as lgb
import mlflow
import numpy as np
import pytest
from helpers.project import make_config
from mlflow.tracking import fluent
from mlflow.tracking._model_registry import utils as registry_utils
from mlflow.tracking._tracking_service import utils as tracking_utils

from core.config import Settings, load_settings
from core.registry import connect, download_model, store_uri, tracking


def _in(settings: Settings, folder: Path) -> Settings:
    folder.mkdir(parents=True, exist_ok=True)
    return settings.with_paths(workdir=folder)


@pytest.fixture(scope="module")
def mine(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings whose store is a SQLite file in their own workdir (made once: MLflow's schema is slow)."""
    folder = tmp_path_factory.mktemp("registry")
    return _in(load_settings(make_config(folder)), folder / "mine")


def _point_mlflow_at(
    monkeypatch: pytest.MonkeyPatch, tracking_uri: str | None, registry_uri: str | None
) -> None:
    """Set MLflow's global URIs as mlflow.set_*_uri would; monkeypatch puts them back after the test."""
    monkeypatch.setattr(tracking_utils, "_tracking_uri", tracking_uri)
    monkeypatch.setattr(registry_utils, "_registry_uri", registry_uri)
    monkeypatch.setattr(fluent, "_active_experiment_id", None)
    for key, value in (("MLFLOW_TRACKING_URI", tracking_uri), ("MLFLOW_REGISTRY_URI", registry_uri)):
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)


def _rows(db: Path, sql: str) -> set[tuple[object, ...]]:
    with sqlite3.connect(db) as con:
        return set(con.execute(sql))


def test_the_client_uses_the_configured_store_whatever_the_global_uri(mine, tmp_path, monkeypatch):
    elsewhere = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    _point_mlflow_at(monkeypatch, elsewhere, elsewhere)
    client = connect(mine)
    db = mine.paths.workdir / "mlflow.db"
    assert client.tracking_uri == store_uri(mine) == f"sqlite:///{db}"
    client.create_registered_model("probe")
    assert ("probe",) in _rows(db, "SELECT name FROM registered_models")
    assert not (tmp_path / "elsewhere.db").exists()
    assert mlflow.get_tracking_uri() == elsewhere  # connecting changed nothing global


@pytest.mark.parametrize("before", ["set", "unset"])
def test_the_tracking_block_puts_the_global_uris_back_even_when_it_raises(
    mine, tmp_path, monkeypatch, before
):
    tracking_uri = f"sqlite:///{tmp_path / 'tracking.db'}" if before == "set" else None
    registry_uri = f"sqlite:///{tmp_path / 'registry.db'}" if before == "set" else None
    _point_mlflow_at(monkeypatch, tracking_uri, registry_uri)
    saved = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    with tracking(mine) as client:
        assert mlflow.get_tracking_uri() == mlflow.get_registry_uri() == store_uri(mine)
        experiment = client.get_experiment_by_name(mine.mlflow.experiment)
        assert experiment is not None and fluent._get_experiment_id() == experiment.experiment_id
    assert (mlflow.get_tracking_uri(), mlflow.get_registry_uri()) == saved
    with pytest.raises(RuntimeError, match="inside the block"), tracking(mine):
        raise RuntimeError("inside the block")
    assert (mlflow.get_tracking_uri(), mlflow.get_registry_uri()) == saved
    # the unresolved values too: "not set" stays not set, in the module and in the environment
    assert (tracking_utils._tracking_uri, registry_utils._registry_uri) == (tracking_uri, registry_uri)
    assert fluent._active_experiment_id is None
    environment = {key: os.environ.get(key) for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    assert environment == {"MLFLOW_TRACKING_URI": tracking_uri, "MLFLOW_REGISTRY_URI": registry_uri}
    assert "MLFLOW_EXPERIMENT_ID" not in os.environ


def _tiny_booster(seed: int) -> lgb.Booster:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(200, 2))
    y = (x[:, 0] > 0).astype(np.int64)
    params = {"objective": "binary", "verbose": -1, "num_threads": 1, "seed": seed}
    return lgb.train(params, lgb.Dataset(x, y), num_boost_round=3)


def test_two_workdirs_in_one_process_write_to_their_own_databases(settings, tmp_path, monkeypatch):
    elsewhere = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    _point_mlflow_at(monkeypatch, elsewhere, elsewhere)  # where a half-scoped block would write
    stores = {name: _in(settings, tmp_path / name) for name in ("a", "b")}
    runs, boosters = {}, {}
    for i, (name, store) in enumerate(stores.items()):
        boosters[name] = _tiny_booster(i)
        with tracking(store), mlflow.start_run(run_name=f"run-{name}") as run:
            mlflow.log_metric("store", i)
            mlflow.lightgbm.log_model(
                boosters[name], name="model", registered_model_name="tiny", pip_requirements=["lightgbm"]
            )  # listed: inferring them takes seconds
        runs[name] = run.info.run_id
    for name in stores:
        db = tmp_path / name / "mlflow.db"
        assert _rows(db, "SELECT run_uuid FROM runs") == {(runs[name],)}
        assert _rows(db, "SELECT name, version, run_id FROM model_versions") == {("tiny", 1, runs[name])}
    assert not (tmp_path / "elsewhere.db").exists()
    # a's model read through a's client while the global URIs point at b
    x = np.random.default_rng(9).normal(size=(5, 2))
    with tracking(stores["b"]):
        path = download_model(connect(stores["a"]), "tiny", "1")
        loaded = mlflow.lightgbm.load_model(str(path))
    np.testing.assert_allclose(loaded.predict(x), boosters["a"].predict(x))
