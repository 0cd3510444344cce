"""Request and response models of the scoring API (they generate its OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Reason(BaseModel):
    feature: str = Field(description="feature name from the catalog")
    value: float | str | None = Field(description="the customer's value of that feature")
    contribution: float = Field(description="log-odds contribution to the churn score")
    sentence: str = Field(description="the reason in plain language")


class CustomerScore(BaseModel):
    """One customer's score (SPEC section 6); unknown customers carry only id and status."""

    model_config = ConfigDict(extra="forbid")

    customer_id: str
    status: Literal["ok", "unknown"]
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
    models: dict[str, str] = Field(default_factory=dict, description="model name -> version used")


class ScoreResponse(BaseModel):
    scores: list[CustomerScore]
    models: dict[str, str] = Field(description="model name -> registry version used")
