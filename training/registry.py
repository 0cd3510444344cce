"""MLflow tracking and registry: log a trained model with its metrics and lineage, set the alias."""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import mlflow
import pandas as pd
from matplotlib.figure import Figure
from mlflow import MlflowClient
from mlflow.models import infer_signature

from core.config import Settings
from core.registry import tracking
from core.schema import CHALLENGER, CHAMPION
from serving.artifact import Calibration, ModelInputs
from serving.pyfunc import BOOSTER, CONTRACT, JourneyModel, output_frame, probabilities

log = logging.getLogger(__name__)
# Run tags naming the process that trains, so that a later command can tell a run whose process
# was killed (kill -9: no `finally` ran) from one still training.
PID_TAG, HOST_TAG = "journey.pid", "journey.host"
# A run tag set before the version is registered, and the version tag set once its grade tags are
# written: a version of a `pending` run without it was interrupted half-way and is never promoted.
RUN_REGISTRATION, REGISTRATION, COMPLETE = "journey.registration", "registration", "complete"


@dataclass(frozen=True)
class Registered:
    name: str
    version: str
    run_id: str
    champion: bool  # True only for a model's first version: later ones wait for `journey promote`
    waiting: bool = False  # no version is champion: this one's grade is too low to serve by itself


def alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    """The version carrying an alias, or None when the model or the alias does not exist."""
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except mlflow.exceptions.MlflowException:
        return None


@dataclass(frozen=True)
class Artifacts:
    """What a run logs beside the model: plots, text files and the model card (needs the version)."""

    figures: dict[str, Figure]
    texts: dict[str, str]
    card: Callable[[str], str]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # logged as Parquet


@contextmanager
def tracked_run(settings: Settings, name: str) -> Iterator[MlflowClient]:
    """An MLflow run for one training, with the client of its store; nested tuning runs and the
    model are logged inside it, and MLflow's global URIs are back as they were afterwards."""
    with tracking(settings) as client, mlflow.start_run(run_name=name) as run:
        # mlflow's context ends the run FAILED on any exception (the CLI turns SIGTERM into one);
        # the tags let the next command mark it KILLED when no exception could run (kill -9)
        mlflow.set_tags({PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()})
        try:
            yield client
        except BaseException:
            unregister_run(client, run.info.run_id)
            raise


def log_and_register(
    client: MlflowClient,
    name: str,
    booster: lgb.Booster,
    inputs: ModelInputs,
    example: pd.DataFrame,
    metrics: dict[str, float],
    tags: dict[str, Any],
    artifacts: Artifacts,
    calibration: Calibration | None = None,
    version_tags: dict[str, str] | None = None,
    champion_grades: tuple[str, ...] = ("A", "B"),
) -> Registered:
    """Log params, metrics, lineage, plots and the booster in the active run; register the version.

    `client` is the one `tracked_run` yields (the run's store), which sets the aliases and tags.

    The version is registered as `challenger`; the first version of a model becomes the champion
    instead when its grade is one of `champion_grades` (training.first_champion_grades). Later
    versions replace the champion only through `journey promote`, so a worse model never
    silently takes over. Grade and headline metrics are tags on the version.
    """
    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("log_and_register needs an active MLflow run (training.registry.tracked_run)")
    hidden = {"categorical_feature", "monotone_constraints"}
    mlflow.log_params({k: v for k, v in booster.params.items() if k not in hidden})
    mlflow.log_params({"best_iteration": booster.best_iteration, "n_features": len(inputs.features)})
    mlflow.log_metrics(metrics)
    mlflow.set_tags({k: str(v) for k, v in tags.items()})
    for file, figure in artifacts.figures.items():
        mlflow.log_figure(figure, f"plots/{file}")
    for file, text in artifacts.texts.items():
        mlflow.log_text(text, file)
    for file, table in artifacts.tables.items():
        _log_parquet(table, file)
    mlflow.set_tag(RUN_REGISTRATION, "pending")
    info = _log_model(name, booster, inputs, example, calibration)
    version = str(info.registered_model_version)
    mlflow.log_text(artifacts.card(version), "model_card.md")
    for key, value in (version_tags or {}).items():
        client.set_model_version_tag(name, version, key, value)
    client.set_model_version_tag(name, version, REGISTRATION, COMPLETE)
    first = give_aliases(client, name, version, champion_grades)
    mlflow.set_tag(RUN_REGISTRATION, COMPLETE)
    waiting = not first and alias_version(client, name, CHAMPION) is None
    log.info("registered %s version %s (champion: %s)", name, version, first)
    return Registered(name=name, version=version, run_id=run.info.run_id, champion=first, waiting=waiting)


