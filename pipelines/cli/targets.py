"""`journey uplift | score | targets | report`: who to contact, and the marketers' report."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pipelines.cli.options import (
    Learner,
    RankBy,
    Stage,
    Tier,
    out_option,
    positive,
    probability_floor,
    where_items,
)
from pipelines.console import console, friendly_errors, state, step

if TYPE_CHECKING:
    from core.config import Settings

commands = typer.Typer()
OUTPUTS = "the configured outputs folder, paths.outputs_dir"


@commands.command()
def uplift(
    learner: Annotated[Learner, typer.Option(help="The meta-learner.")] = "x_learner",
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


AsOf = Annotated[
    datetime | None,
    typer.Option(
        formats=["%Y-%m-%d"],
        metavar="YYYY-MM-DD",
        help="Score with the features of the newest snapshot at or before this date (YYYY-MM-DD; "
        "default: the newest snapshot).",
    ),
]


def _as_of(settings: Settings, as_of: datetime | None) -> Settings:
    if as_of is None:
        return settings
    return settings.model_copy(
        update={"serving": settings.serving.model_copy(update={"as_of": as_of.date()})}
    )


@commands.command()
def score(out: Annotated[Path | None, out_option("scores.csv", OUTPUTS)] = None, as_of: AsOf = None) -> None:
    """Score every active customer with the champion models; write <out>/scores.csv.

    Examples: journey score --out outputs;  journey score --as-of 2011-06-01
    """
    import pandas as pd

    from serving.batch import score_all

    with friendly_errors():
        settings = _as_of(
            state.settings if out is None else state.settings.with_paths(outputs_dir=out), as_of
        )
        scores, path = step("batch scoring", lambda: score_all(settings))
        tiers = scores["risk_tier"].value_counts().to_dict()
        snapshot = pd.Timestamp(scores["as_of"].iloc[0]).date()
        console.print(
            f"  {len(scores):,} active customers scored as of {snapshot}, risk tiers {tiers} -> {path}"
        )


@commands.command()
def targets(
    budget: Annotated[
        float | None,
        typer.Option(callback=positive, help="Total contact cost allowed (sum of the actions' costs)."),
    ] = None,
    capacity: Annotated[int | None, typer.Option(min=1, help="Most customers to contact.")] = None,
    stage: Annotated[
        list[Stage] | None, typer.Option(help="Only customers in this stage (repeatable).")
    ] = None,
    tier: Annotated[list[Tier] | None, typer.Option(help="Only this risk tier (repeatable).")] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            callback=where_items,
            help="Only customers with column=value, any demographic or feature (repeatable).",
        ),
    ] = None,
    min_probability: Annotated[
        float | None,
        typer.Option(
            callback=probability_floor,
            help="Only customers with at least this churn probability (0-1). Default: the medium risk "
            "tier's threshold (serving.risk_tiers.medium), so the list holds medium and high risk; "
            "none when --tier is given; 0 lets every risk in.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None, out_option("targets.csv, targets.xlsx and targets_summary.json", OUTPUTS)
    ] = None,
    rank_by: Annotated[
        RankBy, typer.Option("--rank-by", help="value: churn x value; uplift: needs `journey uplift`.")
    ] = "value",
    as_of: AsOf = None,
) -> None:
    """Rank customers at risk by expected net value saved; write targets.csv/.xlsx and a summary JSON.

    Expected value saved, net = churn probability x customer value over the window x the action's
    success rate - its contact cost; gross is the same before the cost. The action depends on the
    customer's stage, risk tier and main reason (configs/actions.yaml). By default only customers
    at medium or high risk are listed (--min-probability, --tier change it). The list holds the best
    customers with a positive net saving within --budget and/or --capacity (without either: the
    configured default capacity), with three reasons and the action each; the summary says why it
    stopped and adds the cost-aware churn threshold measured on the champion's out-of-time test rows.

    With --rank-by uplift the ranking is uplift x value - cost instead: who a contact actually
    changes (a model from `journey uplift`, fitted on campaigns with a control group).

    Files: <out>/targets/current/ holds the three, written together; <out>/targets.csv and the
    others link to them.

    Example: journey targets --budget 500 --stage retention --where region=north
    """
    from pipelines.summaries import print_targets
    from targeting.select import Filters, parse_where
    from targeting.targets import Request, build_targets

    with friendly_errors():
        chosen = (tuple(map(str, stage or ())), tuple(map(str, tier or ())))
        filters = Filters(*chosen, parse_where(where or []), min_probability)
        request = Request(budget, capacity, filters, rank_by)
        result = step(
            "ranking customers by expected net value saved",
            lambda: build_targets(_as_of(state.settings, as_of), request, out),
        )
        print_targets(result.summary, result.paths)


@commands.command()
def report(out: Annotated[Path | None, out_option("report.html", OUTPUTS)] = None) -> None:
    """Write the marketers' report: one self-contained HTML file, <out>/report.html, that opens offline.

    Risk now, predicted vs actual churn and lift out of time, stage flow, reasons, the head of the
    newest target list (read from the outputs folder), model versions and data as-of.

    Example: journey targets && journey report --out reports/2025-01
    """
    from targeting.report.data import write_report

    with friendly_errors():
        path = step("writing the report", lambda: write_report(state.settings, out and out / "report.html"))
        console.print(f"  {path.stat().st_size / 1e6:.1f} MB -> {path}")
