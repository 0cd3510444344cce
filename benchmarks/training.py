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
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.child import peak_mb, run_child

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "training.json"
TASKS = ("churn", "stage")


def settings_for(folder: Path, full: bool = False) -> Any:
    """The default config in `folder`; `full` turns the large-data schedule off (every row, base rates)."""
    from core.config import LargeData, load_settings

    settings = load_settings(REPO / "configs" / "journey.yaml").with_paths(workdir=folder / "work")
    if full:
        training = settings.training.model_copy(update={"large_data": LargeData(rows=10**12)})
        settings = settings.model_copy(update={"training": training})
    return settings


def prepare(folder: Path, customers: int, seed: int) -> dict[str, Any]:
    """Generate, validate and build features once; both trainings read them."""
    from core.io import write_tables
    from pipelines.steps import build, validate_data
    from synthetic.generate import generate_tables

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


def child(task: str, folder: Path, full: bool) -> None:
    """Train one task and print its rows, phases, wall time and peak memory as JSON."""
    from training.train import train_task

    settings = settings_for(folder, full)
    start = time.perf_counter()
    result = train_task(settings.paths.clean, settings, task)  # type: ignore[arg-type]
    out = {
        "rows": result.rows,
        "phases_s": result.seconds,
        "wall_s": time.perf_counter() - start,
        "best_iteration": result.best_iteration,
        "peak_mb": peak_mb(),
        "headline": {k: result.metrics[k] for k in ("roc_auc", "macro_f1") if k in result.metrics},
        "grade": result.grade.letter,
        "schedule": "full (every row, base parameters)" if full else "default (large_data)",
    }
    print(json.dumps(out))


def measure(task: str, folder: Path, timeout_s: float, full: bool = False) -> dict[str, Any]:
    args = ["--child", task, "--folder", str(folder), *(["--full"] if full else [])]
    return run_child("benchmarks.training", args, timeout_s)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per training")
    parser.add_argument(
        "--compare-full",
        action="store_true",
        help="also train each task without the large-data schedule (every row), for its quality and time",
    )
    parser.add_argument("--full", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=TASKS, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.folder, args.full)
        return
    with tempfile.TemporaryDirectory(prefix="journey-bench-training-") as tmp:
        folder = Path(tmp)
        print(f"preparing {args.customers:,} customers (generate, validate, features) ...", flush=True)
        report: dict[str, Any] = {"data": prepare(folder, args.customers, args.seed)}
        for task in TASKS:
            print(f"training {task} ...", flush=True)
            report[task] = measure(task, folder, args.timeout)
            if args.compare_full:
                print(f"training {task} on every row (no large-data schedule) ...", flush=True)
                report[f"{task} (full)"] = measure(task, folder, args.timeout, full=True)
    print(render(report))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))


def render(report: dict[str, Any]) -> str:
    lines = [
        f"data: {report['data']}",
        "| task | train / valid / test rows | wall | peak memory | phases | boosting rounds | test metric |",
        "|---|---|---|---|---|---|---|",
    ]
    for task in [k for k in report if k != "data"]:
        r = report[task]
        if "error" in r:
            lines.append(f"| {task} | error: {r['error']} | | | | | |")
            continue
        rows = " / ".join(f"{r['rows'][k]:,}" for k in ("train", "valid", "test"))
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in r["phases_s"].items())
        metric = ", ".join(f"{k} {v:.4f}" for k, v in r["headline"].items())
        lines.append(
            f"| {task} | {rows} | {r['wall_s']:.1f} s | {r['peak_mb'] / 1024:.2f} GB | {phases}"
            f" | {r['best_iteration']} | {metric} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
