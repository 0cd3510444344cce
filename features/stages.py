"""Journey stage of every known customer at given as-of times (SPEC section 4), in Ibis."""

from __future__ import annotations

import ibis
from ibis.expr.types import Table

from features.config import StageRules
from features.cumulative import KEYS, Stash, day_of, lookup, no_stash, running_totals, window_count


def known_grid(customers: Table, as_of: Table) -> Table:
    """(customer_id, as_of) for every customer whose first contact is before as_of."""
    return customers.join(as_of, customers.created_at < as_of.as_of).select("customer_id", "as_of")


def _value_column(events: Table) -> ibis.Value:
    return events.value.cast("float64") if "value" in events.columns else ibis.null("float64")


def _signal_facts(grid: Table, events: Table, rules: StageRules, stash: Stash) -> Table:
    ev = events.mutate(day=day_of(events.ts), value=_value_column(events))
    is_advocacy = ev.event_type.isin(list(rules.advocacy_events)) | (
        (ev.event_type == "review") & (ev.value >= rules.advocacy_min_review)
    )
    daily = ev.group_by(["customer_id", "day"]).aggregate(
        adv=ev.ts.count(where=is_advocacy),
        cons=ev.ts.count(where=ev.event_type.isin(list(rules.consideration_events))),
    )
    totals = stash(running_totals(daily, "day", {"adv": daily.adv, "cons": daily.cons}), "stage_signals")
    wanted = {"adv": [0, rules.advocacy_signal_days], "cons": [0, rules.consideration_days]}
    agg = lookup(grid, totals, "day", wanted)
    return agg.select(
        *KEYS,
        n_advocacy=window_count(agg, "adv", rules.advocacy_signal_days),
        n_consideration=window_count(agg, "cons", rules.consideration_days),
    )


def _purchase_facts(grid: Table, orders: Table, rules: StageRules, stash: Stash) -> Table:
    totals = stash(running_totals(orders, "ts", {"n": ibis.literal(1)}, {"last": orders.ts}), "stage_orders")
    agg = lookup(grid, totals, "ts", {"n": [0, rules.loyal_window_days], "last": [0]})
    return agg.select(
        *KEYS,
        n_orders=agg.n_0.fill_null(0),
        n_loyal=window_count(agg, "n", rules.loyal_window_days),
        last_order=agg.last_0,
    )


def stage_at(grid: Table, orders: Table, events: Table, rules: StageRules, stash: Stash = no_stash) -> Table:
    """Add a `stage` column to a (customer_id, as_of) grid, using only data strictly before as_of."""
    purchases = _purchase_facts(grid, orders, rules, stash)
    facts = purchases.join(_signal_facts(grid, events, rules, stash), KEYS)
    churned = facts.last_order < facts.as_of - ibis.interval(days=rules.churn_definition_days)
    stage = ibis.cases(
        ((facts.n_orders == 0) & (facts.n_consideration > 0), "consideration"),
        (facts.n_orders == 0, "awareness"),
        (churned, "churned"),
        ((facts.n_advocacy > 0) | (facts.n_loyal >= rules.loyal_purchases), "advocacy"),
        (facts.n_orders >= 2, "retention"),
        else_="purchase",
    )
    return facts.select(*KEYS, stage=stage)
