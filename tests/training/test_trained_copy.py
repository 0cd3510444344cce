"""The `trained_copy` fixture: a copy of the trained project whose registries are its own.

Tests that register, promote or move aliases run on such a copy; this checks that every path the
copy's MLflow and Feast registries hold points into the copy, that the copy still loads and serves
its champions, and that writes through it leave the shared project exactly as it was.
"""

from __future__ import annotations

from pathlib import Path

from helpers.project import Trained
from helpers.project_copy import changed, registry_state
from mlflow.tracking import MlflowClient

from core.registry import connect, tracking
from core.schema import CHAMPION, CHURN_MODEL, STAGE_MODEL
from features.store import open_store
from serving.models import load_champion


def _client(project: Trained) -> MlflowClient:
    return connect(project.settings)


def _inside(location: str, folder: Path) -> bool:
    return location.removeprefix("file://").startswith(f"{folder.resolve()}/")


def test_every_registry_path_of_the_copy_points_into_the_copy(
    trained: Trained, trained_copy: Trained
) -> None:
    copy, original = trained_copy.settings.paths.workdir, trained.settings.paths.workdir
    assert copy.resolve() != original.resolve()
    client = _client(trained_copy)
    experiment = client.get_experiment_by_name(trained_copy.settings.mlflow.experiment)
    assert experiment is not None and _inside(experiment.artifact_location, copy)
    for name in (CHURN_MODEL, STAGE_MODEL):
        version = client.get_model_version_by_alias(name, CHAMPION)
        assert _inside(client.get_run(version.run_id).info.artifact_uri, copy)
        assert _inside(client.get_model_version_download_uri(name, version.version), copy)
    store = open_store(trained_copy.settings)
    assert _inside(str(store.config.registry.path), copy) and _inside(store.config.online_store.path, copy)
    sources = [view.batch_source.path for view in store.list_feature_views()]
    projected = [
        p.batch_source.path
        for service in store.list_feature_services()
        for p in service.feature_view_projections
        if p.batch_source is not None
    ]
    assert sources and projected and all(_inside(path, copy) for path in [*sources, *projected])
    assert load_champion(CHURN_MODEL, trained_copy.settings).booster.num_trees() > 0


def test_writes_through_the_copy_stay_in_the_copy(trained: Trained, trained_copy: Trained) -> None:
    before, copy_before = registry_state(trained.settings), registry_state(trained_copy.settings)
    original = _client(trained)
    champion = original.get_model_version_by_alias(CHURN_MODEL, CHAMPION).version
    client = _client(trained_copy)
    current = client.get_model_version_by_alias(CHURN_MODEL, CHAMPION)
    # MLflow resolves a `models:/` source through the process-wide tracking URI, whatever the client's
    with tracking(trained_copy.settings):
        added = client.create_model_version(CHURN_MODEL, current.source, run_id=current.run_id)
    client.set_registered_model_alias(CHURN_MODEL, CHAMPION, added.version)
    experiment = client.get_experiment_by_name(trained_copy.settings.mlflow.experiment)
    assert experiment is not None
    run = client.create_run(experiment.experiment_id)
    client.log_text(run.info.run_id, "written through the copy", "probe.txt")
    client.set_terminated(run.info.run_id)

    assert client.get_model_version_by_alias(CHURN_MODEL, CHAMPION).version == added.version
    assert original.get_model_version_by_alias(CHURN_MODEL, CHAMPION).version == champion
    assert changed(before, registry_state(trained.settings)) == []
    written = changed(copy_before, registry_state(trained_copy.settings))
    assert {"mlflow model_versions", "mlflow registered_model_aliases", "mlflow runs"} <= set(written)
    workdir = trained_copy.settings.paths.workdir
    (probe,) = [p.relative_to(workdir) for p in workdir.rglob("probe.txt")]
    assert not (trained.settings.paths.workdir / probe).exists()
