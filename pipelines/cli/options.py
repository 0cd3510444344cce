"""The closed sets of choices and the options several commands share, so `--help` lists the values.

Typer checks these while it parses, before a command imports anything heavy: a wrong value is a
usage error (exit code 2) that names the allowed ones.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

# Typer takes Literal for one value; a repeatable option needs an Enum (no list[Literal]).
Task = Literal["churn", "stage"]
RankBy = Literal["value", "uplift"]
Learner = Literal["x_learner", "t_learner"]  # targeting.uplift.LEARNERS (a test keeps them equal)


class Stage(StrEnum):
    """The stages a target list may hold: active buyers (core.schema.ACTIVE_STAGES)."""

    purchase = "purchase"
    retention = "retention"
    advocacy = "advocacy"


class Tier(StrEnum):
    """Risk tiers (targeting.select.TIERS)."""

    high = "high"
    medium = "medium"
    low = "low"


TaskArg = Annotated[Task, typer.Argument(help="Which model: churn or stage.", show_default=False)]

FILE_SUFFIXES = {".md", ".json", ".csv", ".xlsx", ".html"}  # what the commands write inside --out
OUT_HELP = "Folder to write {files} into (default: {default}); it is created if missing."


def _folder(value: Path | None) -> Path | None:
    """--out is always a folder: reject what is plainly a file name (the file is named for you)."""
    if value is not None and (value.is_file() or value.suffix.lower() in FILE_SUFFIXES):
        raise typer.BadParameter(
            f"{str(value)!r} looks like a file: --out takes the folder to write into, "
            "and the command names its files (see --help)"
        )
    return value


def out_option(files: str, default: str) -> Any:
    """The --out option of a command that writes `files` into a folder, `default` when not given."""
    return typer.Option(
        "--out",
        help=OUT_HELP.format(files=files, default=default),
        callback=_folder,
        show_default=False,
    )


def where_items(items: list[str] | None) -> list[str] | None:
    """--where takes column=value; a missing '=' or column is a usage error before anything loads."""
    for item in items or []:
        column, sep, _ = item.partition("=")
        if not sep or not column.strip():
            raise typer.BadParameter(f"takes column=value (e.g. region=north), got {item!r}")
    return items


def positive(value: float | None) -> float | None:
    """A budget: more than nothing, or not given."""
    if value is not None and not value > 0:
        raise typer.BadParameter(f"must be a positive amount, got {value}")
    return value


def probability_floor(value: float | None) -> float | None:
    """A churn-probability floor in [0, 1) (1 would leave nobody), or not given."""
    if value is not None and not 0.0 <= value < 1.0:
        raise typer.BadParameter(f"must be in [0, 1), got {value}")
    return value
