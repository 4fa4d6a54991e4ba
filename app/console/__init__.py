"""The township console at ``/console``: server-rendered pages for people who sign in with a password."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse

from . import issue, manifest, printing
from .routes import router
from .web import NeedsSignIn

__all__ = ["install"]


def install(app: FastAPI) -> None:
    """Add the console's pages to ``app`` (no session: a redirect to the sign-in page)."""
    app.include_router(router)
    app.include_router(issue.router)
    app.include_router(printing.router)
    app.include_router(manifest.router)

    @app.exception_handler(NeedsSignIn)
    async def _sign_in(request: Request, exc: NeedsSignIn) -> RedirectResponse:
        return RedirectResponse(exc.to, status_code=303)
