"""CLI start-up benchmark: wall time of `journey --help` and of usage errors, new code beside an old commit.

Each command runs as `python -m pipelines.cli ...` in a fresh process (what a user waits for), with
this venv's interpreter. `--baseline-commit C` extracts commit C of this repository (`git archive`)
into a temporary folder and runs the same commands there, interleaved round by round with the
current code, so both see the same machine load; that folder comes first on sys.path, so its
`pipelines` is the one imported. Reproduce with `python -m benchmarks.cli --baseline-commit 134b326`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "cli.json"
TARGET_S = 1.0
COMMANDS = {
    "journey --help": ["--help"],
    "journey train --help": ["train", "--help"],
    "journey train chrun": ["train", "chrun"],
    "journey targets --tier bogus": ["targets", "--tier", "bogus"],
    "journey targets --where nonsense": ["targets", "--where", "nonsense"],
}
# The floor under the same load: the interpreter alone, and the libraries any Typer CLI here loads
# (Typer validates every option value with pydantic).
REFERENCES = {
    "python -c pass": ["-c", "pass"],
    "python -c 'import typer, pydantic'": ["-c", "import typer, pydantic"],
}


def extract(commit: str, into: Path) -> Path:
    """The tree of `commit` written under `into` (no worktree, no checkout of this repo touched)."""
    archive = into / "tree.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", commit], stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "tree", filter="data")
    return into / "tree"


def time_once(root: Path, args: list[str]) -> tuple[float, int]:
    """Wall seconds and exit code of `python <args>` run from `root`, with `root` first on sys.path."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd=root, env=env, capture_output=True, timeout=300)
    return time.perf_counter() - start, done.returncode


def summarize(times: list[float], codes: list[int]) -> dict[str, Any]:
    return {
        "median_s": round(statistics.median(times), 3),
        "min_s": round(min(times), 3),
        "max_s": round(max(times), 3),
        "exit_codes": sorted(set(codes)),
    }


def run(rounds: int, roots: dict[str, Path]) -> dict[str, Any]:
    """Every command under every contender, interleaved: round r runs each command once per contender."""
    samples: dict[str, dict[str, tuple[list[float], list[int]]]] = {
        name: {c: ([], []) for c in roots} for name in COMMANDS
    }
    floor: dict[str, tuple[list[float], list[int]]] = {name: ([], []) for name in REFERENCES}
    load_before = os.getloadavg()
    for r in range(rounds):
        order = list(roots) if r % 2 == 0 else list(reversed(roots))  # neither always goes first
        for name, args in COMMANDS.items():
            for contender in order:
                seconds, code = time_once(roots[contender], ["-m", "pipelines.cli", *args])
                samples[name][contender][0].append(seconds)
                samples[name][contender][1].append(code)
        for name, args in REFERENCES.items():
            seconds, code = time_once(REPO, args)
            floor[name][0].append(seconds)
            floor[name][1].append(code)
    return {
        "rounds": rounds,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "target_s": TARGET_S,
        "commands": {name: {c: summarize(*per[c]) for c in roots} for name, per in samples.items()},
        "references": {name: summarize(*per) for name, per in floor.items()},
    }


def report(result: dict[str, Any]) -> str:
    """A plain-text table: median (min-max) seconds per command and contender."""
    contenders = list(next(iter(result["commands"].values())))
    lines = [f"{'command':<36}" + "".join(f"{c:>30}" for c in contenders)]
    for name, per in result["commands"].items():
        cells = [
            f"{p['median_s']:.2f} ({p['min_s']:.2f}-{p['max_s']:.2f}) rc {p['exit_codes']}"
            for p in per.values()
        ]
        lines.append(f"{name:<36}" + "".join(f"{cell:>30}" for cell in cells))
    for name, p in result["references"].items():
        lines.append(f"{name:<36}{p['median_s']:>10.2f} ({p['min_s']:.2f}-{p['max_s']:.2f})  reference")
    before, after = result["load_average_before"], result["load_average_after"]
    lines.append(f"rounds {result['rounds']}, load average {before} -> {after}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark, print the table and write the JSON result."""
    parser = argparse.ArgumentParser(description="Time `journey --help` and usage errors.")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline-commit", help="also time this commit's CLI, e.g. 134b326")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="journey-cli-bench-") as tmp:
        roots = {"current": REPO}
        if args.baseline_commit:
            roots[args.baseline_commit] = extract(args.baseline_commit, Path(tmp))
        result = run(args.rounds, roots)
    result["baseline_commit"] = args.baseline_commit
    print(report(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
