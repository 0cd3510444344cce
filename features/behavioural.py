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

from collections.abc import Callable, Sequence

import ibis
import pandas as pd
from ibis.expr.types import Table

from features.catalog import EVENT_COUNTS, EVENT_RECENCY, count_name, recency_name
from features.windows import (
    ALL_HISTORY,
    KEYS,
    Plan,
    Stash,
    bucketed,
    days_since,
    epoch_day,
    maxed,
    no_stash,
    on_grid,
    over_windows,
    summed,
)

ALL = "all"  # every event, whatever its type
COUNTED = sorted({f for f, _ in EVENT_COUNTS if f} | {"review", "referral"})
Agg = Callable[[Table], ibis.Value]


def _per_bucket(j: Table) -> dict[str, ibis.Value]:
    is_review = j.event_type == "review"
    return {
        f"n_{ALL}": j.ts.count(),
        **{f"n_{f}": j.ts.count(where=j.event_type == f) for f in COUNTED},
        "active": j.day.nunique(),
        **{
            f"last_{f or ALL}": j.day.max(where=j.event_type == f) if f else j.day.max()
            for f in EVENT_RECENCY
        },
        "review_sum": j.value.sum(where=is_review),
        "review_n": j.value.count(where=is_review),
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
    cols[ALL_HISTORY] = {f"last_{f or ALL}": maxed(f"last_{f or ALL}") for f in EVENT_RECENCY}
    return cols


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
    """Current stage, days in it and the number of changes, from the stages at past snapshots."""
    w = ibis.window(group_by="customer_id", order_by="as_of")
    changed = (stages.stage != stages.stage.lag().over(w)).fill_null(False).cast("int64")
    runs = stages.mutate(changed=changed)
    cum = ibis.cumulative_window(group_by="customer_id", order_by="as_of")
    runs = runs.mutate(stage_changes=runs.changed.sum().over(cum))
    runs = runs.mutate(
        run_start=runs.as_of.min().over(ibis.window(group_by=["customer_id", "stage_changes"]))
    )
    return runs.select(
        *KEYS,
        current_stage=runs.stage,
        days_in_stage=days_since(epoch_day(runs.as_of), epoch_day(runs.run_start)),
        stage_changes=runs.stage_changes.cast("float64"),
    )


def behavioural_features(
    grid: Table, dates: Sequence[pd.Timestamp], events: Table, stages: Table, stash: Stash = no_stash
) -> Table:
    """All behavioural features per (customer_id, as_of) of the grid (as-of values = dates)."""
    value = events.value.cast("float64") if "value" in events.columns else ibis.null("float64")
    ev = events.mutate(day=epoch_day(events.ts), value=value)
    plan = Plan.of(dates, [w for w in _columns() if w != ALL_HISTORY])
    buckets = stash(bucketed(ev, plan, _per_bucket), "event_buckets")
    cols = _columns()
    zero = [name for w, named in cols.items() if w != ALL_HISTORY for name in named]
    agg = on_grid(grid, over_windows(buckets, plan, cols), zero=zero)
    return agg.select(*KEYS, **_event_features(agg)).join(_stage_history(stages), KEYS)
