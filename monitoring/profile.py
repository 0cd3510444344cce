"""Reference profiles of a model's inputs and scores, and how far newer rows have moved from them.

A profile is plain JSON, logged with each model version at training time (training/train.py):
per numeric column, quantile bin edges of its training rows and the share of rows in each bin;
per categorical column, the share of each level; for both, the share of missing values. Newer
rows are binned on the same edges and compared by the population stability index (PSI),
sum((now - ref) * ln(now / ref)) over the bins: 0 for the same distribution, about 0.1 for a
moderate shift, above 0.25 for one that usually calls for retraining.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

PROFILE_VERSION = 1
# a bin empty on one side would make the PSI infinite: shares are floored at this before the log
SHARE_FLOOR = 1e-4

Profile = dict[str, Any]


def numeric_profile(values: pd.Series, bins: int) -> Profile:
    """Inner bin edges at the quantiles of the non-missing values (ties merged), their shares, and
    the missing rate. Bins are right-closed, (e_i, e_i+1], so a count with many zeros keeps
    one bin for its zeros instead of several empty ones."""
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    present = numbers.dropna().to_numpy()
    cuts = np.linspace(0, 1, bins + 1)[1:-1]
    # observed values as edges (inverted CDF): interpolated ones would split a tie into empty bins
    quantiles = np.quantile(present, cuts, method="inverted_cdf") if len(present) else np.empty(0)
    edges = [float(e) for e in np.unique(quantiles)]
    return {
        "kind": "numeric",
        "edges": edges,
        "shares": numeric_shares(numbers, edges).tolist(),
        "missing": _missing_rate(numbers),
    }


def numeric_shares(values: pd.Series, edges: Sequence[float]) -> np.ndarray:
    """Share of the non-missing values in each bin of `edges` (len(edges) + 1 bins)."""
    present = pd.to_numeric(values, errors="coerce").astype("float64").dropna().to_numpy()
    counts = np.bincount(np.searchsorted(np.asarray(edges), present, side="left"), minlength=len(edges) + 1)
    return counts / max(len(present), 1)


def categorical_profile(values: pd.Series) -> Profile:
    """Share of each level among the non-missing values, and the missing rate."""
    return {"kind": "categorical", "shares": category_shares(values), "missing": _missing_rate(values)}


def category_shares(values: pd.Series) -> dict[str, float]:
    present = values.dropna().astype(str)
    return {str(k): float(v) for k, v in present.value_counts(normalize=True).sort_index().items()}


def _missing_rate(values: pd.Series) -> float:
    return float(values.isna().mean()) if len(values) else 0.0


def build_profile(
    frame: pd.DataFrame, features: Sequence[str], categorical: Sequence[str], bins: int = 10
) -> Profile:
    """The profile of every feature of `frame` (categorical ones by level, the others by bin)."""
    columns = {
        name: categorical_profile(frame[name]) if name in categorical else numeric_profile(frame[name], bins)
        for name in features
    }
    return {"version": PROFILE_VERSION, "rows": len(frame), "features": columns}


def psi(reference: Sequence[float], now: Sequence[float]) -> float:
    """Population stability index between two share vectors over the same bins."""
    ref = np.maximum(np.asarray(reference, dtype=np.float64), SHARE_FLOOR)
    cur = np.maximum(np.asarray(now, dtype=np.float64), SHARE_FLOOR)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def compare_column(reference: Profile, values: pd.Series) -> dict[str, Any]:
    """PSI, missing rates before and now, and (categorical) levels never seen in the reference."""
    out: dict[str, Any] = {"missing_reference": reference["missing"], "missing_now": _missing_rate(values)}
    if not values.notna().any():
        return out | {"psi": None, "new_categories": {}}  # nothing to compare but the missing rate
    if reference["kind"] == "numeric":
        ref_shares = reference["shares"]
        now_shares = numeric_shares(values, reference["edges"]).tolist()
        return out | {"psi": psi(ref_shares, now_shares) if ref_shares else None, "new_categories": {}}
    shares = category_shares(values)
    levels = sorted(set(reference["shares"]) | set(shares))
    score = psi([reference["shares"].get(k, 0.0) for k in levels], [shares.get(k, 0.0) for k in levels])
    new = {k: v for k, v in shares.items() if k not in reference["shares"]}
    return out | {"psi": score, "new_categories": new}


def compare(profile: Profile, frame: pd.DataFrame) -> pd.DataFrame:
    """One row per profiled feature present in `frame`, most drifted first (PSI, then missing-rate
    change): feature, psi, missing_reference, missing_now, missing_change, new_categories."""
    rows = [
        {"feature": name, **compare_column(ref, frame[name])}
        for name, ref in profile["features"].items()
        if name in frame.columns
    ]
    table = pd.DataFrame(
        rows, columns=["feature", "psi", "missing_reference", "missing_now", "new_categories"]
    )
    table["missing_change"] = table["missing_now"] - table["missing_reference"]
    order = table.assign(_psi=table["psi"].fillna(-1.0), _miss=table["missing_change"].abs())
    return order.sort_values(["_psi", "_miss"], ascending=False).drop(columns=["_psi", "_miss"])


def share_changes(reference: Mapping[str, float], now: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """Each level's share before and now (a level absent on one side has share 0 there)."""
    levels = sorted(set(reference) | set(now))
    return {k: {"reference": float(reference.get(k, 0.0)), "now": float(now.get(k, 0.0))} for k in levels}
