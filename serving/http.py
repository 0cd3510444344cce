"""ASGI middleware of the scoring service: API key, request ids, error bodies a client can act on.

BentoML answers every 5xx with a generic body; a CRM needs to know that the feature store is
down (retry later) rather than that the service broke. The API records the reason on the
request's state and this middleware puts it in the 503 body. BentoML 1.4 also wraps the body of
some 4xx answers (malformed JSON, InvalidArgument) in a one-element list; the middleware unwraps
it so that every client error is one JSON object with an "error" string (and "detail" for schema
errors). `quiet_client_errors` keeps client mistakes out of the error log's tracebacks.
"""

from __future__ import annotations

import functools
import hmac
import json
import logging
import os
import uuid
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import Counter
from starlette.routing import Match, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)
API_KEY_ENV = "JOURNEY_API_KEY"
API_KEY_HEADER = b"x-api-key"
PROTECTED = ("/score", "/score_features", "/model_info")  # health and metrics stay open
KEPT_HEADERS = (b"allow", b"www-authenticate", b"retry-after")  # kept when a 4xx body is rewritten
REFUSED = Counter("journey_refused_requests", "Requests the gate refused, by reason", ["reason"])
# BentoML's own extras, left out of the API: the files and schema of its index page (ours is /docs)
# and /healthz, the deprecated twin of /livez
HIDDEN = ("/schema.json", "/static_content", "/healthz")


@dataclass
class RequestState:
    request_id: str
    unavailable: str | None = None  # set by the API when the online store failed


CURRENT: ContextVar[RequestState | None] = ContextVar("journey_request", default=None)


def current() -> RequestState:
    """This request's state (a fresh one outside a request, e.g. in tests calling the class)."""
    return CURRENT.get() or RequestState(uuid.uuid4().hex)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _json(
    status: int, body: dict[str, Any], request_id: str, kept: Sequence[tuple[bytes, bytes]] = ()
) -> list[Message]:
    """One JSON answer; `kept` are headers of the original answer worth keeping (Allow on a 405)."""
    payload = json.dumps(body).encode()
    headers = [
        *kept,
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"x-request-id", request_id.encode()),
    ]
    return [
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": payload},
    ]


class JourneyMiddleware:
    """Checks the API key on scoring and info paths, tags every response with X-Request-ID."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.key = os.environ.get(API_KEY_ENV) or None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = RequestState(_header(scope, b"x-request-id") or uuid.uuid4().hex)
        token = CURRENT.set(state)
        try:
            protected = scope["path"].rstrip("/") in PROTECTED
            if protected and self.key and not self._authorised(scope):
                for message in _json(
                    401, {"error": "missing or wrong API key (header X-API-Key)"}, state.request_id
                ):
                    await send(message)
                return
            await self.app(scope, receive, self._send(send, state, protected))
        finally:
            CURRENT.reset(token)

    def _authorised(self, scope: Scope) -> bool:
        given = _header(scope, API_KEY_HEADER) or ""
        bearer = _header(scope, b"authorization") or ""
        if bearer.lower().startswith("bearer "):
            given = given or bearer[7:]
        return hmac.compare_digest(given.encode(), (self.key or "").encode())

    def _send(self, send: Send, state: RequestState, protected: bool) -> Send:
        replacing = False
        client_error: list[Message] = []  # a 4xx answer, held back until its body is complete

        async def wrapped(message: Message) -> None:
            nonlocal replacing
            if message["type"] == "http.response.start":
                if protected and message["status"] == 503 and state.unavailable:
                    replacing = True
                    for out in _json(503, {"error": state.unavailable}, state.request_id):
                        await send(out)
                    return
                if 400 <= message["status"] < 500:
                    client_error.append(message)
                    return
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"x-request-id", state.request_id.encode())],
                }
            elif replacing:
                return  # the original generic body is dropped
            elif client_error:
                client_error.append(message)
                if not message.get("more_body", False):
                    for out in _client_error(client_error, state.request_id):
                        await send(out)
                return
            await send(message)

        return wrapped


def _client_error(messages: list[Message], request_id: str) -> list[Message]:
    """The held-back 4xx answer with a one-element list body unwrapped to its object."""
    status = messages[0]["status"]
    raw = b"".join(m.get("body", b"") for m in messages[1:])
    try:
        body = json.loads(raw)
    except ValueError:
        body = {"error": raw.decode("utf-8", "replace") or f"HTTP {status}"}
    if isinstance(body, list) and len(body) == 1 and isinstance(body[0], dict):
        body = body[0]
    if isinstance(body, dict) and not isinstance(body.get("error"), str):  # FastAPI's {"detail": "..."}
        body = {"error": str(body.get("detail") or f"HTTP {status}"), **body}
    kept = [(k, v) for k, v in messages[0].get("headers", []) if k.lower() in KEPT_HEADERS]
    return _json(status, body if isinstance(body, dict) else {"error": body}, request_id, kept)


class _ClientErrorFilter(logging.Filter):
    """BentoML logs every failed request at ERROR with a traceback, a client's mistake included.

    For a client error (pydantic validation, a BentoML exception with a 4xx code) the record
    becomes one INFO line naming the error, for a 503 (the online store unavailable) one WARNING
    line with the reason; other server errors keep their traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        code = getattr(getattr(exc, "error_code", None), "value", 500)
        if exc is not None and (type(exc).__name__ == "ValidationError" or 400 <= code < 500):
            record.msg = f"{record.msg}: client error {type(exc).__name__}: {str(exc).splitlines()[0]}"
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
        elif exc is not None and code == 503:  # the store is down: the reason, not a 90-line traceback
            record.msg = f"{record.msg}: 503 {str(exc).splitlines()[0]}"
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def quiet_client_errors() -> None:
    """Install the filter on BentoML's HTTP app logger (idempotent)."""
    logger = logging.getLogger("bentoml._internal.server.http_app")
    if not any(isinstance(f, _ClientErrorFilter) for f in logger.filters):
        logger.addFilter(_ClientErrorFilter())


