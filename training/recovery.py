"""After a training killed where no `finally` runs (kill -9, power loss): mark its MLflow runs KILLED,
remove the versions it registered half-way, give a complete version the aliases it missed.

Every command that trains, promotes or lists models calls `recover` first, so a killed training
leaves no run RUNNING and no half-registered version that `promote` or the service could pick up.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field

from mlflow import MlflowClient
from mlflow.entities import Run
from mlflow.exceptions import MlflowException

from core.config import Settings
from core.registry import experiment_id
from core.schema import CHURN_MODEL, STAGE_MODEL
from training.registry import (
    COMPLETE,
    HOST_TAG,
    PID_TAG,
    REGISTRATION,
    RUN_REGISTRATION,
    give_aliases,
    unregister_run,
)

log = logging.getLogger(__name__)
PARENT_TAG = "mlflow.parentRunId"  # nested runs (tuning trials) carry their parent's id


@dataclass
class Recovery:
    """What `recover` repaired: runs marked KILLED, versions removed, versions given their aliases."""

    killed_runs: list[str] = field(default_factory=list)
    removed_versions: list[str] = field(default_factory=list)
    completed_versions: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        said = [f"marked MLflow run {run} KILLED: its process is gone" for run in self.killed_runs]
        said += [f"removed {v}: its registration did not complete" for v in self.removed_versions]
        said += [f"completed the registration of {v} (aliases set)" for v in self.completed_versions]
        return said


def recover(client: MlflowClient, settings: Settings) -> Recovery:
    """Repair what killed trainings of this host left in the configured MLflow store."""
    done = Recovery(killed_runs=_kill_orphans(client, experiment_id(client, settings)))
    for name in (CHURN_MODEL, STAGE_MODEL):
        _repair_versions(client, name, done, settings.training.first_champion_grades)
    for line in done.lines():
        log.warning(line)
    return done


def _kill_orphans(client: MlflowClient, experiment: str) -> list[str]:
    """RUNNING runs whose process (same host, by pid) is gone, and the nested runs under them."""
    running = client.search_runs([experiment], filter_string="attributes.status = 'RUNNING'")
    dead = {run.info.run_id for run in running if _orphaned(run)}
    dead |= {run.info.run_id for run in running if run.data.tags.get(PARENT_TAG) in dead}
    for run_id in sorted(dead):
        client.set_terminated(run_id, "KILLED")
    return sorted(dead)


def _orphaned(run: Run) -> bool:
    """A run started here by a process that no longer exists; runs of other hosts are left alone."""
    pid, host = run.data.tags.get(PID_TAG), run.data.tags.get(HOST_TAG)
    if not pid or host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def _repair_versions(
    client: MlflowClient, name: str, done: Recovery, champion_grades: tuple[str, ...]
) -> None:
    """Versions of finished runs whose registration is `pending`: remove or complete them."""
    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException:
        return
    for version in sorted(versions, key=lambda v: int(v.version)):
        run = _run(client, version.run_id)
        if run is None or run.info.status == "RUNNING":
            continue  # a training in progress elsewhere, or a run deleted by hand
        if run.data.tags.get(RUN_REGISTRATION) != "pending":
            continue  # complete, or registered before this tag existed
        if version.tags.get(REGISTRATION) != COMPLETE:
            done.removed_versions += unregister_run(client, run.info.run_id)
            continue
        give_aliases(client, name, str(version.version), champion_grades)
        client.set_tag(run.info.run_id, RUN_REGISTRATION, COMPLETE)
        done.completed_versions.append(f"{name} v{version.version}")


def _run(client: MlflowClient, run_id: str | None) -> Run | None:
    if not run_id:
        return None
    try:
        return client.get_run(run_id)
    except MlflowException:
        return None
