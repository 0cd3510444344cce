"""The input contract (SPEC section 3) and the journey vocabulary shared by every package."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnKind = Literal["id", "timestamp", "float", "str", "bool"]

STAGES: tuple[str, ...] = (
    "awareness",
    "consideration",
    "purchase",
    "retention",
    "advocacy",
    "churned",
)
ACTIVE_STAGES: tuple[str, ...] = ("purchase", "retention", "advocacy")

EVENT_FAMILIES: tuple[str, ...] = (
    "visit",
    "product_view",
    "cart",
    "checkout",
    "email_open",
    "email_click",
    "support_contact",
    "complaint",
    "review",
    "referral",
    "login",
    "subscription_start",
    "subscription_cancel",
)
OTHER_EVENT = "other"


@dataclass(frozen=True)
class TableSpec:
    """Columns of one input table after mapping: required ones must exist, optional may."""

    name: str
    required: dict[str, ColumnKind]
    optional: dict[str, ColumnKind] = field(default_factory=dict)
    must_exist: bool = True


TABLES: dict[str, TableSpec] = {
    "customers": TableSpec("customers", {"customer_id": "id", "created_at": "timestamp"}),
    "transactions": TableSpec(
        "transactions",
        {"customer_id": "id", "ts": "timestamp", "amount": "float"},
        {"order_id": "id", "quantity": "float", "category": "str", "discount": "float"},
    ),
    "events": TableSpec(
        "events",
        {"customer_id": "id", "ts": "timestamp", "event_type": "str"},
        {"channel": "str", "value": "float"},
    ),
    "stage_history": TableSpec(
        "stage_history", {"customer_id": "id", "ts": "timestamp", "stage": "str"}, must_exist=False
    ),
    "campaigns": TableSpec(
        "campaigns",
        {"customer_id": "id", "ts": "timestamp", "campaign_id": "id", "treated": "bool"},
        {"cost": "float"},
        must_exist=False,
    ),
}

# Registered model names and aliases: training and serving meet only through these.
CHURN_MODEL = "churn"
STAGE_MODEL = "next_stage"
CHAMPION = "champion"
CHALLENGER = "challenger"
