"""`journey demo`: the whole job on generated data, ending with live calls to the scoring API."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd

from core.config import Settings
from core.io import write_tables
from pipelines import service_process
from pipelines.console import console, step
from pipelines.run import run_pipeline
from synthetic.generate import generate_tables

DEMO_START, DEMO_END = "2023-01-01", "2025-01-01"


def run_demo(settings: Settings, config: Path, customers: int, seed: int) -> None:
    """Generate data, run the pipeline as of the data's end, then score three customers over HTTP."""
    tables = step(
        f"generating {customers:,} customers",
        lambda: generate_tables(customers, seed, DEMO_START, DEMO_END),
    )
    write_tables(tables, settings.paths.data)
    # every customer worth contacting: a value-ranked top 100 would hold only the big spenders
    run_pipeline(settings, pd.Timestamp(DEMO_END, tz="UTC"), capacity=customers)
    listed = pd.read_csv(settings.paths.outputs_dir / "targets.csv", dtype={"customer_id": str})
    ids = [*listed["customer_id"].head(2).tolist(), "NO_SUCH_CUSTOMER"]
    answer = _call_service(settings, config, ids)
    console.print_json(json.dumps(answer))
    _where(settings)


def _call_service(settings: Settings, config: Path, ids: list[str]) -> dict[str, Any]:
    port = service_process.free_port()
    url = f"http://127.0.0.1:{port}"
    log_file = settings.paths.workdir / "service.log"
    proc = step_start(settings, config, port, log_file)
    try:
        service_process.wait_ready(proc, url, timeout_s=180, log_file=log_file)
        console.print(f"[green]✓[/] service ready at {url}; POST /score for {ids}")
        return service_process.score(url, ids)
    finally:
        service_process.stop(proc)
        console.print("[green]✓[/] service stopped")


def step_start(settings: Settings, config: Path, port: int, log_file: Path) -> subprocess.Popen[bytes]:
    console.print(f"starting the BentoML service on port {port} (log: {log_file})")
    console.print(
        "  [yellow]the demo service runs without an API key[/]: anyone on this machine can call it; "
        "set JOURNEY_API_KEY before `make serve` to require one"
    )
    return service_process.start(settings, config, port, log_file, open_api=True)


def _where(settings: Settings) -> None:
    p = settings.paths
    workdir = p.workdir
    console.print("\n[bold]Where things are[/]")
    console.print(f"  target list     {p.outputs_dir / 'targets.csv'} (.xlsx, summary JSON beside it)")
    console.print(f"  all scores      {p.outputs_dir / 'scores.csv'}")
    console.print(f"  report (HTML)   {p.outputs_dir / 'report.html'}")
    db = workdir / "mlflow.db"
    console.print(f"  MLflow database {db}")
    console.print(f"  MLflow UI       .venv/bin/mlflow ui --backend-store-uri sqlite:///{db}")
    console.print(f"  features        {p.features}")
    console.print(f"  Feast repo      {p.feast_repo}")
    console.print("  serve the API   make serve  (then open http://127.0.0.1:3000/docs)")
