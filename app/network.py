"""Several hcert servers, one network: the distribution server pulls what other servers publish.

Every authority in the trust list has a ``base_url``: the hcert server that
issues for it. The distribution server (the one devices sync from) fetches from
each other server

- ``GET <base_url>/v1/status/<authority>``: which status lists the authority has;
- ``GET <base_url>/v1/status/<authority>/<list>``: each list (``sub`` must be exactly that URL);
- ``GET <base_url>/v1/rules/<province>``: the province's signed rules, for a province whose
  rule key this server does not hold.

Nothing is stored before it verifies against the published, root-signed trust list as
a device would verify it: a status list signed by a non-withdrawn key of its own
authority, unexpired, with the full ``sub``; rules signed by the province's rule key.
A copy older than the one in hand is refused (status lists by ``version`` then ``iat``,
as devices order them, and a status list of the held version with other bits; rules by
``version``). A server that is down, slow or answers garbage leaves the last good copy
in place. The bundle then carries these lists and rules next to the local ones.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hcert_verifier import CLOCK_LEEWAY, HcertError, status_list_uri
from hcert_verifier._files import locked, write_atomic
from hcert_verifier.bundle import MAX_BUNDLE
from hcert_verifier.status import MAX_LIST_TOKEN
from hcert_verifier.trustlist import TrustList

from .service import ServiceError

__all__ = [
    "MAX_REMOTE_LISTS",
    "PullReport",
    "pull",
    "pull_forever",
    "remote_status_lists",
    "verified_rules",
    "verified_trust_list",
]

log = logging.getLogger("hcert.network")

#: At most this many status lists are taken from one authority.
MAX_REMOTE_LISTS = 256
#: Largest answer read from another server (a list index, a status list or rules).
MAX_FETCH = MAX_LIST_TOKEN
#: One request's timeout and a pull's total deadline, in seconds.
FETCH_TIMEOUT = 10.0
PULL_DEADLINE = 120.0


@dataclass
class PullReport:
    """What a pull did: objects stored, objects already current, and failures (each one line)."""

    stored: list[str] = field(default_factory=list)
    current: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """Return one line for the operator."""
        return f"{len(self.stored)} stored, {len(self.current)} already current, {len(self.failed)} failed"


class _Fetcher:
    """GET with a per-request timeout, a size cap and a total deadline."""

    def __init__(self, deadline: float) -> None:
        self.deadline = time.monotonic() + deadline

    def get(self, url: str, accept: str) -> bytes:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _FetchError("the pull's total deadline passed")
        request = urllib.request.Request(url, headers={"Accept": accept})  # noqa: S310 - base URLs are checked
        try:
            with urllib.request.urlopen(request, timeout=min(FETCH_TIMEOUT, left)) as response:  # noqa: S310
                body: bytes = response.read(MAX_FETCH + 1)
        except urllib.error.HTTPError as e:
            raise _FetchError(f"answered {e.code}", e.code) from e
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            raise _FetchError(f"unreachable: {getattr(e, 'reason', e)}") from e
        if len(body) > MAX_FETCH:
            raise _FetchError(f"answer larger than {MAX_FETCH} bytes")
        if time.monotonic() > self.deadline:
            raise _FetchError("the pull's total deadline passed")
        return body


class _FetchError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def verified_trust_list(network: Any) -> TrustList:
    """Return the published trust list, verified against the roots this server pins.

    Raises :class:`ServiceError` ``no_trust_list`` (503) or ``trust_list_invalid`` (422).
    """
    token = network.trust_list()
    try:
        return TrustList.load(token, network.roots())
    except HcertError as e:
        raise ServiceError("trust_list_invalid", f"the published trust list does not verify: {e.reason}", 422) from e


def _remote_dir(network: Any) -> Path:
    return Path(network.dir) / "remote" / "status"


def _read_token(path: Path) -> str | None:
    try:
        return path.read_text("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def pull(network: Any, *, now: dt.datetime, deadline: float = PULL_DEADLINE) -> PullReport:
    """Fetch, verify and store other servers' status lists and rules; return what happened.

    ``network`` is the server's :class:`app.trust.TrustNetwork`. Raises
    :class:`ServiceError` only when there is no valid trust list to check against.
    """
    trust = verified_trust_list(network)
    settings = network.service.settings
    own_url = settings.base_url.rstrip("/")
    local = {a.code for a in network.service.store.list_authorities()}
    fetch = _Fetcher(deadline)
    report = PullReport()
    at = int(now.timestamp())
    for authority in sorted(trust.authorities.values(), key=lambda a: a.id):
        if authority.id in local or authority.base_url == own_url:
            continue
        _pull_status(network, trust, authority.id, authority.base_url, fetch, report, at)
    for province in sorted(trust.rule_signers):
        if (settings.key_root / "_rules" / province).is_dir():
            continue  # this server signs that province's rules itself
        sources = sorted(
            {a.base_url for a in trust.authorities.values() if a.id.startswith(province) and a.base_url != own_url}
        )
        failures = len(report.failed)
        for base_url in sources:
            if _pull_rules(network, trust, province, base_url, fetch, report):
                break
        else:
            if sources and len(report.failed) == failures:  # every server answered 404
                report.failed.append(f"rules of province {province}: none of its servers publishes them (404)")
        for base_url in sources:
            if _pull_fresh(network, trust, province, base_url, fetch, report, at):
                break
    for line in report.failed:
        log.warning("network pull: %s", line)
    if report.stored:
        network.service.trust_changed()
    return report


def _pull_status(
    network: Any, trust: TrustList, iss: str, base_url: str, fetch: _Fetcher, report: PullReport, at: int
) -> None:
    index_url = f"{base_url}/v1/status/{iss}"
    try:
        index = json.loads(fetch.get(index_url, "application/json"))
        lists = index.get("lists") if isinstance(index, dict) else None
        if not isinstance(lists, list) or not all(type(n) is int and 0 <= n <= 1_000_000 for n in lists):
            raise _FetchError('the answer is not {"lists": [list numbers]}')
    except (_FetchError, ValueError) as e:
        report.failed.append(f"{index_url}: {e}")
        return
    for lst in sorted(set(lists))[:MAX_REMOTE_LISTS]:
        url = status_list_uri(base_url, iss, lst)
        try:
            token = fetch.get(url, "application/statuslist+jwt").decode("ascii").strip()
            fetched = trust.open_status_list(token, at=at)
            if (fetched.iss, fetched.lst) != (iss, lst):
                raise _FetchError(f"the list is {fetched.iss}/{fetched.lst}")
        except (_FetchError, HcertError, UnicodeDecodeError) as e:
            reason = getattr(e, "reason", None) or str(e)
            report.failed.append(f"{url}: {reason}; the last good copy is kept")
            continue
        path = _remote_dir(network) / iss / f"{lst}.jwt"
        with _store_lock(network):
            held = _read_token(path)
            if held == token:
                report.current.append(url)
                continue
            if held is not None:
                try:
                    older = trust.open_status_list(held)
                except HcertError:
                    older = None  # a copy that no longer verifies (trust list changed) is replaced
                # Ordered as devices order them: by version, then by iat.
                if older is not None and (older.version or 0, older.issued_at) > (
                    fetched.version or 0,
                    fetched.issued_at,
                ):
                    report.failed.append(
                        f"{url}: older than the copy in hand (version {fetched.version}, iat {fetched.issued_at}); kept"
                    )
                    continue
                if (
                    older is not None
                    and older.version is not None
                    and older.version == fetched.version
                    and older.content_digest != fetched.content_digest
                ):
                    report.failed.append(
                        f"{url}: version {fetched.version} with other bits than the copy in hand "
                        "(devices refuse it); kept"
                    )
                    continue
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, token.encode("ascii") + b"\n")
        report.stored.append(url)


def _pull_rules(
    network: Any, trust: TrustList, province: str, base_url: str, fetch: _Fetcher, report: PullReport
) -> bool:
    """Fetch a province's rules from one of its servers; keep the newest verified copy.

    Returns whether this source answered for the province. A server of the
    province that does not sign its rules answers 404: not a failure, and the next
    source is asked.
    """
    path = Path(network.dir) / "rules" / f"{province}.jwt"
    version = lambda token: trust.open_rules(token, province).version  # noqa: E731
    return _pull_versioned(network, f"{base_url}/v1/rules/{province}", path, version, fetch, report)


def pulled_fresh_dir(network: Any) -> Path:
    """Where the provinces' freshness statements pulled from their servers are kept (``<province>.jwt``)."""
    return Path(network.dir) / "remote" / "fresh"


