"""`journey train | promote | rollback`: fit and register a model, move the champion alias."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from types import FrameType
from typing import Annotated, Literal

import typer

from pipelines.cli.options import Task, TaskArg
from pipelines.console import console, counted, friendly_errors, state, step

commands = typer.Typer()


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt, as Ctrl-C does, so the MLflow run ends and a half-registered
    version is removed in their `finally` instead of the process vanishing mid-write."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"stopped by signal {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@commands.command()
def train(
    task: TaskArg,
    tune: Annotated[
        int,
        typer.Option(min=0, help="Optuna trials on the validation cutoff before the final fit (0 = off)."),
    ] = 0,
    split: Annotated[
        Literal["auto", "rolling", "cohort"] | None,
        typer.Option(
            help="rolling: the newest complete monthly cutoffs test, older ones train; cohort: one "
            "cutoff, its customers split 60/20/20 (for short histories); auto: rolling when the "
            "history allows (default: training.split in the config)."
        ),
    ] = None,
    test_from: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            metavar="YYYY-MM-DD",
            help="The first test cutoff (rolling) or the cohort date (cohort), YYYY-MM-DD.",
        ),
    ] = None,
) -> None:
    """Train a model on Feast training sets, evaluate it out of time beside its baselines, register it.

    The first version of a model becomes the champion; later ones wait as challenger for
    `journey promote`. Plots, the model card and lineage are in the MLflow run. The run says
    which split it used and why (docs/models.md, "Splits").

    Examples: journey train churn --tune 20;  journey train churn --split cohort --test-from 2011-06-01
    """
    from pipelines.summaries import metrics_table
    from training.snapshot import is_snapshot_source
    from training.train import train_task

    with friendly_errors(), sigterm_raises():
        if is_snapshot_source(state.settings.paths.clean):
            _train_snapshot(task)
            return
        chosen: dict[str, object] = {"split": split} if split else {}
        if test_from is not None:
            chosen["test_from"] = test_from.date()
        training = state.settings.training.model_copy(update=chosen)
        settings = state.settings.model_copy(update={"training": training})
        if tune:
            result = counted(
                f"training the {task} model, tuning",
                tune,
                lambda tick: train_task(
                    settings.paths.clean, settings, task, tune_trials=tune, progress=tick
                ),
            )
        else:
            result = step(
                f"training the {task} model", lambda: train_task(settings.paths.clean, settings, task)
            )
        console.print(f"  {result.split}")
        if result.tuning:
            console.print(f"  {result.tuning}")
        role = (
            "champion (no version served before)"
            if result.registered.champion
            else f"challenger, and no version serves yet: grade {result.grade.letter} is not in "
            f"training.first_champion_grades. Check the model card and baselines; to serve it anyway: "
            f"journey promote {task} --force --reason '...'"
            if result.registered.waiting
            else "challenger: `journey promote` decides"
        )
        console.print(f"  {result.registered.name} v{result.registered.version}, {role}")
        console.print(metrics_table(task, result.metrics))
        console.print(f"  {result.grade.sentence} (docs/models.md)")
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
        console.print(f"  rows: {result.rows}; {phases}; MLflow run {result.registered.run_id}")


def _train_snapshot(task: Task) -> None:
    """A single-snapshot source: churn by stratified cross-validation; no next-stage label."""
    from training.snapshot import train_snapshot

    if task != "churn":
        raise ValueError("a single-snapshot source has no dated history: only `journey train churn` applies")
    result = step(
        "cross-validating churn on the snapshot",
        lambda: train_snapshot(state.settings.paths.clean, state.settings),
    )
    m = result.metrics
    console.print(
        f"  stratified 5-fold on {result.rows:,} customers: LightGBM ROC AUC {m['lightgbm_roc_auc']:.3f} "
        f"± {m['lightgbm_roc_auc_sd']:.3f}, logistic regression {m['logistic_roc_auc']:.3f} "
        f"± {m['logistic_roc_auc_sd']:.3f}"
    )
    console.print(
        f"  MLflow run {result.run_id} (not registered: a snapshot model has nothing to serve online)"
    )


@commands.command()
def promote(
    task: TaskArg,
    force: Annotated[bool, typer.Option(help="Promote even without the margin (needs --reason).")] = False,
    reason: Annotated[
        str | None, typer.Option(help="Why a forced promotion is right; kept as a tag.")
    ] = None,
    allow_rolled_back: Annotated[
        bool,
        typer.Option(help="Promote a challenger that was rolled back before (needs --force --reason)."),
    ] = False,
) -> None:
    """Make the challenger the champion if it beats it on the same out-of-time test by the margin.

    Example: journey promote churn
    """
    if force and not reason:
        console.print(
            "[bold red]error:[/] --force needs --reason '...' (it is recorded on the model version)"
        )
        raise typer.Exit(code=2)
    if allow_rolled_back and not force:
        console.print("[bold red]error:[/] --allow-rolled-back needs --force --reason '...'")
        raise typer.Exit(code=2)
    from training.promote import promote as run_promote

    with friendly_errors(), sigterm_raises():
        forced = reason if force else None
        r = step(
            f"comparing {task} challenger and champion",
            lambda: run_promote(state.settings.paths.clean, state.settings, task, forced, allow_rolled_back),
        )
        if r.champion is None:
            console.print(f"  {r.name}: v{r.challenger[0]} (grade {r.grade}) is the first champion (forced)")
        else:
            console.print(
                f"  {r.name}: champion is now v{r.challenger[0]} ({r.metric} {r.challenger[1]:.4f}; "
                f"was v{r.champion[0]} at {r.champion[1]:.4f})"
            )


@commands.command()
def rollback(task: TaskArg) -> None:
    """Give the champion alias back to the version the current champion replaced.

    Example: journey rollback churn
    """
    from training.promote import rollback as run_rollback

    with friendly_errors():
        current, previous = run_rollback(state.settings, task)
        console.print(f"  champion moved back from v{current} to v{previous}")


@commands.command()
def models() -> None:
    """List the registered models (champion, challenger, grade), after repairing what a killed
    training left: runs still RUNNING are marked KILLED, half-registered versions removed.

    Example: journey models
    """
    from core.registry import connect
    from training.recovery import recover
    from training.registry import registered_versions

    with friendly_errors():
        client = connect(state.settings)
        for line in recover(client, state.settings).lines():
            console.print(f"  {line}")
        for line in registered_versions(client):
            console.print(f"  {line}")
