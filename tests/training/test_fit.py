"""The booster's parameters and the large-data schedule (sample and overrides) of training.fit."""

from __future__ import annotations

import numpy as np

from core.config import LargeData, Training
from serving.artifact import ModelInputs
from training.fit import booster_params, fit_booster, fit_rows, fit_sample


def _cfg(**large: object) -> Training:
    return Training(
        num_boost_round=5,
        early_stopping_rounds=5,
        lightgbm={"learning_rate": 0.03, "num_threads": 1},
        stage_lightgbm={"learning_rate": 0.2},
        large_data=LargeData(**large),  # type: ignore[arg-type]
    )


def test_large_overrides_come_after_the_task_and_before_tuning():
    cfg = _cfg(rows=10, lightgbm={"learning_rate": 0.1, "max_bin": 63})
    assert booster_params(cfg, 2)["learning_rate"] == 0.03
    assert booster_params(cfg, 2, large=True)["learning_rate"] == 0.1
    assert booster_params(cfg, 6)["learning_rate"] == 0.2
    assert booster_params(cfg, 6, large=True)["max_bin"] == 63
    assert booster_params(cfg, 6, overrides={"learning_rate": 0.05}, large=True)["learning_rate"] == 0.05


def test_fit_sample_is_seeded_ordered_and_capped():
    x = np.arange(100, dtype=np.float64).reshape(50, 2)
    y = np.arange(50)
    a, ya = fit_sample((x, y), 20, seed=1)
    b, _ = fit_sample((x, y), 20, seed=1)
    assert len(ya) == 20 and np.array_equal(a, b) and np.all(np.diff(ya) > 0)
    assert np.array_equal(a[:, 0], ya * 2)  # rows stay aligned with their labels
    assert fit_sample((x, y), None, seed=1)[0] is x and fit_sample((x, y), 80, seed=1)[0] is x


def test_fit_rows_only_caps_from_the_threshold_on():
    cfg = _cfg(rows=1000, max_fit_rows=300)
    assert fit_rows(999, cfg) == 999 and fit_rows(1000, cfg) == 300
    assert fit_rows(5000, _cfg(rows=1000, max_fit_rows=None)) == 5000


def test_a_large_training_set_is_fitted_on_the_sample():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 3))
    y = (x[:, 0] > 0).astype(np.int64)
    inputs = ModelInputs(feature_service="s", features=("a", "b", "c"))
    booster = fit_booster(inputs, (x, y), (x[:100], y[:100]), _cfg(rows=500, max_fit_rows=200), 2)
    assert _rows_in_first_tree(booster) == 200
    small = fit_booster(inputs, (x, y), (x[:100], y[:100]), _cfg(rows=601, max_fit_rows=200), 2)
    assert _rows_in_first_tree(small) == 600


def _rows_in_first_tree(booster) -> int:
    """Training rows that reached the root of the first tree (no bagging in these configs)."""
    return int(booster.dump_model()["tree_info"][0]["tree_structure"]["internal_count"])
