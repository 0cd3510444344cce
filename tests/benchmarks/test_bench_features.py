"""The feature benchmark's summary: medians over interleaved rounds and per-round ratios."""

from __future__ import annotations

import pytest

from benchmarks.features import median_of, ratios, report


def test_medians_skip_failed_runs_and_keep_counts_whole():
    runs = [
        {"rows": 10, "wall_s": 9.0, "peak_mb": 100.0},
        {"error": "timed out after 5 s"},
        {"rows": 10, "wall_s": 7.0, "peak_mb": 300.0},
        {"rows": 10, "wall_s": 8.0, "peak_mb": 200.0},
    ]
    assert median_of(runs) == {"rows": 10, "wall_s": 8.0, "peak_mb": 200.0}
    assert median_of([{"error": "boom"}]) == {"error": "boom"}


def test_ratios_pair_the_runs_of_one_round():
    runs = {
        "ibis": [{"wall_s": 8.0}, {"wall_s": 10.0}, {"wall_s": 8.0}],
        "oracle": [{"wall_s": 40.0}, {"wall_s": 40.0}, {"error": "exit 1"}],
    }
    out = ratios(runs)
    assert out["oracle / ibis wall"]["rounds"] == [5.0, 4.0]  # the failed round has no ratio
    assert out["oracle / ibis wall"]["median"] == pytest.approx(4.5)
    assert "feast / asof retrieval" not in out


def test_the_report_shows_medians_and_rounds():
    runs = {"ibis": [{"wall_s": 8.0}], "oracle": [{"wall_s": 40.0}]}
    result = {
        "dataset": {"customers": 10},
        "repeats": 1,
        "parts": {k: median_of(v) for k, v in runs.items()},
        "ratios": ratios(runs),
    }
    text = report(result)
    assert "medians of 1 interleaved round(s)" in text
    assert "oracle / ibis wall: 5.00x (rounds: 5.00)" in text


def test_a_child_reports_its_own_peak_memory_not_its_parents():
    import subprocess
    import sys

    from benchmarks.child import REPO

    held = bytearray(300 * 1024 * 1024)
    held[::4096] = b"\x01" * len(held[::4096])  # touch every page, so the parent is really this big
    code = "from benchmarks.child import peak_mb; print(peak_mb())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert float(out.stdout) < 200  # the child is a bare interpreter; Linux's ru_maxrss would say >= 300
    del held
