"""`python -m pipelines.ablation`: do candidate churn features beat the shipped ones out of time?

Issue 18 asked for the features the purchase-log literature credits (BG/NBD expected purchases
and P(alive), inter-purchase regularity, purchase and quantity trends, time-decayed frequency,
the customer's own seasonality). Before any of them enters the feature store, each family is
added to the shipped features and scored on the same out-of-time split as training: the test
rows are the training run's, the booster is the configured one (early stopping on the same
validation cutoff), and logistic regression on the same columns is fitted beside it. A family
earns its place only by a gain larger than the spread between booster seeds on both datasets.

The candidates are computed here in DuckDB from the clean transactions, as of each cutoff (orders
strictly before it), and BG/NBD is fitted on the training rows only. The figures go to
docs/results.md ("Candidate features"); the command that made them is written beside them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

SEEDS = (7, 8, 9)
FAMILIES: dict[str, tuple[str, ...]] = {
    "BG/NBD expected purchases and P(alive), fitted on the training rows": ("bgnbd_expected", "bgnbd_alive"),
    "purchase regularity (gap CV) and recency share of tenure": ("gap_cv", "recency_share"),
    "time-decayed purchase counts (half-lives 30 and 90 days)": ("decay_30", "decay_90"),
    "last gap between purchases, and recency over it": ("last_gap", "last_gap_ratio"),
    "purchase-count trend (90 days vs the 90 before) and quantity trend": ("count_trend", "quantity_trend"),
    "own seasonality: purchases in the window's dates a year earlier": ("same_window_last_year",),
}

CANDIDATES_SQL = """
WITH orders AS (
    SELECT customer_id, ts, sum(amount) AS amount, sum(quantity) AS quantity
    FROM tx WHERE amount > 0 GROUP BY customer_id, ts
), aged AS (
    SELECT c.cutoff, o.customer_id, o.quantity,
           date_diff('second', o.ts, c.cutoff) / 86400.0 AS age,
           date_diff('second', lag(o.ts) OVER (PARTITION BY c.cutoff, o.customer_id ORDER BY o.ts), o.ts)
               / 86400.0 AS gap,
           row_number() OVER (PARTITION BY c.cutoff, o.customer_id ORDER BY o.ts DESC) AS newest
    FROM orders o JOIN cutoffs c ON o.ts < c.cutoff
)
SELECT cutoff AS event_timestamp, customer_id,
       sum(exp(-ln(2) * age / 30)) AS decay_30,
       sum(exp(-ln(2) * age / 90)) AS decay_90,
       max(CASE WHEN newest = 1 THEN gap END) AS last_gap,
       count(*) FILTER (WHERE age >= 90 AND age < 180) AS purchases_prev_90d,
       sum(quantity) FILTER (WHERE age < 90) AS quantity_90d,
       sum(quantity) FILTER (WHERE age >= 90 AND age < 180) AS quantity_prev_90d,
       count(*) FILTER (WHERE age >= 365 - $window AND age < 365) AS same_window_last_year
