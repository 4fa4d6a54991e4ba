"""RFC 9457 problem+json for every error, with stable codes; never a traceback."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .service import ServiceError
from .store import OutcomeUnknown, StoreUnavailable

__all__ = ["PROBLEM_RESPONSES", "RETRY_AFTER", "UnexpectedErrors", "install_handlers", "problem"]

#: Seconds a client is told to wait (``Retry-After``) before retrying after a 503 from the store.
RETRY_AFTER = 1

_UNAVAILABLE_DETAIL = "the store cannot write now; nothing was stored: retry later"
_UNAVAILABLE_READ_DETAIL = "the store cannot be read now: retry later"
_UNKNOWN_DETAIL = (
    "the store did not confirm the write: it may or may not have been stored; "
    "retry with the same Idempotency-Key (a retry then replays the stored answer or stores it once)"
)
_INTERNAL_DETAIL = "the server could not complete the request"
_INTERNAL_WRITE_DETAIL = (
    "the server could not complete the request; whether it took effect is not known: "
    "retry with the same Idempotency-Key"
)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: POST routes that only read the store (a verdict): their 503 says the store cannot be read.
_READ_ONLY_POSTS = frozenset({"/v1/verify"})

log = logging.getLogger("hcert")

_TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Unprocessable request",
    429: "Too many requests",
    500: "Internal error",
    503: "Unavailable",
}
_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    503: "unavailable",
}


_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string", "description": "stable error code"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "row": {"type": "integer"},
                    "field": {"type": "string"},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
}

#: Every route can answer these, always as problem+json (documented in the OpenAPI).
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": _TITLES[status], "content": {"application/problem+json": {"schema": _PROBLEM_SCHEMA}}}
    for status in (400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500, 503)
}


#: ``app.state.html_fault(request, status, code, detail, headers)``: a page for a person's browser
#: (the console sets it); a store fault on a page navigation is shown there, not as JSON.
HtmlFault = Callable[[Request, int, str, str, dict[str, str]], Response]


def _answer(request: Request, status: int, code: str, detail: str, *, headers: dict[str, str]) -> Response:
    """problem+json, or the console's error page for a browser navigating the console (a form post, a link)."""
    html_fault: HtmlFault | None = getattr(request.app.state, "html_fault", None)
    navigating = request.headers.get("sec-fetch-mode") == "navigate" or (
        "text/html" in request.headers.get("accept", "") and "sec-fetch-mode" not in request.headers
    )
    if html_fault is not None and navigating and request.url.path.startswith("/console"):
        return html_fault(request, status, code, detail, headers)
    return problem(status, code, detail, headers=headers)


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Return a problem+json response."""
    body: dict[str, Any] = {
        "type": f"urn:hcert:problem:{code}",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "code": code,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


#: What FastAPI says when a JSON body cannot be decoded at all (not UTF-8, say).
_BODY_PARSE_ERROR = "There was an error parsing the body"


def _json_media(media: str) -> bool:
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def install_handlers(app: FastAPI) -> None:
    """Map every exception to problem+json."""

    @app.exception_handler(ServiceError)
    async def _service(_: Request, exc: ServiceError) -> JSONResponse:
        headers = {**exc.headers, **({"WWW-Authenticate": "Bearer"} if exc.status == 401 else {})}
        return problem(exc.status, exc.code, exc.message, errors=exc.errors, headers=headers or None)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": _field(tuple(e.get("loc", ()))),
                "code": str(e.get("type", "invalid")),
                "message": str(e.get("msg")),
            }
            for e in exc.errors()
        ]
        if any(e["code"] == "json_invalid" for e in errors):  # not JSON at all: as the issuing routes say it
            return problem(400, "invalid_json", "the body is not JSON")
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        locs = [tuple(e.get("loc", ())) for e in exc.errors()]
        sent = not any(e["field"] == "body" and e["code"] == "missing" for e in errors)  # a body came
        if sent and not _json_media(media) and ("body",) in locs and all(loc[:1] == ("body",) for loc in locs):
            # The body was never read as JSON (a form post, text/plain, no type): say so, not "does not match".
            said = media or "no Content-Type"
            return problem(415, "unsupported_media_type", f"send the body as application/json, not {said}")
        return problem(422, "invalid_request", "the request does not match the API schema", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == _BODY_PARSE_ERROR and isinstance(exc.__cause__, ValueError):
            # A JSON body whose bytes are not UTF-8 (json.loads raised UnicodeDecodeError).
            return problem(400, "invalid_json", "the body is not JSON")
        return problem(
            exc.status_code,
            _CODES.get(exc.status_code, "error"),
            str(exc.detail),
            headers=dict(exc.headers) if exc.headers else None,
        )

    @app.exception_handler(StoreUnavailable)
    async def _store_unavailable(request: Request, exc: StoreUnavailable) -> Response:
        _store_log.warning("store_unavailable", f"{request.method} {request.url.path}: {exc}")
        # A read (GET, HEAD) changes nothing whatever the store did: only a write is told "nothing was stored".
        read = request.method in _SAFE_METHODS or request.url.path in _READ_ONLY_POSTS
        detail = _UNAVAILABLE_READ_DETAIL if read else _UNAVAILABLE_DETAIL
        return _answer(request, 503, "store_unavailable", detail, headers={"Retry-After": str(RETRY_AFTER)})

    @app.exception_handler(OutcomeUnknown)
    @app.exception_handler(redis.exceptions.ConnectionError)
    @app.exception_handler(redis.exceptions.TimeoutError)
    async def _outcome_unknown(request: Request, exc: Exception) -> Response:
        # A Redis connection or timeout error the store did not classify: a write may have
        # been sent before it, so the conservative answer is "outcome unknown".
        retry = {"Retry-After": str(RETRY_AFTER)}
        if request.method in _SAFE_METHODS and not isinstance(exc, OutcomeUnknown):  # a read wrote nothing
            _store_log.warning("store_unavailable", f"{request.method} {request.url.path}: {type(exc).__name__}")
            return _answer(request, 503, "store_unavailable", _UNAVAILABLE_READ_DETAIL, headers=retry)
        _store_log.warning("outcome_unknown", f"{request.method} {request.url.path}: {type(exc).__name__}")
        return _answer(request, 503, "outcome_unknown", _UNKNOWN_DETAIL, headers=retry)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Reached only when an error escapes UnexpectedErrors (in an outer middleware).
        return internal_error(request.method, request.url.path, exc)


class _RateLimitedLog:
    """Log a store fault at most once per ``interval`` seconds per code, with how many were not logged.

    During an outage every request fails the same way: one line per request would
    flood the log, and a log write that blocks (a full pipe) would stall the
    event loop that answers the 503s.
    """

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def warning(self, code: str, message: str) -> None:
        now = time.monotonic()
        if now - self._last.get(code, -self.interval) < self.interval:
            self._skipped[code] = self._skipped.get(code, 0) + 1
            return
        skipped = self._skipped.pop(code, 0)
        self._last[code] = now
        more = f" (and {skipped} more since the last line)" if skipped else ""
        log.warning("store fault %s on %s%s", code, message, more)


_store_log = _RateLimitedLog()


def internal_error(method: str, path: str, exc: BaseException) -> JSONResponse:
    """Log an unexpected error (type only: the request may hold ID numbers) and return its 500 problem."""
    log.error("internal error on %s %s: %s", method, path, type(exc).__name__)
    detail = _INTERNAL_DETAIL if method in _SAFE_METHODS else _INTERNAL_WRITE_DETAIL
    return problem(500, "internal_error", detail)


class UnexpectedErrors:
    """Answer an unexpected error with a 500 problem and keep the connection open.

    Starlette's outermost error middleware answers 500 and then re-raises, and
    uvicorn closes the connection on an exception after the answer started: the
    next request on a keep-alive connection would get no answer. Here the error
    is answered and not re-raised. An error after the response started cannot be
    answered any more: it is re-raised, and the server closes the connection (the
    client sees a cut response, never a wrong one).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception as exc:
            if started:
                raise
            await internal_error(scope["method"], scope.get("path", ""), exc)(scope, receive, send)
