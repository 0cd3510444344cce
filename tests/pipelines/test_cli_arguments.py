"""Closed choices, ranges and --out folders of the `journey` commands: usage errors name what is allowed."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.cli.options import Learner, Stage, Tier

runner = CliRunner()


def flat(output: str) -> str:
    """The output on one line, without the box rich draws around errors."""
    return " ".join(output.replace("│", " ").split())


@pytest.mark.parametrize(
    ("args", "allowed"),
    [
        (["train", "chrun"], "'chrun' is not one of 'churn', 'stage'"),
        (["promote", "ltv"], "'ltv' is not one of 'churn', 'stage'"),
        (["rollback", "ltv"], "'ltv' is not one of 'churn', 'stage'"),
        (["targets", "--tier", "bogus"], "'bogus' is not one of 'high', 'medium', 'low'"),
        (["targets", "--stage", "churned"], "'churned' is not one of 'purchase', 'retention', 'advocacy'"),
        (["targets", "--rank-by", "luck"], "'luck' is not one of 'value', 'uplift'"),
        (["uplift", "--learner", "s_learner"], "'s_learner' is not one of 'x_learner', 't_learner'"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else "",
)
def test_a_value_outside_a_closed_choice_is_a_usage_error_naming_the_choices(args, allowed):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert allowed in flat(result.output)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["targets", "--where", "nonsense"], "takes column=value (e.g. region=north), got 'nonsense'"),
        (["targets", "--where", "=north"], "takes column=value"),
        (["targets", "--budget", "-5"], "must be a positive amount, got -5.0"),
        (["targets", "--min-probability", "1"], "must be in [0, 1), got 1.0"),
        (["train", "churn", "--tune", "-1"], "greater than or equal to 0"),
        (["report", "--out", "outputs/report.html"], "looks like a file: --out takes the folder"),
    ],
)
def test_malformed_arguments_are_usage_errors(args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in flat(result.output)


def test_help_lists_the_choices():
    assert "churn|stage" in flat(runner.invoke(app, ["train", "--help"]).output)
    shown = flat(runner.invoke(app, ["targets", "--help"]).output)
    assert "high|medium|low" in shown and "value|uplift" in shown
    assert "x_learner|t_learner" in flat(runner.invoke(app, ["uplift", "--help"]).output)


@pytest.mark.parametrize(
    "command", [["generate"], ["features", "docs"], ["score"], ["targets"], ["report"], ["openapi"]]
)
def test_every_out_is_a_folder_and_says_so(command):
    shown = flat(runner.invoke(app, [*command, "--help"]).output)
    assert "--out" in shown and "Folder to write" in shown


def test_features_docs_writes_the_catalog_into_the_out_folder(tmp_path: Path):
    from core.config import load_settings
    from pipelines.catalog_doc import catalog_markdown

    result = runner.invoke(app, ["features", "docs", "--out", str(tmp_path / "docs")])
    assert result.exit_code == 0, result.output
    written = (tmp_path / "docs" / "features.md").read_text()
    assert written == catalog_markdown(load_settings().demographics)


def test_the_cli_choices_match_the_packages_they_stand_for():
    from core.config import DEFAULT_CONFIG
    from core.schema import ACTIVE_STAGES
    from pipelines.console import DEFAULT_CONFIG as CLI_DEFAULT_CONFIG
    from targeting.select import TIERS
    from targeting.uplift import LEARNERS

    assert tuple(Stage) == ACTIVE_STAGES and tuple(Tier) == TIERS
    assert get_args(Learner) == LEARNERS
    assert CLI_DEFAULT_CONFIG == DEFAULT_CONFIG


def test_every_known_failure_becomes_one_line_not_a_traceback():
    from ingest.validate import DataContractError
    from pipelines.console import KNOWN_ERRORS
    from serving.batch import NoActiveCustomers
    from serving.models import ModelNotFound
    from targeting.select import TargetingError
    from training.evaluate import SingleClassError
    from training.promote import PromotionRefused
    from training.split import NotEnoughHistory

    known = (DataContractError, NoActiveCustomers, ModelNotFound, TargetingError, SingleClassError)
    for error in (*known, PromotionRefused, NotEnoughHistory):
        assert issubclass(error, KNOWN_ERRORS), error
