"""What every console page shares: templates, language, the session cookie, CSRF and form bodies."""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..accounts import ABSOLUTE_SECONDS, Accounts, SignedIn
from ..service import IssuingService, ServiceError
from .messages import message_zh

__all__ = [
    "COOKIE",
    "LANG_COOKIE",
    "NeedsSignIn",
    "Refused",
    "accounts",
    "check_csrf",
    "form_body",
    "render",
    "require",
    "set_session_cookie",
]

COOKIE = "hcert_session"
LANG_COOKIE = "hcert_lang"
#: Double-submit token of the sign-in form (there is no session yet to hold one).
PRE_COOKIE = "hcert_signin"
_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
_env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(default=True), auto_reload=False)


class Refused(ServiceError):
    """Raised by :func:`require` for a signed-in person a page is not for: the app shows the console's error page."""

    def __init__(self, code: str, message: str, signed_in: SignedIn | None) -> None:
        super().__init__(code, message, 403)
        self.signed_in = signed_in


class NeedsSignIn(Exception):
    """Raised by :func:`require` when there is no live session: the app answers with a redirect."""

    def __init__(self, to: str = "/console/signin") -> None:
        super().__init__(to)
        self.to = to


def accounts(request: Request) -> Accounts:
    """Return the accounts over the app's service."""
    service: IssuingService = request.app.state.service
    return Accounts(service)


def now_of(request: Request) -> dt.datetime:
    """Return the app's current time."""
    now: dt.datetime = request.app.state.clock()
    return now


def lang_of(request: Request) -> str:
    """Return ``en`` when the English switch is on, else ``zh`` (the default)."""
    return "en" if request.cookies.get(LANG_COOKIE) == "en" else "zh"


def require(request: Request, *, admin: bool = False, allow_must_change: bool = False) -> SignedIn:
    """Return the live session of the request, or raise :class:`NeedsSignIn`.

    A person whose password was set by an admin goes to the change-password
    page first; ``admin`` pages need an authority admin (403 otherwise).
    """
    token = request.cookies.get(COOKIE, "")
    signed_in = accounts(request).session(token, now=now_of(request)) if token else None
    if signed_in is None:
        raise NeedsSignIn()
    if signed_in.account.must_change and not allow_must_change:
        raise NeedsSignIn("/console/password")
    if signed_in.operator.authority is None:
        raise Refused("forbidden", "the console is for an authority's people", None)
    if admin and signed_in.operator.role != "authority_admin":
        raise Refused("forbidden", "this needs an authority admin", signed_in)
    return signed_in


async def form_body(request: Request) -> dict[str, str]:
    """Parse an ``application/x-www-form-urlencoded`` body (the last value of a repeated field wins)."""
    body = await request.body()
    if not body:
        return {}
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        raise ServiceError(
            "unsupported_media_type", "the console posts forms as application/x-www-form-urlencoded", 415
        )
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200))
    except (UnicodeDecodeError, ValueError) as e:
        raise ServiceError("bad_request", "the form could not be read", 400) from e


def check_csrf(signed_in: SignedIn, form: dict[str, str]) -> None:
    """Refuse (403 ``csrf_failed``) a form without the session's CSRF token."""
    if not hmac.compare_digest(form.get("csrf", "").encode(), signed_in.session.csrf.encode()):
        raise ServiceError("csrf_failed", "the form's CSRF token is missing or wrong; reload the page", 403)


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    """Set the session cookie: HttpOnly, SameSite=Strict, Secure when the request came over https."""
    response.set_cookie(
        COOKIE,
        token,
        max_age=ABSOLUTE_SECONDS,
        path="/",
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="strict",
    )


def translator(lang: str) -> Callable[[str, str], str]:
    """Return ``t(zh, en)``: the text in the page's language."""

    def t(zh: str, en: str) -> str:
        return en if lang == "en" else zh

    return t


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    signed_in: SignedIn | None = None,
    status: int = 200,
) -> HTMLResponse:
    """Render a template with the language, the signed-in person and their CSRF token."""
    lang = lang_of(request)
    t = translator(lang)
    authority = None
    if signed_in is not None and signed_in.operator.authority is not None:
        service: IssuingService = request.app.state.service
        authority = service.store.get_authority(signed_in.operator.authority)
    html = _env.get_template(name).render(
        lang=lang,
        t=t,
        err=lambda code, fallback="": error_text(code, fallback, lang),
        me=signed_in,
        authority=authority,
        csrf=signed_in.session.csrf if signed_in else "",
        path=request.url.path,
        **(context or {}),
    )
    response = HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})
    return response


def error_text(code: str, fallback: str, lang: str) -> str:
    """Return what a clerk reads for an error code: Chinese (with the code) or the English message."""
    if lang == "en":
        return f"{fallback or code} ({code})"
    return f"{message_zh(code, fallback)}（{code}）"


def redirect(to: str) -> RedirectResponse:
    """Answer a form post with 303 See Other (the browser then GETs ``to``)."""
    return RedirectResponse(to, status_code=303)
