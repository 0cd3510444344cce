"""`journey report`: every section, versions and as-of, nothing external, a clean load in Chromium."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from helpers.browser import find_chromium, load_page
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from core.schema import CHAMPION, CHURN_MODEL, STAGE_MODEL
from features.build import read_manifest
from pipelines.cli import app
from targeting.report import tables
from targeting.report.data import ReportData, gather
from targeting.report.render import NAV, render

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
    client = MlflowClient()
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
    result = runner.invoke(app, ["-c", str(trained.config), "report", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("<!DOCTYPE html>") and not list(out.parent.glob("*.tmp"))
    assert "Example" in runner.invoke(app, ["report", "--help"]).output


def test_cli_says_what_to_run_first(trained, config_path, tmp_path):
    uri = mlflow.get_tracking_uri()
    try:
        no_features = runner.invoke(app, ["-c", str(config_path), "report"])
        assert no_features.exit_code == 1, no_features.output
        assert "journey features build" in no_features.output
        shutil.copytree(trained.settings.paths.features, tmp_path / "work" / "features")
        no_models = runner.invoke(app, ["-c", str(config_path), "report"])
        assert no_models.exit_code == 1 and "journey train churn" in no_models.output, no_models.output
        assert "Traceback" not in no_models.output and not (tmp_path / "outputs" / "report.html").exists()
    finally:
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)


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
