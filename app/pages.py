"""Printable certificate pages: Chinese first, English beside. No script, prints on A4/A5."""

from __future__ import annotations

import datetime as dt
from html import escape

from hcert_verifier import CST, unmask_display

from .store import Authority, CertificateRecord

__all__ = ["certificate_page", "print_sheet"]

_CSS = """
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","PingFang SC","Microsoft YaHei",sans-serif;margin:0;color:#111}
.cert{box-sizing:border-box;width:148mm;min-height:105mm;margin:6mm auto;padding:6mm 8mm;border:1px solid #333;
display:grid;grid-template-columns:62mm 1fr;gap:6mm;page-break-inside:avoid}
.qr svg{width:62mm;height:62mm;display:block}
h1{font-size:15pt;margin:0 0 1mm} h1 small{display:block;font-size:9pt;font-weight:normal;color:#444}
dl{display:grid;grid-template-columns:auto 1fr;gap:1.2mm 4mm;margin:3mm 0 0;font-size:11pt}
dd{margin:0;overflow-wrap:anywhere} dt{color:#444;white-space:nowrap}
dt small,.en{display:block;font-size:8pt;color:#666}
.st{font-weight:bold} .st.revoked,.st.suspended,.st.key_withdrawn{color:#b00}
.noqr{width:62mm;height:62mm;box-sizing:border-box;border:2px solid #b00;color:#b00;padding:4mm;font-weight:bold}
@media print{.cert{margin:0 auto 4mm}}
"""

_KIND = {
    "w": ("返岗复工健康证明", "Return-to-work health certificate"),
    "f": ("货运人员检测证明", "Freight crew test certificate"),
}
_STATUS = {
    "valid": ("有效", "valid"),
    "revoked": ("已撤销", "revoked"),
    "suspended": ("已暂停", "suspended"),
    "key_withdrawn": ("无效：签名密钥已撤回", "refused: signing key withdrawn (key_withdrawn)"),
}
#: In place of the QR code of a certificate that every device refuses.
_NO_QR = (
    '<div class="noqr">此证明无法使用，请重新签发'
    "<span class=en>Not usable: devices refuse it (key_withdrawn). Re-issue the certificate.</span></div>"
)


def _local(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, CST).strftime("%Y-%m-%d %H:%M")


def _card(record: CertificateRecord, authority: Authority, svg: str | None, status: str) -> str:
    """Return one certificate's card; ``svg=None`` (a refused certificate) prints a notice, no QR code."""
    zh, en = _KIND[record.kind]
    st_zh, st_en = _STATUS[status]
    rows = [
        ("姓名", "Name", escape(record.name)),
        ("身份证号", "ID number (masked)", escape(unmask_display(record.masked_id))),
        ("签发机构", "Issued by", f"{escape(authority.name_zh)}<span class=en>{escape(authority.name_en)}</span>"),
        ("签发时间", "Issued", _local(record.issued_at) + " (UTC+8)"),
        ("有效期至", "Valid until", _local(record.expires) + " (UTC+8)"),
        ("状态", "Status", f'<span class="st {status}">{st_zh} {st_en}</span>'),
        ("证明编号", "Certificate id", f"<code>{escape(record.jti)}</code>"),
    ]
    body = "".join(f"<dt>{a}<small>{b}</small></dt><dd>{c}</dd>" for a, b, c in rows)
    qr = svg if svg is not None else _NO_QR
    return (
        f'<section class="cert" data-id="{escape(record.jti)}"><div class="qr">{qr}</div>'
        f"<div><h1>{zh}<small>{en}</small></h1><dl>{body}</dl></div></section>"
    )


def _page(title: str, cards: list[str]) -> str:
    return (
        f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{_CSS}</style></head>'
        f"<body>{''.join(cards)}</body></html>"
    )


def certificate_page(record: CertificateRecord, authority: Authority, svg: str | None, status: str) -> str:
    """Return the printable page of one certificate (``status`` as shown; no QR when ``svg`` is None)."""
    return _page(f"{_KIND[record.kind][0]} {record.jti}", [_card(record, authority, svg, status)])


def print_sheet(records: list[tuple[CertificateRecord, str | None, str]], authority: Authority, batch: str) -> str:
    """Return one page with every certificate of a batch (a bus manifest): ``(record, svg, status)`` each."""
    return _page(f"批次 Batch {batch}", [_card(r, authority, svg, status) for r, svg, status in records])
