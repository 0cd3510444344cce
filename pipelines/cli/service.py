"""`journey serve | openapi`: the scoring API in the foreground, and its OpenAPI document."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli.options import out_option
from pipelines.console import console, friendly_errors, state

commands = typer.Typer()
DOCS = Path("docs")


@commands.command()
def serve(
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default from config).")] = None,
) -> None:
    """Serve the champion models over HTTP (foreground; Ctrl-C stops). The API's page at /docs.

    Without a champion or an online store it stops at once, saying what to do (exit code 1).

    Example: journey serve --port 3000
    """
    from pipelines.service_process import service_command, service_env
    from serving.startup import require

    with friendly_errors():
        settings = state.settings
        require(settings)  # the server checks it too, but this way the answer comes in the CLI's words
    chosen = port or settings.serving.port
    console.print(
        f"serving on http://{settings.serving.host}:{chosen} (docs at /docs) with config {state.config}"
    )
    env = service_env(settings, state.config)
    if not env.get("JOURNEY_API_KEY"):
        console.print(
            "[yellow]JOURNEY_API_KEY is not set: the scoring API is open to anyone who can reach it[/]"
        )
    command = service_command(settings.serving.host, chosen)
    sys.stdout.flush()
    # BentoML replaces this process, so a SIGTERM or Ctrl-C reaches the server itself; as a child
    # it outlived a `journey serve` stopped with SIGTERM, still holding the port
    os.execve(command[0], command, env)


@commands.command()
def openapi(out: Annotated[Path | None, out_option("openapi.json", "docs")] = None) -> None:
    """Write the scoring API's OpenAPI document (the exact request and response models): <out>/openapi.json.

    The served /docs.json is the same document with the served models' features filled in.

    Example: journey openapi --out docs
    """
    from serving.openapi import document, dumps

    path = (out or DOCS) / "openapi.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(document()))
    console.print(f"wrote {path}")
