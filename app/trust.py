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
import hashlib
import json
import threading
import urllib.parse
from pathlib import Path
from typing import Any

from hcert_verifier import (
    BUNDLE_TYP,
    MAX_TRUST_LIST_VALIDITY,
    RULES_TYP,
    TRUST_LIST_TYP,
    Bundle,
    HcertError,
    RuleSet,
    TrustError,
    json_compact,
)
from hcert_verifier._files import locked, write_atomic  # the device code's own, network-free helpers
from hcert_verifier.bundle import BUNDLE_FORMAT, MAX_BUNDLE_VALIDITY, sha256_text
from hcert_verifier.trustlist import TrustList
from keys import KeyRecord, KeyRing, KeyRingError, sign_compact

from .service import IssuingService, ServiceError

__all__ = [
    "BUNDLE_VALIDITY",
    "TRUST_LIST_VALID_DAYS",
    "TrustNetwork",
    "check_base_url",
    "export_submission",
    "next_version",
    "sign_trust_list",
]

#: A bundle is refused by devices this long after it was made (the format's maximum).
BUNDLE_VALIDITY = MAX_BUNDLE_VALIDITY
#: How long a trust list signed by ``hcert trust sign`` is valid by default (days);
#: devices refuse one valid longer than ``MAX_TRUST_LIST_VALIDITY`` (92 days).
TRUST_LIST_VALID_DAYS = 30
#: How often the server re-makes the bundle even when nothing changed (freshness).
BUNDLE_REFRESH = 3600


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
        self._bundle: tuple[int, str, str] | None = None  # (version, envelope, etag) as last read
        self._trust_cache: tuple[str, TrustList] | None = None  # (trust list and roots digest, verified)

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
        except HcertError as e:
            raise ServiceError(
                "trust_list_invalid", f"devices would refuse the bundle made with it: {e.reason}", 422
            ) from e
        self.publish_trust_list(token)
        if roots is not None:
            write_atomic(self.dir / "roots.json", json.dumps({"roots": roots}, indent=2).encode())
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
            # Sign with the newest usable key the devices already trust, so that a
            # rotation or withdrawal never leaves a list they cannot check.
            # Only the active key has a private part (a retired key's is deleted at retirement).
            usable = [r.kid for r in self.service.ring(a.code).records if r.state == "active" and r.kid in listed]
            if not usable:
                continue
            for lst in self.service.store.status_lists(a.code):
                token, _, version = self.service.versioned_status_list(a.code, lst, now=now, kid=usable[0])
                lists.append(token)
                versions.append(json.dumps([a.code, lst, version, usable[0]]))
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

    def bundle(self, *, now: dt.datetime) -> tuple[str, str]:
        """Return the current bundle envelope and its ETag, re-made when anything in it changed or it aged.

        The bundle lives in ``trust/bundle.json`` with its version in
        ``trust/bundle.state.json``, both replaced under ``trust/bundle.lock``,
        so every instance sharing the data folder serves the same bundle and the
        version only ever goes up.
        """
        ts = _ts(now)
        trust = self.trust_list()
        rules, lists, versions, withdrawn = self._contents(trust, now=now, verified=self._verified_trust(trust))
        digest = hashlib.sha256(json.dumps([trust, rules, versions, withdrawn], sort_keys=True).encode()).hexdigest()
        state_path, envelope_path = self.dir / "bundle.state.json", self.dir / "bundle.json"
        with self._lock, locked(self.dir / "bundle.lock"):
            try:
                state = json.loads(state_path.read_text("utf-8"))
            except FileNotFoundError:
                state = {"version": 0, "issued_at": 0, "made_at": 0, "digest": ""}
            except ValueError as e:
                raise ServiceError("bundle_state_damaged", f"{state_path} is damaged", 503) from e
            if state["digest"] == digest and ts - state["made_at"] < BUNDLE_REFRESH and envelope_path.exists():
                cached = self._bundle
                if cached is None or cached[0] != state["version"]:
                    envelope = envelope_path.read_text("ascii")
                    cached = self._bundle = (state["version"], envelope, _etag(envelope))
                return cached[1], cached[2]
            version = int(state["version"]) + 1
            issued_at = max(ts, int(state["issued_at"]))  # never earlier than a bundle already out
            envelope = self._sign_bundle(trust, rules, lists, withdrawn, version=version, now=now, issued_at=issued_at)
            write_atomic(envelope_path, envelope.encode("ascii"), mode=0o644)
            state = {"version": version, "issued_at": issued_at, "made_at": ts, "digest": digest}
            write_atomic(state_path, json.dumps(state).encode())
            self._bundle = (version, envelope, _etag(envelope))
            return envelope, self._bundle[2]

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
        subs = [export_submission(self.service, p, now=now) for p in provinces]
        self.publish_trust_list(sign_trust_list(root, subs, self.bundle_signers(now=now), now=now))
        return root_dir / "roots.json"


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
