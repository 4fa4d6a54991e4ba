"""The national trust network on the server side: root, trust list, rules, bundle.

- The **national root** (a key ring in ``root_dir``, kept offline in production)
  signs the trust list: every approved authority, its scope and keys, the
  provinces' rule keys, the bundle signers and the root set itself.
- A **province** signs its destination rules with its rule key.
- The **bundle signer** (online) wraps the current trust list, all rules and
  every status list into one file that devices sync. It can also withdraw keys
  (``withdrawn``), which takes effect at the next sync without the root; it can
  never add trust.

Every signed object carries a version from a durable counter (a file updated
under a file lock, or the store's per-list counter for status lists), never
from the clock, so devices can refuse anything older than what they hold.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import logging
import os
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hcert_verifier import (
    BUNDLE_TYP,
    CLOCK_LEEWAY,
    MAX_TRUST_LIST_VALIDITY,
    RULES_TYP,
    TRUST_LIST_TYP,
    Bundle,
    HcertError,
    Result,
    RuleSet,
    StatusUnavailable,
    TrustError,
    VerificationError,
    Verifier,
    json_compact,
    status_list_uri,
)
from hcert_verifier._files import locked, write_atomic  # the device code's own, network-free helpers
from hcert_verifier.bundle import (
    BUNDLE_FORMAT,
    FRESH_FORMAT,
    FRESH_TYP,
    INDEX_FORMAT,
    INDEX_TYP,
    MAX_BUNDLE_VALIDITY,
    MAX_FRESH_VALIDITY,
    PACK_FORMAT,
    SHARD_FORMAT,
    freshness_digest,
    open_freshness,
    part_address,
    sha256_text,
)
from hcert_verifier.trustlist import TrustList
from issuer import STATUS_LIST_SIZE
from keys import KeyRecord, KeyRing, KeyRingError, sign_compact

from .service import TRUST_GENERATION, IssuingService, ServiceError

__all__ = [
    "BUNDLE_VALIDITY",
    "LISTS_PER_SHARD",
    "PART_RETENTION",
    "SERVED_MAX_AGE",
    "TRUST_LIST_VALID_DAYS",
    "VERIFIER_MAX_AGE",
    "VERIFIER_POLL",
    "SharedVerifier",
    "TrustNetwork",
    "check_base_url",
    "export_submission",
    "make_index",
    "next_version",
    "sign_trust_list",
]

log = logging.getLogger("hcert.trust")

#: A bundle is refused by devices this long after it was made (the format's maximum).
BUNDLE_VALIDITY = MAX_BUNDLE_VALIDITY
#: How long a trust list signed by ``hcert trust sign`` is valid by default (days);
#: devices refuse one valid longer than ``MAX_TRUST_LIST_VALIDITY`` (92 days).
TRUST_LIST_VALID_DAYS = 30
#: How often the server re-makes the bundle even when nothing changed (freshness).
BUNDLE_REFRESH = 3600
#: The online verifier (``POST /v1/verify``) is made again at least this often (seconds of
#: the server clock), even without a change signal: the bound on staleness when a signal is lost.
VERIFIER_MAX_AGE = 60
#: How often each server process reads the store's change counter (seconds): the longest a
#: change made through another process or instance takes to reach ``POST /v1/verify`` here.
VERIFIER_POLL = 0.1
#: ``GET /v1/bundle`` and ``GET /v1/index`` serve the bundle and index they last made or read
#: from memory while the change signal (``VERIFIER_POLL``) has not moved, the state file is
#: the one they read, and they were derived less than this many seconds ago: the bound for
#: a change that sends no signal (an authority's first certificates in a new status list).
SERVED_MAX_AGE = 60


def _ts(now: dt.datetime) -> int:
    return int(now.timestamp())


def next_version(path: Path) -> int:
    """Increment the durable counter kept in ``path`` and return its new value (the first is 1).

    Read, increment and atomic replace happen under a file lock, so processes
    sharing the folder never hand out one version twice.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path.with_name(path.name + ".lock")):
        try:
            current = int(path.read_text("ascii").strip() or 0)
        except FileNotFoundError:
            current = 0
        except ValueError as e:
            raise ServiceError("counter_damaged", f"the version counter {path} is damaged", 503) from e
        write_atomic(path, f"{current + 1}\n".encode("ascii"))
        return current + 1


def _payload(token: str, what: str) -> dict[str, Any]:
    # One of our own published files: read to pick versions and keys, not trusted for anything.
    from hcert_verifier import b64url_decode, inflate, json_object

    return json_object(inflate(b64url_decode(token.split(".")[1], what), 64 << 20), what)


def _jwk(record: KeyRecord) -> dict[str, Any]:
    return {"kty": "EC", "crv": "P-256", "x": record.x, "y": record.y, "kid": record.kid}


def _trust_keys(ring: KeyRing, now: int) -> list[dict[str, Any]]:
    out = []
    for r in ring.published(now=now):
        entry = {**_jwk(r), "state": r.state, "not_before": r.created}
        end = r.withdrawn if r.state == "withdrawn" else r.retired
        entry["not_after"] = end
        out.append(entry)
    return out


def export_submission(service: IssuingService, province: str, *, now: dt.datetime) -> dict[str, Any]:
    """Return what a province submits for approval: its authorities, their scope, base URL and keys, its rule keys.

    Raises :class:`ServiceError` ``province_not_found`` when this server holds
    neither an authority nor a rule key of the province.
    """
    ts = _ts(now)
    if not (len(province) == 2 and province.isdigit()):
        raise ServiceError("invalid_province", f"a province is a 2-digit code, not {province!r}", 422)
    base_url = check_base_url(service.settings.base_url)
    authorities = []
    for a in service.store.list_authorities():
        if not a.code.startswith(province):
            continue
        kinds, regions = service.scope_of(a)
        authorities.append(
            {
                "id": a.code,
                "name_zh": a.name_zh,
                "name_en": a.name_en,
                "base_url": base_url,
                "scope": {"regions": list(regions), "kinds": list(kinds)},
                "keys": _trust_keys(service.ring(a.code), ts),
            }
        )
    rules_dir = service.settings.key_root / "_rules" / province
    rule_signers = []
    if rules_dir.is_dir():
        rules_ring = service.ring(f"_rules/{province}")
        rule_signers = [_jwk(r) for r in rules_ring.published(now=ts) if r.state != "withdrawn"]
    if not authorities and not rule_signers:
        raise ServiceError(
            "province_not_found", f"this server has no authority and no rule key of province {province}", 404
        )
    return {
        "province": province,
        "submitted_at": ts,
        "authorities": authorities,
        "rule_signers": rule_signers,
    }


