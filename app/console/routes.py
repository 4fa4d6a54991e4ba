"""Console pages: sign-in, password, today's work, people (admins)."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from hcert_verifier import CST

from ..accounts import SignedIn
from ..audit import AuditError, AuditReport, verify_store
from ..service import IssuingService, ServiceError
from ..store._base import SINGLE_CHAIN
from .messages import FIELD_ZH
from .web import (
    COOKIE,
    LANG_COOKIE,
    PRE_COOKIE,
    accounts,
    check_csrf,
    form_body,
    now_of,
    redirect,
    render,
    require,
    set_session_cookie,
)

router = APIRouter(prefix="/console", include_in_schema=False)
#: The refused applications listed on today's page (all of them are counted).
REFUSALS_SHOWN = 20
Form = Annotated[dict[str, str], Depends(form_body)]
_STATIC = Path(__file__).resolve().parent.parent / "static" / "console"
_ASSETS = {
    "console.css": "text/css",
    "console.js": "text/javascript",
    "manifest.js": "text/javascript",
    "seal.js": "text/javascript",
}


def _service(request: Request) -> IssuingService:
    service: IssuingService = request.app.state.service
    return service


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _failed(request: Request, e: ServiceError, signed_in: SignedIn | None = None) -> HTMLResponse:
    response = render(request, "console/error.html", {"error": e}, signed_in=signed_in, status=e.status)
    for name, value in e.headers.items():
        response.headers[name] = value
    return response


def _posted(request: Request, form: dict[str, str], **kwargs: Any) -> SignedIn:
    """The session of a form post, after its CSRF token is checked."""
    signed_in = require(request, **kwargs)
    check_csrf(signed_in, form)
    return signed_in


# -- assets and language -----------------------------------------------------------------
@router.get("/static/{name}")
def asset(name: str) -> Response:
    """The console's own stylesheet and script (served by the app: no CDN)."""
    if name == "messages.js":
        import json

        from .messages import _ZH

        text = "window.HCERT_MESSAGES = " + json.dumps(_ZH, ensure_ascii=False) + ";\n"
        return Response(text, media_type="text/javascript", headers={"Cache-Control": "public, max-age=3600"})
    if name not in _ASSETS:
        raise ServiceError("not_found", "no such asset", 404)
    return FileResponse(_STATIC / name, media_type=_ASSETS[name], headers={"Cache-Control": "public, max-age=3600"})


@router.get("/lang/{lang}")
def switch_language(lang: str, request: Request) -> Response:
    """Switch between Chinese (default) and English; back to the page the switch was on."""
    back = request.query_params.get("next", "/console")
    if not back.startswith("/console") or back.startswith("//"):
        back = "/console"
    response = redirect(back)
    response.set_cookie(LANG_COOKIE, "en" if lang == "en" else "zh", max_age=365 * 86400, samesite="strict")
    return response


