"""Run one benchmark part in a child process, so its wall time and peak memory are its own."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def peak_mb() -> float:
    """This process's peak resident memory in MB, its own even when a big parent started it.

    Linux keeps `ru_maxrss` across fork and exec, so a child started by a parent holding a large
    dataset reports at least the parent's size; the kernel's VmHWM belongs to the process image.
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    per_mb = 1024 * 1024 if sys.platform == "darwin" else 1024  # macOS reports bytes, Linux KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / per_mb


def run_child(module: str, args: list[str], timeout_s: float) -> dict[str, Any]:
    """`python -m <module> <args>`; its last stdout line is the JSON result, else {"error": why}."""
    cmd = [sys.executable, "-m", module, *args]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:.0f} s"}
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
        return {"error": last}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))
