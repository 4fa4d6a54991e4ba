"""Fetch the trust bundle: the one module of the verifier that touches the network.

``sync(url)`` makes a conditional GET of ``<url>/v1/bundle`` (gzip when the server
sends it) over https (plain http only to a loopback address, or with
``allow_http=True``), within a total
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._errors import BundleError, HcertError
from ._files import write_atomic
from .bundle import MAX_BUNDLE, MAX_PART, Bundle, is_address, load_roots, part_address
from .state import admit

__all__ = [
    "BUNDLE_FILE",
    "INDEX_FILE",
    "PARTS_DIR",
    "SYNC_DEADLINE",
    "SyncError",
    "SyncResult",
    "check_url",
    "default_data_dir",
    "load_synced",
    "sync",
    "sync_parts",
]

#: The bundle envelope in the data folder.
BUNDLE_FILE = "bundle.json"
#: The index envelope in the data folder, and the folder of its parts (one file per address).
INDEX_FILE = "index.json"
PARTS_DIR = "parts"
#: Default total time (seconds) a sync may take, connection to last byte.
SYNC_DEADLINE = 60.0
#: Connections a sync of parts fetches them over, in parallel.
PARALLEL_FETCHES = 4
_CLOCK_LEEWAY = 300  # the verifier's CLOCK_LEEWAY (imported lazily would be circular)


class SyncError(HcertError):
    """The bundle could not be fetched; the last good bundle is kept."""

    code = "sync_failed"


@dataclass(frozen=True)
class SyncResult:
    """What a sync did: ``changed`` is False for 304 Not Modified or the same bundle again.

    ``bytes_fetched`` counts what came over the wire (status lines, headers and
    bodies as sent, compressed or not); ``responses`` how many answers it took.
    """

    changed: bool
    bundle: Bundle
    bytes_fetched: int = 0
    responses: int = 0


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
    client = _Client(parts, deadline)
    try:
        status, body, new_etag = client.get("/v1/bundle", etag=etag, limit=MAX_BUNDLE)
    finally:
        client.finish()
    if status == 304 and current is not None:
        return SyncResult(False, current, client.bytes, client.responses)
    if status != 200:
        raise SyncError(f"the server answered {status}")
    bundle = Bundle.load(body, roots)
    admit(data_dir, bundle, now=now, leeway=_CLOCK_LEEWAY, store=body)
    if new_etag:
        write_atomic(etag_path, new_etag.encode())
    else:
        etag_path.unlink(missing_ok=True)  # the ETag of an older bundle would only cost a full answer
    if bundle.roots != roots:
        # Root rotation: the trust list, signed by a pinned root, names the roots from now on.
        write_atomic(data_dir / "roots.json", json.dumps({"roots": bundle.roots}, indent=2).encode())
    changed = current is None or current.digest != bundle.digest
    return SyncResult(changed, bundle, client.bytes, client.responses)


class _Client:
    """GETs on one kept-alive connection, all ending by one deadline; counts the bytes received."""

    def __init__(self, parts: urllib.parse.SplitResult, deadline: float) -> None:
        self.parts, self.deadline = parts, deadline
        self.bytes, self.responses = 0, 0
        self._conn: http.client.HTTPConnection | None = None
        self._held: list[socket.socket] = []
        self._timer = threading.Timer(max(deadline - time.monotonic(), 0.0), self._cut)
        self._timer.daemon = True
        self._timer.start()

    def _cut(self) -> None:
        for sock in self._held:
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            host, port, remaining = self.parts.hostname or "", self.parts.port, self.deadline - time.monotonic()
            if self.parts.scheme == "https":
                self._conn = http.client.HTTPSConnection(
                    host, port, timeout=remaining, context=ssl.create_default_context()
                )
            else:
                self._conn = http.client.HTTPConnection(host, port, timeout=remaining)
            self._conn.connect()
            if self._conn.sock is not None:
                self._held.append(self._conn.sock)
        return self._conn

    def get(
        self, path: str, *, etag: str | None = None, limit: int, tag: str = "ETag"
    ) -> tuple[int, bytes, str | None]:
        """GET ``<url><path>``; return (status, body inflated, the ``tag`` header). Raise :class:`SyncError`."""
        import zlib

        url = self.parts.geturl()
        headers = {"Accept": "application/json", "Accept-Encoding": "gzip"}
        if etag:
            headers["If-None-Match"] = etag
        for attempt in (1, 2):  # a kept-alive connection the server closed meanwhile: once more
            try:
                conn = self._connection()
                conn.request("GET", f"{self.parts.path.rstrip('/')}{path}", headers=headers)
                response = conn.getresponse()
                length = response.getheader("Content-Length")
                if length is not None and length.isdigit() and int(length) > limit:
                    self.close()
                    raise SyncError(f"{path} is larger than {limit} bytes")
                raw = response.read(limit + 1)
                break
            except (OSError, http.client.HTTPException, ValueError) as e:
                self.close()
                if time.monotonic() > self.deadline:
                    raise SyncError(f"{url} did not answer within the deadline") from e
                if attempt == 2:
                    raise SyncError(f"cannot reach {url}: {e}") from e
        self.responses += 1
        status_line = len(f"HTTP/1.1 {response.status} {response.reason}\r\n")
        self.bytes += status_line + sum(len(k) + len(v) + 4 for k, v in response.getheaders()) + 2 + len(raw)
        if len(raw) > limit:
            raise SyncError(f"{path} is larger than {limit} bytes")
        if time.monotonic() > self.deadline:
            raise SyncError("the server did not answer before the deadline")
        if length is not None and length.isdigit() and len(raw) != int(length):
            self.close()
            raise SyncError(f"the server closed the connection before the whole of {path}")
        if response.getheader("Content-Encoding") == "gzip":
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                raw = inflater.decompress(raw, limit + 1)
            except zlib.error as e:
                raise SyncError(f"{path}: the gzip body is damaged") from e
            if len(raw) > limit or inflater.unconsumed_tail:
                raise SyncError(f"{path} is larger than {limit} bytes")
        return response.status, raw, response.getheader(tag)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def finish(self) -> None:
        self._timer.cancel()
        self.close()


def _held_parts(folder: Path) -> Callable[[Sequence[str]], dict[str, bytes]]:
    """Return a part source reading the device's ``parts/`` folder (a missing one is left out)."""

    def held(addresses: Sequence[str]) -> dict[str, bytes]:
        out = {}
        for address in addresses:
            if not is_address(address):
                continue  # never a path: from_index refuses it
            try:
                with open(folder / address, "rb") as f:
                    out[address] = f.read(MAX_PART + 1)  # from_index refuses a larger one
            except (OSError, ValueError):
                pass  # from_index says part_missing
        return out

    return held


