"""Behavioural features in Ibis: event counts, recencies, rates, trend and stage history."""

from __future__ import annotations

import ibis
from ibis.expr.types import Table

from features.catalog import EVENT_COUNTS, EVENT_RECENCY, count_name, recency_name
from features.cumulative import (
    KEYS,
    Stash,
    day_of,
    lookup,
    no_stash,
    running_totals,
    whole_days,
    window_count,
)

ALL = "all"  # the running total of every event, whatever its type
COUNTED = sorted({f for f, _ in EVENT_COUNTS if f} | {f for f in EVENT_RECENCY if f} | {"review", "referral"})


def _daily(events: Table) -> Table:
    value = events.value.cast("float64") if "value" in events.columns else ibis.null("float64")
    ev = events.mutate(day=day_of(events.ts), value=value)
    is_review = ev.event_type == "review"
    return ev.group_by(["customer_id", "day"]).aggregate(
        **{f"n_{ALL}": ev.ts.count()},
        **{f"n_{f}": ev.ts.count(where=ev.event_type == f) for f in COUNTED},
        review_sum=ev.value.sum(where=is_review).fill_null(0),
        review_n=ev.value.count(where=is_review),
    )


def _wanted() -> dict[str, list[int]]:
    wanted: dict[str, set[int]] = {"active": {0, 30, 90}, "review_sum": {0, 365}, "review_n": {0, 365}}
    for fam, windows in EVENT_COUNTS:
        wanted.setdefault(f"n_{fam or ALL}", {0}).update(windows)
    for fam in ("review", "referral"):
        wanted.setdefault(f"n_{fam}", {0}).add(365)
    wanted |= {f"last_{fam or ALL}": {0} for fam in EVENT_RECENCY}
    return {k: sorted(v) for k, v in wanted.items()}


def _event_lookup(grid: Table, events: Table, stash: Stash) -> Table:
    daily = _daily(events)
    counts = {c: daily[c] for c in daily.columns if c.startswith(("n_", "review_"))}
    counts["active"] = ibis.literal(1)
    no_day = ibis.null(daily.day.type())
    carry = {
        f"last_{fam or ALL}": (daily[f"n_{fam or ALL}"] > 0).ifelse(daily.day, no_day)
        for fam in EVENT_RECENCY
    }
    totals = stash(running_totals(daily, "day", counts, carry), "event_totals")
    return lookup(grid, totals, "day", _wanted())


def _event_features(agg: Table) -> dict[str, ibis.Value]:
    out = {count_name(f, w): window_count(agg, f"n_{f or ALL}", w) for f, ws in EVENT_COUNTS for w in ws}
    out |= {recency_name(f): whole_days(agg.as_of, agg[f"last_{f or ALL}_0"]) for f in EVENT_RECENCY}
    reviews = window_count(agg, "review_n", 365)
    out |= {
        "active_days_30d": window_count(agg, "active", 30),
        "active_days_90d": window_count(agg, "active", 90),
        "event_trend": (out["events_30d"] + 1) / ((out["events_90d"] - out["events_30d"]) / 2.0 + 1),
        "email_click_rate_90d": out["email_click_90d"] / out["email_open_90d"].nullif(0),
        "reviews_365d": window_count(agg, "n_review", 365),
        "avg_review_365d": window_count(agg, "review_sum", 365) / reviews.nullif(0),
        "referrals_365d": window_count(agg, "n_referral", 365),
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
        days_in_stage=whole_days(runs.as_of, runs.run_start),
        stage_changes=runs.stage_changes.cast("float64"),
    )


def behavioural_features(grid: Table, events: Table, stages: Table, stash: Stash = no_stash) -> Table:
    """All behavioural features per (customer_id, as_of) of the grid."""
    agg = _event_lookup(grid, events, stash)
    return agg.select(*KEYS, **_event_features(agg)).join(_stage_history(stages), KEYS)
