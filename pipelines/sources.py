"""`journey validate --source NAME`: read a mapped source, validate it, report its usability."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from core.config import Settings, project_root
from core.cutoffs import SplitRules
from core.io import write_clean_set
from ingest.mapping import SourceMapping, load_mapping
from ingest.sources import read_snapshot_labels, read_source, resolve_root
from ingest.usability import UsabilityReport, blocked_report, usability_report
from ingest.validate import DataContractError, Drop, validate_tables

log = logging.getLogger(__name__)


SNAPSHOT_LABELS = "snapshot_labels.parquet"


def usability_path(settings: Settings, name: str) -> Path:
    return settings.paths.workdir / f"usability-{name}.json"


def validate_source(
    settings: Settings, name: str, as_of: pd.Timestamp | None, configs_dir: Path
) -> UsabilityReport:
    """Read source NAME through its mapping, validate it, write the clean tables and the report.

    Bad data never raises: contract problems become blocking entries of the report (an invalid
    or missing mapping file still raises MappingError / FileNotFoundError). The clean tables are
    written only when the source validates; the JSON report is written in every case.
    """
    mapping = load_mapping(name, configs_dir)
    root = resolve_root(mapping, data_dir=settings.paths.data, project_dir=project_root(configs_dir / "x"))
    report = _checked(settings, mapping, root, as_of)
    path = usability_path(settings, mapping.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.to_dict(), indent=2, default=str))
    log.info("usability report of %s written to %s", mapping.name, path)
    return report


def _checked(
    settings: Settings, mapping: SourceMapping, root: Path, as_of: pd.Timestamp | None
) -> UsabilityReport:
    window = settings.labels.prediction_window_days
    drops: list[Drop] = []
    labels = None
    try:
        tables, drops = read_source(mapping, root)
        clean, report = validate_tables(
            tables,
            as_of=as_of,
            demographics=mapping.demographics,
            sources=mapping.sources(),
            optional=mapping.absent,
            checks=settings.validation,
        )
        if mapping.snapshot_label is not None:
            labels, label_drops = read_snapshot_labels(mapping, root)
            drops = drops + label_drops
    except DataContractError as error:
        return blocked_report(mapping, list(error.problems), drops, window)
    written = clean if labels is None else {**clean, SNAPSHOT_LABELS.removesuffix(".parquet"): labels}
    declared = [d.model_dump() for d in mapping.demographics]
    # one set: a table (or label file) of an earlier source that this one lacks is not carried over
    write_clean_set(
        settings.paths.clean_root,
        written,
        mapping.name,
        declared,
        report.to_dict(),
        zero_amount_orders=mapping.zero_amount_orders,
    )
    return usability_report(
        clean,
        report,
        drops,
        window,
        mapping,
        labels=labels,
        rules=SplitRules.of(settings),
        stage_horizon_days=settings.labels.stage_horizon_days,
    )