def load_synced(data_dir: Path, roots: list[dict[str, Any]]) -> Bundle | None:
    """Return the trust material a sync stored in ``data_dir`` (an index and its parts, or a bundle), verified.

    ``None`` when nothing was synced yet. Raises :class:`BundleError`.
    """
    if (data_dir / INDEX_FILE).exists():
        return Bundle.from_index((data_dir / INDEX_FILE).read_bytes(), _held_parts(data_dir / PARTS_DIR), roots)
    if (data_dir / BUNDLE_FILE).exists():
        return Bundle.from_file(data_dir / BUNDLE_FILE, roots)
    return None


def sync_parts(
    url: str,
    *,
    data_dir: Path | None = None,
    timeout: float = SYNC_DEADLINE,
    allow_http: bool = False,
    at: dt.datetime | int | None = None,
) -> SyncResult:
    """Fetch the index of parts (``GET <url>/v1/index``), then only the parts the device lacks.

    Everything is verified as :meth:`Bundle.from_index` does (root, trust list,
    index, every part against its address) and checked against the device
    state (:func:`hcert_verifier.state.admit`) before it is stored: new parts
    first, in ``parts/`` under their addresses, then ``index.json`` and the
    state atomically; parts no longer named are removed after. Raises as
    :func:`sync` does, and ``part_missing`` / ``part_mismatch``; the last good
    trust material stays in place either way.
    """
    from concurrent.futures import ThreadPoolExecutor

    from .bundle import MAX_INDEX

    deadline = time.monotonic() + timeout
    parts = check_url(url, allow_http=allow_http)
    now = int(time.time()) if at is None else int(at.timestamp()) if isinstance(at, dt.datetime) else int(at)
    data_dir = data_dir or default_data_dir()
    roots = load_roots(data_dir / "roots.json")
    index_path, etag_path, folder = data_dir / INDEX_FILE, data_dir / "index.etag", data_dir / PARTS_DIR
    held = _held_parts(folder)
    current = None
    if index_path.exists():
        try:
            current = Bundle.from_index(index_path.read_bytes(), held, roots)
        except BundleError:
            current = None  # damaged: replaced by the next good index
    etag = etag_path.read_text().strip() if current is not None and etag_path.exists() else None
    clients = [_Client(parts, deadline) for _ in range(PARALLEL_FETCHES)]
    fetched: dict[str, bytes] = {}

    def fetch_one(client: _Client, address: str) -> tuple[str, bytes | None]:
        if sum(c.bytes for c in clients) > MAX_BUNDLE:  # all parts together are held to a bundle's cap
            raise SyncError(f"the server sent more than {MAX_BUNDLE} bytes of parts")
        got, data, _ = client.get(f"/v1/parts/{address}", limit=MAX_PART)
        if got == 404:
            return address, None  # from_index says part_missing
        if got != 200:
            raise SyncError(f"the server answered {got} for part {address}")
        return address, data

    seeded: dict[str, bytes] = {}

    def source(addresses: Sequence[str]) -> dict[str, bytes]:
        # A held part that no longer matches its address (a damaged file) is fetched again, not a dead end.
        out = {address: data for address, data in held(addresses).items() if part_address(data) == address}
        for address in addresses:
            if address not in out and address in seeded:
                out[address] = fetched[address] = seeded[address]
        lacking = [a for a in addresses if a not in out and is_address(a)]

        # Each connection takes every PARALLEL_FETCHES-th part, in order.
        def run(i: int) -> list[tuple[str, bytes | None]]:
            return [fetch_one(clients[i], a) for a in lacking[i::PARALLEL_FETCHES]]

        with ThreadPoolExecutor(PARALLEL_FETCHES) as pool:
            for batch in pool.map(run, range(PARALLEL_FETCHES)):
                for address, data in batch:
                    if data is not None:
                        out[address] = fetched[address] = data
        return out

    try:
        body, new_etag = b"", None
        if current is None and not any(folder.glob("*")):
            # Nothing in hand: the index and all its parts in one gzipped body, if the server has it.
            # Its answer names the ETag of the index inside, for the next sync's conditional GET.
            status, packed, new_etag = clients[0].get("/v1/index/pack", limit=MAX_BUNDLE, tag="Index-ETag")
            if status == 200:
                body = _unpack(packed, seeded)
        if not body:
            status, body, new_etag = clients[0].get("/v1/index", etag=etag, limit=MAX_INDEX)
            if status == 304 and current is not None:
                return SyncResult(False, current, clients[0].bytes, clients[0].responses)
            if status != 200:
                raise SyncError(f"the server answered {status} for its index")
        try:
            bundle = Bundle.from_index(body, source, roots)
        except BundleError as e:
            if isinstance(e.__cause__, SyncError):  # the network, not the material
                raise e.__cause__ from None
            raise
    finally:
        for client in clients:
            client.finish()
    received, responses = sum(c.bytes for c in clients), sum(c.responses for c in clients)
    folder.mkdir(parents=True, exist_ok=True)
    for address, data in fetched.items():
        write_atomic(folder / address, data, mode=0o644)  # verified; named by their hash, so harmless if orphaned
    admit(data_dir, bundle, now=now, leeway=_CLOCK_LEEWAY, store=body, parts=folder)
    if new_etag:
        write_atomic(etag_path, new_etag.encode())
    else:
        etag_path.unlink(missing_ok=True)  # an ETag of an older index would only cost a full answer
    if bundle.roots != roots:
        write_atomic(data_dir / "roots.json", json.dumps({"roots": bundle.roots}, indent=2).encode())
    changed = current is None or current.digest != bundle.digest
    return SyncResult(changed, bundle, received, responses)


def _unpack(packed: bytes, seeded: dict[str, bytes]) -> bytes:
    """Read a pack (``hcert-pack/1``): put its parts in ``seeded`` by address; return its index envelope.

    Nothing in it is trusted: the parts are only candidates, checked by address
    and signature as if fetched one by one.
    """
    from .bundle import PACK_FORMAT

    try:
        pack = json.loads(packed)
        if not isinstance(pack, dict) or pack.get("format") != PACK_FORMAT or not isinstance(pack.get("index"), str):
            raise ValueError(pack.get("format") if isinstance(pack, dict) else None)
        for text in pack.get("parts") or []:
            data = text.encode("ascii")
            seeded[part_address(data)] = data
        return str(pack["index"]).encode("ascii")
    except (ValueError, TypeError, AttributeError, UnicodeEncodeError) as e:
        raise SyncError("the server's pack is not an hcert-pack/1 document") from e
