"""Kill -9 a `journey` command at a chosen moment: after its k-th file change under watched folders."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

POLL_S = 0.001
TIMEOUT_S = 600.0


def journey(config: Path, *args: str) -> subprocess.Popen[bytes]:
    """`journey -c config args...` as a child process (the CLI module, so no entry point is needed)."""
    command = [sys.executable, "-m", "pipelines.cli", "-c", str(config), *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def run_journey(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a `journey` command to the end (bounded), its output as text."""
    command = [sys.executable, "-m", "pipelines.cli", "-c", str(config), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


def files(roots: list[Path]) -> dict[str, tuple[int, int, int]]:
    """Every file (and link) under `roots`, by path: inode, size and modification time."""
    seen: dict[str, tuple[int, int, int]] = {}
    for root in roots:
        for folder, dirs, names in os.walk(root):
            for name in [*names, *(d for d in dirs if os.path.islink(os.path.join(folder, d)))]:
                path = os.path.join(folder, name)
                try:
                    st = os.lstat(path)
                except FileNotFoundError:  # removed while we looked
                    continue
                seen[path] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return seen


@dataclass(frozen=True)
class Kill:
    """What a kill attempt did: whether the process was killed or had already finished, and when."""

    killed: bool
    changes: int
    seconds: float
    returncode: int


def kill_after_changes(process: subprocess.Popen[bytes], roots: list[Path], changes: int) -> Kill:
    """SIGKILL `process` once `changes` distinct paths under `roots` were created, changed or removed.

    The files are polled every millisecond; a process that ends first is reported as not killed.
    """
    before = files(roots)
    changed: set[str] = set()
    start = time.monotonic()
    while process.poll() is None and time.monotonic() - start < TIMEOUT_S:
        now = files(roots)
        changed |= {p for p in now.keys() | before.keys() if now.get(p) != before.get(p)}
        if len(changed) >= changes:
            os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(POLL_S)
    code = process.wait(timeout=TIMEOUT_S)
    return Kill(code == -signal.SIGKILL, len(changed), time.monotonic() - start, code)
