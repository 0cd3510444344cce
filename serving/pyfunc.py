"""The registered model: an MLflow pyfunc whose `predict` returns what the API returns.

The registry holds this, not a bare booster, so every way of using a champion gives the same
numbers: the BentoML service (which loads the booster file and the metadata directly, for speed),
`mlflow models serve -m models:/churn@champion --env-manager local` in Journey's environment, and
`mlflow.pyfunc.load_model(...)` in a notebook. Input: one row per customer with the model's
features by name (categories as their text values, missing as null). Output: the calibrated
churn probability (`churn_probability`) or one probability per stage (`p_<stage>`), rounded as
the API rounds them. tests/serving/test_pyfunc.py serves it and compares with /score_features.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel, PythonModelContext

from serving.artifact import PROBABILITY_DIGITS, Calibration, ModelInputs

BOOSTER = "booster"  # the artifact key of the LightGBM model file
CONTRACT = "contract"  # the artifact key of the input contract and calibration (JSON)


def booster_file(model_dir: Path) -> Path:
    """Where a logged JourneyModel keeps its LightGBM model file inside the model folder."""
    return model_dir / "artifacts" / f"{BOOSTER}.txt"


def probabilities(
    booster: lgb.Booster, inputs: ModelInputs, calibration: Calibration | None, x: np.ndarray, **kwargs: Any
) -> np.ndarray:
    """Churn: calibrated probabilities (rows); next stage: a (rows x stages) matrix. Unrounded."""
    raw = np.asarray(booster.predict(x, num_iteration=booster.best_iteration, **kwargs))
    if len(inputs.classes) > 2:
        return raw.reshape(len(x), -1)
    return calibration.apply(raw) if calibration is not None else raw


def output_frame(inputs: ModelInputs, p: np.ndarray) -> pd.DataFrame:
    """The pyfunc's answer: churn_probability, or p_<stage> per stage, rounded like the API."""
    p = np.round(p, PROBABILITY_DIGITS)
    if p.ndim == 1:
        return pd.DataFrame({"churn_probability": p})
    return pd.DataFrame({f"p_{stage}": p[:, k] for k, stage in enumerate(inputs.classes)})


class JourneyModel(PythonModel):
    """Booster + input contract + calibration, as one MLflow model."""

    def load_context(self, context: PythonModelContext) -> None:
        meta = json.loads(Path(context.artifacts[CONTRACT]).read_text())
        self.booster = lgb.Booster(model_file=context.artifacts[BOOSTER])
        self.inputs = ModelInputs.from_metadata(meta)
        self.calibration = Calibration.from_metadata(meta.get("calibration"))

    def predict(
        self, context: PythonModelContext, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        frame = pd.DataFrame(model_input)
        missing = [f for f in self.inputs.features if f not in frame.columns]
        if missing:
            raise ValueError(f"missing features {missing}; the model needs {list(self.inputs.features)}")
        x = self.inputs.matrix(frame)
        return output_frame(self.inputs, probabilities(self.booster, self.inputs, self.calibration, x))
