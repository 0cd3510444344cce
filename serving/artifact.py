"""The model-input contract shared by training and serving: feature order and category codes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

PROBABILITY_DIGITS = 6  # probabilities are given to 6 decimals: 4 would tie customers calibration keeps apart


@dataclass(frozen=True)
class ModelInputs:
    """How rows of features become the float matrix a LightGBM booster was trained on.

    Categorical features are coded as the index of their level in `categories`; a level unseen in
    training becomes NaN (LightGBM's missing value), never a wrong code.
    """

    feature_service: str
    features: tuple[str, ...]
    categories: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    classes: tuple[str, ...] = ()

    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        feature_service: str,
        features: Sequence[str],
        categorical: Sequence[str],
        classes: Sequence[str] = (),
    ) -> ModelInputs:
        """Learn category levels from the training frame."""
        levels = {c: tuple(sorted(frame[c].dropna().astype(str).unique())) for c in categorical}
        return cls(feature_service, tuple(features), levels, tuple(classes))

    @property
    def categorical_indices(self) -> list[int]:
        return [self.features.index(c) for c in self.categories]

    def to_metadata(self) -> dict[str, Any]:
        return {
            "feature_service": self.feature_service,
            "features": list(self.features),
            "categories": {k: list(v) for k, v in self.categories.items()},
            "classes": list(self.classes),
        }

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any]) -> ModelInputs:
        cats = {k: tuple(v) for k, v in meta["categories"].items()}
        return cls(meta["feature_service"], tuple(meta["features"]), cats, tuple(meta["classes"]))

    @cached_property
    def _lookups(self) -> dict[str, dict[str, float]]:
        return {
            name: {level: float(i) for i, level in enumerate(levels)}
            for name, levels in self.categories.items()
        }

    def _codes(self, name: str, values: Iterable[Any]) -> list[float]:
        lookup = self._lookups[name]
        return [lookup.get(v, np.nan) if v is not None else np.nan for v in values]

    def matrix(self, columns: Mapping[str, Sequence[Any]] | pd.DataFrame) -> np.ndarray:
        """A (rows x features) float64 matrix from column-wise values (a dict or a DataFrame)."""
        if not self.features:
            return np.empty((0, 0))
        if isinstance(columns, pd.DataFrame):
            out = [
                np.asarray(
                    self._codes(name, columns[name]) if name in self.categories else columns[name],
                    dtype=np.float64,
                )
                for name in self.features
            ]
            return np.column_stack(out)
        # dict of lists (the service): one conversion for the whole matrix; None -> NaN
        rows = [
            self._codes(name, columns[name]) if name in self.categories else columns[name]
            for name in self.features
        ]
        return np.ascontiguousarray(np.array(rows, dtype=np.float64).T)


@dataclass(frozen=True)
class Calibration:
    """A strictly increasing map from raw to calibrated probability, as interpolation knots.

    Fitted by training (training/calibrate.py: the best of Platt, beta and isotonic on a time
    slice the booster was not fitted on), applied by serving with np.interp: no model code is
    needed at scoring time. `method` names the map; `log_loss` holds each candidate's
    cross-validated log loss (empty when there was no choice).
    """

    x: tuple[float, ...]
    y: tuple[float, ...]
    method: str = "isotonic"
    log_loss: Mapping[str, float] = field(default_factory=dict)

    def apply(self, p: np.ndarray) -> np.ndarray:
        return np.interp(p, self.x, self.y)

    def to_metadata(self) -> dict[str, Any]:
        return {"x": list(self.x), "y": list(self.y), "method": self.method, "log_loss": dict(self.log_loss)}

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any] | None) -> Calibration | None:
        if not meta:
            return None
        return cls(
            tuple(float(v) for v in meta["x"]),
            tuple(float(v) for v in meta["y"]),
            str(meta.get("method", "isotonic")),
            {str(k): float(v) for k, v in meta.get("log_loss", {}).items()},
        )
