"""The `journey` command line: every step of the pipeline, the whole run, the demo and the service."""

from __future__ import annotations

import logging
import os
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import pandas as pd
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from core.config import DEFAULT_CONFIG, Settings, load_settings

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
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keeps the step lines clean
    if not verbose:  # third-party deprecation chatter (ibis on DuckDB 2, MLflow on SQLAlchemy 2.1)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", module="mlflow.store")
        warnings.showwarning = _quiet_deprecations(warnings.showwarning)  # some imports reset filters
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def _quiet_deprecations(show: Callable[..., None]) -> Callable[..., None]:
    """A showwarning that drops deprecation warnings even after a library resets the filters."""
    if getattr(show, "journey_quiet", False):
        return show

    def quiet(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> None:
        if not issubclass(category, DeprecationWarning | PendingDeprecationWarning | FutureWarning):
            show(message, category, *args, **kwargs)

    quiet.journey_quiet = True  # type: ignore[attr-defined]
    return quiet


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Known failures become one clear red line and exit code 1, not a stack trace."""
    from ingest.validate import DataContractError
    from serving.batch import NoActiveCustomers
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
    from core.io import write_tables
    from synthetic.generate import generate_tables

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
    from pipelines.steps import build
    from training.snapshot import is_snapshot_source

    if is_snapshot_source(state.settings.paths.clean):
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
    from training.snapshot import is_snapshot_source
    from training.train import train_task

    kind = parse_task(task)
    with friendly_errors():
        if tune < 0:
            raise ValueError(f"--tune takes a number of trials >= 0, got {tune}")
        if is_snapshot_source(state.settings.paths.clean):
            _train_snapshot(task)
            return
        result = step(
            f"training the {task} model" + (f" ({tune} tuning trials)" if tune else ""),
            lambda: train_task(state.settings.paths.clean, state.settings, kind, tune_trials=tune),
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
            lambda: run_promote(state.settings.paths.clean, state.settings, kind, forced),
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
def uplift(
    learner: Annotated[str, typer.Option(help="x_learner or t_learner.")] = "x_learner",
    test_campaigns: Annotated[int, typer.Option(min=1, help="Newest campaigns held out to evaluate.")] = 1,
) -> None:
    """Fit an uplift model on the randomised campaigns, evaluate it on the newest, register it.

    Needs a campaigns table with a control group, validated and with features built. Reports Qini,
    uplift at k and the value saved at a budget against churn-probability ranking, logs an MLflow
    run and registers the model as `uplift` (champion on its first version).

    Example: journey uplift --learner x_learner --test-campaigns 1
    """
    from pipelines.uplift_cmd import print_report, run_uplift

    with friendly_errors():
        report, registered = step(
            f"fitting and evaluating the {learner} uplift model",
            lambda: run_uplift(state.settings, learner, test_campaigns),
        )
        print_report(console, report, registered)


@app.command()
def score() -> None:
    """Score every active customer with the champion models; write outputs/scores.csv.

    Example: journey score
    """
    from serving.batch import score_all

    with friendly_errors():
        scores, path = step("batch scoring", lambda: score_all(state.settings))
        tiers = scores["risk_tier"].value_counts().to_dict()
        console.print(f"  {len(scores):,} active customers scored, risk tiers {tiers} -> {path}")


@app.command()
def targets(
    budget: Annotated[
        float | None, typer.Option(help="Total contact cost allowed (sum of the actions' costs).")
    ] = None,
    capacity: Annotated[int | None, typer.Option(help="Most customers to contact.")] = None,
    stage: Annotated[
        list[str] | None, typer.Option(help="Only customers in this stage (repeatable).")
    ] = None,
    tier: Annotated[list[str] | None, typer.Option(help="Only this risk tier: high, medium, low.")] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(help="Only customers with column=value, any demographic or feature (repeatable)."),
    ] = None,
    min_probability: Annotated[
        float, typer.Option(help="Only customers with at least this churn probability (0-1).")
    ] = 0.0,
    out: Annotated[Path | None, typer.Option(help="Output folder (default: the outputs folder).")] = None,
    rank_by: Annotated[
        str, typer.Option("--rank-by", help="value (churn x value) or uplift (needs `journey uplift`).")
    ] = "value",
) -> None:
    """Rank active customers by expected value saved; write targets.csv/.xlsx and a summary JSON.

    Expected value saved = churn probability x customer value over the window x the action's
    success rate - its contact cost (configs/actions.yaml). The list holds the best customers with
    a positive saving within --budget and/or --capacity (without either: the configured default
    capacity), with three reasons and the action each. The summary adds the cost-aware churn
    threshold measured on the champion's out-of-time test rows.

    With --rank-by uplift the ranking is uplift x value - cost instead: who a contact actually
    changes (a model from `journey uplift`, fitted on campaigns with a control group).

    Example: journey targets --budget 500 --stage retention --where region=north --min-probability 0.3
    """
    from targeting.select import Filters, parse_where
    from targeting.targets import Request, build_targets

    with friendly_errors():
        filters = Filters(tuple(stage or ()), tuple(tier or ()), parse_where(where or []), min_probability)
        if rank_by not in ("value", "uplift"):
            raise ValueError(f"--rank-by must be 'value' or 'uplift', got {rank_by!r}")
        request = Request(budget, capacity, filters, "uplift" if rank_by == "uplift" else "value")
        result = step(
            "ranking customers by expected value saved", lambda: build_targets(state.settings, request, out)
        )
        _print_targets(result.summary, result.paths)


def _print_targets(summary: dict[str, Any], paths: list[Path]) -> None:
    """What the list is expected to save, and the cost-aware threshold beside it."""
    s = summary
    console.print(
        f"  {s['customers_scored']:,} active customers scored ({s['customers_eligible']:,} pass the filters;"
        f" value: {s['value_method']}); {s['selected']:,} selected"
    )
    console.print(
        f"  contact cost {s['total_cost']:,.2f}, expected value saved {s['expected_value_saved']:,.2f},"
        f" net {s['net_expected_value_saved']:,.2f}"
    )
    for key in ("by_stage", "by_tier"):
        parts = ", ".join(f"{k} {v['customers']} (net {v['net']:,.0f})" for k, v in s[key].items())
        console.print(f"  {key.replace('_', ' ')}: {parts or 'none'}")
    t = s["cost_aware_threshold"]
    if "skipped" in t:
        console.print(f"  cost-aware threshold: skipped ({t['skipped']})")
    else:
        cut = "contact nobody" if t["threshold"] is None else f"churn probability >= {t['threshold']:.3f}"
        console.print(
            f"  cost-aware threshold: {cut}; on {t['rows']:,} out-of-time test rows it saves "
            f"{t['saving_vs_nobody']:,.0f} vs contacting nobody and {t['saving_vs_everyone']:,.0f} vs"
            f" everyone; {t['customers_above_now']:,} customers are above it now"
        )
    console.print("  -> " + ", ".join(str(p) for p in paths))


def run_pipeline(settings: Settings, as_of: pd.Timestamp | None, capacity: int) -> None:
    """validate -> features -> Feast -> train both -> score -> targets."""
    from pipelines.steps import build, materialize, validate_data
    from serving.batch import score_all
    from targeting.targets import Request, build_targets
    from training.train import train_task

    report = step("validating input tables", lambda: validate_data(settings, as_of))
    for line in report.summary_lines():
        console.print(f"  [dim]{line}[/]")
    step("building stages and features (Ibis on DuckDB)", lambda: build(settings))
    step("feast apply + materialize the newest snapshot", lambda: materialize(settings))
    tasks: tuple[Literal["churn", "stage"], ...] = ("churn", "stage")
    for task in tasks:
        result = step(f"training the {task} model", partial(train_task, settings.paths.clean, settings, task))
        console.print(f"  {result.registered.name} v{result.registered.version}, {result.grade.sentence}")
        console.print(_metrics_table(task, result.metrics))
    step("batch scoring", lambda: score_all(settings))
    listed = step(
        f"ranking the best {capacity} customers by expected value saved",
        lambda: build_targets(settings, Request(capacity=capacity)),
    )
    _print_targets(listed.summary, listed.paths)
    from targeting.report.data import write_report

    page = step("writing the report", lambda: write_report(settings, None))
    console.print(f"  report -> {page}")


@app.command()
def run(
    capacity: Annotated[int, typer.Option(min=1, help="Customers in the target list.")] = 100,
) -> None:
    """Run the whole pipeline on the configured data folder.

    Example: journey generate --customers 5000 && journey run --capacity 200
    """
    with friendly_errors():
        run_pipeline(state.settings, pd.Timestamp.now(tz="UTC"), capacity)


@app.command()
def report(
    out: Annotated[
        Path | None, typer.Option(help="HTML file to write (default: <outputs_dir>/report.html).")
    ] = None,
) -> None:
    """Write the marketers' report: one self-contained HTML file that opens with no network.

    Risk now, predicted vs actual churn and lift out of time, stage flow, reasons, the head of the
    newest target list, model versions and data as-of.

    Example: journey targets && journey report --out outputs/report.html
    """
    from targeting.report.data import write_report

    with friendly_errors():
        path = step("writing the report", lambda: write_report(state.settings, out))
        console.print(f"  {path.stat().st_size / 1e6:.1f} MB -> {path}")


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