# -- sign-in ---------------------------------------------------------------------------------
@router.get("/signin")
def signin_page(request: Request) -> Response:
    """The sign-in form. Its CSRF token is a double-submit cookie (there is no session yet)."""
    token = secrets.token_urlsafe(24)
    response = render(request, "console/signin.html", {"pre": token, "error": None, "username": ""})
    response.set_cookie(
        PRE_COOKIE,
        token,
        max_age=3600,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/signin")
def signin(request: Request, form: Form) -> Response:
    """Check the user name and password; on success a new session cookie, then today's work."""
    username = form.get("username", "")[:64]
    pre = request.cookies.get(PRE_COOKIE, "")
    if not pre or not hmac.compare_digest(pre.encode(), form.get("csrf", "").encode()):
        error = ServiceError("csrf_failed", "the form's CSRF token is missing or wrong; reload the page", 403)
        return render(request, "console/signin.html", {"pre": pre, "error": error, "username": username}, status=403)
    try:
        token, signed_in = accounts(request).sign_in(
            username, form.get("password", ""), client=_client(request), now=now_of(request)
        )
    except ServiceError as e:
        page = render(request, "console/signin.html", {"pre": pre, "error": e, "username": username}, status=e.status)
        for name, value in e.headers.items():
            page.headers[name] = value
        return page
    response = redirect("/console/password" if signed_in.account.must_change else "/console")
    set_session_cookie(request, response, token)
    response.delete_cookie(PRE_COOKIE, path="/console")
    return response


@router.post("/signout")
def signout(request: Request, form: Form) -> Response:
    """End the session and forget the cookie."""
    try:
        signed_in = _posted(request, form, allow_must_change=True)
    except ServiceError as e:
        return _failed(request, e)
    accounts(request).sign_out(signed_in, now=now_of(request))
    response = redirect("/console/signin")
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/password")
def password_page(request: Request) -> Response:
    """Change one's password (forced after an admin set it)."""
    signed_in = require(request, allow_must_change=True)
    return render(request, "console/password.html", {"errors": {}, "error": None}, signed_in=signed_in)


@router.post("/password")
def change_password(request: Request, form: Form) -> Response:
    """Check the current password and the rules, store the new one (argon2id)."""
    signed_in = require(request, allow_must_change=True)
    try:
        check_csrf(signed_in, form)
        if form.get("password", "") != form.get("password2", ""):
            raise ServiceError(
                "password_mismatch",
                "the two new passwords differ",
                422,
                [{"field": "password2", "code": "password_mismatch", "message": "the two new passwords differ"}],
            )
        accounts(request).change_password(
            signed_in, form.get("current", ""), form.get("password", ""), now=now_of(request)
        )
    except ServiceError as e:
        errors = {x["field"]: x for x in e.errors}
        return render(
            request, "console/password.html", {"errors": errors, "error": e}, signed_in=signed_in, status=e.status
        )
    return redirect("/console?changed=1")


# -- today's work --------------------------------------------------------------------------
def _day_start(now: dt.datetime) -> int:
    local = now.astimezone(CST)
    return int(local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())


@router.get("")
def home(request: Request) -> Response:
    """Today's work at a glance: issued today (China Standard Time) by kind, the last batches, today's refusals."""
    signed_in = require(request)
    service = _service(request)
    authority = signed_in.operator.authority
    assert authority is not None  # require() admits only an authority's people
    now = now_of(request)
    today, total = service.store.list_certificates(authority, issued_from=_day_start(now), limit=500)
    by_kind = {"w": 0, "f": 0}
    for r in today:
        by_kind[r.kind] += 1
    recent, _ = service.store.list_certificates(authority, limit=200)
    batches: dict[str, dict[str, Any]] = {}
    for r in recent:
        if r.batch and (r.batch in batches or len(batches) < 10):
            b = batches.setdefault(r.batch, {"id": r.batch, "count": 0, "issued_at": r.issued_at, "void": 0})
            b["count"] += 1
            b["void"] += r.status != "valid"
    refused, refused_count = service.store.refusals(authority, since=_day_start(now), limit=REFUSALS_SHOWN)
    # Newest first; one request's rows (noted at the same second) in row order.
    refused.sort(key=lambda r: (-r.get("at", 0), r.get("batch", ""), r.get("row", 0)))
    context = {
        "refused": refused,
        "refused_count": refused_count,
        "field_zh": FIELD_ZH,
        "total": total,
        "by_kind": by_kind,
        "batches": list(batches.values()),
        "changed": request.query_params.get("changed") == "1",
        "local": lambda ts: dt.datetime.fromtimestamp(ts, CST).strftime("%m-%d %H:%M"),
    }
    return render(request, "console/home.html", context, signed_in=signed_in)


# -- people (authority admins) ------------------------------------------------------------------
def _people(request: Request, signed_in: SignedIn, **extra: Any) -> HTMLResponse:
    service = _service(request)
    authority = signed_in.operator.authority
    assert authority is not None
    now = now_of(request)
    rows = []
    for operator in service.operators(authority):
        account = service.store.account_of(operator.id)
        rows.append({**service.describe_operator(operator, now=now), "username": account.username if account else None})
    context = {"people": rows, "created": None, "errors": {}, "error": None, "reset": None, **extra}
    return render(request, "console/people.html", context, signed_in=signed_in, status=extra.get("status", 200))


@router.get("/people")
def people(request: Request) -> Response:
    """The authority's operators: who has a sign-in, who is disabled."""
    return _people(request, require(request, admin=True))


@router.post("/people")
def create_person(request: Request, form: Form) -> Response:
    """Create a person's account; the first password is shown once to the admin."""
    signed_in = require(request, admin=True)
    try:
        check_csrf(signed_in, form)
        authority = signed_in.operator.authority
        assert authority is not None
        operator, password = accounts(request).create(
            authority,
            form.get("username", ""),
            form.get("role", "operator"),
            password=form.get("password") or None,
            actor=signed_in.operator.id,
            now=now_of(request),
        )
    except ServiceError as e:
        return _people(request, signed_in, errors={x["field"]: x for x in e.errors}, error=e, status=e.status)
    return _people(request, signed_in, created={"username": operator.name, "password": password}, status=201)


@router.post("/people/{op_id}/{action}")
def change_person(op_id: str, action: str, request: Request, form: Form) -> Response:
    """Disable (ends every session at once), re-enable, or reset a person's password."""
    signed_in = require(request, admin=True)
    authority = signed_in.operator.authority
    now = now_of(request)
    try:
        check_csrf(signed_in, form)
        if action in ("disable", "enable"):
            if op_id == signed_in.operator.id:
                raise ServiceError("forbidden", "an admin does not disable their own account", 403)
            accounts(request).set_disabled(
                op_id, action == "disable", authority=authority, actor=signed_in.operator.id, now=now
            )
            return redirect("/console/people")
        if action == "reset":
            password = accounts(request).reset_password(
                op_id, authority=authority, password=None, actor=signed_in.operator.id, now=now
            )
            person = _service(request).operator(op_id, authority=authority)
            return _people(request, signed_in, reset={"username": person.name, "password": password})
        raise ServiceError("not_found", "no such action", 404)
    except ServiceError as e:
        return _failed(request, e, signed_in)


# -- audit log (authority admins) ------------------------------------------------------------------
@router.get("/audit")
def audit(request: Request) -> Response:
    """The authority's latest audit entries and the result of checking the whole chain."""
    signed_in = require(request, admin=True)
    service = _service(request)
    try:
        # Every chain against its signed checkpoint (as ``hcert audit verify`` does): a cut tail shows as broken.
        checked = verify_store(service.store, service.audit_anchors)
        bad = next((c for c in checked if not c.report.ok), None)
        if bad is None:
            report = AuditReport(sum(c.report.entries for c in checked), True)
        else:
            where = "" if bad.chain == SINGLE_CHAIN else f"[{bad.chain}] "
            report = AuditReport(bad.report.entries, False, bad.report.broken_at, where + (bad.report.reason or ""))
    except AuditError as e:
        report = AuditReport(0, False, None, str(e))
    entries = list(service.store.audit_entries())
    mine = [e for e, _ in entries if e.get("authority") == signed_in.operator.authority][-100:]
    mine.reverse()
    context = {
        "report": report,
        "entries": mine,
        "local": lambda ts: dt.datetime.fromtimestamp(ts, CST).strftime("%Y-%m-%d %H:%M:%S"),
    }
    return render(request, "console/audit.html", context, signed_in=signed_in)
