"""The API's page in headless Chromium (issue 19, item 4): it renders from the service alone (no
request leaves it), lists every route, and "Try it out" on POST /score, with the key given to
Authorize, gets the scores.

The screenshot in docs/api.md is this test's:
`JOURNEY_SCREENSHOT=docs/api.png .venv/bin/pytest tests/serving/test_docs_page.py`.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from helpers.browser import DevTools, find_chromium

from pipelines.service_process import free_port

KEY = "crm-developer-key"
SCRIPT = Path(__file__).with_name("try_it_out.js")
ROUTES = [
    "POST /score",
    "POST /score_features",
    "GET /model_info",
    "GET /livez",
    "GET /readyz",
    "GET /metrics",
]
WIDTH, MAX_HEIGHT = 1280, 1500  # the screenshot: the description, Authorize, every route, the schemas


@pytest.fixture(scope="module")
def served(trained, service_app) -> Iterator[str]:
    """The service, with an API key, on a local port (uvicorn in a thread of this process)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("JOURNEY_CONFIG", str(trained.config))
    mp.setenv("JOURNEY_API_KEY", KEY)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(service_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert server.started, "the service did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)
    mp.undo()


def _drive(binary: str, url: str, profile: Path) -> tuple[dict[str, Any], list[str], bytes]:
    """Open the page, run try_it_out.js in it: what it returned, every URL requested, a screenshot."""
    with DevTools(binary, profile, timeout=120) as tools:
        target = tools.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = tools.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Network"):
            tools.send(f"{domain}.enable", session=session)
        metrics = {"width": WIDTH, "height": 1000, "deviceScaleFactor": 1, "mobile": False}
        tools.send("Emulation.setDeviceMetricsOverride", metrics, session)
        tools.send("Page.navigate", {"url": url}, session)
        tools.wait_for("Page.loadEventFired")
        call = f"({SCRIPT.read_text()})({json.dumps(KEY)})"
        result = tools.send(
            "Runtime.evaluate", {"expression": call, "awaitPromise": True, "returnByValue": True}, session
        )
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        height = tools.send(
            "Runtime.evaluate", {"expression": "document.documentElement.scrollHeight"}, session
        )["result"]["value"]
        tools.send(
            "Emulation.setDeviceMetricsOverride", metrics | {"height": min(height, MAX_HEIGHT)}, session
        )
        shot = base64.b64decode(tools.send("Page.captureScreenshot", {"format": "png"}, session)["data"])
        requests = [
            e["params"]["request"]["url"]
            for e in tools.events
            if e.get("method") == "Network.requestWillBeSent"
        ]
        return result["result"]["value"], requests, shot


def test_the_page_lists_every_route_and_try_it_out_scores_with_the_key(served, unavailable, tmp_path):
    binary = find_chromium()
    if binary is None:
        unavailable("Chromium not found: install Debian's `chromium` package to run the browser check")
    shown, requests, shot = _drive(binary, f"{served}/", tmp_path / "profile")  # `/` leads to the page

    assert shown["title"] == f"Journey {metadata.version('journey')} API"
    assert shown["heading"].split()[:2] == ["Journey", metadata.version("journey")]
    assert shown["routes"] == ROUTES
    assert shown["status"] == "200", shown["answer"]  # the service has a key: a 200 means the page sent it
    sent, answer = json.loads(shown["sent"]), json.loads(shown["answer"])
    assert [s["customer_id"] for s in answer["scores"]] == sent["customer_ids"]
    assert {s["status"] for s in answer["scores"]} <= {"ok", "stale", "unknown"}
    outside = [u for u in requests if not u.startswith(served) and not u.startswith("data:")]
    assert outside == [] and f"{served}/score" in requests and f"{served}/docs.json" in requests

    assert shot.startswith(b"\x89PNG") and len(shot) > 50_000
    if target := os.environ.get("JOURNEY_SCREENSHOT"):
        Path(target).write_bytes(shot)
