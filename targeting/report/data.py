"""`journey report`: gather what a marketer needs into one dataclass and write it as one HTML file.

The gathering is the framework edge (feature tables, the MLflow registry and run artifacts, the
newest target list) and fills targeting.report.model.ReportData; the summaries are pure
(targeting.report.tables) and so is the page (targeting.report.context, then the Jinja2 templates
rendered by targeting.report.render).
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from unittest import mock

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from core.config import Settings
from core.registry import connect
from features.build import TIMESTAMP
from features.catalog import by_name
from serving.batch import active, load_scorer, newest_features
from serving.scoring import Scorer
from targeting.report.model import ModelInfo, ReportData, TargetList
from targeting.report.render import render
from training.train import TEST_PREDICTIONS

log = logging.getLogger(__name__)
REASON_SAMPLE = 2000  # TreeSHAP is costly per row: per-segment reasons use the riskiest customers only
LIST_HEAD = 25
TARGET_FILES = ("targets.csv", "at_risk.csv")  # `journey targets` output, newest first on a tie
LIST_COLUMNS = (
    "rank",
    "customer_id",
    "churn_probability",
    "risk_tier",
    "current_stage",
    "next_stage",
    "customer_value",
    "expected_value_at_risk",
    "expected_value_saved_net",
    "reason_1",
    "reason_2",
    "reason_3",
    "recommended_action",
    "contact_channel",
)


def reason_sample(scorer: Scorer, feats: pd.DataFrame, scores: pd.DataFrame, n: int) -> pd.DataFrame:
    """Segment columns and the top 3 reason features of the n customers most at risk."""
    top = scores["churn_probability"].sort_values(ascending=False, kind="stable").index[:n]
    rows = feats.loc[top].reset_index(drop=True)
    reasons = scorer.reasons(scorer.churn.inputs.matrix(rows), rows, range(len(rows)), 3)
    out = scores.loc[top, ["customer_id", "current_stage", "risk_tier", "churn_probability"]]
    out = out.reset_index(drop=True)
    for k in range(3):
        out[f"reason_{k + 1}"] = [r[k].feature if len(r) > k else None for r in reasons]
    return out


def model_info(client: MlflowClient, name: str, version: str) -> ModelInfo:
    mv = client.get_model_version(name, version)
    run_tags = client.get_run(str(mv.run_id)).data.tags
    lineage: dict[str, str] = {
        k: run_tags[k] for k in ("source", "data_as_of", "train_cutoffs", "test_cutoffs") if k in run_tags
    }
    aliases = tuple(sorted(mv.aliases or ()))
    return ModelInfo(name, version, aliases, dict(mv.tags or {}), str(mv.run_id), lineage)


def run_artifact(client: MlflowClient, run_id: str, file: str, folder: Path) -> Path | None:
    """A run's artifact downloaded into `folder`, or None when the run did not log it."""
    try:
        dst = folder / run_id
        dst.mkdir(exist_ok=True)
        return Path(client.download_artifacts(run_id, file, str(dst)))
    except (mlflow.exceptions.MlflowException, OSError) as err:
        log.warning("run %s has no %s (%s): its section is left out", run_id, file, err)
        return None


def _read_parquet(path: Path | None) -> pd.DataFrame | None:
    return None if path is None else pd.read_parquet(path)


def _read_importance(path: Path | None) -> pd.Series | None:
    return None if path is None else pd.read_csv(path, index_col=0).iloc[:, 0]


def newest_target_list(folder: Path, head: int = LIST_HEAD) -> TargetList | None:
    """The head of the newest target list in the outputs folder (targets.csv or at_risk.csv)."""
    files = [folder / name for name in TARGET_FILES if (folder / name).is_file()]
    if not files:
        return None
    path = max(files, key=lambda p: p.stat().st_mtime)
    table = pd.read_csv(path, dtype={"customer_id": str})
    keep = [c for c in LIST_COLUMNS if c in table.columns]
    return TargetList(path.name, table.head(head)[keep].reset_index(drop=True), len(table))


def gather(settings: Settings, reason_rows: int = REASON_SAMPLE) -> ReportData:
    """Score the active customers now and collect the champions' out-of-time evidence."""
    feats = active(newest_features(settings))  # FileNotFoundError names `journey features build`
    scorer = load_scorer(settings)  # ModelNotFound names `journey train`
    scores = scorer.score_frame(feats)
    client = connect(settings)
    models = tuple(model_info(client, name, version) for name, version in scorer.versions.items())
    churn, stage = models
    quiet = mock.patch.dict(os.environ, {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"})
    with tempfile.TemporaryDirectory(prefix="journey-report-") as tmp, quiet:
        folder = Path(tmp)
        churn_test = _read_parquet(run_artifact(client, churn.run_id, TEST_PREDICTIONS, folder))
        stage_test = _read_parquet(run_artifact(client, stage.run_id, TEST_PREDICTIONS, folder))
        importance = _read_importance(run_artifact(client, churn.run_id, "importance.csv", folder))
    return ReportData(
        as_of=pd.Timestamp(feats[TIMESTAMP].max()),
        scores=scores,
        reasons=reason_sample(scorer, feats, scores, reason_rows),
        churn_test=churn_test,
        stage_test=stage_test,
        importance=importance,
        models=models,
        targets=newest_target_list(settings.paths.outputs_dir),
        tiers=settings.serving.risk_tiers,
        window_days=settings.labels.prediction_window_days,
        descriptions={name: f.description for name, f in by_name(settings.demographics).items()},
    )


def write_report(settings: Settings, out: Path | None = None) -> Path:
    """Render the report and write it atomically (a temporary name, then rename)."""
    target = out or settings.paths.outputs_dir / "report.html"
    html = render(gather(settings))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(target)
    return target
