"""`journey features build | materialize | docs`: feature tables, the Feast online store, the catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli.options import out_option
from pipelines.console import console, friendly_errors, state, step

commands = typer.Typer(
    help="Build feature tables and load the Feast online store.\n\n"
    "Example: journey features build && journey features materialize",
    no_args_is_help=True,
)
DOCS = Path("docs")


@commands.command("build")
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


@commands.command("materialize")
def features_materialize(
    reload: Annotated[
        bool,
        typer.Option(
            "--reload",
            help="Load the newest snapshot in full (after the online store lost its rows, e.g. a Redis "
            "restarted empty), not only what arrived since the last materialization.",
        ),
    ] = False,
) -> None:
    """Register the Feast definitions (feast apply) and load the newest snapshot online.

    The first run (or --reload, or a store found to have lost its rows) loads the newest snapshot
    in full; later runs materialise incrementally.

    Example: journey features materialize --reload
    """
    from pipelines.steps import materialize

    with friendly_errors():
        done = step("feast apply + materialize", lambda: materialize(state.settings, reload))
        if done.lost:
            console.print("  the online store had lost its rows (its sentinel customer was missing)")
        console.print(
            f"  online store holds features as of {done.snapshot} ({done.mode}: "
            f"{done.customers:,} customers loaded)"
        )


@commands.command("docs")
def features_docs(out: Annotated[Path | None, out_option("features.md", "docs")] = None) -> None:
    """Write the feature catalog (name, family, window, meaning) as Markdown: <out>/features.md.

    Example: journey features docs --out docs
    """
    from pipelines.catalog_doc import catalog_markdown

    with friendly_errors():
        path = (out or DOCS) / "features.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(catalog_markdown(state.settings.demographics))
        console.print(f"wrote {path}")
