"""Optional hyperparameter search (`journey train --tune N`): Optuna TPE, one nested MLflow run per trial.

Trials are scored on the validation cutoff (the booster's early-stopping slice), never on the
out-of-time test, so the reported test figures stay honest. The winning parameters override the
configured `training.lightgbm` for the final fit.
"""

from __future__ import annotations

import logging
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


def suggest(trial: optuna.Trial) -> dict[str, Any]:
    """The search space: the parameters that matter most for tabular LightGBM, on log scales."""
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 8, 128, log=True),
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
    inputs: ModelInputs, train: XY, valid: XY, cfg: Training, n_classes: int, trials: int
) -> dict[str, Any]:
    """Run `trials` Optuna trials inside the active MLflow run; return the best parameters."""
    if trials < 1:
        raise ValueError(f"--tune needs at least one trial, got {trials}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial)
        with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True):
            booster = fit_booster(inputs, train, valid, cfg, n_classes, overrides=params)
            loss = valid_loss(booster)
            mlflow.log_params(params)
            mlflow.log_metrics({"valid_log_loss": loss, "best_iteration": booster.best_iteration})
        log.info("trial %d: valid log loss %.5f", trial.number, loss)
        return loss

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=cfg.seed))
    study.optimize(objective, n_trials=trials)
    mlflow.log_params({f"tuned_{k}": v for k, v in study.best_params.items()})
    mlflow.log_metric("tuned_valid_log_loss", study.best_value)
    return dict(study.best_params)
