"""The report page: captions, tables and inline SVG charts in one self-contained HTML string."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from html import escape
from typing import Any

import numpy as np
import pandas as pd

from core.schema import ACTIVE_STAGES, CHURN_MODEL, STAGE_MODEL, STAGES
from targeting.report import charts, tables
from targeting.report.data import ModelInfo, ReportData

Format = Callable[[Any], str]
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
    return f'<span class="pill {escape(str(tier))}">{escape(str(tier))}</span>'


def lines(values: Any) -> str:
    """Several short texts in one cell, one per line (markup: each text escaped)."""
    return "<br>".join(escape(v) for v in values if isinstance(v, str) and v)


MARKUP = (pill, lines)  # formats that return HTML rather than text


def table(frame: pd.DataFrame, formats: Mapping[str, Format], headers: Mapping[str, str] = {}) -> str:
    """An HTML table; formatted values are escaped unless the format returns markup (pill)."""
    numeric = {c for c in frame.columns if formats.get(c) in (pct, num, ratio)}
    head = "".join(
        ('<th class="num">' if c in numeric else "<th>")
        + escape(headers.get(c, c.replace("_", " ")))
        + "</th>"
        for c in frame.columns
    )
    body = []
    for row in frame.itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, row, strict=True):
            fmt = formats.get(column, text)
            shown = fmt(value) if fmt in MARKUP else escape(fmt(value))
            cells.append(f'<td class="num">{shown}</td>' if column in numeric else f"<td>{shown}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def figure(svg: str, caption: str) -> str:
    return f'<figure class="chart">{svg}<figcaption>{caption}</figcaption></figure>'


def section(anchor: str, title: str, lead: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{escape(title)}</h2><p class="lead">{lead}</p>{body}</section>'


def note(message: str) -> str:
    return f'<p class="note">{message}</p>'


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


def _kpis(data: ReportData) -> str:
    s = data.scores
    high = int((s["risk_tier"] == "high").sum())
    cards = [
        ("Active customers", num(len(s)), f"as of {_date(data.as_of)}"),
        ("High risk", num(high), f"{pct(high / max(1, len(s)))} of active customers"),
        (
            "Expected value at risk",
            num(s["expected_value_at_risk"].sum()),
            f"churn probability x {data.window_days}-day value, summed",
        ),
    ]
    if data.churn_test is not None:
        d = tables.deciles(
            data.churn_test["churned"].to_numpy(), data.churn_test["churn_probability"].to_numpy()
        )
        cards.append(
            (
                "Lift, riskiest 10%",
                ratio(d["lift"].iloc[0]),
                f"reaches {pct(d['captured'].iloc[0])} of churners",
            )
        )
    grade = _model(data, CHURN_MODEL).tags.get("grade")
    if grade:
        cards.append(("Churn model grade", escape(grade), "out-of-time quality, A best"))
    html = "".join(
        f'<div class="kpi"><div class="kpi-label">{t}</div><div class="kpi-value">{v}</div>'
        f'<div class="kpi-note">{escape(n)}</div></div>'
        for t, v, n in cards
    )
    return f'<div class="kpis">{html}</div>'


def _risk(data: ReportData) -> str:
    p = data.scores["churn_probability"].to_numpy()
    svg = charts.to_svg(charts.risk_histogram(p, data.tiers), "risk")
    summary = tables.tier_summary(data.scores)
    cols = ["risk_tier", "customers", "share", "mean_churn_probability", "expected_value_at_risk"]
    formats = {"risk_tier": pill, "customers": num, "share": pct, "mean_churn_probability": pct}
    t = data.tiers
    lead = (
        f"Every active buyer (stage purchase, retention or advocacy) scored on {_date(data.as_of)}: the "
        f"probability of making no purchase in the next {data.window_days} days. Risk tiers: "
        f"{pill('high')} from {pct(t.high)}, {pill('medium')} from {pct(t.medium)}, {pill('low')} below."
    )
    caption = "Active customers by churn probability; dashed lines mark the tier thresholds."
    body = figure(svg, caption) + table(summary[cols], formats | {"expected_value_at_risk": num})
    return section("risk", "Risk now: who may leave", lead, body)


def _calibration(data: ReportData) -> str:
    title = "Predicted vs actual churn (out of time)"
    test = data.churn_test
    if test is None:
        return section("calibration", title, "", note(_RETRAIN))
    svg = charts.to_svg(charts.predicted_vs_actual(tables.risk_bands(test)), "calib")
    tier = tables.tier_calibration(test, data.tiers)
    lead = (
        f"Checked on customers scored at {_test_dates(data, CHURN_MODEL)}: the model never saw what "
        "these customers did next, and we now "
        "know it. When the blue and orange bars match, a predicted 30% means about 30 in 100 such "
        "customers really left."
    )
    formats = {"risk_tier": pill, "customers": num, "churners": num, "predicted": pct, "actual": pct}
    headers = {"predicted": "mean predicted", "actual": "actually churned"}
    body = figure(svg, "Mean predicted probability vs observed churn rate per probability band.")
    return section("calibration", title, lead, body + table(tier, formats, headers))


_RETRAIN = (
    "The champion was trained before out-of-time predictions were logged with each run: retrain "
    "(<code>journey train churn</code>, <code>journey train stage</code>) to fill this section."
)


def _lift(data: ReportData) -> str:
    title = "Lift and gains (out of time)"
    test = data.churn_test
    if test is None:
        return section("lift", title, "", note(_RETRAIN))
    y, p = test["churned"].to_numpy(), test["churn_probability"].to_numpy()
    curves = {"churn model": tables.gains_curve(y, p)}
    if "recency" in test:
        curves["longest since last purchase first"] = tables.gains_curve(y, test["recency"].to_numpy())
    d = tables.deciles(y, p)
    charts_html = figure(
        charts.to_svg(charts.gains_chart(curves), "gains"),
        "Cumulative gains: share of all churners reached when contacting the riskiest customers first.",
    ) + figure(
        charts.to_svg(charts.lift_chart(d), "lift"),
        "Lift: churn rate of each tenth of customers, ranked by risk, relative to the average.",
    )
    lead = (
        f"On customers scored at {_test_dates(data, CHURN_MODEL)} ({num(len(y))} customers, "
        f"{pct(float(np.mean(y)))} churned): how many "
        "churners a campaign reaches if it works down the list from the riskiest customer, compared "
        "with contacting customers in random order or by the simple rule of the longest time since the "
        "last purchase."
    )
    formats = {"customers": num, "churners": num, "predicted": pct, "actual": pct, "lift": ratio}
    headers = {
        "decile": "tenth (riskiest first)",
        "actual": "churn rate",
        "captured": "churners reached so far",
    }
    body = f'<div class="grid2">{charts_html}</div>' + table(d, formats | {"captured": pct}, headers)
    return section("lift", title, lead, body)


def heatmap(counts: pd.DataFrame) -> str:
    """A transition table shaded by the share of each row going to each column."""
    shares = counts.div(counts.sum(axis=1).clip(lower=1), axis=0)
    head = '<th class="corner">now ↓ / next →</th>' + "".join(f"<th>{escape(c)}</th>" for c in counts.columns)
    rows = []
    for stage in counts.index:
        cells = "".join(
            _heat_cell(int(counts.loc[stage, c]), float(shares.loc[stage, c])) for c in counts.columns
        )
        total = num(counts.loc[stage].sum())
        rows.append(f'<tr><th>{escape(str(stage))}</th>{cells}<td class="num">{total}</td></tr>')
    head += "<th>total</th>"
    return f'<table class="heat"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _heat_cell(n: int, share: float) -> str:
    alpha = 0.06 + 0.84 * share if n else 0.0
    ink = "#ffffff" if share > 0.5 else charts.INK
    return (
        f'<td class="num" style="background:rgba(47,111,171,{alpha:.2f});color:{ink}">'
        f"{n:,}<small>{pct(share) if n else '&nbsp;'}</small></td>"
    )


def _flow(data: ReportData) -> str:
    now = tables.transitions(data.scores["current_stage"], data.scores["next_stage"])
    body = (
        "<h3>Active customers now: current stage → predicted stage in the next month</h3>"
        + heatmap(now)
        + '<p class="caption">Each row adds up to 100%: the share of the customers in that stage whom '
        "the model expects in each stage next.</p>"
    )
    test = data.stage_test
    if test is None:
        return section("flow", "Journey stage flow", "", body + note(_RETRAIN))
    actual = tables.transitions(test["current_stage"], test["next_stage"])
    accuracy = float((test["predicted_stage"] == test["next_stage"]).mean())
    body += "<h3>What actually happened (out of time): stage then → stage one month later</h3>" + figure(
        charts.sankey(actual),
        f"Every known customer on {_test_dates(data, STAGE_MODEL)}; band width = "
        f"customers (hover a band for the count). The model named the right next stage for {pct(accuracy)} "
        "of them.",
    )
    lead = (
        "How customers move along the journey (awareness → consideration → purchase → retention → "
        "advocacy, or churned): predicted for today's active customers, and observed for past ones."
    )
    return section("flow", "Journey stage flow", lead, body)


def _reason_list(data: ReportData, shares: pd.Series) -> str:
    return "; ".join(f"{label(data, f)} ({pct(v)})" for f, v in shares.items())


def _segments(data: ReportData, by: str, order: tuple[str, ...], title: str) -> str:
    seg = tables.segment_reasons(data.reasons, by, order)
    seg["reasons"] = [_reason_list(data, r) for r in seg["reasons"]]
    formats: dict[str, Format] = {"customers": num} | ({by: pill} if by == "risk_tier" else {})
    headers = {by: title, "customers": "customers in the sample", "reasons": "most common main reasons"}
    return table(seg, formats, headers)


def _reasons(data: ReportData) -> str:
    body = ""
    if data.importance is not None:
        labels = {f: label(data, f) for f in data.importance.index}
        svg = charts.to_svg(charts.importance_chart(data.importance, labels), "importance")
        body += figure(svg, "What moves churn risk most across all customers (out-of-time test rows).")
    n = len(data.reasons)
    overall = tables.main_reasons(data.reasons, 5)
    top = pd.DataFrame({"main reason": [label(data, f) for f in overall.index], "share": overall.to_numpy()})
    body += "<h3>Main reason of the riskiest customers</h3>" + table(top, {"share": pct})
    body += "<h3>By journey stage</h3>" + _segments(data, "current_stage", ACTIVE_STAGES, "stage")
    body += "<h3>By risk tier</h3>" + _segments(data, "risk_tier", tables.TIERS, "risk tier")
    scope = (
        f"for all {num(n)} active customers"
        if n >= len(data.scores)
        else f"for the {num(n)} riskiest of the {num(len(data.scores))} active customers only (about 1 ms "
        "each), so the tables below describe that group"
    )
    lead = (
        "Why the model rates customers as at risk. Per customer, the main reason is the feature that "
        f"pushes their churn probability up the most (TreeSHAP). Reasons are computed {scope}."
    )
    return section("reasons", "Why customers are at risk", lead, body)


LIST_FORMATS: dict[str, Format] = {
    "rank": num,
    "churn_probability": pct,
    "risk_tier": pill,
    "customer_value": num,
    "expected_value_at_risk": num,
    "expected_value_saved": num,
    "reasons": lines,
}
LIST_HEADERS = {
    "customer_id": "customer",
    "churn_probability": "churn risk",
    "current_stage": "stage",
    "next_stage": "next stage",
    "customer_value": "value",
    "expected_value_at_risk": "value at risk",
    "expected_value_saved": "value saved",
    "recommended_action": "action",
    "contact_channel": "channel",
}


def _targets(data: ReportData) -> str:
    title = "Target list"
    if data.targets is None:
        message = (
            "No target list yet in the outputs folder: run <code>journey targets</code>, then "
            "<code>journey report</code> again to show its head here."
        )
        return section("targets", title, "", note(message))
    t = data.targets
    head = t.head.copy()
    reasons = [c for c in ("reason_1", "reason_2", "reason_3") if c in head]
    if reasons:
        at = list(head.columns).index(reasons[0])
        merged = list(zip(*(head[c] for c in reasons), strict=True))
        head = head.drop(columns=reasons)
        head.insert(at, "reasons", merged)
    lead = (
        f"The first {len(t.head)} of {num(t.rows)} customers in <code>{escape(t.file)}</code>, in the order "
        "to contact them, with the reasons and the suggested action. The full list is in that file."
    )
    listing = table(head, LIST_FORMATS, LIST_HEADERS)
    return section("targets", title, lead, f'<div class="scroll list">{listing}</div>')


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


def _models(data: ReportData) -> str:
    frame = pd.DataFrame([_model_row(m) for m in data.models])
    reasons = [
        f"{m.name} v{m.version}: {m.tags['grade_reason']}" for m in data.models if "grade_reason" in m.tags
    ]
    body = f'<div class="scroll">{table(frame, {})}</div>'
    body += "".join(f'<p class="caption">{escape(r)}</p>' for r in reasons)
    lead = (
        f"Scores use the <code>champion</code> versions of the registry. Customers were scored from the "
        f"feature snapshot of {_date(data.as_of)}."
    )
    return section("models", "Models and data", lead, body)


CSS = """
:root { --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; --bg: #f5f7fa; --accent: #2f6fab; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); line-height: 1.5;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header { background: #17324d; color: #fff; padding: 28px 40px 20px; }
header h1 { margin: 0 0 4px; font-size: 26px; font-weight: 600; }
header p { margin: 0; color: #c9d6e3; }
nav { background: #fff; border-bottom: 1px solid var(--line); padding: 10px 40px; position: sticky; top: 0;
  z-index: 1; }
nav a { color: var(--accent); text-decoration: none; margin-right: 18px; font-size: 14px;
  white-space: nowrap; }
nav a:hover { text-decoration: underline; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 40px 48px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 22px 28px;
  margin: 0 0 24px; }
h2 { margin: 0 0 6px; font-size: 20px; font-weight: 600; }
h3 { margin: 22px 0 8px; font-size: 15px; font-weight: 600; }
.lead { color: var(--muted); margin: 0 0 16px; max-width: 900px; }
.kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(190px, 1fr)); gap: 14px;
  margin: 0 0 24px; }
