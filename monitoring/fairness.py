"""Fairness of the churn model per protected group: ROC AUC, ECE and share listed, and the 80% rule.

The same table is computed at training time on the churn test rows (shown in the model card) and
by `journey monitor` on the newest scores (`fairness_report`). A group smaller than
monitoring.fairness.min_group_size is shown with its size but never judged: its rates say more
about chance than about the model. The 80% rule (the four-fifths rule of US employment law, used
by Salesforce's bias flags) compares each judged group's listing rate with the highest one.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame
from sklearn.metrics import roc_auc_score

from core.config import Fairness, Settings
from features.build import TIMESTAMP, read_features

MISSING = "(missing)"  # the group of rows whose attribute is unknown
COLUMNS = [
    "attribute",
    "group",
    "rows",
    "churn_rate",
    "roc_auc",
    "ece",
    "listed",
    "ratio",
    "judged",
    "passes",
]


class UnknownAttribute(ValueError):
    """A configured protected attribute that the data does not have."""


def protected_attributes(settings: Settings) -> tuple[str, ...]:
    """monitoring.fairness.protected, or every demographic attribute of the mapping."""
    configured = settings.monitoring.fairness.protected
    return configured if configured is not None else tuple(d.name for d in settings.demographics)


def require_attributes(frame: pd.DataFrame, attributes: Sequence[str]) -> None:
    """UnknownAttribute naming each protected attribute the rows lack and the columns they have."""
    absent = [a for a in attributes if a not in frame.columns]
    if absent:
        raise UnknownAttribute(
            f"monitoring.fairness.protected names {', '.join(absent)}, which the data does not have; "
            "declare it under `demographics` in configs/journey.yaml (and map it in the source config), "
            "or remove it from monitoring.fairness.protected"
        )


def groups(values: pd.Series, bands: Sequence[float] | None) -> pd.Series:
    """Group labels in reading order (levels sorted, bands from low to high, unknown values last in
    their own group): a categorical attribute's levels; a numeric one's bands (configured edges,
    or quintiles)."""
    if values.dtype == object or isinstance(values.dtype, pd.CategoricalDtype | pd.StringDtype):
        text = values.astype("string")
        return _ordered(text, sorted(text.dropna().unique()))
    numbers = pd.to_numeric(values, errors="coerce")
    if bands:
        edges = [-np.inf, *bands, np.inf]
        labels = [f"<{bands[0]:g}", *(_band(a, b) for a, b in pairwise(bands)), f"{bands[-1]:g}+"]
        banded = pd.cut(numbers, edges, right=False, labels=labels)
    else:
        banded = pd.qcut(numbers, 5, duplicates="drop")
    return _ordered(banded.astype("string"), [str(c) for c in banded.cat.categories])


def _ordered(text: pd.Series, order: Sequence[str]) -> pd.Series:
    """An ordered categorical of the labels, MISSING for unknown values, last."""
    return pd.Series(
        pd.Categorical(text.fillna(MISSING), categories=[*order, MISSING], ordered=True),
        index=text.index,
        name=text.name,
    )


def _band(low: float, high: float) -> str:
    """25-34 for whole-number edges (ages), [2.5, 3.5) otherwise."""
    if float(low).is_integer() and float(high).is_integer():
        return f"{low:g}-{high - 1:g}"
    return f"[{low:g}, {high:g})"


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed rate - mean probability| over equal-width bins, weighted by size (as training's)."""
    index = np.clip(np.digitize(p, np.linspace(0.0, 1.0, bins + 1)[1:-1]), 0, bins - 1)
    return float(
        sum((index == b).mean() * abs(y[index == b].mean() - p[index == b].mean()) for b in set(index))
    )


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan")


def _rows(y: np.ndarray, p: np.ndarray) -> float:
    return float(len(y))


def _listed(y: np.ndarray, p: np.ndarray, flag: np.ndarray) -> float:
    return float(np.mean(flag))


def _churn_rate(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(y))


def group_table(
    labels: pd.Series, y: np.ndarray | None, p: np.ndarray, listed: np.ndarray, rules: Fairness
) -> pd.DataFrame:
    """One row per group of one attribute: size, churn rate, ROC AUC, ECE (when outcomes `y` are
    known), share listed, its ratio to the highest judged rate, whether judged and whether it passes."""
    metrics = {"rows": _rows, "listed": _listed}
    if y is not None:
        metrics |= {"churn_rate": _churn_rate, "roc_auc": _auc, "ece": expected_calibration_error}
    frame = MetricFrame(
        metrics=metrics,
        y_true=np.zeros(len(p)) if y is None else y,
        y_pred=p,
        sensitive_features=labels.reset_index(drop=True),
        sample_params={"listed": {"flag": np.asarray(listed, dtype=np.float64)}},
    ).by_group.reset_index()
    frame = frame.rename(columns={frame.columns[0]: "group"}).assign(attribute=labels.name)
    if isinstance(labels.dtype, pd.CategoricalDtype):  # bands from low to high, not alphabetical
        order = {str(c): i for i, c in enumerate(labels.cat.categories)}
        frame = frame.sort_values("group", key=lambda g: g.astype(str).map(order), ignore_index=True)
    frame["group"] = frame["group"].astype(str)
    frame["rows"] = frame["rows"].astype(int)
    frame["judged"] = frame["rows"] >= rules.min_group_size
    top = frame.loc[frame["judged"], "listed"].max()
    frame["ratio"] = np.where(frame["judged"] & (top > 0), frame["listed"] / top, np.nan)
    frame["passes"] = np.where(frame["judged"], (frame["ratio"] >= rules.min_ratio) | (top == 0), None)
    return frame.reindex(columns=COLUMNS)


