"""The trust network over HTTP: the offline bundle, the trust list, and online verification."""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, Field, model_validator

from hcert_verifier import Result, StatusUnavailable

from ..deps import Clock, get_now
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
    "/v1/index",
    summary="The index of the offline trust material's parts (hcert-index/1)",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}}, 304: {"description": "not modified"}},
)
def index(request: Request, now: Clock) -> Response:
    """What `/v1/bundle` carries, as a signed index of content-addressed parts (docs/FORMAT.md section 7.4)."""
    envelope, etag = _network(request).index(now=now)
    headers = {"ETag": etag, "Cache-Control": "public, max-age=300"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(envelope, media_type="application/json", headers=headers)


@router.get(
    "/v1/index/pack",
    summary="The index with every part it names, in one body (a device's first sync)",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}}},
)
def index_pack(request: Request, now: Clock) -> Response:
    """`{"format": "hcert-pack/1", "index": <index envelope>, "parts": [...]}`; gzip when asked (docs/FORMAT.md 7.4)."""
    packed, index_etag = _network(request).pack(now=now)
    # The ETag of the index inside (what `GET /v1/index` answers with), for the device's next conditional GET.
    headers = {"Cache-Control": "public, max-age=300", "Index-ETag": index_etag}
    if _takes_gzip(request.headers.get("accept-encoding", "")):
        gzipped = {**headers, "Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
        return Response(packed, media_type="application/json", headers=gzipped)
    # The app's gzip middleware adds Vary: Accept-Encoding to an answer it leaves uncompressed.
    return Response(gzip.decompress(packed), media_type="application/json", headers=headers)


def _takes_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header takes gzip (``gzip;q=0`` refuses it)."""
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            q = params.strip().lower().removeprefix("q=") if params.strip().lower().startswith("q=") else "1"
            try:
                return float(q) > 0
            except ValueError:
                return False
    return False


@router.get(
    "/v1/parts/{address}",
    summary="One part named by an index, by its SHA-256 address",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def part(address: str, request: Request) -> Response:
    """The part's bytes, never changing: cacheable forever (`immutable`); 404 `part_not_found`."""
    return Response(
        _network(request).part(address),
        media_type="application/octet-stream",
        headers={"Cache-Control": "public, max-age=31536000, immutable", "ETag": f'"{address}"'},
    )


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


for _path, _endpoint in (
    ("/v1/index", index),
    ("/v1/index/pack", index_pack),
    ("/v1/parts/{address}", part),
    ("/v1/trust-list", trust_list),
):
    router.add_api_route(_path, _endpoint, methods=["HEAD"], include_in_schema=False)


#: Most QR texts in one ``POST /v1/verify`` (a checkpoint's queue).
MAX_VERIFY_BATCH = 100

QrText = Annotated[str, Field(min_length=1, max_length=4096, description="QR text (CNHC:/...) or compact token")]


class VerifyIn(BaseModel):
    """A certificate (``qr``) or a checkpoint's queue of them (``qrs``) to verify for a destination."""

    qr: QrText | None = None
    qrs: list[QrText] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_VERIFY_BATCH,
        description=f"1 to {MAX_VERIFY_BATCH} QR texts, verified in order; instead of qr",
    )
    destination: str | None = Field(default=None, pattern=r"^[1-8][0-9]$", description="destination province code")
    checkpoint: str = Field(
        default="gate",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="checkpoint name in the destination's rules (e.g. gate, highway)",
    )
    at: dt.datetime | None = Field(default=None, description="verification time (default: now)")

    @model_validator(mode="after")
    def _one_of_qr_and_qrs(self) -> VerifyIn:
        if (self.qr is None) == (self.qrs is None):
            raise ValueError("give exactly one of qr (one QR text) and qrs (a list of them)")
        return self


@router.post(
    "/v1/verify",
    summary="Verify a certificate or a queue of them (the same verdicts as the offline verifier)",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}, "description": "the verdict, or {results: [...]}"}},
)
async def verify(body: Annotated[VerifyIn, Body()], request: Request) -> Response:
    """For factories with their own systems: the verdict, code and rule outcomes, as `hcert-verify` gives them.

    With `qrs`, the answer is `{"results": [...]}`, one verdict per QR text in the same order.
    """
    # The clock is read here rather than through the Clock dependency: a sync dependency
    # costs each request one more trip through the thread pool.
    now = get_now(request)
    at = body.at or now
    if at.tzinfo is None:
        raise ServiceError(
            "invalid_request",
            "at needs a timezone",
            422,
            [{"field": "at", "code": "timezone", "message": "include a timezone"}],
        )
    shared = _network(request).verifier
    qrs = body.qrs if body.qrs is not None else [body.qr or ""]

    def each(verify: Callable[..., Result]) -> list[Result]:
        return [verify(qr, at=at, destination=body.destination, checkpoint=body.checkpoint) for qr in qrs]

    built = shared.ready(now=now)
    results = None
    if built is not None and body.qrs is None:
        # The common case touches neither the store nor a file: verified on the event loop,
        # without a trip through the thread pool (the work is CPU-bound either way).
        results = each(built.verifier.verify)
        if results[0].code == StatusUnavailable.code:
            results = None  # perhaps a list newer than the verifier: asked below, off the loop
    if results is None:
        results = await run_in_threadpool(each, functools.partial(shared.verify, now=now))
    # Serialised here, once: the answer is plain JSON types (FastAPI's encoder would walk it again).
    dicts = [r.to_dict() for r in results]
    answer = {"results": dicts} if body.qrs is not None else dicts[0]
    return Response(json.dumps(answer, ensure_ascii=False).encode(), media_type="application/json")