def check_base_url(url: str) -> str:
    """Return an authority base URL without its trailing slash; https, or http to a loopback host only.

    Raises :class:`ServiceError` ``invalid_base_url``.
    """
    parsed = urllib.parse.urlsplit(url) if isinstance(url, str) else None
    loopback = parsed is not None and parsed.hostname in LOOPBACK_HOSTS
    if (
        parsed is None
        or not parsed.hostname
        or parsed.scheme not in ("https", "http")
        or (parsed.scheme == "http" and not loopback)
        or parsed.query
        or parsed.fragment
        or parsed.username
        or len(url) > 200
    ):
        raise ServiceError(
            "invalid_base_url",
            f"base URL {url!r} must be https:// (http:// only to a loopback host, for tests and development)",
            422,
        )
    return url.rstrip("/")


#: Hosts for which a base URL may be plain http (tests and development on one machine).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _check_submission(sub: dict[str, Any]) -> None:
    province = sub.get("province")
    if not isinstance(province, str) or len(province) != 2:
        raise ServiceError("invalid_submission", "a submission names its 2-digit province", 422)
    for a in sub.get("authorities", []):
        if not str(a.get("id", "")).startswith(province):
            raise ServiceError("invalid_submission", f"authority {a.get('id')} is not in province {province}", 422)
        for region in a["scope"]["regions"]:
            if not str(region).startswith(province):
                raise ServiceError("invalid_submission", f"authority {a['id']} claims region {region}", 422)
        if not set(a["scope"]["kinds"]) <= {"w", "f"} or not a["scope"]["kinds"]:
            raise ServiceError("invalid_submission", f"authority {a['id']} claims kinds {a['scope']['kinds']}", 422)
        try:
            if check_base_url(a.get("base_url")) != a.get("base_url"):
                raise ServiceError("invalid_base_url", f"base URL {a.get('base_url')!r} ends in a slash", 422)
        except ServiceError as e:
            raise ServiceError("invalid_submission", f"authority {a['id']}: {e.message}", 422) from e


def sign_trust_list(
    root: KeyRing,
    submissions: list[dict[str, Any]],
    bundle_signers: list[dict[str, Any]],
    *,
    version: int | None = None,
    now: dt.datetime,
    sign_with: str | None = None,
    valid_days: int = TRUST_LIST_VALID_DAYS,
) -> str:
    """Merge approved submissions into a trust list and sign it with the national root.

    ``version`` defaults to the next value of the root folder's durable counter
    (``trustlist.version``). ``sign_with`` picks a root key (during a root
    rotation: the old one, so that devices pinning it learn the new root).
    The list is valid ``valid_days`` days (default
    :data:`TRUST_LIST_VALID_DAYS`, at most :data:`MAX_TRUST_LIST_VALIDITY`
    seconds, as devices enforce): its ``expires`` is ``issued_at`` plus that.
    Raises :class:`ServiceError` for a submission outside its province, a kid
    listed twice, or ``invalid_valid_days``.
    """
    ts = _ts(now)
    if type(valid_days) is not int or not 0 < valid_days * 86400 <= MAX_TRUST_LIST_VALIDITY:
        raise ServiceError(
            "invalid_valid_days",
            f"a trust list is valid 1 to {MAX_TRUST_LIST_VALIDITY // 86400} days, not {valid_days!r}",
            422,
        )
    authorities: dict[str, dict[str, Any]] = {}
    rule_signers: dict[str, list[dict[str, Any]]] = {}
    kids: set[str] = set()
    for sub in submissions:
        _check_submission(sub)
        for a in sub["authorities"]:
            if a["id"] in authorities:
                raise ServiceError("invalid_submission", f"authority {a['id']} is submitted twice", 422)
            for k in a["keys"]:
                if k["kid"] in kids:
                    raise ServiceError("invalid_submission", f"kid {k['kid']} appears twice", 422)
                kids.add(k["kid"])
            authorities[a["id"]] = a
        if sub.get("rule_signers"):
            rule_signers[sub["province"]] = sub["rule_signers"]
    roots = [_jwk(r) for r in root.published(now=ts) if r.state != "withdrawn"]
    if version is None:
        version = next_version(root.directory / "trustlist.version")
    payload = {
        "version": version,
        "issued_at": ts,
        "expires": ts + valid_days * 86400,
        "roots": roots,
        "bundle_signers": bundle_signers,
        "rule_signers": rule_signers,
        "authorities": [authorities[k] for k in sorted(authorities)],
    }
    try:
        key = root.signing_key(sign_with) if sign_with is not None else root.active()
    except KeyRingError as e:
        raise ServiceError("key_not_found", f"no usable root key {sign_with}: {e}", 404) from e
    return sign_compact(key, typ=TRUST_LIST_TYP, payload=json_compact(payload))


