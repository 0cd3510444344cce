"""CLI tests: help with examples, a tiny generate, clear errors, and batch outputs from the trained set."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.cli import app

runner = CliRunner()
COMMANDS = [
    ["generate"],
    ["validate"],
    ["features"],
    ["features", "build"],
    ["features", "docs"],
    ["promote"],
    ["rollback"],
    ["features", "materialize"],
    ["train"],
    ["score"],
    ["targets"],
    ["uplift"],
    ["report"],
    ["run"],
    ["monitor"],
    ["serve"],
    ["openapi"],
    ["demo"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output


def test_generate_then_validate(tmp_path: Path, config_path: Path):
    config = config_path
    out = runner.invoke(app, ["-c", str(config), "generate", "--customers", "50", "--seed", "1"])
    assert out.exit_code == 0, out.output
    data = tmp_path / "work" / "data"
    assert len(pd.read_parquet(data / "customers.parquet")) == 50
    checked = runner.invoke(app, ["-c", str(config), "validate", "--as-of", "2025-01-01"])
    assert checked.exit_code == 0, checked.output
    assert (tmp_path / "work" / "clean" / "current" / "events.parquet").is_file()


def test_bad_input_is_one_clear_line_and_exit_1(tmp_path: Path, config_path: Path):
    config = config_path
    runner.invoke(app, ["-c", str(config), "generate", "--customers", "30"])
    events = tmp_path / "work" / "data" / "events.parquet"
    pd.read_parquet(events).drop(columns=["event_type"]).to_parquet(events)
    result = runner.invoke(app, ["-c", str(config), "validate"])
    assert result.exit_code == 1
    assert "event_type" in result.output and "Traceback" not in result.output


def test_steps_in_the_wrong_order_say_what_to_run(config_path: Path):
    config = config_path
    result = runner.invoke(app, ["-c", str(config), "features", "build"])
    assert result.exit_code == 1
    assert "run `journey validate` first" in result.output
    result = runner.invoke(app, ["-c", str(config), "train", "churn"])
    assert result.exit_code == 1
    assert "journey features build" in result.output


def test_unknown_task_is_rejected():
    result = runner.invoke(app, ["train", "ltv"])
    assert result.exit_code == 2
    assert "'ltv' is not one of 'churn', 'stage'" in " ".join(result.output.replace("│", " ").split())


def test_score_and_targets_write_ranked_outputs(trained_copy, tmp_path: Path):
    config = str(trained_copy.config)
    scored = runner.invoke(app, ["-c", config, "score"])
    assert scored.exit_code == 0, scored.output
    scores = pd.read_csv(trained_copy.settings.paths.outputs_dir / "scores.csv")
    elsewhere = runner.invoke(app, ["-c", config, "score", "--out", str(tmp_path / "scores")])
    assert elsewhere.exit_code == 0, elsewhere.output
    assert len(pd.read_csv(tmp_path / "scores" / "scores.csv")) == len(scores)
    assert scores["current_stage"].isin(["purchase", "retention", "advocacy"]).all()
    listed = runner.invoke(app, ["-c", config, "targets", "--capacity", "25"])
    assert listed.exit_code == 0, listed.output
    table = pd.read_csv(trained_copy.settings.paths.outputs_dir / "targets.csv")
    assert len(table) == 25
    assert table["rank"].tolist() == list(range(1, 26))
    assert table["expected_value_saved_net"].is_monotonic_decreasing
    assert {"current_stage", "next_stage", "reason_1", "recommended_action"} <= set(table.columns)
    assert set(table["customer_id"].astype(str)) <= set(scores["customer_id"].astype(str))


def test_feature_catalog_doc_is_generated_and_current(tmp_path: Path):
    from core.config import load_settings
    from pipelines.catalog_doc import catalog_markdown

    repo = Path(__file__).resolve().parents[2]
    settings = load_settings(repo / "configs" / "journey.yaml")
    committed = (repo / "docs" / "features.md").read_text()
    assert committed == catalog_markdown(settings.demographics), "run `journey features docs`"
    assert committed.count("\n| `") >= 60


def test_committed_openapi_document_is_current(tmp_path):
    repo = Path(__file__).resolve().parents[2]
    out = tmp_path / "openapi.json"
    result = runner.invoke(app, ["openapi", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    committed = (repo / "docs" / "openapi.json").read_text()
    assert out.read_text() == committed, "docs/openapi.json is stale: run `journey openapi`"
    assert (
        '"/score_features"' in committed and '"additionalProperties": false' in committed
    )  # unknown fields: 400


def test_deprecations_stay_quiet_even_after_a_library_resets_the_filters():
    from pipelines.console import quiet_deprecations

    shown: list[type[Warning]] = []
    quiet = quiet_deprecations(lambda message, category, *args, **kwargs: shown.append(category))
    for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning, UserWarning):
        quiet("x", category, "file.py", 1)
    assert shown == [UserWarning]
    assert quiet_deprecations(quiet) is quiet  # installing it twice does not stack
