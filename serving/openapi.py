"""The scoring API's OpenAPI document, built from its request and response models, and its page.

BentoML's generated document described BentoML (its contact and badges, a task-status schema,
wrapper class names, error bodies it does not send) and knew nothing of the API key, the request
gate or the 503 of an unavailable store. This one is assembled from the pydantic models of
serving/schemas.py and a table of the routes, and says what each route answers. The served copy
(/docs.json) also carries the served models' features, so a request valid against it is one the
service accepts (tests/serving/test_fuzz.py). docs/openapi.json is `document()` written by
`journey openapi` (tests/serving/test_openapi.py keeps it current).

The page at /docs is Swagger UI from FastAPI's self-hosting helper, with Swagger UI's files from
the fastapi-offline package served by the service itself: it works without a network.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata, resources
from typing import Any

from fastapi.openapi.docs import get_swagger_ui_html
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.responses import FileResponse, HTMLResponse, Response

from serving.schemas import (
    MAX_IDS,
    Error,
    ModelInfo,
    ScoreFeaturesRequest,
    ScoreRequest,
    ScoreResponse,
)

TITLE = "Journey"
JSON = "application/json"
TEXT = "text/plain"
DOCUMENT_URL = "/docs.json"
PAGE_URL = "/docs"
ASSETS = {  # file of fastapi-offline's static folder -> media type, served under PAGE_URL
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}
SECURED: list[dict[str, list[str]]] = [{"ApiKey": []}, {"Bearer": []}]  # either one
SECURITY_SCHEMES = {
    "ApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "The key the service was started with (JOURNEY_API_KEY).",
    },
    "Bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "The same key as `Authorization: Bearer <key>`.",
    },
}
DESCRIPTION = f"""\
Churn probability, next customer-journey stage, reasons and a recommended retention action for
the customers of a CRM, from the champion models of the registry.

**Key.** When the service runs with `JOURNEY_API_KEY` set, `/score`, `/score_features` and
`/model_info` need it in the `X-API-Key` header (or `Authorization: Bearer <key>`): press
*Authorize* and paste it. Health and metrics stay open.

**Errors.** Every error is a JSON object with an `error` sentence: 400 for a body the schema
refuses (the field is named), 401 for a missing or wrong key, 404 for an unknown path, 405 for a
wrong method (with `Allow`), 413 for a body over the size limit, 415 for a body that is not JSON,
503 when the online feature store does not answer (retry later; `/readyz` says when it is back).

**Limits.** 1 to {MAX_IDS} customers per call. Send `X-Request-ID` to find a call in the service's
log; every answer echoes it (or a new one) in the `X-Request-ID` header.
"""
TAGS = [
    {"name": "Scoring", "description": "Scores, reasons and actions for customers"},
    {"name": "Models", "description": "The models being served"},
    {"name": "Operations", "description": "Health and metrics for the platform (no key needed)"},
]
TOO_SHORT = {"type": "too_short", "loc": ["customer_ids"], "msg": "List should have at least 1 item"}


@dataclass(frozen=True)
class Failure:
    """An error answer: its component name, what it means, an example body."""

    name: str
    description: str
    example: dict[str, Any]


ERRORS = {
    "400": Failure(
        "BadRequest",
        "The body is not valid: malformed JSON, a wrong type, an unknown or missing field, a value "
        "out of range; `error` or `detail` names the field",
        {"error": "1 validation error for ScoreRequest", "detail": [TOO_SHORT]},
    ),
    "401": Failure(
        "Unauthorized", "Missing or wrong API key", {"error": "missing or wrong API key (header X-API-Key)"}
    ),
    "404": Failure(
        "NotFound", "No such path", {"error": "no such path '/scores'; the API is described at /docs"}
    ),
    "405": Failure(
        "MethodNotAllowed",
        "The path does not take this method; the Allow header lists those it takes",
        {"error": "Method Not Allowed"},
    ),
    "413": Failure(
        "PayloadTooLarge",
        "The body is over serving.max_body_bytes: send fewer customers per call",
        {"error": "request body over 8000000 bytes (serving.max_body_bytes); send fewer customers"},
    ),
    "415": Failure(
        "UnsupportedMediaType",
        "The body is not sent as application/json",
        {"error": "Content-Type must be application/json, not 'text/plain'"},
    ),
    "503": Failure(
        "Unavailable",
        "The online feature store did not answer in time: retry later (GET /readyz says when it is back)",
        {"error": "online feature store unavailable: no answer within 2.5 s"},
    ),
}
POSTED = ("400", "401", "413", "415")  # what any POST of the API may answer


@dataclass(frozen=True)
class Route:
    """One operation of the API as the document describes it."""

    path: str
    method: str
    tag: str
    summary: str
    description: str
    ok: str  # what a 200 means
    body: type[BaseModel] | None = None  # JSON request body
    answer: type[BaseModel] | None = None  # JSON body of a 200; None: plain text
    errors: tuple[str, ...] = ()
    secured: bool = False


ROUTES = (
    Route(
        "/score",
        "post",
        "Scoring",
        "Score customers by id",
        "Features come from the online feature store, read once for all ids. An id it does not "
        'know comes back with status "unknown" and no score; a customer whose newest features are '
        'older than the feature view\'s time to live is scored and marked "stale".',
        "One score per id, in the order sent",
        ScoreRequest,
        ScoreResponse,
        (*POSTED, "503"),
        secured=True,
    ),
    Route(
        "/score_features",
        "post",
        "Scoring",
        "Score customers from feature values you send",
        "For a CRM that holds its own feature values: send every feature of the served models "
        "(GET /model_info lists them; null when unknown). A value the models cannot take is a 400 "
        "naming customers[i].features.NAME and what is allowed.",
        "One score per customer, in the order sent",
        ScoreFeaturesRequest,
        ScoreResponse,
        POSTED,
        secured=True,
    ),
    Route(
        "/model_info",
        "get",
        "Models",
        "Which models answer",
        "Names, registry versions and aliases, grades, input features and training data as-of of "
        "the churn and next-stage models being served, and the feature store they read. A new "
        "champion in the registry is served within reload_seconds, without a restart.",
        "The served models",
        answer=ModelInfo,
        errors=("401",),
        secured=True,
    ),
    Route(
        "/livez",
        "get",
        "Operations",
        "Liveness",
        "The process answers (an empty body).",
        "Alive",
    ),
    Route(
        "/readyz",
        "get",
        "Operations",
        "Readiness",
        "Ready when the online feature store answers and still holds its rows; otherwise a 503 "
        "whose body is the reason. Recovers by itself when the store is back.",
        "Ready to score (an empty body)",
        errors=("503",),
    ),
    Route(
        "/metrics",
        "get",
        "Operations",
        "Prometheus metrics",
        "Counters of customers scored (journey_customers_scored_total, by endpoint and status) and "
        "of errors (journey_errors_total), the latency histogram journey_score_seconds, and "
        "BentoML's own request metrics, in Prometheus' text format.",
        "The metrics",
    ),
)


def version() -> str:
    """The installed package's version (the document's and the page's)."""
    return metadata.version("journey")


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route of the API (no models or store needed)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": version(), "description": DESCRIPTION},
        "tags": copy.deepcopy(TAGS),
        "paths": {r.path: {r.method: _operation(r)} for r in ROUTES},
        "components": {
            "schemas": _schemas(),
            "responses": {f.name: _failure(f) for f in ERRORS.values()},
            "securitySchemes": copy.deepcopy(SECURITY_SCHEMES),
        },
    }