FROM aged GROUP BY cutoff, customer_id
"""


def candidates(frame: pd.DataFrame, transactions: pd.DataFrame, window_days: int) -> pd.DataFrame:
    """`frame` (customer_id, event_timestamp, the shipped features) with every candidate column."""
    tx = transactions.assign(quantity=transactions.get("quantity", np.nan))
    cutoffs = pd.DataFrame({"cutoff": sorted(frame["event_timestamp"].unique())})
    con = duckdb.connect()
    con.register("tx", tx[["customer_id", "ts", "amount", "quantity"]])
    con.register("cutoffs", cutoffs)
    found = con.execute(CANDIDATES_SQL, {"window": window_days}).df()
    found["event_timestamp"] = pd.to_datetime(found["event_timestamp"], utc=True).astype(
        frame["event_timestamp"].dtype
    )
    out = frame.merge(found, on=["customer_id", "event_timestamp"], how="left")
    out["gap_cv"] = out["gap_std_days"] / out["gap_mean_days"].replace(0, np.nan)
    out["recency_share"] = out["days_since_last_purchase"] / out["days_since_first_purchase"].replace(
        0, np.nan
    )
    out["last_gap_ratio"] = out["days_since_last_purchase"] / out["last_gap"].replace(0, np.nan)
    out["count_trend"] = (out["purchases_90d"] + 1) / (out["purchases_prev_90d"].fillna(0) + 1)
    out["quantity_trend"] = (out["quantity_90d"].fillna(0) + 1) / (out["quantity_prev_90d"].fillna(0) + 1)
    return out


def with_bgnbd(parts: dict[str, pd.DataFrame], window_days: int) -> None:
    """BG/NBD expected purchases in the window and P(alive), the model fitted on the training rows."""
    from training.clv import fit_bgnbd, rfm_from_features

    model = fit_bgnbd(rfm_from_features(parts["train"]))
    for part in parts.values():
        rfm = rfm_from_features(part)
        part["bgnbd_expected"] = np.asarray(model.expected_purchases(rfm, float(window_days)))
        part["bgnbd_alive"] = np.asarray(model.p_alive(rfm))


def scored(parts: dict[str, pd.DataFrame], settings: Any, extra: tuple[str, ...]) -> dict[str, float]:
    """Test ROC AUC of the configured booster (mean and spread over seeds) and of logistic regression."""
    from serving.artifact import ModelInputs
    from training.baselines import logistic_scores
    from training.fit import fit_booster
    from training.train import _inputs, _targets

    base = _inputs(parts["train"], settings, "churn", "ablation")
    inputs = ModelInputs(base.feature_service, (*base.features, *extra), base.categories, base.classes)
    xy = {k: (inputs.matrix(p), _targets(p, "churn")) for k, p in parts.items()}
    aucs = []
    for seed in SEEDS:
        cfg = settings.training.model_copy(update={"seed": seed})
        booster = fit_booster(inputs, xy["train"], xy["valid"], cfg, 2)
        p = booster.predict(xy["test"][0], num_iteration=booster.best_iteration)
        aucs.append(roc_auc_score(xy["test"][1], p))
    lr = logistic_scores(parts["train"], xy["train"][1], parts["test"], inputs, settings.training.seed)
    return {
        "lightgbm": float(np.mean(aucs)),
        "spread": float(np.ptp(aucs)),
        "logistic": roc_auc_score(xy["test"][1], lr),
    }


def run(name: str, folder: Path, customers: int) -> list[dict[str, Any]]:
    """Every candidate family on one dataset, beside the shipped features."""
    from features.store import apply_definitions, open_store
    from pipelines.results import _prepare
    from pipelines.steps import build
    from training.dataset import label_frame, service_name, task_split, training_set

    settings = _prepare(name, folder, customers)
    build(settings)
    split = task_split(settings, "churn")
    store = open_store(settings)
    apply_definitions(store, settings)
    frame = training_set(
        store, label_frame(settings.paths.clean, settings, "churn", split), service_name(settings, "churn")
    )
    window = settings.labels.prediction_window_days
    tx = pd.read_parquet(settings.paths.clean / "transactions.parquet")
    full = candidates(frame, tx, window)
    parts = {k: full[full["split"] == k].reset_index(drop=True) for k in ("train", "valid", "test")}
    with_bgnbd(parts, window)
    rows = [{"dataset": name, "family": "shipped features only", **scored(parts, settings, ())}]
    for family, columns in FAMILIES.items():
        rows.append({"dataset": name, "family": family, **scored(parts, settings, columns)})
        print(rows[-1], flush=True)
    everything = tuple(c for cols in FAMILIES.values() for c in cols)
    rows.append({"dataset": name, "family": "all candidates", **scored(parts, settings, everything)})
    return rows


def render(rows: list[dict[str, Any]], command: str) -> str:
    lines = [
        "| dataset | features | LightGBM ROC AUC (mean of 3 seeds; spread) | change | logistic regression |",
        "|---|---|---|---|---|",
    ]
    base = {r["dataset"]: r["lightgbm"] for r in rows if r["family"] == "shipped features only"}
    for r in rows:
        change = r["lightgbm"] - base[r["dataset"]]
        lines.append(
            f"| {r['dataset']} | {r['family']} | {r['lightgbm']:.4f} ({r['spread']:.4f}) | "
            f"{change:+.4f} | {r['logistic']:.4f} |"
        )
    head = (
        "# Candidate churn features, out of time\n\n"
        "Generated by the command below (pipelines/ablation.py explains the method): each family is added "
        "to the shipped features and scored on the training run's own out-of-time test rows; the "
        "change is against the shipped features with the same seeds.\n\n"
    )
    return head + f"Command: `{command}`\n\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="online_retail,synthetic")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--out", type=Path, help="write the table to this Markdown file")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="journey-ablation-") as tmp:
        rows = [r for name in args.datasets.split(",") for r in run(name, Path(tmp), args.customers)]
    text = render(rows, " ".join(["python -m pipelines.ablation", *argv]))
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
