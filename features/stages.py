"""Journey stage of every known customer at given as-of times (SPEC section 4), in Ibis."""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import pandas as pd
from ibis.expr.types import Table

from core.config import StageRules
from features.windows import (
    ALL_HISTORY,
    Kinds,
    Partials,
    Plan,
    Stash,
    epoch_day,
    event_rows,
    keys,
    maxed,
    no_stash,
    summed,
    tally,
    window_facts,
)


def known_grid(customers: Table, as_of: Table) -> Table:
    """(customer_id, as_of) for every customer whose first contact is before as_of."""
    return customers.join(as_of, customers.created_at < as_of.as_of).select("customer_id", "as_of")


def signal_partials(rules: StageRules) -> Partials:
    """Per-bucket advocacy and consideration events, and the windows of the rules that read them."""

    def per_bucket(j: Table) -> dict[str, ibis.Value]:
        review = (j.event_type == "review") & (j.value >= rules.advocacy_min_review)
        advocacy = j.event_type.isin(list(rules.advocacy_events)) | review
        return {"adv": tally(j.ts, where=advocacy)}

    columns: dict[int, dict] = {}
    columns.setdefault(rules.advocacy_signal_days, {})["n_advocacy"] = summed("adv")
    columns.setdefault(rules.consideration_days, {})["n_consideration"] = summed("cons")
    kinds = Kinds("event_type", {"cons": frozenset(rules.consideration_events)})
    return Partials(per_bucket, columns, ("n_advocacy", "n_consideration"), kinds=kinds)


def order_partials(rules: StageRules) -> Partials:
    """Per-bucket order counts and newest days (same names and meaning as the transactional ones)."""
    columns = {
        ALL_HISTORY: {"n_orders": summed("n"), "last_order": maxed("last")},
        rules.loyal_window_days: {"n_loyal": summed("n")},
    }
    return Partials(lambda j: {"n": tally(j.ts), "last": j.day.max()}, columns, ("n_orders", "n_loyal"))


def rule_windows(rules: StageRules) -> list[int]:
    return [rules.consideration_days, rules.advocacy_signal_days, rules.loyal_window_days]


def crm_override(staged: Table, history: Table) -> Table:
    """The CRM's newest stage strictly before as_of replaces the rule's stage, where there is one."""
    h = history.select("customer_id", crm_ts=history.ts, crm_stage=history.stage)
    j = staged.asof_join(h, on=staged.as_of > h.crm_ts, predicates="customer_id")
    return j.select(*keys(staged), stage=ibis.coalesce(j.crm_stage, j.stage))


def stage_from(facts: Table, rules: StageRules, history: Table | None = None) -> Table:
    """The stage per (customer_id, as_of) from the on-grid aggregates of the two partials above.

    With a CRM `history` (stage_history table), the customer's newest recorded stage before
    as_of overrides the rules.
    """
    churned = facts.last_order < facts.as_of_day - rules.churn_definition_days
    stage = ibis.cases(
        ((facts.n_orders == 0) & (facts.n_consideration > 0), "consideration"),
        (facts.n_orders == 0, "awareness"),
        (churned, "churned"),
        ((facts.n_advocacy > 0) | (facts.n_loyal >= rules.loyal_purchases), "advocacy"),
        (facts.n_orders >= 2, "retention"),
        else_="purchase",
    )
    staged = facts.select(*keys(facts), stage=stage)
    return staged if history is None else crm_override(staged, history)


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
    plan = Plan.of(dates, rule_windows(rules))
    o = orders.mutate(day=epoch_day(orders.ts))
    sources = [(o, order_partials(rules)), (event_rows(events), signal_partials(rules))]
    return stage_from(window_facts(grid, plan, sources, stash=stash).on_grid(), rules, history)