def _pull_fresh(
    network: Any, trust: TrustList, province: str, base_url: str, fetch: _Fetcher, report: PullReport, at: int
) -> bool:
    """Fetch a province's freshness statement (docs/FORMAT.md section 7.5); keep the newest verified one.

    Returns whether this source answered for the province. A server that vouches
    for no lists of the province (one without the province's rule key) answers
    404: not a failure, and the next source is asked. One issued more than
    ``CLOCK_LEEWAY`` after ``at`` (that server's clock running fast) is refused and
    the last good copy kept: an index would leave such a statement out.
    """

    def version(token: str) -> int:
        statement = trust.open_freshness(token)
        if statement["province"] != province:
            raise _FetchError(f"the statement is of province {statement['province']}")
        if statement["issued_at"] > at + CLOCK_LEEWAY:
            raise _FetchError(f"the statement is issued {statement['issued_at'] - at} s ahead of this server's clock")
        return int(statement["version"])

    path = pulled_fresh_dir(network) / f"{province}.jwt"
    return _pull_versioned(network, f"{base_url}/v1/fresh/{province}", path, version, fetch, report)


def _pull_versioned(
    network: Any, url: str, path: Path, version: Callable[[str], int], fetch: _Fetcher, report: PullReport
) -> bool:
    """Fetch a signed object with a ``version``, verify it (``version`` raises when it does not), keep the newest.

    Returns whether ``url`` answered (``False`` for a 404, which is not reported,
    and for a failure, which is).
    """
    try:
        token = fetch.get(url, "application/jwt").decode("ascii").strip()
        fetched = version(token)
    except _FetchError as e:
        if e.status != 404:
            report.failed.append(f"{url}: {e}; the last good copy is kept")
        return False
    except (HcertError, UnicodeDecodeError) as e:
        report.failed.append(f"{url}: {getattr(e, 'reason', None) or e}; the last good copy is kept")
        return False
    with _store_lock(network):
        held = _read_token(path)
        if held == token:
            report.current.append(url)
            return True
        if held is not None:
            try:
                older: int | None = version(held)
            except (HcertError, _FetchError):
                older = None
            if older is not None and older >= fetched:
                report.failed.append(f"{url}: version {fetched} is not newer than {older} in hand; kept")
                return True
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, token.encode("ascii") + b"\n")
    report.stored.append(url)
    return True


