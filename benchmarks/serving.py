"""Serving benchmark: our BentoML service against `mlflow models serve`, over loopback HTTP.

One run prepares a trained workdir (default 20,000 generated customers: validate, features, Feast
materialize, both models in the MLflow registry) in a temporary folder, or uses an existing one
(--workdir). Each server runs as a real subprocess with its default worker count and is stopped
after its cases. One load generator (this process: asyncio streams, N keep-alive clients in a
closed loop) drives every case for the same duration after a warm-up, and records each request's latency.

Cases:
  mlflow     `mlflow models serve` of models:/churn@champion (the registered pyfunc), POST
             /invocations with one customer's churn features (dataframe_split), at 4 and 16 clients
  features   our POST /score_features with the same customer's raw features, explain=0, 4 and 16 clients
  ids        our POST /score, one id per request, explain 0 and 3, at 1, 4 and 16 clients
  batches    our POST /score with 100 and 1000 ids, explain 0 (and 1000 with explain 3), 1 and 4 clients
  floor      for reference, each server's health check (GET /livez, GET /ping) at 4 clients: what the
             HTTP stack and this load generator manage with no model work at all

The load generator shares the machine's cores with the server: its own CPU use and the server's
(whole process tree) are reported per case. Results go to benchmarks/results/serving.json.

Examples:
  python -m benchmarks.serving                                  # prepare 20k customers, 20 s per case
  python -m benchmarks.serving --seconds 3 --parts mlflow,features
  python -m benchmarks.serving --workdir .journey --config configs/journey.yaml   # after `journey demo`
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

from pipelines.service_process import process_tree, tree_rss_mb

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "serving.json"
START, END = "2023-01-01", "2025-01-01"
PARTS = ("mlflow", "features", "ids", "batches", "floor")
JSON_HEADERS = {"content-type": "application/json"}
TARGET_RPS_RATIO, TARGET_P99_RATIO = 5.0, 1 / 3
TARGET_ID_P99_MS, TARGET_BATCH_MS = 15.0, 150.0


# ---------------------------------------------------------------------------------------------
# Preparation: a config file whose workdir is the trained run, and the payloads of the cases


def write_config(folder: Path, workdir: Path, base: Path) -> Path:
    """A copy of the config folder of `base` whose workdir is `workdir` (outputs go to `folder`)."""
    configs = folder / "configs"
    shutil.copytree(base.parent, configs, dirs_exist_ok=True)
    lines = []
    for line in base.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("workdir:"):
            line = f"  workdir: {workdir.resolve()}"
        elif stripped.startswith("outputs_dir:"):
            line = f"  outputs_dir: {folder / 'outputs'}"
        lines.append(line)
    target = configs / base.name
    target.write_text("\n".join(lines) + "\n")
    return target


def prepare(folder: Path, customers: int, seed: int) -> tuple[Path, dict[str, Any]]:
    """Generate, validate, build features, materialize and train both models in `folder`."""
    import pandas as pd

    from core.config import load_settings
    from core.io import write_tables
    from pipelines.steps import build, materialize, validate_data
    from synthetic.generate import generate_tables
    from training.train import train_task

    config = write_config(folder, folder / "work", REPO / "configs" / "journey.yaml")
    settings = load_settings(config)
    started = time.perf_counter()
    write_tables(generate_tables(customers, seed, START, END), settings.paths.data)
    validate_data(settings, pd.Timestamp(END, tz="UTC"))
    build(settings)
    materialize(settings)
    for task in ("churn", "stage"):
        print(f"  training {task} ...", flush=True)
        train_task(settings.paths.clean, settings, task)
    seconds = round(time.perf_counter() - started, 1)
    return config, {"customers": customers, "seed": seed, "prepare_s": seconds}


def _plain(value: Any) -> Any:
    """A JSON value: NumPy scalars to Python, NaN to null."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


@dataclass(frozen=True)
class Payloads:
    ids: list[str]  # active customers at the newest snapshot (all in the online store)
    customer_id: str
    features: dict[str, Any]  # raw feature values of that customer, for /score_features
    columns: list[str]  # the churn model's input features, in order
    row: list[Any]  # that customer's churn features, in the model's order (categories as text)
    local_churn: float  # the calibrated, rounded churn probability of that row, in this process


