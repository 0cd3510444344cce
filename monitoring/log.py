"""The prediction log: what every batch scoring predicted, appended atomically to Parquet or PostgreSQL.

Serving and targeting append here at the end of a successful run; `journey monitor` reads it back
(monitoring/live.py). This module imports nothing of Journey but core, so serving may call it
without reaching training. docs/monitoring.md, "Prediction log".
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from core.config import PredictionLogStore, Settings
from core.schema import CHURN_MODEL, STAGE_MODEL

if TYPE_CHECKING:
    import psycopg

FOLDER = "predictions"  # <workdir>/predictions/<as-of date>/<run id>.parquet
# column -> (pandas dtype, PostgreSQL type); the order is the log's
COLUMNS: dict[str, tuple[str, str]] = {
    "as_of": ("datetime64[us, UTC]", "timestamptz"),
    "customer_id": ("string", "text"),
    "churn_model": ("string", "text"),
    "churn_model_version": ("string", "text"),
    "stage_model": ("string", "text"),
    "stage_model_version": ("string", "text"),
    "churn_probability": ("float64", "double precision"),
    "risk_tier": ("string", "text"),
    "current_stage": ("string", "text"),
    "next_stage": ("string", "text"),
    "next_stage_probability": ("float64", "double precision"),
    "listed": ("boolean", "boolean"),  # null: the run made no list (journey score)
    "action": ("string", "text"),  # the listed customer's recommended action
    "source": ("string", "text"),  # score, targets (or api)
    "run_id": ("string", "text"),
    "logged_at": ("datetime64[us, UTC]", "timestamptz"),
}
SCORED = (
    "customer_id",
    "churn_probability",
    "risk_tier",
    "current_stage",
    "next_stage",
    "next_stage_probability",
)


class PredictionLogError(RuntimeError):
    """The log cannot be written or read (e.g. PostgreSQL unreachable); the message says which and why."""


class PredictionLog(Protocol):
    """One writer interface for every store: append a run's rows all or nothing, read them all back."""

    where: str

    def append(self, rows: pd.DataFrame) -> None: ...

    def read(self) -> pd.DataFrame: ...


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """The log's columns in order with the log's types, whichever store the rows came from."""
    out = pd.DataFrame({c: frame.get(c) for c in COLUMNS}, index=frame.index)
    for name, (dtype, _) in COLUMNS.items():
        column = pd.to_datetime(out[name], utc=True) if dtype.startswith("datetime") else out[name]
        out[name] = column.astype(dtype)  # type: ignore[call-overload]
    return out.reset_index(drop=True)


def prediction_rows(
    scores: pd.DataFrame,
    as_of: pd.Timestamp,
    versions: Mapping[str, str],
    source: str,
    listed: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The log rows of one scoring run: `scores` holds every scored customer (SCORED columns); `listed`,
    when the run made a list, its customer_id and recommended_action (everyone else is unlisted)."""
    missing = [c for c in SCORED if c not in scores]
    if missing:
        raise ValueError(f"prediction log: the scores lack {missing}")
    rows = scores[list(SCORED)].copy()
    rows["as_of"] = pd.Timestamp(as_of)
    rows["churn_model"], rows["churn_model_version"] = CHURN_MODEL, str(versions[CHURN_MODEL])
    rows["stage_model"], rows["stage_model_version"] = STAGE_MODEL, str(versions[STAGE_MODEL])
    if listed is not None:
        actions = listed.set_index("customer_id")["recommended_action"]
        rows["listed"] = rows["customer_id"].isin(actions.index)
        rows["action"] = rows["customer_id"].map(actions)
    rows["source"] = source
    rows["run_id"] = uuid.uuid4().hex
    rows["logged_at"] = pd.Timestamp.now(tz="UTC")
    return typed(rows)


class ParquetLog:
    """One new file per run in a folder per as-of date, written under a hidden name and renamed in:
    a run that fails leaves no rows, and readers never see a half-written file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.where = str(folder)

    def append(self, rows: pd.DataFrame) -> None:
        rows = typed(rows)
        day = rows["as_of"].max().strftime("%Y-%m-%d") if len(rows) else "empty"
        target = self.folder / day / f"{rows['run_id'].iloc[0] if len(rows) else uuid.uuid4().hex}.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_name(f".{target.name}.tmp")
        try:
            rows.to_parquet(staged, index=False)
            os.replace(staged, target)
        finally:
            staged.unlink(missing_ok=True)

    def read(self) -> pd.DataFrame:
        files = sorted(p for p in self.folder.glob("*/*.parquet") if not p.name.startswith("."))
        if not files:
            return typed(pd.DataFrame(columns=list(COLUMNS)))
        return typed(pd.concat([pd.read_parquet(f) for f in files], ignore_index=True))


class PostgresLog:
    """A table in PostgreSQL; each run's rows go in one transaction (COPY), so they land together or not."""

    def __init__(self, dsn: str, table: str) -> None:
        self.dsn, self.table = dsn, table
        self.where = f"PostgreSQL table {table} at {_server(dsn)}"

    def append(self, rows: pd.DataFrame) -> None:
        rows = typed(rows).astype(object).where(lambda f: f.notna(), None)
        names = ", ".join(COLUMNS)
        with self._connect() as con, con.cursor() as cur:
            cur.execute(self._create())
            with cur.copy(f"COPY {self.table} ({names}) FROM STDIN") as copy:
                for row in rows.itertuples(index=False, name=None):
                    copy.write_row(row)

    def read(self) -> pd.DataFrame:
        with self._connect() as con, con.cursor() as cur:
            cur.execute(self._create())
            cur.execute(f"SELECT {', '.join(COLUMNS)} FROM {self.table}")
            return typed(pd.DataFrame(cur.fetchall(), columns=list(COLUMNS)))

    def _create(self) -> str:
        columns = ", ".join(f"{name} {kind}" for name, (_, kind) in COLUMNS.items())
        return f"CREATE TABLE IF NOT EXISTS {self.table} ({columns})"

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        import psycopg

        try:
            return psycopg.connect(self.dsn, connect_timeout=5)
        except psycopg.Error as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise PredictionLogError(f"prediction log: {self.where} is unreachable ({first})") from err


def _server(dsn: str) -> str:
    """host:port/database of a DSN, never its password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(dsn)
    except Exception:
        return "the configured monitoring.log.postgres_dsn"
    return f"{parts.get('host', 'localhost')}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"


def open_log(settings: Settings) -> PredictionLog:
    """The configured store: Parquet under the workdir (default) or a PostgreSQL table."""
    config: PredictionLogStore = settings.monitoring.log
    if config.store == "postgres":
        return PostgresLog(str(config.postgres_dsn), config.table)
    return ParquetLog(settings.paths.workdir / FOLDER)


def log_predictions(
    settings: Settings,
    scores: pd.DataFrame,
    as_of: pd.Timestamp,
    versions: Mapping[str, str],
    source: str,
    listed: pd.DataFrame | None = None,
) -> PredictionLog:
    """Append one scoring run to the configured log (all its rows or none); the log it went to."""
    log = open_log(settings)
    log.append(prediction_rows(scores, as_of, versions, source, listed))
    return log
