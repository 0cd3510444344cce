"""Fixtures of the feature tests: where the real public datasets are (skip locally, fail in CI)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parents[2]


def _unavailable(message: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: this test must run)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def unavailable() -> Callable[[str], NoReturn]:
    """Skip with the reason on a user's machine; fail in CI (CI=true), where data and services are."""
    return _unavailable


@pytest.fixture(scope="session")
def shared_data(unavailable: Callable[[str], NoReturn]) -> Path:
    """The folder of the real datasets: $JOURNEY_SHARED_DATA or <repo>/../shared/data."""
    env = os.environ.get("JOURNEY_SHARED_DATA")
    root = Path(env) if env else REPO.parent / "shared" / "data"
    if not root.is_dir():
        unavailable(f"real datasets not found at {root}: set JOURNEY_SHARED_DATA to their folder")
    return root


@pytest.fixture(scope="session")
def real(shared_data: Path, unavailable: Callable[[str], NoReturn]) -> Callable[..., Path]:
    """A file or folder of the real datasets, or skip (fail in CI) when it is not there."""

    def locate(*parts: str) -> Path:
        path = shared_data.joinpath(*parts)
        if not path.exists():
            unavailable(f"real dataset file not found: {path}")
        return path

    return locate
