"""Retention targeting: actions by stage and tier, net value saved, filters, selection, why it stopped.

Pure functions of scored frames and the actions table; targeting/targets.py wires them to the
models and files. The ranking score is a parameter (`Score`): expected value saved net of the
contact cost by default, an uplift-based score can replace it without touching the selection.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd

from core.config import TIERS, Action, choose_action, missing_actions
from core.schema import ACTIVE_STAGES

Score = Callable[[pd.DataFrame], np.ndarray]
ACTION_COLUMNS = ("recommended_action", "success_rate", "action_cost", "contact_channel")
MAX_LISTED = 20  # valid values quoted in an error message


class TargetingError(ValueError):
    """Targeting input that cannot give a list: a budget, a filter or the actions table."""


def net_value_saved(frame: pd.DataFrame) -> np.ndarray:
    """Expected value saved, net: churn probability x value x the action's success rate, minus its cost."""
    p = frame["churn_probability"].to_numpy(dtype=np.float64)
    value = frame["customer_value"].to_numpy(dtype=np.float64)
    return p * value * frame["success_rate"].to_numpy() - frame["action_cost"].to_numpy()


def uplift_net_value_saved(frame: pd.DataFrame) -> np.ndarray:
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


def default_actions(actions: Sequence[Action], stages: Sequence[str] = ACTIVE_STAGES) -> pd.DataFrame:
    """The default action (no reason family) of each stage x risk tier, indexed by (stage, tier)."""
    missing = missing_actions(actions, stages)
    if missing:
        raise TargetingError(
            f"configs/actions.yaml has no default action for {', '.join(missing)} (stage x risk tier): "
            "add one without reason_family, with success_rate and cost, for that tier or for every tier"
        )
    rows = {(s, t): _action_row(_default(actions, s, t)) for s in stages for t in TIERS}
    return pd.DataFrame.from_dict(rows, orient="index")


def _default(actions: Sequence[Action], stage: str, tier: str) -> Action:
    chosen = choose_action(actions, stage, tier, None)
    assert chosen is not None  # missing_actions found none missing
    return chosen


def actions_for(stages: np.ndarray, tiers: np.ndarray, actions: Sequence[Action]) -> pd.DataFrame:
    """Each row's default action for its stage and risk tier (vectorised: one lookup per pair)."""
    table = default_actions(actions, tuple(dict.fromkeys(stages)))
    at = table.index.get_indexer(pd.MultiIndex.from_arrays([stages, tiers]))
    if (at < 0).any():
        raise TargetingError(f"unknown risk tier(s) {sorted(set(tiers[at < 0]))}; valid: {', '.join(TIERS)}")
    return table.iloc[at].reset_index(drop=True)


def attach_actions(scores: pd.DataFrame, actions: Sequence[Action]) -> pd.DataFrame:
    """The scores with each customer's default action for stage and tier, its success rate, cost, channel."""
    stages, tiers = scores["current_stage"].to_numpy(), scores["risk_tier"].to_numpy()
    return pd.concat([scores.reset_index(drop=True), actions_for(stages, tiers, actions)], axis=1)


@dataclass(frozen=True)
class Filters:
    """Which customers may be listed: stages, risk tiers, column -> accepted values, a risk floor."""

    stages: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    where: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # only customers at least this likely to churn; None: the default risk floor (`with_risk_floor`)
    min_probability: float | None = None

    def __post_init__(self) -> None:
        if self.min_probability is not None and not 0.0 <= self.min_probability < 1.0:
            raise TargetingError(f"--min-probability must be in [0, 1), got {self.min_probability}")


def with_risk_floor(filters: Filters, medium: float) -> Filters:
    """The filters with their risk floor set: by default the medium tier's threshold, so the list
    holds customers at medium or high risk; none when tiers were chosen explicitly (they decide)."""
    if filters.min_probability is not None:
        return filters
    return replace(filters, min_probability=0.0 if filters.tiers else medium)


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
    if filters.min_probability:
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


StopReason = Literal["budget", "capacity", "risk_floor", "no_positive_saving"]


@dataclass(frozen=True)
class Stop:
    """Why the list ends where it does, in a word and in a sentence that quotes the counts."""

    reason: StopReason
    sentence: str


def why_stopped(
    frame: pd.DataFrame,
    eligible: np.ndarray,
    floor: np.ndarray,
    listed: int,
    score: str,
    limits: tuple[float | None, int | None, float],
) -> Stop:
    """The first limit the list met: budget or capacity while savings remained, else the end of them.

    `eligible`: rows passing every filter; `floor`: rows passing all but the risk floor (a superset);
    `limits`: the budget, the capacity and the risk floor.
    """
    positive = frame[score].to_numpy() > 0
    more = int((eligible & positive).sum()) - listed
    budget, capacity, risk_floor = limits
    if more > 0 and capacity is not None and listed >= capacity:
        return Stop("capacity", f"the capacity: {listed:,} customers listed; {more:,} more would save money")
    if more > 0:
        ranked = frame[eligible & positive].sort_values(score, ascending=False, kind="stable")
        cost = float(ranked["action_cost"].iloc[listed])
        return Stop(
            "budget",
            f"the budget: the next customer's contact ({cost:,.2f}) would take the cost over "
            f"{budget or 0:,.2f}; {more:,} more would save money",
        )
    below = int((floor & ~eligible & positive).sum())
    if below:
        return Stop(
            "risk_floor",
            f"the risk floor: every customer with churn probability >= {risk_floor:.2f} and a positive "
            f"net saving is listed; {below:,} below it have one too (--min-probability 0 lets them in)",
        )
    rest = int(eligible.sum()) - listed
    return Stop(
        "no_positive_saving",
        f"no more positive savings: every eligible customer with a positive net saving is listed; "
        f"the other {rest:,} would cost more than they are expected to save",
    )


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
    out = selected.reset_index(drop=True)
    picks = [
        _reason_action(actions, stage, tier, family)
        for stage, tier, family in zip(out["current_stage"], out["risk_tier"], families, strict=True)
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


def _reason_action(
    actions: Sequence[Action], stage: str, tier: str, family: str | None
) -> dict[str, object] | None:
    """The economics of the main reason's action for this stage and tier, None when only a default fits."""
    chosen = choose_action(actions, stage, tier, family) if family else None
    return _action_row(chosen) if chosen is not None and chosen.reason_family else None


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


GROSS, NET = "expected_value_saved_gross", "expected_value_saved_net"


def _totals(frame: pd.DataFrame) -> dict[str, float]:
    cost = float(frame["action_cost"].sum())
    net = float(frame[NET].sum())
    gross = round(net + cost, 2)
    return {"customers": len(frame), "cost": round(cost, 2), "gross": gross, "net": round(net, 2)}


def summarize(table: pd.DataFrame) -> dict[str, object]:
    """Contacts, cost, expected value saved gross (before the contact cost) and net (after it),
    overall and by stage, risk tier and action."""
    overall = _totals(table)

    def by(column: str) -> dict[str, dict[str, float]]:
        return {str(k): _totals(g) for k, g in table.groupby(column, sort=True)}

    return {
        "selected": overall["customers"],
        "total_cost": overall["cost"],
        GROSS: overall["gross"],
        NET: overall["net"],
        "expected_value_at_risk": round(float(table["expected_value_at_risk"].sum()), 2),
        "by_stage": by("current_stage"),
        "by_tier": by("risk_tier"),
        "by_action": by("recommended_action"),
    }