class RequestGate:
    """What reaches BentoML at all: known paths, and JSON bodies of bounded size on the API routes.

    BentoML's metrics middleware labels every request by its raw path, so each unknown path used to
    add a family of series to /metrics for good; the gate sits outside that middleware and answers
    404 itself, also for BentoML's routes the API does not offer (HIDDEN). A body over `max_body` is
    refused with 413 from its Content-Length, or as soon as the streamed bytes pass the limit, never
    read in full. A non-JSON content type on an API route is a 415 (BentoML's multipart parser
    answered a boundary-less one with a 500).
    """

    def __init__(self, app: ASGIApp, api_paths: Sequence[str], max_body: int) -> None:
        self.app = app
        self.api_paths = frozenset(api_paths)
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"].rstrip("/") or "/"
        problem = self._problem(scope, path)
        if problem is not None:
            REFUSED.labels(reason=problem[0]).inc()
            await _answer(send, scope, problem[1], problem[2])
            return
        if path in self.api_paths:
            await self._bounded(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _problem(self, scope: Scope, path: str) -> tuple[str, int, str] | None:
        """(metric reason, status, message) for a request refused before it reaches the app."""
        if not routed(self.app, scope) or hidden(path):
            return (
                "unknown_path",
                404,
                f"no such path {scope['path'][:200]!r}; the API is described at /docs",
            )
        if path not in self.api_paths or scope["method"] != "POST":
            return None
        media = (_header(scope, b"content-type") or "application/json").split(";")[0].strip().lower()
        if media != "application/json":
            return "media_type", 415, f"Content-Type must be application/json, not {media[:100]!r}"
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return "body_too_large", 413, self._too_large()
        return None

    def _too_large(self) -> str:
        return f"request body over {self.max_body} bytes (serving.max_body_bytes); send fewer customers"

    async def _bounded(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; once the streamed body passes the limit answer 413 and tell the app the
        client is gone, dropping whatever it sends after that."""
        seen = 0
        refused = False

        async def counted() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            seen += len(message.get("body", b""))
            if message["type"] == "http.request" and seen > self.max_body:
                refused = True
                REFUSED.labels(reason="body_too_large").inc()
                await _answer(send, scope, 413, self._too_large())
                return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counted, guarded)


async def _answer(send: Send, scope: Scope, status: int, error: str) -> None:
    request_id = _header(scope, b"x-request-id") or uuid.uuid4().hex
    for message in _json(status, {"error": error}, request_id):
        await send(message)


def hidden(path: str) -> bool:
    """A path BentoML answers that is not part of the API (HIDDEN, or under one of them)."""
    return any(path == h or path.startswith(h + "/") for h in HIDDEN)


def routed(app: Any, scope: Scope) -> bool:
    """Whether one of the app's routes takes the path (any method), as Starlette's router decides;
    under a static-files mount only an existing file counts."""
    for route in getattr(app, "routes", ()):
        match, _ = route.matches(scope)
        if match == Match.NONE:
            continue
        if isinstance(route, Mount) and isinstance(route.app, StaticFiles):
            return scope["path"] in _static_files(route.app, route.path)
        return True
    return False


@functools.cache
def _static_files(files: StaticFiles, prefix: str) -> frozenset[str]:
    roots = [Path(d) for d in [files.directory, *(files.all_directories or [])] if d is not None]
    return frozenset(
        f"{prefix}/{file.relative_to(root).as_posix()}"
        for root in roots
        for file in root.rglob("*")
        if file.is_file()
    )