def _store_lock(network: Any) -> Any:
    """Hold the lock every pull takes to compare a fetched copy with the held one and replace it.

    A cron ``hcert network pull`` and the server's background pull may run at
    once; without it, a slower pull could put back an older copy after a newer
    one was stored.
    """
    Path(network.dir).mkdir(parents=True, exist_ok=True)
    return locked(Path(network.dir) / ".pull.lock")


def remote_status_lists(network: Any, trust: TrustList, *, at: int) -> list[str]:
    """Return the stored status lists of other servers' authorities that devices would accept now.

    Each is verified again against the current trust list (a key withdrawn since,
    an authority removed, a base URL changed, an expired list: left out, so one
    stale copy never makes devices refuse the whole bundle). The result is
    remembered until the files, the trust list or the five-minute window change.
    """
    root = _remote_dir(network)
    if not root.is_dir():
        return []
    local = {a.code for a in network.service.store.list_authorities()}
    paths = [p for p in sorted(root.glob("*/*.jwt")) if p.parent.name not in local]
    state = []
    for path in paths:
        try:
            info = path.stat()
        except OSError:
            continue
        state.append((str(path), info.st_mtime_ns, info.st_size))
    key = (tuple(state), at // 300)
    cached = getattr(network, "_remote_cache", None)
    if cached is not None and cached[0] is trust and cached[1] == key:
        return list(cached[2])
    out = []
    for path in paths:
        token = _read_token(path)
        if token is None:
            continue
        try:
            lst = trust.open_status_list(token, at=at)
        except HcertError:
            continue
        if lst.iss == path.parent.name:
            out.append(token)
    network._remote_cache = (trust, key, out)
    return list(out)


async def pull_forever(network: Any, clock: Any, interval: float) -> None:
    """Pull every ``interval`` seconds until cancelled (``HCERT_PULL_INTERVAL``); failures are logged, never raised."""
    import asyncio

    while True:
        await asyncio.sleep(interval)
        try:
            report = await asyncio.to_thread(pull, network, now=clock())
        except ServiceError as e:
            log.warning("network pull: %s: %s", e.code, e.message)
        except Exception:  # the loop must outlive any single failure
            log.exception("network pull failed")
        else:
            log.info("network pull: %s", report.summary())


def verified_rules(trust: TrustList, tokens: list[str]) -> list[str]:
    """Return the rule tokens devices would accept under ``trust`` (others are left out of the bundle)."""
    out = []
    for token in tokens:
        try:
            trust.open_rules(token, _unverified_province(token))
        except (HcertError, IndexError):
            continue
        out.append(token)
    return out


def _unverified_province(token: str) -> str:
    from hcert_verifier import b64url_decode, inflate, json_object

    payload = json_object(inflate(b64url_decode(token.split(".")[1], "rules"), MAX_BUNDLE), "rules")
    return str(payload.get("province", ""))
