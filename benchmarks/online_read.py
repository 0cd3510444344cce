"""Online read for /score: Feast's get_online_features beside the direct SQLite read (grouping
Feast's rows per request, and from the per-customer mirror written at materialization), where a
1,000-id request's time goes (read, both models, records, JSON), and one-row predictions with
LightGBM's default threads beside the service's one thread, in one process.

Needs a trained workdir (e.g. after `journey demo`, or the one benchmarks.serving prepares).

Example: python -m benchmarks.online_read --config configs/journey.yaml --workdir .journey
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.serving import write_config

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "online_read.json"


def median_ms(fn: Callable[[list[str]], Any], batches: list[list[str]]) -> float:
    times = []
    for batch in batches:
        start = time.perf_counter()
        fn(batch)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def run(config: Path, sizes: list[int], repeats: int) -> dict[str, Any]:
    from core.config import load_settings
    from features.store import open_store
    from serving.batch import active, newest_features
    from serving.champions import Champions
    from serving.online import OnlineFeatures
    from serving.schemas import ScoreResponse

    settings = load_settings(config)
    scorer = Champions(settings).scorer
    online = OnlineFeatures(
        open_store(settings), scorer.churn.inputs.feature_service, settings.feast.ttl_days
    )
    if online.sqlite is None:
        raise SystemExit("the online store is not SQLite: nothing to compare")
    ids = active(newest_features(settings))["customer_id"].astype(str).tolist()
    feast_read = online.sqlite
    online.sqlite = None  # the same object, reading through Feast
    out: dict[str, Any] = {"customers_online": len(ids), "features": len(scorer.features), "reads": []}
    for n in sizes:
        batches = [ids[(r * n) % len(ids) :][:n] for r in range(repeats)]
        feast_ms = median_ms(lambda b: online.read(b, scorer.features), batches)
        feast_read.use_mirror = False
        grouped_ms = median_ms(lambda b: feast_read.read(b, scorer.features), batches)
        feast_read.use_mirror = True
        direct_ms = median_ms(lambda b: feast_read.read(b, scorer.features), batches)
        times = {"feast_ms": feast_ms, "grouped_ms": grouped_ms, "direct_ms": direct_ms}
        out["reads"].append({"ids": n, **times})
    online.sqlite = feast_read
    split: dict[str, list[float]] = {
        "read": [],
        "both models": [],
        "records (models included)": [],
        "json": [],
    }
    for r in range(repeats):
        batch = ids[(r * 1000) % len(ids) :][:1000]
        rows = _timed(split["read"], lambda b=batch: online.read(b, scorer.features))
        _timed(split["both models"], lambda c=rows.columns: scorer.predict(c))
        scores = _timed(
            split["records (models included)"],
            lambda b=batch, x=rows: scorer.scores(b, x.columns, x.known, x.as_of, 0, x.stale),
        )
        _timed(
            split["json"],
            lambda s=scores: ScoreResponse(
                scores=s, models=scorer.versions, request_id="bench"
            ).model_dump_json(),
        )
    out["split_1000_ids_ms"] = {k: float(np.median(v)) for k, v in split.items()}
    one = online.read(ids[:1], scorer.features).columns
    for threads in (0, 1):  # 0: LightGBM's default (all cores), 1: what the service uses
        scorer.threads = threads
        calls: list[float] = []
        for _ in range(500):
            _timed(calls, lambda: scorer.predict(one))
        out[f"one_row_predict_threads_{threads}_ms"] = {
            "p50": float(np.percentile(calls, 50)),
            "p99": float(np.percentile(calls, 99)),
        }
    return out


def _timed(into: list[float], fn: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    result = fn()
    into.append((time.perf_counter() - start) * 1000)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.online_read", description=__doc__)
    parser.add_argument("--workdir", type=Path, required=True, help="a trained workdir, e.g. .journey")
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "journey.yaml")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="journey-bench-read-") as tmp:
        result = run(
            write_config(Path(tmp), args.workdir, args.config.resolve()), [1, 100, 1000], args.repeats
        )
    for r in result["reads"]:
        print(
            f"{r['ids']:>5} ids: Feast {r['feast_ms']:.2f} ms, direct grouping Feast's rows "
            f"{r['grouped_ms']:.2f} ms, direct with the per-customer mirror {r['direct_ms']:.2f} ms "
            f"({r['feast_ms'] / r['direct_ms']:.1f}x Feast, {r['grouped_ms'] / r['direct_ms']:.1f}x grouping)"
        )
    print("1,000 ids:", ", ".join(f"{k} {v:.1f} ms" for k, v in result["split_1000_ids_ms"].items()))
    for threads in (0, 1):
        t = result[f"one_row_predict_threads_{threads}_ms"]
        print(f"one row, both models, threads={threads}: p50 {t['p50']:.2f} ms, p99 {t['p99']:.2f} ms")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
