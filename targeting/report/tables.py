"""The report's summaries: pure functions from score and prediction frames to small tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.config import RiskTiers
from core.schema import STAGES
from serving.scoring import risk_tiers

TIERS = ("high", "medium", "low")
CURVE_POINTS = 200  # gains curves are drawn from this many points, whatever the number of customers


def tier_summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Customers, share, mean churn probability and expected value at risk per risk tier, now."""
    grouped = scores.groupby("risk_tier")
    table = pd.DataFrame(
        {
            "customers": grouped.size(),
            "mean_churn_probability": grouped["churn_probability"].mean(),
            "expected_value_at_risk": grouped["expected_value_at_risk"].sum(),
        }
    ).reindex(list(TIERS))
    table["customers"] = table["customers"].fillna(0).astype(int)
    table["share"] = table["customers"] / max(1, int(table["customers"].sum()))
    return table.rename_axis("risk_tier").reset_index()


def tier_calibration(test: pd.DataFrame, tiers: RiskTiers) -> pd.DataFrame:
    """Out of time, per risk tier: customers, mean predicted churn probability, actual churn rate."""
    tier = risk_tiers(test["churn_probability"].to_numpy(), tiers.high, tiers.medium)
    grouped = test.assign(risk_tier=tier).groupby("risk_tier")
    table = pd.DataFrame(
        {
            "customers": grouped.size(),
            "churners": grouped["churned"].sum(),
            "predicted": grouped["churn_probability"].mean(),
            "actual": grouped["churned"].mean(),
        }
    )
    return table.reindex([t for t in TIERS if t in table.index]).rename_axis("risk_tier").reset_index()


def risk_bands(test: pd.DataFrame, bands: int = 10) -> pd.DataFrame:
    """Out of time, per band of predicted probability (0-10%, ...): predicted vs actual churn rate."""
    edges = np.linspace(0, 1, bands + 1)
    index = np.clip(np.digitize(test["churn_probability"].to_numpy(), edges[1:-1]), 0, bands - 1)
    grouped = test.assign(band=index).groupby("band")
    table = pd.DataFrame(
        {
            "customers": grouped.size(),
            "predicted": grouped["churn_probability"].mean(),
            "actual": grouped["churned"].mean(),
        }
    )
    labels = [f"{edges[i]:.0%}–{edges[i + 1]:.0%}" for i in table.index]
    return table.assign(band=labels).reset_index(drop=True)[["band", "customers", "predicted", "actual"]]


def _order(score: np.ndarray) -> np.ndarray:
    return np.argsort(-np.nan_to_num(score, nan=-np.inf), kind="stable")


def deciles(y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    """Customers ranked by predicted risk, cut in tenths: churn rate, lift and cumulative capture."""
    order = _order(p)
    decile = np.arange(len(y)) * 10 // max(1, len(y)) + 1
    frame = pd.DataFrame({"decile": decile, "y": y[order], "p": p[order]})
    grouped = frame.groupby("decile")
    table = pd.DataFrame(
        {
            "customers": grouped.size(),
            "churners": grouped["y"].sum(),
            "predicted": grouped["p"].mean(),
            "actual": grouped["y"].mean(),
        }
    )
    base = float(np.mean(y)) if len(y) else 0.0
    table["lift"] = table["actual"] / base if base > 0 else np.nan
    table["captured"] = table["churners"].cumsum() / max(1, int(np.sum(y)))
    return table.reset_index()


def gains_curve(y: np.ndarray, score: np.ndarray, points: int = CURVE_POINTS) -> pd.DataFrame:
    """Share of churners captured when contacting the top x share of customers by `score`."""
    captured = np.concatenate([[0.0], np.cumsum(y[_order(score)]) / max(1, int(np.sum(y)))])
    contacted = np.arange(len(captured)) / max(1, len(y))
    pick = np.unique(np.linspace(0, len(captured) - 1, min(points, len(captured))).round().astype(int))
    return pd.DataFrame({"contacted": contacted[pick], "captured": captured[pick]})


def transitions(current: pd.Series, following: pd.Series) -> pd.DataFrame:
    """Counts of customers from each current stage (rows) to each next stage (columns), journey order."""
    table = pd.crosstab(current, following)
    rows = [s for s in STAGES if s in table.index]
    cols = [s for s in STAGES if s in table.columns]
    return table.reindex(index=rows, columns=cols, fill_value=0)


def main_reasons(sample: pd.DataFrame, top: int = 3) -> pd.Series:
    """Share of customers whose main reason (reason_1) is each feature, largest first."""
    if sample.empty:
        return pd.Series(dtype=float)
    return sample["reason_1"].value_counts(normalize=True).head(top)


def segment_reasons(sample: pd.DataFrame, by: str, order: tuple[str, ...], top: int = 3) -> pd.DataFrame:
    """Per segment value of `by`: customers in the sample and their most common main reasons."""
    rows = []
    for value in [v for v in order if v in set(sample[by])]:
        part = sample[sample[by] == value]
        rows.append({by: value, "customers": len(part), "reasons": main_reasons(part, top)})
    return pd.DataFrame(rows, columns=[by, "customers", "reasons"])
