"""The cohort split (one cutoff, customers split 60/20/20) and `journey validate` predicting training.

Issue 18: a short history with a long window must train in cohort mode; too few customers of a
class is a clear error with nothing registered; validate's plan is training's plan.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.project import START, Trained, make_config
from helpers.project_copy import registry_state

from core.config import Settings, load_settings
from core.cutoffs import CutoffSplit, SplitRules
from core.io import write_tables
from features.build import read_manifest
from training.dataset import cohort_parts, task_split
from training.split import NotEnoughHistory

COHORT = pd.Timestamp("2024-06-01", tz="UTC")
EARLIER = pd.Timestamp("2024-01-01", tz="UTC")


def _frame(rng: np.random.Generator) -> pd.DataFrame:
    """3,000 customers at the cohort date (20% churn), 2,000 at the earlier cutoff (half also later)."""
    cohort = pd.DataFrame(
        {"customer_id": [f"c{i}" for i in range(3000)], "event_timestamp": COHORT, "churn": 0}
    )
    cohort.loc[rng.choice(3000, 600, replace=False), "churn"] = 1
    earlier = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(2000, 4000)],  # c3000.. are gone by the cohort date
            "event_timestamp": EARLIER,
            "churn": rng.integers(0, 2, 2000),
        }
    )
    return pd.concat([cohort, earlier], ignore_index=True)


def test_cohort_customers_are_split_by_label_and_the_check_holds_only_unseen_customers():
    frame = _frame(np.random.default_rng(0))
    split = CutoffSplit([COHORT], [COHORT], [COHORT], mode="cohort", check=[EARLIER])
    parts = cohort_parts(frame, split, "churn", seed=7)
    assert np.array_equal(parts, cohort_parts(frame, split, "churn", seed=7))  # seeded
    at_cohort = frame["event_timestamp"] == COHORT
    shares = pd.crosstab(parts[at_cohort], frame.loc[at_cohort, "churn"], normalize="columns")
    for name, share in {"train": 0.6, "valid": 0.2, "test": 0.2}.items():
        assert shares.loc[name].tolist() == pytest.approx([share, share], abs=0.002)  # stratified
    check = frame[parts == "check"]
    assert (check["event_timestamp"] == EARLIER).all()
    fitted = set(frame.loc[np.isin(parts, ("train", "valid")), "customer_id"])
    assert not fitted & set(check["customer_id"])
    # a fifth of the earlier cutoff's customers, those gone by the cohort date included
    assert len(check) == pytest.approx(400, abs=40)
    assert check["customer_id"].str[1:].astype(int).ge(3000).any()


def test_validate_plans_on_the_grid_training_splits(trained: Trained):
    """The usability report computes the snapshot grid from the clean tables; it must be the
    feature build's, or "usable" would not mean that training runs."""
    settings = trained.settings
    manifest = read_manifest(settings.paths.features)
    clean = trained.tables
    stamps = pd.concat([clean["transactions"]["ts"], clean["events"]["ts"]])
    first = pd.Timestamp(stamps.min()).tz_convert("UTC")
    newest = pd.Timestamp(stamps.max()).tz_convert("UTC")
    rules = SplitRules.of(settings)
    for task, window in (("churn", 90), ("churn", 270), ("stage", 30)):
        labels = settings.labels.model_copy(update={"prediction_window_days": window})
        planned = rules.plan_for_span(first, newest, window)
        assert planned == task_split(settings.model_copy(update={"labels": labels}), task)  # type: ignore[arg-type]
    assert rules.plan_for_span(first, newest, 90).test[-1] <= manifest.snapshots[-1]


def test_a_cohort_with_too_few_churners_is_refused_and_nothing_is_registered(trained_copy: Trained):
    from training.train import train_task

    settings = _cohort_settings(trained_copy.settings)
    before = _mlflow_state(settings)
    with pytest.raises(NotEnoughHistory, match=r"need 200 of each"):
        train_task(settings.paths.clean, settings, "churn")
    assert _mlflow_state(settings) == before


def _mlflow_state(settings: Settings) -> dict[str, object]:
    """The MLflow part of the registries (training re-applies the Feast definitions first)."""
    return {k: v for k, v in registry_state(settings).items() if not k.startswith("feast")}


@pytest.mark.slow
def test_a_short_history_with_a_long_window_trains_in_cohort_mode(tmp_path: Path):
    """18 months of purchases and a 9-month churn window: auto picks a cohort, training runs and
    says so (with 18 months no earlier cutoff's 9-month window closes by the cohort date, so
    there is no out-of-time check)."""
    from pipelines.steps import build, validate_data
    from synthetic.generate import generate_tables
    from training.train import train_task

    config = make_config(tmp_path)
    settings = load_settings(config)
    end = "2024-07-01"
    write_tables(generate_tables(8000, seed=3, start=START, end=end), settings.paths.data)
    validate_data(settings, pd.Timestamp(end, tz="UTC"))
    build(settings)
    labels = settings.labels.model_copy(update={"prediction_window_days": 270})
    settings = settings.model_copy(update={"labels": labels})
    with pytest.raises(NotEnoughHistory):
        task_split(
            settings.model_copy(
                update={"training": settings.training.model_copy(update={"split": "rolling"})}
            ),
            "churn",
        )  # type: ignore[arg-type]
    result = train_task(settings.paths.clean, settings, "churn")
    assert result.split.startswith("cohort split at") and "rolling cutoffs do not fit" in result.split
    assert result.metrics["roc_auc"] > 0.6
    assert result.rows["train"] == pytest.approx(3 * result.rows["test"], rel=0.02)
    assert not any(k.startswith("check_") for k in result.metrics)  # no earlier cutoff's window closes by T


def _cohort_settings(settings: Settings) -> Settings:
    training = settings.training.model_copy(update={"split": "cohort"})
    return settings.model_copy(update={"training": training})


def test_the_cohort_draw_does_not_depend_on_the_row_order():
    """DuckDB returns label rows in no fixed order: the same customers must land in each part
    (training and a later `journey promote` score the same test customers)."""
    from training.dataset import split_rows

    frame = _frame(np.random.default_rng(1))
    split = CutoffSplit([COHORT], [COHORT], [COHORT], mode="cohort", check=[EARLIER])
    one = split_rows(frame, split, "churn", 7)
    other = split_rows(frame.sample(frac=1, random_state=2), split, "churn", 7)
    pd.testing.assert_frame_equal(one, other)


def test_the_cli_shows_the_cohort_check_beside_the_test_figures():
    from pipelines.summaries import metrics_table

    m = {"roc_auc": 0.8, "check_roc_auc": 0.7712, "check_ece": 0.0213, "check_accuracy": 0.9}
    shown = dict(zip(*(c._cells for c in metrics_table("churn", m).columns), strict=True))
    assert shown["cohort check (earlier cutoff, unseen customers): ROC AUC"] == "0.771"
    assert shown["cohort check: ECE"] == "0.021"
    stage = dict(zip(*(c._cells for c in metrics_table("stage", m).columns), strict=True))
    assert stage["cohort check (earlier cutoff, unseen customers): accuracy"] == "0.900"
    assert "cohort check: ECE" not in dict(
        zip(*(c._cells for c in metrics_table("churn", {"roc_auc": 0.8}).columns), strict=True)
    )
