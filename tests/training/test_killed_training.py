"""`journey train churn` killed (SIGKILL, SIGTERM) at several points (issue 17, item 15): afterwards
no MLflow run stays RUNNING past the next command, no half-registered version is served or
promotable, and training again succeeds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.project import Trained
from mlflow import MlflowClient
from typer.testing import CliRunner

from core.registry import connect, experiment_id
from core.schema import CHALLENGER, CHAMPION
from pipelines.cli import app
from training.registry import alias_version

pytestmark = [pytest.mark.faults, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 600  # seconds: a training on the shared 2-core machine under load
REGISTRATION, COMPLETE = "registration", "complete"  # the version tag set once its grade tags are written

# Runs `journey -c CONFIG train churn` in a child that signals itself at POINT: a fault at a known
# place, without any hook in the product's code.
DRIVER = """
import os, signal, sys
config, point, how = sys.argv[1:4]
def fault(*args, **kwargs):
    os.kill(os.getpid(), getattr(signal, how))
    raise AssertionError("the signal did not stop the process")
if point == "fit":
    import training.train
    training.train.fit_booster = fault
elif point == "registered":  # MLflow registered the version; its tags are not written yet
    import mlflow.pyfunc
    log_model = mlflow.pyfunc.log_model
    def logged_then_fault(*args, **kwargs):
        info = log_model(*args, **kwargs)
        fault()
    mlflow.pyfunc.log_model = logged_then_fault
elif point == "aliases":  # the version is complete; its aliases are not set yet
    import training.registry
    training.registry.give_aliases = fault
from pipelines.cli import app
sys.argv = ["journey", "-c", config, "train", "churn"]
app()
"""


def train_killed(trained: Trained, point: str, how: str = "SIGKILL") -> subprocess.CompletedProcess[str]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(trained.config), point, how],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    print(f"killed at {point} by {how} after {time.monotonic() - started:.1f} s")
    return done


def journey(trained: Trained, *args: str) -> str:
    result = CliRunner().invoke(app, ["-c", str(trained.config), *args])
    return " ".join(result.output.split())


def running(client: MlflowClient, trained: Trained) -> list[str]:
    experiment = experiment_id(client, trained.settings)
    runs = client.search_runs([experiment], filter_string="attributes.status = 'RUNNING'")
    return [run.info.run_id for run in runs]


def versions(client: MlflowClient) -> dict[str, dict[str, str]]:
    return {str(v.version): dict(v.tags) for v in client.search_model_versions("name = 'churn'")}


def test_kill_9_during_fit_leaves_a_run_the_next_command_marks_killed(trained_copy: Trained) -> None:
    client = connect(trained_copy.settings)
    before = versions(client)
    done = train_killed(trained_copy, "fit")
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    orphans = running(client, trained_copy)
    assert len(orphans) == 1  # the fault: kill -9 runs no `finally`
    assert f"marked MLflow run {orphans[0]} KILLED" in journey(trained_copy, "models")
    assert running(client, trained_copy) == []
    assert client.get_run(orphans[0]).info.status == "KILLED"
    assert versions(client) == before
    assert "challenger: `journey promote` decides" in journey(trained_copy, "train", "churn")


def test_kill_9_at_registration_leaves_no_version_to_serve_or_promote(trained_copy: Trained) -> None:
    client = connect(trained_copy.settings)
    champion = alias_version(client, "churn", CHAMPION)
    done = train_killed(trained_copy, "registered")
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    half = max(versions(client), key=int)
    assert REGISTRATION not in versions(client)[half]  # READY in MLflow, no grade, not complete
    assert alias_version(client, "churn", CHALLENGER) != half  # never aliased: never served

    said = journey(trained_copy, "promote", "churn")
    assert "no challenger" in said
    assert half not in versions(client)
    assert running(client, trained_copy) == []
    assert alias_version(client, "churn", CHAMPION) == champion

    out = journey(trained_copy, "train", "churn")
    assert "challenger: `journey promote` decides" in out
    newest = max(versions(client), key=int)
    assert versions(client)[newest][REGISTRATION] == COMPLETE
    assert alias_version(client, "churn", CHALLENGER) == newest


def test_kill_9_before_the_aliases_of_a_first_version_is_completed(trained_copy: Trained) -> None:
    client = connect(trained_copy.settings)
    client.delete_registered_model("churn")  # the first training of the model
    done = train_killed(trained_copy, "aliases")
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    (version,) = versions(client)
    assert versions(client)[version][REGISTRATION] == COMPLETE
    assert alias_version(client, "churn", CHAMPION) is None  # the fault: no alias at all

    said = journey(trained_copy, "models")
    assert f"completed the registration of churn v{version}" in said
    assert f"churn v{version}: grade" in said and "champion" in said
    assert alias_version(client, "churn", CHAMPION) == version
    assert alias_version(client, "churn", CHALLENGER) is None  # one alias per version
    assert running(client, trained_copy) == []


def test_sigterm_ends_the_run_and_removes_the_half_registered_version(trained_copy: Trained) -> None:
    client = connect(trained_copy.settings)
    before = versions(client)
    done = train_killed(trained_copy, "registered", how="SIGTERM")
    assert done.returncode != 0
    assert running(client, trained_copy) == []  # ended in `finally`, no later command needed
    assert versions(client) == before