def payloads(config: Path) -> Payloads:
    from core.config import load_settings
    from core.schema import CHURN_MODEL, STAGE_MODEL
    from serving.artifact import PROBABILITY_DIGITS
    from serving.batch import active, newest_features
    from serving.models import load_champion
    from serving.scoring import Scorer

    settings = load_settings(config)
    churn = load_champion(CHURN_MODEL, settings)
    scorer = Scorer(churn, load_champion(STAGE_MODEL, settings), settings)
    frame = active(newest_features(settings))
    matrix = churn.inputs.matrix(frame)
    complete = np.flatnonzero(~np.isnan(matrix).any(axis=1))  # a row without missing values
    row = int(complete[0]) if len(complete) else 0
    one = frame.iloc[row : row + 1]
    local = float(scorer.predict(one).churn[0])
    return Payloads(
        ids=frame["customer_id"].astype(str).tolist(),
        customer_id=str(frame["customer_id"].iloc[row]),
        features={name: _plain(frame[name].iloc[row]) for name in scorer.features},
        columns=list(churn.inputs.features),
        row=[_plain(one[name].iloc[0]) for name in churn.inputs.features],
        local_churn=round(local, PROBABILITY_DIGITS),
    )


# ---------------------------------------------------------------------------------------------
# Servers as subprocesses, always stopped


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def _wait(proc: subprocess.Popen[bytes], url: str, timeout_s: float, log_file: Path) -> float:
    """Poll `url` until it answers 200; the seconds it took. Fails with the log tail otherwise."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode}:\n{_tail(log_file)}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"server not ready after {timeout_s:.0f} s:\n{_tail(log_file)}")


def tree_cpu_s(pid: int) -> float:
    total = 0.0
    for p in process_tree(pid):
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


@dataclass
class Server:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    ready_s: float
    processes: int


@contextmanager
def ours(config: Path, folder: Path, ready_timeout: float) -> Iterator[Server]:
    """`bentoml serve serving.service:JourneyService` as pipelines/service_process.py runs it."""
    from core.config import load_settings
    from pipelines import service_process

    settings = load_settings(config)
    port = service_process.free_port()
    url = f"http://127.0.0.1:{port}"
    log_file = folder / "bentoml.log"
    saved = os.environ.pop("JOURNEY_API_KEY", None)  # the benchmark measures the open API
    try:
        proc = service_process.start(settings, config, port, log_file)
    finally:
        if saved is not None:
            os.environ["JOURNEY_API_KEY"] = saved
    try:
        ready = _wait(proc, f"{url}/readyz", ready_timeout, log_file)
        yield Server("journey", url, proc, ready, len(process_tree(proc.pid)))
    finally:
        service_process.stop(proc)


@contextmanager
def mlflow_server(config: Path, folder: Path, ready_timeout: float) -> Iterator[Server]:
    """`mlflow models serve -m models:/churn@champion --env-manager local` with its defaults."""
    from core.config import load_settings
    from core.schema import CHAMPION, CHURN_MODEL
    from pipelines import service_process

    settings = load_settings(config)
    port = service_process.free_port()
    url = f"http://127.0.0.1:{port}"
    log_file = folder / "mlflow.log"
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ)
    env["MLFLOW_TRACKING_URI"] = settings.mlflow.uri(settings.paths.workdir.resolve())
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"  # it execs `uvicorn` from PATH
    cmd = [
        str(bin_dir / "mlflow"),
        "models",
        "serve",
        "-m",
        f"models:/{CHURN_MODEL}@{CHAMPION}",
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    with log_file.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=out, cwd=folder)
    try:
        ready = _wait(proc, f"{url}/ping", ready_timeout, log_file)
        yield Server("mlflow", url, proc, ready, len(process_tree(proc.pid)))
    finally:
        service_process.stop(proc)


# ---------------------------------------------------------------------------------------------
# The load generator: N clients in a closed loop, one process


@dataclass
class Case:
    part: str
    contender: str
    path: str
    clients: int
    ids_per_request: int
    explain: int | None
    bodies: list[bytes] = field(repr=False)
    method: str = "POST"


@dataclass
class Measured:
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    error_kinds: dict[str, int]
    loadgen_cpu: float  # cores used by this process during the window (1.0 = one core busy)
    server_cpu: float  # cores used by the server's process tree during the window
    server_rss_mb: float


class Connection:
    """One keep-alive HTTP/1.1 connection of the load generator, on asyncio streams.

    httpx spent ~1.4 ms of this process's CPU per request: at 500+ requests/s with 16 clients the
    load generator used a whole core and its own queueing showed up as the servers' tail latency.
    This client sends prebuilt requests and reads each answer whole (Content-Length or chunked).
    """

    def __init__(self, url: str) -> None:
        host_port = url.split("://", 1)[1].rstrip("/")
        self.host, port = host_port.rsplit(":", 1)
        self.port = int(port)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    @staticmethod
    def request(method: str, path: str, host: str, body: bytes) -> bytes:
        head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n"
        if method == "POST":
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        return (head + "\r\n").encode() + (body if method == "POST" else b"")

    async def send(self, raw: bytes) -> int:
        """Send one prebuilt request and read its whole answer; returns the status code."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
        }
        if "content-length" in headers:
            await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def _drive(
    url: str, case: Case, warmup: float, seconds: float, timeout: float, server_pid: int
) -> Measured:
    latencies: list[float] = []
    kinds: Counter[str] = Counter()
    host = url.split("://", 1)[1].rstrip("/")
    raws = [Connection.request(case.method, case.path, host, body) for body in case.bodies]
    t0 = time.perf_counter()
    begin, end = t0 + warmup, t0 + warmup + seconds
    marks: dict[str, float] = {}

    async def clock() -> None:
        await asyncio.sleep(max(0.0, begin - time.perf_counter()))
        marks["cpu0"], marks["srv0"] = time.process_time(), tree_cpu_s(server_pid)
        marks["wall0"] = time.perf_counter()
        await asyncio.sleep(max(0.0, end - time.perf_counter()))
        marks["cpu1"], marks["srv1"] = time.process_time(), tree_cpu_s(server_pid)
        marks["wall1"] = time.perf_counter()

    async def worker(k: int) -> None:
        connection = Connection(url)
        i = k
        try:
            while time.perf_counter() < end:
                raw = raws[i % len(raws)]
                i += case.clients
                sent = time.perf_counter()
                try:
                    status = await asyncio.wait_for(connection.send(raw), timeout)
                    kind = "ok" if status < 400 else f"http_{status}"
                except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as err:
                    kind = type(err).__name__
                    await connection.close()  # a broken or timed-out connection is not reused
                done = time.perf_counter()
                if begin <= done <= end:
                    if kind == "ok":
                        latencies.append(done - sent)
                    else:
                        kinds[kind] += 1
        finally:
            await connection.close()

    bound = warmup + seconds + timeout + 10
    await asyncio.wait_for(asyncio.gather(clock(), *(worker(k) for k in range(case.clients))), bound)
    wall = marks["wall1"] - marks["wall0"]
    ms = np.asarray(latencies) * 1000 if latencies else np.asarray([math.nan])
    return Measured(
        requests=len(latencies),
        rps=len(latencies) / seconds,
        p50_ms=float(np.percentile(ms, 50)),
        p90_ms=float(np.percentile(ms, 90)),
        p99_ms=float(np.percentile(ms, 99)),
        max_ms=float(ms.max()),
        errors=sum(kinds.values()),
        error_kinds=dict(kinds),
        loadgen_cpu=(marks["cpu1"] - marks["cpu0"]) / wall,
        server_cpu=(marks["srv1"] - marks["srv0"]) / wall,
        server_rss_mb=tree_rss_mb(server_pid),
    )


