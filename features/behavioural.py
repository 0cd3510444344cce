"""Behavioural features in Ibis: event counts, recencies, rates, trend and stage history.

Definitions at a snapshot s (midnight UTC), from events with ts < s; "last w days" is
s - w days <= ts < s; age(ts) = whole days from the day of ts to s:
- `<type>_<w>d`: events of that type in the last w days (`events_<w>d`: every event, any type).
- `days_since_last_<type>`: age of the newest such event over all history; null if none.
- `active_days_<w>d`: distinct days with any event in the last w days.
- `event_trend` = (events_30d + 1) / ((events_90d - events_30d) / 2 + 1).
- `email_click_rate_90d` = email_click_90d / email_open_90d (null when no opens).
- `reviews_365d`, `referrals_365d`; `avg_review_365d`: mean rating of reviews with a value.
- `current_stage`; `stage_changes`: changes between consecutive snapshots up to s;
  `days_in_stage`: days since the first snapshot of the current unbroken run of that stage.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import pandas as pd
from ibis.expr.types import Table

from features.catalog import EVENT_COUNTS, EVENT_RECENCY, count_name, recency_name
from features.windows import (
    ALL_HISTORY,
    KEYS,
    NUMBER,
    Agg,
    Kinds,
    Partials,
    Plan,
    Stash,
    active_days,
    days_since,
    epoch_day,
    event_rows,
    keys,
    maxed,
    no_stash,
    summed,
    tally,
    window_facts,
)

ALL = "all"  # every event, whatever its type
EVENT_WINDOWS = sorted({w for _, ws in EVENT_COUNTS for w in ws} | {365})
# In catalog order: the counts one window reads share packed words (see `Kinds`).
COUNTED = [*dict.fromkeys(f for f, _ in EVENT_COUNTS if f), "review", "referral"]


def _per_bucket(j: Table, plan: Plan) -> dict[str, ibis.Value]:
    is_review = j.event_type == "review"
    return {
        f"n_{ALL}": tally(j.ts),
        "active": active_days(j, plan),
        "review_sum": j.value.sum(where=is_review),
        "review_n": tally(j.value, where=is_review),
    }


def _columns() -> dict[int, dict[str, Agg]]:
    cols: dict[int, dict[str, Agg]] = {}
    for fam, windows in EVENT_COUNTS:
        for w in windows:
            cols.setdefault(w, {})[count_name(fam, w)] = summed(f"n_{fam or ALL}")
    for w in (30, 90):
        cols[w][f"active_days_{w}d"] = summed("active")
    cols.setdefault(365, {}).update(
        reviews_365d=summed("n_review"),
        referrals_365d=summed("n_referral"),
        review_sum_365=summed("review_sum"),
        review_n_365=summed("review_n"),
    )
    return cols


def event_partials(plan: Plan) -> Partials:
    """Per-bucket event counts and day masks, and the windows that read them."""
    cols = _columns()
    zero = tuple(name for named in cols.values() for name in named)
    kinds = Kinds("event_type", {f"n_{f}": frozenset({f}) for f in COUNTED})
    return Partials(per_bucket=lambda j: _per_bucket(j, plan), columns=cols, zero=zero, kinds=kinds)


def recency_partials() -> Partials:
    """The newest day of each event family per stretch between as-of dates, and over all history.

    A pass of its own, per stretch rather than per bucket: recency only needs all history, and
    seven filtered maxima per bucket cost more than a second, coarser pass over the events.
    """

    def per_stretch(j: Table) -> dict[str, ibis.Value]:
        return {
            f"last_{f or ALL}": j.day.max(where=j.event_type == f) if f else j.day.max()
            for f in EVENT_RECENCY
        }

    columns: dict[int, dict[str, Agg]] = {
        ALL_HISTORY: {f"last_{f or ALL}": maxed(f"last_{f or ALL}") for f in EVENT_RECENCY}
    }
    return Partials(per_stretch, columns, stretches=True)


def _event_features(agg: Table) -> dict[str, ibis.Value]:
    out = {count_name(f, w): agg[count_name(f, w)] for f, ws in EVENT_COUNTS for w in ws}
    out |= {recency_name(f): days_since(agg.as_of_day, agg[f"last_{f or ALL}"]) for f in EVENT_RECENCY}
    out |= {
        "active_days_30d": agg.active_days_30d,
        "active_days_90d": agg.active_days_90d,
        "event_trend": (out["events_30d"] + 1) / ((out["events_90d"] - out["events_30d"]) / 2.0 + 1),
        "email_click_rate_90d": out["email_click_90d"] / out["email_open_90d"].nullif(0),
        "reviews_365d": agg.reviews_365d,
        "avg_review_365d": agg.review_sum_365 / agg.review_n_365.nullif(0),
        "referrals_365d": agg.referrals_365d,
    }
    return out


def _stage_history(stages: Table) -> Table:
    """Current stage, days in it and the number of changes, from the stages at past snapshots.

    A run starts at a change (or at the first snapshot); the newest start so far is the start
    of the current run, so one ordered window serves all three. Partitioned by the customer
    number where the stages carry it (cheaper than by the id string).
    """
    customer = NUMBER if NUMBER in stages.columns else "customer_id"
    w = ibis.window(group_by=customer, order_by="as_of")
    prev = stages.stage.lag().over(w)
    changed = (stages.stage != prev).fill_null(False)
    starts = (changed | prev.isnull()).ifelse(stages.as_of, ibis.null(stages.as_of.type()))
    runs = stages.mutate(changed=changed.cast("int64"), starts=starts)
    cum = ibis.cumulative_window(group_by=customer, order_by="as_of")
    runs = runs.mutate(stage_changes=runs.changed.sum().over(cum), run_start=runs.starts.max().over(cum))
    return runs.select(
        *keys(runs),
        current_stage=runs.stage,
        days_in_stage=days_since(epoch_day(runs.as_of), epoch_day(runs.run_start)),
        stage_changes=runs.stage_changes.cast("float64"),
    )


def behavioural_from(facts: Table, stages: Table) -> Table:
    """Behavioural features from the on-grid window aggregates of `event_partials` and the stages."""
    features = facts.select(*keys(facts), **_event_features(facts))
    history = _stage_history(stages)
    if NUMBER in features.columns and NUMBER in history.columns:  # join on integers, not id strings
        return features.join(history.drop("customer_id"), [NUMBER, "as_of"])
    return features.join(history, KEYS)


def behavioural_features(
    grid: Table, dates: Sequence[pd.Timestamp], events: Table, stages: Table, stash: Stash = no_stash
) -> Table:
    """All behavioural features per (customer_id, as_of) of the grid (as-of values = dates)."""
    plan = Plan.of(dates, EVENT_WINDOWS)
    rows = event_rows(events)
    sources = [(rows, event_partials(plan)), (rows, recency_partials())]
    facts = window_facts(grid, plan, sources, stash=stash).on_grid()
    return behavioural_from(facts, stages)
