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
from pydantic import BaseModel, ConfigDict, Field, create_model

from features.catalog import Feature

MAX_IDS = 1000
MAX_EXPLAIN = 10
Explain = Annotated[
    int, Field(ge=0, le=MAX_EXPLAIN, description="number of reasons per customer (0 = none, fastest)")
]
FiniteNumber = Annotated[float, Field(allow_inf_nan=False)]
FeatureValue = FiniteNumber | str | None  # strict: true is not a number; the model decides which
REQUEST = ConfigDict(extra="forbid", strict=True)


class ScoreRequest(IODescriptor):
    """Score customers by id; their features come from the online feature store."""

    model_config = REQUEST

    customer_ids: Annotated[list[str], Field(min_length=1, max_length=MAX_IDS)]
    explain: Explain = 3


class CustomerFeatures(BaseModel):
    """One customer's features, for a CRM that holds its own data (names as in docs/features.md)."""

    model_config = REQUEST

    customer_id: str
    features: dict[str, FeatureValue] = Field(description="feature name -> value; null = missing")
    as_of: datetime | None = Field(None, description="when these values were true (echoed back)")


class ScoreFeaturesRequest(IODescriptor):
    model_config = REQUEST

    customers: Annotated[list[CustomerFeatures], Field(min_length=1, max_length=MAX_IDS)]
    explain: Explain = 3


class Reason(BaseModel):
    feature: str = Field(description="feature name from the catalog")
    value: float | str | None = Field(description="the customer's value of that feature")
    contribution: float = Field(description="log-odds contribution to the churn score")
    sentence: str = Field(description="the reason in plain language")


class CustomerScore(BaseModel):
    """One customer's score (SPEC section 6); unknown customers carry only id and status.

    `stale`: scored, but the newest features are older than the feature view's time to live.
    Churn (probability, risk tier, value at risk, reasons) is defined for buyers only; a prospect
    gets `conversion_probability` instead and a `note` saying why it has no churn score.
    """

    model_config = ConfigDict(extra="forbid")

    customer_id: str
    status: Literal["ok", "stale", "unknown"]
    as_of: datetime | None = None
    churn_probability: float | None = None
    risk_tier: Literal["high", "medium", "low"] | None = None
    current_stage: str | None = None
    next_stage: str | None = None
    next_stage_probabilities: dict[str, float] | None = None
    customer_value: float | None = None
    expected_value_at_risk: float | None = None
    top_reasons: list[Reason] = Field(default_factory=list)
    recommended_action: str | None = None
    conversion_probability: float | None = Field(
        None,
        description="prospects (awareness, consideration) only: probability of being a buyer "
        "(purchase, retention or advocacy) at the stage horizon, from the next-stage model",
    )
    note: str | None = Field(None, description="why a field is empty, e.g. no churn score for a prospect")
    models: dict[str, str] = Field(default_factory=dict, description="model name -> version used")


class ScoreResponse(BaseModel):
    scores: list[CustomerScore]
    models: dict[str, str] = Field(description="model name -> registry version used")
    request_id: str = Field(description="echoes X-Request-ID, or a new id; also in the service log")


class ModelVersionInfo(BaseModel):
    name: str
    version: str
    aliases: list[str]
    feature_service: str
    features: list[str] = Field(description="the model's input features, in order")
    grade: str | None = None
    data_as_of: str | None = Field(None, description="newest cutoff of the training data")
    trained_at: datetime | None = None


class ModelInfo(BaseModel):
    models: list[ModelVersionInfo]
    online_store: str
    features_ttl_days: int
    newest_snapshot: datetime | None = Field(None, description="newest feature snapshot served")
    reload_seconds: int = Field(description="how often the champion alias is checked")


def features_model(features: Sequence[Feature], levels: Mapping[str, Sequence[str]]) -> type[BaseModel]:
    """The `features` object the served models accept: every feature required (null = missing),
    numbers finite and not below the catalog's minimum, categories one of `levels`."""
    fields: dict[str, Any] = {
        f.name: (_value_type(f, levels.get(f.name, ())), Field(description=allowed(f, levels)))
        for f in features
    }
    return create_model("Features", __config__=REQUEST, **fields)


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