.kpi { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 18px; }
.kpi-label { color: var(--muted); font-size: 13px; text-transform: uppercase; letter-spacing: .04em; }
.kpi-value { font-size: 28px; font-weight: 600; margin: 2px 0; }
.kpi-note { color: var(--muted); font-size: 13px; }
figure.chart { margin: 8px 0 16px; }
figure.chart svg { width: 100%; max-width: 740px; height: auto; display: block; margin: 0 auto; }
th.num { text-align: right; }
figcaption, .caption { color: var(--muted); font-size: 13px; margin-top: 4px; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 20px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; margin: 6px 0 8px; }
th, td { padding: 7px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { background: var(--bg); color: var(--muted); font-weight: 600; font-size: 13px; }
tbody tr:hover { background: #f0f4f8; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.heat td small { display: block; font-size: 11px; opacity: .8; }
table.heat th.corner { font-weight: 400; }
.scroll { overflow-x: auto; }
.list table { font-size: 13px; }
.list td:has(br) { min-width: 260px; }
.pill { display: inline-block; padding: 1px 9px; border-radius: 10px; font-size: 12px; font-weight: 600;
  color: #fff; background: #9aa5b1; }
.pill.high { background: #c8423b; } .pill.medium { background: #e8a33a; } .pill.low { background: #3f9a63; }
.note { background: #fff8e6; border: 1px solid #f0d48a; border-radius: 6px; padding: 10px 14px; }
code { background: var(--bg); padding: 1px 5px; border-radius: 4px; font-size: 13px; }
footer { color: var(--muted); font-size: 13px; text-align: center; padding: 0 0 32px; }
@media print { nav { display: none; } section { break-inside: avoid; } body { background: #fff; } }
"""


def _header(data: ReportData) -> str:
    churn, stage = _model(data, CHURN_MODEL), _model(data, STAGE_MODEL)
    return (
        "<header><h1>Customer retention report</h1>"
        f"<p>Data as of {_date(data.as_of)} · churn model v{escape(churn.version)}, next-stage model "
        f"v{escape(stage.version)} · {num(len(data.scores))} active customers</p></header>"
    )


def render(data: ReportData) -> str:
    """The whole page: no scripts, no external resources, every chart inline SVG."""
    nav = "".join(f'<a href="#{anchor}">{escape(name)}</a>' for anchor, name in NAV)
    sections = [_risk, _calibration, _lift, _flow, _reasons, _targets, _models]
    body = _kpis(data) + "".join(part(data) for part in sections)
    title = f"Customer retention report, {_date(data.as_of)}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)}</title><link rel="icon" href="data:,"><style>{CSS}</style></head>'
        f"<body>{_header(data)}<nav>{nav}</nav><main>{body}</main>"
        f"<footer>Made by <code>journey report</code> from the feature snapshot of {_date(data.as_of)}."
        f" Stages: {escape(' → '.join(STAGES))}.</footer></body></html>\n"
    )
