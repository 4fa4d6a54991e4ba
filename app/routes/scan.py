"""The gate scanner at ``/scan``: the built page from ``app/static/scan`` and the roots it pins.

The page, its code, the QR decoder's WebAssembly and the service worker all come
from this origin; the Content-Security-Policy forbids every other one, so
nothing is fetched from a CDN at run time. The sources are in ``web/scanner``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from hcert_verifier import HcertError

from ..problems import problem

__all__ = ["SCAN_CSP", "STATIC_DIR", "router"]

#: The built scanner (``npm run build`` in ``web/scanner`` writes it here; committed).
STATIC_DIR = Path(__file__).resolve().parent.parent / "static" / "scan"

#: Only this origin; WebAssembly compilation for the QR decoder; camera frames as blobs.
SCAN_CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob: mediastream:; connect-src 'self'; worker-src 'self'; manifest-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".wasm": "application/wasm",
    ".webmanifest": "application/manifest+json",
    ".png": "image/png",
    ".json": "application/json",
}

router = APIRouter(tags=["scanner"], include_in_schema=False)


@cache
def _files() -> dict[str, Path]:
    """Map every built file's URL path (relative to /scan/) to the file; nothing else is served."""
    if not STATIC_DIR.is_dir():
        return {}
    return {p.relative_to(STATIC_DIR).as_posix(): p for p in STATIC_DIR.rglob("*") if p.is_file()}


def _headers(name: str) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": SCAN_CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
    }
    # Hashed names never change content; the page, the worker and the manifest are revalidated.
    headers["Cache-Control"] = "public, max-age=31536000, immutable" if name.startswith("assets/") else "no-cache"
    return headers


def _serve(name: str) -> Response:
    path = _files().get(name)
    if path is None:
        return problem(404, "not_found", "no such file in the scanner")
    return Response(
        path.read_bytes(),
        media_type=_TYPES.get(path.suffix, "application/octet-stream"),
        headers=_headers(name),
    )


@router.api_route("/scan", methods=["GET", "HEAD"])
def scan_redirect() -> RedirectResponse:
    """The scanner lives under /scan/ (its service worker's scope)."""
    return RedirectResponse("/scan/", status_code=308)


@router.api_route("/scan/", methods=["GET", "HEAD"])
def scan_page() -> Response:
    """The gate scanner: an installable page that verifies certificates offline."""
    return _serve("index.html")


@router.api_route("/scan/roots.json", methods=["GET", "HEAD"])
def scan_roots(request: Request) -> Response:
    """The national roots a device pins on its first visit (the trust list rotates them later)."""
    try:
        roots = request.app.state.trust.roots()
    except HcertError:
        return problem(503, "roots_unavailable", "this server has no national roots to give devices")
    return Response(
        json.dumps({"roots": roots}, separators=(",", ":")),
        media_type="application/json",
        headers=_headers("roots.json"),
    )


@router.api_route("/scan/{name:path}", methods=["GET", "HEAD"])
def scan_file(name: str) -> Response:
    """A built file of the scanner (code, styles, decoder, icons, manifest, service worker)."""
    return _serve(name)
