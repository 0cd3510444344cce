"""Fixtures over tests/helpers: settings in a temporary folder, one generated project trained once per
session (and private copies of it), the real datasets, the scoring service; and the markers they earn."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from helpers import environment, service
from helpers.project import Trained, make_config, train_project
from helpers.project_copy import changed, copy_project, kept_mlflow_globals, registry_state

from core.config import Settings, load_settings

# marker -> the fixture that earns it, directly or through other fixtures (pyproject.toml says why)
MARKED_BY_FIXTURE = {"trained": "trained", "real_data": "shared_data", "disk": "tmp_path_factory"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by the costly things its fixtures use: `make check` leaves those tests out."""
    for item in items:
        used = getattr(item, "fixturenames", ())
        for marker, fixture in MARKED_BY_FIXTURE.items():
            if fixture in used:
                item.add_marker(marker)


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return make_config(tmp_path)


@pytest.fixture
def settings(config_path: Path) -> Settings:
    return load_settings(config_path)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """One generated dataset validated, built, materialised and trained (both tasks), read by many tests.

    Tests must not write to it: a test that registers, promotes, moves an alias or applies Feast
    definitions takes `trained_copy`.
    """
    folder = tmp_path_factory.mktemp("journey")
    os.environ.setdefault("BENTOML_HOME", str(folder / "bentoml"))
    return train_project(folder)


@pytest.fixture
def trained_copy(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    """A private copy of the trained project, for a test that writes to its registries.

    Afterwards MLflow's process-wide settings are put back, and the shared project's registries must
    be exactly as they were: a write that reached them through the copy fails the test.
    """
    before = registry_state(trained.settings)
    with kept_mlflow_globals():
        yield copy_project(trained, tmp_path_factory.mktemp("trained_copy"))
    changes = changed(before, registry_state(trained.settings))
    assert not changes, f"a test wrote to the shared trained project through its copy: {changes}"


@pytest.fixture(scope="session")
def unavailable() -> Callable[[str], NoReturn]:
    """Skip with the reason on a user's machine; fail in CI (CI=true), where data and services are."""
    return environment.unavailable


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of the real datasets ($JOURNEY_SHARED_DATA or <repo>/../shared/data), or skip."""
    return environment.shared_data_root()


@pytest.fixture(scope="session")
def real(shared_data: Path) -> Callable[..., Path]:
    """A file or folder of the real datasets, or skip with the reason when it is not there."""
    return lambda *parts: environment.real_file(shared_data, *parts)


@pytest.fixture(scope="session")
def service_app() -> Callable[[], Any]:
    """JourneyService.to_asgi(), callable more than once per test process."""
    return service.fresh_app
