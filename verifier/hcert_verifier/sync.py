"""Fetch the trust bundle: the one module of the verifier that touches the network.

``sync(url)`` makes a conditional GET of ``<url>/v1/bundle`` over https (plain
http only to a loopback address, or with ``allow_http=True``), within a total
deadline and a size cap; verifies the new bundle against the pinned roots;
refuses one that is not fresh or would take the device backwards
(:mod:`hcert_verifier.state`); and replaces the file atomically. On any
failure the last good bundle stays in place.
"""

from __future__ import annotations

import datetime as dt
import http.client
import ipaddress
import json
import os
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from ._errors import BundleError, HcertError
from ._files import write_atomic
from .bundle import MAX_BUNDLE, Bundle, load_roots
from .state import admit

__all__ = ["BUNDLE_FILE", "SYNC_DEADLINE", "SyncError", "SyncResult", "check_url", "default_data_dir", "sync"]

#: The bundle envelope in the data folder.
BUNDLE_FILE = "bundle.json"
#: Default total time (seconds) a sync may take, connection to last byte.
SYNC_DEADLINE = 60.0
_CLOCK_LEEWAY = 300  # the verifier's CLOCK_LEEWAY (imported lazily would be circular)


class SyncError(HcertError):
    """The bundle could not be fetched; the last good bundle is kept."""

    code = "sync_failed"


@dataclass(frozen=True)
class SyncResult:
    """What a sync did: ``changed`` is False for 304 Not Modified or the same bundle again."""

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


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, allow_http: bool = False) -> urllib.parse.SplitResult:
    """Return the parsed server URL, or raise :class:`SyncError` for a scheme sync refuses."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as e:
        raise SyncError("the bundle URL must be https://HOST[:PORT][/PATH]") from e
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise SyncError("the bundle URL must be https://HOST[:PORT][/PATH]")
    if parts.scheme == "http" and not (allow_http or _is_loopback(parts.hostname)):
        raise SyncError("plain http is allowed only to a loopback address; use https (or --allow-http)")
    return parts


def _fetch(parts: urllib.parse.SplitResult, *, etag: str | None, deadline: float) -> tuple[int, bytes, str | None]:
    """GET ``<url>/v1/bundle``; return (status, body, ETag). The whole exchange ends by ``deadline``."""
    url, host, port = parts.geturl(), parts.hostname or "", parts.port
    remaining = deadline - time.monotonic()
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(host, port, timeout=remaining, context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(host, port, timeout=remaining)
    headers = {"Accept": "application/json"}
    if etag:
        headers["If-None-Match"] = etag

    # A socket timeout bounds each read, not the sum: a server dribbling one byte
    # per few seconds would never trip it. A timer cuts the connection at the deadline.
    # (http.client hands the socket to the response and forgets it, so keep our own.)
    held: list[socket.socket] = []

    def cut() -> None:
        for sock in held:
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass

    timer = threading.Timer(max(remaining, 0.0), cut)
    timer.daemon = True
    timer.start()
    try:
        conn.connect()
        if conn.sock is not None:
            held.append(conn.sock)
        if time.monotonic() > deadline:
            cut()
        conn.request("GET", f"{parts.path.rstrip('/')}/v1/bundle", headers=headers)
        response = conn.getresponse()
        length = response.getheader("Content-Length")
        if length is not None and length.isdigit() and int(length) > MAX_BUNDLE:
            raise SyncError("the bundle is larger than 64 MB")
        chunks, size = [], 0
        while True:
            chunk = response.read1(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_BUNDLE:
                raise SyncError("the bundle is larger than 64 MB")
            chunks.append(chunk)
            if time.monotonic() > deadline:
                break
        body = b"".join(chunks)
        if time.monotonic() > deadline or (length is not None and length.isdigit() and len(body) != int(length)):
            raise SyncError("the server did not send the whole bundle before the deadline")
        return response.status, body, response.getheader("ETag")
    except SyncError:
        raise
    except (OSError, http.client.HTTPException, ValueError) as e:
        if time.monotonic() > deadline:
            raise SyncError(f"{url} did not answer within the deadline") from e
        raise SyncError(f"cannot reach {url}: {e}") from e
    finally:
        timer.cancel()
        conn.close()


def sync(
    url: str,
    *,
    data_dir: Path | None = None,
    timeout: float = SYNC_DEADLINE,
    allow_http: bool = False,
    at: dt.datetime | int | None = None,
) -> SyncResult:
    """Fetch, verify and store the bundle from an hcert server.

    ``timeout`` is the total deadline in seconds. ``at`` is the device time for
    the freshness checks (default: the clock). Raises :class:`SyncError` when
    the server cannot be reached in time, or the specific :class:`BundleError`
    (``bundle_invalid``, ``bundle_rollback``, ``version_reused`` ...) or
    :class:`BundleExpired` when the bundle is refused; the last good bundle
    stays in place either way.
    """
    deadline = time.monotonic() + timeout
    parts = check_url(url, allow_http=allow_http)
    if at is None:
        now = int(time.time())
    elif isinstance(at, dt.datetime):
        now = int(at.timestamp())
    else:
        now = int(at)
    data_dir = data_dir or default_data_dir()
    roots = load_roots(data_dir / "roots.json")
    bundle_path, etag_path = data_dir / BUNDLE_FILE, data_dir / "bundle.etag"
    current = None
    if bundle_path.exists():
        try:
            current = Bundle.from_file(bundle_path, roots)
        except BundleError:
            current = None  # a damaged file is replaced by the next good bundle
    etag = etag_path.read_text().strip() if current is not None and etag_path.exists() else None
    status, body, new_etag = _fetch(parts, etag=etag, deadline=deadline)
    if status == 304 and current is not None:
        return SyncResult(False, current)
    if status != 200:
        raise SyncError(f"the server answered {status}")
    bundle = Bundle.load(body, roots)
    admit(data_dir, bundle, now=now, leeway=_CLOCK_LEEWAY, store=body)
    if new_etag:
        write_atomic(etag_path, new_etag.encode())
    if bundle.roots != roots:
        # Root rotation: the trust list, signed by a pinned root, names the roots from now on.
        write_atomic(data_dir / "roots.json", json.dumps({"roots": bundle.roots}, indent=2).encode())
    changed = current is None or current.digest != bundle.digest
    return SyncResult(changed, bundle)