class TrustNetwork:
    """The server's part: rule keys, published trust list and rules, the bundle."""

    def __init__(self, service: IssuingService) -> None:
        self.service = service
        self.dir = service.settings.data_dir / "trust"
        self._lock = threading.Lock()
        #: The bundle and the index as last read or made, by name ("bundle", "index").
        self._made: dict[str, _Made] = {}
        #: How many times the bundle or the index was derived from the store (read by tests and the benchmark).
        self.derivations = 0
        self._trust_cache: tuple[str, TrustList] | None = None  # (trust list and roots digest, verified)
        self.verifier = SharedVerifier(self)

    # -- keys ------------------------------------------------------------------
    @property
    def bundle_ring(self) -> KeyRing:
        """Return the online bundle-signing key ring."""
        return self.service.ring("_bundle")

    def rules_ring(self, province: str) -> KeyRing:
        """Return a province's rule-signing key ring (encrypted like the authorities' keys)."""
        return self.service.ring(f"_rules/{province}")

    def bundle_signers(self, *, now: dt.datetime) -> list[dict[str, Any]]:
        """Return the public keys that may sign bundles (for the trust list)."""
        self.bundle_ring.ensure(now=_ts(now))
        return [_jwk(r) for r in self.bundle_ring.published(now=_ts(now)) if r.state != "withdrawn"]

    def roots(self) -> list[dict[str, Any]]:
        """Return the root keys this server trusts for its own online verification."""
        from hcert_verifier import load_roots

        path = self.dir / "roots.json"
        if not path.exists():
            path = self.service.settings.data_dir / "root" / "roots.json"
        return load_roots(path)

    # -- publishing --------------------------------------------------------------
    def publish_trust_list(self, token: str) -> None:
        """Install a root-signed trust list (made by ``hcert trust sign``) for the bundle.

        A trust list whose version is lower than the published one's, or equal
        with other content, is refused (409 ``trust_list_rollback``): devices
        would refuse every bundle carrying it.
        """
        token = token.strip()
        try:
            version = _payload(token, "trust list").get("version")
        except (IndexError, HcertError) as e:
            raise ServiceError("invalid_trust_list", "not an hcert trust list token", 422) from e
        if type(version) is not int:
            raise ServiceError("invalid_trust_list", "the trust list has no integer version", 422)
        self.dir.mkdir(parents=True, exist_ok=True)
        with locked(self.dir / "trustlist.lock"):
            path = self.dir / "trustlist.jwt"
            if path.exists():
                current = path.read_text("ascii").strip()
                current_version = _payload(current, "trust list").get("version")
                if isinstance(current_version, int) and (
                    version < current_version or (version == current_version and token != current)
                ):
                    raise ServiceError(
                        "trust_list_rollback",
                        f"trust list version {version} does not supersede the published version {current_version}",
                        409,
                    )
            write_atomic(path, (token + "\n").encode("ascii"), mode=0o644)
        self.service.trust_changed()

    def publish_verified(self, token: str, *, roots: list[dict[str, Any]] | None, now: dt.datetime) -> int:
        """Check a trust list as a device would, then install it (and ``roots`` as this server's pins).

        The signature must chain to ``roots`` (default: the roots this server
        already pins); its version must not be older than the published one (an
        equal version must be the same list); and the bundle this server would
        then serve must load on a device pinning those roots (this server's
        bundle signer listed, every rule and status list verifying). Returns the
        version. Raises :class:`ServiceError` ``trust_list_invalid`` (422) and
        changes nothing when any check fails.
        """
        from hcert_verifier import BundleError, HcertError
        from hcert_verifier.trustlist import TrustList

        token = token.strip()
        if roots is None:
            try:
                roots = self.roots()
            except BundleError as e:
                raise ServiceError(
                    "trust_list_invalid", "this server pins no roots yet: give --roots roots.json", 422
                ) from e
        try:
            candidate = TrustList.load(token, roots)
        except HcertError as e:
            raise ServiceError("trust_list_invalid", f"not signed by a pinned root: {e.reason}", 422) from e
        current = self._published_version()
        if current is not None and (
            candidate.version < current[0] or (candidate.version == current[0] and token != current[1])
        ):
            raise ServiceError(
                "trust_list_invalid",
                f"version {candidate.version} does not replace the published version {current[0]}",
                422,
            )
        try:
            bundle_token = self._make_bundle(token, now=now, verified=candidate, version=0)
            Bundle.load(bundle_token, roots)
        except (TrustError, VerificationError) as e:  # the material; a store or key failure is not the list's
            raise ServiceError(
                "trust_list_invalid", f"devices would refuse the bundle made with it: {e.reason}", 422
            ) from e
        self.publish_trust_list(token)
        if roots is not None:
            write_atomic(self.dir / "roots.json", json.dumps({"roots": roots}, indent=2).encode())
            self.service.trust_changed()
        return candidate.version

    def _published_version(self) -> tuple[int, str] | None:
        path = self.dir / "trustlist.jwt"
        if not path.exists():
            return None
        token = path.read_text("ascii").strip()
        from hcert_verifier import HcertError, b64url_decode, inflate, json_object

        try:
            payload = json_object(inflate(b64url_decode(token.split(".")[1], "trust list"), 64 << 20), "trust list")
        except (HcertError, IndexError):  # a damaged published file is replaced by a good one
            return None
        version = payload.get("version")
        return (version, token) if type(version) is int else None

    def sign_rules(self, province: str, rules: dict[str, Any], *, now: dt.datetime) -> str:
        """Validate a province's rules, sign them with its rule key and publish them.

        The version comes from the province's durable counter
        (``trust/rules/<province>.version``); a ``version`` in ``rules`` is ignored.
        """
        body = {**rules, "province": province, "issued_at": _ts(now), "version": 0}
        try:
            RuleSet.from_payload(body)
        except TrustError as e:
            raise ServiceError("invalid_rules", e.reason, 422) from e
        ring = self.rules_ring(province)
        ring.ensure(now=_ts(now))
        folder = self.dir / "rules"
        folder.mkdir(parents=True, exist_ok=True)
        with locked(folder / f"{province}.lock"):
            body["version"] = next_version(folder / f"{province}.version")
            token = sign_compact(ring.active(), typ=RULES_TYP, payload=json_compact(body))
            write_atomic(folder / f"{province}.jwt", (token + "\n").encode("ascii"), mode=0o644)
        self.service.trust_changed()
        return token

    def trust_list(self) -> str:
        """Return the published trust list; 503 when none is published yet."""
        path = self.dir / "trustlist.jwt"
        if not path.exists():
            raise ServiceError(
                "no_trust_list",
                "no trust list is published: sign one with `hcert trust sign` and install it with"
                " `hcert trust publish` (or `trust sign --publish`)",
                503,
            )
        return path.read_text("ascii").strip()

    @staticmethod
    def _listed_kids(trust_list: str) -> set[str]:
        # Our own published file: read to choose keys, not trusted for anything.
        from hcert_verifier import b64url_decode, inflate, json_object

        payload = json_object(inflate(b64url_decode(trust_list.split(".")[1], "trust list"), 64 << 20), "trust list")
        return {k["kid"] for a in payload.get("authorities", []) for k in a.get("keys", [])}

    def _withdrawn(self) -> list[dict[str, Any]]:
        out = []
        for a in self.service.store.list_authorities():
            for r in self.service.ring(a.code).records:
                if r.state == "withdrawn":
                    out.append({"kid": r.kid, "iss": a.code, "at": r.withdrawn, "reason": r.reason})
        return out

    def _list_kid(self, code: str, listed: set[str]) -> str | None:
        """Return the key that signs authority ``code``'s status lists in a bundle, or ``None`` for none.

        The newest usable key the devices already trust, so that a rotation or
        withdrawal never leaves a list they cannot check. Only the active key has a
        private part (a retired key's is deleted at retirement).
        """
        usable = [r.kid for r in self.service.ring(code).records if r.state == "active" and r.kid in listed]
        return usable[0] if usable else None

    def _verified_trust(self, trust: str) -> TrustList | None:
        """Return the published trust list verified with the pinned roots; ``None`` without pins."""
        from hcert_verifier import HcertError
        from hcert_verifier.trustlist import TrustList

        try:
            roots = self.roots()
        except HcertError:
            return None
        key = hashlib.sha256(json.dumps([trust, roots], sort_keys=True).encode()).hexdigest()
        cached = self._trust_cache
        if cached is None or cached[0] != key:
            try:
                cached = self._trust_cache = (key, TrustList.load(trust, roots))
            except HcertError:
                return None
        return cached[1]

    def _contents(
        self, trust: str, *, now: dt.datetime, verified: TrustList | None
    ) -> tuple[list[str], list[str], list[str], list[dict[str, Any]]]:
        """Return (rules, status lists, their versions, withdrawals) for a bundle carrying ``trust``."""
        from .network import remote_status_lists, verified_rules

        rules = (
            sorted(p.read_text("ascii").strip() for p in (self.dir / "rules").glob("*.jwt"))
            if (self.dir / "rules").exists()
            else []
        )
        listed = self._listed_kids(trust)
        lists = []
        versions = []
        for a in self.service.store.list_authorities():
            kid = self._list_kid(a.code, listed)
            if kid is None:
                continue
            for lst in self.service.store.status_lists(a.code):
                token, _, version = self.service.versioned_status_list(a.code, lst, now=now, kid=kid)
                lists.append(token)
                versions.append(json.dumps([a.code, lst, version, kid]))
        if verified is not None:
            # Other servers' material (hcert network pull), and only what devices accept under this trust list.
            rules = verified_rules(verified, rules)
            remote = remote_status_lists(self, verified, at=_ts(now))
            lists += remote
            versions += [hashlib.sha256(t.encode()).hexdigest() for t in remote]
        return rules, lists, versions, self._withdrawn()

    def _make_bundle(self, trust: str, *, now: dt.datetime, verified: TrustList | None, version: int) -> str:
        rules, lists, _, withdrawn = self._contents(trust, now=now, verified=verified)
        return self._sign_bundle(trust, rules, lists, withdrawn, version=version, now=now)

    def _sign_bundle(
        self,
        trust: str,
        rules: list[str],
        lists: list[str],
        withdrawn: list[dict[str, Any]],
        *,
        version: int,
        now: dt.datetime,
        issued_at: int | None = None,
    ) -> str:
        """Sign a bundle and return its hcert-bundle/2 envelope (docs/FORMAT.md section 7.1)."""
        ts = _ts(now)
        issued = ts if issued_at is None else issued_at
        payload = {
            "format": BUNDLE_FORMAT,
            "version": version,
            "issued_at": issued,
            "expires": issued + BUNDLE_VALIDITY,
            "trust_list": {"version": _payload(trust, "trust list").get("version"), "sha256": sha256_text(trust)},
            "rules": rules,
            "status_lists": lists,
            "withdrawn": withdrawn,
        }
        self.bundle_ring.ensure(now=ts)
        token = sign_compact(self.bundle_ring.active(), typ=BUNDLE_TYP, payload=json_compact(payload))
        return json_compact({"format": BUNDLE_FORMAT, "trust_list": trust, "bundle": token}).decode("ascii")

    def bundle(self, *, now: dt.datetime, derive: bool = False) -> tuple[str, str]:
        """Return the current bundle envelope and its ETag, re-made when anything in it changed or it aged.

        The bundle lives in ``trust/bundle.json`` with its version in
        ``trust/bundle.state.json``, both replaced under ``trust/bundle.lock``,
        so every instance sharing the data folder serves the same bundle and the
        version only ever goes up. Served from memory as :data:`SERVED_MAX_AGE`
        says, unless ``derive``.
        """
        return self._current("bundle", self._sign_bundle, now=now, made=("bundle.json",), derive=derive)

    # -- the index of parts (docs/FORMAT.md section 7.4) -------------------------------
    def index(self, *, now: dt.datetime) -> tuple[str, str]:
        """Return the current index envelope (``hcert-index/1``) and its ETag; re-made as the bundle is.

        Every part it names is in ``trust/parts/<address>`` before the index is
        written (``trust/index.json``, its version in ``trust/index.state.json``,
        under ``trust/index.lock``), so a device that has the index finds every part.
        """
        return self._current("index", self._sign_index, now=now, made=("index.json", "index.pack.gz"))

    def _current(
        self, name: str, sign: Callable[..., str], *, now: dt.datetime, made: tuple[str, ...], derive: bool = False
    ) -> tuple[str, str]:
        """Return ``trust/<name>.json`` and its ETag, first signing a new one (``sign``) when its contents
        changed, it is :data:`BUNDLE_REFRESH` seconds old, or a file in ``made`` is missing.

        Its version and the digest of its contents are in ``trust/<name>.state.json``;
        both files are replaced under ``trust/<name>.lock``. Without ``derive``,
        the one this process last made or read is served from memory while the
        change signal has not moved, the state file is still the one it read (no
        other instance made a newer one), it was derived less than
        :data:`SERVED_MAX_AGE` seconds ago and is younger than :data:`BUNDLE_REFRESH`.
        """
        ts = _ts(now)
        state_path, envelope_path = self.dir / f"{name}.state.json", self.dir / f"{name}.json"
        held = self._made.get(name)
        if (
            not derive
            and held is not None
            and self.verifier.watching  # the signal is being read (the app runs SharedVerifier.watch)
            and held.signal == self.verifier._signal()
            and 0 <= ts - held.derived_at < SERVED_MAX_AGE
            and ts - held.made_at < BUNDLE_REFRESH
            and _stamp(state_path) == held.stamp
        ):
            return held.envelope, held.etag
        self.derivations += 1
        # The signal is read before the contents: a change made meanwhile moves it past what is recorded.
        self.verifier.poll()
        signal = self.verifier._signal()
        trust = self.trust_list()
        rules, lists, versions, withdrawn = self._contents(trust, now=now, verified=self._verified_trust(trust))
        digest = hashlib.sha256(json.dumps([trust, rules, versions, withdrawn], sort_keys=True).encode()).hexdigest()
        with self._lock, locked(self.dir / f"{name}.lock"):
            try:
                state = json.loads(state_path.read_text("utf-8"))
            except FileNotFoundError:
                state = {"version": 0, "issued_at": 0, "made_at": 0, "digest": ""}
            except ValueError as e:
                raise ServiceError(f"{name}_state_damaged", f"{state_path} is damaged", 503) from e
            complete = all((self.dir / f).exists() for f in made)
            if state["digest"] == digest and ts - state["made_at"] < BUNDLE_REFRESH and complete:
                if held is not None and held.version == state["version"]:
                    envelope, etag = held.envelope, held.etag
                else:
                    envelope = envelope_path.read_text("ascii")
                    etag = _etag(envelope)
            else:
                version = int(state["version"]) + 1
                issued_at = max(ts, int(state["issued_at"]))  # never earlier than one already out
                envelope = sign(trust, rules, lists, withdrawn, version=version, now=now, issued_at=issued_at)
                etag = _etag(envelope)
                write_atomic(envelope_path, envelope.encode("ascii"), mode=0o644)
                state = {"version": version, "issued_at": issued_at, "made_at": ts, "digest": digest}
                write_atomic(state_path, json.dumps(state).encode())
            self._made[name] = _Made(
                int(state["version"]), envelope, etag, int(state["made_at"]), signal, ts, _stamp(state_path)
            )
            return envelope, etag

    def _put_part(self, data: bytes) -> str:
        address = part_address(data)
        path = self.dir / "parts" / address
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, data, mode=0o644)
        return address

    def _stable_list(self, token: str, *, now: int, vouched: tuple[int, int] | None = None) -> str:
        """Return the status list token the index names for this list: the last one, unless it is out of date.

        Parts are addressed by their bytes, so a list that did not change must keep
        its bytes for a day's resync to skip it: the token in the last index is kept
        while it has the same ``version`` and signing key and more than half of
        ``HCERT_STATUS_VALIDITY`` left before its ``exp`` or, when a freshness
        statement of its province vouches for it (docs/FORMAT.md section 7.5;
        ``vouched``: the statement's ``issued_at`` and ``expires``), more than half
        of the statement's validity left before its ``expires``: a device that
        takes this index can check the list offline for at least that long either
        way. A province renews its statement once a quarter of its validity has
        passed, so a pulled one is renewed well before it stops keeping the bytes.
        """
        sub, version, _, kid = _list_facts(token)
        path = self.dir / "index-lists" / hashlib.sha256(sub.encode()).hexdigest()
        try:
            held = path.read_text("ascii")
        except FileNotFoundError:
            held = ""
        if held:
            _, held_version, held_exp, held_kid = _list_facts(held)
            own = held_exp - now > self.service.settings.status_list_validity // 2
            by_statement = vouched is not None and vouched[1] - now > (vouched[1] - vouched[0]) // 2
            if (held_version, held_kid) == (version, kid) and (own or by_statement):
                return held
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, token.encode("ascii"))
        return token

    def _statements(self, trust: str, lists: list[str], *, now: int) -> dict[str, str]:
        """Return, by province, the freshness statements the index over ``lists`` carries (docs/FORMAT.md 7.5).

        This server's own (:meth:`statement`) for each province whose rule key it
        holds and the trust list names, and, for the others, the one pulled from the
        province's server (``hcert network pull``), unexpired and verified under the
        current trust list. Either only when it speaks of exactly the province's
        lists in ``lists``: one that does not (a list pulled since, an authority
        whose key the trust list does not name yet) is left out, and so those lists
        stand on their own ``exp``.
        """
        from .network import pulled_fresh_dir

        held: dict[str, list[tuple[str, Any]]] = {}
        for sub, version, _, _ in map(_list_facts, lists):
            held.setdefault(_province_of_sub(sub), []).append((sub, version))
        verified = self._verified_trust(trust)
        out = {}
        for province, mine in sorted(held.items()):
            token = None
            try:
                token = self.statement(province, now=now, trust=trust)
            except ServiceError as e:
                if e.status != 404:  # a damaged counter, a store outage: the lists stand on their own exp
                    log.warning("no freshness statement of province %s: %s: %s", province, e.code, e.message)
            if token is None and verified is not None:
                try:
                    token = (pulled_fresh_dir(self) / f"{province}.jwt").read_text("ascii").strip()
                except (OSError, UnicodeDecodeError):
                    token = None
            if token is None:
                continue
            try:
                # As a device will check it: a statement the index carries must never make it refuse the index.
                body = verified.open_freshness(token) if verified is not None else _payload(token, "statement")
            except HcertError as e:
                log.warning("freshness statement of province %s left out: %s", province, e)
                continue
            if (
                body.get("province") == province
                and body.get("issued_at", now) <= now + CLOCK_LEEWAY  # a device refuses one from the future
                and body.get("expires", 0) > now
                and body.get("lists") == freshness_digest(mine)
            ):
                out[province] = token
        return out

    def statement_in(self, envelope: str, province: str) -> str | None:
        """Return the province's freshness statement in an index envelope this server made, or ``None``."""
        for token in _payload(json.loads(envelope)["index"], "index").get("fresh", []):
            if _payload(token, "freshness statement").get("province") == province:
                return str(token)
        return None

    def statement(self, province: str, *, now: int, trust: str | None = None) -> str:
        """Return this server's freshness statement over its own status lists of ``province``.

        The lists are those this server's bundles carry for the province: every
        list of every authority on this server whose code begins with the province
        code and whose active key the trust list ``trust`` (default: the published
        one) names, with their versions from the store. The statement is signed by
        the province's active rule key, and only when the trust list names that key
        (a device could not check it otherwise). A province's server that publishes
        no trust list itself (the distribution server checks what it pulls) states
        every list of the province's authorities here. The last statement
        (``trust/fresh/<province>.jwt``) is kept while it speaks of the same lists
        and versions, verifies with the active rule key, is not dated after ``now``
        and has more than three quarters of its validity left (renewed early, so
        that a copy pulled by a distribution server keeps the lists' bytes until the
        next pull brings the new one: :meth:`_stable_list`); otherwise a new one is signed, its version from the
        province's counter ``trust/fresh/<province>.version``, under
        ``trust/fresh/<province>.lock``. Raises :class:`ServiceError`
        ``fresh_not_found`` (404) when this server holds no listed rule key of the
        province or no listed authority of it.
        """
        from .store import NotFound

        if not (self.service.settings.key_root / "_rules" / province).is_dir():
            raise ServiceError("fresh_not_found", f"this server holds no rule key of province {province}", 404)
        if trust is None and (self.dir / "trustlist.jwt").exists():
            trust = self.trust_list()
        try:
            key = self.rules_ring(province).active()
        except KeyRingError as e:
            raise ServiceError("fresh_not_found", f"no active rule key of province {province}: {e}", 404) from e
        listed = None
        if trust is not None:
            if key.kid not in self._listed_rule_kids(trust).get(province, set()):
                raise ServiceError(
                    "fresh_not_found",
                    f"the trust list does not name province {province}'s active rule key {key.kid}",
                    404,
                )
            listed = self._listed_kids(trust)
        held = []
        for a in self.service.store.list_authorities():
            if a.code.startswith(province) and (listed is None or self._list_kid(a.code, listed) is not None):
                for lst in self.service.store.status_lists(a.code):
                    try:
                        _, version = self.service.store.status_bits(a.code, lst, list_size=STATUS_LIST_SIZE)
                    except NotFound:
                        continue
                    held.append((status_list_uri(self.service.settings.base_url, a.code, lst), version))
        if not held:
            raise ServiceError("fresh_not_found", f"this server has no status lists of province {province}", 404)
        digest = freshness_digest(held)
        validity = min(self.service.settings.status_list_validity, MAX_FRESH_VALIDITY)
        folder = self.dir / "fresh"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{province}.jwt"
        with locked(folder / f"{province}.lock"):
            last = _held_statement(path, key)
            if last is not None:
                said = last[1]
                span = said["expires"] - said["issued_at"]
                if said["lists"] == digest and said["issued_at"] <= now and said["expires"] - now > span * 3 // 4:
                    return last[0]
            payload = {
                "format": FRESH_FORMAT,
                "province": province,
                "version": next_version(folder / f"{province}.version"),
                "issued_at": now,
                "expires": now + validity,
                "lists": digest,
            }
            token = sign_compact(key, typ=FRESH_TYP, payload=json_compact(payload))
            write_atomic(path, (token + "\n").encode("ascii"), mode=0o644)
            return token

    @staticmethod
    def _listed_rule_kids(trust_list: str) -> dict[str, set[str]]:
        # Our own published file: read to choose keys, not trusted for anything.
        signers = _payload(trust_list, "trust list").get("rule_signers") or {}
        return {str(p): {k.get("kid") for k in keys} for p, keys in signers.items() if isinstance(keys, list)}

    def part(self, address: str) -> bytes:
        """Return a part by its address; 404 ``part_not_found`` when this server has none."""
        if len(address) != 43 or not set(address) <= _B64URL:
            raise ServiceError("part_not_found", "a part address is 43 base64url characters", 404)
        try:
            return (self.dir / "parts" / address).read_bytes()
        except FileNotFoundError as e:
            raise ServiceError("part_not_found", f"no part {address} here", 404) from e

    def _sign_index(
        self,
        trust: str,
        rules: list[str],
        lists: list[str],
        withdrawn: list[dict[str, Any]],
        *,
        version: int,
        now: dt.datetime,
        issued_at: int,
    ) -> str:
        """Store the parts, sign the index over them and return its envelope (docs/FORMAT.md section 7.4)."""
        statements = self._statements(trust, lists, now=_ts(now))
        spans = {p: _payload(t, "freshness statement") for p, t in statements.items()}
        vouched = {p: (int(b["issued_at"]), int(b["expires"])) for p, b in spans.items()}
        lists = [self._stable_list(t, now=_ts(now), vouched=vouched.get(_province_of(t))) for t in lists]
        fresh = [statements[p] for p in sorted(statements)]
        self.bundle_ring.ensure(now=_ts(now))
        envelope, parts = make_index(
            trust,
            rules,
            lists,
            withdrawn,
            key=self.bundle_ring.active(),
            version=version,
            issued_at=issued_at,
            expires=issued_at + BUNDLE_VALIDITY,
            fresh=fresh,
        )
        for data in parts.values():
            self._put_part(data)
        self._prune_parts(keep=set(parts), now=_ts(now))
        # The pack: this index and all its parts in one gzipped body, for a device with nothing in hand.
        pack = {"format": PACK_FORMAT, "index": envelope, "parts": [p.decode("ascii") for p in parts.values()]}
        write_atomic(self.dir / "index.pack.gz", gzip.compress(json_compact(pack), 9), mode=0o644)
        return envelope

    def pack(self, *, now: dt.datetime) -> tuple[bytes, str]:
        """Return the gzipped pack of the current index (``hcert-pack/1``) and the ETag of the index in it.

        A device stores that ETag as if it had fetched the index itself, so its
        next sync is a conditional ``GET /v1/index``.
        """
        self.index(now=now)
        with locked(self.dir / "index.lock"):  # the pack and the index are replaced together under this lock
            return (self.dir / "index.pack.gz").read_bytes(), _etag((self.dir / "index.json").read_text("ascii"))

    def _prune_parts(self, *, keep: set[str], now: int) -> None:
        """Delete parts no index has named for :data:`PART_RETENTION` seconds (a device mid-sync still finds them)."""
        for path in (self.dir / "parts").iterdir():
            if path.name in keep:
                os.utime(path, (now, now))  # named again: its retention starts over
            elif now - path.stat().st_mtime > PART_RETENTION:
                path.unlink(missing_ok=True)

    # -- development setup -----------------------------------------------------------
    def ensure_development_network(self, *, now: dt.datetime) -> Path | None:
        """On first run: a development root in ``<data>/root``, Guangdong's sample rules, a signed trust list.

        In production the root lives on an offline machine (docs/OPERATIONS.md).
        Returns the pinned-roots file devices need, when it was made now.
        """
        root_dir = self.service.settings.data_dir / "root"
        if (self.dir / "trustlist.jwt").exists():
            return None
        root = KeyRing(root_dir, keep_retired=True)
        root.ensure(now=_ts(now))
        (root_dir / "roots.json").write_text(
            json.dumps({"roots": [_jwk(r) for r in root.published(now=_ts(now))]}, indent=2)
        )
        self.rules_ring("44").ensure(now=_ts(now))
        self.sign_rules("44", SAMPLE_RULES, now=now)
        provinces = sorted({a.code[:2] for a in self.service.store.list_authorities()} | {"44"})
        for province in provinces:
            # Each province here has a rule key, so that it vouches for its lists (docs/FORMAT.md 7.5).
            self.rules_ring(province).ensure(now=_ts(now))
        subs = [export_submission(self.service, p, now=now) for p in provinces]
        self.publish_trust_list(sign_trust_list(root, subs, self.bundle_signers(now=now), now=now))
        return root_dir / "roots.json"


