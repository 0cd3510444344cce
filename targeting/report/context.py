"""ReportData to the plain values the page template shows: formatted numbers, table rows, charts.

No markup here but the charts (our own SVG, marked safe): the prose, tables and layout are in
templates/report.html.j2, which autoescapes every value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd
from markupsafe import Markup

from core.schema import ACTIVE_STAGES, CHURN_MODEL, STAGE_MODEL, STAGES
from targeting.report import charts, tables
from targeting.report.model import ModelInfo, ReportData

Format = Callable[[Any], Any]
Context = dict[str, Any]
NAV = (
    ("risk", "Risk now"),
    ("calibration", "Predicted vs actual"),
    ("lift", "Lift and gains"),
    ("flow", "Stage flow"),
    ("reasons", "Reasons"),
    ("targets", "Target list"),
    ("models", "Models and data"),
)


def pct(x: Any) -> str:
    return "–" if pd.isna(x) else f"{x:.0%}" if abs(x) >= 0.1 else f"{x:.1%}"


def num(x: Any) -> str:
    return "–" if pd.isna(x) else f"{x:,.0f}"


def ratio(x: Any) -> str:
    return "–" if pd.isna(x) else f"{x:.2f}x"


def text(x: Any) -> str:
    return "" if x is None or (isinstance(x, float) and np.isnan(x)) else str(x)


def pill(tier: Any) -> str:
    """A risk tier, which the template shows as a coloured pill."""
    return str(tier)


def lines(values: Any) -> list[str]:
    """Several short texts in one cell, which the template shows one per line."""
    return [v for v in values if isinstance(v, str) and v]


NUMERIC = (pct, num, ratio)  # right-aligned columns
KINDS: dict[Format, Literal["pill", "lines"]] = {pill: "pill", lines: "lines"}


def table(frame: pd.DataFrame, formats: Mapping[str, Format], headers: Mapping[str, str] = {}) -> Context:
    """A table as header labels and rows of cells: {kind: text|pill|lines, value, numeric}."""
    numeric = [formats.get(c) in NUMERIC for c in frame.columns]
    columns = [
        {"label": headers.get(c, c.replace("_", " ")), "numeric": n}
        for c, n in zip(frame.columns, numeric, strict=True)
    ]
    fmts = [formats.get(c, text) for c in frame.columns]
    rows = [
        [
            {"kind": KINDS.get(f, "text"), "value": f(v), "numeric": n}
            for f, v, n in zip(fmts, row, numeric, strict=True)
        ]
        for row in frame.itertuples(index=False)
    ]
    return {"columns": columns, "rows": rows}


def _date(value: Any) -> str:
    return str(pd.Timestamp(value).date())


def _model(data: ReportData, name: str) -> ModelInfo:
    return next(m for m in data.models if m.name == name)


def _test_dates(data: ReportData, name: str) -> str:
    """The out-of-time test cutoffs of a champion, as a readable list of dates."""
    cutoffs = _model(data, name).lineage.get("test_cutoffs", "")
    dates = [c for c in cutoffs.split(",") if c]
    return ", ".join(dates) if dates else "the out-of-time test cutoffs"


def label(data: ReportData, feature: Any) -> str:
    """A feature's plain-language meaning, capitalised, for marketers."""
    if not isinstance(feature, str):
        return "–"
    meaning = data.descriptions.get(feature, feature.replace("_", " "))
    return meaning[:1].upper() + meaning[1:]


def svg(markup: str) -> Markup:
    """A chart we drew (matplotlib's SVG output, which escapes its texts), to be inlined as is."""
    return Markup(markup)


def kpis(data: ReportData) -> list[dict[str, str]]:
    """The key-figure cards above the sections."""
    s = data.scores
    high = int((s["risk_tier"] == "high").sum())
    ev_note = f"churn probability x {data.window_days}-day value, summed"
    cards = [
        ("Active customers", num(len(s)), f"as of {_date(data.as_of)}"),
        ("High risk", num(high), f"{pct(high / max(1, len(s)))} of active customers"),
        ("Expected value at risk", num(s["expected_value_at_risk"].sum()), ev_note),
    ]
    if data.churn_test is not None:
        test = data.churn_test
        d = tables.deciles(test["churned"].to_numpy(), test["churn_probability"].to_numpy())
        reach = f"reaches {pct(d['captured'].iloc[0])} of churners"
        cards.append(("Lift, riskiest 10%", ratio(d["lift"].iloc[0]), reach))
    grade = _model(data, CHURN_MODEL).tags.get("grade")
    if grade:
        cards.append(("Churn model grade", grade, "out-of-time quality, A best"))
    return [{"label": t, "value": v, "note": n} for t, v, n in cards]


