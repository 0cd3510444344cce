"""End to end through a real `bentoml serve` subprocess on the trained generated dataset."""

from __future__ import annotations

import pytest

from pipelines import service_process
from pipelines.batch import active, newest_features


@pytest.mark.slow
def test_real_service_scores_over_http(trained):
    ids = active(newest_features(trained.settings))["customer_id"].head(2).tolist()
    port = service_process.free_port()
    url = f"http://127.0.0.1:{port}"
    log_file = trained.settings.paths.workdir / "service-test.log"
    proc = service_process.start(trained.settings, trained.config, port, log_file)
    try:
        service_process.wait_ready(proc, url, timeout_s=180, log_file=log_file)
        body = service_process.score(url, [*ids, "UNKNOWN"])
    finally:
        service_process.stop(proc)
    statuses = [s["status"] for s in body["scores"]]
    assert statuses == ["ok", "ok", "unknown"]
    assert all(0 <= s["churn_probability"] <= 1 for s in body["scores"][:2])
    assert proc.returncode is not None
