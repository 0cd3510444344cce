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
    US_PER_DAY,
    Partials,
    Plan,
    Stash,
    bit_count,
    days_since,
    epoch_day,
    epoch_us,
    keys,
    maxed,
    minned,
    no_stash,
    over_windows,
    summed,
    tally,
    window_facts,
)

WINDOWS = [30, 90, 180, 365]
MASK_CATEGORIES = 63  # categories that fit one bit each in an int64


def order_rows(orders: Table) -> Table:
    """Orders with their epoch day, the gap to the customer's previous order and its deviation.

    One window pass: microsecond arithmetic (no time-zone casts), and the customer's first gap
    from the first two order times of the same ordered partition.
    """
    w = ibis.window(group_by="customer_id", order_by="ts", rows=(None, None))
    us = epoch_us(orders.ts)
    o = orders.mutate(
        gap=(us - us.lag().over(w)) / US_PER_DAY,
        # Variances from running sums cancel badly when gaps are nearly equal; shifting every gap
        # by the customer's first gap (known whenever a standard deviation is defined) keeps them exact.
        first_gap=(epoch_us(orders.ts.nth(1).over(w)) - epoch_us(orders.ts.first().over(w))) / US_PER_DAY,
        day=epoch_day(orders.ts),
    )
    return o.mutate(dev=o.gap - o.first_gap).drop("first_gap")


def _order_per_bucket(j: Table) -> dict[str, ibis.Value]:
    return {
        "n": tally(j.ts),
        "spend": j.amount.sum(),
        "gap_sum": j.gap.sum(),
        "dev_sum": j.dev.sum(),
        "dev_sq": (j.dev * j.dev).sum(),
        "gap_n": tally(j.gap),
        "last": j.day.max(),
        "first": j.day.min(),
    }


def order_partials() -> Partials:
    """Per-bucket order counts, spend and gap sums, and the windows that read them."""
    total = {name: summed(name) for name in ("n", "spend", "gap_sum", "dev_sum", "dev_sq", "gap_n")}
    columns = {
        ALL_HISTORY: {**total, "last": maxed("last"), "first": minned("first")},
        30: {"purchases_30d": summed("n")},
        90: {"purchases_90d": summed("n"), "spend_90d": summed("spend")},
        180: {"spend_180d": summed("spend")},
        365: {"purchases_365d": summed("n"), "spend_365d": summed("spend")},
    }
    zero = ("n", "spend", "gap_n", "spend_90d", "spend_180d", "spend_365d")
    return Partials(_order_per_bucket, columns, (*zero, *(f"purchases_{w}d" for w in PURCHASE_WINDOWS)))


def line_rows(lines: Table) -> Table:
    """Transaction lines with their epoch day and a float discount (0 when missing)."""
    has = "discount" in lines.columns
    discount = lines.discount.cast("float64").fill_null(0) if has else ibis.null("float64")
    return lines.mutate(day=epoch_day(lines.ts), discount=discount)


def _line_aggs(j: Table) -> dict[str, ibis.Value]:
    sale = j.amount > 0
    return {
        "refunds": tally(j.ts, where=j.amount < 0),
        "sales": j.amount.sum(where=sale),
        "discount": j.discount.sum(where=sale),
    }


def line_partials() -> Partials:
    """Per-bucket refunds, sales and discounts, and the one-year window that reads them."""
    return Partials(_line_aggs, {365: {k: summed(k) for k in ("refunds", "sales", "discount")}}, ("refunds",))


def category_parts(t: Table, plan: Plan) -> list[Table]:
    """Distinct categories of positive lines (`line_rows`) in the last year, as a distinct count."""
    sales = t.filter(t.amount > 0).select("customer_id", "day", category=t.category.cast("string"))
    cats = sales.join(plan.day_buckets(), "day").select("customer_id", "bucket", "category").distinct()
    return over_windows(cats, plan, {365: {"categories_365d": lambda j: j.category.nunique()}})


def _category_masks() -> Partials:
    """Per bucket, one bit per category of positive lines; a year's count is the bits of their OR."""
    one = ibis.literal(1).cast("int64")

    def per_bucket(j: Table) -> dict[str, ibis.Value]:
        return {"categories": (one << j.code).bit_or(where=j.amount > 0)}

    def count(j: Table) -> ibis.Value:
        return bit_count(j.categories.bit_or()).cast("float64")

    return Partials(per_bucket, {365: {"categories_365d": count}})


def line_source(lines: Table, plan: Plan) -> tuple[tuple[Table, Partials], list[Table]]:
    """The lines' rows and partials, and the extra parts the category count needs, if any.

    Up to MASK_CATEGORIES categories each get a bit: the count then rides along in the bucket
    pass and the one-year window (OR the masks, count the bits) instead of a separate, far
    costlier distinct-count pass.
    """
    rows = line_rows(lines)
    if "category" not in lines.columns:
        return (rows, line_partials()), []
    names = lines.select(category=lines.category.cast("string")).distinct().drop_null("category")
    codes = names.mutate(code=ibis.dense_rank().over(order_by="category").cast("int64"))
    if codes.count().execute() > MASK_CATEGORIES:
        return (rows, line_partials()), category_parts(rows, plan)
    j = rows.left_join(codes, rows.category.cast("string") == codes.category)
    coded = j.select(*[j[c] for c in rows.columns], code=j.code)
    return (coded, line_partials() | _category_masks()), []


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


def transactional_from(facts: Table, has_categories: bool) -> Table:
    """Transactional features from the on-grid window aggregates of orders, lines and categories."""
    return facts.select(*keys(facts), **_features(facts, has_categories))


def transactional_features(
    grid: Table,
    dates: Sequence[pd.Timestamp],
    orders: Table,
    lines: Table,
    stash: Stash = no_stash,
) -> Table:
    """All transactional features per (customer_id, as_of) of the grid (as-of values = dates)."""
    plan = Plan.of(dates, WINDOWS)
    lined, extra = line_source(lines, plan)
    sources = [(order_rows(orders), order_partials()), lined]
    facts = window_facts(grid, plan, sources, extra, stash).on_grid()
    return transactional_from(facts, "category" in lines.columns)
