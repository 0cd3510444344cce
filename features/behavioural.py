"""Behavioural features in Ibis: event counts, recencies, rates, trend and stage history."""

from __future__ import annotations

import ibis
from ibis.expr.types import Table

from features.catalog import EVENT_COUNTS, EVENT_RECENCY, LOOKBACK_DAYS, count_name, recency_name

KEYS = ["customer_id", "as_of"]


def age_days(ts: ibis.Value, as_of: ibis.Value) -> ibis.Value:
    """Fractional days from ts back from as_of (positive for the past)."""
    return (as_of.epoch_seconds() - ts.epoch_seconds()) / 86400.0


def _windowed_events(grid: Table, events: Table) -> Table:
    ev = events.select(
        "customer_id",
        "ts",
        "event_type",
        value=events.value.cast("float64") if "value" in events.columns else ibis.null("float64"),
    )
    j = grid.join(
        ev,
        [
            grid.customer_id == ev.customer_id,
            ev.ts < grid.as_of,  # leakage guard: nothing at or after the snapshot
            ev.ts >= grid.as_of - ibis.interval(days=LOOKBACK_DAYS),
        ],
        how="left",
    )
    return j.mutate(age=age_days(j.ts, j.as_of))


def _event_aggregates(j: Table) -> Table:
    def is_family(family: str | None) -> ibis.Value:
        return j.ts.notnull() if family is None else j.event_type == family

    metrics = {
        count_name(fam, w): j.ts.count(where=is_family(fam) & (j.age < w))
        for fam, windows in EVENT_COUNTS
        for w in windows
    }
    metrics |= {recency_name(fam): j.age.min(where=is_family(fam)) for fam in EVENT_RECENCY}
    metrics |= {
        "active_days_30d": j.ts.date().nunique(where=j.age < 30),
        "active_days_90d": j.ts.date().nunique(where=j.age < 90),
        "reviews_365d": j.ts.count(where=j.event_type == "review"),
        "avg_review_365d": j.value.mean(where=j.event_type == "review"),
        "referrals_365d": j.ts.count(where=j.event_type == "referral"),
    }
    return j.group_by(KEYS).aggregate(**metrics)


def _stage_history(stages: Table) -> Table:
    """Current stage, days in it and the number of changes, from the stages at past snapshots."""
    w = ibis.window(group_by="customer_id", order_by="as_of")
    changed = (stages.stage != stages.stage.lag().over(w)).fill_null(False).cast("int64")
    runs = stages.mutate(changed=changed)
    cum = ibis.cumulative_window(group_by="customer_id", order_by="as_of")
    runs = runs.mutate(stage_changes=runs.changed.sum().over(cum))
    run = ibis.window(group_by=["customer_id", "stage_changes"])
    runs = runs.mutate(run_start=runs.as_of.min().over(run))
    return runs.select(
        *KEYS,
        current_stage=runs.stage,
        days_in_stage=age_days(runs.run_start, runs.as_of),
        stage_changes=runs.stage_changes.cast("float64"),
    )


def behavioural_features(grid: Table, events: Table, stages: Table) -> Table:
    """All behavioural features per (customer_id, as_of) of the grid."""
    agg = _event_aggregates(_windowed_events(grid, events))
    trend = (agg.events_30d + 1) / ((agg.events_90d - agg.events_30d) / 2.0 + 1)
    click_rate = agg.email_click_90d / agg.email_open_90d.nullif(0)
    agg = agg.mutate(event_trend=trend, email_click_rate_90d=click_rate)
    return agg.join(_stage_history(stages), KEYS)
