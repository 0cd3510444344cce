"""Load the champion models and their input contracts from the MLflow registry."""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import mlflow
from mlflow.tracking import MlflowClient

from core.config import Settings
from core.schema import CHAMPION
from serving.artifact import Calibration, ModelInputs


class ModelNotFound(RuntimeError):
    """No model version carries the requested alias yet."""


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: str
    booster: lgb.Booster
    inputs: ModelInputs
    calibration: Calibration | None = None


def load_champion(name: str, settings: Settings, alias: str = CHAMPION) -> LoadedModel:
    """The booster and input contract of `models:/<name>@<alias>`."""
    uri = settings.mlflow.uri(settings.paths.workdir.resolve())
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        version = MlflowClient().get_model_version_by_alias(name, alias)
    except mlflow.exceptions.MlflowException as err:
        raise ModelNotFound(
            f"no model '{name}' with alias '{alias}' in the registry at {uri}: train one first "
            f"(`journey train {'churn' if name == 'churn' else 'stage'}`)"
        ) from err
    model_uri = f"models:/{name}@{alias}"
    booster = mlflow.lightgbm.load_model(model_uri)
    meta = mlflow.models.get_model_info(model_uri).metadata or {}
    calibration = Calibration.from_metadata(meta.get("calibration"))
    return LoadedModel(name, str(version.version), booster, ModelInputs.from_metadata(meta), calibration)