@dataclass(frozen=True)
class _Made:
    """A bundle or index as this process last made or read it, and what it was checked against."""

    version: int
    envelope: str
    etag: str
    made_at: int  # when it was signed (its state's made_at)
    signal: tuple[int, int]  # the change signal read before its contents were derived
    derived_at: int  # when this process last derived the contents and compared them
    stamp: tuple[int, int, int] | None  # the state file as read then (None: missing)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """Return what tells one version of a file from the next (replaced atomically: a new inode)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


@dataclass(frozen=True)
class BuiltVerifier:
    """The verifier made from one bundle, with the change signal it saw and the time it was made at."""

    generation: tuple[int, int]
    made_at: int
    bundle: Bundle
    verifier: Verifier


class SharedVerifier:
    """The online verifier behind ``POST /v1/verify``: made once per bundle change and shared by every request.

    The change signal is a counter in the store that ``IssuingService.trust_changed``
    adds one to at every status change, key withdrawal, trust list, rules or
    pulled list. :meth:`watch` (run by the app) reads it every
    :data:`VERIFIER_POLL` seconds, off the event loop; a change made in this
    process is seen at once. Requests only compare numbers in memory: when the
    signal moved, or the verifier is :data:`VERIFIER_MAX_AGE` seconds old, the
    bundle is derived again and a new verifier made (:meth:`rebuild`), once, for
    every waiting request. So a revocation made by another worker or another
    instance on the same store is seen within :data:`VERIFIER_POLL` seconds, and
    one made through this process by the next request. A certificate whose
    status list is newer than the verifier (its authority's first certificates
    in a new list) makes it rebuild once.
    """

    def __init__(self, network: TrustNetwork) -> None:
        self.network = network
        self._lock = threading.Lock()
        self._built: BuiltVerifier | None = None
        self._seen = -1  # the store's counter as last read (-1: not read yet)
        #: How many times a verifier was made (read by tests and the benchmark).
        self.builds = 0
        #: Whether :meth:`watch` runs, so that the signal as last read is recent.
        self.watching = False

    def _signal(self) -> tuple[int, int]:
        return self._seen, self.network.service.local_trust_changes

    def ready(self, *, now: dt.datetime) -> BuiltVerifier | None:
        """Return the current verifier without touching the store, or ``None`` when it must be rebuilt."""
        built = self._built
        if built is not None and self._seen >= 0 and _fresh(built, self._signal(), _ts(now)):
            return built
        return None

    def rebuild(self, *, now: dt.datetime, stale: BuiltVerifier | None = None) -> BuiltVerifier:
        """Make the verifier again unless another request just did; blocking (store and files).

        With ``stale``, rebuild unless the current verifier is already another one.
        """
        with self._lock:
            built = self._built
            if built is not None and (built is not stale if stale is not None else self.ready(now=now) is built):
                return built
            # The counter is read before the bundle is derived: a change made meanwhile
            # moves it past what this verifier records, and the next request rebuilds.
            self._seen = max(self._seen, self.network.service.store.generation(TRUST_GENERATION))
            signal = self._signal()
            envelope, _ = self.network.bundle(now=now, derive=True)
            if built is not None and built.bundle.raw == envelope:
                bundle = built.bundle
            else:
                try:
                    bundle = Bundle.load(envelope, self.network.roots())
                except HcertError as e:
                    # Our own bundle does not verify against our roots: a server fault, said truthfully.
                    raise ServiceError(
                        "bundle_unavailable", f"the server's bundle does not verify: {e.reason}", 503
                    ) from e
            self._built = BuiltVerifier(signal, _ts(now), bundle, Verifier.from_bundle(bundle))
            self.builds += 1
            return self._built

    def poll(self) -> None:
        """Read the store's change counter once (blocking; :meth:`watch` runs it in a thread)."""
        self._seen = max(self._seen, self.network.service.store.generation(TRUST_GENERATION))

    async def watch(self) -> None:
        """Poll the change counter every :data:`VERIFIER_POLL` seconds, until cancelled."""
        self.watching = True
        try:
            await self._watch()
        finally:
            self.watching = False

    async def _watch(self) -> None:
        import asyncio

        failing = False
        while True:
            try:
                await asyncio.to_thread(self.poll)
                if failing:
                    log.warning("the trust change signal is readable again")
                failing = False
            except Exception as e:  # a store fault: the next poll tries again
                if not failing:  # once per outage, not ten times a second
                    log.warning("reading the trust change signal failed (retrying quietly): %s", e)
                failing = True
            await asyncio.sleep(VERIFIER_POLL)

    def needs_new_list(self, built: BuiltVerifier, result: Result) -> bool:
        """Return whether ``result`` failed only because its status list started after ``built`` was made.

        Blocking (one store read), and asked only for a genuine certificate (its
        signature verified) whose list ``built`` lacks.
        """
        cert = result.certificate
        if result.code != StatusUnavailable.code or cert is None or cert.status is None:
            return False
        lst = cert.status.lst
        return built.bundle.status_list(cert.issuer, lst) is None and lst in self.network.service.store.status_lists(
            cert.issuer
        )

    def verify(self, qr: str, *, at: dt.datetime, now: dt.datetime, destination: str | None, checkpoint: str) -> Result:
        """Verify one QR text (or token) as ``hcert-verify`` would with the current bundle (blocking)."""
        built = self.ready(now=now) or self.rebuild(now=now)
        result = built.verifier.verify(qr, at=at, destination=destination, checkpoint=checkpoint)
        if self.needs_new_list(built, result):
            built = self.rebuild(now=now, stale=built)
            result = built.verifier.verify(qr, at=at, destination=destination, checkpoint=checkpoint)
        return result


