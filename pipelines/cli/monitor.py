"""`journey monitor`: how the served models fare on logged predictions whose outcome is now known.

Live accuracy (monitoring/live.py) always; drift and fairness (monitoring/drift.py,
monitoring/fairness.py) when this build has them. Each part that fails says why in the report and
the others still run. Exit code 3 when an alert fires, so a scheduler can act on it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pipelines.cli.options import out_option
from pipelines.console import console, friendly_errors, state, step

if TYPE_CHECKING:
    from core.config import Settings

commands = typer.Typer()
ALERT_EXIT = 3  # 1 is an error, 2 a usage error
Json = dict[str, Any]


@commands.command()
def monitor(out: Annotated[Path | None, out_option("monitor.json", "paths.outputs_dir")] = None) -> None:
    """Live accuracy of logged predictions whose label window has closed, beside each model's test figures.

    Joins what `journey score` / `targets` / `run` logged with the outcomes in the newest validated
    data (the training label code), per as-of date and model version: churn ROC AUC, PR AUC, ECE,
    the churn rate per risk tier and of listed vs unlisted customers, next-stage accuracy and
    macro-F1. Alerts when live ROC AUC falls below the test figure by monitoring.live.roc_auc_margin
    or ECE rises above monitoring.live.max_ece. Writes <out>/monitor.json; exit code 3 on an alert.

    Example: journey score --as-of 2011-06-01 && journey monitor
    """
    with friendly_errors():
        settings = state.settings
        report = step("checking the models against what happened", lambda: monitor_report(settings))
        path = write_report(report, (out or settings.paths.outputs_dir) / "monitor.json")
        print_summary(report, path)
    if report["alerts"]:
        raise typer.Exit(code=ALERT_EXIT)


def _guarded(part: str, run: Callable[[], Json]) -> Json:
    """One part of the report; a failure becomes its message, so the other parts still report."""
    try:
        return run()
    except Exception as err:
        return {"error": f"{part}: {err}", "alerts": []}


def monitor_report(settings: Settings) -> Json:
    """Live accuracy, then drift and fairness if this build has them; every alert in one list."""
    import pandas as pd

    from monitoring.live import Live, live_accuracy

    empty = pd.DataFrame()
    live = Live({"alerts": []}, empty, empty)

    def run_live() -> Json:
        nonlocal live
        live = live_accuracy(settings)
        return live.report

    report: Json = {"generated_at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")}
    report["live"] = _guarded("live accuracy", run_live)
    scores = live.matured if len(live.matured) else live.newest
    report["drift"] = _guarded("drift", lambda: _drift(settings))
    report["fairness"] = _guarded("fairness", lambda: _fairness(settings, scores))
    report["alerts"] = [a for part in ("live", "drift", "fairness") for a in report[part].get("alerts", [])]
    return report


def _drift(settings: Settings) -> Json:
    try:
        from monitoring.drift import drift_report
    except ImportError:
        return {"skipped": "drift monitoring is not part of this build", "alerts": []}
    return dict(drift_report(settings))


def _fairness(settings: Settings, scores: Any) -> Json:
    """Judged on matured predictions with their outcome (`churned`) or, before any matures, the newest."""
    try:
        from monitoring.fairness import fairness_report
    except ImportError:
        return {"skipped": "fairness monitoring is not part of this build", "alerts": []}
    return dict(fairness_report(settings, scores))


def write_report(report: Json, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.tmp")
    staged.write_text(json.dumps(report, indent=2, default=str) + "\n")
    staged.replace(path)
    return path


def _pair(entry: Json, key: str) -> str:
    live, test = entry.get(key), entry["test"].get(key)
    return f"{'-' if live is None else f'{live:.3f}'} ({'-' if test is None else f'{test:.3f}'})"


def _rates(groups: Json | None) -> str:
    if not groups:
        return "-"
    return " ".join(f"{k} {v['churn_rate']:.0%}" for k, v in groups.items() if v["churn_rate"] is not None)


def print_summary(report: Json, path: Path) -> None:
    """The live figures beside the test ones (in brackets), what waits, each part's messages, alerts."""
    live = report["live"]
    if "prediction_log" in live:
        console.print(
            f"  prediction log: {live['prediction_log']}, {live['logged_rows']:,} rows "
            f"({live['predictions']:,} distinct customer x as-of x model versions)"
        )
    for entry in live.get("churn", []):
        judged = "" if entry["judged"] else " (too few rows to judge)"
        console.print(
            f"  churn v{entry['model_version']} as of {entry['as_of']}: {entry['rows']:,} matured rows, "
            f"live (test) ROC AUC {_pair(entry, 'roc_auc')}, PR AUC {_pair(entry, 'pr_auc')}, "
            f"ECE {_pair(entry, 'ece')}{judged}"
        )
        console.print(f"    churn rate by tier: {_rates(entry['by_tier'])}; list: {_rates(entry['by_list'])}")
    for entry in live.get("stage", []):
        console.print(
            f"  next stage v{entry['model_version']} as of {entry['as_of']}: {entry['rows']:,} rows, "
            f"live (test) accuracy {_pair(entry, 'accuracy')}, macro-F1 {_pair(entry, 'macro_f1')}"
        )
    if live.get("stage"):
        console.print(f"  [dim]next stage: live on {live['stage'][0]['population']}[/]")
    for day, closes in live.get("pending", {}).items():
        console.print(f"  [dim]as of {day}: churn window closes {closes}[/]")
    for part in ("live", "drift", "fairness"):
        for message in [
            *report[part].get("messages", []),
            report[part].get("error"),
            report[part].get("skipped"),
        ]:
            if message:
                console.print(f"  [yellow]{message}[/]")
    for alert in report["alerts"]:
        console.print(f"  [red]ALERT[/] {alert}")
    console.print(f"  {len(report['alerts'])} alert(s) -> {path}")
