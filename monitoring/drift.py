"""Drift of the newest snapshot from the champions' training rows: PSI per feature and for the
scores, missing-value rates, unseen categories and the stage mix (docs/monitoring.md, "Drift").

Training logs a reference profile (monitoring/profile.py) with each model version
(`reference_profile`); `drift_report` bins the newest snapshot's rows of the same population
(active buyers for churn, every known customer for the next stage) on its edges, scores them
with the champion, and names the features that moved most.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from core.config import Drift, Settings
from core.registry import connect
from core.schema import ACTIVE_STAGES, CHURN_MODEL, STAGE_MODEL
from features.build import TIMESTAMP
from monitoring.profile import (
    Profile,
    build_profile,
    category_shares,
    compare,
    compare_column,
    psi,
    share_changes,
)
from serving.artifact import ModelInputs
from serving.batch import newest_features
from serving.models import LoadedModel, ModelNotFound, load_champion
from serving.pyfunc import probabilities

PROFILE_FILE = "reference_profile.json"  # the run artifact beside each model version
STAGE = "current_stage"  # the feature whose mix is the stage mix


class NoReferenceProfile(LookupError):
    """The champion was trained before reference profiles were logged: retrain it."""


def model_scores(inputs: ModelInputs, raw: np.ndarray) -> pd.Series:
    """What the profile keeps of a model's output: the churn probability, or the predicted stage."""
    if raw.ndim == 1:
        return pd.Series(raw, name="churn_probability")
    return pd.Series(np.asarray(inputs.classes)[raw.argmax(axis=1)], name="predicted_stage")


def reference_profile(
    rows: pd.DataFrame, inputs: ModelInputs, scores: pd.Series, settings: Settings
) -> Profile:
    """The training rows' profile: every model feature, the scores (`model_scores`) and the stage mix."""
    profile = build_profile(rows, inputs.features, list(inputs.categories), settings.monitoring.drift.bins)
    score = scores.reset_index(drop=True)
    kind = "categorical" if score.dtype == object else "numeric"
    single = build_profile(
        score.to_frame(), [str(score.name)], [str(score.name)] if kind == "categorical" else []
    )
    profile["scores"] = {"name": score.name, **single["features"][str(score.name)]}
    if STAGE in rows.columns:
        profile["stages"] = category_shares(rows[STAGE])
    as_of = pd.to_datetime(rows[TIMESTAMP]) if TIMESTAMP in rows.columns else pd.Series([], dtype=object)
    profile["as_of"] = [str(as_of.min())[:10], str(as_of.max())[:10]] if len(as_of) else []
    return profile


def profile_json(profile: Profile) -> str:
    return json.dumps(profile, indent=1)


def load_profile(client: MlflowClient, model: LoadedModel) -> Profile:
    """The reference profile logged with a model version, or NoReferenceProfile saying to retrain."""
    run_id = str(client.get_model_version(model.name, model.version).run_id)
    task = "churn" if model.name == CHURN_MODEL else "stage"
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = Path(client.download_artifacts(run_id, PROFILE_FILE, tmp))
            return dict(json.loads(path.read_text()))
        except (MlflowException, OSError, ValueError) as err:  # no such artifact, or not JSON
            raise NoReferenceProfile(
                f"{model.name} v{model.version} has no reference profile ({PROFILE_FILE}): it was trained "
                f"before drift monitoring; retrain it (`journey train {task}`, then `journey promote "
                f"{task}`) to monitor its drift"
            ) from err


