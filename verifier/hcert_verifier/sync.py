"""Fetch the trust bundle: the one module of the verifier that touches the network.

``sync(url)`` makes a conditional GET of ``<url>/v1/bundle``, verifies the new
bundle against the pinned roots, refuses one older than the bundle in hand
(a replayed old bundle would resurrect withdrawn keys), and replaces the file
atomically. On any failure the last good bundle stays in place.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ._errors import BundleError, HcertError
from ._files import write_atomic
from .bundle import MAX_BUNDLE, Bundle, load_roots

__all__ = ["SyncError", "SyncResult", "default_data_dir", "sync"]


class SyncError(HcertError):
    """The bundle could not be fetched or did not verify; the last good bundle is kept."""

    code = "sync_failed"


@dataclass(frozen=True)
class SyncResult:
    """What a sync did: ``changed`` is False for 304 Not Modified."""

    changed: bool
    bundle: Bundle


def default_data_dir() -> Path:
    """Return the per-user data folder.

    ``$HCERT_HOME``, else ``$XDG_DATA_HOME/hcert``, else ``~/.local/share/hcert``.
    """
    if os.environ.get("HCERT_HOME"):
        return Path(os.environ["HCERT_HOME"])
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "hcert"


def sync(url: str, *, data_dir: Path | None = None, timeout: float = 30.0) -> SyncResult:
    """Fetch, verify and store the bundle from an hcert server; raise :class:`SyncError`."""
    if not url.startswith(("https://", "http://")):
        raise SyncError("the bundle URL must be http:// or https://")
    data_dir = data_dir or default_data_dir()
    roots = load_roots(data_dir / "roots.json")
    bundle_path, etag_path = data_dir / "bundle.jwt", data_dir / "bundle.etag"
    current = None
    if bundle_path.exists():
        try:
            current = Bundle.from_file(bundle_path, roots)
        except BundleError:
            current = None  # a damaged file is replaced by the next good bundle
    request = urllib.request.Request(f"{url.rstrip('/')}/v1/bundle", headers={"Accept": "application/jwt"})  # noqa: S310
    if current is not None and etag_path.exists():
        request.add_header("If-None-Match", etag_path.read_text().strip())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked
            body = response.read(MAX_BUNDLE + 1)
            etag = response.headers.get("ETag")
    except urllib.error.HTTPError as e:
        if e.code == 304 and current is not None:
            return SyncResult(False, current)
        raise SyncError(f"the server answered {e.code}; the last good bundle is kept") from e
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        raise SyncError(f"cannot reach {url}: {getattr(e, 'reason', e)}; the last good bundle is kept") from e
    if len(body) > MAX_BUNDLE:
        raise SyncError("the bundle is larger than 64 MB; the last good bundle is kept")
    try:
        bundle = Bundle.load(body.decode("ascii"), roots)
    except (BundleError, UnicodeDecodeError) as e:
        raise SyncError(f"the new bundle does not verify ({e}); the last good bundle is kept") from e
    if current is not None and bundle.version < current.version:
        raise SyncError(f"the server sent bundle {bundle.version}, older than {current.version} in hand; kept")
    write_atomic(bundle_path, body)
    if etag:
        write_atomic(etag_path, etag.encode())
    if bundle.roots != roots:
        # Root rotation: the trust list, signed by a pinned root, names the roots from now on.
        write_atomic(data_dir / "roots.json", json.dumps({"roots": bundle.roots}, indent=2).encode())
    return SyncResult(True, bundle)
