"""Champion/challenger: a new model waits as challenger; promotion needs a margin or a reason."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from core.registry import connect
from pipelines.cli import app
from training.promote import PromotionRefused, compare, promote, rollback
from training.registry import alias_version
from training.train import train_task


def aliases(client: MlflowClient, name: str) -> tuple[str | None, str | None]:
    return alias_version(client, name, "champion"), alias_version(client, name, "challenger")


def test_retraining_never_replaces_the_champion_silently(trained_copy):
    settings = trained_copy.settings
    client = connect(settings)
    champion_before, _ = aliases(client, "churn")
    again = train_task(settings.paths.clean, settings, "churn")
    assert not again.registered.champion
    assert aliases(client, "churn") == (champion_before, again.registered.version)

    same = compare(settings.paths.clean, settings, "churn")
    assert same.champion[1] == pytest.approx(same.challenger[1])  # same data, same seed: same model
    with pytest.raises(PromotionRefused, match="does not beat"):
        promote(settings.paths.clean, settings, "churn")
    assert aliases(client, "churn")[0] == champion_before

    promote(settings.paths.clean, settings, "churn", force_reason="audit wants the retrained copy")
    assert aliases(client, "churn") == (again.registered.version, None)  # one alias per version
    tags = client.get_model_version("churn", again.registered.version).tags
    assert tags["forced_promotion_reason"] == "audit wants the retrained copy"
    assert tags["previous_champion"] == champion_before

    assert rollback(settings, "churn") == (again.registered.version, champion_before)
    assert aliases(client, "churn") == (champion_before, again.registered.version)
    with pytest.raises(PromotionRefused, match="nothing to roll back"):
        rollback(settings, "churn")


def test_cli_force_needs_a_reason_and_unknown_tasks_are_rejected(trained):
    runner = CliRunner()
    result = runner.invoke(app, ["-c", str(trained.config), "promote", "churn", "--force"])
    assert result.exit_code == 2
    assert "--force needs --reason" in result.output
    assert runner.invoke(app, ["-c", str(trained.config), "rollback", "ltv"]).exit_code == 2


def test_a_rolled_back_version_is_not_promoted_again_even_forced(trained_copy):
    settings = trained_copy.settings
    client = connect(settings)
    champion = aliases(client, "churn")[0]
    again = train_task(settings.paths.clean, settings, "churn").registered.version
    promote(settings.paths.clean, settings, "churn", force_reason="try the retrained copy")
    rollback(settings, "churn")
    assert aliases(client, "churn") == (champion, again)  # the rolled-back version is still challenger

    with pytest.raises(PromotionRefused, match="rolled back"):
        promote(settings.paths.clean, settings, "churn", force_reason="once more")
    cli = ["-c", str(trained_copy.config), "promote", "churn", "--force", "--reason", "once more"]
    result = CliRunner().invoke(app, cli)
    assert result.exit_code == 1
    assert "--allow-rolled-back" in " ".join(result.output.split())
    assert aliases(client, "churn")[0] == champion

    assert CliRunner().invoke(app, [*cli, "--allow-rolled-back"]).exit_code == 0
    assert aliases(client, "churn")[0] == again
    assert client.get_model_version("churn", again).tags["promoted_again_after_rollback"] == "true"


def test_cli_allow_rolled_back_needs_force(trained):
    result = CliRunner().invoke(app, ["-c", str(trained.config), "promote", "churn", "--allow-rolled-back"])
    assert result.exit_code == 2
    assert "--allow-rolled-back needs --force" in result.output


def _version(client: MlflowClient, name: str, grade: str) -> str:
    """A registered version with a grade tag and a complete registration (no model files needed)."""
    from training.registry import COMPLETE, REGISTRATION

    if not client.search_registered_models(f"name = '{name}'"):
        client.create_registered_model(name)
    version = client.create_model_version(name, source="file:///nowhere", tags={"grade": grade})
    client.set_model_version_tag(name, version.version, REGISTRATION, COMPLETE)
    return str(version.version)


def test_a_weak_first_version_waits_as_challenger_until_promoted_on_purpose(settings):
    """Issue 18 item 3: a grade C first version never serves by itself; --force --reason serves it."""
    from core.registry import tracking
    from serving.models import ModelNotFound, load_champion
    from training.registry import give_aliases

    with tracking(settings) as client:
        weak = _version(client, "churn", "C")
        assert not give_aliases(client, "churn", weak)
        assert aliases(client, "churn") == (None, weak)
        with pytest.raises(ModelNotFound, match=r"v1 \(grade C\) waits as challenger.*--force --reason"):
            load_champion("churn", settings, client=client)
        with pytest.raises(PromotionRefused, match="has no champion: v1 \\(grade C\\) waits as challenger"):
            promote(settings.paths.clean, settings, "churn")
        result = promote(settings.paths.clean, settings, "churn", force_reason="baselines checked by hand")
        assert result.champion is None and aliases(client, "churn") == (weak, None)
        assert (
            client.get_model_version("churn", weak).tags["forced_promotion_reason"]
            == "baselines checked by hand"
        )
        good = _version(client, "next_stage", "B")
        assert give_aliases(client, "next_stage", good)
        assert aliases(client, "next_stage") == (good, None)  # champion only, not also challenger
        later = _version(client, "next_stage", "A")
        assert not give_aliases(client, "next_stage", later)
        assert aliases(client, "next_stage") == (good, later)


def test_cli_tune_says_whether_the_tuned_parameters_were_kept(trained_copy):
    """`journey train --tune N`: N trials after the configured fit, and a line that says which won
    (the progress bar itself is transient; the run's tag holds the same sentence)."""
    result = CliRunner().invoke(app, ["-c", str(trained_copy.config), "train", "stage", "--tune", "2"])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if "validation log loss" in x)
    assert line.strip().startswith(("tuned:", "configured parameters kept"))
    client = connect(trained_copy.settings)
    experiment = client.get_experiment_by_name(trained_copy.settings.mlflow.experiment)
    tags = [r.data.tags.get("tuning") for r in client.search_runs([experiment.experiment_id])]
    assert [t for t in tags if t] == [line.strip()]
