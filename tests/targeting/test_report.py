"""`journey report`: every section, versions and as-of, nothing external, a clean load in Chromium."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from helpers.browser import find_chromium, load_page
from jinja2 import UndefinedError
from typer.testing import CliRunner

from core.config import RiskTiers
from core.registry import connect
from core.schema import CHAMPION, CHURN_MODEL, STAGE_MODEL
from features.build import read_manifest
from pipelines.cli import app
from targeting.report import charts, tables
from targeting.report.context import NAV, context, heatmap, lines, pct, pill, table
from targeting.report.data import gather
from targeting.report.model import ModelInfo, ReportData, TargetList
from targeting.report.render import render, render_page

runner = CliRunner()
EXTERNAL = re.compile(
    r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|@import"""
)
SVG_PROBE = """Array.from(document.querySelectorAll('svg')).map(s => {
  const box = s.getBoundingClientRect();
  return {width: box.width, height: box.height, shapes: s.querySelectorAll('path, rect, text').length};
})"""


@pytest.fixture(scope="module")
def listed(trained, tmp_path_factory) -> tuple[ReportData, Path]:
    """The report's data with a target list in the outputs folder (as `journey targets` writes it)."""
    outputs = tmp_path_factory.mktemp("report-outputs")
    settings = trained.settings.with_paths(outputs_dir=outputs)
    data = gather(settings)
    head = data.scores.sort_values("expected_value_at_risk", ascending=False).head(40)
    head.insert(0, "rank", range(1, len(head) + 1))
    head.assign(reason_1="No purchase for a long time", recommended_action="Call").to_csv(
        outputs / "targets.csv", index=False
    )
    return gather(settings), outputs


@pytest.fixture(scope="module")
def page(listed, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render(listed[0]), encoding="utf-8")
    return path


def test_report_has_every_section_the_model_versions_and_the_as_of(trained, page):
    html = page.read_text()
    for anchor, _ in NAV:
        assert f'<section id="{anchor}">' in html, anchor
    newest = read_manifest(trained.settings.paths.features).snapshots[-1]
    assert f"Data as of {newest.date()}" in html
    client = connect(trained.settings)
    for name in (CHURN_MODEL, STAGE_MODEL):
        version = client.get_model_version_by_alias(name, CHAMPION)
        assert f"<td>{name}</td><td>{version.version}</td>" in html
        assert version.tags["grade"] in html and version.run_id[:12] in html
    assert "champion" in html and html.count("<svg") >= 6


def test_report_needs_no_network_and_stays_small(page):
    html = page.read_text()
    assert not EXTERNAL.findall(html)
    assert "<script" not in html and page.stat().st_size < 3_000_000


def test_the_target_list_head_is_shown_or_its_absence_explained(listed, page):
    data, outputs = listed
    html = page.read_text()
    ids = pd.read_csv(outputs / "targets.csv", dtype={"customer_id": str})["customer_id"]
    assert all(f"<td>{cid}</td>" in html for cid in ids.head(25)) and f"<td>{ids.iloc[25]}</td>" not in html
    assert "targets.csv" in html and "No purchase for a long time" in html
    missing = render(replace(data, targets=None))
    assert "No target list yet" in missing and "journey targets" in missing


def test_runs_without_logged_predictions_still_render_every_section(listed):
    html = render(replace(listed[0], churn_test=None, stage_test=None, importance=None))
    assert all(f'<section id="{anchor}">' in html for anchor, _ in NAV)
    assert html.count("retrain") == 3 and html.count("<svg") == 1  # only the risk histogram is left


def test_reasons_are_computed_for_the_riskiest_customers_only(listed):
    data = listed[0]
    assert len(data.reasons) == min(len(data.scores), 2000)
    top = data.scores["churn_probability"].max()
    assert data.reasons["churn_probability"].iloc[0] == top
    assert data.reasons["reason_1"].isin(data.descriptions.keys()).all()