def risk(data: ReportData) -> Context:
    p = data.scores["churn_probability"].to_numpy()
    summary = tables.tier_summary(data.scores)
    cols = ["risk_tier", "customers", "share", "mean_churn_probability", "expected_value_at_risk"]
    formats = {"risk_tier": pill, "customers": num, "share": pct, "mean_churn_probability": pct}
    return {
        "chart": svg(charts.to_svg(charts.risk_histogram(p, data.tiers), "risk")),
        "table": table(summary[cols], formats | {"expected_value_at_risk": num}),
        "high": pct(data.tiers.high),
        "medium": pct(data.tiers.medium),
    }


def calibration(data: ReportData) -> Context | None:
    test = data.churn_test
    if test is None:
        return None
    tier = tables.tier_calibration(test, data.tiers)
    formats = {"risk_tier": pill, "customers": num, "churners": num, "predicted": pct, "actual": pct}
    headers = {"predicted": "mean predicted", "actual": "actually churned"}
    return {
        "chart": svg(charts.to_svg(charts.predicted_vs_actual(tables.risk_bands(test)), "calib")),
        "table": table(tier, formats, headers),
        "test_dates": _test_dates(data, CHURN_MODEL),
    }


LIFT_HEADERS = {
    "decile": "tenth (riskiest first)",
    "actual": "churn rate",
    "captured": "churners reached so far",
}


def lift(data: ReportData) -> Context | None:
    test = data.churn_test
    if test is None:
        return None
    y, p = test["churned"].to_numpy(), test["churn_probability"].to_numpy()
    curves = {"churn model": tables.gains_curve(y, p)}
    if "recency" in test:
        curves["longest since last purchase first"] = tables.gains_curve(y, test["recency"].to_numpy())
    d = tables.deciles(y, p)
    formats = {"customers": num, "churners": num, "predicted": pct, "actual": pct, "lift": ratio}
    return {
        "gains_chart": svg(charts.to_svg(charts.gains_chart(curves), "gains")),
        "lift_chart": svg(charts.to_svg(charts.lift_chart(d), "lift")),
        "table": table(d, formats | {"captured": pct}, LIFT_HEADERS),
        "test_dates": _test_dates(data, CHURN_MODEL),
        "customers": num(len(y)),
        "churned": pct(float(np.mean(y))),
    }


def heatmap(counts: pd.DataFrame) -> Context:
    """A transition table: counts, and the share of each row going to each column (its shade)."""
    shares = counts.div(counts.sum(axis=1).clip(lower=1), axis=0)
    rows = []
    for stage in counts.index:
        cells = [_heat_cell(int(counts.loc[stage, c]), float(shares.loc[stage, c])) for c in counts.columns]
        rows.append({"stage": str(stage), "cells": cells, "total": num(counts.loc[stage].sum())})
    return {"columns": [str(c) for c in counts.columns], "rows": rows}


def _heat_cell(n: int, share: float) -> dict[str, str | None]:
    alpha = 0.06 + 0.84 * share if n else 0.0
    return {
        "count": f"{n:,}",
        "share": pct(share) if n else None,
        "alpha": f"{alpha:.2f}",
        "ink": "#ffffff" if share > 0.5 else charts.INK,
    }


def flow(data: ReportData) -> Context:
    now = heatmap(tables.transitions(data.scores["current_stage"], data.scores["next_stage"]))
    test = data.stage_test
    if test is None:
        return {"now": now, "actual": None}
    actual = tables.transitions(test["current_stage"], test["next_stage"])
    accuracy = float((test["predicted_stage"] == test["next_stage"]).mean())
    return {
        "now": now,
        "actual": {
            "sankey": charts.sankey(actual),
            "test_dates": _test_dates(data, STAGE_MODEL),
            "accuracy": pct(accuracy),
        },
    }


def _reason_list(data: ReportData, shares: pd.Series) -> str:
    return "; ".join(f"{label(data, f)} ({pct(v)})" for f, v in shares.items())


def _segments(data: ReportData, by: str, order: tuple[str, ...], title: str) -> Context:
    seg = tables.segment_reasons(data.reasons, by, order)
    seg["reasons"] = [_reason_list(data, r) for r in seg["reasons"]]
    formats: dict[str, Format] = {"customers": num} | ({by: pill} if by == "risk_tier" else {})
    headers = {by: title, "customers": "customers in the sample", "reasons": "most common main reasons"}
    return table(seg, formats, headers)


