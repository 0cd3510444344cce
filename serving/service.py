"""The BentoML scoring service: champions from the MLflow registry, features from Feast online.

Run it with `journey serve` or `bentoml serve serving.service:JourneyService`; the config file is
taken from JOURNEY_CONFIG (default configs/journey.yaml).
"""

from __future__ import annotations

import logging
import os
from typing import Annotated, Any

import bentoml
import numpy as np
import pandas as pd
from pydantic import Field

from features.config import DEFAULT_CONFIG, load_settings
from features.schema import CHURN_MODEL, STAGE_MODEL
from features.store import open_store
from serving.models import load_champion
from serving.schemas import ScoreResponse
from serving.scoring import Scorer

log = logging.getLogger(__name__)
MAX_IDS = 1000


def online_rows(
    store: Any, service: Any, ids: list[str], features: list[str]
) -> tuple[dict[str, list[Any]], np.ndarray, list[Any]]:
    """One online-store read: feature columns, which ids are known, and each row's snapshot time."""
    response = store.get_online_features(features=service, entity_rows=[{"customer_id": i} for i in ids])
    data = response.to_dict(include_event_timestamps=True)
    columns = {name: data[name] for name in features}
    known = np.array([any(columns[f][i] is not None for f in features) for i in range(len(ids))])
    stamps = data.get(f"{features[0]}__ts") or [None] * len(ids)
    as_of = [pd.Timestamp(s, unit="s", tz="UTC") if s else None for s in stamps]
    return columns, known, as_of


@bentoml.service(name="journey", traffic={"timeout": 30})
class JourneyService:
    """POST /score: churn probability, next stage, reasons and action for customer ids."""

    def __init__(self) -> None:
        settings = load_settings(os.environ.get("JOURNEY_CONFIG", str(DEFAULT_CONFIG)))
        self.scorer = Scorer(
            load_champion(CHURN_MODEL, settings), load_champion(STAGE_MODEL, settings), settings
        )
        self.store = open_store(settings)
        self.service = self.store.get_feature_service(self.scorer.churn.inputs.feature_service)
        log.info("journey service ready with models %s", self.scorer.versions)

    @bentoml.api
    def score(
        self,
        customer_ids: Annotated[list[str], Field(min_length=1, max_length=MAX_IDS)],
        explain: Annotated[int, Field(ge=0, le=10)] = 3,
    ) -> ScoreResponse:
        """Score customers by id with features from the online store; unknown ids get status unknown."""
        features = self.scorer.features
        columns, known, as_of = online_rows(self.store, self.service, customer_ids, features)
        scores = self.scorer.scores(customer_ids, columns, known, as_of, explain)
        return ScoreResponse(scores=scores, models=self.scorer.versions)
