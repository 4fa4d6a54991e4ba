"""Security headers on every response (pages and token-bearing JSON above all).

- ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` and
  ``X-Frame-Options: DENY`` everywhere.
- ``Content-Security-Policy`` unless the route set its own: for HTML pages
  :data:`PAGE_CSP` (same-origin only, never framed), for everything else
  :data:`API_CSP` (nothing may load, never framed). The print pages set the
  stricter :data:`PRINT_CSP` (no script at all).
- ``Cache-Control: no-store`` on every answer to a request that carried a
  credential (certificates, tokens, QR images, print pages, metrics), unless the
  route declared it ``public`` (JWKS, status lists, bundle: the same for everyone):
  no proxy or browser cache keeps what an operator saw.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["API_CSP", "PAGE_CSP", "PRINT_CSP", "SecurityHeaders"]

API_CSP = "default-src 'none'; frame-ancestors 'none'"
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
PRINT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


class SecurityHeaders:
    """Add the headers above to every HTTP response (plain ASGI: no extra task per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        credentialed = any(name == b"authorization" and value.strip() for name, value in scope.get("headers") or [])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                headers["X-Frame-Options"] = "DENY"
                if "content-security-policy" not in headers:
                    html = headers.get("content-type", "").startswith("text/html")
                    headers["Content-Security-Policy"] = PAGE_CSP if html else API_CSP
                if credentialed and not headers.get("cache-control", "").startswith("public"):
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
