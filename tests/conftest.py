"""Shared fixtures: settings in a temporary folder and one small generated dataset run end to end."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd
import pytest

from core.config import Settings, load_settings
from core.io import write_tables

REPO = Path(__file__).resolve().parents[1]
START, END = "2023-01-01", "2025-01-01"
N_CUSTOMERS = 2000


def make_config(folder: Path) -> Path:
    """A copy of configs/ whose workdir and outputs live in `folder`."""
    configs = folder / "configs"
    configs.mkdir(parents=True, exist_ok=True)
    for name in ("stages.yaml", "actions.yaml", "reasons.yaml"):
        shutil.copy(REPO / "configs" / name, configs / name)
    shutil.copytree(REPO / "configs" / "sources", configs / "sources", dirs_exist_ok=True)
    text = (REPO / "configs" / "journey.yaml").read_text()
    text = text.replace("workdir: .journey", f"workdir: {folder / 'work'}")
    text = text.replace("outputs_dir: outputs", f"outputs_dir: {folder / 'outputs'}")
    (configs / "journey.yaml").write_text(text)
    return configs / "journey.yaml"


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return make_config(tmp_path)


@pytest.fixture
def settings(config_path: Path) -> Settings:
    return load_settings(config_path)


@dataclass(frozen=True)
class Trained:
    """A generated dataset that went through validate, features, Feast and both trainings."""

    config: Path
    settings: Settings
    tables: dict[str, pd.DataFrame]
    results: dict[str, object]


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    from pipelines.steps import build, materialize, validate_data
    from synthetic.generate import generate_tables
    from training.train import train_task

    folder = tmp_path_factory.mktemp("journey")
    config = make_config(folder)
    settings = load_settings(config)
    os.environ.setdefault("BENTOML_HOME", str(folder / "bentoml"))
    tables = generate_tables(N_CUSTOMERS, seed=11, start=START, end=END)
    write_tables(tables, settings.paths.data)
    validate_data(settings, pd.Timestamp(END, tz="UTC"))
    build(settings)
    materialize(settings)
    results = {task: train_task(settings.paths.clean, settings, task) for task in ("churn", "stage")}
    return Trained(config=config, settings=settings, tables=tables, results=results)  # type: ignore[arg-type]


def _unavailable(message: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: this test must run)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def unavailable() -> Callable[[str], NoReturn]:
    """Skip with the reason on a user's machine; fail in CI (CI=true), where data and services are."""
    return _unavailable


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of the real datasets: $JOURNEY_SHARED_DATA or <repo>/../shared/data.

    As the data README asks, tests on them skip with the reason when the folder is absent (a
    user's fresh machine); CI has the folder beside the checkout, so they run there.
    """
    env = os.environ.get("JOURNEY_SHARED_DATA")
    root = Path(env) if env else REPO.parent / "shared" / "data"
    if not root.is_dir():
        pytest.skip(f"real datasets not found at {root}: set JOURNEY_SHARED_DATA to their folder")
    return root


@pytest.fixture(scope="session")
def real(shared_data: Path) -> Callable[..., Path]:
    """A file or folder of the real datasets, or skip with the reason when it is not there."""

    def locate(*parts: str) -> Path:
        path = shared_data.joinpath(*parts)
        if not path.exists():
            pytest.skip(f"real dataset file not found: {path}")
        return path

    return locate


def _fresh_app() -> Any:
    from prometheus_client import REGISTRY

    from serving.service import JourneyService

    for collector, names in list(REGISTRY._collector_to_names.items()):
        if any(name.startswith("bentoml_") for name in names):
            REGISTRY.unregister(collector)
    return JourneyService.to_asgi()


@pytest.fixture(scope="session")
def service_app() -> Callable[[], Any]:
    """JourneyService.to_asgi(), callable more than once per test process.

    Each BentoML app registers its request-duration histogram in prometheus_client's global
    registry, so a second app in the same process would clash; a real server builds one app per
    worker process, so only tests need to drop the previous app's collectors first.
    """
    return _fresh_app
