"""Fit LightGBM boosters on encoded training sets."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np

from features.config import Training
from features.encoding import ModelInputs


def booster_params(cfg: Training, n_classes: int) -> dict[str, Any]:
    """LightGBM parameters: binary for churn, multiclass for the next stage."""
    objective: dict[str, Any] = (
        {"objective": "binary", "metric": "binary_logloss"}
        if n_classes == 2
        else {"objective": "multiclass", "num_class": n_classes, "metric": "multi_logloss"}
    )
    return {**cfg.lightgbm, **objective, "seed": cfg.seed, "deterministic": True, "verbose": -1}


def fit_booster(
    inputs: ModelInputs,
    train: tuple[np.ndarray, np.ndarray],
    valid: tuple[np.ndarray, np.ndarray],
    cfg: Training,
    n_classes: int,
) -> lgb.Booster:
    """Train with early stopping on the validation cutoff."""
    cats = inputs.categorical_indices
    names = list(inputs.features)
    dtrain = lgb.Dataset(
        train[0], train[1], feature_name=names, categorical_feature=cats, free_raw_data=False
    )
    dvalid = lgb.Dataset(valid[0], valid[1], reference=dtrain, categorical_feature=cats)
    return lgb.train(
        booster_params(cfg, n_classes),
        dtrain,
        num_boost_round=cfg.num_boost_round,
        valid_sets=[dvalid],
        callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)],
    )
