"""The one entry point to MLflow: a client bound to the configured store, and a scope for the fluent API.

Everything that reads or writes runs and registered models gets its client from `connect`. MLflow's
fluent API (`mlflow.start_run`, `mlflow.log_*`, `mlflow.<flavor>.log_model`) reads process-wide
state instead; `tracking` points that state at the configured store for one block and puts back
what was there before. MLflow is imported inside the functions so that importing core stays light.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.config import Settings

if TYPE_CHECKING:
    from mlflow import MlflowClient

# The process-wide MLflow settings that `tracking` changes; MLflow mirrors each into the environment
# so that subprocesses inherit it, so the environment is put back as well.
ENVIRONMENT = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID")


def store_uri(settings: Settings) -> str:
    """The tracking and registry store of these settings (by default SQLite in the workdir)."""
    return settings.mlflow.uri(settings.paths.workdir.resolve())


def connect(settings: Settings) -> MlflowClient:
    """A client bound to the configured store for tracking and registry, whatever the global URI is."""
    from mlflow import MlflowClient

    uri = store_uri(settings)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def experiment_id(client: MlflowClient, settings: Settings) -> str:
    """The configured experiment, created on first use with its artifacts in <workdir>/mlartifacts."""
    name = settings.mlflow.experiment
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    artifacts = (settings.paths.workdir.resolve() / "mlartifacts").as_uri()
    return str(client.create_experiment(name, artifact_location=artifacts))


def download_model(client: MlflowClient, name: str, version: str) -> Path:
    """A local folder with the files of a registered model version, found through the client's store.

    A `models:/` URI would be resolved against the global registry URI, so the version's artifact
    location is looked up through the client instead. A local artifact store is read in place (no
    copy, as MLflow does for `models:/`); a remote one is downloaded to a temporary folder.
    """
    from mlflow.artifacts import download_artifacts

    source = client.get_model_version_download_uri(name, version)
    return Path(download_artifacts(artifact_uri=source, tracking_uri=client.tracking_uri))


@dataclass(frozen=True)
class _Globals:
    """MLflow's process-wide tracking URI, registry URI and active experiment, as they were."""

    tracking_uri: str | None
    registry_uri: str | None
    experiment_id: str | None
    environment: dict[str, str | None]

    @classmethod
    def save(cls) -> _Globals:
        # the unresolved values: get_tracking_uri() would turn "not set" into a default URI
        from mlflow.tracking import fluent
        from mlflow.tracking._model_registry import utils as registry
        from mlflow.tracking._tracking_service import utils as tracking

        environment = {key: os.environ.get(key) for key in ENVIRONMENT}
        return cls(tracking._tracking_uri, registry._registry_uri, fluent._active_experiment_id, environment)

    def restore(self) -> None:
        import mlflow
        from mlflow.tracking import fluent
        from mlflow.tracking._model_registry import utils as registry

        mlflow.set_tracking_uri(self.tracking_uri)  # type: ignore[arg-type]  # None means "not set"
        registry._registry_uri = self.registry_uri  # type: ignore[assignment]
        fluent._active_experiment_id = self.experiment_id  # type: ignore[assignment]
        for key, value in self.environment.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def tracking(settings: Settings) -> Iterator[MlflowClient]:
    """MLflow's fluent API pointed at the configured store and experiment for the block; yields `connect`.

    Afterwards, also when the block raises, the global tracking URI, registry URI and active
    experiment are what they were before. The state is per process: do not run two blocks at once
    in different threads (the service never uses this; it reads through `connect` only).
    Registering a model (`log_model(registered_model_name=...)`) belongs inside a block: MLflow's
    SQL registry looks the logged model up through the global tracking URI.
    """
    import mlflow

    client = connect(settings)
    experiment = experiment_id(client, settings)
    before = _Globals.save()
    try:
        mlflow.set_tracking_uri(client.tracking_uri)
        mlflow.set_registry_uri(client.tracking_uri)
        mlflow.set_experiment(experiment_id=experiment)
        yield client
    finally:
        before.restore()