def test_deciles_gains_and_transitions():
    rng = np.random.default_rng(3)
    p = rng.random(1000)
    y = (rng.random(1000) < p).astype(int)
    d = tables.deciles(y, p)
    assert d["customers"].sum() == 1000 and d["captured"].iloc[-1] == pytest.approx(1.0)
    assert d["lift"].iloc[0] > 1.5 > d["lift"].iloc[-1]
    curve = tables.gains_curve(y, p)
    assert len(curve) <= tables.CURVE_POINTS and np.all(np.diff(curve["captured"]) >= 0)
    flows = tables.transitions(pd.Series(["retention", "purchase"]), pd.Series(["churned", "retention"]))
    assert list(flows.index) == ["purchase", "retention"] and flows.to_numpy().sum() == 2


def test_cli_writes_the_report_atomically(trained, tmp_path):
    out = tmp_path / "nested" / "report.html"
    result = runner.invoke(app, ["-c", str(trained.config), "report", "--out", str(out.parent)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("<!DOCTYPE html>") and not list(out.parent.glob("*.tmp"))
    assert "Example" in runner.invoke(app, ["report", "--help"]).output


def test_cli_says_what_to_run_first(trained, config_path, tmp_path):
    uris = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    no_features = runner.invoke(app, ["-c", str(config_path), "report"])
    assert no_features.exit_code == 1, no_features.output
    assert "journey features build" in no_features.output
    shutil.copytree(trained.settings.paths.features, tmp_path / "work" / "features")
    no_models = runner.invoke(app, ["-c", str(config_path), "report"])
    assert no_models.exit_code == 1 and "journey train churn" in no_models.output, no_models.output
    assert "Traceback" not in no_models.output and not (tmp_path / "outputs" / "report.html").exists()
    assert (mlflow.get_tracking_uri(), mlflow.get_registry_uri()) == uris  # the report set nothing global


def test_report_loads_in_headless_chromium_without_errors(page, unavailable, tmp_path):
    binary = find_chromium()
    if binary is None:
        unavailable("Chromium not found: install Debian's `chromium` package to run the browser check")
    loaded = load_page(binary, page.as_uri(), SVG_PROBE, tmp_path / "profile")
    assert loaded.errors == []
    assert loaded.requests == [page.as_uri()]  # nothing else fetched: no network, no missing file
    assert len(loaded.value) >= 6
    for chart in loaded.value:
        assert chart["width"] > 200 and chart["height"] > 100 and chart["shapes"] > 10, chart


def test_the_browser_check_catches_a_broken_page(unavailable, tmp_path):
    binary = find_chromium()
    if binary is None:
        unavailable("Chromium not found: install Debian's `chromium` package to run the browser check")
    bad = tmp_path / "bad.html"
    bad.write_text('<html><body><img src="missing.png"><script>console.error("boom")</script></body></html>')
    loaded = load_page(binary, bad.as_uri(), "1", tmp_path / "profile")
    assert any("boom" in e for e in loaded.errors) and any("ERR_FILE_NOT_FOUND" in e for e in loaded.errors)


HOSTILE = "<script>alert('x')</script>"


def small_data(customer_id: str = "C1", reason: str = "recency") -> ReportData:
    """A hand-made ReportData of three customers: no test predictions, no importance, no target list."""
    scores = pd.DataFrame(
        {
            "customer_id": [customer_id, "C2", "C3"],
            "churn_probability": [0.7, 0.3, 0.1],
            "risk_tier": ["high", "medium", "low"],
            "expected_value_at_risk": [70.0, 30.0, 10.0],
            "current_stage": ["retention", "purchase", "advocacy"],
            "next_stage": ["churned", "retention", "advocacy"],
        }
    )
    reasons = scores[["customer_id", "current_stage", "risk_tier", "churn_probability"]].assign(
        reason_1=[reason, "tenure", "recency"], reason_2=None, reason_3=None
    )
    models = tuple(
        ModelInfo(name, "1", ("champion",), {}, "0123456789abcdef", {}) for name in (CHURN_MODEL, STAGE_MODEL)
    )
    return ReportData(
        as_of=pd.Timestamp("2025-01-01"),
        scores=scores,
        reasons=reasons,
        churn_test=None,
        stage_test=None,
        importance=None,
        models=models,
        targets=None,
        tiers=RiskTiers(),
        window_days=90,
        descriptions={"recency": "days since the last purchase"},
    )


def test_a_minimal_report_renders_under_strict_undefined():
    values = context(small_data())
    html = render_page(values)
    assert all(f'<section id="{anchor}">' in html for anchor, _ in NAV)
    assert "Days since the last purchase" in html and html.count("retrain") == 3
    assert "No target list yet" in html and html.count("<svg") == 1
    for missing in ("flow", "as_of"):  # StrictUndefined: a name the template needs is an error, not ""
        with pytest.raises(UndefinedError):
            render_page({k: v for k, v in values.items() if k != missing})


def test_values_are_escaped_in_the_page():
    data = small_data(customer_id=HOSTILE, reason=HOSTILE)
    head = data.scores.assign(rank=[1, 2, 3], reason_1=[HOSTILE, "<b>call</b>", None])
    models = (replace(data.models[0], tags={"grade": "B", "grade_reason": "<img src=x onerror=alert(1)>"}),)
    html = render(
        replace(data, targets=TargetList("<i>t</i>.csv", head, 3), models=(*models, data.models[1]))
    )
    assert "<script" not in html and "<img" not in html and "<b>" not in html and "<i>" not in html
    escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
    assert html.count(escaped) >= 4  # the target's id and reason, the main reasons, the segments
    assert "&lt;b&gt;call&lt;/b&gt;" in html and "<code>&lt;i&gt;t&lt;/i&gt;.csv</code>" in html
    assert "churn v1: &lt;img src=x onerror=alert(1)&gt;" in html


def test_the_page_is_one_file_with_its_styles_inline():
    html = render(small_data())
    assert not EXTERNAL.findall(html) and "<script" not in html
    assert re.findall(r"<link[^>]*>", html) == ['<link rel="icon" href="data:,">']
    head = html[: html.index("</head>")]
    assert ".pill.high { background: #c8423b; }" in head[head.index("<style>") :]  # report.css, inlined
    assert re.findall(r"</?(?:html|head|body)\b", html) == [
        "<html",
        "<head",
        "</head",
        "<body",
        "</body",
        "</html",
    ]


def test_the_heat_map_leaves_empty_cells_blank_and_inks_dark_cells_white():
    counts = pd.DataFrame([[0, 9], [1, 1]], index=["purchase", "retention"], columns=["retention", "churned"])
    rows = heatmap(counts)["rows"]
    assert rows[0]["cells"][0] == {"count": "0", "share": None, "alpha": "0.00", "ink": "#1f2933"}
    assert rows[0]["cells"][1] == {"count": "9", "share": "100%", "alpha": "0.90", "ink": "#ffffff"}
    assert rows[1]["total"] == "2" and rows[1]["cells"][0]["share"] == "50%"


def test_table_cells_carry_their_kind_and_alignment():
    frame = pd.DataFrame(
        {"risk_tier": ["high"], "share": [0.05], "reasons": [("a", None, "")], "note": [np.nan]}
    )
    out: dict[str, Any] = table(
        frame, {"risk_tier": pill, "share": pct, "reasons": lines}, {"share": "of all"}
    )
    assert [c["label"] for c in out["columns"]] == ["risk tier", "of all", "reasons", "note"]
    assert [(c["kind"], c["value"], c["numeric"]) for c in out["rows"][0]] == [
        ("pill", "high", False),
        ("text", "5.0%", True),
        ("lines", ["a"], False),
        ("text", "", False),
    ]


def test_the_sankey_has_a_band_per_nonzero_flow_and_labelled_nodes_on_both_sides():
    flows = pd.DataFrame([[3, 0], [1, 4]], index=["purchase", "retention"], columns=["retention", "churned"])
    drawn = charts.sankey(flows)
    assert [(b.source, b.target, b.customers) for b in drawn.bands] == [
        ("purchase", "retention", "3"),
        ("retention", "retention", "1"),
        ("retention", "churned", "4"),
    ]
    assert [(n.stage, n.customers, n.anchor) for n in drawn.nodes] == [
        ("purchase", "3", "end"),
        ("retention", "5", "end"),
        ("retention", "4", "start"),
        ("churned", "4", "start"),
    ]


def drawn_bins(fig: Any) -> pd.Series:
    """Customers per bin of the drawn risk histogram (the tiers' stacked bars added up), by left edge."""
    bars = [(round(b.get_x(), 9), b.get_height()) for b in fig.axes[0].patches]
    return pd.DataFrame(bars, columns=["x", "customers"]).groupby("x")["customers"].sum()


def holes(customers: pd.Series) -> int:
    """Runs of empty bins between the first and the last bar: a barcode has many."""
    empty = customers.to_numpy() == 0
    return int(np.sum(empty[1:] & ~empty[:-1]))


def test_the_risk_histogram_of_a_few_clustered_values_is_no_barcode():
    # calibration leaves few distinct probabilities: 40 dense below 30%, 17 sparse above (57 values)
    levels = np.concatenate([np.linspace(0.02, 0.30, 40), np.linspace(0.34, 0.98, 17)])
    p = np.repeat(levels, np.linspace(300, 10, len(levels)).astype(int))
    assert len(np.unique(p)) == 57
    fig = charts.risk_histogram(p, RiskTiers())
    bins = drawn_bins(fig)
    assert bins.sum() == len(p)  # every customer drawn once
    assert holes(bins) <= charts.MAX_GAPS and len(bins) >= 5  # not a barcode, and not one block either
    ax = fig.axes[0]
    assert ax.get_xlim()[0] <= p.min() and ax.get_xlim()[1] >= p.max()
    assert ax.xaxis.get_major_formatter()(0.25) == "25%"


def test_the_risk_histogram_zooms_on_a_tight_cluster():
    p = np.random.default_rng(4).uniform(0.41, 0.47, 2000)
    fig = charts.risk_histogram(p, RiskTiers())
    bins = drawn_bins(fig)
    low, high = fig.axes[0].get_xlim()
    assert 0.4 <= low < p.min() and p.max() < high <= 0.5  # the axis spans the data, not 0-100%
    assert len(bins) >= 5 and bins.sum() == len(p) and holes(bins) == 0
    assert fig.axes[0].xaxis.get_major_formatter()(0.42) == "42%"


def test_the_risk_histogram_of_three_customers_counts_whole_customers():
    ax = charts.risk_histogram(np.array([0.1, 0.3, 0.7]), RiskTiers()).axes[0]
    assert all(float(t).is_integer() for t in ax.get_yticks())
    assert [t.get_text() for t in ax.texts] == ["medium", "high"]  # the thresholds inside the range, named


def test_histogram_edges_hold_any_data():
    assert np.allclose(charts.histogram_edges(np.array([])), np.linspace(0, 1, 11))
    one = charts.histogram_edges(np.full(100, 0.3))
    assert len(one) == 2 and one[0] <= 0.3 <= one[1]
    few = charts.histogram_edges(np.array([0.1, 0.3, 0.7]))
    assert len(few) - 1 <= 5  # three customers get a few wide bins
    ends = charts.histogram_edges(np.array([0.0, 1.0, np.nan]))
    assert ends[0] == 0.0 and ends[-1] == 1.0
