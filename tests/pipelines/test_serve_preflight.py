"""`journey serve` without a champion: one clear line and exit 1 (issue 19: the server never
failed; its workers restarted in a loop with the useful line buried in 665 lines of log)."""

from __future__ import annotations

from pathlib import Path

from mlflow import MlflowClient
from typer.testing import CliRunner

from core.config import load_settings
from core.registry import tracking
from pipelines.cli import app


def _serve(config: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["-c", str(config), "serve", "--port", "3999"])
    return result.exit_code, " ".join(result.output.split())


def test_serve_with_no_model_says_train_one_first(config_path: Path):
    code, said = _serve(config_path)
    assert code == 1
    assert "no model 'churn' with alias 'champion'" in said and "journey train churn" in said


def test_serve_with_a_waiting_weak_model_says_how_to_serve_it(config_path: Path):
    with tracking(load_settings(config_path)) as client:
        assert isinstance(client, MlflowClient)
        client.create_registered_model("churn")
        version = client.create_model_version("churn", source="file:///nowhere", tags={"grade": "C"})
        client.set_registered_model_alias("churn", "challenger", version.version)
    code, said = _serve(config_path)
    assert code == 1
    assert "v1 (grade C) waits as challenger" in said and "journey promote churn --force --reason" in said
