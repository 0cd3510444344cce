"""The BentoML scoring service: champions from the MLflow registry, features from Feast online.

Run it with `journey serve` or `bentoml serve serving.service:JourneyService`; the config file is
taken from JOURNEY_CONFIG (default configs/journey.yaml). When JOURNEY_API_KEY is set, the
scoring and info endpoints need it in the X-API-Key header (health and metrics stay open).

Endpoints: POST /score (ids; features from the online store), POST /score_features (features in
the body), GET /model_info, and BentoML's /livez, /readyz and /metrics; the page /docs (`/`
redirects there) on the document /docs.json (serving/openapi.py, with the served models'
features). Every request passes `http.RequestGate` first (known paths, JSON bodies, a body size
limit), then `http.JourneyMiddleware` (API key, request ids, error bodies).

Without a champion, or an online store that was never set up, `bentoml serve` stops before
starting any worker, with one line saying what to do (`startup.problem`); a worker that failed to
load would be restarted by BentoML forever.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import bentoml
import numpy as np
from bentoml.exceptions import InvalidArgument, ServiceUnavailable
from fastapi import FastAPI, Request
from prometheus_client import Counter, Histogram
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response

from core.config import DEFAULT_CONFIG, Settings, load_settings
from core.schema import STAGES
from features.catalog import Feature
from features.store import open_store
from serving import http, openapi, startup
from serving.champions import Champions
from serving.online import UNAVAILABLE, OnlineFeatures, OnlineRows, StoreUnavailable
from serving.schemas import (
    CustomerFeatures,
    ModelInfo,
    ModelVersionInfo,
    ScoreFeaturesRequest,
    ScoreRequest,
    ScoreResponse,
    features_model,
)
from serving.scoring import Scorer

T = TypeVar("T")
INLINE_WORK = 16  # customers x (1 + reasons per customer) scored on the event loop itself (see _run)
STORE_THREADS = 8  # online-store calls in flight at once; more wait (within the deadline) for a thread
DEADLINE_MARGIN_S = 0.5  # past the store's own timeouts: the driver's error, with its reason, comes first
SHOWN_PROBLEMS = 10  # invalid feature values named in one 400
log = logging.getLogger("bentoml.journey")  # under "bentoml": BentoML configures its handlers
info_app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)  # one page: openapi.page

SCORED = Counter(
    "journey_customers_scored", "Customers scored, by endpoint and status", ["endpoint", "status"]
)
ERRORS = Counter("journey_errors", "Requests that failed, by kind", ["kind"])
LATENCY = Histogram(
    "journey_score_seconds",
    "Wall time of a scoring call inside the service, by endpoint",
    ["endpoint"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5),
)


def _settings() -> Settings:
    return load_settings(os.environ.get("JOURNEY_CONFIG", str(DEFAULT_CONFIG)))


def _log(endpoint: str, started: float, scores: list[Any], models: dict[str, str]) -> None:
    """One structured line per request (never the API key, never feature values)."""
    counts = {s: sum(1 for c in scores if c.status == s) for s in ("ok", "stale", "unknown")}
    for status, n in counts.items():
        if n:
            SCORED.labels(endpoint=endpoint, status=status).inc(n)
    elapsed = time.perf_counter() - started
    LATENCY.labels(endpoint=endpoint).observe(elapsed)
    record = {"event": "scored", "endpoint": endpoint, "request_id": http.current().request_id}
    log.info(json.dumps(record | counts | {"ms": round(elapsed * 1000, 2), "models": models}))


async def _run(fn: Callable[..., T], *args: Any, work: int) -> T:
    """Small scoring work runs on the event loop; larger in a worker thread (never store I/O: _store_call).

    Handing a one-id score to a thread and back costs about as much as the score itself, so
    small requests are served faster inline (docs/benchmarks.md, `python -m benchmarks.serving`).
    A request of more than INLINE_WORK rows x (1 + reasons) goes to a thread so that it does not
    hold up the loop (health checks, small requests) for its whole duration.
    """
    if work <= INLINE_WORK:
        return fn(*args)
    return await asyncio.to_thread(fn, *args)  # copies the request's context (its request id)


class GatedService(bentoml.Service[T]):
    """BentoML's service with the request gate outside its middleware and our own document."""

    def to_asgi(self, is_main: bool = True) -> Any:
        app = super().to_asgi(is_main)
        api_paths = [api.route for api in self.apis.values()]
        return http.RequestGate(app, api_paths, _settings().serving.max_body_bytes)

    @property
    def openapi_spec(self) -> Any:
        return openapi.Document(openapi.document())