def run_case(server: Server, case: Case, warmup: float, seconds: float, timeout: float) -> dict[str, Any]:
    label = f"{case.contender} {case.path} clients={case.clients} ids={case.ids_per_request}"
    print(f"  {label} explain={case.explain} ...", flush=True)
    gc.collect()
    gc.freeze()  # this process holds the whole stack's objects: no full-collection pauses in the load
    measured = asyncio.run(_drive(server.url, case, warmup, seconds, timeout, server.proc.pid))
    out = {k: v for k, v in asdict(case).items() if k != "bodies"}
    return out | asdict(measured)


# ---------------------------------------------------------------------------------------------
# The cases


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def id_bodies(ids: Sequence[str], per_request: int, explain: int, count: int) -> list[bytes]:
    """`count` request bodies of `per_request` consecutive ids each, wrapping around the id list."""
    bodies = []
    for b in range(count):
        start = (b * per_request) % len(ids)
        chunk = [ids[(start + j) % len(ids)] for j in range(per_request)]
        bodies.append(_dump({"customer_ids": chunk, "explain": explain}))
    return bodies


def mlflow_cases(p: Payloads, parts: Sequence[str]) -> list[Case]:
    body = _dump({"dataframe_split": {"columns": p.columns, "data": [p.row]}})
    cases = []
    if "mlflow" in parts:
        cases += [Case("mlflow", "mlflow", "/invocations", c, 1, None, [body]) for c in (4, 16)]
    if "floor" in parts:
        cases.append(Case("floor", "mlflow", "/ping", 4, 0, None, [b""], "GET"))
    return cases


