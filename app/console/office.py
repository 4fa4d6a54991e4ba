"""The office's own pages for authority admins: its seal image (printed on every card) and its signing keys.

A seal is a PNG the admin uploads. It is checked before anything is stored: at
most :data:`SEAL_MAX_BYTES`, the PNG signature, the size in the PNG header
(:data:`SEAL_MIN_SIDE` to :data:`SEAL_MAX_SIDE` pixels a side) read before the
image is decoded, then a full decode. What is stored is the image decoded and
encoded again (RGBA, scaled down to :data:`SEAL_STORED_SIDE` pixels a side at
most): no chunk of the uploaded file (text, metadata, anything appended) is kept.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import struct

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from hcert_verifier import CST

from ..problems import problem
from ..service import ServiceError
from ..store import AuditEvent
from .manifest import _api_session
from .routes import Form, _failed, _service
from .web import check_csrf, now_of, redirect, render, require

__all__ = ["SEAL_MAX_BYTES", "SEAL_MAX_SIDE", "SEAL_MIN_SIDE", "check_seal", "router"]

router = APIRouter(prefix="/console", include_in_schema=False)
SEAL_MAX_BYTES = 512 * 1024
SEAL_MIN_SIDE = 64
SEAL_MAX_SIDE = 2000
SEAL_STORED_SIDE = 512
_PNG = b"\x89PNG\r\n\x1a\n"


def check_seal(raw: bytes) -> bytes:
    """Return the seal to store (a fresh PNG) for an uploaded file, or raise :class:`ServiceError`.

    Raises ``seal_too_large`` (413), ``seal_not_png`` (415), ``seal_dimensions``
    (422, with the size found) or ``seal_unreadable`` (422).
    """
    from PIL import Image, UnidentifiedImageError

    if len(raw) > SEAL_MAX_BYTES:
        raise ServiceError("seal_too_large", f"a seal image is at most {SEAL_MAX_BYTES // 1024} KiB", 413)
    # The signature, then IHDR as the first chunk (length 13): width and height before any decoding.
    if not raw.startswith(_PNG) or raw[12:16] != b"IHDR" or len(raw) < 33:
        raise ServiceError("seal_not_png", "the seal must be a PNG image", 415)
    width, height = struct.unpack(">II", raw[16:24])
    if not (SEAL_MIN_SIDE <= width <= SEAL_MAX_SIDE and SEAL_MIN_SIDE <= height <= SEAL_MAX_SIDE):
        raise ServiceError(
            "seal_dimensions",
            f"the seal is {width}x{height} pixels; each side must be {SEAL_MIN_SIDE} to {SEAL_MAX_SIDE}",
            422,
        )
    try:
        with Image.open(io.BytesIO(raw), formats=["PNG"]) as image:
            image.load()
            seal = image.convert("RGBA")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise ServiceError("seal_unreadable", "the PNG could not be decoded", 422) from e
    seal.thumbnail((SEAL_STORED_SIDE, SEAL_STORED_SIDE))
    out = io.BytesIO()
    seal.save(out, "PNG", optimize=True)
    return out.getvalue()


def _local(ts: int | None) -> str:
    return dt.datetime.fromtimestamp(ts, CST).strftime("%Y-%m-%d %H:%M") if ts else ""


# -- the seal ------------------------------------------------------------------------------------
@router.get("/seal")
def seal_page(request: Request) -> Response:
    """The office's seal as printed, with upload and removal."""
    signed_in = require(request, admin=True)
    code = signed_in.operator.authority
    assert code is not None
    png = _service(request).store.get_seal(code)
    context = {
        "seal": base64.b64encode(png).decode() if png else None,
        "max_kib": SEAL_MAX_BYTES // 1024,
        "min_side": SEAL_MIN_SIDE,
        "max_side": SEAL_MAX_SIDE,
        "saved": request.query_params.get("saved", ""),
    }
    return render(request, "console/seal.html", context, signed_in=signed_in)


@router.post("/seal")
async def upload_seal(request: Request) -> JSONResponse:
    """Store the uploaded PNG (the request body, ``X-CSRF-Token`` header) as the office's seal."""
    raw = await request.body()
    # The store and the image decoding run off the event loop, so that a large PNG or a slow
    # store never holds up other requests.
    return await run_in_threadpool(_save_seal, request, raw)


def _save_seal(request: Request, raw: bytes) -> JSONResponse:
    try:
        signed_in = _api_session(request)
        if signed_in.operator.role != "authority_admin":
            raise ServiceError("forbidden", "this needs an authority admin", 403)
        if request.headers.get("content-type", "").split(";")[0].strip() != "image/png":
            raise ServiceError("seal_not_png", "the seal must be a PNG image", 415)
        png = check_seal(raw)
        code = signed_in.operator.authority
        assert code is not None
        event = AuditEvent(
            int(now_of(request).timestamp()), signed_in.operator.id, code, "authority.seal", code, {"bytes": len(png)}
        )
        _service(request).store.set_seal(code, png, event)
    except ServiceError as e:
        return problem(e.status, e.code, e.message, errors=e.errors, headers=e.headers or None)
    return JSONResponse({"saved": True, "bytes": len(png)}, status_code=201)


@router.post("/seal/remove")
def remove_seal(request: Request, form: Form) -> Response:
    """Remove the office's seal: cards print without one."""
    signed_in = require(request, admin=True)
    code = signed_in.operator.authority
    assert code is not None
    try:
        check_csrf(signed_in, form)
        ts = int(now_of(request).timestamp())
        event = AuditEvent(ts, signed_in.operator.id, code, "authority.seal_remove", code, {})
        _service(request).store.set_seal(code, None, event)
    except ServiceError as e:
        return _failed(request, e, signed_in)
    return redirect("/console/seal?saved=removed")


# -- the keys ------------------------------------------------------------------------------------
@router.get("/keys")
def keys_page(request: Request) -> Response:
    """The authority's signing keys, newest first: state (active, retired, withdrawn) and its dates."""
    signed_in = require(request, admin=True)
    service = _service(request)
    code = signed_in.operator.authority
    assert code is not None
    # The ring keeps its keys in the order they were made.
    keys = sorted(enumerate(service.ring(code).records), key=lambda p: (p[1].created, p[0]), reverse=True)
    context = {"keys": [k for _, k in keys], "local": _local}
    return render(request, "console/keys.html", context, signed_in=signed_in)
