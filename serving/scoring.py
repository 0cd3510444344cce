"""Scoring: probabilities, tiers, stages, value, reasons and actions from feature columns.

Pure functions of loaded models and feature values, shared by the HTTP service and batch scoring.
The booster is called on NumPy matrices (no pandas, no scikit-learn wrapper on the hot path), and
TreeSHAP reasons are computed only for the rows that ask for them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from string import Formatter
from typing import Any

import numpy as np
import pandas as pd

from core.config import Action, ReasonTemplate, Settings, choose_action
from core.schema import ACTIVE_STAGES, STAGES
from features.catalog import Feature, by_name
from serving.artifact import PROBABILITY_DIGITS
from serving.models import LoadedModel
from serving.pyfunc import probabilities
from serving.schemas import CustomerScore, Reason

Columns = Mapping[str, Sequence[Any]] | pd.DataFrame
PARALLEL_ROWS = 200  # from this many rows a call uses all cores even in the server (see _run)


@dataclass(frozen=True)
class Predictions:
    churn: np.ndarray
    stage: np.ndarray
    churn_matrix: np.ndarray


def risk_tiers(p: np.ndarray, high: float, medium: float) -> np.ndarray:
    return np.where(p >= high, "high", np.where(p >= medium, "medium", "low"))


def pick_action(
    actions: Sequence[Action], stage: str | None, tier: str | None, family: str | None
) -> str | None:
    """The action for (stage, risk tier, family of the main reason): core.config.choose_action."""
    chosen = choose_action(actions, stage, tier, family)
    return chosen.action if chosen else None


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 10 else f"{value:.2g}"
    return str(value)


def _known(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value))


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, np.floating | np.integer) else value


def _fields(template: ReasonTemplate) -> set[str]:
    """The features a template quotes or bounds."""
    quoted = {field for _, field, _, _ in Formatter().parse(template.text) if field}
    return quoted | set(template.min) | set(template.max)


def _fits(template: ReasonTemplate, name: str, values: Mapping[str, Any]) -> bool:
    if template.missing and _known(values.get(name)):
        return False
    fields = _fields(template) - ({name} if template.missing else set())
    if not all(_known(values.get(f)) for f in fields):
        return False
    low = all(values[f] >= bound for f, bound in template.min.items())
    return low and all(values[f] <= bound for f, bound in template.max.items())


def templated_sentence(
    name: str, value: Any, templates: Sequence[ReasonTemplate], row: Callable[[str], Any] | None = None
) -> str | None:
    """The first of `templates` that fits the customer's values, filled in; None when none fits.

    `row` looks up any other feature of the same customer (templates may quote several).
    """
    fields = {name}.union(*(_fields(t) for t in templates))
    values = {f: _plain(value if f == name else row(f) if row else None) for f in fields}
    for template in templates:
        if _fits(template, name, values):
            return template.text.format(**values)
    return None


def attribute_sentence(feature: Feature, value: Any) -> str:
    """A declared attribute in words: "Customer with region north" (the user names the attributes,
    so no template can be shipped for them)."""
    if not _known(value):
        return f"Customer with no {feature.description} recorded"
    return f"Customer with {feature.description} {_fmt(value)}"


def reason_sentence(
    feature: Feature | None,
    name: str,
    value: Any,
    templates: Sequence[ReasonTemplate] = (),
    row: Callable[[str], Any] | None = None,
) -> str:
    """The first configured template that fits, else a declared attribute's sentence, else the
    bare "<meaning>: <value>" (every catalog feature has templates: a test keeps it so)."""
    sentence = templated_sentence(name, value, templates, row) if templates else None
    if sentence is not None:
        return sentence
    if feature is not None and feature.family == "demographic" and feature.window == "static":
        return attribute_sentence(feature, value)
    meaning = feature.description if feature else name.replace("_", " ")
    if not _known(value):
        return f"{meaning.capitalize()}: none recorded"
    return f"{meaning.capitalize()}: {_fmt(value)}"


VALUE_FEATURE = "spend_365d"


NOTES = {
    "churned": "churned already: churn is scored for active buyers only (stages purchase, retention, "
    "advocacy); conversion_probability is this customer's chance of buying again",
}
PROSPECT_NOTE = (
    "prospect: churn is scored for buyers only (stages purchase, retention, advocacy); "
    "conversion_probability is this customer's chance of becoming one"
)


def conversion_probability(stage: np.ndarray) -> np.ndarray:
    """P(a buying stage at the horizon) from next-stage probabilities (rows x STAGES)."""
    buying = [STAGES.index(s) for s in ACTIVE_STAGES]
    return np.asarray(stage)[:, buying].sum(axis=1)


def run_rate_value(columns: Columns, window_days: int) -> np.ndarray:
    """Customer value: the spend expected over the window at the trailing-year run rate (>= 0).

    The one definition used by the API, batch scoring, targeting and uplift. spend_365d sums
    orders; refunds are counted, not deducted, in the features.
    """
    spend = np.asarray(columns[VALUE_FEATURE], dtype=np.float64)
    return np.nan_to_num(spend, nan=0.0).clip(min=0.0) * (window_days / 365.0)


class Scorer:
    """Both champions plus the configuration that turns their outputs into a score."""

    def __init__(self, churn: LoadedModel, stage: LoadedModel, settings: Settings, threads: int = 0) -> None:
        """`threads`: LightGBM threads per call; 0 = all cores (batch), 1 for a server (see _run)."""
        self.churn = churn
        self.stage = stage
        self.settings = settings
        self.threads = threads
        self.catalog = by_name(settings.demographics)

    @property
    def versions(self) -> dict[str, str]:
        return {self.churn.name: self.churn.version, self.stage.name: self.stage.version}

    @property
    def features(self) -> list[str]:
        """Every feature either model needs, in a stable order."""
        return list(dict.fromkeys([*self.churn.inputs.features, *self.stage.inputs.features]))

    def predict(self, columns: Columns) -> Predictions:
        x = self.churn.inputs.matrix(columns)
        churn = self._run(self.churn, x)
        stage = self._run(self.stage, self.stage.inputs.matrix(columns))
        return Predictions(churn=churn, stage=stage, churn_matrix=x)

    def churn_probability(self, columns: Columns) -> np.ndarray:
        """Calibrated churn probabilities alone: ranking a million customers needs no next stage."""
        return self._run(self.churn, self.churn.inputs.matrix(columns))

    def next_stage(self, columns: Columns) -> np.ndarray:
        """The most likely next stage of each row (for the listed rows only, in batch targeting)."""
        return np.asarray(STAGES)[self.stage_probabilities(columns).argmax(axis=1)]

    def stage_probabilities(self, columns: Columns) -> np.ndarray:
        """The next-stage model's probabilities alone (rows x STAGES)."""
        return self._run(self.stage, self.stage.inputs.matrix(columns))

    def _run(self, model: LoadedModel, x: np.ndarray) -> np.ndarray:
        """The model's probabilities on a NumPy matrix, by the registered model's own code
        (serving.pyfunc.probabilities), so the registry's model answers what the API answers."""
        return probabilities(model.booster, model.inputs, model.calibration, x, **self._threads(len(x)))

    def _threads(self, rows: int) -> dict[str, Any]:
        """A server passes threads=1: requests already run concurrently, and with the cores busy
        OpenMP's thread hand-off made one-row calls' tail latency tens of times longer
        (docs/benchmarks.md). Batches of PARALLEL_ROWS or more use every core even then: their
        work per thread dwarfs the hand-off (`python -m benchmarks.online_read`)."""
        return {"num_threads": self.threads} if self.threads and rows < PARALLEL_ROWS else {}

    def customer_value(self, columns: Columns) -> np.ndarray:
        """Spend expected over the prediction window at the customer's trailing-year run rate."""
        return run_rate_value(columns, self.settings.labels.prediction_window_days)

    def reasons(
        self, matrix: np.ndarray, columns: Columns, rows: Sequence[int], k: int
    ) -> list[list[Reason]]:
        """The k features pushing churn risk up the most, for the given rows only."""
        if k == 0 or len(rows) == 0:
            return [[] for _ in rows]
        x, booster = matrix[list(rows)], self.churn.booster
        contrib = np.asarray(
            booster.predict(
                x, num_iteration=booster.best_iteration, pred_contrib=True, **self._threads(len(x))
            )
        )
        names = self.churn.inputs.features
        out = []
        for contrib_row, row in zip(contrib[:, :-1], rows, strict=True):
            top = np.argsort(-contrib_row)[:k]
            out.append([self._reason(names[i], columns, row, float(contrib_row[i])) for i in top])
        return out

    def _reason(self, name: str, columns: Columns, row: int, contribution: float) -> Reason:
        value = _plain(columns[name][row])
        if isinstance(value, float) and np.isnan(value):
            value = None
        templates = self.settings.reasons.get(name, ())
        lookup = (lambda f: columns[f][row] if f in columns else None) if templates else None
        sentence = reason_sentence(self.catalog.get(name), name, value, templates, lookup)
        return Reason(feature=name, value=value, contribution=round(contribution, 4), sentence=sentence)

    def scores(
        self,
        ids: Sequence[str],
        columns: Columns,
        known: Sequence[bool] | np.ndarray,
        as_of: Sequence[Any],
        explain: int,
        stale: Sequence[bool] | np.ndarray | None = None,
    ) -> list[CustomerScore]:
        """Full SPEC section 6 records; unknown customers get status "unknown" and nothing made up.

        Rows flagged stale are scored from what the store holds and carry status "stale". The
        numbers of every record are computed for all rows at once; only the assembly is per row.
        """
        rows = [i for i in range(len(ids)) if known[i]]
        if len(rows) == len(ids):
            sub: Columns = columns
        else:
            sub = {name: [columns[name][i] for i in rows] for name in self.features}
        out: dict[int, CustomerScore] = {}
        if rows:
            pred = self.predict(sub)
            reasons = self.reasons(pred.churn_matrix, sub, range(len(rows)), explain)
            value = self.customer_value(sub)
            tiers = self.settings.serving.risk_tiers
            stage_p = np.round(pred.stage, PROBABILITY_DIGITS)  # as serving.pyfunc.output_frame
            fields = {
                "churn_probability": np.round(pred.churn, PROBABILITY_DIGITS).tolist(),
                "risk_tier": risk_tiers(pred.churn, tiers.high, tiers.medium).tolist(),
                "next_stage": np.asarray(STAGES)[stage_p.argmax(axis=1)].tolist(),
                "customer_value": np.round(value, 2).tolist(),
                "expected_value_at_risk": np.round(pred.churn * value, 2).tolist(),
            }
            probabilities = stage_p.tolist()
            current = list(sub["current_stage"])
            buyer = np.isin(np.asarray(current, dtype=object), ACTIVE_STAGES)
            conversion = np.round(conversion_probability(pred.stage), PROBABILITY_DIGITS).tolist()
            versions = self.versions
            actions: dict[tuple[Any, str, str | None], str | None] = {}
            for j, i in enumerate(rows):
                if not buyer[j]:
                    out[i] = self._prospect(ids[i], stale, i, as_of[i], current[j], probabilities[j])
                    out[i].conversion_probability = conversion[j]
                    out[i].next_stage = fields["next_stage"][j]
                    out[i].customer_value = fields["customer_value"][j]
                    continue
                main = reasons[j][0].feature if reasons[j] else None
                family = self.catalog[main].family if main in self.catalog else None
                key = (current[j], fields["risk_tier"][j], family)
                if key not in actions:
                    actions[key] = pick_action(self.settings.actions, *key)
                out[i] = CustomerScore(
                    customer_id=ids[i],
                    status="stale" if stale is not None and stale[i] else "ok",
                    as_of=as_of[i],
                    current_stage=current[j],
                    next_stage_probabilities=dict(zip(STAGES, probabilities[j], strict=True)),
                    top_reasons=reasons[j],
                    recommended_action=actions[key],
                    models=versions,
                    **{name: values[j] for name, values in fields.items()},
                )
        return [out.get(i) or CustomerScore(customer_id=ids[i], status="unknown") for i in range(len(ids))]

    def _prospect(
        self, customer_id: str, stale: Any, i: int, as_of: Any, stage: str, probabilities: list[float]
    ) -> CustomerScore:
        """A prospect's record: no churn score (churn is defined for buyers), its conversion."""
        return CustomerScore(
            customer_id=customer_id,
            status="stale" if stale is not None and stale[i] else "ok",
            as_of=as_of,
            current_stage=stage,
            next_stage_probabilities=dict(zip(STAGES, probabilities, strict=True)),
            recommended_action=pick_action(self.settings.actions, stage, None, None),
            note=NOTES.get(stage, PROSPECT_NOTE),
            models=self.versions,
        )

    def score_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Vectorised batch scores (no reasons) for a frame of feature rows."""
        pred = self.predict(frame)
        tiers = self.settings.serving.risk_tiers
        value = self.customer_value(frame)
        out = pd.DataFrame({"customer_id": frame["customer_id"].to_numpy()})
        out["churn_probability"] = pred.churn
        out["risk_tier"] = risk_tiers(pred.churn, tiers.high, tiers.medium)
        out["current_stage"] = frame["current_stage"].to_numpy()
        out["next_stage"] = np.asarray(STAGES)[pred.stage.argmax(axis=1)]
        out["next_stage_probability"] = pred.stage.max(axis=1)
        out["customer_value"] = value
        out["expected_value_at_risk"] = pred.churn * value
        return out