def our_cases(p: Payloads, parts: Sequence[str]) -> list[Case]:
    cases = []
    if "floor" in parts:
        cases.append(Case("floor", "journey", "/livez", 4, 0, None, [b""], "GET"))
    if "features" in parts:
        row = {"customer_id": p.customer_id, "features": p.features}
        body = _dump({"customers": [row], "explain": 0})
        cases += [Case("features", "journey", "/score_features", c, 1, 0, [body]) for c in (4, 16)]
    if "ids" in parts:
        for explain in (0, 3):
            bodies = id_bodies(p.ids, 1, explain, min(len(p.ids), 5000))
            cases += [Case("ids", "journey", "/score", c, 1, explain, bodies) for c in (1, 4, 16)]
    if "batches" in parts:
        for size, explain in ((100, 0), (1000, 0), (1000, 3)):
            bodies = id_bodies(p.ids, size, explain, 20)
            cases += [Case("batches", "journey", "/score", c, size, explain, bodies) for c in (1, 4)]
    return cases


def check_mlflow(server: Server, p: Payloads) -> dict[str, Any]:
    """One call before measuring: it must answer what our service answers for that row."""
    body = mlflow_cases(p, ["mlflow"])[0].bodies[0]
    r = httpx.post(f"{server.url}/invocations", content=body, headers=JSON_HEADERS, timeout=30)
    r.raise_for_status()
    served = float(r.json()["predictions"][0]["churn_probability"])
    if abs(served - p.local_churn) > 1e-9:
        raise AssertionError(f"mlflow predicted {served}, the scorer {p.local_churn}")
    return {"prediction": served}


def check_ours(server: Server, p: Payloads) -> dict[str, Any]:
    """One call per endpoint before measuring: the customer must be scored, the same both ways."""
    body = {"customers": [{"customer_id": p.customer_id, "features": p.features}], "explain": 0}
    by_features = httpx.post(f"{server.url}/score_features", json=body, timeout=30)
    by_features.raise_for_status()
    one = {"customer_ids": [p.customer_id], "explain": 0}
    by_id = httpx.post(f"{server.url}/score", json=one, timeout=30)
    by_id.raise_for_status()
    a, b = by_features.json()["scores"][0], by_id.json()["scores"][0]
    if a["status"] != "ok" or b["status"] != "ok" or a["churn_probability"] != b["churn_probability"]:
        raise AssertionError(f"/score_features {a} and /score {b} disagree")
    return {"churn_probability": a["churn_probability"]}


# ---------------------------------------------------------------------------------------------
# Report


