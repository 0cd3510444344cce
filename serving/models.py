"""Load the champion models and their input contracts from the MLflow registry."""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import mlflow
from mlflow import MlflowClient
from mlflow.models import Model

from core.config import Settings
from core.registry import connect, download_model
from core.schema import CHALLENGER, CHAMPION, CHURN_MODEL
from serving.artifact import Calibration, ModelInputs
from serving.pyfunc import booster_file


class ModelNotFound(RuntimeError):
    """No model version carries the requested alias yet."""


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: str
    booster: lgb.Booster
    inputs: ModelInputs
    calibration: Calibration | None = None


def _waiting(client: MlflowClient, name: str, task: str) -> str:
    """What to do when no version is champion: promote the waiting challenger, or train one."""
    try:
        version = client.get_model_version_by_alias(name, CHALLENGER)
    except mlflow.exceptions.MlflowException:
        return f"train one first (`journey train {task}`)"
    grade = version.tags.get("grade", "?")
    return (
        f"v{version.version} (grade {grade}) waits as challenger because its grade is too low to serve by "
        f"itself; to serve it anyway: `journey promote {task} --force --reason '...'`"
    )


def version_of(client: MlflowClient, name: str, alias: str) -> str:
    """The version an alias names, or ModelNotFound saying what to do (train, or promote the
    waiting challenger)."""
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except mlflow.exceptions.MlflowException as err:
        task = "churn" if name == CHURN_MODEL else "stage"
        raise ModelNotFound(
            f"no model '{name}' with alias '{alias}' in the registry at {client.tracking_uri}: "
            + _waiting(client, name, task)
        ) from err


def load_champion(
    name: str, settings: Settings, alias: str = CHAMPION, client: MlflowClient | None = None
) -> LoadedModel:
    """The booster and input contract of `models:/<name>@<alias>`, read through `client`
    (by default `connect(settings)`), never through MLflow's global URI.

    The version the alias names is loaded by number, so a concurrent alias move cannot load one
    version under another's number.
    """
    client = client or connect(settings)
    version = version_of(client, name, alias)
    path = download_model(client, name, version)
    model_file = booster_file(path)
    if model_file.is_file():  # the registered pyfunc (serving/pyfunc.py)
        booster = lgb.Booster(model_file=str(model_file))
    else:  # versions registered before the pyfunc: a LightGBM-flavour model
        booster = mlflow.lightgbm.load_model(str(path))
    meta = Model.load(str(path)).metadata or {}
    calibration = Calibration.from_metadata(meta.get("calibration"))
    return LoadedModel(name, version, booster, ModelInputs.from_metadata(meta), calibration)
