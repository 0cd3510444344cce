"""Generated projects for the tests: a config whose workdir is a given folder, and one trained end to end."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.config import Settings, load_settings
from core.io import write_tables

REPO = Path(__file__).resolve().parents[2]
START, END = "2023-01-01", "2025-01-01"
N_CUSTOMERS = 2000


def validated_generated(customers: int, seed: int, start: str, end: str) -> dict[str, pd.DataFrame]:
    """Generated tables, validated with the shipped config's demographics (the clean tables)."""
    from ingest.validate import validate_tables
    from synthetic.generate import generate_tables

    raw = generate_tables(customers, seed=seed, start=start, end=end)
    declared = load_settings(REPO / "configs" / "journey.yaml").demographics
    tables, _ = validate_tables({k: v for k, v in raw.items() if k != "truth"}, demographics=declared)
    return tables


def make_config(folder: Path) -> Path:
    """A copy of configs/ whose workdir and outputs live in `folder`."""
    configs = folder / "configs"
    configs.mkdir(parents=True, exist_ok=True)
    for name in ("stages.yaml", "actions.yaml", "reasons.yaml"):
        shutil.copy(REPO / "configs" / name, configs / name)
    shutil.copytree(REPO / "configs" / "sources", configs / "sources", dirs_exist_ok=True)
    text = (REPO / "configs" / "journey.yaml").read_text()
    text = text.replace("workdir: .journey", f"workdir: {folder / 'work'}")
    text = text.replace("outputs_dir: outputs", f"outputs_dir: {folder / 'outputs'}")
    (configs / "journey.yaml").write_text(text)
    return configs / "journey.yaml"


@dataclass(frozen=True)
class Trained:
    """A generated dataset that went through validate, features, Feast and both trainings."""

    config: Path
    settings: Settings
    tables: dict[str, pd.DataFrame]
    results: dict[str, object]


def train_project(folder: Path, customers: int = N_CUSTOMERS, seed: int = 11) -> Trained:
    """Generate, validate, build and materialise the features, then train churn and stage in `folder`."""
    from pipelines.steps import build, materialize, validate_data
    from synthetic.generate import generate_tables
    from training.train import train_task

    config = make_config(folder)
    settings = load_settings(config)
    tables = generate_tables(customers, seed=seed, start=START, end=END)
    write_tables(tables, settings.paths.data)
    validate_data(settings, pd.Timestamp(END, tz="UTC"))
    build(settings)
    materialize(settings)
    results: dict[str, object] = {
        task: train_task(settings.paths.clean, settings, task) for task in ("churn", "stage")
    }
    return Trained(config=config, settings=settings, tables=tables, results=results)
