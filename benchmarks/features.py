"""Feature-pipeline benchmark: Ibis/DuckDB vs the pandas oracle; Feast retrieval vs a direct ASOF join.

One run prepares one dataset (default 100k customers, ~10M events, ~1M transactions, the newest
12 monthly snapshots), then runs each contender in its own process so that peak memory (VmHWM,
`benchmarks.child.peak_mb`) belongs to that contender alone. Each pair of contenders runs
`--repeats` rounds, interleaved (Ibis, oracle, Ibis, oracle, ...; every Ibis run a full build
into an empty folder): the report
gives each contender's median and the median of the per-round ratios, since single runs move by
10-15% on a shared machine. Reproduce with `python -m benchmarks.features` (or `make bench`).

Example: `python -m benchmarks.features --customers 20000 --parts ibis,oracle --repeats 1`
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.child import peak_mb, run_child

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "features.json"
SNAPSHOTS = 12
# On the generator's two years, starting the grid 396 days in leaves exactly 12 monthly snapshots.
MIN_HISTORY_DAYS = 396


def settings_for(folder: Path) -> Any:
    from core.config import Snapshots, load_settings

    base = load_settings(REPO / "configs" / "journey.yaml").with_paths(workdir=folder / "work")
    return base.model_copy(update={"snapshots": Snapshots(min_history_days=MIN_HISTORY_DAYS)})


def prepare(folder: Path, customers: int, seed: int) -> dict[str, Any]:
    """Generate and validate the dataset once; the contenders read the clean Parquet tables."""
    from core.io import write_tables
    from ingest.validate import validate_tables
    from synthetic.generate import generate_tables

    tables = generate_tables(customers, seed)
    clean, _ = validate_tables(
        {k: v for k, v in tables.items() if k != "truth"}, demographics=settings_for(folder).demographics
    )
    write_tables(clean, folder / "clean")
    return {
        "customers": customers,
        "events": len(clean["events"]),
        "transactions": len(clean["transactions"]),
    }


def run_ibis(folder: Path) -> dict[str, Any]:
    from features.build import build_features, feature_path

    settings = settings_for(folder)
    shutil.rmtree(settings.paths.features, ignore_errors=True)  # a full build, not an incremental one
    manifest = build_features(folder / "clean", settings)
    rows = len(pd.read_parquet(feature_path(settings.paths.features, "demographic"), columns=["customer_id"]))
    return {"snapshots": len(manifest.snapshots), "rows": rows}


def run_oracle(folder: Path) -> dict[str, Any]:
    sys.path.insert(0, str(REPO / "tests"))
    from helpers.oracle import oracle_features  # type: ignore[import-not-found]

    from core.io import read_raw_tables
    from features.build import read_manifest

    settings = settings_for(folder)
    snapshots = read_manifest(settings.paths.features).snapshots  # the grid the Ibis run used
    tables = read_raw_tables(folder / "clean")
    out = oracle_features(tables, snapshots, settings.demographics, settings.stages)
    return {"snapshots": len(snapshots), "rows": len(out["demographic"])}


def entity_rows(folder: Path) -> pd.DataFrame:
    from features.build import TIMESTAMP, feature_path

    settings = settings_for(folder)
    frame = pd.read_parquet(
        feature_path(settings.paths.features, "demographic"), columns=["customer_id", TIMESTAMP]
    )
    return frame.sample(frac=1.0, random_state=0, ignore_index=True)


def run_feast(folder: Path) -> dict[str, Any]:
    from features.store import apply_definitions, open_store

    settings = settings_for(folder)
    store = open_store(settings)
    apply_definitions(store, settings)
    entities = entity_rows(folder)
    start = time.perf_counter()
    frame = store.get_historical_features(
        entity_df=entities, features=store.get_feature_service("churn_v1")
    ).to_df()
    return {"rows": len(frame), "columns": frame.shape[1], "retrieval_s": time.perf_counter() - start}


def run_asof(folder: Path) -> dict[str, Any]:
    """The same point-in-time join written directly in DuckDB: three ASOF LEFT JOINs with the TTL."""
    import duckdb
    import pyarrow.parquet as pq

    from features.build import feature_path, parquet_glob

    settings = settings_for(folder)
    entities = entity_rows(folder)
    con = duckdb.connect()
    con.register("entities", entities)
    sql = "SELECT e.*"
    joins = ""
    ttl = settings.feast.ttl_days
    for i, fam in enumerate(("behavioural", "transactional", "demographic")):
        path = parquet_glob(feature_path(settings.paths.features, fam))
        feats = [
            c
            for c in pq.read_schema(next(feature_path(settings.paths.features, fam).glob("*.parquet"))).names
            if c not in ("customer_id", "event_timestamp")
        ]
        fresh = f"f{i}.event_timestamp > e.event_timestamp - INTERVAL {ttl} DAY"  # Feast's TTL rule
        sql += "".join(f", CASE WHEN {fresh} THEN f{i}.{c} END AS {c}" for c in feats)
        joins += (
            f" ASOF LEFT JOIN read_parquet('{path}') f{i} ON e.customer_id = f{i}.customer_id"
            f" AND e.event_timestamp >= f{i}.event_timestamp"
        )
    start = time.perf_counter()
    frame = con.execute(sql + " FROM entities e" + joins).df()
    return {"rows": len(frame), "columns": frame.shape[1], "retrieval_s": time.perf_counter() - start}


PARTS = {"ibis": run_ibis, "oracle": run_oracle, "feast": run_feast, "asof": run_asof}


def child(part: str, folder: Path) -> None:
    """Run one contender and print its wall time and peak memory as JSON."""
    start = time.perf_counter()
    result = PARTS[part](folder)
    result["wall_s"] = time.perf_counter() - start
    result["peak_mb"] = peak_mb()
    print(json.dumps(result))


def measure(part: str, folder: Path, timeout_s: float) -> dict[str, Any]:
    return run_child("benchmarks.features", ["--child", part, "--folder", str(folder)], timeout_s)


PAIRS = (
    ("oracle / ibis wall", "oracle", "ibis", "wall_s"),
    ("feast / asof retrieval", "feast", "asof", "retrieval_s"),
)


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per key, the median over the runs that succeeded (the first error if none did)."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[0]
    out = {}
    for key in (k for k, v in ok[0].items() if isinstance(v, int | float)):
        values = [r[key] for r in ok]
        out[key] = values[0] if len(set(values)) == 1 else statistics.median(values)  # counts stay ints
    return out


def ratios(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per pair of contenders, the ratio of each round (run i of one over run i of the other), and
    their median."""
    out = {}
    for label, a, b, key in PAIRS:
        pairs = zip(runs.get(a, []), runs.get(b, []), strict=False)
        per_round = [x[key] / y[key] for x, y in pairs if key in x and key in y]
        if per_round:
            out[label] = {"rounds": per_round, "median": statistics.median(per_round)}
    return out


