"""The `journey` command line: the Typer app, its global options, and one module per command group.

Each group module imports only Typer and the shared console at load; the libraries a command uses
load inside it, after Typer has checked the arguments, so `--help` and usage errors answer at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli import data, features, models, monitor, run, service, targets
from pipelines.console import DEFAULT_CONFIG, setup

app = typer.Typer(
    help="Journey: churn probability and next journey stage for every customer.\n\nExample: journey demo",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def main(
    config: Annotated[
        Path,
        typer.Option("--config", "-c", envvar="JOURNEY_CONFIG", help="Main config file (YAML)."),
    ] = DEFAULT_CONFIG,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at INFO and show warnings.")] = False,
) -> None:
    """Global options."""
    setup(config, verbose)


app.add_typer(data.commands)
app.add_typer(features.commands, name="features")
app.add_typer(models.commands)
app.add_typer(targets.commands)
app.add_typer(run.commands)
app.add_typer(service.commands)
app.add_typer(monitor.commands)
