"""Live accuracy: logged predictions whose label window has closed, scored against what happened.

The outcomes come from the newest clean tables through the label code training uses
(training/labels.py), so a live figure and a test figure measure the same thing; each is shown
beside the model version's out-of-time test figures from its MLflow run. docs/monitoring.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.config import Settings
from core.cutoffs import complete_cutoffs
from core.registry import connect
from features.stages import known_grid, stage_at
from features.tables import connect as duckdb
from features.tables import open_tables, snapshot_table
from monitoring.log import PredictionLogError, open_log
from training.calibrate import expected_calibration_error
from training.evaluate import churn_metrics, label_metrics
from training.labels import churn_labels, stage_labels

CHURN_TEST = ("roc_auc", "pr_auc", "ece")  # the churn run's metrics shown beside the live ones
STAGE_TEST = ("accuracy", "macro_f1")
TIER_ORDER = ("high", "medium", "low")
# batch scoring logs active buyers only; the stage model's test rows hold every known customer
STAGE_POPULATION = "active buyers (the logged customers); the test figure covers every known customer"
Json = dict[str, Any]


@dataclass
class Outcomes:
    """What happened after each matured as-of date: churn of active buyers, the stage a horizon later."""

    end: pd.Timestamp  # the end of the newest clean data
    churn: pd.DataFrame  # customer_id, as_of, churned
    stage: pd.DataFrame  # customer_id, as_of, actual_stage
    pending: dict[str, str] = field(default_factory=dict)  # as-of date -> when its churn window closes


def latest(log: pd.DataFrame) -> pd.DataFrame:
    """One row per customer, as-of date and model versions: a `journey run` logs both its scoring and
    its list, so a row that knows whether the customer was listed wins, then the newest."""
    keys = ["as_of", "customer_id", "churn_model_version", "stage_model_version"]
    ranked = log.assign(_known=log["listed"].notna()).sort_values(["_known", "logged_at"], kind="stable")
    return ranked.drop_duplicates(keys, keep="last").drop(columns="_known").reset_index(drop=True)


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True).astype("datetime64[us, UTC]")


def outcomes(clean_dir: Path, settings: Settings, dates: list[pd.Timestamp]) -> Outcomes:
    """Churn and next-stage labels at every as-of date whose window has closed in the clean data."""
    con = duckdb()
    src = open_tables(con, clean_dir)
    window, horizon = settings.labels.prediction_window_days, settings.labels.stage_horizon_days
    churn_dates = complete_cutoffs(dates, src.end, window)
    stage_dates = complete_cutoffs(dates, src.end, horizon)
    pending = {
        str(d.date()): str((d + pd.Timedelta(days=window)).date()) for d in dates if d not in churn_dates
    }
    churn = pd.DataFrame(columns=["customer_id", "as_of", "churned"])
    if churn_dates:
        grid = known_grid(src.customers, snapshot_table(churn_dates, "as_of"))
        staged = stage_at(
            grid, churn_dates, src.orders, src.events, settings.stages, history=src.stage_history
        )
        churn = churn_labels(staged, src, churn_dates, window).execute().rename(columns={"churn": "churned"})
    stage = pd.DataFrame(columns=["customer_id", "as_of", "actual_stage"])
    if stage_dates:
        stage = (
            stage_labels(src, stage_dates, settings).execute().rename(columns={"next_stage": "actual_stage"})
        )
    churn["as_of"], stage["as_of"] = _utc(churn["as_of"]), _utc(stage["as_of"])
    return Outcomes(src.end, churn, stage, pending)


def _rate(y: pd.Series) -> Json:
    return {"rows": len(y), "churn_rate": _round(y.mean()) if len(y) else None}


def _round(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else round(float(value), 4)


def churn_figures(rows: pd.DataFrame) -> Json:
    """Ranking and calibration of one as-of date and version, and the churn rate per tier and list."""
    y = rows["churned"].to_numpy(dtype=np.int64)
    p = rows["churn_probability"].to_numpy(dtype=np.float64)
    out: Json = {"rows": len(rows), "churn_rate": _round(y.mean())}
    if len(np.unique(y)) == 2:
        metrics = churn_metrics(y, p)
        out |= {k: _round(metrics[k]) for k in CHURN_TEST}
    else:
        out |= {"roc_auc": None, "pr_auc": None, "ece": _round(expected_calibration_error(y, p))}
        out["note"] = "every matured customer had the same outcome: no ROC or PR AUC"
    tiers = rows.groupby("risk_tier", observed=True)["churned"]
    out["by_tier"] = {t: _rate(g) for t, g in sorted(tiers, key=lambda kv: TIER_ORDER.index(str(kv[0])))}
    known = rows[rows["listed"].notna()]
    out["by_list"] = (
        {
            "listed": _rate(known[known["listed"]]["churned"]),
            "unlisted": _rate(known[~known["listed"]]["churned"]),
        }
        if len(known)
        else None
    )
    return out


def stage_figures(rows: pd.DataFrame) -> Json:
    """Accuracy and macro-F1 of the predicted next stage, as training computes them."""
    metrics = label_metrics(rows["actual_stage"].to_numpy(dtype=str), rows["next_stage"].to_numpy(dtype=str))
    return {"rows": len(rows), **{k: _round(metrics[k]) for k in STAGE_TEST}}


class TestFigures:
    """Each model version's out-of-time test metrics, read once from its MLflow run."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cache: dict[tuple[str, str], Json] = {}

    def of(self, name: str, version: str, keys: tuple[str, ...]) -> Json:
        if (name, version) not in self.cache:
            self.cache[name, version] = self._read(name, version, keys)
        return self.cache[name, version]

    def _read(self, name: str, version: str, keys: tuple[str, ...]) -> Json:
        try:
            client = connect(self.settings)
            metrics = client.get_run(str(client.get_model_version(name, version).run_id)).data.metrics
        except Exception as err:  # MLflow's errors have no common base: say why and go on
            return {"missing": f"{name} v{version} not readable in MLflow ({str(err).splitlines()[0]})"}
        return {k: _round(metrics.get(k)) for k in keys}


