"""Baselines trained and reported beside every model: the rules and simple models a team already has.

Churn: the recency score (days since the last purchase), the best "no purchase for N days" rule
(N searched on the training rows, as Dynamics 365 does), logistic regression on the same
features and a BG/NBD model fitted on the training rows, ranked by the expected number of
purchases in the window (the field's usual way), by P(alive) and by P(no purchase in the
window). Next stage: "stays in the current stage" and the Markov transition-matrix argmax live
in `training.evaluate`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, f1_score, precision_score, recall_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from serving.artifact import ModelInputs

RECENCY = "days_since_last_purchase"
LOGISTIC_MAX_ROWS = 200_000  # a baseline, not the product: a seeded sample keeps it to seconds


@dataclass(frozen=True)
class RecencyRule:
    """Predict churn when the last purchase is at least `days` old (no purchase yet counts as old)."""

    days: int

    def flags(self, days_since_last_purchase: np.ndarray) -> np.ndarray:
        d = np.asarray(days_since_last_purchase, dtype=np.float64)
        return (np.nan_to_num(d, nan=np.inf) >= self.days).astype(np.int64)


def best_recency_rule(days_since_last_purchase: np.ndarray, y: np.ndarray) -> RecencyRule:
    """The N (whole days, 1..730) whose rule has the best balanced accuracy on the (training) rows.

    Balanced accuracy (mean of the recall of churners and of stayers, i.e. Youden's J) rather
    than F1: with a high churn rate F1 is maximised by flagging everyone, which is no rule at all.
    """
    d = np.nan_to_num(np.asarray(days_since_last_purchase, dtype=np.float64), nan=np.inf)
    grid = np.unique(np.clip(np.ceil(np.quantile(d[np.isfinite(d)], np.linspace(0, 1, 101))), 1, 730))
    scores = [balanced_accuracy_score(y, (d >= n).astype(np.int64)) for n in grid]
    return RecencyRule(int(grid[int(np.argmax(scores))]))


def flag_metrics(y: np.ndarray, flags: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of hard churn flags, and the share of rows flagged."""
    return {
        "balanced_accuracy": float(balanced_accuracy_score(y, flags)),
        "precision": float(precision_score(y, flags, zero_division=0.0)),
        "recall": float(recall_score(y, flags, zero_division=0.0)),
        "f1": float(f1_score(y, flags, zero_division=0.0)),
        "flagged_share": float(np.mean(flags)),
    }


def top_flags(score: np.ndarray, count: int) -> np.ndarray:
    """Flag the `count` highest scores: a model compared with a rule at the rule's own volume."""
    flags = np.zeros(len(score), dtype=np.int64)
    flags[np.argsort(-score, kind="stable")[:count]] = 1
    return flags


def tabular(frame: pd.DataFrame, inputs: ModelInputs) -> pd.DataFrame:
    cats = list(inputs.categories)
    table = frame[list(inputs.features)].copy()
    table[cats] = table[cats].astype("string").fillna("missing")
    return table


def logistic_pipeline(inputs: ModelInputs) -> Pipeline:
    """Median-imputed, standardised numeric features plus one-hot categories, L2 logistic regression."""
    numeric = [f for f in inputs.features if f not in inputs.categories]
    impute = SimpleImputer(strategy="median", keep_empty_features=True)
    prep = ColumnTransformer(
        [
            ("num", make_pipeline(impute, StandardScaler()), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore"), list(inputs.categories)),
        ]
    )
    return make_pipeline(prep, LogisticRegression(max_iter=2000))


def logistic_scores(
    train: pd.DataFrame, y: np.ndarray, test: pd.DataFrame, inputs: ModelInputs, seed: int
) -> np.ndarray:
    """Churn probabilities of a logistic regression fitted on (a seeded sample of) the training rows."""
    rows = np.arange(len(train))
    if len(rows) > LOGISTIC_MAX_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(rows, LOGISTIC_MAX_ROWS, replace=False))
    model = logistic_pipeline(inputs).fit(tabular(train.iloc[rows], inputs), y[rows])
    return np.asarray(model.predict_proba(tabular(test, inputs))[:, 1])
