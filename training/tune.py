"""Optional hyperparameter search (`journey train --tune N`): Optuna TPE, one nested MLflow run per trial.

Trials are scored on the validation cutoff (the booster's early-stopping slice), never on the
out-of-time test, so the reported test figures stay honest. The configured parameters are
fitted too, and the search's winner replaces them only when it is strictly better on validation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import mlflow
import numpy as np
import optuna

from core.config import Training
from serving.artifact import ModelInputs
from training.fit import fit_booster

log = logging.getLogger(__name__)
XY = tuple[np.ndarray, np.ndarray]
Progress = Callable[[int, int, float], None]  # (trials done, trials asked, best validation log loss)


@dataclass(frozen=True)
class Tuned:
    """The search's outcome: the best parameters (empty: the configured ones won) and the losses."""

    params: dict[str, Any]
    loss: float
    default_loss: float

    @property
    def improved(self) -> bool:
        return bool(self.params)

    def describe(self) -> str:
        if self.improved:
            loss, default = f"{self.loss:.5f}", f"{self.default_loss:.5f}"
            return f"tuned: validation log loss {loss} vs {default} with the configured parameters"
        return f"configured parameters kept: no trial beat their validation log loss {self.default_loss:.5f}"


def suggest(trial: optuna.Trial) -> dict[str, Any]:
    """The search space: the parameters that matter most for tabular LightGBM, on log scales."""
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 3, 128, log=True),
        "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 10, 400, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
        "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
    }


def valid_loss(booster: lgb.Booster) -> float:
    """The validation log loss at the early-stopping iteration."""
    scores = booster.best_score["valid_0"]
    return float(next(iter(scores.values())))


def tune(
    inputs: ModelInputs,
    train: XY,
    valid: XY,
    cfg: Training,
    n_classes: int,
    trials: int,
    progress: Progress | None = None,
) -> Tuned:
    """Fit the configured parameters, then run `trials` Optuna trials, inside the active MLflow run.

    Returns the best trial's parameters only when they beat the configured ones on validation
    (empty parameters otherwise). `progress` is told after every trial: done, asked, best loss.
    """
    if trials < 1:
        raise ValueError(f"--tune needs at least one trial, got {trials}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def fitted(name: str, params: dict[str, Any] | None) -> float:
        with mlflow.start_run(run_name=name, nested=True):
            booster = fit_booster(inputs, train, valid, cfg, n_classes, overrides=params)
            loss = valid_loss(booster)
            mlflow.log_params(params or {"parameters": "configured"})
            mlflow.log_metrics({"valid_log_loss": loss, "best_iteration": booster.best_iteration})
        log.info("%s: valid log loss %.5f", name, loss)
        return loss

    default_loss = fitted("configured", None)

    def report(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if progress is not None:
            progress(len(study.trials), trials, min(study.best_value, default_loss))

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=cfg.seed))
    study.optimize(lambda t: fitted(f"trial-{t.number}", suggest(t)), n_trials=trials, callbacks=[report])
    better = study.best_value < default_loss
    tuned = Tuned(
        dict(study.best_params) if better else {}, min(study.best_value, default_loss), default_loss
    )
    mlflow.log_params({f"tuned_{k}": v for k, v in tuned.params.items()})
    mlflow.log_metrics({"tuned_valid_log_loss": tuned.loss, "default_valid_log_loss": default_loss})
    mlflow.set_tag("tuning", tuned.describe())
    return tuned
