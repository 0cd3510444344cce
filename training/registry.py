"""MLflow tracking and registry: log a trained model with its metrics and lineage, set the alias."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import mlflow
import numpy as np
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from features.config import Settings
from features.encoding import Calibration, ModelInputs
from features.schema import CHALLENGER, CHAMPION

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Registered:
    name: str
    version: str
    run_id: str
    champion: bool  # True only for a model's first version: later ones wait for `journey promote`


def alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    """The version carrying an alias, or None when the model or the alias does not exist."""
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except mlflow.exceptions.MlflowException:
        return None


def use_tracking(settings: Settings) -> str:
    """Point MLflow at the configured store and make sure the experiment exists."""
    uri = settings.mlflow.uri(settings.paths.workdir.resolve())
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    name = settings.mlflow.experiment
    if mlflow.get_experiment_by_name(name) is None:
        artifacts = (settings.paths.workdir.resolve() / "mlartifacts").as_uri()
        mlflow.create_experiment(name, artifact_location=artifacts)
    mlflow.set_experiment(name)
    return uri


def log_and_register(
    name: str,
    booster: lgb.Booster,
    inputs: ModelInputs,
    example: np.ndarray,
    metrics: dict[str, float],
    tags: dict[str, Any],
    settings: Settings,
    calibration: Calibration | None = None,
) -> Registered:
    """Log params, metrics, lineage tags and the booster; register it as the challenger.

    The first version of a model also becomes the champion; later versions replace the champion
    only through `journey promote`, so a worse model never silently takes over.
    """
    use_tracking(settings)
    with mlflow.start_run(run_name=name) as run:
        mlflow.log_params({k: v for k, v in booster.params.items() if k != "categorical_feature"})
        mlflow.log_params({"best_iteration": booster.best_iteration, "n_features": len(inputs.features)})
        mlflow.log_metrics(metrics)
        mlflow.set_tags({k: str(v) for k, v in tags.items()})
        sample = example[:5]
        info = mlflow.lightgbm.log_model(
            booster,
            name="model",
            registered_model_name=name,
            metadata={
                **inputs.to_metadata(),
                "calibration": calibration.to_metadata() if calibration else None,
            },
            signature=infer_signature(sample, booster.predict(sample)),
        )
    version = str(info.registered_model_version)
    client = MlflowClient()
    first = alias_version(client, name, CHAMPION) is None
    client.set_registered_model_alias(name, CHALLENGER, version)
    if first:
        client.set_registered_model_alias(name, CHAMPION, version)
        client.set_model_version_tag(name, version, "promoted", "first version of the model")
    for key in ("roc_auc", "macro_f1"):
        if key in metrics:
            client.set_model_version_tag(name, version, key, f"{metrics[key]:.4f}")
    log.info("registered %s version %s (champion: %s)", name, version, first)
    return Registered(name=name, version=version, run_id=run.info.run_id, champion=first)
