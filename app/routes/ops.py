"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import PlainTextResponse

from keys import KeyRingError

from ..breaker import GuardedStore
from ..deps import MetricsDep, Service
from ..problems import RETRY_AFTER
from ..service import ServiceError
from ..store import StoreUnavailable

router = APIRouter(tags=["operations"])

_REASONS = {
    "read_only": "the database is read-only",
    "disk_full": "the disk holding the database is full",
    "store_busy": "another process holds the database's write lock",
    "io_error": "the database reports an I/O error",
    "store_unreachable": "Redis does not answer",
    "store_loading": "Redis is loading its data after a restart",
    "appendonly_off": "Redis runs without an append-only file: a restart would lose acknowledged writes",
    "store_emptied": "Redis lost its data (the store's marker key is gone)",
    "cluster_down": "the Redis Cluster does not serve every slot",
    "replicas_missing": "fewer Redis replicas are connected than HCERT_REDIS_WAIT_REPLICAS asks for",
}


@router.get("/healthz", summary="Liveness")
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness")
def readyz(service: Service) -> dict[str, str]:
    """A write can succeed now (the store's own probe) and every authority has an active key.

    503 ``not_ready`` lists the store's reasons (``read_only``, ``disk_full``,
    ``store_unreachable``, ...) in ``detail``, with ``Retry-After``.
    """
    reasons = service.store.readiness()
    if service.settings.redis_accept_loss:
        reasons = [r for r in reasons if r != "appendonly_off"]
    # Past the breaker: the store itself was just asked, so its answer, not a cooldown, decides.
    store = service.store.store if isinstance(service.store, GuardedStore) else service.store
    authorities = []
    if not reasons:
        try:
            authorities = store.list_authorities()
        except StoreUnavailable:
            reasons = ["store_unreachable"]
    if reasons:
        raise ServiceError(
            "not_ready",
            "writes cannot succeed now: " + ", ".join(reasons),
            503,
            [{"code": r, "message": _REASONS.get(r, r)} for r in reasons],
            headers={"Retry-After": str(RETRY_AFTER)},
        )
    for authority in authorities:
        try:
            service.ring(authority.code).active()
        except KeyRingError as e:
            raise ServiceError("key_unavailable", f"authority {authority.code} has no usable key", 503) from e
    return {"status": "ready"}


router.add_api_route("/healthz", healthz, methods=["HEAD"], include_in_schema=False)
router.add_api_route("/readyz", readyz, methods=["HEAD"], include_in_schema=False)


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
