"""What every `journey` command shares: the console, the global options, timed steps and clear errors.

Light on purpose: `journey --help` and argument errors import this module, so nothing heavy is
imported here at module level (docs/benchmarks.md, "CLI start-up").
"""

from __future__ import annotations

import functools
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from core.config import Settings

T = TypeVar("T")


@functools.cache
def _rich_console() -> Console:
    from rich.console import Console

    return Console(soft_wrap=True)


class _Deferred:
    """Stands for the rich Console and creates it on first use: --help has no use for it."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_rich_console(), name)


console = cast("Console", _Deferred())
# core.config.DEFAULT_CONFIG, named here so that `journey --help` need not load pydantic, YAML and
# the config models (a test keeps the two equal).
DEFAULT_CONFIG = Path("configs/journey.yaml")

# Every known failure of the packages subclasses one of these (DataContractError, NotEnoughHistory,
# ModelNotFound, PromotionRefused, pydantic's ValidationError, ...): catching the bases keeps this
# module from importing the packages (and Feast, MLflow, LightGBM) just to name their errors.
KNOWN_ERRORS: tuple[type[Exception], ...] = (FileNotFoundError, ValueError, RuntimeError, TimeoutError)


class State:
    """The global options of this invocation; the settings load on first use."""

    def __init__(self) -> None:
        self.config: Path = DEFAULT_CONFIG
        self.verbose = False
        self._settings: Settings | None = None

    def reset(self, config: Path, verbose: bool) -> None:
        self.config, self.verbose, self._settings = config, verbose, None

    @property
    def settings(self) -> Settings:
        """The loaded config, with the demographics of the dataset last validated."""
        if self._settings is None:
            from core.config import load_settings
            from pipelines.steps import effective

            self._settings = effective(load_settings(self.config))
        return self._settings


state = State()


def setup(config: Path, verbose: bool) -> None:
    """Record the global options; quiet third-party chatter and set the log level."""
    state.reset(config, verbose)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keeps the step lines clean
    if not verbose:  # third-party deprecation chatter (ibis on DuckDB 2, MLflow on SQLAlchemy 2.1)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", module="mlflow.store")
        warnings.showwarning = quiet_deprecations(warnings.showwarning)  # some imports reset filters
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def quiet_deprecations(show: Callable[..., None]) -> Callable[..., None]:
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
    try:
        yield
    except typer.Exit:  # a RuntimeError too: a command's own exit code passes through
        raise
    except KNOWN_ERRORS as err:
        console.print(f"[bold red]error:[/] {err}")
        raise typer.Exit(code=1) from err


def step(title: str, fn: Callable[[], T]) -> T:
    """Run one step under a spinner and report its wall time."""
    start = time.perf_counter()
    with console.status(f"{title} ..."), warnings.catch_warnings():
        if not state.verbose:  # libraries reset filters on import; silence their deprecations here
            warnings.simplefilter("ignore", DeprecationWarning)
        result = fn()
    console.print(f"[green]✓[/] {title} [dim]({time.perf_counter() - start:.1f} s)[/]")
    return result


Tick = Callable[[int, int, float], None]  # (done, total, best so far)


def counted(title: str, total: int, fn: Callable[[Tick], T]) -> T:
    """Run a step of `total` trials under a progress bar (n/N, best so far), then report its wall time."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    start = time.perf_counter()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[best]}"),
    )
    with (
        Progress(*columns, TimeElapsedColumn(), console=_rich_console(), transient=True) as bar,
        warnings.catch_warnings(),
    ):
        if not state.verbose:
            warnings.simplefilter("ignore", DeprecationWarning)
        task = bar.add_task(title, total=total, best="")

        def tick(done: int, of: int, best: float) -> None:
            bar.update(task, completed=done, total=of, best=f"best validation log loss {best:.4f}")

        result = fn(tick)
    console.print(f"[green]✓[/] {title} [dim]({time.perf_counter() - start:.1f} s)[/]")
    return result
