"""`journey uplift` on a small generated set: report, MLflow registration, load_uplift, clear errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from helpers.project import END, START, make_config
from typer.testing import CliRunner

from core.config import Settings, load_settings
from pipelines.cli import app
from targeting.uplift import load_features, load_uplift

runner = CliRunner()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Settings]:
    """3,000 generated customers (with the generator's campaign truth) validated, features built."""
    from core.io import write_tables
    from pipelines.steps import build, validate_data
    from synthetic.generate import generate_tables

    config = make_config(tmp_path_factory.mktemp("uplift_cmd"))
    settings = load_settings(config)
    write_tables(generate_tables(3000, seed=3, start=START, end=END), settings.paths.data)
    validate_data(settings, pd.Timestamp(END, tz="UTC"))
    build(settings)
    return config, settings


def test_help_has_an_example() -> None:
    result = runner.invoke(app, ["uplift", "--help"])
    assert result.exit_code == 0
    assert "Example: journey uplift" in result.output


def test_uplift_reports_registers_and_loads(built: tuple[Path, Settings]) -> None:
    config, settings = built
    assert load_uplift(settings) is None
    result = runner.invoke(app, ["-c", str(config), "uplift", "--learner", "t_learner"])
    assert result.exit_code == 0, result.output
    assert "tested on retention-2024-09-01" in result.output  # the newest complete campaign
    for ranking in ("t_learner", "churn_probability", "true_uplift", "random"):
        assert ranking in result.output
    assert "true_value at 10%" in result.output  # the generator's truth was found and used
    assert "registered uplift version 1 (champion)" in result.output
    scorer = load_uplift(settings)
    assert scorer is not None and scorer.name == "t_learner"
    ids = pd.read_parquet(settings.paths.clean / "campaigns.parquet")["customer_id"].head(20)
    frame = load_features(settings.paths.features, ids.tolist())
    uplift = scorer.predict(frame)
    assert uplift.shape == (len(frame),) and len(frame) > 20 and pd.notna(uplift).all()


def test_a_source_without_campaigns_is_one_clear_line(tmp_path: Path, built: tuple[Path, Settings]) -> None:
    _, settings = built
    config = make_config(tmp_path)
    clean = load_settings(config).paths.workdir / "clean"
    clean.mkdir(parents=True)
    for table in ("customers", "transactions", "events"):
        (clean / f"{table}.parquet").write_bytes((settings.paths.clean / f"{table}.parquet").read_bytes())
    result = runner.invoke(app, ["-c", str(config), "uplift"])
    assert result.exit_code == 1
    assert "no campaigns table" in result.output and "Traceback" not in result.output


def test_an_unknown_learner_is_one_clear_line(built: tuple[Path, Settings]) -> None:
    config, _ = built
    result = runner.invoke(app, ["-c", str(config), "uplift", "--learner", "s_learner"])
    assert result.exit_code == 2  # a usage error, caught before anything is read
    assert "'s_learner' is not one of 'x_learner', 't_learner'" in " ".join(
        result.output.replace("│", " ").split()
    )
