"""The township console at ``/console``: server-rendered pages for people who sign in with a password."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from ..service import ServiceError
from . import issue, manifest, office, printing
from .routes import _failed, router
from .web import NeedsSignIn, Refused

__all__ = ["install"]


def install(app: FastAPI) -> None:
    """Add the console's pages to ``app`` (no session: a redirect to the sign-in page)."""
    app.include_router(router)
    app.include_router(issue.router)
    app.include_router(printing.router)
    app.include_router(manifest.router)
    app.include_router(office.router)

    @app.exception_handler(NeedsSignIn)
    async def _sign_in(request: Request, exc: NeedsSignIn) -> RedirectResponse:
        return RedirectResponse(exc.to, status_code=303)

    def _fault(request: Request, status: int, code: str, detail: str, headers: dict[str, str]) -> Response:
        return _failed(request, ServiceError(code, detail, status, headers=headers))

    app.state.html_fault = _fault

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused) -> Response:
        return _failed(request, exc, exc.signed_in)