def give_aliases(
    client: MlflowClient, name: str, version: str, champion_grades: tuple[str, ...] = ("A", "B")
) -> bool:
    """A complete version becomes the champion when the model has none yet and its grade is one
    of `champion_grades` (a version registered before grades counts as good enough); otherwise
    the challenger, for `journey promote`. A version holds one alias at a time."""
    grade = client.get_model_version(name, version).tags.get("grade")
    first = alias_version(client, name, CHAMPION) is None and (grade is None or grade in champion_grades)
    if first:
        client.set_registered_model_alias(name, CHAMPION, version)
        client.set_model_version_tag(name, version, "promoted", "first version of the model")
    else:
        client.set_registered_model_alias(name, CHALLENGER, version)
    return first


def unregister_run(client: MlflowClient, run_id: str) -> list[str]:
    """Delete the versions a run registered but did not complete (their aliases go with them)."""
    removed = []
    for version in client.search_model_versions(f"run_id = '{run_id}'"):
        if version.tags.get(REGISTRATION) != COMPLETE:
            client.delete_model_version(version.name, version.version)
            log.warning(
                "removed %s version %s: its registration did not complete", version.name, version.version
            )
            removed.append(f"{version.name} v{version.version}")
    return removed


def _log_model(
    name: str,
    booster: lgb.Booster,
    inputs: ModelInputs,
    example: pd.DataFrame,
    calibration: Calibration | None,
) -> Any:
    """Log and register the pyfunc (serving/pyfunc.py): booster file, input contract, calibration.

    Its signature takes the features by name with categories as text (not the codes the booster
    sees), and its output is the API's: calibrated churn probability or one column per stage.
    """
    meta = {**inputs.to_metadata(), "calibration": calibration.to_metadata() if calibration else None}
    sample = example[list(inputs.features)].head(5).reset_index(drop=True)
    for column in inputs.categories:
        sample[column] = sample[column].astype("string").astype(object)  # text values, None when missing
    predicted = output_frame(inputs, probabilities(booster, inputs, calibration, inputs.matrix(sample)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{BOOSTER}.txt"
        booster.save_model(str(path))
        contract = Path(tmp) / f"{CONTRACT}.json"
        contract.write_text(json.dumps(meta))
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=JourneyModel(),
            artifacts={BOOSTER: str(path), CONTRACT: str(contract)},
            metadata=meta,
            registered_model_name=name,
            signature=infer_signature(sample, predicted),
            input_example=sample,
            pip_requirements=_requirements(),
        )


def _requirements() -> list[str]:
    """The packages the pyfunc needs, pinned to this environment (MLflow would infer them by
    loading the model in a subprocess, which costs seconds per training)."""
    from importlib.metadata import version

    return [f"{package}=={version(package)}" for package in ("mlflow", "lightgbm", "numpy", "pandas")]


def _log_parquet(table: pd.DataFrame, file: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / file
        table.to_parquet(path, index=False)
        mlflow.log_artifact(str(path))


def registered_versions(client: MlflowClient) -> list[str]:
    """One line per registered version: aliases, grade and registration state, newest first."""
    lines = []
    for model in client.search_registered_models():
        aliases: dict[str, list[str]] = {}
        for alias, version in (model.aliases or {}).items():
            aliases.setdefault(str(version), []).append(alias)
        found = client.search_model_versions(f"name = '{model.name}'")
        for version in sorted(found, key=lambda v: -int(v.version)):
            tags = version.tags
            marks = [
                *sorted(aliases.get(str(version.version), [])),
                *(["rolled back"] if tags.get("rolled_back") == "true" else []),
            ]
            lines.append(
                f"{model.name} v{version.version}: grade {tags.get('grade', '?')}"
                + (f" ({', '.join(marks)})" if marks else "")
                + ("" if tags.get(REGISTRATION, COMPLETE) == COMPLETE else " [registration incomplete]")
            )
    return lines or ["no registered models: `journey train churn` registers the first"]
