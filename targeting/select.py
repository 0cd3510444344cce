"""Retention targeting: expected value saved, filters, selection within a budget, cost-aware threshold.

Pure functions of scored frames and the actions table; targeting/targets.py wires them to the
models and files. The ranking score is a parameter (`Score`): expected value saved by default, an
uplift-based score can replace it without touching the selection.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.config import Action, stages_without_action
from core.schema import ACTIVE_STAGES

Score = Callable[[pd.DataFrame], np.ndarray]
TIERS = ("high", "medium", "low")
ACTION_COLUMNS = ("recommended_action", "success_rate", "action_cost", "contact_channel")
MAX_LISTED = 20  # valid values quoted in an error message


class TargetingError(ValueError):
    """Targeting input that cannot give a list: a budget, a filter or the actions table."""


def expected_value_saved(frame: pd.DataFrame) -> np.ndarray:
    """Churn probability x value x the action's success rate, minus its contact cost."""
    p = frame["churn_probability"].to_numpy(dtype=np.float64)
    value = frame["customer_value"].to_numpy(dtype=np.float64)
    return p * value * frame["success_rate"].to_numpy() - frame["action_cost"].to_numpy()


def uplift_value_saved(frame: pd.DataFrame) -> np.ndarray:
    """Uplift (the churn probability a contact removes, from `journey uplift`) x value, minus the cost.

    The uplift model learned what the campaigns' contacts changed, so no success rate is applied.
    """
    uplift = frame["uplift"].to_numpy(dtype=np.float64)
    return uplift * frame["customer_value"].to_numpy(dtype=np.float64) - frame["action_cost"].to_numpy()


def _action_row(a: Action) -> dict[str, object]:
    return {
        "recommended_action": a.action,
        "success_rate": a.success_rate,
        "action_cost": a.cost,
        "contact_channel": a.channel or "",
    }


def stage_actions(actions: Sequence[Action], stages: Sequence[str] = ACTIVE_STAGES) -> pd.DataFrame:
    """Each stage's default action (no reason family) with its economics, indexed by stage."""
    missing = stages_without_action(tuple(actions), tuple(stages))
    if missing:
        raise TargetingError(
            f"configs/actions.yaml has no default action for stage(s) {', '.join(missing)}: add one "
            "without reason_family, with success_rate and cost"
        )
    rows = {a.stage: _action_row(a) for a in reversed(actions) if a.reason_family is None}
    return pd.DataFrame.from_dict(rows, orient="index").loc[list(stages)]


def attach_actions(scores: pd.DataFrame, actions: Sequence[Action]) -> pd.DataFrame:
    """The scores with each customer's stage default action, its success rate, cost and channel."""
    table = stage_actions(actions, tuple(dict.fromkeys(scores["current_stage"])))
    chosen = table.loc[scores["current_stage"].to_numpy()].reset_index(drop=True)
    return pd.concat([scores.reset_index(drop=True), chosen], axis=1)


@dataclass(frozen=True)
class Filters:
    """Which customers may be listed: stages, risk tiers, column -> accepted values, a risk floor."""

    stages: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    where: dict[str, tuple[str, ...]] = field(default_factory=dict)
    min_probability: float = 0.0  # only customers at least this likely to churn

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_probability < 1.0:
            raise TargetingError(f"--min-probability must be in [0, 1), got {self.min_probability}")


