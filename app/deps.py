"""Request dependencies: the service, the clock, the authenticated operator."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .metrics import Metrics
from .service import IssuingService, ServiceError
from .store import Operator

__all__ = ["Admin", "Clock", "National", "Service", "Staff", "get_service"]

_bearer = HTTPBearer(auto_error=False, description="An operator credential (hct_...) from `hcert operator create`.")


def get_service(request: Request) -> IssuingService:
    """Return the service built by the app's lifespan."""
    service: IssuingService = request.app.state.service
    return service


def get_metrics(request: Request) -> Metrics:
    """Return the app's metrics registry."""
    metrics: Metrics = request.app.state.metrics
    return metrics


def get_now(request: Request) -> dt.datetime:
    """Return the current time (tests replace ``app.state.clock``)."""
    now: dt.datetime = request.app.state.clock()
    return now


def get_operator(
    request: Request,
    service: Annotated[IssuingService, Depends(get_service)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    now: Annotated[dt.datetime, Depends(get_now)],
) -> Operator:
    """Authenticate the bearer credential: 401 without a valid one, 429 after too many failures."""
    if credentials is None:
        raise ServiceError(
            "unauthenticated", "a valid operator credential is required (Authorization: Bearer hct_...)", 401
        )
    client = request.client.host if request.client else "unknown"
    operator, authority_read = service.sign_in_read(credentials.credentials, client=client, now=now)
    # Read together with the credential: an issue in this request checks the scope against it.
    request.state.authority_read = authority_read
    return operator


def _staff(operator: Annotated[Operator, Depends(get_operator)]) -> Operator:
    if operator.authority is None:
        raise ServiceError(
            "forbidden", "a national admin does not issue certificates; use an authority's operator", 403
        )
    return operator


def _admin(operator: Annotated[Operator, Depends(get_operator)]) -> Operator:
    if operator.role not in ("authority_admin", "national_admin"):
        raise ServiceError("forbidden", "this needs an authority admin", 403)
    return operator


def _national(operator: Annotated[Operator, Depends(get_operator)]) -> Operator:
    if operator.role != "national_admin":
        raise ServiceError("forbidden", "this needs a national admin", 403)
    return operator


Service = Annotated[IssuingService, Depends(get_service)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
Clock = Annotated[dt.datetime, Depends(get_now)]
Staff = Annotated[Operator, Depends(_staff)]
Admin = Annotated[Operator, Depends(_admin)]
National = Annotated[Operator, Depends(_national)]
