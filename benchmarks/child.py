"""Run one benchmark part in a child process, so its wall time and peak memory are its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


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
