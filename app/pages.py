"""Printable certificates, one implementation for the API and the console: a card, or a bus sheet.

A card carries the facts its certificate attests (read from the token the
office itself signed and stored), its validity in China Standard Time on one
line, how to verify it with the scanner's address, and the office's seal when
one is uploaded. A certificate that devices refuse (revoked, suspended, or
signed with a withdrawn key) prints as VOID / 作废 with the reason, and never
with a QR code. The sheet is A4: a header (plate, route, departure date, count,
issuing office), the manifest table in the manifest's order, then the cards
four to a page. Chinese first, English beside; no script, no outside resource
(the page's CSP allows only its own inline style and ``data:`` images).
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from hcert_verifier import CST, unmask_display
from issuer import region_name

from .store import Authority, CertificateRecord

if TYPE_CHECKING:
    from .service import IssuingService

__all__ = ["Card", "SheetHeader", "card_of", "facts_of", "print_page", "print_response"]

_TEMPLATES = Path(__file__).resolve().parent / "templates"
_env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(default=True), auto_reload=False)
_CSS = (_TEMPLATES / "print.css").read_text(encoding="utf-8")

#: gzip level of a print page. A sheet of 50 cards is ~470 KB of SVG paths: level 6 makes ~70 KB of it
#: in ~0.05 s, where level 9 (the app-wide middleware's) spends ~0.7 s for 60 KB (bench/console.py).
PRINT_GZIP_LEVEL = 6

_HEALTH = {"g": ("绿码", "green"), "y": ("黄码", "yellow"), "r": ("红码", "red")}
_ROLE = {"d": ("司机", "driver"), "p": ("随车人员", "passenger")}
_TEST = {"n": ("核酸", "nucleic acid"), "a": ("抗原", "antigen")}


@dataclass(frozen=True)
class Card:
    """What one printed card shows; ``qr`` is the QR code as SVG, ``None`` when the certificate is void."""

    record: CertificateRecord
    masked: str
    facts: list[tuple[str, str, str]]
    validity: str
    valid_until: str
    void: tuple[str, str] | None
    qr: str | None


@dataclass(frozen=True)
class SheetHeader:
    """The head of a bus sheet (plate, route and date as the clerk typed them; may be empty)."""

    count: int
    plate: str = ""
    route: str = ""
    date: str = ""
    batch: str = ""


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


def void_of(service: IssuingService, record: CertificateRecord) -> tuple[str, str] | None:
    """Return why devices refuse a certificate, ``(code, reason)``, or ``None`` when it prints with its QR code.

    A withdrawn signing key wins over the stored status (as :meth:`IssuingService.shown_status` judges).
    """
    key = service.withdrawn_key(record)
    if key is not None:
        return "key_withdrawn", key.reason or ""
    if record.status in ("revoked", "suspended"):
        return record.status, record.status_reason or ""
    return None


def card_of(service: IssuingService, record: CertificateRecord) -> Card:
    """Return what a card of ``record`` shows (the QR code only for a certificate devices accept)."""
    void = void_of(service, record)
    return Card(
        record=record,
        masked=unmask_display(record.masked_id),
        facts=facts_of(record),
        validity=f"{_time(record.issued_at)} 至 to {_time(record.expires)} (UTC+8)",
        valid_until=_time(record.expires),
        void=void,
        qr=None if void else service.render(record, "svg").decode(),
    )


def print_page(
    service: IssuingService,
    authority: Authority,
    records: list[CertificateRecord],
    *,
    header: SheetHeader | None = None,
) -> str:
    """Return the printable HTML of ``records``: one card, or (with ``header``) a bus sheet in the given order."""
    base = service.settings.base_url.rstrip("/")
    seal = service.store.get_seal(authority.code)
    return _env.get_template("print.html").render(
        css=_CSS,
        cards=[card_of(service, r) for r in records],
        office=authority,
        header=header,
        scan_url=f"{base}/scan",
        seal=base64.b64encode(seal).decode() if seal else None,
    )


def print_response(
    service: IssuingService, records: list[CertificateRecord], header: SheetHeader | None, *, accept_encoding: str
) -> HTMLResponse:
    """The print page of ``records`` (all of one authority) as the API and the console answer it.

    No script may run in it (:data:`~app.headers.PRINT_CSP`), it is never cached, and it is
    gzip-compressed at :data:`PRINT_GZIP_LEVEL` when the client takes gzip (the app's gzip
    middleware leaves an answer that already has a ``Content-Encoding`` as it is).
    """
    from .headers import PRINT_CSP

    authority = service.store.get_authority(records[0].authority)
    assert authority is not None
    headers = {"Cache-Control": "no-store", "Content-Security-Policy": PRINT_CSP}
    body = print_page(service, authority, records, header=header).encode()
    codings = {c.split(";")[0].strip().lower() for c in accept_encoding.split(",")}
    if "gzip" in codings and len(body) > 1024:
        headers = {**headers, "Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
        return HTMLResponse(gzip.compress(body, compresslevel=PRINT_GZIP_LEVEL, mtime=0), headers=headers)
    return HTMLResponse(body, headers=headers)
