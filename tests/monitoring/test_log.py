"""The prediction log: rows of a scoring run, Parquet appends that land whole or not at all, PostgreSQL."""

from __future__ import annotations

import getpass
import uuid
from pathlib import Path

import pandas as pd
import pytest

from core.config import PredictionLogStore, Settings
from monitoring.log import (
    COLUMNS,
    ParquetLog,
    PostgresLog,
    PredictionLogError,
    log_predictions,
    prediction_rows,
)

AS_OF = pd.Timestamp("2024-06-01", tz="UTC")
VERSIONS = {"churn": "3", "next_stage": "2"}


def scores(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "churn_probability": [0.1 + 0.2 * i for i in range(n)],
            "risk_tier": ["low", "low", "medium", "high"][:n],
            "current_stage": "retention",
            "next_stage": "churned",
            "next_stage_probability": 0.6,
            "customer_value": 10.0,  # not logged
        }
    )


def test_rows_say_who_was_listed_with_which_action():
    listed = pd.DataFrame({"customer_id": ["c3"], "recommended_action": ["call"]})
    rows = prediction_rows(scores(), AS_OF, VERSIONS, "targets", listed)
    assert list(rows.columns) == list(COLUMNS)
    assert rows["listed"].tolist() == [False, False, False, True]
    assert rows["action"].iloc[3] == "call" and rows["action"].iloc[:3].isna().all()
    assert (rows["churn_model_version"] == "3").all() and (rows["stage_model"] == "next_stage").all()
    assert (rows["as_of"] == AS_OF).all() and rows["run_id"].nunique() == 1


def test_a_scoring_without_a_list_leaves_listed_unknown():
    rows = prediction_rows(scores(), AS_OF, VERSIONS, "score")
    assert rows["listed"].isna().all() and rows["action"].isna().all()


def test_scores_without_a_predicted_column_are_refused():
    with pytest.raises(ValueError, match="next_stage_probability"):
        prediction_rows(scores().drop(columns="next_stage_probability"), AS_OF, VERSIONS, "score")


def test_parquet_runs_append_one_file_each_under_their_as_of(tmp_path: Path):
    log = ParquetLog(tmp_path / "predictions")
    first = prediction_rows(scores(), AS_OF, VERSIONS, "score")
    second = prediction_rows(scores(2), AS_OF + pd.DateOffset(months=1), VERSIONS, "score")
    log.append(first)
    log.append(second)
    files = sorted((tmp_path / "predictions").rglob("*"))
    assert [p.relative_to(tmp_path / "predictions").parts[0] for p in files if p.is_file()] == [
        "2024-06-01",
        "2024-07-01",
    ]
    back = log.read()
    pd.testing.assert_frame_equal(back, pd.concat([first, second], ignore_index=True))


def test_a_failed_append_leaves_no_partial_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    log = ParquetLog(tmp_path / "predictions")
    kept = prediction_rows(scores(), AS_OF, VERSIONS, "score")
    log.append(kept)

    def dies_half_way(self: pd.DataFrame, path: Path, **kwargs: object) -> None:
        Path(path).write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", dies_half_way)
    with pytest.raises(OSError, match="disk full"):
        log.append(prediction_rows(scores(), AS_OF, VERSIONS, "targets"))
    monkeypatch.undo()
    pd.testing.assert_frame_equal(log.read(), kept)
    assert [p.name for p in (tmp_path / "predictions").rglob("*") if p.is_file()] == [
        f"{kept['run_id'].iloc[0]}.parquet"
    ]


def test_no_log_yet_reads_as_no_rows(tmp_path: Path):
    assert ParquetLog(tmp_path / "nothing").read().empty


def test_the_default_log_lives_under_the_workdir(settings: Settings):
    log = log_predictions(settings, scores(), AS_OF, VERSIONS, "score")
    assert Path(log.where) == settings.paths.workdir / "predictions"
    assert len(log.read()) == 4


def test_a_postgres_store_needs_its_dsn():
    with pytest.raises(ValueError, match="postgres_dsn"):
        PredictionLogStore(store="postgres")


def test_an_unreachable_postgres_is_named_without_its_password():
    log = PostgresLog("postgresql://journey:secret@127.0.0.1:1/test", "prediction_log")
    with pytest.raises(PredictionLogError) as err:
        log.read()
    assert "127.0.0.1:1/test is unreachable" in str(err.value) and "secret" not in str(err.value)


@pytest.mark.postgres
def test_postgres_runs_append_and_read_back_as_parquet_does(unavailable):
    import psycopg

    dsn = _reachable(unavailable)
    table = f"prediction_log_{uuid.uuid4().hex[:10]}"
    log = PostgresLog(dsn, table)
    listed = pd.DataFrame({"customer_id": ["c1"], "recommended_action": ["call"]})
    runs = [
        prediction_rows(scores(), AS_OF, VERSIONS, "score"),
        prediction_rows(scores(3), AS_OF, VERSIONS, "targets", listed),
    ]
    try:
        for run in runs:
            log.append(run)
        back = log.read().sort_values(["run_id", "customer_id"], ignore_index=True)
        expected = pd.concat(runs).sort_values(["run_id", "customer_id"], ignore_index=True)
        pd.testing.assert_frame_equal(back, expected)
    finally:
        with psycopg.connect(dsn, autocommit=True) as con:
            con.execute(f"DROP TABLE IF EXISTS {table}")


def _reachable(unavailable) -> str:
    import psycopg

    tried = []
    for user in dict.fromkeys(("postgres", getpass.getuser())):
        dsn = f"postgresql://{user}@127.0.0.1:5432/test"
        try:
            with psycopg.connect(dsn, connect_timeout=3):
                return dsn
        except psycopg.Error as err:
            tried.append(f"{user}: {str(err).strip().splitlines()[0]}")
    return unavailable(f"PostgreSQL not reachable on 127.0.0.1:5432 ({'; '.join(tried)})")
