"""The whole pipeline in one call (validate -> features -> Feast -> train -> score -> targets -> report).

`journey run` and `journey demo` both compose it; the libraries load when it runs, not on import.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Literal

from pipelines.console import console, step
from pipelines.summaries import metrics_table, print_targets

if TYPE_CHECKING:
    import pandas as pd

    from core.config import Settings

TASKS: tuple[Literal["churn", "stage"], ...] = ("churn", "stage")


def run_pipeline(settings: Settings, as_of: pd.Timestamp | None, capacity: int) -> None:
    """validate -> features -> Feast -> train both -> score -> targets -> report."""
    from pipelines.steps import build, materialize, validate_data
    from serving.batch import score_all
    from targeting.report.data import write_report
    from targeting.targets import Request, build_targets
    from training.train import train_task

    report = step("validating input tables", lambda: validate_data(settings, as_of))
    for line in report.summary_lines():
        console.print(f"  [dim]{line}[/]")
    step("building stages and features (Ibis on DuckDB)", lambda: build(settings))
    step("feast apply + materialize the newest snapshot", lambda: materialize(settings))
    for task in TASKS:
        result = step(f"training the {task} model", partial(train_task, settings.paths.clean, settings, task))
        console.print(f"  {result.registered.name} v{result.registered.version}, {result.grade.sentence}")
        console.print(metrics_table(task, result.metrics))
    step("batch scoring", lambda: score_all(settings))
    listed = step(
        f"ranking customers by expected net value saved (at most {capacity:,})",
        lambda: build_targets(settings, Request(capacity=capacity)),
    )
    print_targets(listed.summary, listed.paths)
    page = step("writing the report", lambda: write_report(settings, None))
    console.print(f"  report -> {page}")
