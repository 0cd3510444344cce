"""`journey run | demo`: the whole pipeline on the configured data, or on generated data with a live API."""

from __future__ import annotations

from typing import Annotated

import typer

from pipelines.console import friendly_errors, state

commands = typer.Typer()


@commands.command()
def run(
    capacity: Annotated[int, typer.Option(min=1, help="Customers in the target list.")] = 100,
) -> None:
    """Run the whole pipeline on the configured data folder.

    Example: journey generate --customers 5000 && journey run --capacity 200
    """
    import pandas as pd

    from pipelines.run import run_pipeline

    with friendly_errors():
        run_pipeline(state.settings, pd.Timestamp.now(tz="UTC"), capacity)


@commands.command()
def demo(
    customers: Annotated[int, typer.Option(min=500, help="Generated customers.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed of the generated data.")] = 7,
) -> None:
    """Generate data, run the whole pipeline, start the service, score three customers, stop.

    Example: journey demo --customers 20000
    """
    from pipelines.demo import run_demo

    with friendly_errors():
        run_demo(state.settings, state.config, customers, seed)
