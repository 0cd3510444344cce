"""End to end through a real `bentoml serve` subprocess on the trained generated dataset."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from pipelines import service_process
from serving.batch import active, newest_features

README = Path(__file__).resolve().parents[2] / "README.md"
KEY = "served-test-key"
EXAMPLE = "C0000068"  # the README's customer: active and at risk (medium tier) in `make demo`'s data


def readme_blocks(language: str) -> list[str]:
    """The README's code blocks of one language in the section on calling the API."""
    section = README.read_text().split("## Calling the API from a CRM")[1].split("\n## ")[0]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


@pytest.fixture(scope="module")
def served(trained):
    """A real `bentoml serve` with an API key, as an operator would run it."""
    port = service_process.free_port()
    url = f"http://127.0.0.1:{port}"
    log_file = trained.settings.paths.workdir / "service-test.log"
    os.environ["JOURNEY_API_KEY"] = KEY
    try:
        proc = service_process.start(trained.settings, trained.config, port, log_file)
    finally:
        del os.environ["JOURNEY_API_KEY"]
    try:
        service_process.wait_ready(proc, url, timeout_s=180, log_file=log_file)
        yield url, log_file
    finally:
        service_process.stop(proc)
    assert proc.returncode is not None


@pytest.mark.slow
def test_real_service_scores_over_http_with_the_key(served, trained):
    url, log_file = served
    ids = active(newest_features(trained.settings))["customer_id"].head(2).tolist()
    body = {"customer_ids": [*ids, "UNKNOWN"], "explain": 2}
    assert httpx.post(f"{url}/score", json=body).status_code == 401
    r = httpx.post(f"{url}/score", json=body, headers={"X-API-Key": KEY, "X-Request-ID": "served-1"})
    assert r.status_code == 200
    statuses = [s["status"] for s in r.json()["scores"]]
    assert statuses == ["ok", "ok", "unknown"]
    assert all(0 <= s["churn_probability"] <= 1 for s in r.json()["scores"][:2])
    metrics = httpx.get(f"{url}/metrics").text  # open without the key
    assert 'journey_customers_scored_total{endpoint="score",status="ok"}' in metrics
    log = log_file.read_text()
    assert '"request_id": "served-1"' in log and KEY not in log


@pytest.mark.slow
def test_readme_examples_run_against_the_real_service(served):
    url, _ = served
    env = {**os.environ, "JOURNEY_API_KEY": KEY, "JOURNEY_URL": url}
    (shell,) = readme_blocks("sh")
    outputs = []
    for command in [c for c in shell.replace("\\\n", " ").splitlines() if c.startswith("curl")]:
        command = command.replace("http://127.0.0.1:3000", url)
        done = subprocess.run(command, shell=True, capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert '"status":"unknown"' in outputs[0].replace(" ", "") and '"churn_probability"' in outputs[0]
    assert '"feature_service":"churn_v1"' in outputs[1].replace(" ", "")
    assert outputs[2].strip() == "200"
    (python,) = readme_blocks("python")
    done = subprocess.run([sys.executable, "-c", python], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"{EXAMPLE} ")
    assert float(lines[-1].split()[0]) > 0 and "versions" in lines[-1]


def test_the_readme_example_customer_is_an_active_buyer_in_the_demo_data():
    """The demo's data is seeded (`journey demo` defaults): its example customer still buys (no
    churn in the generator's truth, a purchase within the churn definition's 90 days), unlike
    C0000042, who had churned. Its risk tier needs the trained demo: medium (p 0.38) when chosen."""
    import pandas as pd

    from pipelines.demo import DEMO_END, DEMO_START
    from synthetic.generate import generate_tables

    shown = {
        m for block in [*readme_blocks("sh"), *readme_blocks("python")] for m in re.findall(r"C\d{7}", block)
    }
    assert shown == {EXAMPLE}
    tables = generate_tables(20_000, 7, DEMO_START, DEMO_END)
    truth = tables["truth"].set_index("customer_id").loc[EXAMPLE]
    bought = tables["transactions"].query("customer_id == @EXAMPLE")["ts"]
    assert pd.isna(truth["churned_at"]) and len(bought) >= 2
    assert pd.Timestamp(DEMO_END, tz="UTC") - bought.max() < pd.Timedelta(days=90)


def test_journey_serve_stopped_with_sigterm_leaves_nothing_on_its_port(trained, tmp_path: Path):
    """An operator's `kill <pid of journey serve>` stops the server itself, not only the CLI."""
    port = service_process.free_port()
    journey = Path(sys.executable).with_name("journey")
    log = (tmp_path / "serve.log").open("wb")
    command = [str(journey), "-c", str(trained.config), "serve", "--port", str(port)]
    proc = subprocess.Popen(command, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        service_process.wait_ready(proc, url, timeout_s=180, log_file=tmp_path / "serve.log")
        proc.terminate()
        proc.wait(timeout=30)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}/livez", timeout=2)
        assert service_process.process_tree(proc.pid) == []
    finally:
        service_process.stop(proc)
