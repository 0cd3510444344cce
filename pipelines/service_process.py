"""Run the BentoML service as a subprocess (demo, `journey serve`) and talk to it over HTTP."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from core.config import Settings

SERVICE = "serving.service:JourneyService"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_command(host: str, port: int) -> list[str]:
    bentoml = Path(sys.executable).parent / "bentoml"
    return [str(bentoml), "serve", SERVICE, "--host", host, "--port", str(port)]


def service_env(settings: Settings, config: Path) -> dict[str, str]:
    """The service finds its config through JOURNEY_CONFIG; BentoML keeps its files in the workdir."""
    env = dict(os.environ)
    env["JOURNEY_CONFIG"] = str(config.resolve())
    env.setdefault("BENTOML_HOME", str((settings.paths.workdir / "bentoml").resolve()))
    return env


def start(
    settings: Settings, config: Path, port: int, log_file: Path, open_api: bool = False
) -> subprocess.Popen[bytes]:
    """Start `bentoml serve` in the background; `open_api` drops JOURNEY_API_KEY (the demo)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    out = log_file.open("wb")
    env = service_env(settings, config)
    if open_api:
        env.pop("JOURNEY_API_KEY", None)
    return subprocess.Popen(
        service_command("127.0.0.1", port),
        env=env,
        stdout=out,
        stderr=out,
    )


def wait_ready(proc: subprocess.Popen[bytes], url: str, timeout_s: float, log_file: Path) -> None:
    """Poll /readyz until the service answers 200; fail with its log tail if it dies or hangs."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the service exited with code {proc.returncode}:\n{_tail(log_file)}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"the service was not ready after {timeout_s:.0f} s:\n{_tail(log_file)}")


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server (SIGKILL after 20 s), then make sure none of its workers outlive it."""
    children = process_tree(proc.pid)[1:]
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.terminate()
    _, alive = psutil.wait_procs(children, timeout=10)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()


def score(url: str, ids: list[str], explain: int = 3) -> dict[str, Any]:
    response = httpx.post(f"{url}/score", json={"customer_ids": ids, "explain": explain}, timeout=30)
    response.raise_for_status()
    return dict(response.json())


def process_tree(pid: int) -> list[psutil.Process]:
    """A process (e.g. `bentoml serve`) and all its descendants (its workers); [] once it is gone."""
    try:
        parent = psutil.Process(pid)
        return [parent, *parent.children(recursive=True)]
    except psutil.Error:
        return []


def tree_rss_mb(pid: int) -> float:
    """Resident memory of the whole process tree, in MiB."""
    total = 0
    for proc in process_tree(pid):
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total / 2**20
