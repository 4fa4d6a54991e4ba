"""Status lists (IETF Token Status List) and the JWKS: public, cacheable, no credential."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response

from ..deps import Clock, Service

router = APIRouter(tags=["status"])


@router.get(
    "/v1/status/{authority}/{lst}",
    summary="Status list token",
    response_class=Response,
    responses={200: {"content": {"application/statuslist+jwt": {}}}, 304: {"description": "not modified"}},
)
def status_list(
    request: Request,
    service: Service,
    now: Clock,
    authority: Annotated[str, Path(pattern=r"^[0-9]{6,12}$")],
    lst: Annotated[int, Path(ge=0, le=1_000_000)],
) -> Response:
    """A ``statuslist+jwt`` signed by the authority: 2 bits per entry, zlib, 131,072 entries."""
    token, etag = service.status_list(authority, lst, now=now)
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={service.settings.status_list_ttl}"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(token, media_type="application/statuslist+jwt", headers=headers)


@router.get("/.well-known/jwks.json", summary="Issuer public keys (active, retired, withdrawn)")
def jwks(service: Service, now: Clock) -> JSONResponse:
    """Every authority's published keys; each JWK names its authority (``iss``) and state."""
    body: dict[str, Any] = service.jwks(now=now)
    return JSONResponse(body, headers={"Cache-Control": "public, max-age=300"})


# HEAD too (checking ETag and size without the body), outside the OpenAPI document.
router.add_api_route("/v1/status/{authority}/{lst}", status_list, methods=["HEAD"], include_in_schema=False)
router.add_api_route("/.well-known/jwks.json", jwks, methods=["HEAD"], include_in_schema=False)
