"""`journey uplift`: fit an uplift model on a source's randomised campaigns, evaluate it, register it."""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.table import Table

from core.config import Settings
from core.io import read_dataset_info, table_path
from targeting.uplift import UpliftReport, evaluate_uplift_on_tables
from training.registry import Registered, tracked_run

TRUTH_TABLE = "campaign_truth"  # written by `journey generate` beside the contract tables


def generated_truth(settings: Settings) -> pd.DataFrame | None:
    """The generator's per-campaign-row truth, when the clean tables came from generated data."""
    info = read_dataset_info(settings.paths.clean) or {}
    path = table_path(settings.paths.data, TRUTH_TABLE)
    if info.get("source") != "data" or not path.is_file():
        return None
    return pd.read_parquet(path, columns=["customer_id", "campaign_id", "true_uplift"])


def evaluate(settings: Settings, learner: str = "x_learner", test_campaigns: int = 1) -> UpliftReport:
    """Fit on all but the newest `test_campaigns` campaigns and evaluate on those (no MLflow)."""
    return evaluate_uplift_on_tables(
        settings.paths.clean,
        settings.paths.features,
        generated_truth(settings),
        learner=learner,
        test_campaigns=test_campaigns,
        window_days=settings.labels.prediction_window_days,
    )


def run_uplift(
    settings: Settings, learner: str = "x_learner", test_campaigns: int = 1
) -> tuple[UpliftReport, Registered]:
    """Evaluate, then log the run and register the fitted learner as `uplift` in MLflow."""
    from targeting.uplift_model import log_uplift

    report = evaluate(settings, learner, test_campaigns)
    with tracked_run(settings, "uplift") as client:
        registered = log_uplift(client, report, {"task": "uplift"})
    return report, registered


def _table(title: str, frame: pd.DataFrame) -> Table:
    table = Table(title=title, title_justify="left")
    for column in frame.columns:
        table.add_column(str(column), justify="left" if column == "ranking" else "right")
    for row in frame.itertuples(index=False):
        table.add_row(*(f"{v:,.3f}" if isinstance(v, float) else str(v) for v in row))
    return table


def value_table(report: UpliftReport) -> pd.DataFrame:
    """Value saved per ranking (rows) and budget (columns): true where known, else estimated."""
    kind = "true_value" if report.value["true_value"].notna().all() else "estimated_value"
    wide = report.value.pivot(index="ranking", columns="budget", values=kind)
    wide.columns = [f"{kind} at {b:.0%}" for b in wide.columns]
    return wide.reset_index()


def print_report(console: Console, report: UpliftReport, registered: Registered) -> None:
    """The CLI's summary: data, Qini and uplift at k, value at budget, the registered version."""
    console.print(
        f"  trained on {len(report.train_campaigns)} campaigns ({report.n_train:,} rows), tested on "
        f"{', '.join(report.test_campaigns)} ({report.n_test:,} rows); churn ROC AUC {report.churn_auc:.3f}"
    )
    console.print(_table("Qini and observed uplift at k (held out)", report.rankings))
    console.print(_table("Value saved at a budget (rankings x value)", value_table(report)))
    champion = " (champion)" if registered.champion else " (challenger; the champion is unchanged)"
    console.print(f"  registered {registered.name} version {registered.version}{champion}")


def uplift_section(report: UpliftReport, customers: int) -> list[str]:
    """docs/results.md lines: Qini, uplift at k and value saved per ranking on the held-out campaign."""
    lines = [
        "\n## Uplift: who a retention contact actually saves (generated campaigns)\n",
        f"`journey uplift` on {customers:,} generated customers: the learners are fitted on "
        f"{len(report.train_campaigns)} older campaigns ({report.n_train:,} rows) and evaluated on "
        f"{', '.join(report.test_campaigns)} ({report.n_test:,} rows, half control); churn ROC AUC "
        f"of the no-contact model there {report.churn_auc:.3f}. True value = the generator's known "
        "effect x value (see [uplift.md](uplift.md)); each ranking is its score x value.\n",
        "| ranking | Qini | uplift at 10% / 20% / 30% | true value saved at 10% / 20% / 30% budget |",
        "|---|---|---|---|",
    ]
    value = report.value.pivot(index="ranking", columns="budget", values="true_value")
    for row in report.rankings.itertuples(index=False):
        ups = " / ".join(
            f"{getattr(row, c):.3f}" for c in report.rankings.columns if c.startswith("uplift_at")
        )
        saved = " / ".join(f"{v:,.0f}" for v in value.loc[str(row.ranking)])
        lines.append(f"| {row.ranking} | {row.qini:.4f} | {ups} | {saved} |")
    return lines
