"""Benchmark of the synthetic-data generator: wall time, rows and events per second."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.child import peak_mb
from synthetic.generate import generate_tables

RESULTS = Path(__file__).resolve().parent / "results" / "generate.json"


def reference_seconds(n_rows: int, seed: int) -> float:
    """Time to draw and argsort n_rows random int64 keys: a floor for any sorted generator."""
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    np.argsort(rng.integers(0, 2**62, n_rows), kind="stable")
    return time.perf_counter() - start


def run(n_customers: int, seed: int) -> dict[str, Any]:
    """Generate the tables once and measure them against the NumPy sorting reference."""
    start = time.perf_counter()
    tables = generate_tables(n_customers, seed)
    wall = time.perf_counter() - start
    rows = {name: len(frame) for name, frame in tables.items()}
    reference = reference_seconds(rows["events"], seed)
    return {
        "n_customers": n_customers,
        "seed": seed,
        "wall_seconds": round(wall, 3),
        "rows": rows,
        "events_per_second": round(rows["events"] / wall),
        "events_per_customer": round(rows["events"] / n_customers, 2),
        "transactions_per_customer": round(rows["transactions"] / n_customers, 2),
        "reference_sort_seconds": round(reference, 3),
        "ratio_to_reference": round(wall / reference, 2),
        "peak_rss_mb": round(peak_mb()),
    }


def report(result: dict[str, Any]) -> str:
    """A small plain-text table of the measured figures."""
    lines = [f"{'metric':<28}{'value':>16}"]
    for key, value in result.items():
        if key == "rows":
            lines += [f"{'rows.' + name:<28}{count:>16,}" for name, count in value.items()]
        else:
            lines.append(f"{key:<28}{value:>16,}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark, print the table and write the JSON result."""
    parser = argparse.ArgumentParser(description="Time synthetic.generate.generate_tables.")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    result = run(args.customers, args.seed)
    print(report(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
