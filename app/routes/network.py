"""What this server publishes for the rest of the network: its authorities' status list index, its rules."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from ..deps import Clock, Service
from ..service import ServiceError

router = APIRouter(tags=["network"])


@router.get("/v1/status/{authority}", summary="Which status lists an authority publishes here")
def status_index(service: Service, authority: Annotated[str, Path(pattern=r"^[0-9]{6,12}$")]) -> dict[str, Any]:
    """`{"authority": ..., "lists": [0, 1, ...]}`; each list is at `/v1/status/{authority}/{list}`.

    The distribution server reads it (`hcert network pull`) to fetch every list of an
    authority whose trust-list `base_url` is this server.
    """
    service._require_authority(authority)
    return {"authority": authority, "lists": service.store.status_lists(authority)}


@router.get(
    "/v1/rules/{province}",
    summary="A province's signed destination rules",
    response_class=Response,
    responses={200: {"content": {"application/jwt": {}}}},
)
def rules(request: Request, province: Annotated[str, Path(pattern=r"^[1-8][0-9]$")]) -> Response:
    """The `hcert-rules` token this server publishes for the province (`hcert rules sign`); 404 `rules_not_found`."""
    path = request.app.state.trust.dir / "rules" / f"{province}.jwt"
    try:
        token = path.read_text("ascii").strip()
    except FileNotFoundError as e:
        raise ServiceError("rules_not_found", f"this server publishes no rules of province {province}", 404) from e
    return Response(token, media_type="application/jwt", headers={"Cache-Control": "public, max-age=300"})


@router.get(
    "/v1/fresh/{province}",
    summary="A province's freshness statement over its status lists",
    response_class=Response,
    responses={200: {"content": {"application/jwt": {}}}},
)
def fresh(request: Request, now: Clock, province: Annotated[str, Path(pattern=r"^[1-8][0-9]$")]) -> Response:
    """The `hcert-fresh` token this server signs over its own status lists of the province (docs/FORMAT.md 7.5).

    Signed by the province's active rule key over the status lists this server's
    bundles carry for the province. The distribution server pulls it (`hcert
    network pull`) with the province's status lists, and carries it while it
    speaks of exactly the lists it holds; 404 `fresh_not_found` when this server
    holds no active rule key of the province, the trust list it publishes does
    not name that key, or it has no status list of an authority of the province
    whose active key the trust list names.
    """
    token = request.app.state.trust.statement(province, now=int(now.timestamp()))
    return Response(token, media_type="application/jwt", headers={"Cache-Control": "public, max-age=300"})