def fairness_tables(
    rows: pd.DataFrame, y: np.ndarray | None, p: np.ndarray, listed: np.ndarray, settings: Settings
) -> pd.DataFrame:
    """The group table of every protected attribute, one under the other."""
    rules = settings.monitoring.fairness
    attributes = protected_attributes(settings)
    require_attributes(rows, attributes)
    tables = [
        group_table(groups(rows[a], rules.bands.get(a)).rename(a), y, p, listed, rules) for a in attributes
    ]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=COLUMNS)


def fairness_alerts(table: pd.DataFrame, rules: Fairness) -> list[str]:
    """One sentence per judged group that breaks the 80% rule."""
    return [
        f"{r.attribute} = {r.group}: listed {r.listed:.1%} of its {r.rows:,} customers, "
        f"{r.ratio:.2f} of the highest group's rate (the rule asks for {rules.min_ratio:g})"
        for r in table.itertuples()
        if r.judged and r.passes is False
    ]


def unjudged(table: pd.DataFrame, rules: Fairness) -> list[str]:
    """Per attribute, the groups too small to judge (a note, not an alert)."""
    small = table[~table["judged"].astype(bool)]
    return [
        f"{attribute}: {', '.join(f'{g} ({n:,})' for g, n in zip(part['group'], part['rows'], strict=True))} "
        f"not judged: fewer than {rules.min_group_size} customers (monitoring.fairness.min_group_size)"
        for attribute, part in small.groupby("attribute", sort=False)
    ]


def as_records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-able rows (NaN -> None)."""
    clean = table.astype(object).where(table.notna(), None)
    return [{str(k): _plain(v) for k, v in row.items()} for row in clean.to_dict(orient="records")]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def listed_flags(scores: pd.DataFrame, settings: Settings) -> tuple[np.ndarray, str]:
    """Who was listed, and how that was decided: the scores' `listed` column when any row knows it
    (the prediction log's; null where a run made no list), else every customer at medium or
    high risk (the candidates a list is drawn from)."""
    if "listed" in scores.columns and scores["listed"].notna().any():
        return scores["listed"].astype("boolean").fillna(False).to_numpy(dtype=bool), "target list"
    medium = settings.serving.risk_tiers.medium
    flags = scores["churn_probability"].to_numpy(dtype=np.float64) >= medium
    return flags, f"churn probability >= {medium:g} (medium or high risk): no target list logged"


def fairness_report(settings: Settings, scores: pd.DataFrame) -> dict[str, Any]:
    """Fairness of the churn scores of `scores` (one row per customer and as_of; `listed` and the
    outcome `churned` used when present), the protected attributes read from the feature tables
    at each row's as_of. JSON-able; "alerts" lists the groups that break the 80% rule."""
    rules = settings.monitoring.fairness
    try:
        rows = _with_attributes(scores, settings)
        y = _outcomes(rows)
        p = rows["churn_probability"].to_numpy(dtype=np.float64)
        listed, listing = listed_flags(rows, settings)
        table = fairness_tables(rows, y, p, listed, settings)
    except UnknownAttribute as err:
        return {"rows": len(scores), "groups": [], "alerts": [], "notes": [str(err)]}
    except FileNotFoundError as err:
        note = f"fairness not judged: the protected attributes are read from the feature build ({err})"
        return {"rows": len(scores), "groups": [], "alerts": [], "notes": [note]}
    return {
        "rows": len(rows),
        "min_group_size": rules.min_group_size,
        "min_ratio": rules.min_ratio,
        "outcomes_known": y is not None,
        "listed_means": listing,
        "groups": as_records(table),
        "alerts": fairness_alerts(table, rules),
        "notes": unjudged(table, rules),
    }


def _outcomes(rows: pd.DataFrame) -> np.ndarray | None:
    """The churn outcomes when every row has one (windows closed); None: only listing is judged."""
    if "churned" not in rows.columns or rows["churned"].isna().any():
        return None
    return rows["churned"].to_numpy(dtype=np.int64)


def _with_attributes(scores: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """The scores with the protected attributes they lack, from the features at their as_of."""
    lacking = [a for a in protected_attributes(settings) if a not in scores.columns]
    if not lacking or scores.empty:
        return scores.reset_index(drop=True)
    declared = pd.DataFrame(columns=[d.name for d in settings.demographics])
    require_attributes(declared, lacking)  # the feature tables hold the declared attributes only
    moments = sorted(pd.to_datetime(scores["as_of"], utc=True).unique())
    feats = read_features(settings.paths.features, [(TIMESTAMP, "in", moments)])
    require_attributes(feats, lacking)
    keys = scores.assign(**{TIMESTAMP: pd.to_datetime(scores["as_of"], utc=True)})
    attrs = feats[["customer_id", TIMESTAMP, *lacking]].astype({TIMESTAMP: keys[TIMESTAMP].dtype})
    return keys.merge(attrs, on=["customer_id", TIMESTAMP], how="left").drop(columns=TIMESTAMP)
