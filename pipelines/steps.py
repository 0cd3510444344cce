"""The pipeline steps, each a thin composition of the packages' pure functions."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from core.config import Demographic, Settings
from core.generations import has_generation
from core.io import read_dataset_info, read_raw_tables, write_clean_set
from ingest.validate import DataContractError, ValidationReport, validate_tables

if TYPE_CHECKING:  # Feast and the feature engine load when a step runs, not with the settings
    import pandas as pd

    from features.build import Manifest
    from features.store import Materialized

log = logging.getLogger(__name__)


def effective(settings: Settings) -> Settings:
    """Settings with the demographics of the source the clean tables came from (if validated)."""
    info = read_dataset_info(settings.paths.clean)
    if info is None:
        return settings
    declared = tuple(Demographic.model_validate(d) for d in info["demographics"])
    return settings.model_copy(update={"demographics": declared})


def validate_data(settings: Settings, as_of: pd.Timestamp | None) -> ValidationReport:
    """Validate the raw tables against the contract; write the clean tables and the report as one set.

    The clean tables, dataset info and report become the current generation together; a run
    that fails leaves the previous set in place and says so in `<workdir>/validation.json`.
    """
    data = settings.paths.data
    try:
        tables = read_raw_tables(data)
        sources = {name: str(data / f"{name}.parquet") for name in tables}
        clean, report = validate_tables(
            tables,
            as_of=as_of,
            demographics=settings.demographics,
            sources=sources,
            checks=settings.validation,
        )
    except Exception as error:
        problems = list(error.problems) if isinstance(error, DataContractError) else [str(error)]
        _write_last_run(settings, {"status": "failed", "problems": problems, **_kept(settings)})
        raise
    declared = [d.model_dump() for d in settings.demographics]
    folder = write_clean_set(settings.paths.clean_root, clean, "data", declared, report.to_dict())
    _write_last_run(settings, {"status": "passed", "clean_tables": str(folder), **report.to_dict()})
    return report


def _kept(settings: Settings) -> dict[str, str]:
    """What a failed validate left in place: the clean tables of the last run that passed, if any."""
    if not has_generation(settings.paths.clean_root):
        return {"clean_tables": "none: no validate has passed yet"}
    return {"clean_tables": f"unchanged: {settings.paths.clean.resolve()} (the last validate that passed)"}


def _write_last_run(settings: Settings, outcome: dict[str, object]) -> None:
    """`<workdir>/validation.json`: the outcome of the last validate run, written in one rename."""
    path = settings.paths.workdir / "validation.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_suffix(".json.tmp")
    staged.write_text(json.dumps(outcome, indent=2, default=str))
    staged.replace(path)


def build(settings: Settings) -> Manifest:
    from features.build import build_features

    return build_features(settings.paths.clean, settings)


def materialize(settings: Settings, reload: bool = False) -> Materialized:
    """feast apply, then bring the online store up to the newest snapshot (in full when `reload`)."""
    from features.build import read_manifest
    from features.store import apply_definitions, materialize_newest, open_store

    manifest = read_manifest(settings.paths.features)
    if not has_generation(settings.paths.features):
        raise FileNotFoundError(
            f"the feature tables in {settings.paths.features} were built by an older Journey: "
            "run `journey features build` once (it reuses them)"
        )
    store = open_store(settings)
    apply_definitions(store, settings)
    return materialize_newest(store, manifest, settings.paths.features, reload)
