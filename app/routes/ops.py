"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import PlainTextResponse

from keys import KeyRingError

from ..deps import MetricsDep, Service
from ..service import ServiceError

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness")
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness")
def readyz(service: Service) -> dict[str, str]:
    """The store answers and every authority has an active key."""
    if not service.store.ping():
        raise ServiceError("store_unavailable", "the store does not answer", 503)
    for authority in service.store.list_authorities():
        try:
            service.ring(authority.code).active()
        except KeyRingError as e:
            raise ServiceError("key_unavailable", f"authority {authority.code} has no usable key", 503) from e
    return {"status": "ready"}


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
def metrics(
    registry: MetricsDep, service: Service, authorization: Annotated[str | None, Header()] = None
) -> PlainTextResponse:
    """Text exposition format 0.0.4, to a scraper bearing ``HCERT_METRICS_TOKEN``; 404 when no token is set."""
    expected = service.settings.metrics_token
    if expected is None:
        raise ServiceError("metrics_disabled", "metrics are off: set HCERT_METRICS_TOKEN to enable them", 404)
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ServiceError("unauthenticated", "metrics need Authorization: Bearer <HCERT_METRICS_TOKEN>", 401)
    return PlainTextResponse(registry.render(), media_type="text/plain; version=0.0.4")
