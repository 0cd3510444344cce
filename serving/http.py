"""ASGI middleware of the scoring service: API key, request ids, error bodies a client can act on.

BentoML answers every 5xx with a generic body; a CRM needs to know that the feature store is
down (retry later) rather than that the service broke. The API records the reason on the
request's state and this middleware puts it in the 503 body. BentoML 1.4 also wraps the body of
some 4xx answers (malformed JSON, InvalidArgument) in a one-element list; the middleware unwraps
it so that every client error is one JSON object with an "error" string (and "detail" for schema
errors). `quiet_client_errors` keeps client mistakes out of the error log's tracebacks.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)
API_KEY_ENV = "JOURNEY_API_KEY"
API_KEY_HEADER = b"x-api-key"
PROTECTED = ("/score", "/score_features", "/model_info")  # health and metrics stay open


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


def _json(status: int, body: dict[str, Any], request_id: str) -> list[Message]:
    payload = json.dumps(body).encode()
    headers = [
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
    return _json(status, body if isinstance(body, dict) else {"error": body}, request_id)


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
