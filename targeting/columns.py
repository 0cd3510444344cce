"""What each column of the target list is called, formatted as and means, for people.

One table (`COLUMNS`, then `PATTERNS` for numbered and per-model columns) serves the spreadsheet's
headers, number formats and its "How to read" glossary: a renamed or added column of the list
needs one entry here. A column without one still gets a title-cased header and a format guessed
from its name and values, never an error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

Kind = Literal["text", "integer", "version", "percent", "money", "number", "date"]
MONEY = "#,##0.00"  # no currency is configured: amounts are in the source data's currency
FORMATS: dict[str, str] = {
    "text": "@",
    "integer": "#,##0",
    "version": "0",
    "percent": "0.0%",
    "money": MONEY,
    "number": "#,##0.00",
    "date": "yyyy-mm-dd",
}
WINDOW = "{window}"  # in meanings: "the next 90 days" when the list says its window (`explain`)


@dataclass(frozen=True)
class Column:
    label: str
    kind: Kind
    meaning: str = ""


COLUMNS: dict[str, Column] = {
    "rank": Column("Rank", "integer", "Position in the list: 1 is the customer to contact first."),
    "customer_id": Column("Customer", "text", "The customer's id, as in your customer data."),
    "churn_probability": Column(
        "Churn probability",
        "percent",
        f"How likely the customer is to make no purchase in {WINDOW}. Calibrated: of 100 customers "
        "at 30%, about 30 are expected to stop buying.",
    ),
    "risk_tier": Column(
        "Risk tier", "text", "high, medium or low: the churn probability against the configured thresholds."
    ),
    "current_stage": Column(
        "Current stage",
        "text",
        "Where the customer is today: purchase (one purchase so far), retention (repeat buyer) or "
        "advocacy (loyal, or recommends you).",
    ),
    "next_stage": Column(
        "Predicted next stage",
        "text",
        "The stage the next-stage model expects about a month ahead; churned means no more purchases.",
    ),
    "customer_value": Column(
        "Customer value", "money", f"What the customer is expected to spend over {WINDOW}."
    ),
    "expected_value_at_risk": Column(
        "Expected value at risk",
        "money",
        "Churn probability x customer value: the spend expected to be lost if nothing is done.",
    ),
    "expected_value_saved_gross": Column(
        "Expected saving, gross (before contact cost)",
        "money",
        "What contacting the customer is expected to keep of their value: churn probability x "
        "customer value x success rate.",
    ),
    "expected_value_saved_net": Column(
        "Expected saving, net (after contact cost)",
        "money",
        "The gross saving minus the contact cost: what the contact is expected to earn.",
    ),
    "uplift": Column(
        "Uplift",
        "percent",
        "How much the contact is expected to lower the customer's churn probability (uplift model).",
    ),
    "recommended_action": Column(
        "Recommended action", "text", "What to offer, chosen by stage and main reason (configs/actions.yaml)."
    ),
    "action_cost": Column(
        "Contact cost", "money", "What one contact with this action costs, incentive included."
    ),
    "success_rate": Column(
        "Success rate", "percent", "Share of contacted would-be churners the action is expected to keep."
    ),
    "contact_channel": Column("Channel", "text", "How to reach the customer (e-mail, phone, ...)."),
}
PATTERNS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], Column]], ...] = (
    (
        re.compile(r"reason_(\d+)"),
        lambda m: Column(
            f"Reason {m[1]}",
            "text",
            "What raises this customer's churn risk most, in words."
            if m[1] == "1"
            else f"The reason that raises the risk most after reason {int(m[1]) - 1}.",
        ),
    ),
    (
        re.compile(r"(\w+)_model_version"),
        lambda m: Column(
            f"{m[1].replace('_', ' ').capitalize()} model version",
            "version",
            f"Version of the {m[1].replace('_', ' ')} model in the registry that scored the customer.",
        ),
    ),
)
# words in an unlabelled column's name that give away its format
PERCENT_WORDS = {"probability", "rate", "share", "uplift"}
MONEY_WORDS = {"value", "cost", "saved", "saving", "savings", "gross", "net", "spend", "amount", "revenue"}


def column(name: str, values: pd.Series | None = None) -> Column:
    """The header, format and meaning of a list column: from the table, or guessed for a new one."""
    if name in COLUMNS:
        return COLUMNS[name]
    for pattern, make in PATTERNS:
        if match := pattern.fullmatch(name):
            return make(match)
    return Column(name.replace("_", " ").title(), _guess(name, values))


def window_text(window_days: int | None) -> str:
    """The churn window in words: in days when the list says it."""
    return f"the next {window_days} days" if window_days else "the prediction window (90 days by default)"


def explain(c: Column, window_days: int | None) -> str:
    """A column's meaning for the reader, with the list's churn window filled in."""
    return c.meaning.replace(WINDOW, window_text(window_days))


def label(name: str) -> str:
    """The header a column gets in the spreadsheet."""
    return column(name).label


def _guess(name: str, values: pd.Series | None) -> Kind:
    if values is not None and not pd.api.types.is_numeric_dtype(values):
        return "text"
    words = set(name.lower().split("_"))
    if words & PERCENT_WORDS:
        return "percent"
    if words & MONEY_WORDS:
        return "money"
    if values is not None and pd.api.types.is_integer_dtype(values):
        return "integer"
    return "number" if values is not None else "text"


def cells(values: pd.Series, kind: Kind) -> list[Any]:
    """Cell values: numbers as numbers (versions too), missing as empty, text as text.

    A column meant to be numeric that holds some text (a version named "v2-beta") stays text.
    """
    present = values.notna() & values.astype(str).ne("")
    if kind not in ("text", "date"):
        numbers = pd.to_numeric(values.where(present), errors="coerce")
        if numbers.notna().sum() == present.sum():
            return [_number(v, kind) for v in numbers]
    return [str(v) if keep else None for v, keep in zip(values, present, strict=True)]


def _number(value: float, kind: Kind) -> float | int | None:
    if math.isnan(value):
        return None
    if kind in ("integer", "version") and float(value).is_integer():
        return int(value)
    return float(value)