def _schemas() -> dict[str, Any]:
    """The JSON schemas of the models, each under its own name (requests as validated, answers as sent)."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        *((m, "validation") for m in (ScoreRequest, ScoreFeaturesRequest)),
        *((m, "serialization") for m in (ScoreResponse, ModelInfo, Error)),
    ]
    _, top = models_json_schema(models, ref_template="#/components/schemas/{model}")
    return dict(sorted(top["$defs"].items()))


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _operation(route: Route) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": route.ok}
    ok["content"] = (
        {JSON: {"schema": _ref(route.answer)}} if route.answer else {TEXT: {"schema": {"type": "string"}}}
    )
    operation: dict[str, Any] = {
        "tags": [route.tag],
        "summary": route.summary,
        "description": route.description,
        "operationId": route.path.strip("/"),
        "responses": {"200": ok, **{code: _error_ref(route, code) for code in route.errors}},
    }
    if route.body is not None:
        operation["requestBody"] = {"required": True, "content": {JSON: {"schema": _ref(route.body)}}}
    if route.secured:
        operation["security"] = copy.deepcopy(SECURED)
    return operation


def _error_ref(route: Route, code: str) -> dict[str, Any]:
    if route.path == "/readyz":  # Starlette's plain-text answer of the readiness check
        example = "not ready: " + ERRORS[code].example["error"]
        return {
            "description": "Not ready; the body says why",
            "content": {TEXT: {"schema": {"type": "string"}, "example": example}},
        }
    return {"$ref": f"#/components/responses/{ERRORS[code].name}"}


def _failure(failure: Failure) -> dict[str, Any]:
    content = {JSON: {"schema": _ref(Error), "example": copy.deepcopy(failure.example)}}
    return {"description": failure.description, "content": content}


def with_features(spec: Mapping[str, Any], features: type[BaseModel]) -> dict[str, Any]:
    """The document with `CustomerFeatures.features` described by the served models' features."""
    out = copy.deepcopy(dict(spec))
    schema = features.model_json_schema()
    schema["description"] = "every feature of the served models; null = missing (GET /model_info)"
    out["components"]["schemas"]["CustomerFeatures"]["properties"]["features"] = schema
    return out


def dumps(spec: Mapping[str, Any]) -> str:
    """The document as docs/openapi.json holds it."""
    return json.dumps(spec, indent=2, sort_keys=True) + "\n"


class Document:
    """What BentoML expects of `Service.openapi_spec`: an object whose asdict() is the document."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    def asdict(self) -> dict[str, Any]:
        return self.spec


def page() -> HTMLResponse:
    """The interactive page: Swagger UI on /docs.json, its files from this service, no network."""
    return get_swagger_ui_html(
        openapi_url=DOCUMENT_URL,
        title=f"{TITLE} {version()} API",
        swagger_js_url=f"{PAGE_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{PAGE_URL}/swagger-ui.css",
        swagger_favicon_url=f"{PAGE_URL}/favicon.png",
        swagger_ui_parameters={"displayRequestDuration": True},
    )


def asset(name: str) -> Response:
    """One of Swagger UI's files shipped by fastapi-offline (KeyError for any other name)."""
    media = ASSETS[name]
    path = resources.files("fastapi_offline") / "static" / name
    return FileResponse(str(path), media_type=media, headers={"cache-control": "max-age=86400"})
