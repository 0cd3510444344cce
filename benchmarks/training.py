"""Training benchmark: both models on about a million training rows with the full feature catalog.

One run generates the data (default 100k customers, two years), validates it and builds every
monthly snapshot's features, then trains the churn and the next-stage model, each in its own
process so that peak memory (max RSS) is that training's alone. The figures are the whole
`journey train` job (labels, Feast retrieval, fit, evaluation with every baseline, plots,
MLflow logging and registration) with a breakdown per phase. Reproduce with
`python -m benchmarks.training` (or `make bench`).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.child import run_child

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "training.json"
TASKS = ("churn", "stage")


def settings_for(folder: Path) -> Any:
    from features.config import load_settings

    return load_settings(REPO / "configs" / "journey.yaml").with_paths(workdir=folder / "work")


def prepare(folder: Path, customers: int, seed: int) -> dict[str, Any]:
    """Generate, validate and build features once; both trainings read them."""
    from features.io import write_tables
    from features.synthetic import generate_tables
    from pipelines.steps import build, validate_data

    settings = settings_for(folder)
    write_tables(generate_tables(customers, seed), settings.paths.data)
    report = validate_data(settings, None)
    start = time.perf_counter()
    manifest = build(settings)
    return {
        "customers": customers,
        "snapshots": len(manifest.snapshots),
        "build_s": time.perf_counter() - start,
        "rows": report.to_dict()["rows_out"],
    }


def child(task: str, folder: Path) -> None:
    """Train one task and print its rows, phases, wall time and peak memory as JSON."""
    from pipelines.steps import clean_dir
    from training.train import train_task

    settings = settings_for(folder)
    start = time.perf_counter()
    result = train_task(clean_dir(settings), settings, task)  # type: ignore[arg-type]
    out = {
        "rows": result.rows,
        "phases_s": result.seconds,
        "wall_s": time.perf_counter() - start,
        "best_iteration": result.best_iteration,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "headline": {k: result.metrics[k] for k in ("roc_auc", "macro_f1") if k in result.metrics},
        "grade": result.grade.letter,
    }
    print(json.dumps(out))


def measure(task: str, folder: Path, timeout_s: float) -> dict[str, Any]:
    return run_child("benchmarks.training", ["--child", task, "--folder", str(folder)], timeout_s)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per training")
    parser.add_argument("--child", choices=TASKS, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.folder)
        return
    with tempfile.TemporaryDirectory(prefix="journey-bench-training-") as tmp:
        folder = Path(tmp)
        print(f"preparing {args.customers:,} customers (generate, validate, features) ...", flush=True)
        report: dict[str, Any] = {"data": prepare(folder, args.customers, args.seed)}
        for task in TASKS:
            print(f"training {task} ...", flush=True)
            report[task] = measure(task, folder, args.timeout)
    print(render(report))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))


def render(report: dict[str, Any]) -> str:
    lines = [
        f"data: {report['data']}",
        "| task | train / valid / test rows | wall | peak memory | phases | boosting rounds |",
        "|---|---|---|---|---|---|",
    ]
    for task in TASKS:
        r = report[task]
        if "error" in r:
            lines.append(f"| {task} | error: {r['error']} | | | | |")
            continue
        rows = " / ".join(f"{r['rows'][k]:,}" for k in ("train", "valid", "test"))
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in r["phases_s"].items())
        lines.append(
            f"| {task} | {rows} | {r['wall_s']:.1f} s | {r['peak_mb'] / 1024:.2f} GB | {phases}"
            f" | {r['best_iteration']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
