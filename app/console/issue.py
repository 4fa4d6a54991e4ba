"""Console pages for certificates: the issue form, one certificate with its status actions, search."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from hcert_verifier import CST
from issuer import SYMPTOMS

from ..service import ServiceError
from .messages import FIELD_ZH
from .routes import Form, _failed, _service
from .web import check_csrf, now_of, redirect, render, require

router = APIRouter(prefix="/console", include_in_schema=False)

#: The fields of each kind, in the form's order: (name, input type, choices).
FIELDS: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {
    "return-to-work": [
        ("name", "text", ()),
        ("resident_id", "id", ()),
        ("origin_region", "text", ()),
        ("resident_since", "date", ()),
        ("symptoms", "symptoms", SYMPTOMS),
        ("quarantine", "select", ("never", "released", "under")),
        ("quarantine_released_on", "date", ()),
        ("health_code", "select", ("green", "yellow", "red")),
        ("destination_province", "text", ()),
        ("employer", "text", ()),
        ("valid_days", "number", ()),
    ],
    "freight-test": [
        ("name", "text", ()),
        ("resident_id", "id", ()),
        ("role", "select", ("driver", "passenger")),
        ("vehicle_plate", "text", ()),
        ("test_kind", "select", ("nucleic_acid", "antigen")),
        ("test_result", "select", ("negative", "positive")),
        ("sampled_at", "datetime", ()),
        ("testing_institution", "text", ()),
        ("route_origin", "text", ()),
        ("route_destination", "text", ()),
        ("no_key_area_passage", "checkbox", ()),
    ],
}
CHOICE_ZH = {
    "never": "未隔离",
    "released": "已解除隔离",
    "under": "隔离中",
    "green": "绿码",
    "yellow": "黄码",
    "red": "红码",
    "driver": "司机",
    "passenger": "随车人员",
    "nucleic_acid": "核酸",
    "antigen": "抗原",
    "negative": "阴性",
    "positive": "阳性",
    "fever": "发热",
    "cough": "咳嗽",
    "fatigue": "乏力",
    "shortness_of_breath": "气促",
    "sore_throat": "咽痛",
    "diarrhoea": "腹泻",
    "loss_of_taste_or_smell": "嗅觉味觉减退",
    "muscle_pain": "肌肉酸痛",
}


def application_from_form(kind: str, form: dict[str, str]) -> dict[str, Any]:
    """Turn the posted form into an API application (the same checks as the API then apply)."""
    data: dict[str, Any] = {"kind": kind}
    for name, kind_of_input, choices in FIELDS[kind]:
        if kind_of_input == "symptoms":
            data[name] = [s for s in choices if form.get(f"symptom_{s}") == "1"]
        elif kind_of_input == "checkbox":
            data[name] = form.get(name) == "1"
        elif kind_of_input == "datetime":
            value = form.get(name, "").strip()
            # <input type=datetime-local> has no zone: the office works in China Standard Time.
            data[name] = value + ":00+08:00" if len(value) == 16 else value
        elif form.get(name, "").strip():
            data[name] = form[name].strip()
    return data


def _form_page(
    request: Request,
    kind: str,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, list[dict[str, str]]] | None = None,
    error: ServiceError | None = None,
    status: int = 200,
) -> HTMLResponse:
    signed_in = require(request)
    context = {
        "kind": kind,
        "fields": FIELDS[kind],
        "labels": FIELD_ZH,
        "choice_zh": CHOICE_ZH,
        "values": values or {},
        "errors": errors or {},
        "error": error,
        # A fresh key for every form shown: a double click or a reload of this form issues once.
        "idem": secrets.token_urlsafe(16),
    }
    return render(request, "console/issue.html", context, signed_in=signed_in, status=status)


@router.get("/issue")
def issue_form(request: Request) -> Response:
    """The issue form of one kind (``?kind=freight-test``; default return-to-work)."""
    kind = request.query_params.get("kind", "return-to-work")
    return _form_page(request, kind if kind in FIELDS else "return-to-work")


@router.post("/issue")
def issue(request: Request, form: Form) -> Response:
    """Issue one certificate; errors come back inline by field, in Chinese with the API's codes."""
    signed_in = require(request)
    kind = form.get("kind", "")
    if kind not in FIELDS:
        kind = "return-to-work"
    try:
        check_csrf(signed_in, form)
    except ServiceError as e:
        return _failed(request, e, signed_in)
    service = _service(request)
    authority = signed_in.operator.authority
    assert authority is not None
    data = application_from_form(kind, form)
    idem = form.get("idem", "")[:64]
    try:
        _status, body, _replayed = service.issue(
            authority,
            [data],
            operator=signed_in.operator,
            now=now_of(request),
            idempotency_key=f"console-one:{signed_in.operator.id}:{idem}" if idem else None,
            request_hash=service.request_fingerprint("one", [data]),
        )
    except ServiceError as e:
        return _failed(request, e, signed_in)
    result = json.loads(body)
    if result["errors"]:
        errors: dict[str, list[dict[str, str]]] = {}
        for refusal in result["errors"]:
            errors.setdefault(refusal.get("field") or "", []).append(refusal)
        return _form_page(request, kind, values=form, errors=errors, status=422)
    return redirect(f"/console/certificates/{result['issued'][0]['id']}?issued=1")