@bentoml.service(name="journey", traffic={"timeout": 30}, service_class=GatedService)
@bentoml.asgi_app(info_app, path="/")
class JourneyService:
    """Churn probability, next stage, reasons and action for customers of the CRM."""

    @bentoml.on_deployment
    def refuse_to_start_unservable() -> None:
        """Runs once in `bentoml serve`'s own process before any worker starts: without a champion
        or an online store every worker would fail to load and be restarted in a loop."""
        problem = startup.problem(_settings())
        if problem is not None:
            raise SystemExit(f"journey: cannot start the scoring service: {problem}")

    def __init__(self) -> None:
        http.quiet_client_errors()
        self.settings = _settings()
        self.champions = Champions(self.settings)
        store = open_store(self.settings)
        service = self.champions.scorer.churn.inputs.feature_service
        feast = self.settings.feast
        self.online = OnlineFeatures(store, service, feast.ttl_days, feast.timeout_seconds)
        self.store_threads = ThreadPoolExecutor(STORE_THREADS, thread_name_prefix="online-store")
        self.deadline = feast.timeout_seconds + DEADLINE_MARGIN_S
        self.champions.watch(self.settings.serving.reload_seconds)
        key = (
            "required (X-API-Key header)" if os.environ.get(http.API_KEY_ENV) else "NOT set: the API is open"
        )
        log.info("journey service ready: models %s; API key %s", self.champions.scorer.versions, key)
        # The libraries loaded above leave about a million long-lived objects; under load a full
        # collection walked them all every few seconds and stalled a request each time.
        # Freezing moves them out of the collector's sight.
        gc.freeze()

    async def __is_ready__(self) -> bool:
        """Ready when the online store answers and holds its sentinel customer (features/sentinel.py);
        else a 503 whose body is the reason. Recovers by itself when the store comes back."""
        try:
            problem = await self._store_call(self.online.problem)
        except StoreUnavailable as err:
            problem = str(err)
        if problem is not None:
            raise HTTPException(status_code=503, detail=f"not ready: {problem}")
        return True

    async def _store_call(self, fn: Callable[..., T], *args: Any) -> T:
        """A call of the online store in the store's own threads, never on the event loop, and
        bounded: past the deadline it is a StoreUnavailable (the thread finishes on its own, at
        the latest when the driver's own timeout fires)."""
        call = asyncio.get_running_loop().run_in_executor(self.store_threads, fn, *args)
        try:
            return await asyncio.wait_for(call, self.deadline)
        except TimeoutError as err:
            raise StoreUnavailable(f"{UNAVAILABLE}: no answer within {self.deadline:g} s") from err

    @bentoml.api(input_spec=ScoreRequest)
    async def score(self, customer_ids: list[str], explain: int = 3) -> ScoreResponse:
        """Score customers by id with features from the online store (one read for all ids).

        Unknown ids get status "unknown"; rows older than the feature view's TTL get "stale".
        The read runs off the event loop with a deadline; scoring then as `_run` decides.
        """
        started = time.perf_counter()
        scorer = self.champions.scorer
        try:
            rows = await self._store_call(self.online.read, customer_ids, scorer.features)
        except StoreUnavailable as err:
            ERRORS.labels(kind="store_unavailable").inc()
            http.current().unavailable = str(err)
            raise ServiceUnavailable(str(err)) from err
        work = len(customer_ids) * (1 + explain)
        return await _run(self._score, started, scorer, customer_ids, rows, explain, work=work)

    def _score(
        self, started: float, scorer: Scorer, customer_ids: list[str], rows: OnlineRows, explain: int
    ) -> ScoreResponse:
        scores = scorer.scores(customer_ids, rows.columns, rows.known, rows.as_of, explain, rows.stale)
        _log("score", started, scores, scorer.versions)
        return ScoreResponse(scores=scores, models=scorer.versions, request_id=http.current().request_id)

    @bentoml.api(input_spec=ScoreFeaturesRequest)
    async def score_features(self, customers: list[CustomerFeatures], explain: int = 3) -> ScoreResponse:
        """Score customers from features in the body (every feature of the models, null = missing)."""
        return await _run(self._score_features, customers, explain, work=len(customers) * (1 + explain))

    def _score_features(self, customers: list[CustomerFeatures], explain: int) -> ScoreResponse:
        started = time.perf_counter()
        scorer = self.champions.scorer
        columns = feature_columns(scorer, customers)
        ids = [c.customer_id for c in customers]
        known = np.ones(len(ids), dtype=bool)
        scores = scorer.scores(ids, columns, known, [c.as_of for c in customers], explain)
        _log("score_features", started, scores, scorer.versions)
        return ScoreResponse(scores=scores, models=scorer.versions, request_id=http.current().request_id)

    @info_app.get(openapi.DOCUMENT_URL, include_in_schema=False)
    def openapi_json(self) -> dict[str, Any]:
        """The OpenAPI document with the features of the models being served (replaces BentoML's)."""
        return openapi.with_features(openapi.document(), request_features(self.champions.scorer))

    @info_app.get("/model_info")
    def model_info(self) -> ModelInfo:
        """Model names, versions, aliases, feature service and training data as-of."""
        scorer = self.champions.scorer
        client = self.champions.client
        out = []
        for model in (scorer.churn, scorer.stage):
            version = client.get_model_version(model.name, model.version)
            tags = client.get_run(version.run_id).data.tags if version.run_id else {}
            out.append(
                ModelVersionInfo(
                    name=model.name,
                    version=model.version,
                    aliases=list(version.aliases),
                    feature_service=model.inputs.feature_service,
                    features=list(model.inputs.features),
                    grade=version.tags.get("grade"),
                    data_as_of=tags.get("data_as_of"),
                    trained_at=version.creation_timestamp / 1000 if version.creation_timestamp else None,
                )
            )
        return ModelInfo(
            models=out,
            online_store=self.settings.feast.online_store,
            features_ttl_days=self.settings.feast.ttl_days,
            newest_snapshot=self.online.newest,
            reload_seconds=self.settings.serving.reload_seconds,
        )


