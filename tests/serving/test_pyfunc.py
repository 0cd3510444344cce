"""One model everywhere (issue 18 item 4): the registered pyfunc answers what the API answers.

The champion in the MLflow registry, loaded as a pyfunc in this process and served by
`mlflow models serve`, must give the same calibrated churn probability and stage probabilities as
/score_features for the same rows, and its signature must take categories as text.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from starlette.testclient import TestClient

from core.registry import connect, download_model
from core.schema import CHAMPION, CHURN_MODEL, STAGE_MODEL, STAGES
from serving.batch import active, newest_features
from serving.models import load_champion

ROWS = 40


@pytest.fixture(scope="module")
def rows(trained: Any) -> pd.DataFrame:
    frame = active(newest_features(trained.settings))
    return frame.sample(ROWS, random_state=3).reset_index(drop=True)


@pytest.fixture(scope="module")
def api(trained: Any, rows: pd.DataFrame, service_app: Any) -> dict[str, Any]:
    """/score_features for the rows, through the service's ASGI app."""
    mp = pytest.MonkeyPatch()
    mp.setenv("JOURNEY_CONFIG", str(trained.config))
    with TestClient(service_app()) as client:
        features = json.loads(client.get("/model_info").text)
        names = list(dict.fromkeys(f for m in features["models"] for f in m["features"]))
        customers = [
            {"customer_id": str(r["customer_id"]), "features": {n: _plain(r[n]) for n in names}}
            for _, r in rows.iterrows()
        ]
        response = client.post("/score_features", json={"customers": customers, "explain": 0})
    mp.undo()
    assert response.status_code == 200, response.text
    return response.json()


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    return value.item() if hasattr(value, "item") else value


def _model_dir(trained: Any, name: str) -> Path:
    client = connect(trained.settings)
    version = client.get_model_version_by_alias(name, CHAMPION).version
    return download_model(client, name, str(version))


def _expected(api: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    scores = api["scores"]
    churn = np.array([s["churn_probability"] for s in scores], dtype=float)
    stage = np.array([[s["next_stage_probabilities"][k] for k in STAGES] for s in scores], dtype=float)
    return churn, stage


def _inputs(trained: Any, name: str, rows: pd.DataFrame) -> pd.DataFrame:
    features = list(load_champion(name, trained.settings).inputs.features)
    return rows[features]


def test_the_pyfunc_in_process_gives_the_api_answer(trained: Any, rows: pd.DataFrame, api: dict[str, Any]):
    churn, stage = _expected(api)
    model = mlflow.pyfunc.load_model(str(_model_dir(trained, CHURN_MODEL)))
    got = model.predict(_inputs(trained, CHURN_MODEL, rows))
    np.testing.assert_allclose(got["churn_probability"].to_numpy(), churn, rtol=0, atol=1e-9)
    staged = mlflow.pyfunc.load_model(str(_model_dir(trained, STAGE_MODEL)))
    got = staged.predict(_inputs(trained, STAGE_MODEL, rows))
    np.testing.assert_allclose(got[[f"p_{k}" for k in STAGES]].to_numpy(), stage, rtol=0, atol=1e-9)


def test_the_signature_takes_categories_as_text(trained: Any):
    churn = load_champion(CHURN_MODEL, trained.settings)
    assert churn.inputs.categories  # the generated data has categorical features
    model = mlflow.models.Model.load(str(_model_dir(trained, CHURN_MODEL)))
    assert model.signature is not None
    types = {c.name: c.type.name for c in model.signature.inputs.inputs}
    assert list(types) == list(churn.inputs.features)
    for name in churn.inputs.categories:
        assert types[name] == "string", (name, types[name])
    assert [c.name for c in model.signature.outputs.inputs] == ["churn_probability"]


@pytest.fixture(scope="module")
def served(trained: Any) -> Iterator[str]:
    """`mlflow models serve` on the churn champion's folder, in this environment (no new env)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    model = _model_dir(trained, CHURN_MODEL)
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    cmd = [str(mlflow_cli), "models", "serve", "-m", str(model), "--env-manager", "local"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    # the environment's scripts (uvicorn) on PATH; this checkout's code importable (the pyfunc's class)
    env = {
        **os.environ,
        "PATH": f"{mlflow_cli.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    process = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(url, process)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(process.pid, 15)
        process.wait(timeout=30)


def _wait(url: str, process: subprocess.Popen[bytes]) -> None:
    import urllib.request

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out = process.stdout.read().decode() if process.stdout else ""
            raise AssertionError(f"mlflow models serve exited {process.returncode}:\n{out[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("mlflow models serve did not answer /ping in 120 s")


@pytest.mark.slow
def test_mlflow_models_serve_gives_the_api_answer(
    trained: Any, rows: pd.DataFrame, api: dict[str, Any], served: str
):
    import urllib.request

    churn, _ = _expected(api)
    frame = _inputs(trained, CHURN_MODEL, rows)
    payload = {"dataframe_split": json.loads(frame.to_json(orient="split", index=False))}
    request = urllib.request.Request(
        f"{served}/invocations",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as r:
        body = json.loads(r.read())
    got = np.array([p["churn_probability"] for p in body["predictions"]], dtype=float)
    np.testing.assert_allclose(got, churn, rtol=0, atol=1e-9)