def make_index(
    trust: str,
    rules: list[str],
    lists: list[str],
    withdrawn: list[dict[str, Any]],
    *,
    key: Any,
    version: int,
    issued_at: int,
    expires: int,
    fresh: list[str] | None = None,
) -> tuple[str, dict[str, bytes]]:
    """Sign an index of parts with bundle-signer ``key``; return its envelope and every part by address.

    Status lists go into :func:`shard_count` shard manifests by the SHA-256 of
    their ``sub`` (docs/FORMAT.md section 7.4); ``fresh`` are the provinces'
    freshness statements the index carries (section 7.5).
    """
    parts: dict[str, bytes] = {}

    def put(data: bytes) -> str:
        address = part_address(data)
        parts[address] = data
        return address

    shards: list[list[str]] = [[] for _ in range(shard_count(len(lists)))]
    for token in lists:
        # A list stays in its shard as long as the shard count holds: by its sub, not its content.
        shards[_shard_of(_payload_sub(token), len(shards))].append(put(token.encode("ascii")))
    manifests = [put(json_compact({"format": SHARD_FORMAT, "status_lists": sorted(shard)})) for shard in shards]
    payload = {
        "format": INDEX_FORMAT,
        "version": version,
        "issued_at": issued_at,
        "expires": expires,
        "trust_list": {"version": _payload(trust, "trust list").get("version"), "sha256": sha256_text(trust)},
        "rules": [put(r.encode("ascii")) for r in rules],
        "shards": manifests,
        "withdrawn": withdrawn,
    }
    if fresh:
        payload["fresh"] = fresh
    trust_address = put(trust.encode("ascii"))
    token = sign_compact(key, typ=INDEX_TYP, payload=json_compact(payload))
    envelope = json_compact({"format": INDEX_FORMAT, "trust_list": trust_address, "index": token}).decode("ascii")
    return envelope, parts


