"""Transactional features in Ibis: recency, frequency, monetary value, rhythm, refunds.

Definitions at a snapshot s from transaction lines with ts < s. An order is the positive lines of
one customer at one timestamp, amounts summed:
- `purchases_<w>d`, `purchases_total`: orders in the last w days / before s.
- `days_since_last_purchase`, `days_since_first_purchase`: whole days back to the newest/oldest order.
- `spend_90d`, `spend_365d`, `spend_total` (0 when none); `avg_order_value` = spend / orders.
- `gap_mean_days`, `gap_std_days` (sample, >= 3 orders): gaps between consecutive orders in days.
- `overdue_ratio` = days_since_last_purchase / gap_mean_days.
- `spend_trend` = (spend_90d + 1) / (spend in [s-180d, s-90d) + 1).
- `refunds_365d`: negative lines in the last year; `refund_rate_365d` = refunds / purchases_365d.
- `discount_share_365d` = discount / (amount + discount) over positive lines in the last year.
- `categories_365d`: distinct categories of positive lines in the last year.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import pandas as pd
from ibis.expr.types import Table

from features.catalog import PURCHASE_WINDOWS
from features.windows import (
    ALL_HISTORY,
    KEYS,
    Plan,
    Stash,
    bucketed,
    days_since,
    epoch_day,
    no_stash,
    on_grid,
    over_windows,
    summed,
)

WINDOWS = [30, 90, 180, 365]


def _order_buckets(orders: Table, plan: Plan, stash: Stash) -> Table:
    w = ibis.window(group_by="customer_id", order_by="ts")
    gap = (orders.ts.epoch_seconds() - orders.ts.lag().over(w).epoch_seconds()) / 86400.0
    o = orders.mutate(gap=gap, day=epoch_day(orders.ts), pos=ibis.row_number().over(w))
    # Variances from running sums cancel badly when gaps are nearly equal; shifting every gap by
    # the customer's first gap (known whenever a standard deviation is defined) keeps them exact.
    first_gap = (
        (o.pos == 1).ifelse(o.gap, ibis.null("float64")).max().over(ibis.window(group_by="customer_id"))
    )
    o = o.mutate(dev=o.gap - first_gap)
    per_bucket = {
        "n": lambda j: j.ts.count(),
        "spend": lambda j: j.amount.sum(),
        "gap_sum": lambda j: j.gap.sum(),
        "dev_sum": lambda j: j.dev.sum(),
        "dev_sq": lambda j: (j.dev * j.dev).sum(),
        "gap_n": lambda j: j.gap.count(),
        "last": lambda j: j.day.max(),
        "first": lambda j: j.day.min(),
    }
    return stash(bucketed(o, plan, lambda j: {k: f(j) for k, f in per_bucket.items()}), "order_buckets")


def _order_parts(orders: Table, plan: Plan, stash: Stash) -> list[Table]:
    b = _order_buckets(orders, plan, stash)
    total = {name: summed(name) for name in ("n", "spend", "gap_sum", "dev_sum", "dev_sq", "gap_n")}
    columns = {
        ALL_HISTORY: {**total, "last": lambda j: j["last"].max(), "first": lambda j: j["first"].min()},
        30: {"purchases_30d": lambda j: j.n.sum()},
        90: {"purchases_90d": lambda j: j.n.sum(), "spend_90d": lambda j: j.spend.sum()},
        180: {"spend_180d": lambda j: j.spend.sum()},
        365: {"purchases_365d": lambda j: j.n.sum(), "spend_365d": lambda j: j.spend.sum()},
    }
    return over_windows(b, plan, columns)


def _line_aggs(j: Table) -> dict[str, ibis.Value]:
    sale = j.amount > 0
    return {
        "refunds": j.ts.count(where=j.amount < 0),
        "sales": j.amount.sum(where=sale),
        "discount": j.discount.sum(where=sale),
    }


def _line_parts(lines: Table, plan: Plan, stash: Stash) -> list[Table]:
    cols = lines.columns
    discount = lines.discount.cast("float64").fill_null(0) if "discount" in cols else ibis.null("float64")
    t = lines.mutate(day=epoch_day(lines.ts), discount=discount)
    b = stash(bucketed(t, plan, _line_aggs), "line_buckets")
    parts = over_windows(b, plan, {365: {k: summed(k) for k in ("refunds", "sales", "discount")}})
    if "category" in cols:
        sales = t.filter(t.amount > 0).select("customer_id", "day", category=t.category.cast("string"))
        cats = sales.join(plan.day_buckets(), "day").select("customer_id", "bucket", "category").distinct()
        parts += over_windows(cats, plan, {365: {"categories_365d": lambda j: j.category.nunique()}})
    return parts


def _features(a: Table, has_categories: bool) -> dict[str, ibis.Value]:
    gaps = a.gap_n
    gap_mean = (gaps >= 1).ifelse(a.gap_sum / gaps, ibis.null("float64"))
    variance = (a.dev_sq - a.dev_sum * a.dev_sum / gaps) / (gaps - 1)
    since_last = days_since(a.as_of_day, a["last"])
    return {
        **{f"purchases_{w}d": a[f"purchases_{w}d"] for w in PURCHASE_WINDOWS},
        "purchases_total": a.n,
        "days_since_last_purchase": since_last,
        "days_since_first_purchase": days_since(a.as_of_day, a["first"]),
        "spend_90d": a.spend_90d,
        "spend_365d": a.spend_365d,
        "spend_total": a.spend,
        "avg_order_value": a.spend / a.n.nullif(0),
        "gap_mean_days": gap_mean,
        "gap_std_days": (gaps >= 2).ifelse(ibis.greatest(variance, 0).sqrt(), ibis.null("float64")),
        "overdue_ratio": since_last / gap_mean.nullif(0),
        "spend_trend": (a.spend_90d + 1) / (a.spend_180d - a.spend_90d + 1),
        "refunds_365d": a.refunds,
        "refund_rate_365d": a.refunds / a.purchases_365d.nullif(0),
        "discount_share_365d": a.discount / (a.sales + a.discount).nullif(0),
        "categories_365d": a.categories_365d.fill_null(0) if has_categories else ibis.null("float64"),
    }


def transactional_features(
    grid: Table,
    dates: Sequence[pd.Timestamp],
    orders: Table,
    lines: Table,
    stash: Stash = no_stash,
) -> Table:
    """All transactional features per (customer_id, as_of) of the grid (as-of values = dates)."""
    plan = Plan.of(dates, WINDOWS)
    parts = [*_order_parts(orders, plan, stash), *_line_parts(lines, plan, stash)]
    zero = ["n", "spend", "gap_n", "spend_90d", "spend_180d", "spend_365d", "refunds"]
    zero += [f"purchases_{w}d" for w in PURCHASE_WINDOWS]
    a = on_grid(grid, parts, zero=zero)
    return a.select(*KEYS, **_features(a, "category" in lines.columns))