def population(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """The rows a model scores: active buyers for churn, every customer for the next stage."""
    if name == CHURN_MODEL:
        return frame[frame[STAGE].isin(ACTIVE_STAGES)].reset_index(drop=True)
    return frame.reset_index(drop=True)


def score_rows(model: LoadedModel, rows: pd.DataFrame) -> pd.Series:
    """The champion's output on the rows, as the profile keeps it (`model_scores`)."""
    raw = probabilities(model.booster, model.inputs, model.calibration, model.inputs.matrix(rows))
    return model_scores(model.inputs, raw)


def model_drift(profile: Profile, rows: pd.DataFrame, scores: pd.Series, rules: Drift) -> dict[str, Any]:
    """The drift of one model: features (most drifted first), scores, stage mix, and each feature's level."""
    table = compare(profile, rows)
    score = compare_column(profile["scores"], scores.reset_index(drop=True))
    out: dict[str, Any] = {
        "reference_rows": profile["rows"],
        "reference_as_of": profile.get("as_of", []),
        "rows": len(rows),
        "features": _records(table),
        "scores": {"name": profile["scores"]["name"], **score},
    }
    if "stages" in profile and STAGE in rows.columns:
        now = category_shares(rows[STAGE])
        out["stage_mix"] = {
            "psi": _stage_psi(profile["stages"], now),
            "shares": share_changes(profile["stages"], now),
        }
    out["level"] = {name: _level(value, rules) for name, value in _psi_of(table).items()}
    return out


def _stage_psi(reference: dict[str, float], now: dict[str, float]) -> float:
    levels = sorted(set(reference) | set(now))
    return psi([reference.get(k, 0.0) for k in levels], [now.get(k, 0.0) for k in levels])


def _psi_of(table: pd.DataFrame) -> dict[str, float | None]:
    return {
        str(f): (None if pd.isna(v) else float(v))
        for f, v in zip(table["feature"], table["psi"], strict=True)
    }


def _level(value: float | None, rules: Drift) -> str:
    """stable, moderate (above psi_watch) or drifted (above psi_alert); unknown without values."""
    if value is None:
        return "unknown"
    return "drifted" if value > rules.psi_alert else "moderate" if value > rules.psi_watch else "stable"


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    rows = table.astype(object).where(table.notna(), None).to_dict(orient="records")
    return [{str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()} for r in rows]


def drift_alerts(label: str, drift: dict[str, Any], rules: Drift) -> list[str]:
    """The sentences of one model's drift alerts, each naming the features that moved most."""
    skip = {STAGE, *rules.ignore}  # the stage mix has its own alert
    features = [f for f in drift["features"] if f["feature"] not in skip]
    alerts = []
    drifted = [f for f in features if f["psi"] is not None and f["psi"] > rules.psi_alert]
    if drifted:
        named = ", ".join(f"{f['feature']} ({f['psi']:.2f})" for f in drifted[: rules.top])
        alerts.append(
            f"{label}: {len(drifted)} feature(s) drifted from the training rows (PSI above "
            f"{rules.psi_alert:g}), most: {named}"
        )
    score = drift["scores"]
    if score["psi"] is not None and score["psi"] > rules.psi_alert:
        alerts.append(
            f"{label}: the {score['name']} distribution drifted "
            f"(PSI {score['psi']:.2f} > {rules.psi_alert:g})"
        )
    moved = sorted(
        (f for f in features if abs(f["missing_change"]) > rules.missing_change),
        key=lambda f: -abs(f["missing_change"]),
    )
    if moved:
        named = ", ".join(
            f"{f['feature']} ({f['missing_reference']:.1%} -> {f['missing_now']:.1%})"
            for f in moved[: rules.top]
        )
        alerts.append(
            f"{label}: missing-value rate moved by more than {rules.missing_change * 100:g} points: {named}"
        )
    alerts += _new_category_alerts(label, features, rules)
    mix = drift.get("stage_mix")
    if mix and mix["psi"] > rules.stage_mix_psi:
        changes = sorted(mix["shares"].items(), key=lambda kv: -abs(kv[1]["now"] - kv[1]["reference"]))
        named = ", ".join(f"{s} {v['reference']:.1%} -> {v['now']:.1%}" for s, v in changes[:3])
        alerts.append(
            f"{label}: the stage mix moved (PSI {mix['psi']:.2f} > {rules.stage_mix_psi:g}): {named}"
        )
    return alerts


def _new_category_alerts(label: str, features: list[dict[str, Any]], rules: Drift) -> list[str]:
    out = []
    for f in features:
        new = f["new_categories"] or {}
        if sum(new.values()) > rules.new_category_share:
            named = ", ".join(f"{k!r} ({v:.1%})" for k, v in sorted(new.items(), key=lambda kv: -kv[1]))
            out.append(f"{label}: {f['feature']} has values never seen in training: {named} of the rows")
    return out


def drift_report(settings: Settings) -> dict[str, Any]:
    """Drift of the newest snapshot from each champion's training rows, JSON-able. "alerts" name the
    top drifting features; "notes" say what could not be judged (no champion, no profile)."""
    rules = settings.monitoring.drift
    report: dict[str, Any] = {"snapshot": None, "thresholds": rules.model_dump(), "models": {}}
    try:
        frame = newest_features(settings)
    except (FileNotFoundError, ValueError) as err:  # no feature build; --as-of before the first snapshot
        return report | {"alerts": [], "notes": [f"drift not judged: {err}"]}
    report |= {"snapshot": str(pd.Timestamp(frame[TIMESTAMP].max()).date()), "alerts": [], "notes": []}
    client = connect(settings)
    for name in (CHURN_MODEL, STAGE_MODEL):
        try:
            model = load_champion(name, settings, client=client)
            profile = load_profile(client, model)
        except (ModelNotFound, NoReferenceProfile) as err:
            report["notes"].append(str(err))
            continue
        rows = population(frame, name)
        if rows.empty:
            report["notes"].append(f"{name}: no customers it scores at the newest snapshot: drift not judged")
            continue
        drift = model_drift(profile, rows, score_rows(model, rows), rules)
        report["models"][name] = {"version": model.version, **drift}
        report["alerts"] += drift_alerts(f"{name} v{model.version}", drift, rules)
    return report
