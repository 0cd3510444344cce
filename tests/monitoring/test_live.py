"""Live accuracy: figures of matured predictions, alerts, and `journey monitor` on a trained project."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, average_precision_score, f1_score, roc_auc_score
from typer.testing import CliRunner

from core.config import Settings, load_settings
from core.registry import connect
from monitoring.live import churn_alerts, churn_figures, latest
from pipelines.cli import app
from pipelines.cli.monitor import ALERT_EXIT
from training.calibrate import expected_calibration_error

runner = CliRunner()
OLD = "2024-08-01"  # the test project's data end 2025-01-01: this as-of's 90-day window has closed


def matured(n: int = 400, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 1, n)
    return pd.DataFrame(
        {
            "churn_probability": p,
            "churned": (rng.uniform(0, 1, n) < p).astype(int),
            "risk_tier": np.where(p >= 0.5, "high", np.where(p >= 0.25, "medium", "low")),
            "listed": pd.array(p >= 0.8, dtype="boolean"),
        }
    )


def test_churn_figures_are_the_metrics_of_the_matured_rows():
    rows = matured()
    y, p = rows["churned"].to_numpy(), rows["churn_probability"].to_numpy()
    got = churn_figures(rows)
    assert got["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-4)
    assert got["pr_auc"] == pytest.approx(average_precision_score(y, p), abs=1e-4)
    assert got["ece"] == pytest.approx(expected_calibration_error(y, p), abs=1e-4)
    assert list(got["by_tier"]) == ["high", "medium", "low"]
    high = rows[rows["risk_tier"] == "high"]
    assert got["by_tier"]["high"] == {"rows": len(high), "churn_rate": round(high["churned"].mean(), 4)}
    listed = rows[rows["listed"].astype(bool)]
    assert got["by_list"]["listed"]["rows"] == len(listed)
    assert got["by_list"]["listed"]["churn_rate"] == pytest.approx(listed["churned"].mean(), abs=1e-4)


def test_one_outcome_only_gives_no_auc_and_says_why():
    rows = matured().assign(churned=0, listed=pd.array([None] * 400, dtype="boolean"))
    got = churn_figures(rows)
    assert got["roc_auc"] is None and "same outcome" in got["note"] and got["by_list"] is None


def entry(rows: int, auc: float, ece: float) -> dict:
    return {"as_of": "2024-08-01", "model_version": "1", "rows": rows, "roc_auc": auc, "ece": ece} | {
        "test": {"roc_auc": 0.80}
    }


def test_alerts_fire_on_a_roc_auc_drop_beyond_the_margin_or_a_high_ece(settings: Settings):
    assert churn_alerts(entry(500, 0.76, 0.05), settings) == []  # within the 0.05 margin
    (drop,) = churn_alerts(entry(500, 0.74, 0.05), settings)
    assert "live ROC AUC 0.740 is below the test figure 0.800" in drop
    (ece,) = churn_alerts(entry(500, 0.79, 0.2), settings)
    assert "live ECE 0.200 is above 0.1" in ece
    assert churn_alerts(entry(99, 0.5, 0.5), settings) == []  # fewer than min_rows: not judged


def test_a_run_that_knows_the_list_wins_over_a_plain_scoring():
    base = {"as_of": pd.Timestamp("2024-08-01", tz="UTC"), "customer_id": "c1"}
    base |= {"churn_model_version": "1", "stage_model_version": "1"}
    log = pd.DataFrame(
        [
            base | {"listed": True, "logged_at": pd.Timestamp("2024-08-02", tz="UTC"), "source": "targets"},
            base | {"listed": None, "logged_at": pd.Timestamp("2024-08-03", tz="UTC"), "source": "score"},
        ]
    ).astype({"listed": "boolean"})
    assert latest(log)["source"].tolist() == ["targets"]


def _monitor(config: Path) -> tuple[int, str, dict]:
    result = runner.invoke(app, ["-c", str(config), "monitor"])
    out = load_settings(config).paths.outputs_dir / "monitor.json"
    return result.exit_code, " ".join(result.output.split()), json.loads(out.read_text())


def _by_hand(settings: Settings) -> pd.DataFrame:
    """The logged churn predictions of OLD with churned = no purchase in [OLD, OLD + 90 days), in pandas."""
    log = pd.concat(pd.read_parquet(f) for f in (settings.paths.workdir / "predictions").glob("*/*.parquet"))
    log = log[log["source"] == "targets"]
    t = pd.Timestamp(OLD, tz="UTC")
    tx = pd.read_parquet(settings.paths.clean / "transactions.parquet")
    bought = tx[(tx["amount"] > 0) & (tx["ts"] >= t) & (tx["ts"] < t + pd.Timedelta(days=90))]
    return log.assign(churned=(~log["customer_id"].isin(bought["customer_id"])).astype(int))


def _stages_later(settings: Settings) -> pd.DataFrame:
    """The stage 30 days after OLD of every customer, by the training label code (the stage rules are
    features/stages.py's; re-deriving them here would test a copy)."""
    from features.tables import connect as duckdb
    from features.tables import open_tables
    from training.labels import stage_labels

    src = open_tables(duckdb(), settings.paths.clean)
    frame = stage_labels(src, [pd.Timestamp(OLD, tz="UTC")], settings).execute()
    return frame[["customer_id", "next_stage"]].rename(columns={"next_stage": "actual"})


def test_monitor_reports_live_accuracy_of_an_old_scoring(trained_copy):
    config, settings = trained_copy.config, trained_copy.settings
    shutil.rmtree(settings.paths.workdir / "predictions", ignore_errors=True)
    code, output, report = _monitor(config)
    # drift and fairness judge the generated data too (its customer base ages: tenure drifts), so
    # the exit code follows every part's alerts; this test is about the live part's
    assert "no prediction log yet" in output and report["live"]["alerts"] == []
    assert code == (ALERT_EXIT if report["alerts"] else 0)

    assert runner.invoke(app, ["-c", str(config), "score"]).exit_code == 0
    code, output, report = _monitor(config)
    assert "no logged prediction has a closed 90-day churn window" in output
    assert report["live"]["alerts"] == [] and code == (ALERT_EXIT if report["alerts"] else 0)
    assert report["live"]["churn"] == [] and len(report["live"]["pending"]) == 1

    listed = runner.invoke(app, ["-c", str(config), "targets", "--as-of", OLD, "--capacity", "30"])
    assert listed.exit_code == 0, listed.output
    code, output, report = _monitor(config)
    (churn,) = report["live"]["churn"]
    hand = _by_hand(settings)
    y, p = hand["churned"].to_numpy(), hand["churn_probability"].to_numpy()
    assert churn["as_of"] == OLD and churn["rows"] == len(hand)
    assert churn["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-4)
    assert churn["pr_auc"] == pytest.approx(average_precision_score(y, p), abs=1e-4)
    assert churn["ece"] == pytest.approx(expected_calibration_error(y, p), abs=1e-4)
    assert churn["by_list"]["listed"]["rows"] == 30
    on_list = hand[hand["listed"]]
    assert churn["by_list"]["listed"]["churn_rate"] == pytest.approx(on_list["churned"].mean(), abs=1e-4)
    client = connect(settings)
    run = client.get_model_version("churn", churn["model_version"]).run_id
    assert churn["test"]["roc_auc"] == pytest.approx(client.get_run(run).data.metrics["roc_auc"], abs=1e-4)
    assert f"churn v{churn['model_version']} as of {OLD}" in output
    (stage,) = [s for s in report["live"]["stage"] if s["as_of"] == OLD]
    actual = _stages_later(settings).merge(hand, on="customer_id")
    assert stage["rows"] == len(actual) > 0
    accuracy = accuracy_score(actual["actual"], actual["next_stage"])
    assert stage["accuracy"] == pytest.approx(accuracy, abs=1e-4)
    f1 = f1_score(actual["actual"], actual["next_stage"], average="macro")
    assert stage["macro_f1"] == pytest.approx(f1, abs=1e-4)

    strict = config.read_text().replace("max_ece: 0.1 ", "max_ece: 0.0001 ")
    config.write_text(strict)
    code, output, report = _monitor(config)
    assert code == ALERT_EXIT and re.search(r"ALERT churn v\d+ as of 2024-08-01.*live ECE", output)
    assert report["live"]["alerts"] and "monitoring.live.max_ece" in report["live"]["alerts"][0]
    assert report["alerts"][0] == report["live"]["alerts"][0]  # live alerts come first
