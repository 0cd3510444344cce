"""Targeting benchmark: score, value, rank and select 1M customers; TreeSHAP reasons for the top 10k.

A small generated dataset is run end to end once (validate, features, Feast, both trainings) to
get real champions and real feature rows; the newest active rows are then tiled to `--customers`
with new ids and perturbed spend and recency, as if their features were already built. A child
process loads the champions and times `journey targets`' own functions: scoring + value +
ranking + selection without reasons (`targeting.targets.rank`), then reasons and actions for the
selected rows (`targeting.targets.explain`), with its peak memory (max RSS). Reproduce with
`python -m benchmarks.targets` (or `make bench`); `--customers 100000` for a quicker run,
`--workdir DIR` to use the champions of an existing workdir (their size sets the scoring time).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.child import peak_mb, run_child

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "targets.json"
TARGETS = {"rank_s": 60.0, "reasons_s": 20.0}
MONEY = ("spend_90d", "spend_365d", "spend_total", "avg_order_value")


def settings_for(workdir: Path) -> Any:
    from core.config import load_settings

    return load_settings(REPO / "configs" / "journey.yaml").with_paths(
        workdir=workdir, outputs_dir=workdir / "outputs"
    )


def prepare(workdir: Path, customers: int, seed: int) -> None:
    """A real trained workdir: generate, validate, build, materialize, train both models."""
    from core.io import write_tables
    from pipelines.steps import build, materialize, validate_data
    from synthetic.generate import generate_tables
    from training.train import train_task

    settings = settings_for(workdir)
    write_tables(generate_tables(customers, seed, "2023-01-01", "2025-01-01"), settings.paths.data)
    validate_data(settings, pd.Timestamp("2025-01-01", tz="UTC"))
    build(settings)
    materialize(settings)
    for task in ("churn", "stage"):
        train_task(settings.paths.clean, settings, task)  # type: ignore[arg-type]


def tile(feats: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """`n` rows cycled from `feats` with new ids, spend scaled and recencies shifted at random."""
    rng = np.random.default_rng(seed)
    out = feats.iloc[np.arange(n) % len(feats)].reset_index(drop=True)
    out["customer_id"] = [f"bench{i:07d}" for i in range(n)]
    scale = rng.lognormal(0.0, 0.2, n)
    for column in (c for c in MONEY if c in out):
        out[column] = out[column].to_numpy() * scale
    shift = rng.integers(0, 15, n).astype(np.float64)  # first and last purchase move together
    for column in ("days_since_last_purchase", "days_since_first_purchase"):
        out[column] = out[column].to_numpy() + shift
    return out


def child(workdir: Path, customers: int, top: int, seed: int) -> None:
    """Time ranking without reasons, then reasons for the selected rows; print JSON."""
    from serving.batch import active, load_scorer, newest_features
    from targeting.targets import Request, explain, rank
    from targeting.value import customer_value

    settings = settings_for(workdir)
    scorer = load_scorer(settings)
    base = active(newest_features(settings))
    feats = tile(base, customers, seed)
    start = time.perf_counter()
    ranking = rank(scorer, feats, settings, Request(capacity=top))
    rank_s = time.perf_counter() - start
    start = time.perf_counter()
    table = explain(scorer, feats, ranking, settings, None)
    reasons_s = time.perf_counter() - start
    peak = peak_mb()
    start = time.perf_counter()
    scorer.churn_probability(feats)
    score_s = time.perf_counter() - start
    t, window = settings.targeting, settings.labels.prediction_window_days
    value_s = {}
    for method in ("run_rate", "bgnbd"):
        start = time.perf_counter()
        customer_value(feats, method, window, t.value_fit_sample, settings.training.seed)  # type: ignore[arg-type]
        value_s[method] = time.perf_counter() - start
    out = {
        "customers": customers,
        "distinct_source_rows": len(base),
        "selected": len(table),
        "value_method": ranking.value_method,
        "rank_s": rank_s,
        "reasons_s": reasons_s,
        "trees": {"churn": scorer.churn.booster.num_trees(), "stage": scorer.stage.booster.num_trees()},
        "breakdown_s": {"churn_scoring": score_s, **{f"value_{k}": v for k, v in value_s.items()}},
        "peak_mb": peak,
    }
    print(json.dumps(out))


def measure(workdir: Path, customers: int, top: int, seed: int, timeout_s: float) -> dict[str, Any]:
    args = ["--child", "--workdir", str(workdir), "--customers", str(customers), "--top", str(top)]
    return run_child("benchmarks.targets", [*args, "--seed", str(seed)], timeout_s)


def render(r: dict[str, Any]) -> str:
    if "error" in r:
        return f"error: {r['error']}"
    met = {k: "met" if r[k] <= v else "NOT met" for k, v in TARGETS.items()}
    breakdown = ", ".join(f"{k} {v:.1f} s" for k, v in r["breakdown_s"].items())
    trees = f"model trees: churn {r['trees']['churn']}, next stage {r['trees']['stage']}"
    return "\n".join(
        [
            "| customers | score + value + rank + select (no reasons) | reasons + actions, top "
            f"{r['selected']:,} | peak memory | value method |",
            "|---|---|---|---|---|",
            f"| {r['customers']:,} | {r['rank_s']:.1f} s (target 60 s: {met['rank_s']})"
            f" | {r['reasons_s']:.1f} s (target 20 s: {met['reasons_s']})"
            f" | {r['peak_mb'] / 1024:.2f} GB | {r['value_method']} |",
            f"breakdown (measured separately): {breakdown}; {trees}",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--top", type=int, default=10_000, help="list size: reasons for these rows")
    parser.add_argument("--train-customers", type=int, default=20_000, help="generated data for the models")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--workdir", type=Path, help="an existing trained workdir (default: train one)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.workdir, args.customers, args.top, args.seed)
        return
    with tempfile.TemporaryDirectory(prefix="journey-bench-targets-") as tmp:
        workdir = args.workdir or Path(tmp) / "work"
        if not args.workdir:
            print(f"training on {args.train_customers:,} generated customers ...", flush=True)
            prepare(workdir, args.train_customers, args.seed)
        print(f"ranking {args.customers:,} customers, reasons for the top {args.top:,} ...", flush=True)
        report = measure(workdir, args.customers, args.top, args.seed, args.timeout)
    report["command"] = "python -m benchmarks.targets " + " ".join(argv if argv is not None else sys.argv[1:])
    print(render(report))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
