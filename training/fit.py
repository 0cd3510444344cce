"""Fit LightGBM boosters on encoded training sets."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np

from core.config import Training
from serving.artifact import ModelInputs


def booster_params(
    cfg: Training,
    n_classes: int,
    features: tuple[str, ...] = (),
    overrides: dict[str, Any] | None = None,
    large: bool = False,
) -> dict[str, Any]:
    """LightGBM parameters: binary for churn (with its monotone constraints), multiclass for the stage.

    Precedence: lightgbm < stage_lightgbm < large_data.lightgbm (when `large`) < overrides (tuning).
    """
    objective: dict[str, Any] = (
        {"objective": "binary", "metric": "binary_logloss"}
        if n_classes == 2
        else {"objective": "multiclass", "num_class": n_classes, "metric": "multi_logloss"}
    )
    per_task = cfg.stage_lightgbm if n_classes > 2 else {}
    per_size = cfg.large_data.lightgbm if large else {}
    params = {**cfg.lightgbm, **per_task, **per_size, **(overrides or {}), **objective}
    if n_classes == 2 and set(cfg.churn_monotone) & set(features):  # e.g. absent on snapshot sources
        params["monotone_constraints"] = [cfg.churn_monotone.get(f, 0) for f in features]
        params["monotone_constraints_method"] = "intermediate"  # "advanced" gave the same AUC far slower
    return {**params, "seed": cfg.seed, "deterministic": True, "verbose": -1}


def fit_booster(
    inputs: ModelInputs,
    train: tuple[np.ndarray, np.ndarray],
    valid: tuple[np.ndarray, np.ndarray],
    cfg: Training,
    n_classes: int,
    overrides: dict[str, Any] | None = None,
) -> lgb.Booster:
    """Train with early stopping on the validation cutoff (large sets: see core.config.LargeData)."""
    cats = inputs.categorical_indices
    names = list(inputs.features)
    large = is_large(len(train[1]), cfg)
    x, y = fit_sample(train, cfg.large_data.max_fit_rows if large else None, cfg.seed)
    dtrain = lgb.Dataset(x, y, feature_name=names, categorical_feature=cats, free_raw_data=False)
    dvalid = lgb.Dataset(valid[0], valid[1], reference=dtrain, categorical_feature=cats)
    return lgb.train(
        booster_params(cfg, n_classes, inputs.features, overrides, large),
        dtrain,
        num_boost_round=cfg.num_boost_round,
        valid_sets=[dvalid],
        callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)],
    )


def is_large(rows: int, cfg: Training) -> bool:
    return rows >= cfg.large_data.rows


def fit_rows(rows: int, cfg: Training) -> int:
    """How many of `rows` training rows the booster is fitted on."""
    cap = cfg.large_data.max_fit_rows if is_large(rows, cfg) else None
    return rows if cap is None else min(rows, cap)


def fit_sample(
    train: tuple[np.ndarray, np.ndarray], max_rows: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """At most `max_rows` training rows, a seeded uniform sample in their original order."""
    x, y = train
    if max_rows is None or len(y) <= max_rows:
        return x, y
    keep = np.sort(np.random.default_rng(seed).choice(len(y), size=max_rows, replace=False))
    return x[keep], y[keep]
