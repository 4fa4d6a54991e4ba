"""Print from the console: one certificate, or a bus sheet, with the same pages as the API (:mod:`app.pages`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ..pages import SheetHeader, print_response
from ..service import ServiceError
from ..store import CertificateRecord
from .routes import _failed, _service
from .web import require

__all__ = ["MAX_SHEET", "router"]

router = APIRouter(prefix="/console", include_in_schema=False)
#: Most certificates on one sheet (a coach seats about 55).
MAX_SHEET = 120


def _printed(request: Request, records: list[CertificateRecord], header: SheetHeader | None) -> HTMLResponse:
    accept = request.headers.get("accept-encoding", "")
    return print_response(_service(request), records, header, accept_encoding=accept)


@router.get("/certificates/{jti}/print")
def print_certificate(jti: str, request: Request) -> Response:
    """The printable page of one certificate, for a signed-in person (no bearer header in a browser)."""
    signed_in = require(request)
    code = signed_in.operator.authority
    assert code is not None
    try:
        record = _service(request).certificate(code, jti)
    except ServiceError as e:
        return _failed(request, e, signed_in)
    return _printed(request, [record], None)


@router.get("/sheet")
def bus_sheet(request: Request) -> Response:
    """A bus sheet: ``ids`` (comma-separated, in the manifest's order), ``plate``, ``route``, ``date``."""
    signed_in = require(request)
    service = _service(request)
    code = signed_in.operator.authority
    assert code is not None
    ids = [i for i in request.query_params.get("ids", "").split(",") if i]
    try:
        if not ids:
            raise ServiceError("invalid_request", "a sheet needs the certificate ids (ids=...)", 422)
        if len(ids) > MAX_SHEET:
            raise ServiceError("too_many_certificates", f"a sheet has at most {MAX_SHEET} certificates", 422)
        records = [service.certificate(code, jti) for jti in ids]
    except ServiceError as e:
        return _failed(request, e, signed_in)
    q = {k: request.query_params.get(k, "").strip()[:64] for k in ("plate", "route", "date")}
    return _printed(request, records, SheetHeader(count=len(records), **q))