def parse_where(items: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """`column=value` items; several values of one column mean any of them."""
    out: dict[str, tuple[str, ...]] = {}
    for item in items:
        column, sep, value = item.partition("=")
        if not sep or not column.strip():
            raise TargetingError(f"--where takes column=value, got {item!r}")
        out[column.strip()] = (*out.get(column.strip(), ()), value.strip())
    return out


def _quote(values: Sequence[object]) -> str:
    shown = ", ".join(str(v) for v in values[:MAX_LISTED])
    return shown + (f", ... ({len(values)} in all)" if len(values) > MAX_LISTED else "")


def _check_names(kind: str, asked: Sequence[str], valid: Sequence[str]) -> None:
    unknown = [a for a in asked if a not in valid]
    if unknown:
        raise TargetingError(f"unknown {kind} {', '.join(map(repr, unknown))}; valid: {_quote(valid)}")


def _matches(column: pd.Series, name: str, values: tuple[str, ...]) -> np.ndarray:
    """Rows whose `column` equals one of `values`; a value that never occurs is an error."""
    numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    try:
        wanted = [float(v) for v in values] if numeric else list(values)
    except ValueError as err:
        raise TargetingError(f"--where {name}: {err}; the column is numeric") from err
    data = column if numeric else column.astype(str)
    present = set(data.dropna().unique())
    absent = [v for v, w in zip(values, wanted, strict=True) if w not in present]
    if absent:
        valid = sorted(present, key=str)
        raise TargetingError(
            f"--where {name}={absent[0]}: no customer has that value; values: {_quote(valid)}"
        )
    return data.isin(wanted).to_numpy()


def filter_mask(scores: pd.DataFrame, features: pd.DataFrame, filters: Filters) -> np.ndarray:
    """Rows of `scores` (aligned with `features`) that pass every filter; bad names raise."""
    _check_names("stage", filters.stages, ACTIVE_STAGES)
    _check_names("risk tier", filters.tiers, TIERS)
    valid = [c for c in features.columns if c != "customer_id"]
    _check_names("--where column", list(filters.where), valid)
    keep = np.ones(len(scores), dtype=bool)
    if filters.stages:
        keep &= scores["current_stage"].isin(filters.stages).to_numpy()
    if filters.tiers:
        keep &= scores["risk_tier"].isin(filters.tiers).to_numpy()
    for name, values in filters.where.items():
        keep &= _matches(features[name], name, values)
    if filters.min_probability > 0:
        keep &= scores["churn_probability"].to_numpy() >= filters.min_probability
    return keep


def select(
    frame: pd.DataFrame, score: str, budget: float | None = None, capacity: int | None = None
) -> pd.DataFrame:
    """Rows with a positive score, best first, cut where the contact costs exceed the budget or at capacity.

    The list is a prefix of the ranking, so a marketer works down it in order.
    """
    if budget is not None and budget <= 0:
        raise TargetingError(f"--budget must be > 0, got {budget}")
    if capacity is not None and capacity <= 0:
        raise TargetingError(f"--capacity must be > 0, got {capacity}")
    ranked = frame[frame[score] > 0].sort_values(score, ascending=False, kind="stable")
    if capacity is not None:
        ranked = ranked.head(capacity)
    if budget is not None:
        within = np.cumsum(ranked["action_cost"].to_numpy()) <= budget + 1e-9
        ranked = ranked[np.minimum.accumulate(within)]
    return ranked


def refine_actions(
    selected: pd.DataFrame,
    families: Sequence[str | None],
    actions: Sequence[Action],
    score: Score,
    budget: float | None = None,
) -> pd.DataFrame:
    """Switch to the main reason's action where it scores higher for that customer and the budget allows.

    The list was chosen with each stage's default action; a switch only ever raises a row's score
    and spends at most the budget left, so every row stays positive and the budget holds.
    """
    specific = {(a.stage, a.reason_family): _action_row(a) for a in reversed(actions) if a.reason_family}
    out = selected.reset_index(drop=True)
    picks = [
        specific.get((stage, family or ""))
        for stage, family in zip(out["current_stage"], families, strict=True)
    ]
    alt = out.copy()
    for column in ACTION_COLUMNS:
        values = [row[column] if row else old for row, old in zip(picks, out[column], strict=True)]
        alt[column] = pd.Series(values, index=alt.index, dtype=out[column].dtype)
    gain = score(alt) - score(out)
    extra = (alt["action_cost"] - out["action_cost"]).to_numpy(dtype=np.float64)
    spare = np.inf if budget is None else budget - float(out["action_cost"].sum())
    take = np.zeros(len(out), dtype=bool)
    for i in np.flatnonzero(gain > 1e-12):
        if extra[i] <= spare + 1e-9:
            take[i] = True
            spare -= float(extra[i])
    out.loc[take, list(ACTION_COLUMNS)] = alt.loc[take, list(ACTION_COLUMNS)]
    return out


@dataclass(frozen=True)
class Threshold:
    """The churn-probability cut-off with the least expected cost on labelled rows."""

    threshold: float  # contact every row with p >= threshold; inf: contact nobody
    contacted: int
    rows: int
    cost: float
    saving_vs_nobody: float
    saving_vs_everyone: float


def cost_threshold(
    p: np.ndarray, churned: np.ndarray, value: np.ndarray, success: np.ndarray, cost: np.ndarray
) -> Threshold:
    """Minimise cost(t) = sum_{p>=t} (cost + (1 - success) value churned) + sum_{p<t} value churned.

    Contacting a row changes the total by cost - success x value x churned, so the candidates are
    the top-k rows by p for every k that does not split tied probabilities (ties go together, as
    a threshold would take them); the smallest k wins a tie in cost.
    """
    if len(p) == 0:
        raise ValueError("no labelled rows to choose a threshold on")
    order = np.argsort(-p, kind="stable")
    ps = p[order]
    loss = (value * churned).astype(np.float64)
    reduction = np.concatenate([[0.0], np.cumsum((success * loss - cost)[order])])
    boundary = np.concatenate([[True], ps[:-1] > ps[1:], [True]])
    k = int(np.argmax(np.where(boundary, reduction, -np.inf)))
    nobody = float(loss.sum())
    return Threshold(
        threshold=float(ps[k - 1]) if k > 0 else float("inf"),
        contacted=k,
        rows=len(p),
        cost=nobody - float(reduction[k]),
        saving_vs_nobody=float(reduction[k]),
        saving_vs_everyone=float(reduction[k] - reduction[-1]),
    )


def _totals(frame: pd.DataFrame, score: str) -> dict[str, float]:
    cost = float(frame["action_cost"].sum())
    net = float(frame[score].sum())
    saved = round(net + cost, 2)
    return {"customers": len(frame), "cost": round(cost, 2), "saved": saved, "net": round(net, 2)}


def summarize(table: pd.DataFrame, score: str = "expected_value_saved") -> dict[str, object]:
    """Contacts, cost, expected value saved (before and after cost), overall and by stage and tier."""
    overall = _totals(table, score)
    return {
        "selected": overall["customers"],
        "total_cost": overall["cost"],
        "expected_value_saved": overall["saved"],
        "net_expected_value_saved": overall["net"],
        "expected_value_at_risk": round(float(table["expected_value_at_risk"].sum()), 2),
        "by_stage": {str(k): _totals(g, score) for k, g in table.groupby("current_stage", sort=True)},
        "by_tier": {str(k): _totals(g, score) for k, g in table.groupby("risk_tier", sort=True)},
    }
