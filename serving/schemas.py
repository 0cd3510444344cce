"""Request and response models of the scoring API (they generate its OpenAPI schema).

Requests forbid unknown fields, so a client's typo is a 400 naming the field, not a silent default,
and are strict: "3" or true is not an integer, "12" not a number; numbers must be finite. The
features of /score_features are checked against the served models by `features_model`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from _bentoml_sdk.io_models import IODescriptor
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from features.catalog import Feature

MAX_IDS = 1000
MAX_EXPLAIN = 10
EXAMPLE_ID = "C0000068"  # the README's customer (active and at risk in the demo); "Try it out" sends it
EXAMPLE_MODELS = {"churn": "3", "next_stage": "2"}


def _whole(value: Any) -> Any:
    """2.0 is the integer 2 in the document's JSON Schema (OpenAPI 3.1); any other float, a string
    or a boolean still fails the strict check."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Explain = Annotated[
    int,
    Field(
        ge=0,
        le=MAX_EXPLAIN,
        description="number of reasons per customer (0 = none, fastest)",
        examples=[3],
    ),
    BeforeValidator(_whole),  # after the Field: the bounds stay in the JSON schema
]
FiniteNumber = Annotated[float, Field(allow_inf_nan=False)]
FeatureValue = FiniteNumber | str | None  # strict: true is not a number; the model decides which
REQUEST = ConfigDict(extra="forbid", strict=True)
RESPONSE = ConfigDict(extra="forbid")
Versions = Annotated[
    dict[str, str],
    Field(description="model name -> registry version that scored", examples=[EXAMPLE_MODELS]),
]


class ScoreRequest(IODescriptor):
    """Customers to score by id; their features come from the online feature store."""

    model_config = REQUEST

    customer_ids: Annotated[
        list[str],
        Field(
            min_length=1,
            max_length=MAX_IDS,
            description=f"1 to {MAX_IDS} customer ids; an id the store does not know comes back "
            'with status "unknown"',
            examples=[[EXAMPLE_ID, "NO_SUCH_ID"]],
        ),
    ]
    explain: Explain = 3


class CustomerFeatures(BaseModel):
    """One customer's features, for a CRM that holds its own data (names as in docs/features.md)."""

    model_config = REQUEST

    customer_id: str = Field(description="your id for the customer (echoed back)", examples=["crm-1"])
    features: dict[str, FeatureValue] = Field(
        description="feature name -> value, every feature of the served models (GET /model_info "
        "lists them); null = missing",
        examples=[{"current_stage": "retention", "days_since_last_purchase": 120.0, "purchases_total": 3.0}],
    )
    as_of: datetime | None = Field(
        None, description="when these values were true (echoed back)", examples=["2025-01-01T00:00:00Z"]
    )


class ScoreFeaturesRequest(IODescriptor):
    """Customers to score from feature values sent in the body (no online store read)."""

    model_config = REQUEST

    customers: Annotated[
        list[CustomerFeatures],
        Field(
            min_length=1,
            max_length=MAX_IDS,
            description=f"1 to {MAX_IDS} customers, each with every feature of the served models",
        ),
    ]
    explain: Explain = 3


class Reason(BaseModel):
    """One reason for the churn score: a feature that pushed it up or down, in words."""

    model_config = RESPONSE

    feature: str = Field(description="feature name (docs/features.md)", examples=["active_days_30d"])
    value: float | str | None = Field(description="the customer's value of that feature", examples=[1.0])
    contribution: float = Field(
        description="log-odds contribution to the churn score (positive: raises the risk)", examples=[0.4612]
    )
    sentence: str = Field(
        description="the reason in plain language", examples=["Active on only 1 of the last 30 days"]
    )


class CustomerScore(BaseModel):
    """One customer's score; an unknown customer carries only its id and status.

    Churn (probability, risk tier, value at risk, reasons, action) is defined for buyers (stages
    purchase, retention, advocacy); a prospect gets `conversion_probability` instead and a `note`
    saying why it has no churn score.
    """

    model_config = RESPONSE

    customer_id: str = Field(description="the id as sent", examples=[EXAMPLE_ID])
    status: Literal["ok", "stale", "unknown"] = Field(
        description='"ok"; "stale": scored, but its newest features are older than the feature '
        'view\'s time to live; "unknown": no features for this id, not scored',
        examples=["ok"],
    )
    as_of: datetime | None = Field(
        None, description="snapshot time of the features used", examples=["2025-01-01T00:00:00Z"]
    )
    churn_probability: float | None = Field(
        None,
        description="calibrated probability of no purchase within the churn horizon (buyers only)",
        examples=[0.7477],
    )
    risk_tier: Literal["high", "medium", "low"] | None = Field(
        None,
        description="churn probability banded by serving.risk_tiers (buyers only)",
        examples=["high"],
    )
    current_stage: str | None = Field(
        None,
        description="journey stage now: awareness, consideration, purchase, retention, advocacy or churned",
        examples=["advocacy"],
    )
    next_stage: str | None = Field(
        None, description="most probable stage at the stage horizon", examples=["churned"]
    )
    next_stage_probabilities: dict[str, float] | None = Field(
        None,
        description="probability of each stage at the stage horizon (they sum to 1)",
        examples=[
            {
                "awareness": 0.0004,
                "consideration": 0.0004,
                "purchase": 0.0002,
                "retention": 0.0035,
                "advocacy": 0.0078,
                "churned": 0.9877,
            }
        ],
    )
    customer_value: float | None = Field(
        None, description="spend expected over the churn horizon (docs/targeting.md)", examples=[35.16]
    )
    expected_value_at_risk: float | None = Field(
        None, description="churn_probability x customer_value (buyers only)", examples=[26.29]
    )
    top_reasons: list[Reason] = Field(
        default_factory=list,
        description="the strongest reasons for the churn score, as many as `explain` asked (buyers only)",
    )
    recommended_action: str | None = Field(
        None,
        description="retention action for the stage and main reason (configs/actions.yaml)",
        examples=["Loyalty reward and referral bonus"],
    )
    conversion_probability: float | None = Field(
        None,
        description="prospects (awareness, consideration) and churned customers only: probability "
        "of being a buyer (purchase, retention or advocacy) at the stage horizon, from the next-stage model",
        examples=[0.31],
    )
    note: str | None = Field(
        None,
        description="why a field is empty, e.g. no churn score for a prospect",
        examples=["prospect: churn is scored for buyers only (stages purchase, retention, advocacy)"],
    )
    models: Versions = Field(default_factory=dict)


