"""The `journey` command line: every step of the pipeline, the whole run, the demo and the service."""

from __future__ import annotations

import logging
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import pandas as pd
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from features.config import DEFAULT_CONFIG, Settings, load_settings

console = Console(soft_wrap=True)
app = typer.Typer(
    help="Journey: churn probability and next journey stage for every customer.\n\nExample: journey demo",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
features_app = typer.Typer(help="Build feature tables and load the Feast online store.", no_args_is_help=True)
app.add_typer(features_app, name="features")
T = TypeVar("T")

ConfigOpt = Annotated[
    Path,
    typer.Option("--config", "-c", envvar="JOURNEY_CONFIG", help="Main config file (YAML)."),
]


class State:
    config: Path = DEFAULT_CONFIG
    verbose: bool = False
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        """The loaded config, with the demographics of the dataset last validated."""
        if self._settings is None:
            from pipelines.steps import effective

            self._settings = effective(load_settings(self.config))
        return self._settings


state = State()


@app.callback()
def main(
    config: ConfigOpt = DEFAULT_CONFIG,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Global options."""
    state.config = config
    state.verbose = verbose
    state._settings = None
    if not verbose:  # third-party deprecation chatter (ibis on DuckDB 2, MLflow on SQLAlchemy 2.1)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", module="mlflow.store")
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Known failures become one clear red line and exit code 1, not a stack trace."""
    from features.validate import DataContractError
    from pipelines.batch import NoActiveCustomers
    from serving.models import ModelNotFound
    from training.evaluate import SingleClassError
    from training.promote import PromotionRefused
    from training.split import NotEnoughHistory

    known = (
        FileNotFoundError,
        DataContractError,
        NotEnoughHistory,
        SingleClassError,
        ModelNotFound,
        NoActiveCustomers,
        PromotionRefused,
        ValidationError,
        ValueError,
        RuntimeError,
        TimeoutError,
    )
    try:
        yield
    except known as err:
        console.print(f"[bold red]error:[/] {err}")
        raise typer.Exit(code=1) from err


def parse_task(task: str) -> Literal["churn", "stage"]:
    """The task argument of train/promote/rollback; anything else is a usage error (exit 2)."""
    if task == "churn":
        return "churn"
    if task == "stage":
        return "stage"
    console.print(f"[bold red]error:[/] unknown task {task!r}: use 'churn' or 'stage'")
    raise typer.Exit(code=2)


def step(title: str, fn: Callable[[], T]) -> T:
    """Run one step under a spinner and report its wall time."""
    start = time.perf_counter()
    with console.status(f"{title} ..."), warnings.catch_warnings():
        if not state.verbose:  # libraries reset filters on import; silence their deprecations here
            warnings.simplefilter("ignore", DeprecationWarning)
        result = fn()
    console.print(f"[green]✓[/] {title} [dim]({time.perf_counter() - start:.1f} s)[/]")
    return result


@app.command()
def generate(
    customers: Annotated[int, typer.Option(min=1, help="Number of customers.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives identical tables.")] = 7,
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default: the configured data folder).")
    ] = None,
    start: str = "2023-01-01",
    end: str = "2025-01-01",
) -> None:
    """Write synthetic customer journeys (customers, events, transactions, campaigns) as Parquet.

    Example: journey generate --customers 20000 --seed 7 --out data/
    """
    from features.io import write_tables
    from features.synthetic import generate_tables

    with friendly_errors():
        target = out or state.settings.paths.data
        tables = step(
            f"generating {customers:,} customers",
            lambda: generate_tables(customers, seed, start, end),
        )
        write_tables(tables, target)
        sizes = ", ".join(f"{name} {len(t):,}" for name, t in tables.items())
        console.print(f"wrote {sizes} rows to {target}")