def reasons(data: ReportData) -> Context:
    chart = None
    if data.importance is not None:
        labels = {f: label(data, f) for f in data.importance.index}
        chart = svg(charts.to_svg(charts.importance_chart(data.importance, labels), "importance"))
    overall = tables.main_reasons(data.reasons, 5)
    top = pd.DataFrame({"main reason": [label(data, f) for f in overall.index], "share": overall.to_numpy()})
    return {
        "importance_chart": chart,
        "main": table(top, {"share": pct}),
        "by_stage": _segments(data, "current_stage", ACTIVE_STAGES, "stage"),
        "by_tier": _segments(data, "risk_tier", tables.TIERS, "risk tier"),
        "sample": num(len(data.reasons)),
        "active": num(len(data.scores)),
        "everyone": len(data.reasons) >= len(data.scores),
    }


LIST_FORMATS: dict[str, Format] = {
    "rank": num,
    "churn_probability": pct,
    "risk_tier": pill,
    "customer_value": num,
    "expected_value_at_risk": num,
    "expected_value_saved_net": num,
    "reasons": lines,
}
LIST_HEADERS = {
    "customer_id": "customer",
    "churn_probability": "churn risk",
    "current_stage": "stage",
    "next_stage": "next stage",
    "customer_value": "value",
    "expected_value_at_risk": "value at risk",
    "expected_value_saved_net": "net value saved",
    "recommended_action": "action",
    "contact_channel": "channel",
}


def _merge_reasons(head: pd.DataFrame) -> pd.DataFrame:
    """reason_1..3 as one `reasons` column of tuples, where reason_1 was."""
    columns = [c for c in ("reason_1", "reason_2", "reason_3") if c in head]
    if not columns:
        return head
    at = list(head.columns).index(columns[0])
    merged = list(zip(*(head[c] for c in columns), strict=True))
    head = head.drop(columns=columns)
    head.insert(at, "reasons", merged)
    return head


def targets(data: ReportData) -> Context | None:
    if data.targets is None:
        return None
    t = data.targets
    return {
        "file": t.file,
        "shown": len(t.head),
        "rows": num(t.rows),
        "table": table(_merge_reasons(t.head.copy()), LIST_FORMATS, LIST_HEADERS),
    }


HEADLINE = {
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "ece": "calibration error",
    "macro_f1": "macro-F1",
    "accuracy": "accuracy",
}


def _metric(value: str) -> str:
    try:
        return f"{float(value):.3f}"
    except ValueError:
        return value


def _model_row(m: ModelInfo) -> dict[str, str]:
    metrics = "; ".join(f"{name} {_metric(m.tags[k])}" for k, name in HEADLINE.items() if k in m.tags)
    return {
        "model": m.name,
        "version": m.version,
        "aliases": ", ".join(m.aliases),
        "grade": m.tags.get("grade", "–"),
        "out-of-time metrics": metrics or "–",
        "trained on": m.lineage.get("source", "–"),
        "training cutoffs": m.lineage.get("train_cutoffs", "–"),
        "test cutoffs": m.lineage.get("test_cutoffs", "–").replace(",", ", "),
        "training data up to": m.lineage.get("data_as_of", "–"),
        "MLflow run": m.run_id[:12],
    }


def models(data: ReportData) -> Context:
    return {
        "table": table(pd.DataFrame([_model_row(m) for m in data.models]), {}),
        "grade_reasons": [
            f"{m.name} v{m.version}: {m.tags['grade_reason']}"
            for m in data.models
            if "grade_reason" in m.tags
        ],
    }


def _anchors(names: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"anchor": anchor, "name": name} for anchor, name in names]


def context(data: ReportData) -> Context:
    """Everything report.html.j2 needs, as plain values (None marks a section's missing evidence)."""
    return {
        "as_of": _date(data.as_of),
        "window_days": data.window_days,
        "churn_version": _model(data, CHURN_MODEL).version,
        "stage_version": _model(data, STAGE_MODEL).version,
        "active": num(len(data.scores)),
        "stages": list(STAGES),
        "nav": _anchors(NAV),
        "kpis": kpis(data),
        "risk": risk(data),
        "calibration": calibration(data),
        "lift": lift(data),
        "flow": flow(data),
        "reasons": reasons(data),
        "targets": targets(data),
        "models": models(data),
    }