def run_rounds(
    parts: list[str], folder: Path, repeats: int, timeout_s: float
) -> dict[str, list[dict[str, Any]]]:
    """`repeats` interleaved rounds of the chosen parts, in the order given (the oracle reads the
    snapshot grid of an Ibis build, Feast and the ASOF join read its files)."""
    runs: dict[str, list[dict[str, Any]]] = {p: [] for p in parts}
    for _ in range(repeats):
        for part in parts:
            runs[part].append(measure(part, folder, timeout_s))
    return runs


def report(result: dict[str, Any]) -> str:
    lines = [f"dataset: {result['dataset']}", f"medians of {result['repeats']} interleaved round(s):"]
    for name, r in result["parts"].items():
        shown = ", ".join(f"{k} {v:,.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items())
        lines.append(f"  {name:<7} {shown}")
    for label, r in result["ratios"].items():
        rounds = ", ".join(f"{x:.2f}" for x in r["rounds"])
        lines.append(f"  {label}: {r['median']:.2f}x (rounds: {rounds})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parts", default="ibis,oracle,feast,asof")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds per contender (>= 1)")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--child", choices=sorted(PARTS))
    parser.add_argument("--folder", type=Path)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.child:
        child(args.child, args.folder)
        return
    with tempfile.TemporaryDirectory(prefix="journey-bench-") as tmp:
        folder = Path(tmp)
        dataset = prepare(folder, args.customers, args.seed)
        runs = run_rounds(args.parts.split(","), folder, args.repeats, args.timeout)
    result = {
        "dataset": dataset,
        "repeats": args.repeats,
        "parts": {name: median_of(r) for name, r in runs.items()},
        "ratios": ratios(runs),
        "runs": runs,
        "command": "python -m benchmarks.features " + " ".join(argv or []),
    }
    print(report(result))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
