"""Journey stage of every known customer at given as-of times (SPEC section 4), in Ibis."""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import pandas as pd
from ibis.expr.types import Table

from features.config import StageRules
from features.windows import (
    ALL_HISTORY,
    KEYS,
    Plan,
    Stash,
    bucketed,
    epoch_day,
    no_stash,
    on_grid,
    over_windows,
)


def known_grid(customers: Table, as_of: Table) -> Table:
    """(customer_id, as_of) for every customer whose first contact is before as_of."""
    return customers.join(as_of, customers.created_at < as_of.as_of).select("customer_id", "as_of")


def _event_value(events: Table) -> ibis.Value:
    return events.value.cast("float64") if "value" in events.columns else ibis.null("float64")


def _signal_parts(events: Table, plan: Plan, rules: StageRules, stash: Stash) -> list[Table]:
    ev = events.mutate(day=epoch_day(events.ts), value=_event_value(events))

    def per_bucket(j: Table) -> dict[str, ibis.Value]:
        review = (j.event_type == "review") & (j.value >= rules.advocacy_min_review)
        advocacy = j.event_type.isin(list(rules.advocacy_events)) | review
        return {
            "adv": j.ts.count(where=advocacy),
            "cons": j.ts.count(where=j.event_type.isin(list(rules.consideration_events))),
        }

    buckets = stash(bucketed(ev, plan, per_bucket), "stage_events")
    columns: dict[int, dict] = {}
    columns.setdefault(rules.advocacy_signal_days, {})["n_advocacy"] = lambda j: j.adv.sum()
    columns.setdefault(rules.consideration_days, {})["n_consideration"] = lambda j: j.cons.sum()
    return over_windows(buckets, plan, columns)


def _purchase_parts(orders: Table, plan: Plan, rules: StageRules, stash: Stash) -> list[Table]:
    o = orders.mutate(day=epoch_day(orders.ts))
    buckets = stash(bucketed(o, plan, lambda j: {"n": j.ts.count(), "last": j.day.max()}), "stage_orders")
    columns = {
        ALL_HISTORY: {"n_orders": lambda j: j.n.sum(), "last_order": lambda j: j.last.max()},
        rules.loyal_window_days: {"n_loyal": lambda j: j.n.sum()},
    }
    return over_windows(buckets, plan, columns)


def crm_override(staged: Table, history: Table) -> Table:
    """The CRM's newest stage strictly before as_of replaces the rule's stage, where there is one."""
    h = history.select("customer_id", crm_ts=history.ts, crm_stage=history.stage)
    j = staged.asof_join(h, on=staged.as_of > h.crm_ts, predicates="customer_id")
    return j.select(*KEYS, stage=ibis.coalesce(j.crm_stage, j.stage))


def stage_at(
    grid: Table,
    dates: Sequence[pd.Timestamp],
    orders: Table,
    events: Table,
    rules: StageRules,
    stash: Stash = no_stash,
    history: Table | None = None,
) -> Table:
    """Add a `stage` column to a (customer_id, as_of) grid whose as-of values are `dates` (midnights).

    Only data strictly before as_of is used. With a CRM `history` (stage_history table), the
    customer's newest recorded stage before as_of overrides the rules.
    """
    windows = [rules.consideration_days, rules.advocacy_signal_days, rules.loyal_window_days]
    plan = Plan.of(dates, windows)
    parts = [*_purchase_parts(orders, plan, rules, stash), *_signal_parts(events, plan, rules, stash)]
    facts = on_grid(grid, parts, zero=["n_orders", "n_loyal", "n_advocacy", "n_consideration"])
    churned = facts.last_order < facts.as_of_day - rules.churn_definition_days
    stage = ibis.cases(
        ((facts.n_orders == 0) & (facts.n_consideration > 0), "consideration"),
        (facts.n_orders == 0, "awareness"),
        (churned, "churned"),
        ((facts.n_advocacy > 0) | (facts.n_loyal >= rules.loyal_purchases), "advocacy"),
        (facts.n_orders >= 2, "retention"),
        else_="purchase",
    )
    staged = facts.select(*KEYS, stage=stage)
    return staged if history is None else crm_override(staged, history)
