"""`journey generate` and `journey validate`: synthetic input tables, and the data contract check."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pipelines.cli.options import out_option
from pipelines.console import console, friendly_errors, state, step

if TYPE_CHECKING:
    import pandas as pd

commands = typer.Typer()


@commands.command()
def generate(
    customers: Annotated[int, typer.Option(min=1, help="Number of customers.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives identical tables.")] = 7,
    out: Annotated[
        Path | None, out_option("the Parquet tables", "the configured data folder, paths.data")
    ] = None,
    start: Annotated[str, typer.Option(help="First day of the generated history.")] = "2023-01-01",
    end: Annotated[str, typer.Option(help="Day the generated history ends (exclusive).")] = "2025-01-01",
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


@commands.command()
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
    import pandas as pd

    from pipelines.steps import validate_data

    with friendly_errors():
        ref = pd.Timestamp(as_of, tz="UTC") if as_of else pd.Timestamp.now(tz="UTC")
    if source:
        _validate_source(source, ref)
        return
    try:
        with friendly_errors():
            report = step("validating input tables", lambda: validate_data(state.settings, ref))
    except typer.Exit:
        last_run = state.settings.paths.workdir / "validation.json"
        console.print(f"  the clean tables are unchanged; this run's problems are in {last_run}")
        raise
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
