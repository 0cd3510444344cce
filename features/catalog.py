"""The feature catalog: name, family, window and meaning of every feature, in one place.

The Ibis transforms produce exactly these columns (tested), Feast schemas are generated from
them, and the plain-language reasons of a score quote their descriptions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from core.config import Demographic

Family = Literal["behavioural", "transactional", "demographic"]
FAMILIES: tuple[Family, ...] = ("behavioural", "transactional", "demographic")

# (event family or None for all events, windows in days)
EVENT_COUNTS: tuple[tuple[str | None, tuple[int, ...]], ...] = (
    (None, (7, 30, 90)),
    ("visit", (7, 30, 90)),
    ("product_view", (7, 30, 90)),
    ("login", (7, 30, 90)),
    ("cart", (30, 90)),
    ("checkout", (30, 90)),
    ("email_open", (30, 90)),
    ("email_click", (30, 90)),
    ("support_contact", (30, 90)),
    ("complaint", (30, 90)),
)
EVENT_RECENCY: tuple[str | None, ...] = (
    None,
    "visit",
    "product_view",
    "cart",
    "email_open",
    "support_contact",
    "complaint",
)
PURCHASE_WINDOWS = (30, 90, 365)


@dataclass(frozen=True)
class Feature:
    """One feature. `minimum`: the smallest value its definition allows (0 for counts, elapsed days,
    order amounts, rates and ratios of those), None where the definition sets no bound (a rating, a
    declared attribute); the API refuses values below it."""

    name: str
    family: Family
    window: str
    description: str
    kind: Literal["numeric", "categorical"] = "numeric"
    minimum: float | None = None


def count_name(family: str | None, window: int) -> str:
    return f"{family or 'events'}_{window}d"


def recency_name(family: str | None) -> str:
    return f"days_since_last_{family or 'event'}"


def _label(family: str | None) -> str:
    return (family or "any").replace("_", " ")


def behavioural_features() -> list[Feature]:
    """Event counts, recencies, rates, trend and the stage history."""
    out = [
        Feature(
            count_name(fam, w),
            "behavioural",
            f"{w}d",
            f"{_label(fam)} events in the last {w} days",
            minimum=0,
        )
        for fam, windows in EVENT_COUNTS
        for w in windows
    ]
    out += [
        Feature(
            recency_name(fam), "behavioural", "all", f"days since the last {_label(fam)} event", minimum=0
        )
        for fam in EVENT_RECENCY
    ]
    b: Family = "behavioural"
    out += [
        Feature("active_days_30d", b, "30d", "days with any activity in the last 30 days", minimum=0),
        Feature("active_days_90d", b, "90d", "days with any activity in the last 90 days", minimum=0),
        Feature("event_trend", b, "30d/60d", "activity in the last 30 days vs the 60 days before", minimum=0),
        Feature("email_click_rate_90d", b, "90d", "e-mail clicks per e-mail open", minimum=0),
        Feature("reviews_365d", b, "365d", "reviews written in the last year", minimum=0),
        Feature("avg_review_365d", b, "365d", "average review score in the last year"),
        Feature("referrals_365d", b, "365d", "referrals made in the last year", minimum=0),
        Feature("current_stage", b, "now", "current journey stage", "categorical"),
        Feature("days_in_stage", b, "all", "days in the current journey stage", minimum=0),
        Feature("stage_changes", b, "all", "number of journey-stage changes so far", minimum=0),
    ]
    return out


def transactional_features() -> list[Feature]:
    """Recency, frequency, monetary value, purchase rhythm, refunds and discounts."""
    t: Family = "transactional"
    out = [
        Feature(f"purchases_{w}d", t, f"{w}d", f"purchases in the last {w} days", minimum=0)
        for w in PURCHASE_WINDOWS
    ]
    out += [
        Feature("purchases_total", t, "all", "purchases so far", minimum=0),
        Feature("days_since_last_purchase", t, "all", "days since the last purchase", minimum=0),
        Feature("days_since_first_purchase", t, "all", "days since the first purchase", minimum=0),
        Feature("spend_90d", t, "90d", "spend in the last 90 days", minimum=0),
        Feature("spend_365d", t, "365d", "spend in the last year", minimum=0),
        Feature("spend_total", t, "all", "spend so far", minimum=0),
        Feature("avg_order_value", t, "all", "average order value", minimum=0),
        Feature("gap_mean_days", t, "all", "usual days between purchases", minimum=0),
        Feature("gap_std_days", t, "all", "spread of the days between purchases", minimum=0),
        Feature("overdue_ratio", t, "all", "days since the last purchase / usual gap", minimum=0),
        Feature("spend_trend", t, "90d/90d", "spend in the last 90 days vs the 90 days before", minimum=0),
        Feature("refunds_365d", t, "365d", "refunds in the last year", minimum=0),
        Feature("refund_rate_365d", t, "365d", "refunds per purchase in the last year", minimum=0),
        Feature("discount_share_365d", t, "365d", "share of the list price given as discount", minimum=0),
        Feature(
            "categories_365d", t, "365d", "distinct product categories bought in the last year", minimum=0
        ),
    ]
    return out


def demographic_features(demographics: Sequence[Demographic]) -> list[Feature]:
    """Declared attributes plus tenure since first contact."""
    out = [Feature(d.name, "demographic", "static", d.name.replace("_", " "), d.kind) for d in demographics]
    out.append(Feature("tenure_days", "demographic", "all", "days since first contact"))
    return out


def catalog(demographics: Sequence[Demographic]) -> dict[Family, list[Feature]]:
    """Every feature, by family."""
    return {
        "behavioural": behavioural_features(),
        "transactional": transactional_features(),
        "demographic": demographic_features(demographics),
    }


def by_name(demographics: Sequence[Demographic]) -> dict[str, Feature]:
    return {f.name: f for family in catalog(demographics).values() for f in family}
