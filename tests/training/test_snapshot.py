"""Single-snapshot sources: churn by stratified cross-validation on the label date's features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.config import Demographic, Settings
from core.io import write_tables
from training.evaluate import SingleClassError
from training.snapshot import SNAPSHOT_LABELS, is_snapshot_source, train_snapshot

AS_OF = pd.Timestamp("2019-10-01", tz="UTC")


def snapshot_source(folder: Path, n: int, seed: int, one_class: bool = False) -> None:
    """Customers whose contract type and tenure drive churn, with a snapshot label file."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 72, n)
    contract = rng.choice(["month", "year"], n)
    risk = 0.5 * (contract == "month") + 0.4 * (tenure < 12)
    churn = np.zeros(n, dtype=int) if one_class else (rng.random(n) < 0.05 + risk).astype(int)
    ids = [f"T{i:05d}" for i in range(n)]
    created = AS_OF - pd.to_timedelta(tenure * 30, unit="D")
    customers = pd.DataFrame({"customer_id": ids, "created_at": created, "contract": contract})
    empty_ts = pd.Series([], dtype="datetime64[us, UTC]")
    tables = {
        "customers": customers,
        "events": pd.DataFrame({"customer_id": pd.Series([], dtype=str), "ts": empty_ts, "event_type": []}),
        "transactions": pd.DataFrame({"customer_id": pd.Series([], dtype=str), "ts": empty_ts, "amount": []}),
    }
    write_tables(tables, folder)
    labels = pd.DataFrame({"customer_id": ids, "churn": churn, "as_of": AS_OF})
    labels.to_parquet(folder / SNAPSHOT_LABELS, index=False)


def with_contract(settings: Settings) -> Settings:
    return settings.model_copy(update={"demographics": (Demographic(name="contract", kind="categorical"),)})


def test_cross_validation_learns_the_signal_and_reports_logistic_regression(tmp_path: Path, settings):
    snapshot_source(tmp_path / "clean", 1500, seed=1)
    assert is_snapshot_source(tmp_path / "clean")
    result = train_snapshot(tmp_path / "clean", with_contract(settings))
    m = result.metrics
    assert result.rows == 1500
    assert m["lightgbm_roc_auc"] > 0.7
    assert m["logistic_roc_auc"] > 0.7
    assert 0 <= m["lightgbm_roc_auc_sd"] < 0.1


def test_one_class_snapshot_is_a_clear_error(tmp_path: Path, settings):
    snapshot_source(tmp_path / "clean", 200, seed=2, one_class=True)
    with pytest.raises(SingleClassError, match="only one class"):
        train_snapshot(tmp_path / "clean", with_contract(settings))
