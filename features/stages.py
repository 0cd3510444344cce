"""Journey stage of every known customer at given as-of times (SPEC section 4), in Ibis."""

from __future__ import annotations

import ibis
from ibis.expr.types import Table

from features.config import StageRules


def known_grid(customers: Table, as_of: Table) -> Table:
    """(customer_id, as_of) for every customer whose first contact is before as_of."""
    return customers.join(as_of, customers.created_at < as_of.as_of).select("customer_id", "as_of")


def _days(delta_days: int) -> ibis.expr.types.IntervalScalar:
    return ibis.interval(days=delta_days)


def _purchase_facts(grid: Table, orders: Table, rules: StageRules) -> Table:
    j = grid.join(orders, [grid.customer_id == orders.customer_id, orders.ts < grid.as_of], how="left")
    loyal = j.ts >= j.as_of - _days(rules.loyal_window_days)
    return j.group_by(["customer_id", "as_of"]).aggregate(
        n_orders=j.ts.count(),
        n_loyal=j.ts.count(where=loyal),
        last_order=j.ts.max(),
    )


def _signal_facts(grid: Table, events: Table, rules: StageRules) -> Table:
    lookback = max(rules.advocacy_signal_days, rules.consideration_days)
    ev = events.select("customer_id", "ts", "event_type", value=_value_column(events))
    j = grid.join(
        ev,
        [
            grid.customer_id == ev.customer_id,
            ev.ts < grid.as_of,
            ev.ts >= grid.as_of - _days(lookback),
        ],
        how="left",
    )
    is_advocacy = j.event_type.isin(list(rules.advocacy_events)) | (
        (j.event_type == "review") & (j.value >= rules.advocacy_min_review)
    )
    is_consideration = j.event_type.isin(list(rules.consideration_events))
    return j.group_by(["customer_id", "as_of"]).aggregate(
        n_advocacy=j.ts.count(where=is_advocacy & (j.ts >= j.as_of - _days(rules.advocacy_signal_days))),
        n_consideration=j.ts.count(
            where=is_consideration & (j.ts >= j.as_of - _days(rules.consideration_days))
        ),
    )


def _value_column(events: Table) -> ibis.Value:
    return events.value.cast("float64") if "value" in events.columns else ibis.null("float64")


def stage_at(grid: Table, orders: Table, events: Table, rules: StageRules) -> Table:
    """Add a `stage` column to a (customer_id, as_of) grid, using only data strictly before as_of."""
    facts = _purchase_facts(grid, orders, rules).join(
        _signal_facts(grid, events, rules), ["customer_id", "as_of"]
    )
    churned = facts.last_order < facts.as_of - _days(rules.churn_definition_days)
    stage = ibis.cases(
        ((facts.n_orders == 0) & (facts.n_consideration > 0), "consideration"),
        (facts.n_orders == 0, "awareness"),
        (churned, "churned"),
        ((facts.n_advocacy > 0) | (facts.n_loyal >= rules.loyal_purchases), "advocacy"),
        (facts.n_orders >= 2, "retention"),
        else_="purchase",
    )
    return facts.select("customer_id", "as_of", stage=stage)
