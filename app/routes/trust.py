"""The trust network over HTTP: the offline bundle, the trust list, and online verification."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from hcert_verifier import Bundle, BundleError, Verifier

from ..deps import Clock, Service
from ..service import ServiceError

router = APIRouter(tags=["trust"])


def _network(request: Request) -> Any:
    return request.app.state.trust


@router.get(
    "/v1/bundle",
    summary="The offline trust bundle",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}}, 304: {"description": "not modified"}},
)
def bundle(request: Request, now: Clock) -> Response:
    """Trust list, destination rules and every status list in one signed envelope (hcert-bundle/2), for sync."""
    envelope, etag = _network(request).bundle(now=now)
    headers = {"ETag": etag, "Cache-Control": "public, max-age=300"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(envelope, media_type="application/json", headers=headers)


# HEAD too (a device or a load balancer checking ETag and size): same answer, no body.
router.add_api_route("/v1/bundle", bundle, methods=["HEAD"], include_in_schema=False)


@router.get(
    "/v1/trust-list",
    summary="The national trust list (root-signed)",
    response_class=Response,
    responses={200: {"content": {"application/jwt": {}}}},
)
def trust_list(request: Request) -> Response:
    """As published by the national admin; devices get it inside the bundle."""
    return Response(
        _network(request).trust_list(), media_type="application/jwt", headers={"Cache-Control": "public, max-age=300"}
    )


class VerifyIn(BaseModel):
    """A certificate to verify for a destination."""

    qr: str = Field(min_length=1, max_length=4096, description="QR text (CNHC:/...) or compact token")
    destination: str | None = Field(default=None, pattern=r"^[1-8][0-9]$", description="destination province code")
    checkpoint: str = Field(
        default="gate",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="checkpoint name in the destination's rules (e.g. gate, highway)",
    )
    at: dt.datetime | None = Field(default=None, description="verification time (default: now)")


@router.post("/v1/verify", summary="Verify a certificate (the same verdict as the offline verifier)")
def verify(body: Annotated[VerifyIn, Body()], request: Request, service: Service, now: Clock) -> dict[str, Any]:
    """For factories with their own systems: the verdict, code and rule outcomes, as `hcert-verify` gives them."""
    network = _network(request)
    envelope, _ = network.bundle(now=now)
    cached = getattr(request.app.state, "verify_bundle", None)
    if cached is None or cached.raw != envelope:
        try:
            cached = Bundle.load(envelope, network.roots())
        except BundleError as e:
            # Our own bundle does not verify against our roots: a server fault, said truthfully.
            raise ServiceError("bundle_unavailable", f"the server's bundle does not verify: {e.reason}", 503) from e
        request.app.state.verify_bundle = cached
    at = body.at or now
    if at.tzinfo is None:
        raise ServiceError(
            "invalid_request",
            "at needs a timezone",
            422,
            [{"field": "at", "code": "timezone", "message": "include a timezone"}],
        )
    result = Verifier.from_bundle(cached).verify(
        body.qr, at=at, destination=body.destination, checkpoint=body.checkpoint
    )
    return result.to_dict()
