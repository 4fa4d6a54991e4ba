"""Print from the console: one certificate, or a bus sheet (A4, header, manifest table, four cards a page).

A card carries the facts its certificate attests (read from the token the
office itself signed and stored), its validity in China Standard Time on one
line and how to verify it. A certificate that devices refuse (revoked,
suspended, or signed with a withdrawn key) prints as VOID / 作废 with the
reason, and never with a QR code.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import zlib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from hcert_verifier import CST, unmask_display
from issuer import region_name

from ..service import IssuingService, ServiceError
from ..store import Authority, CertificateRecord
from .routes import _failed, _service
from .web import render, require

__all__ = ["card_of", "router"]

router = APIRouter(prefix="/console", include_in_schema=False)
#: Most certificates on one sheet (a coach seats about 55).
MAX_SHEET = 120

_HEALTH = {"g": ("绿码", "green"), "y": ("黄码", "yellow"), "r": ("红码", "red")}
_ROLE = {"d": ("司机", "driver"), "p": ("随车人员", "passenger")}
_TEST = {"n": ("核酸", "nucleic acid"), "a": ("抗原", "antigen")}


def _stored_claims(token: str) -> dict[str, Any]:
    """The claims of a token this office signed and stored (not a token from outside: no check is needed)."""
    payload = token.split(".")[1]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    claims: dict[str, Any] = json.loads(zlib.decompress(raw, wbits=-15))
    return claims


def _date(n: int) -> str:
    return f"{n // 10000:04d}-{n // 100 % 100:02d}-{n % 100:02d}"


def _time(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, CST).strftime("%Y-%m-%d %H:%M")


def _region(code: str) -> str:
    name = region_name(code + "0000" if len(code) == 2 else code)
    if name:  # a province's own name repeats in its full name ("广东省 广东省"): once is enough
        name = " ".join(dict.fromkeys(name.split()))
    return f"{name} ({code})" if name else code


def facts_of(record: CertificateRecord) -> list[tuple[str, str, str]]:
    """Return the attested facts of a certificate as ``(Chinese label, English label, value)``."""
    c = _stored_claims(record.token)
    rows: list[tuple[str, str, str]] = []
    if record.kind == "w":
        rows.append(("户籍/出发地", "Origin region", _region(c["o"])))
        rows.append(("在本地居住起始日", "Resident since", _date(c["rs"])))
        rows.append(("症状", "Symptoms", "无 none"))
        rows.append(("隔离", "Quarantine", f"{_date(c['q'])} 解除 released" if c.get("q") else "未隔离 never"))
        zh, en = _HEALTH.get(c.get("hc", ""), ("", ""))
        rows.append(("健康码", "Health code", f"{zh} {en}"))
        if c.get("dp"):
            rows.append(("目的地", "Destination", _region(c["dp"])))
        if c.get("em"):
            rows.append(("用工单位", "Employer", c["em"]))
        if c.get("vp"):
            rows.append(("车牌号", "Vehicle plate", c["vp"]))
    else:
        zh, en = _ROLE.get(c.get("r", ""), ("", ""))
        rows.append(("身份", "Role", f"{zh} {en}"))
        rows.append(("车牌号", "Vehicle plate", c["vp"]))
        tzh, ten = _TEST.get(c.get("tk", ""), ("", ""))
        rows.append(("检测", "Test", f"{tzh} {ten}：阴性 negative"))
        rows.append(("采样时间", "Sampled", _time(c["ts"]) + " (UTC+8)"))
        rows.append(("检测机构", "Laboratory", c["lab"]))
        rows.append(("路线", "Route", f"{_region(c['ro'])} → {_region(c['rd'])}"))
        rows.append(("重点地区", "Key areas", "未途经 not passed through"))
    return rows


def void_reason(service: IssuingService, record: CertificateRecord) -> tuple[str, str] | None:
    """Return why devices refuse a certificate ``(code, reason)``, or ``None`` when it is good to print."""
    if record.status in ("revoked", "suspended"):
        return record.status, record.status_reason or ""
    for key in service.ring(record.authority).records:
        if key.kid == record.kid and key.state == "withdrawn":
            return "key_withdrawn", key.reason or ""
    return None


def card_of(service: IssuingService, record: CertificateRecord) -> dict[str, Any]:
    """Return what a card shows; ``qr`` is the SVG, or ``None`` for a void certificate."""
    void = void_reason(service, record)
    return {
        "r": record,
        "masked": unmask_display(record.masked_id),
        "facts": facts_of(record),
        "validity": f"{_time(record.issued_at)} 至 to {_time(record.expires)} (UTC+8)",
        "void": void,
        "qr": None if void else service.render(record, "svg").decode(),
    }


def _sheet(
    request: Request, cards: list[dict[str, Any]], authority: Authority, header: dict[str, Any] | None
) -> HTMLResponse:
    base = request.app.state.service.settings.base_url.rstrip("/")
    context = {"cards": cards, "office": authority, "header": header, "scan_url": f"{base}/scan"}
    response = render(request, "console/print.html", context)
    return response


@router.get("/certificates/{jti}/print")
def print_certificate(jti: str, request: Request) -> Response:
    """The printable page of one certificate, for a signed-in person (no bearer header in a browser)."""
    signed_in = require(request)
    service = _service(request)
    code = signed_in.operator.authority
    assert code is not None
    try:
        record = service.certificate(code, jti)
    except ServiceError as e:
        return _failed(request, e, signed_in)
    authority = service.store.get_authority(code)
    assert authority is not None
    return _sheet(request, [card_of(service, record)], authority, None)


@router.get("/sheet")
def bus_sheet(request: Request) -> Response:
    """A bus sheet: ``ids`` (comma-separated, in the manifest's order), ``plate``, ``route``, ``date``."""
    signed_in = require(request)
    service = _service(request)
    code = signed_in.operator.authority
    assert code is not None
    ids = [i for i in request.query_params.get("ids", "").split(",") if i][:MAX_SHEET]
    try:
        if not ids:
            raise ServiceError("invalid_request", "a sheet needs the certificate ids (ids=...)", 422)
        records = [service.certificate(code, jti) for jti in ids]
    except ServiceError as e:
        return _failed(request, e, signed_in)
    authority = service.store.get_authority(code)
    assert authority is not None
    header: dict[str, Any] = {k: request.query_params.get(k, "").strip()[:64] for k in ("plate", "route", "date")}
    header["count"] = len(records)
    return _sheet(request, [card_of(service, r) for r in records], authority, header)
