"""A service that cannot serve stops at once with one clear line and exit code 1, from `journey
serve` and from `bentoml serve` itself (issue 19 item 5: the server never failed; its workers
restarted in a loop, the useful line buried in 665 lines of log and 30 tracebacks)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from core.config import load_settings
from core.registry import tracking
from pipelines.cli import app
from pipelines.service_process import free_port, service_command, service_env, stop

NO_MODEL = "no model 'churn' with alias 'champion'"
STOP_S = 120  # a loaded machine imports BentoML, MLflow and Feast in ~20 s; a restart loop never stops


def _serve(config: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["-c", str(config), "serve", "--port", "3999"])
    return result.exit_code, " ".join(result.output.split())


def test_serve_with_no_model_says_train_one_first(config_path: Path):
    code, said = _serve(config_path)
    assert code == 1
    assert NO_MODEL in said and "journey train churn" in said


def test_serve_with_a_waiting_weak_model_says_how_to_serve_it(config_path: Path):
    with tracking(load_settings(config_path)) as client:
        assert isinstance(client, MlflowClient)
        client.create_registered_model("churn")
        version = client.create_model_version("churn", source="file:///nowhere", tags={"grade": "C"})
        client.set_registered_model_alias("churn", "challenger", version.version)
    code, said = _serve(config_path)
    assert code == 1
    assert "v1 (grade C) waits as challenger" in said and "journey promote churn --force --reason" in said


def test_a_trained_project_can_start(trained):
    from serving import startup  # here, not at collection: see tests/serving/test_openapi.py

    assert startup.problem(trained.settings) is None


def test_serve_without_an_online_store_says_materialize(trained_copy):
    shutil.rmtree(trained_copy.settings.paths.feast_repo)  # never materialised, or its folder lost
    code, said = _serve(trained_copy.config)
    assert code == 1
    assert "has no feature service 'churn_v1'" in said and "journey features materialize" in said


def test_bentoml_serve_with_no_model_exits_with_one_line_not_a_restart_loop(config_path: Path):
    """`bentoml serve serving.service:JourneyService`, as a deployment starts it, without `journey serve`."""
    settings = load_settings(config_path)
    proc = subprocess.Popen(
        service_command("127.0.0.1", free_port()),
        env=service_env(settings, config_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        out, _ = proc.communicate(timeout=STOP_S)
    except subprocess.TimeoutExpired:
        stop(proc)  # the server and its workers
        out, _ = proc.communicate()
        pytest.fail(f"bentoml serve still running after {STOP_S} s:\n{out.decode(errors='replace')[-3000:]}")
    text = out.decode(errors="replace")
    ours = [line for line in text.splitlines() if line.startswith("journey:")]
    assert proc.returncode == 1, text[-3000:]
    assert len(ours) == 1 and NO_MODEL in ours[0] and "journey train churn" in ours[0]
    assert "Traceback" not in text and "Starting production" not in text
