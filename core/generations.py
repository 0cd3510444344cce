"""Atomic sets of files: each write makes a new generation folder, then one pointer switches to it.

A set of files written together (the clean tables, the feature tables) lives in a generation
folder `<root>/gen-*`; the symlink `<root>/current` names the complete one. A writer fills a new
generation beside the current one and switches the link with one `rename`, so a reader, or a
process killed at any moment, sees either the old complete set or the new one, never a mix. The
link's path is stable (Feast's FileSources keep pointing at it); its target is relative, so a
project folder can be moved or copied (with its symlinks). After a switch the previous
generation is kept (a reader that started on it can finish) and older ones, including any left
half-written by a killed writer, are removed.

Safe against kill -9; not made durable against power loss (no fsync).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

CURRENT = "current"
PREFIX = "gen-"


def current(root: Path) -> Path:
    """The folder readers use: `<root>/current`, or `root` itself when it holds no generations yet
    (a project written before generations, or a plain folder of tables given by hand)."""
    link = root / CURRENT
    return link if link.is_symlink() or link.is_dir() else root


def has_generation(root: Path) -> bool:
    """Whether `root` has a switched-to generation (not just loose files of an older layout)."""
    return (root / CURRENT).is_symlink()


@contextlib.contextmanager
def new_generation(root: Path) -> Iterator[Path]:
    """An empty generation folder to fill; when the block ends without an error it becomes current.

    An error removes the folder and leaves the pointer where it was; a killed process leaves the
    folder behind, unused, for the next successful switch to remove.
    """
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=root))
    try:
        yield folder
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    previous = switch(root, folder)
    prune(root, keep={folder.name, previous} - {""})


def switch(root: Path, folder: Path) -> str:
    """Point `<root>/current` at `folder` in one rename; returns the name it pointed at before."""
    link = root / CURRENT
    previous = os.readlink(link) if link.is_symlink() else ""
    if link.is_dir() and not link.is_symlink():  # a copy that followed the link: set it aside
        link.rename(Path(tempfile.mkdtemp(prefix=PREFIX, dir=root)) / CURRENT)
    staged = root / f".{CURRENT}-{folder.name}"
    staged.unlink(missing_ok=True)
    os.symlink(folder.name, staged, target_is_directory=True)
    os.replace(staged, link)
    log.info("%s now points at %s", link, folder.name)
    return previous


def prune(root: Path, keep: set[str]) -> None:
    """Remove from `root` everything but the pointer and the generations named in `keep`: older
    generations, ones a killed writer left half-written, and the loose files of an older layout."""
    for entry in root.iterdir():
        if entry.name == CURRENT or entry.name in keep:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def reuse(source: Path, target: Path) -> None:
    """Put an unchanged file of the previous generation into the new one: a hard link (no copy,
    no extra disk), or a copy where the file system has no hard links."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
