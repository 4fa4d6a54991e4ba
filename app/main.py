"""``create_app()``: the FastAPI application, built in a lifespan, no import-time state."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import cast

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hcert_verifier import __version__

from .breaker import GuardedStore
from .console import install as install_console
from .headers import SecurityHeaders
from .metrics import Metrics
from .network import pull_forever
from .problems import PROBLEM_RESPONSES, UnexpectedErrors, install_handlers, problem
from .routes import accounts, admin, certificates, network, ops, scan, status, trust
from .service import IssuingService, data_path
from .settings import Settings
from .store import Store, open_store
from .trust import TrustNetwork

__all__ = ["create_app"]

log = logging.getLogger("hcert")


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, before the route reads them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await problem(413, "body_too_large", f"request bodies are limited to {self.limit} bytes")(
                scope, receive, send
            )
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await problem(413, "body_too_large", f"request bodies are limited to {self.limit} bytes")(
                scope, receive, send
            )


class _TooLarge(Exception):
    pass


class RequestMetrics:
    """Count requests by method, route template and status, with latency (plain ASGI: no extra task)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            self.metrics.observe_request(
                scope["method"], getattr(route, "path", "unmatched"), status, time.perf_counter() - start
            )


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> FastAPI:
    """Build the app. The store opens in the lifespan, which also makes the development material when asked."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        opened = store or open_store(
            settings.store,
            path=str(data_path(settings)),
            url=settings.redis_url,
            wait_replicas=settings.redis_wait_replicas,
            wait_ms=settings.redis_wait_ms,
        )
        # A store the app opens itself fails fast while Redis is unreachable (app/breaker.py); not
        # a Redis Cluster, where one master down must not refuse the authorities of the others.
        guard = store is None and not getattr(opened, "cluster", False)
        service = IssuingService(settings, cast(Store, GuardedStore(opened)) if guard else opened)
        if settings.dev and service.ensure_development_setup(now=app.state.clock()):
            TrustNetwork(service).ensure_development_network(now=app.state.clock())
        app.state.service = service
        app.state.trust = TrustNetwork(service)
        watcher = asyncio.create_task(app.state.trust.verifier.watch())
        puller = None
        if settings.pull_interval > 0:
            puller = asyncio.create_task(pull_forever(app.state.trust, app.state.clock, settings.pull_interval))
        try:
            yield
        finally:
            watcher.cancel()
            if puller is not None:
                puller.cancel()
            if store is None:
                opened.close()

    app = FastAPI(
        title="hcert issuing service",
        version=__version__,
        summary="Cross-provincial health certificate mutual recognition: issuing, status lists, keys.",
        lifespan=lifespan,
    )
    app.state.clock = clock or (lambda: dt.datetime.now(dt.UTC))
    app.state.metrics = Metrics()
    install_handlers(app)
    for module in (certificates, status, network, trust, admin, accounts, ops):
        app.include_router(module.router, responses=PROBLEM_RESPONSES)
    app.include_router(scan.router)
    install_console(app)

    app.add_middleware(RequestMetrics, metrics=app.state.metrics)
    # Status lists are JWTs whose payload base64-encodes an already base64 list:
    # gzip on the wire takes most of that overhead back.
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    # An unexpected error is a 500 problem, and the keep-alive connection stays open.
    app.add_middleware(UnexpectedErrors)
    # Outermost, so that every answer carries them, the body limit's 413 too.
    app.add_middleware(SecurityHeaders)
    return app
