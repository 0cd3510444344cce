"""Transactional features in Ibis: recency, frequency, monetary value, rhythm, refunds."""

from __future__ import annotations

import ibis
from ibis.expr.types import Table

from features.behavioural import KEYS, age_days
from features.catalog import LOOKBACK_DAYS, PURCHASE_WINDOWS


def _orders_with_gaps(orders: Table) -> Table:
    w = ibis.window(group_by="customer_id", order_by="ts")
    previous = orders.ts.lag().over(w)
    return orders.mutate(gap=age_days(previous, orders.ts))


def _order_aggregates(grid: Table, orders: Table) -> Table:
    o = _orders_with_gaps(orders)
    j = grid.join(o, [grid.customer_id == o.customer_id, o.ts < grid.as_of], how="left")
    j = j.mutate(age=age_days(j.ts, j.as_of))
    metrics = {f"purchases_{w}d": j.ts.count(where=j.age < w) for w in PURCHASE_WINDOWS}
    metrics |= {
        "purchases_total": j.ts.count(),
        "days_since_last_purchase": j.age.min(),
        "days_since_first_purchase": j.age.max(),
        "spend_90d": j.amount.sum(where=j.age < 90),
        "spend_prev_90d": j.amount.sum(where=(j.age >= 90) & (j.age < 180)),
        "spend_365d": j.amount.sum(where=j.age < 365),
        "spend_total": j.amount.sum(),
        "avg_order_value": j.amount.mean(),
        "gap_mean_days": j.gap.mean(),
        "gap_std_days": j.gap.std(),
    }
    return j.group_by(KEYS).aggregate(**metrics)


def _line_aggregates(grid: Table, lines: Table) -> Table:
    cols = lines.columns
    t = lines.select(
        "customer_id",
        "ts",
        "amount",
        discount=lines.discount.cast("float64") if "discount" in cols else ibis.null("float64"),
        category=lines.category.cast("string") if "category" in cols else ibis.null("string"),
    )
    j = grid.join(
        t,
        [
            grid.customer_id == t.customer_id,
            t.ts < grid.as_of,
            t.ts >= grid.as_of - ibis.interval(days=LOOKBACK_DAYS),
        ],
        how="left",
    )
    sale = j.amount > 0
    discount = j.discount.sum(where=sale)
    return j.group_by(KEYS).aggregate(
        refunds_365d=j.ts.count(where=j.amount < 0),
        discount_share_365d=discount / (j.amount.sum(where=sale) + discount).nullif(0),
        categories_365d=j.category.nunique(where=sale),
    )


def transactional_features(grid: Table, orders: Table, lines: Table) -> Table:
    """All transactional features per (customer_id, as_of) of the grid."""
    o = _order_aggregates(grid, orders)
    o = o.mutate(
        spend_90d=o.spend_90d.fill_null(0),
        spend_365d=o.spend_365d.fill_null(0),
        spend_total=o.spend_total.fill_null(0),
        overdue_ratio=o.days_since_last_purchase / o.gap_mean_days.nullif(0),
        spend_trend=(o.spend_90d.fill_null(0) + 1) / (o.spend_prev_90d.fill_null(0) + 1),
    ).drop("spend_prev_90d")
    lines_agg = _line_aggregates(grid, lines)
    out = o.join(lines_agg, KEYS)
    return out.mutate(refund_rate_365d=out.refunds_365d / out.purchases_365d.nullif(0))