def _find(cases: list[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    for case in cases:
        if all(case.get(k) == v for k, v in match.items()):
            return case
    return None


def summarise(cases: list[dict[str, Any]]) -> dict[str, Any]:
    """Ratios ours / mlflow and the issue's targets, for the cases that ran."""
    comparisons = []
    for clients in (4, 16):
        a = _find(cases, part="mlflow", clients=clients)
        b = _find(cases, part="features", clients=clients)
        if a and b and a["requests"] and b["requests"]:
            rps, p99 = b["rps"] / a["rps"], b["p99_ms"] / a["p99_ms"]
            comparisons.append(
                {
                    "clients": clients,
                    "rps_ratio": rps,
                    "p99_ratio": p99,
                    "met": rps >= TARGET_RPS_RATIO and p99 <= TARGET_P99_RATIO,
                }
            )
    targets = []
    ids = _find(cases, part="ids", clients=4, explain=0)
    if ids:
        targets.append(
            {
                "target": f"/score one id, 4 clients, explain=0: p99 <= {TARGET_ID_P99_MS:.0f} ms",
                "measured_ms": ids["p99_ms"],
                "met": ids["p99_ms"] <= TARGET_ID_P99_MS and ids["errors"] == 0,
            }
        )
    batch = _find(cases, part="batches", clients=1, ids_per_request=1000, explain=0)
    if batch:
        targets.append(
            {
                "target": f"/score 1000 ids, 1 client, explain=0: p99 <= {TARGET_BATCH_MS:.0f} ms",
                "measured_ms": batch["p99_ms"],
                "met": batch["p99_ms"] <= TARGET_BATCH_MS and batch["errors"] == 0,
            }
        )
    return {"comparisons": comparisons, "targets": targets}


def render(result: dict[str, Any]) -> str:
    lines = [
        f"data: {result['data']}; {result['seconds']:g} s per case after {result['warmup']:g} s warm-up; "
        f"machine: {result['machine']}",
        "",
        "| contender | endpoint | clients | ids/req | explain | req/s | p50 ms | p99 ms | errors "
        "| load-gen CPU | server CPU |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in result["cases"]:
        if "error" in c:
            lines.append(f"| {c['contender']} | {c['path']} | {c['clients']} | | | error: {c['error']} |||||")
            continue
        explain = "" if c["explain"] is None else c["explain"]
        ids = c["ids_per_request"] or ""
        lines.append(
            f"| {c['contender']} | {c['method']} {c['path']} | {c['clients']} | {ids} | {explain} "
            f"| {c['rps']:,.0f} | {c['p50_ms']:.1f} | {c['p99_ms']:.1f} | {c['errors']} "
            f"| {c['loadgen_cpu']:.2f} | {c['server_cpu']:.2f} |"
        )
    summary = result["summary"]
    if summary["comparisons"]:
        lines += [
            "",
            f"| clients | req/s ours / mlflow (target >= {TARGET_RPS_RATIO:g}x) "
            "| p99 ours / mlflow (target <= 0.33) | met |",
            "|---|---|---|---|",
        ]
        for c in summary["comparisons"]:
            met = "yes" if c["met"] else "no"
            lines.append(f"| {c['clients']} | {c['rps_ratio']:.2f}x | {c['p99_ratio']:.2f} | {met} |")
    if summary["targets"]:
        lines += ["", "| target | measured | met |", "|---|---|---|"]
        for t in summary["targets"]:
            lines.append(f"| {t['target']} | {t['measured_ms']:.1f} ms | {'yes' if t['met'] else 'no'} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------


def measure_server(
    starter: Any, cases: list[Case], args: argparse.Namespace, folder: Path, config: Path, check: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Start one server, check it, run its cases, stop it; a failure is recorded, not raised."""
    out: list[dict[str, Any]] = []
    info: dict[str, Any] = {}
    try:
        with starter(config, folder, args.ready_timeout) as server:
            info = {"ready_s": round(server.ready_s, 1), "processes": server.processes}
            info["check"] = check(server)
            for case in cases:
                out.append(run_case(server, case, args.warmup, args.seconds, args.timeout))
    except Exception as err:  # keep the other contender's figures
        info["error"] = f"{type(err).__name__}: {err}"
        print(f"  failed: {info['error']}", flush=True)
        done = len(out)
        for case in cases[done:]:
            out.append({k: v for k, v in asdict(case).items() if k != "bodies"} | {"error": info["error"]})
    return info, out


def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise SystemExit(f"unknown parts {unknown}; choose from {', '.join(PARTS)}")
    if args.workdir:
        config = write_config(folder, args.workdir, args.config.resolve())
        data: dict[str, Any] = {"workdir": str(args.workdir.resolve())}
    else:
        print(f"preparing {args.customers:,} customers (generate, validate, features, Feast, train) ...")
        config, data = prepare(folder, args.customers, args.seed)
    p = payloads(config)
    data |= {"active_ids": len(p.ids), "features": len(p.features), "churn_inputs": len(p.columns)}
    load_before = os.getloadavg()
    servers: dict[str, Any] = {}
    cases: list[dict[str, Any]] = []
    mlflow = mlflow_cases(p, parts)
    if mlflow:
        print("mlflow models serve ...", flush=True)
        servers["mlflow"], done = measure_server(
            mlflow_server, mlflow, args, folder, config, lambda s: check_mlflow(s, p)
        )
        cases += done
    ours_cases = our_cases(p, parts)
    if ours_cases:
        print("bentoml serve serving.service:JourneyService ...", flush=True)
        servers["journey"], done = measure_server(
            ours, ours_cases, args, folder, config, lambda s: check_ours(s, p)
        )
        cases += done
    machine = {
        "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }
    measured = [c for c in cases if "error" not in c]
    return {
        "data": data,
        "seconds": args.seconds,
        "warmup": args.warmup,
        "machine": machine,
        "servers": servers,
        "cases": cases,
        "summary": summarise(measured),
        "command": "python -m benchmarks.serving " + " ".join(args.argv),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.serving",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per case (default 20)")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each case")
    parser.add_argument("--customers", type=int, default=20_000, help="customers to generate (default 20000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--workdir", type=Path, help="workdir of an existing trained run (skips preparation), e.g. .journey"
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=REPO / "configs" / "journey.yaml",
        help="config of that run (its workdir is replaced by --workdir); default configs/journey.yaml",
    )
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)} (default all)"
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request before an error")
    parser.add_argument("--ready-timeout", type=float, default=180.0, help="seconds for a server to start")
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON results file")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory(prefix="journey-bench-serving-") as tmp:
        result = run(args, Path(tmp))
    print(render(result))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {args.output}")


if __name__ == "__main__":
    main()
