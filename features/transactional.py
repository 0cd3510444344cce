"""Transactional features in Ibis: recency, frequency, monetary value, rhythm, refunds."""

from __future__ import annotations

import ibis
from ibis.expr.types import Table

from features.catalog import LOOKBACK_DAYS, PURCHASE_WINDOWS
from features.cumulative import KEYS, Stash, lookup, no_stash, running_totals, whole_days, window_count


def _order_totals(orders: Table) -> Table:
    w = ibis.window(group_by="customer_id", order_by="ts")
    gap = (orders.ts.epoch_seconds() - orders.ts.lag().over(w).epoch_seconds()) / 86400.0
    o = orders.mutate(gap=gap, first=orders.ts.min().over(ibis.window(group_by="customer_id")))
    counts = {
        "n": ibis.literal(1),
        "spend": o.amount,
        "gap_sum": o.gap.fill_null(0),
        "gap_sq": (o.gap * o.gap).fill_null(0),
    }
    # `first` is the customer's first order overall; it is read only when an order exists before
    # the snapshot, and then the first order is before the snapshot too.
    return running_totals(o, "ts", counts, {"last": o.ts, "first": o.first})


def _order_features(grid: Table, orders: Table, stash: Stash) -> Table:
    wanted = {"n": [0, *PURCHASE_WINDOWS], "spend": [0, 90, 180, 365], "gap_sum": [0], "gap_sq": [0]}
    totals = stash(_order_totals(orders), "order_totals")
    agg = lookup(grid, totals, "ts", wanted | {"last": [0], "first": [0]})
    n = agg.n_0.fill_null(0)
    gaps = n - 1
    gap_mean = (gaps >= 1).ifelse(agg.gap_sum_0 / gaps, ibis.null("float64"))
    variance = (agg.gap_sq_0 - agg.gap_sum_0 * agg.gap_sum_0 / gaps) / (gaps - 1)
    since_last = whole_days(agg.as_of, agg.last_0)
    spend_90 = window_count(agg, "spend", 90)
    spend_prev_90 = agg.spend_90.fill_null(0) - agg.spend_180.fill_null(0)
    return agg.select(
        *KEYS,
        **{f"purchases_{w}d": window_count(agg, "n", w) for w in PURCHASE_WINDOWS},
        purchases_total=n,
        days_since_last_purchase=since_last,
        days_since_first_purchase=whole_days(agg.as_of, agg.first_0),
        spend_90d=spend_90,
        spend_365d=window_count(agg, "spend", 365),
        spend_total=agg.spend_0.fill_null(0),
        avg_order_value=agg.spend_0 / n.nullif(0),
        gap_mean_days=gap_mean,
        gap_std_days=(gaps >= 2).ifelse(ibis.greatest(variance, 0).sqrt(), ibis.null("float64")),
        overdue_ratio=since_last / gap_mean.nullif(0),
        spend_trend=(spend_90 + 1) / (spend_prev_90 + 1),
    )


def _line_features(grid: Table, lines: Table) -> Table:
    cols = lines.columns
    t = lines.select(
        "customer_id",
        "ts",
        "amount",
        discount=lines.discount.cast("float64").fill_null(0) if "discount" in cols else ibis.null("float64"),
        category=lines.category.cast("string") if "category" in cols else ibis.null("string"),
    )
    j = grid.join(
        t,
        [
            grid.customer_id == t.customer_id,
            t.ts < grid.as_of,  # leakage guard
            t.ts >= grid.as_of - ibis.interval(days=LOOKBACK_DAYS),
        ],
        how="left",
    )
    sale = j.amount > 0
    discount = j.discount.sum(where=sale)
    categories = j.category.nunique(where=sale) if "category" in cols else ibis.null("int64")
    return j.group_by(KEYS).aggregate(
        refunds_365d=j.ts.count(where=j.amount < 0),
        discount_share_365d=discount / (j.amount.sum(where=sale) + discount).nullif(0),
        categories_365d=categories,
    )


def transactional_features(grid: Table, orders: Table, lines: Table, stash: Stash = no_stash) -> Table:
    """All transactional features per (customer_id, as_of) of the grid."""
    out = _order_features(grid, orders, stash).join(_line_features(grid, lines), KEYS)
    return out.mutate(refund_rate_365d=out.refunds_365d / out.purchases_365d.nullif(0))