class ScoreResponse(BaseModel):
    """The scores, in the order of the request, and the model versions that made them."""

    model_config = RESPONSE

    scores: list[CustomerScore] = Field(description="one per customer sent, in the same order")
    models: Versions
    request_id: str = Field(
        description="echoes X-Request-ID, or a new id; also in the service log",
        examples=["3f2a9c0d5e8b4a71b6c2d9e0f1a2b3c4"],
    )


class ModelVersionInfo(BaseModel):
    """One served model: its registry version and what it reads."""

    model_config = RESPONSE

    name: str = Field(description="registered model name", examples=["churn"])
    version: str = Field(description="registry version being served", examples=["3"])
    aliases: list[str] = Field(description="registry aliases of this version", examples=[["champion"]])
    feature_service: str = Field(description="Feast feature service it reads", examples=["churn_v1"])
    features: list[str] = Field(
        description="the model's input features, in order",
        examples=[["events_30d", "days_since_last_purchase", "current_stage"]],
    )
    grade: str | None = Field(
        None, description="A, B or C against its baselines (docs/models.md)", examples=["A"]
    )
    data_as_of: str | None = Field(
        None, description="newest cutoff of the training data", examples=["2024-10-01"]
    )
    trained_at: datetime | None = Field(
        None, description="when this version was registered", examples=["2025-01-02T09:30:00Z"]
    )


class ModelInfo(BaseModel):
    """Which models answer, and the feature store they read."""

    model_config = RESPONSE

    models: list[ModelVersionInfo] = Field(description="the churn and next-stage models")
    online_store: str = Field(description="online feature store: sqlite or redis", examples=["sqlite"])
    features_ttl_days: int = Field(
        description="features older than this are scored but flagged stale", examples=[45]
    )
    newest_snapshot: datetime | None = Field(
        None, description="newest feature snapshot served", examples=["2025-01-01T00:00:00Z"]
    )
    reload_seconds: int = Field(
        description="how often the champion alias is checked (a new champion is served without a restart)",
        examples=[30],
    )


class Error(BaseModel):
    """Every error answer: what went wrong, in a sentence a client can act on."""

    error: str = Field(
        description="what went wrong and, where it applies, the field at fault",
        examples=["missing or wrong API key (header X-API-Key)"],
    )
    detail: list[dict[str, Any]] | str | None = Field(
        None,
        description="for a body the schema refused: one entry per invalid field (loc, msg, type)",
        examples=[
            [{"type": "too_short", "loc": ["customer_ids"], "msg": "List should have at least 1 item"}]
        ],
    )


def features_model(features: Sequence[Feature], levels: Mapping[str, Sequence[str]]) -> type[BaseModel]:
    """The `features` object the served models accept: every feature required (null = missing),
    numbers finite and not below the catalog's minimum, categories one of `levels`."""
    fields: dict[str, Any] = {
        f.name: (
            _value_type(f, levels.get(f.name, ())),
            Field(title=f.description, description=allowed(f, levels), examples=[_example(f, levels)]),
        )
        for f in features
    }
    return create_model("Features", __config__=REQUEST, **fields)


def _example(feature: Feature, levels: Mapping[str, Sequence[str]]) -> float | str | None:
    """A value the models accept, so the page's example body for /score_features can be sent as is."""
    if feature.kind == "categorical":
        return next(iter(levels.get(feature.name, ())), None)
    return feature.minimum if feature.minimum is not None else 0.0


def _value_type(feature: Feature, levels: Sequence[str]) -> Any:
    if feature.kind == "categorical":
        choice: Any = Literal.__getitem__(tuple(levels))  # a Literal of the levels known at run time
        return choice | None if levels else None
    return Annotated[float, Field(allow_inf_nan=False, ge=feature.minimum)] | None


def allowed(feature: Feature, levels: Mapping[str, Sequence[str]]) -> str:
    """What a value of the feature may be, in words (the 400 quotes it)."""
    if feature.kind == "categorical":
        return f"one of {list(levels.get(feature.name, ()))} or null"
    floor = f" >= {feature.minimum:g}" if feature.minimum is not None else ""
    return f"a finite number{floor} or null"
