"""What the scoring service needs before it starts: champions, and an online store that serves them.

BentoML restarts a worker that fails to load, forever: started before any model was trained the
service never opened its port and logged a traceback every few seconds, the useful line buried in
them. `journey serve` and `bentoml serve` (through the service's deployment hook) therefore check
this first, in their own process, and stop with one line saying what to do. An online store that
was set up but does not answer (Redis down) is not a reason to stop: the service starts and
/readyz answers 503 with the reason until the store is back.
"""

from __future__ import annotations

from feast.errors import FeatureServiceNotFoundException
from mlflow import MlflowClient
from mlflow.models import Model

from core.config import Settings
from core.registry import connect, download_model
from core.schema import CHAMPION, CHURN_MODEL, STAGE_MODEL
from features.store import open_store
from serving.artifact import ModelInputs
from serving.models import ModelNotFound, version_of


class NotServable(RuntimeError):
    """The service cannot start; the message says what to do."""


def problem(settings: Settings) -> str | None:
    """None when both models have a champion and the online store serves the churn champion's
    features (what every worker loads at start), else what to do, in one sentence."""
    client = connect(settings)
    try:
        versions = {name: version_of(client, name, CHAMPION) for name in (CHURN_MODEL, STAGE_MODEL)}
    except ModelNotFound as err:
        return str(err)
    service = _feature_service(client, CHURN_MODEL, versions[CHURN_MODEL])
    try:
        open_store(settings).get_feature_service(service)
    except FeatureServiceNotFoundException:
        return (
            f"the online feature store ({settings.paths.feast_repo}) has no feature service "
            f"'{service}', which the churn champion reads: run `journey features materialize`"
        )
    return None


def require(settings: Settings) -> None:
    """NotServable, saying what to do, unless the service can start (see `problem`)."""
    found = problem(settings)
    if found is not None:
        raise NotServable(found)


def _feature_service(client: MlflowClient, name: str, version: str) -> str:
    """The feature service a registered version reads (its metadata only: no booster is loaded)."""
    meta = Model.load(str(download_model(client, name, version))).metadata or {}
    return ModelInputs.from_metadata(meta).feature_service
