"""The uplift model in MLflow: a pyfunc wrapping the fitted learner, its metrics and Qini plot.

Registered as `uplift`; the first version becomes the champion, later ones the challenger (as the
churn and stage models), and targeting.uplift.load_uplift loads `models:/uplift@champion`.
"""

from __future__ import annotations

import logging
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from mlflow import MlflowClient
from mlflow.pyfunc import PythonModel

from core.schema import CHALLENGER, CHAMPION
from targeting.uplift import UPLIFT_MODEL, UpliftReport, UpliftScorer, qini_curve, true_effect
from training.registry import Registered, alias_version

log = logging.getLogger(__name__)
PLOTTED = ("x_learner", "t_learner", "churn_probability", "true_uplift")


class UpliftPyfunc(PythonModel):
    """pyfunc face of an UpliftScorer: predict(frame of features) -> uplift per row."""

    def __init__(self, scorer: UpliftScorer) -> None:
        self.scorer = scorer

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> np.ndarray:
        return self.scorer.predict(model_input)


def qini_figure(report: UpliftReport) -> Figure:
    """Qini curves of the rankings on the held-out campaign rows, with the random line."""
    fig = Figure(figsize=(5.5, 4.5), dpi=100)
    ax = fig.subplots()
    ax.set(
        title="Qini, held-out campaigns",
        xlabel="share of campaign rows targeted",
        ylabel="churns prevented per treated row",
    )
    ax.grid(alpha=0.3)
    s = report.scores
    y, t = s["churn"].to_numpy(), s["treated"].to_numpy()
    end = 0.0
    for name in (n for n in PLOTTED if n in s):
        score = s[name] if name != "true_uplift" else true_effect(s[name], s["churn_probability"])
        x, q = qini_curve(y, t, score)
        ax.plot(x, q, label=name)
        end = float(q[-1])
    ax.plot([0, 1], [0, end], "k:", lw=1, label="random")
    ax.legend(loc="best", fontsize=8)
    return fig


def report_metrics(report: UpliftReport) -> dict[str, float]:
    """Flat MLflow metrics: Qini and uplift at k per ranking, value saved per ranking and budget."""
    metrics: dict[str, float] = {
        "n_train": float(report.n_train),
        "n_test": float(report.n_test),
        "churn_roc_auc": report.churn_auc,
    }
    for row in report.rankings.to_dict("records"):
        name = row.pop("ranking")
        metrics.update({f"{key}_{name}": float(value) for key, value in row.items()})
    for row in report.value.to_dict("records"):
        pct = round(row["budget"] * 100)
        for kind in ("estimated_value", "true_value"):
            if np.isfinite(row[kind]):
                metrics[f"{kind}_at_{pct}_{row['ranking']}"] = float(row[kind])
    return {k: v for k, v in metrics.items() if np.isfinite(v)}


def log_uplift(client: MlflowClient, report: UpliftReport, tags: dict[str, str]) -> Registered:
    """Log the report (metrics, Qini plot, tables) and the model in the active run; register it.

    `client` is the one `training.registry.tracked_run` yields, which sets the aliases.
    """
    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("log_uplift needs an active MLflow run (training.registry.tracked_run)")
    mlflow.log_params({"learner": report.model.name, "n_features": len(report.model.inputs.features)})
    mlflow.log_metrics(report_metrics(report))
    mlflow.set_tags({**tags, "test_campaigns": ",".join(report.test_campaigns)})
    mlflow.log_figure(qini_figure(report), "plots/qini.png")
    mlflow.log_text(report.rankings.to_csv(index=False), "uplift_rankings.csv")
    mlflow.log_text(report.value.to_csv(index=False), "value_at_budget.csv")
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=UpliftPyfunc(report.model),
        registered_model_name=UPLIFT_MODEL,
        metadata=report.model.inputs.to_metadata(),
    )
    version = str(info.registered_model_version)
    first = alias_version(client, UPLIFT_MODEL, CHAMPION) is None
    client.set_registered_model_alias(UPLIFT_MODEL, CHALLENGER, version)
    if first:
        client.set_registered_model_alias(UPLIFT_MODEL, CHAMPION, version)
    log.info("registered %s version %s (champion: %s)", UPLIFT_MODEL, version, first)
    return Registered(name=UPLIFT_MODEL, version=version, run_id=run.info.run_id, champion=first)