#: A part that the current index no longer names is deleted this long (seconds) after an
#: index last named it, so that a device that fetched an older index can still finish.
PART_RETENTION = 86400

#: Status lists per shard manifest. A day's resync fetches the index (one address per shard)
#: and every manifest a changed list is in: with n lists of which a fraction f changes a
#: day, about 32 * (n / k + f * n * k) bytes of addresses; least at k = sqrt(1 / f), 10 for
#: the 1% of lists that change on a typical day (docs/SCALE.md section 4).
LISTS_PER_SHARD = 10


def shard_count(lists: int) -> int:
    """Return how many shard manifests an index of ``lists`` status lists has (at least 1)."""
    return max(1, -(-lists // LISTS_PER_SHARD))


def _shard_of(sub: str, shards: int) -> int:
    return int.from_bytes(hashlib.sha256(sub.encode()).digest()[:4], "big") % shards


def _list_facts(token: str) -> tuple[str, Any, Any, Any]:
    # A status list this server serves (its own or pulled and verified): read to place
    # it, not trusted for anything. Returns (sub, version, exp, kid).
    from hcert_verifier import b64url_decode, json_object

    header, payload = token.split(".")[:2]
    body = json_object(b64url_decode(payload, "status list"), "status list")
    kid = json_object(b64url_decode(header, "status list header"), "status list header").get("kid")
    return str(body.get("sub", "")), body.get("version"), body.get("exp") or 0, kid


def _payload_sub(token: str) -> str:
    return _list_facts(token)[0]


def _province_of_sub(sub: str) -> str:
    # <base_url>/v1/status/<iss>/<lst>: an authority's id begins with its province's code.
    return sub.rsplit("/", 2)[-2][:2]


def _province_of(token: str) -> str:
    return _province_of_sub(_payload_sub(token))


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _held_statement(path: Path, key: Any) -> tuple[str, dict[str, Any]] | None:
    """Return this server's last freshness statement and its payload, verified with ``key`` (the active rule key).

    A missing, truncated or otherwise damaged file, or one another key signed, is
    no statement (a new one is signed), never an error on the index or
    ``/v1/fresh`` and never a statement a device would refuse.
    """
    try:
        token = path.read_text("ascii").strip()
        return token, open_freshness(token, lambda _: {key.kid: key.public_key})
    except (OSError, UnicodeDecodeError, HcertError):
        return None


def _fresh(built: BuiltVerifier, signal: tuple[int, int], now: int) -> bool:
    return built.generation == signal and 0 <= now - built.made_at < VERIFIER_MAX_AGE


def _etag(envelope: str) -> str:
    return '"' + hashlib.sha256(envelope.encode("ascii")).hexdigest()[:32] + '"'


#: Guangdong's sample rules (development): what a destination could publish.
SAMPLE_RULES: dict[str, Any] = {
    "checkpoints": {
        "gate": [
            {
                "id": "GD-G1",
                "type": "accept_kinds",
                "kinds": ["w"],
                "description": {
                    "zh": "工厂门口只认返岗复工健康证明",
                    "en": "Factory gates accept return-to-work certificates",
                },
            },
            {
                "id": "GD-G2",
                "type": "max_age_hours",
                "hours": 336,
                "description": {"zh": "签发不超过14天", "en": "Issued at most 14 days ago"},
            },
            {
                "id": "GD-G3",
                "type": "not_from_key_area",
                "areas": [{"prefix": "4201", "from": "2020-01-23", "to": "2020-04-08"}],
                "description": {"zh": "不来自重点疫区", "en": "Not from a key epidemic area"},
            },
            {
                "id": "GD-G4",
                "type": "destination_is_here",
                "open": "accept",
                "description": {"zh": "目的地为本省", "en": "Destined for this province"},
            },
        ],
        "highway": [
            {
                "id": "GD-H1",
                "type": "accept_kinds",
                "kinds": ["f", "w"],
                "description": {"zh": "货运检测或返岗证明", "en": "Freight test or return-to-work certificate"},
            },
            {
                "id": "GD-H2",
                "type": "test_within_hours",
                "hours": 48,
                "when": {"kinds": ["f"]},
                "description": {"zh": "核酸检测48小时内", "en": "Test sampled within 48 hours"},
            },
            {
                "id": "GD-H3",
                "type": "test_within_hours",
                "hours": 24,
                "when": {"kinds": ["f"], "origin_prefixes": ["42"]},
                "description": {"zh": "湖北来车检测24小时内", "en": "From Hubei: test within 24 hours"},
            },
        ],
    }
}