@app.command()
def validate(
    as_of: Annotated[
        str | None,
        typer.Option(help="Rows after this time count as 'in the future' (default: now)."),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(help="A mapping under configs/sources/ (or a YAML path) to read and report on."),
    ] = None,
) -> None:
    """Check the input tables against the data contract; write clean tables and a JSON report.

    Example: journey validate --source online_retail
    """
    from pipelines.steps import validate_data

    ref = pd.Timestamp(as_of, tz="UTC") if as_of else pd.Timestamp.now(tz="UTC")
    if source:
        _validate_source(source, ref)
        return
    with friendly_errors():
        report = step("validating input tables", lambda: validate_data(state.settings, ref))
        for line in report.summary_lines():
            console.print(f"  {line}")


def _validate_source(source: str, ref: pd.Timestamp) -> None:
    """The data usability report of a mapped source; exit code 1 when a problem blocks its use."""
    from pipelines.sources import usability_path, validate_source

    with friendly_errors():
        configs = state.config.resolve().parent
        report = step(
            f"validating source {source}", lambda: validate_source(state.settings, source, ref, configs)
        )
        for line in report.lines():
            console.print(f"  {line}")
        console.print(f"  report: {usability_path(state.settings, report.source)}")
    if report.blocking:
        raise typer.Exit(code=1)


@features_app.command("build")
def features_build() -> None:
    """Compute stages and all feature families at every monthly snapshot (Ibis on DuckDB).

    Example: journey features build
    """
    from pipelines.steps import build, clean_dir
    from training.snapshot import is_snapshot_source

    if is_snapshot_source(clean_dir(state.settings)):
        console.print(
            "single-snapshot source: there are no dated records to build snapshots from; its features "
            "(declared attributes and tenure at the label date) are computed by `journey train churn`"
        )
        return
    with friendly_errors():
        manifest = step("building stages and features", lambda: build(state.settings))
        where = state.settings.paths.features
        done = len(manifest.computed)
        console.print(f"  {done} of {len(manifest.snapshots)} snapshots computed (the rest unchanged)")
        console.print(f"  snapshots up to {manifest.end.date()} in {where}")


@features_app.command("materialize")
def features_materialize() -> None:
    """Register the Feast definitions (feast apply) and load the newest snapshot online.

    The first run backfills the newest snapshot; later runs materialise incrementally.

    Example: journey features materialize
    """
    from pipelines.steps import materialize

    with friendly_errors():
        newest, mode = step("feast apply + materialize", lambda: materialize(state.settings))
        console.print(f"  online store holds features as of {newest} ({mode})")


@features_app.command("docs")
def features_docs(out: Path = Path("docs/features.md")) -> None:
    """Write the feature catalog (name, family, window, meaning) as Markdown.

    Example: journey features docs --out docs/features.md
    """
    from pipelines.catalog_doc import catalog_markdown

    out.write_text(catalog_markdown(state.settings.demographics))
    console.print(f"wrote {out}")


@app.command()
def train(
    task: Annotated[str, typer.Argument(help="churn or stage")],
    tune: Annotated[
        int, typer.Option(help="Optuna trials on the validation cutoff before the final fit (0 = off).")
    ] = 0,
) -> None:
    """Train a model on Feast training sets, evaluate it out of time beside its baselines, register it.

    The first version of a model becomes the champion; later ones wait as challenger for
    `journey promote`. Plots, the model card and lineage are in the MLflow run.

    Example: journey train churn --tune 20
    """
    from pipelines.steps import clean_dir
    from training.snapshot import is_snapshot_source
    from training.train import train_task

    kind = parse_task(task)
    with friendly_errors():
        if tune < 0:
            raise ValueError(f"--tune takes a number of trials >= 0, got {tune}")
        if is_snapshot_source(clean_dir(state.settings)):
            _train_snapshot(task)
            return
        result = step(
            f"training the {task} model" + (f" ({tune} tuning trials)" if tune else ""),
            lambda: train_task(clean_dir(state.settings), state.settings, kind, tune_trials=tune),
        )
        role = (
            "champion (first version)"
            if result.registered.champion
            else "challenger: `journey promote` decides"
        )
        console.print(f"  {result.registered.name} v{result.registered.version}, {role}")
        console.print(_metrics_table(kind, result.metrics))
        console.print(f"  {result.grade.sentence} (docs/models.md)")
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
        console.print(f"  rows: {result.rows}; {phases}; MLflow run {result.registered.run_id}")