# -- one certificate --------------------------------------------------------------------------
def _local(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, CST).strftime("%Y-%m-%d %H:%M")


@router.get("/certificates/{jti}")
def certificate(jti: str, request: Request) -> Response:
    """One certificate: its facts, status, print link, and revoke / suspend / unsuspend."""
    signed_in = require(request)
    service = _service(request)
    assert signed_in.operator.authority is not None
    try:
        record = service.certificate(signed_in.operator.authority, jti)
    except ServiceError as e:
        return _failed(request, e, signed_in)
    context = {"c": record, "local": _local, "issued": request.query_params.get("issued") == "1"}
    return render(request, "console/certificate.html", context, signed_in=signed_in)


@router.post("/certificates/{jti}/status")
def change_status(jti: str, request: Request, form: Form) -> Response:
    """Revoke, suspend or unsuspend with a reason; the page asked for confirmation first."""
    signed_in = require(request)
    service = _service(request)
    assert signed_in.operator.authority is not None
    try:
        check_csrf(signed_in, form)
        status = {"revoke": "revoked", "suspend": "suspended", "unsuspend": "valid"}.get(form.get("action", ""))
        if status is None:
            raise ServiceError("invalid_request", "action is revoke, suspend or unsuspend", 422)
        if form.get("confirm") != "1":
            raise ServiceError("confirmation_required", "tick the confirmation box", 422)
        service.change_status(
            signed_in.operator.authority,
            jti,
            status,
            form.get("reason", ""),
            operator=signed_in.operator,
            now=now_of(request),
        )
    except ServiceError as e:
        return _failed(request, e, signed_in)
    return redirect(f"/console/certificates/{jti}")


# -- search -----------------------------------------------------------------------------------------
@router.get("/search")
def search(request: Request) -> Response:
    """Search the authority's certificates by name, masked ID (any part), issue date (CST) or batch."""
    signed_in = require(request)
    service = _service(request)
    authority = signed_in.operator.authority
    assert authority is not None
    q = {k: request.query_params.get(k, "").strip()[:64] for k in ("name", "id", "date", "batch")}
    items: list[Any] = []
    searched = any(q.values())
    error = None
    if searched:
        issued_from = issued_to = None
        if q["date"]:
            try:
                day = dt.date.fromisoformat(q["date"])
            except ValueError:
                error = ServiceError("format", "the date is YYYY-MM-DD", 422)
                day = None
            if day is not None:
                start = dt.datetime.combine(day, dt.time(), CST)
                issued_from, issued_to = int(start.timestamp()), int(start.timestamp()) + 86400
        if error is None:
            records, _ = service.store.list_certificates(
                authority, issued_from=issued_from, issued_to=issued_to, limit=5000
            )
            from hcert_verifier import unmask_display

            wanted = q["id"].upper()
            for r in records:
                if q["name"] and q["name"] not in r.name:
                    continue
                if q["batch"] and r.batch != q["batch"]:
                    continue
                # The masked ID keeps the first 6 and last 4 characters: a part matches either, or the shown form.
                if wanted and not (
                    wanted in r.masked_id[:6] or wanted in r.masked_id[6:] or wanted in unmask_display(r.masked_id)
                ):
                    continue
                items.append(r)
                if len(items) >= 200:
                    break
    context = {"q": q, "items": items, "searched": searched, "local": _local, "error": error}
    return render(request, "console/search.html", context, signed_in=signed_in)