def churn_alerts(entry: Json, settings: Settings) -> list[str]:
    """Live ROC AUC below the test figure by more than the margin, or live ECE above the bound."""
    live = settings.monitoring.live
    if entry["rows"] < live.min_rows:
        return []
    what = f"churn v{entry['model_version']} as of {entry['as_of']} ({entry['rows']} matured rows)"
    alerts = []
    auc, test_auc = entry.get("roc_auc"), entry["test"].get("roc_auc")
    if auc is not None and test_auc is not None and auc < test_auc - live.roc_auc_margin:
        alerts.append(
            f"{what}: live ROC AUC {auc:.3f} is below the test figure {test_auc:.3f} by more than "
            f"{live.roc_auc_margin} (monitoring.live.roc_auc_margin)"
        )
    if entry.get("ece") is not None and entry["ece"] > live.max_ece:
        alerts.append(
            f"{what}: live ECE {entry['ece']:.3f} is above {live.max_ece} (monitoring.live.max_ece)"
        )
    return alerts


def _groups(rows: pd.DataFrame, model: str) -> list[tuple[str, str, str, pd.DataFrame]]:
    """(as-of date, model name, version, rows) in date order."""
    keys = ["as_of", f"{model}_model", f"{model}_model_version"]
    groups = rows.groupby(keys, observed=True, sort=True)
    return [(str(k[0])[:10], str(k[1]), str(k[2]), g) for k, g in groups]  # the as-of date, YYYY-MM-DD


def churn_live(rows: pd.DataFrame, out: Outcomes, tests: TestFigures, settings: Settings) -> list[Json]:
    joined = rows.merge(out.churn, on=["customer_id", "as_of"], how="inner")
    entries = []
    for day, name, version, group in _groups(joined, "churn"):
        entry = {"as_of": day, "model": name, "model_version": version, **churn_figures(group)}
        entry["test"] = tests.of(name, version, CHURN_TEST)
        entry["judged"] = entry["rows"] >= settings.monitoring.live.min_rows
        entry["alerts"] = churn_alerts(entry, settings)
        entries.append(entry)
    return entries


def stage_live(rows: pd.DataFrame, out: Outcomes, tests: TestFigures) -> list[Json]:
    joined = rows.merge(out.stage, on=["customer_id", "as_of"], how="inner")
    return [
        {"as_of": day, "model": name, "model_version": version, **stage_figures(group)}
        | {"test": tests.of(name, version, STAGE_TEST), "population": STAGE_POPULATION}
        for day, name, version, group in _groups(joined, "stage")
    ]


@dataclass
class Live:
    """The live-accuracy part of `journey monitor`, and the matured rows fairness is judged on."""

    report: Json
    matured: pd.DataFrame  # logged churn predictions with their outcome (`churned`)
    newest: pd.DataFrame  # the newest as-of date's logged predictions


def live_accuracy(settings: Settings) -> Live:
    """Read the prediction log, label what has matured, compare with each version's test figures.

    Says plainly when there is no log yet or nothing has matured; the report then holds what it can.
    """
    empty = pd.DataFrame()
    try:
        log = open_log(settings)
        logged = log.read()
    except PredictionLogError as err:
        return Live({"messages": [str(err)], "alerts": []}, empty, empty)
    rows = latest(logged)
    report: Json = {"prediction_log": log.where, "logged_rows": len(logged), "predictions": len(rows)}
    report["alerts"] = []
    if rows.empty:
        report["messages"] = [
            f"no prediction log yet at {log.where}: run `journey score` or `journey targets` first"
        ]
        return Live(report, empty, empty)
    dates = sorted(rows["as_of"].unique())
    out = outcomes(settings.paths.clean, settings, [pd.Timestamp(d) for d in dates])
    tests = TestFigures(settings)
    report |= {"data_end": str(out.end.date()), "pending": out.pending}
    report["churn"] = churn_live(rows, out, tests, settings)
    report["stage"] = stage_live(rows, out, tests)
    report["alerts"] = [a for e in report["churn"] for a in e["alerts"]]
    report["messages"] = _messages(report, out, settings)
    matured = rows.merge(out.churn, on=["customer_id", "as_of"], how="inner")
    newest = rows[rows["as_of"] == rows["as_of"].max()].reset_index(drop=True)
    return Live(report, matured, newest)


def _messages(report: Json, out: Outcomes, settings: Settings) -> list[str]:
    if report["churn"]:
        return []
    window = settings.labels.prediction_window_days
    waits = ", ".join(f"{d} (closes {c})" for d, c in out.pending.items())
    return [
        f"no logged prediction has a closed {window}-day churn window yet in data up to "
        f"{out.end.date()}: waiting for {waits}"
    ]