METRIC_ROWS = {
    "churn": [
        ("ROC AUC", "roc_auc"),
        ("PR AUC", "pr_auc"),
        ("log loss", "log_loss"),
        ("Brier", "brier"),
        ("ECE (uncalibrated)", "ece"),
        ("lift / capture, top decile", "lift_top_decile"),
        ("baseline: recency score ROC AUC", "baseline_recency_roc_auc"),
        ("baseline: logistic regression ROC AUC", "baseline_logistic_roc_auc"),
        ("baseline: BG/NBD ROC AUC", "baseline_bgnbd_roc_auc"),
        ("baseline: best 'no purchase for N days' rule, F1", "baseline_rule_f1"),
        ("model at the rule's volume, F1", "model_at_rule_volume_f1"),
    ],
    "stage": [
        ("accuracy", "accuracy"),
        ("macro-F1", "macro_f1"),
        ("log loss", "log_loss"),
        ("top-label ECE", "top_label_ece"),
        ("lead conversion ROC AUC", "conversion_roc_auc"),
        ("baseline: stays in stage, macro-F1", "baseline_stay_macro_f1"),
        ("baseline: Markov, macro-F1", "baseline_markov_macro_f1"),
        ("baseline: Markov, lead conversion ROC AUC", "baseline_markov_conversion_roc_auc"),
    ],
}


def _metrics_table(task: str, m: dict[str, float]) -> Table:
    """The headline out-of-time figures beside the baselines."""
    table = Table("out-of-time test", "value", box=None, padding=(0, 2))
    extras = {
        "ece": lambda: f"{m['ece']:.3f} ({m['ece_uncalibrated']:.3f})",
        "lift_top_decile": lambda: f"{m['lift_top_decile']:.2f}x / {m['capture_top_decile']:.1%}",
        "baseline_rule_f1": lambda: f"{m['baseline_rule_f1']:.3f} (N = {m['baseline_rule_days']:.0f} days)",
    }
    for label, key in METRIC_ROWS[task]:
        if key in m:
            table.add_row(label, extras[key]() if key in extras else f"{m[key]:.3f}")
    return table