def feature_columns(scorer: Scorer, customers: list[CustomerFeatures]) -> dict[str, list[Any]]:
    """Columns of the models' features from request rows; any value the models can't take is a 400
    naming customers[i].features.NAME and what is allowed (see `request_features`)."""
    model = request_features(scorer)
    problems = [p for i, c in enumerate(customers) for p in _problems(model, i, c.features)]
    if problems:
        ERRORS.labels(kind="bad_features").inc()
        more = f" (and {len(problems) - SHOWN_PROBLEMS} more)" if len(problems) > SHOWN_PROBLEMS else ""
        raise InvalidArgument(
            f"{len(problems)} invalid feature value(s): {'; '.join(problems[:SHOWN_PROBLEMS])}{more}. "
            f"Send every model feature (null when unknown); GET /model_info and /docs.json list them"
        )
    return {name: [c.features[name] for c in customers] for name in scorer.features}


@functools.lru_cache(maxsize=4)
def request_features(scorer: Scorer) -> type[BaseModel]:
    """The features object the scorer's models accept (one per champion pair, built once).

    Kinds and minimums come from the catalog, category levels from the models (the union of both),
    and the current stage from the stage vocabulary.
    """
    levels: dict[str, set[str]] = {}
    for inputs in (scorer.churn.inputs, scorer.stage.inputs):
        for name, values in inputs.categories.items():
            levels.setdefault(name, set()).update(values)
    levels["current_stage"] = set(STAGES)
    features = [
        scorer.catalog.get(name)
        or Feature(name, "behavioural", "", name, kind="categorical" if name in levels else "numeric")
        for name in scorer.features
    ]
    ordered = {name: sorted(values, key=_stage_order) for name, values in levels.items()}
    return features_model(features, ordered)


def _stage_order(level: str) -> tuple[int, str]:
    return (STAGES.index(level) if level in STAGES else len(STAGES), level)


def _problems(model: type[BaseModel], i: int, features: dict[str, Any]) -> list[str]:
    try:
        model.model_validate(features)
    except ValidationError as err:
        return [_problem(model, i, e) for e in err.errors()]
    return []


def _problem(model: type[BaseModel], i: int, error: Any) -> str:
    name = str(error["loc"][0])
    where = f"customers[{i}].features.{name}"
    if error["type"] == "missing":
        return f"{where}: missing (null when unknown)"
    if error["type"] == "extra_forbidden":
        return f"{where}: not a feature of the served models"
    given = repr(error["input"])
    given = given if len(given) <= 40 else given[:37] + "..."
    return f"{where}: {given} is not allowed; allowed: {model.model_fields[name].description}"


@info_app.get("/", include_in_schema=False)
def home() -> RedirectResponse:
    """BentoML's own page (its branding, a tag-manager script) is never shown: ours is."""
    return RedirectResponse(openapi.PAGE_URL)


@info_app.get(openapi.PAGE_URL, include_in_schema=False)
def docs_page() -> HTMLResponse:
    return openapi.page()


def docs_asset(request: Request) -> Response:
    return openapi.asset(request.url.path.rsplit("/", 1)[-1])


for _name in openapi.ASSETS:  # one route per file: any other path stays a 404 of the gate
    info_app.add_route(f"{openapi.PAGE_URL}/{_name}", docs_asset, include_in_schema=False)


JourneyService.add_asgi_middleware(http.JourneyMiddleware)  # type: ignore[attr-defined]
