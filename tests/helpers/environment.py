"""What a test machine may lack: services and the real datasets (skip on a user's machine, fail in CI)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

from helpers.project import REPO


def unavailable(message: str) -> NoReturn:
    """Skip with the reason on a user's machine; fail in CI (CI=true), where data and services are."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: this test must run)")
    pytest.skip(message)


def shared_data_root() -> Path:
    """The folder of the real datasets: $JOURNEY_SHARED_DATA or <repo>/../shared/data; skip when absent.

    As the data README asks, tests on them skip with the reason when the folder is absent (a
    user's fresh machine); CI has the folder beside the checkout, so they run there.
    """
    env = os.environ.get("JOURNEY_SHARED_DATA")
    root = Path(env) if env else REPO.parent / "shared" / "data"
    if not root.is_dir():
        pytest.skip(f"real datasets not found at {root}: set JOURNEY_SHARED_DATA to their folder")
    return root


def real_file(root: Path, *parts: str) -> Path:
    """A file or folder of the real datasets, or skip with the reason when it is not there."""
    path = root.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real dataset file not found: {path}")
    return path