def _train_snapshot(task: str) -> None:
    """A single-snapshot source: churn by stratified cross-validation; no next-stage label."""
    from pipelines.steps import clean_dir
    from training.snapshot import train_snapshot

    if task != "churn":
        raise ValueError("a single-snapshot source has no dated history: only `journey train churn` applies")
    result = step(
        "cross-validating churn on the snapshot",
        lambda: train_snapshot(clean_dir(state.settings), state.settings),
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


@app.command()
def promote(
    task: Annotated[str, typer.Argument(help="churn or stage")],
    force: Annotated[bool, typer.Option(help="Promote even without the margin (needs --reason).")] = False,
    reason: Annotated[
        str | None, typer.Option(help="Why a forced promotion is right; kept as a tag.")
    ] = None,
) -> None:
    """Make the challenger the champion if it beats it on the same out-of-time test by the margin.

    Example: journey promote churn
    """
    from pipelines.steps import clean_dir
    from training.promote import promote as run_promote

    kind = parse_task(task)
    if force and not reason:
        console.print(
            "[bold red]error:[/] --force needs --reason '...' (it is recorded on the model version)"
        )
        raise typer.Exit(code=2)
    with friendly_errors():
        forced = reason if force else None
        r = step(
            f"comparing {task} challenger and champion",
            lambda: run_promote(clean_dir(state.settings), state.settings, kind, forced),
        )
        console.print(
            f"  {r.name}: champion is now v{r.challenger[0]} ({r.metric} {r.challenger[1]:.4f}; "
            f"was v{r.champion[0]} at {r.champion[1]:.4f})"
        )


@app.command()
def rollback(task: Annotated[str, typer.Argument(help="churn or stage")]) -> None:
    """Give the champion alias back to the version the current champion replaced.

    Example: journey rollback churn
    """
    from training.promote import rollback as run_rollback

    kind = parse_task(task)
    with friendly_errors():
        current, previous = run_rollback(state.settings, kind)
        console.print(f"  champion moved back from v{current} to v{previous}")


@app.command()
def score() -> None:
    """Score every active customer with the champion models; write outputs/scores.csv.

    Example: journey score
    """
    from pipelines.batch import score_all

    with friendly_errors():
        scores, path = step("batch scoring", lambda: score_all(state.settings))
        tiers = scores["risk_tier"].value_counts().to_dict()
        console.print(f"  {len(scores):,} active customers scored, risk tiers {tiers} -> {path}")


@app.command()
def targets(
    top: Annotated[int, typer.Option(min=1, help="How many customers to list.")] = 100,
) -> None:
    """Rank active customers by churn probability x value; write outputs/at_risk.csv with reasons.

    Example: journey targets --top 500
    """
    from pipelines.batch import at_risk

    with friendly_errors():
        table, path = step(f"ranking the top {top} at-risk customers", lambda: at_risk(state.settings, top))
        total = table["expected_value_at_risk"].sum()
        console.print(f"  {len(table)} customers, expected value at risk {total:,.0f} -> {path}")


def run_pipeline(settings: Settings, as_of: pd.Timestamp | None, top: int) -> None:
    """validate -> features -> Feast -> train both -> score -> targets."""
    from pipelines.batch import at_risk, score_all
    from pipelines.steps import build, clean_dir, materialize, validate_data
    from training.train import train_task

    report = step("validating input tables", lambda: validate_data(settings, as_of))
    for line in report.summary_lines():
        console.print(f"  [dim]{line}[/]")
    step("building stages and features (Ibis on DuckDB)", lambda: build(settings))
    step("feast apply + materialize the newest snapshot", lambda: materialize(settings))
    tasks: tuple[Literal["churn", "stage"], ...] = ("churn", "stage")
    for task in tasks:
        result = step(f"training the {task} model", partial(train_task, clean_dir(settings), settings, task))
        console.print(f"  {result.registered.name} v{result.registered.version}, {result.grade.sentence}")
        console.print(_metrics_table(task, result.metrics))
    step("batch scoring", lambda: score_all(settings))
    step(f"ranking the top {top} at-risk customers", lambda: at_risk(settings, top))


@app.command()
def run(top: int = 100) -> None:
    """Run the whole pipeline on the configured data folder.

    Example: journey generate --customers 5000 && journey run
    """
    with friendly_errors():
        run_pipeline(state.settings, pd.Timestamp.now(tz="UTC"), top)


@app.command()
def serve(
    port: Annotated[int | None, typer.Option(help="Port (default from config).")] = None,
) -> None:
    """Serve the champion models over HTTP (foreground; Ctrl-C stops). OpenAPI docs at /docs.

    Example: journey serve --port 3000
    """
    from pipelines.service_process import service_command, service_env

    settings = state.settings
    chosen = port or settings.serving.port
    console.print(
        f"serving on http://{settings.serving.host}:{chosen} (docs at /docs) with config {state.config}"
    )
    env = service_env(settings, state.config)
    if not env.get("JOURNEY_API_KEY"):
        console.print(
            "[yellow]JOURNEY_API_KEY is not set: the scoring API is open to anyone who can reach it[/]"
        )
    raise typer.Exit(subprocess.call(service_command(settings.serving.host, chosen), env=env))


@app.command()
def openapi(out: Path = Path("docs/openapi.json")) -> None:
    """Write the scoring API's OpenAPI document (the exact request and response models).

    Example: journey openapi --out docs/openapi.json
    """
    from serving.service import openapi_document

    out.write_text(openapi_document())
    console.print(f"wrote {out}")


@app.command()
def demo(
    customers: Annotated[int, typer.Option(min=500, help="Generated customers.")] = 20_000,
    seed: int = 7,
) -> None:
    """Generate data, run the whole pipeline, start the service, score three customers, stop.

    Example: journey demo --customers 20000
    """
    from pipelines.demo import run_demo

    with friendly_errors():
        run_demo(state.settings, state.config, customers, seed)


if __name__ == "__main__":
    app()
