"""`journey --help` and usage errors answer without loading the heavy libraries (checked, not timed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.pipelines.test_cli import COMMANDS

REPO = Path(__file__).resolve().parents[2]
HEAVY = {
    "feast", "mlflow", "lightgbm", "bentoml", "ibis", "duckdb", "sklearn", "matplotlib", "pandas",
    "numpy", "pyarrow", "optuna", "openpyxl", "httpx", "jinja2",
    "features", "ingest", "synthetic", "training", "serving", "targeting",
}  # fmt: skip
USAGE_ERRORS = [
    ["train", "chrun"],
    ["promote", "ltv"],
    ["train", "churn", "--tune", "-1"],
    ["targets", "--tier", "bogus"],
    ["targets", "--stage", "awareness"],
    ["targets", "--where", "nonsense"],
    ["targets", "--rank-by", "luck"],
    ["targets", "--budget", "0"],
    ["uplift", "--learner", "s_learner"],
    ["features", "docs", "--out", "docs/features.md"],
    ["promote", "churn", "--force"],
]
# Runs the app in a fresh interpreter, then reports exit codes and every top-level module loaded.
PROBE = """
import contextlib, io, json, sys
from pipelines.cli import app
codes = []
for args in json.loads(sys.argv[1]):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            app(args, prog_name="journey")
        except SystemExit as stop:
            codes.append(stop.code)
print(json.dumps({"codes": codes, "modules": sorted({m.split('.')[0] for m in sys.modules})}))
"""


def probe(runs: list[list[str]]) -> tuple[list[int], set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(runs)], capture_output=True, text=True, cwd=REPO, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["codes"], set(result["modules"])


def test_help_of_every_command_loads_no_heavy_library():
    runs = [["--help"], *([*command, "--help"] for command in COMMANDS)]
    codes, modules = probe(runs)
    assert codes == [0] * len(runs)
    assert modules & HEAVY == set()


def test_usage_errors_are_caught_before_any_heavy_import():
    codes, modules = probe(USAGE_ERRORS)
    assert codes == [2] * len(USAGE_ERRORS)
    assert modules & HEAVY == set()


def test_the_probe_sees_what_a_command_imports(tmp_path: Path):
    codes, modules = probe([["features", "docs", "--out", str(tmp_path)]])
    assert codes == [0] and "features" in modules  # the catalog, loaded by the command itself
    assert (tmp_path / "features.md").is_file()
