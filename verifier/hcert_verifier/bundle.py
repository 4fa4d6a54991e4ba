"""The offline trust bundle: trust list, destination rules and status lists in one signed file.

The file is a small JSON envelope (``docs/FORMAT.md`` section 7)::

    {"format": "hcert-bundle/2", "trust_list": "<JWS>", "bundle": "<JWS>"}

Chain of trust, checked on load, each signature before the bytes it covers
are inflated or parsed:

1. the **trust list** beside the bundle is signed by a national root key the
   device has pinned (``roots.json``);
2. the trust list names the **bundle signers**; the bundle token must be
   signed by one of them (an online key, so that status lists can be
   refreshed without taking the root out of its safe), and it names the trust
   list's version and SHA-256, so the two travel as a pair;
3. each province's **rules** are signed by a rule key the trust list names for
   that province;
4. each **status list** is signed by a non-withdrawn key of its own authority,
   and its ``sub`` is exactly ``<base_url>/v1/status/<iss>/<lst>`` with the
   base URL the trust list gives that authority (no other server can stand in
   for it).

Anything that fails refuses the whole bundle, so a device keeps its last good
one. Versions against what the device accepted before are checked by
:mod:`hcert_verifier.state`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from ._codec import b64url_decode, b64url_encode, inflate, json_object
from ._errors import (
    BundleError,
    BundleValidityTooLong,
    HcertError,
    PartMismatch,
    PartMissing,
    TrustError,
    TrustListValidityTooLong,
)
from ._jwk import KID_LENGTH, kid_for, public_key_from_jwk
from ._jws import check_header, split_token, verify_es256
from .rules import RuleSet
from .status import StatusList, status_list_uri
from .trust import TrustedKey, index_keys

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_TYP",
    "FRESH_FORMAT",
    "FRESH_TYP",
    "INDEX_FORMAT",
    "INDEX_TYP",
    "MAX_BUNDLE_VALIDITY",
    "MAX_FRESH_VALIDITY",
    "MAX_TRUST_LIST_VALIDITY",
    "PACK_FORMAT",
    "RULES_TYP",
    "SHARD_FORMAT",
    "STALE_AFTER",
    "TRUST_LIST_TYP",
    "Authority",
    "Bundle",
    "freshness_digest",
    "load_roots",
    "open_freshness",
    "open_signed",
    "part_address",
]

BUNDLE_TYP = "hcert-bundle"
TRUST_LIST_TYP = "hcert-trustlist"
RULES_TYP = "hcert-rules"
#: Past this age (seconds) a verdict carries the warning ``bundle_stale``.
STALE_AFTER = 48 * 3600
#: The ``format`` of the envelope and of the bundle payload.
BUNDLE_FORMAT = "hcert-bundle/2"
#: Longest a bundle may be valid: ``expires - issued_at`` (seconds). A device
#: refuses a bundle that claims more, so a stolen bundle-signer key cannot make
#: one bundle outlive this.
MAX_BUNDLE_VALIDITY = 7 * 86400
#: Longest a trust list may be valid: its ``expires - issued_at`` (seconds, 92
#: days). A device refuses one that claims more, so even a re-wrapped old trust
#: list stops working at most this long after the root signed it.
MAX_TRUST_LIST_VALIDITY = 92 * 86400
MAX_BUNDLE = 64 * 1024 * 1024
#: Largest trust list token, and its largest inflated payload.
MAX_TRUST_LIST = 8 * 1024 * 1024
#: The index of parts (docs/FORMAT.md section 7.4): its envelope's and payload's ``format``,
#: its ``typ``, and the ``format`` of a shard manifest.
INDEX_FORMAT = "hcert-index/1"
INDEX_TYP = "hcert-index"
SHARD_FORMAT = "hcert-shard/1"
#: The ``format`` of a pack: an index with every part it names, in one body (a first sync).
PACK_FORMAT = "hcert-pack/1"
#: Largest index envelope, and largest part (a trust list is the largest kind).
MAX_INDEX = 1024 * 1024
MAX_PART = MAX_TRUST_LIST
#: Most parts one index may name (rules, shards and status lists together).
MAX_PARTS = 65536
#: A freshness statement (docs/FORMAT.md section 7.5): a province vouches, with its rule
#: key, that its status lists in an index are still current, so that a list that did not
#: change keeps its bytes (its part) instead of being re-signed for its ``exp``.
FRESH_FORMAT = "hcert-fresh/1"
FRESH_TYP = "hcert-fresh"
#: Longest a freshness statement may be valid (``expires - issued_at``, seconds): what a
#: status list's own validity bounds without one (``HCERT_STATUS_VALIDITY``'s default).
MAX_FRESH_VALIDITY = 7 * 86400
#: Most freshness statements one index may carry (one per province).
MAX_FRESH = 256
_FRESH_MEMBERS = frozenset({"format", "province", "version", "issued_at", "expires", "lists"})
_INDEX_ENVELOPE = frozenset({"format", "trust_list", "index"})
_ENVELOPE = frozenset({"format", "trust_list", "bundle"})
_HEADER = frozenset({"alg", "kid", "typ", "zip"})


def _keys_by_kid(jwks: Iterable[Any], what: str) -> dict[str, ec.EllipticCurvePublicKey]:
    out = {}
    for jwk in jwks:
        key = public_key_from_jwk(jwk)
        kid = kid_for(key)
        if jwk.get("kid", kid) != kid:
            raise BundleError(f"{what}: kid {jwk.get('kid')!r} is not its key's")
        out[kid] = key
    return out


def open_signed(
    token: str,
    keys: Mapping[str, ec.EllipticCurvePublicKey],
    *,
    typ: str,
    what: str,
    limit: int = MAX_BUNDLE,
) -> dict[str, Any]:
    """Verify an hcert signed object (ES256, zip DEF, this typ) with one of ``keys``; return its payload.

    The signature is checked before the payload is inflated (at most ``limit``
    bytes) or parsed. Raises :class:`BundleError` naming ``what`` and the defect.
    """
    if not isinstance(token, str) or len(token) > limit:
        raise BundleError(f"{what} is not a compact JWS of at most {limit} characters")
    try:
        jws = split_token(token, limit=limit)
        unverified_header = check_header(jws.header_segment, typ=typ, allowed=_HEADER, kid_length=KID_LENGTH)
        key = keys.get(unverified_header["kid"])
        if key is None:
            raise BundleError(f"{what} is signed by key {unverified_header['kid']}, which is not trusted for it")
        verify_es256(key, jws.signing_input, jws.signature, allow_high_s=False)
        return json_object(inflate(b64url_decode(jws.payload_segment, what), limit), what)
    except BundleError:
        raise
    except HcertError as e:
        raise BundleError(f"{what}: {e.code}: {e.reason}") from e


def check_trust_list_times(trust: Mapping[str, Any]) -> tuple[int, int]:
    """Check a trust list payload's ``version``, ``issued_at`` and ``expires``; return version and expires.

    ``expires`` must be later than ``issued_at`` and at most
    :data:`MAX_TRUST_LIST_VALIDITY` after it. Raises :class:`BundleError`
    (:class:`TrustListValidityTooLong` for a longer validity).
    """
    for name in ("version", "issued_at", "expires"):
        if type(trust.get(name)) is not int or trust[name] < 0:
            raise BundleError(f"trust list {name} must be a non-negative integer")
    if trust["expires"] <= trust["issued_at"]:
        raise BundleError("trust list expires before it is issued")
    if trust["expires"] - trust["issued_at"] > MAX_TRUST_LIST_VALIDITY:
        raise TrustListValidityTooLong(
            f"trust list is valid {trust['expires'] - trust['issued_at']} s; at most {MAX_TRUST_LIST_VALIDITY} s"
        )
    return trust["version"], trust["expires"]


def load_roots(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a pinned-roots file ``{"roots": [JWK, ...]}``; raise :class:`BundleError`."""
    try:
        with open(path, "rb") as f:
            roots = json.loads(f.read(1024 * 1024)).get("roots")
    except (OSError, ValueError, AttributeError) as e:
        raise BundleError(f"cannot read pinned roots from {os.fspath(path)!r}") from e
    if not isinstance(roots, list) or not roots:
        raise BundleError("the pinned roots file holds no roots")
    _keys_by_kid(roots, "pinned roots")
    return roots


def sha256_text(text: str) -> str:
    """Return the base64url SHA-256 of an ASCII token, as bundles name the trust list."""
    return b64url_encode(hashlib.sha256(text.encode("ascii")).digest())


def part_address(data: bytes) -> str:
    """Return a part's address: the unpadded base64url SHA-256 of its bytes (43 characters)."""
    return b64url_encode(hashlib.sha256(data).digest())


#: Returns the bytes of each part asked for, by address (all of them at once, so that a
#: device can fetch them in parallel); raises :class:`PartMissing` when one is not at hand.
PartSource = Callable[[Sequence[str]], Mapping[str, bytes]]


def is_address(text: object) -> bool:
    """Whether ``text`` is a part address: 43 base64url characters (and so never a path)."""
    return isinstance(text, str) and _ADDRESS.fullmatch(text) is not None


_ADDRESS = re.compile(r"[A-Za-z0-9_-]{43}")


def _part_texts(parts: PartSource, addresses: Sequence[Any], what: str, spent: list[int]) -> list[str]:
    """Get parts and check each against its address; return them as text, in order.

    ``spent`` carries the bytes taken so far by one index: all its parts together
    are held to :data:`MAX_BUNDLE`, as a bundle is.
    """
    for address in addresses:
        if not is_address(address):
            raise BundleError(f"{what} is not named by a 43-character SHA-256 address")
    if len(addresses) > MAX_PARTS:
        raise BundleError(f"an index names more than {MAX_PARTS} parts")
    got = parts(list(dict.fromkeys(addresses)))
    out = []
    for address in addresses:
        data = got.get(address)
        if data is None:
            raise PartMissing(f"{what} {address} is not at hand")
        if len(data) > MAX_PART:
            raise PartMismatch(f"{what} ({address}) is larger than {MAX_PART} bytes")
        spent[0] += len(data)
        if spent[0] > MAX_BUNDLE:
            raise BundleError(f"the parts of an index hold more than {MAX_BUNDLE} bytes")
        if part_address(data) != address:
            raise PartMismatch(f"{what} does not match its address {address}")
        try:
            out.append(data.decode("ascii"))
        except UnicodeDecodeError as e:
            raise BundleError(f"{what} ({address}) is not ASCII") from e
    return out


@dataclass(frozen=True)
class Authority:
    """An issuing authority as the trust list describes it."""

    id: str
    name_zh: str
    name_en: str
    regions: tuple[str, ...]
    kinds: frozenset[str]
    #: Where the authority's server publishes its status lists (https, or http to a loopback host).
    base_url: str = ""


@dataclass(frozen=True)
class Versioned:
    """The version of one signed object and a digest of its content (what the device remembers)."""

    version: int
    digest: str


@dataclass
class Bundle:
    """A verified bundle. It is a trust source, a status source and the rule book of a device.

    ``withdrawn`` holds the kids the bundle signer withdrew; ``rule_versions``
    and ``status_versions`` (by list URI) the version and content digest of
    each object inside, for :class:`hcert_verifier.state.DeviceState`.
    """

    version: int
    issued_at: int
    expires: int
    trust_list_version: int
    #: When the root-signed trust list stops being usable (Unix seconds).
    trust_list_expires: int
    roots: list[dict[str, Any]]
    authorities: dict[str, Authority]
    _keys: dict[str, TrustedKey] = field(repr=False)
    _rules: dict[str, RuleSet] = field(repr=False)
    _status: dict[tuple[str, int], StatusList] = field(repr=False)
    raw: str = field(repr=False, default="")
    digest: str = field(repr=False, default="")
    trust_list_digest: str = field(repr=False, default="")
    withdrawn: frozenset[str] = field(default=frozenset())
    rule_versions: dict[str, Versioned] = field(repr=False, default_factory=dict)
    status_versions: dict[str, Versioned] = field(repr=False, default_factory=dict)
    #: ``hcert-bundle/2`` (one file) or ``hcert-index/1`` (an index of parts); each has its own version counter.
    format: str = BUNDLE_FORMAT
    #: The addresses of the parts an index named (trust list, rules, shard manifests, status lists).
    parts: frozenset[str] = field(repr=False, default=frozenset())
    #: The version and digest of each province's freshness statement in an index (7.5).
    fresh_versions: dict[str, Versioned] = field(repr=False, default_factory=dict)

    # -- loading -------------------------------------------------------------
    @classmethod
    def load(cls, envelope: str | bytes, roots: Sequence[Mapping[str, Any]]) -> Bundle:
        """Verify a bundle envelope against pinned ``roots`` and return it; raise :class:`BundleError`.

        Order (``docs/FORMAT.md`` section 7.1): envelope shape; trust list
        signature by a pinned root, then its payload; bundle signature by a
        bundle signer of that trust list, then its payload; the pairing of the
        two; each rules object and status list. Nothing unsigned is inflated.
        """
        return _wrapped(lambda: cls._load(envelope, roots))

    @classmethod
    def from_index(cls, envelope: str | bytes, parts: PartSource, roots: Sequence[Mapping[str, Any]]) -> Bundle:
        """Verify an index envelope and the parts it names against pinned ``roots``; raise :class:`BundleError`.

        ``parts(addresses)`` returns the bytes of each part by address (raising
        :class:`PartMissing` when one is not at hand); each is checked against its address
        (:class:`PartMismatch`). Order (``docs/FORMAT.md`` section 7.4): envelope
        shape; the trust list part by its address, signed by a pinned root; the
        index signature by a bundle signer of it, then its payload; the pairing;
        rules and shard manifests by address; each status list by address; then
        the checks of section 7.1 steps 6 and 7 on each.
        """
        return _wrapped(lambda: cls._load_index(envelope, parts, roots))

    @classmethod
    def _load_index(cls, envelope: str | bytes, parts: PartSource, roots: Sequence[Mapping[str, Any]]) -> Bundle:
        if not isinstance(envelope, (str, bytes)) or len(envelope) > MAX_INDEX:
            raise BundleError("an index is an hcert-index/1 envelope of at most 1 MB")
        try:
            data = envelope.encode("ascii") if isinstance(envelope, str) else envelope
            unverified_envelope = json_object(data, "index envelope")
        except (UnicodeEncodeError, HcertError) as e:
            raise BundleError("an index is a JSON hcert-index/1 envelope") from e
        if set(unverified_envelope) != _INDEX_ENVELOPE or unverified_envelope["format"] != INDEX_FORMAT:
            raise BundleError(f"an index envelope has exactly format ({INDEX_FORMAT!r}), trust_list and index")
        token = unverified_envelope["index"]
        if not isinstance(token, str):
            raise BundleError("the envelope's index is a compact JWS string")
        # The trust list by its address (checked), then as in a bundle.
        spent = [0]
        (trust_token,) = _part_texts(parts, [unverified_envelope["trust_list"]], "the trust list", spent)
        named: set[str] = {unverified_envelope["trust_list"]}

        def items(payload: dict[str, Any]) -> tuple[list[Any], list[Any]]:
            rules_addresses, shard_addresses = payload.get("rules"), payload.get("shards")
            if not isinstance(rules_addresses, list) or not isinstance(shard_addresses, list):
                raise BundleError("index rules and shards are lists of addresses")
            texts = _part_texts(parts, rules_addresses + shard_addresses, "a rules or shard part", spent)
            rules, manifests = texts[: len(rules_addresses)], texts[len(rules_addresses) :]
            list_addresses: list[Any] = []
            for address, text in zip(shard_addresses, manifests, strict=True):
                manifest = json_object(text.encode("ascii"), "shard")
                if set(manifest) != {"format", "status_lists"} or manifest["format"] != SHARD_FORMAT:
                    raise BundleError(f"shard {address} is not an {SHARD_FORMAT} manifest")
                if not isinstance(manifest["status_lists"], list):
                    raise BundleError(f"shard {address} status_lists is not a list")
                list_addresses += manifest["status_lists"]
            lists: list[Any] = _part_texts(parts, list_addresses, "a status list part", spent)
            named.update(rules_addresses, shard_addresses, list_addresses)
            return rules, lists

        bundle = cls._verified(data, trust_token, token, roots, typ=INDEX_TYP, fmt=INDEX_FORMAT, items=items)
        bundle.parts = frozenset(named)
        return bundle

    @classmethod
    def _load(cls, envelope: str | bytes, roots: Sequence[Mapping[str, Any]]) -> Bundle:
        if not isinstance(envelope, (str, bytes)) or len(envelope) > MAX_BUNDLE:
            raise BundleError("a bundle is an hcert-bundle/2 envelope of at most 64 MB")
        try:
            data = envelope.encode("ascii") if isinstance(envelope, str) else envelope
            unverified_envelope = json_object(data, "bundle envelope")
        except (UnicodeEncodeError, HcertError) as e:
            raise BundleError("a bundle is a JSON hcert-bundle/2 envelope") from e
        if set(unverified_envelope) != _ENVELOPE or unverified_envelope["format"] != BUNDLE_FORMAT:
            raise BundleError(f"a bundle envelope has exactly format ({BUNDLE_FORMAT!r}), trust_list and bundle")
        trust_token, token = unverified_envelope["trust_list"], unverified_envelope["bundle"]
        if not isinstance(trust_token, str) or not isinstance(token, str):
            raise BundleError("the envelope's trust_list and bundle are compact JWS strings")

        def items(payload: dict[str, Any]) -> tuple[list[Any], list[Any]]:
            rules, lists = payload.get("rules") or [], payload.get("status_lists") or []
            if not isinstance(rules, list):
                raise BundleError("bundle rules must be a list")
            if not isinstance(lists, list):
                raise BundleError("bundle status_lists must be a list")
            return rules, lists

        return cls._verified(data, trust_token, token, roots, typ=BUNDLE_TYP, fmt=BUNDLE_FORMAT, items=items)

    @classmethod
    def _verified(
        cls,
        data: bytes,
        trust_token: str,
        token: str,
        roots: Sequence[Mapping[str, Any]],
        *,
        typ: str,
        fmt: str,
        items: Callable[[dict[str, Any]], tuple[list[Any], list[Any]]],
    ) -> Bundle:
        """Steps 2 to 7 of docs/FORMAT.md section 7.1, for a bundle or an index (``items`` gives rules and lists)."""
        # 1. The trust list, by a pinned root.
        trust = open_signed(
            trust_token,
            _keys_by_kid(roots, "pinned roots"),
            typ=TRUST_LIST_TYP,
            what="trust list",
            limit=MAX_TRUST_LIST,
        )
        trust_version, trust_expires = check_trust_list_times(trust)
        # 2. The bundle, by a bundle signer the trust list names; only now is it inflated.
        signers = _keys_by_kid(trust.get("bundle_signers") or [], "bundle signers")
        payload = open_signed(token, signers, typ=typ, what="bundle" if typ == BUNDLE_TYP else "index")
        if payload.get("format") != fmt:
            raise BundleError(f"the signed payload's format is not {fmt!r}")
        for name in ("version", "issued_at", "expires"):
            if type(payload.get(name)) is not int or payload[name] < 0:
                raise BundleError(f"bundle {name} must be a non-negative integer")
        if payload["expires"] <= payload["issued_at"]:
            raise BundleError("bundle expires before it is issued")
        if payload["expires"] - payload["issued_at"] > MAX_BUNDLE_VALIDITY:
            raise BundleValidityTooLong(
                f"bundle is valid {payload['expires'] - payload['issued_at']} s; at most {MAX_BUNDLE_VALIDITY} s"
            )
        # The bundle names the trust list it was made with, so a trust list cannot be swapped beside it.
        pairing = payload.get("trust_list")
        trust_digest = sha256_text(trust_token)
        if (
            not isinstance(pairing, dict)
            or type(pairing.get("version")) is not int
            or pairing != {"version": trust_version, "sha256": trust_digest}
        ):
            raise BundleError("the bundle does not name the trust list beside it (version and sha256)")
        authorities, keys = cls._authorities(trust)
        # The bundle signer may withdraw keys between two trust lists (never add any).
        withdrawn_entries = payload.get("withdrawn") or []
        if not isinstance(withdrawn_entries, list):
            raise BundleError("bundle withdrawn must be a list")
        withdrawn = frozenset(
            w["kid"] for w in withdrawn_entries if isinstance(w, dict) and isinstance(w.get("kid"), str)
        )
        keys = [replace(k, state="withdrawn") if k.kid in withdrawn else k for k in keys]
        bundle = cls(
            version=payload["version"],
            issued_at=payload["issued_at"],
            expires=payload["expires"],
            trust_list_version=trust_version,
            trust_list_expires=trust_expires,
            roots=[dict(r) for r in (trust.get("roots") or roots)],
            authorities=authorities,
            _keys=index_keys(keys),
            _rules={},
            _status={},
            raw=data.decode("ascii"),
            digest=sha256_text(token),
            trust_list_digest=trust_digest,
            withdrawn=withdrawn,
            format=fmt,
        )
        rule_items, status_items = items(payload)
        # 3. Rules, each by its province's rule key.
        rule_signers = trust.get("rule_signers") or {}
        if not isinstance(rule_signers, dict):
            raise BundleError("rule_signers is an object")
        for item in rule_items:
            province = _unverified_province(item)
            opened = open_signed(
                item,
                _keys_by_kid(rule_signers.get(province, []), f"rule signers of {province}"),
                typ=RULES_TYP,
                what=f"rules of province {province}",
            )
            try:
                ruleset = RuleSet.from_payload(opened)
            except BundleError:
                raise
            except TrustError as e:
                raise BundleError(f"rules of province {province}: {e.reason}") from e
            if ruleset.province != province:  # pragma: no cover - province read from the same payload
                raise BundleError("rules province mismatch")
            if province in bundle._rules:
                raise BundleError(f"the bundle carries rules of province {province} twice")
            bundle._rules[province] = ruleset
            bundle.rule_versions[province] = Versioned(ruleset.version, sha256_text(item))
        # 4. Status lists, each by a key of its own authority (never a withdrawn one).
        for item in status_items:
            try:
                lst = StatusList.from_token(item, _UsableKeys(bundle))
            except TrustError as e:
                raise BundleError(f"a status list in the bundle does not verify: {e.reason}") from e
            owner = bundle.authorities.get(lst.iss)
            expected = status_list_uri(owner.base_url, lst.iss, lst.lst) if owner else ""
            if not owner or lst.uri != expected:
                raise BundleError(f"a status list in the bundle has sub {lst.uri!r}, not {expected!r}")
            if lst.version is None:
                raise BundleError(f"status list {lst.uri} carries no version")
            if (lst.iss, lst.lst) in bundle._status or lst.uri in bundle.status_versions:
                raise BundleError(f"the bundle carries status list {lst.uri} twice")
            bundle._status[(lst.iss, lst.lst)] = lst
            bundle.status_versions[lst.uri] = Versioned(lst.version, lst.content_digest)
        # 5. Freshness statements (an index only), each by its province's rule key.
        if fmt == INDEX_FORMAT:
            bundle._vouch(payload.get("fresh") if payload.get("fresh") is not None else [], rule_signers)
        return bundle

    def _vouch(self, statements: Any, rule_signers: Mapping[str, Any]) -> None:
        """Check each freshness statement; extend the lists a statement covers exactly (docs/FORMAT.md 7.5)."""
        from ._verify import CLOCK_LEEWAY  # _verify imports this module

        if not isinstance(statements, list) or len(statements) > MAX_FRESH:
            raise BundleError(f"index fresh is a list of at most {MAX_FRESH} freshness statements")
        for item in statements:
            opened = open_freshness(item, lambda p: _keys_by_kid(rule_signers.get(p, []), f"rule signers of {p}"))
            province = opened["province"]
            if opened["issued_at"] > self.issued_at + CLOCK_LEEWAY:
                # Dated ahead, it would stretch the 7-day bound from the index that carries it.
                raise BundleError(f"the freshness statement of province {province} is issued after the index")
            if province in self.fresh_versions:
                raise BundleError(f"the index carries two freshness statements of province {province}")
            self.fresh_versions[province] = Versioned(opened["version"], sha256_text(item))
            mine = [key for key in self._status if key[0].startswith(province)]
            held = [(self._status[key].uri, self._status[key].version or 0) for key in mine]
            if freshness_digest(held) != opened["lists"]:
                continue  # it speaks of other lists than these: they stand on their own exp
            for key in mine:
                self._status[key] = replace(self._status[key], fresh_until=opened["expires"])

    @staticmethod
    def _authorities(trust: Mapping[str, Any]) -> tuple[dict[str, Authority], list[TrustedKey]]:
        authorities: dict[str, Authority] = {}
        keys: list[TrustedKey] = []
        entries = trust.get("authorities")
        if not isinstance(entries, list):
            raise BundleError("trust list authorities must be a list")
        for entry in entries:
            try:
                scope = entry["scope"]
                authority = Authority(
                    id=str(entry["id"]),
                    name_zh=str(entry["name_zh"]),
                    name_en=str(entry["name_en"]),
                    regions=tuple(str(r) for r in scope["regions"]),
                    kinds=frozenset(str(k) for k in scope["kinds"]),
                    base_url=_base_url(entry["base_url"]),
                )
                for k in entry["keys"]:
                    public_key = public_key_from_jwk(k)
                    for name in ("not_before", "not_after"):
                        if k.get(name) is not None and type(k[name]) is not int:
                            raise BundleError(f"trust list authority {authority.id}: key {name} must be an integer")
                    keys.append(
                        TrustedKey(
                            kid=str(k["kid"]),
                            public_key=public_key,
                            issuer=authority.id,
                            kinds=authority.kinds,
                            regions=authority.regions,
                            state=str(k["state"]),
                            not_before=k.get("not_before"),
                            not_after=k.get("not_after"),
                        )
                    )
            except (KeyError, TypeError) as e:
                raise BundleError(f"trust list entry {entry!r:.60} is malformed") from e
            except HcertError as e:
                raise BundleError(f"trust list authority {entry.get('id')}: {e.reason}") from e
            if authority.id in authorities:
                raise BundleError(f"authority {authority.id} is listed twice")
            authorities[authority.id] = authority
        return authorities, keys

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], roots: Sequence[Mapping[str, Any]]) -> Bundle:
        """Read and verify a bundle file; raise :class:`BundleError`."""
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_BUNDLE + 1)
        except OSError as e:
            raise BundleError(f"cannot read bundle {os.fspath(path)!r}") from e
        return cls.load(data, roots)

    # -- TrustSource / StatusSource -----------------------------------------------
    def key(self, kid: str) -> TrustedKey | None:
        """Return the trusted key with this kid, or ``None``."""
        return self._keys.get(kid)

    def keys(self) -> Iterable[TrustedKey]:
        """Return every key of the trust list."""
        return self._keys.values()

    def status_list(self, iss: str, lst: int) -> StatusList | None:
        """Return a status list carried by the bundle, or ``None``."""
        return self._status.get((iss, lst))

    def rules_for(self, province: str) -> RuleSet | None:
        """Return a destination province's rules, or ``None``."""
        return self._rules.get(province)

    @property
    def provinces(self) -> list[str]:
        """Return the provinces that publish rules in this bundle."""
        return sorted(self._rules)

    @property
    def status_list_count(self) -> int:
        """Return how many status lists the bundle carries."""
        return len(self._status)


def _wrapped(load: Callable[[], Bundle]) -> Bundle:
    try:
        return load()
    except BundleError:
        raise
    except HcertError as e:
        raise BundleError(f"{e.code}: {e.reason}") from e
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise BundleError(f"the bundle is malformed ({type(e).__name__})") from e


class _UsableKeys:
    """The bundle's keys minus withdrawn ones: what may sign a status list."""

    def __init__(self, bundle: Bundle) -> None:
        self._bundle = bundle

    def key(self, kid: str) -> TrustedKey | None:
        key = self._bundle.key(kid)
        return key if key is not None and key.state != "withdrawn" else None

    def keys(self) -> Iterable[TrustedKey]:
        return [k for k in self._bundle.keys() if k.state != "withdrawn"]


_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


def _base_url(value: Any) -> str:
    # https, or http to this machine (tests, development): a base URL names the
    # server whose status lists devices accept for that authority.
    if not isinstance(value, str) or len(value) > 200 or value != value.strip() or value.endswith("/"):
        raise BundleError(f"authority base_url {value!r:.60} is not a URL without a trailing slash")
    scheme, sep, rest = value.partition("://")
    host = rest.split("/", 1)[0]
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if not sep or not host or any(c in value for c in "?#@ \\") or scheme not in ("https", "http"):
        raise BundleError(f"authority base_url {value!r:.60} is not an https URL")
    if scheme == "http" and hostname not in _LOOPBACK:
        raise BundleError(f"authority base_url {value!r:.60} is plain http to a host other than this machine")
    return value


def _unverified_province(token: Any, what: str = "rules object") -> str:
    # Only to pick the rule keys to try; the signature check that follows is what counts.
    # The outer bundle signature already covers these bytes.
    try:
        payload = json_object(inflate(b64url_decode(token.split(".")[1], what), MAX_TRUST_LIST), what)
    except (HcertError, AttributeError, IndexError) as e:
        raise BundleError(f"a {what} is malformed") from e
    province = payload.get("province")
    if not isinstance(province, str):
        raise BundleError(f"a {what} names no province")
    return province


_FRESH_PROVINCE = re.compile(r"[1-8][0-9]")


def open_freshness(token: Any, keys_of: Callable[[str], Mapping[str, ec.EllipticCurvePublicKey]]) -> dict[str, Any]:
    """Verify a freshness statement with its province's rule keys (``keys_of(province)``, by kid); return its payload.

    Checks of docs/FORMAT.md section 7.5: signature first, then exactly the
    members of ``hcert-fresh/1``, integer times at most :data:`MAX_FRESH_VALIDITY`
    apart, a digest in ``lists``. Raises :class:`BundleError`.
    """
    province = _unverified_province(token, "freshness statement")
    opened = open_signed(token, keys_of(province), typ=FRESH_TYP, what=f"freshness statement of province {province}")
    if set(opened) != _FRESH_MEMBERS or opened["format"] != FRESH_FORMAT:
        raise BundleError(f"a freshness statement has exactly the members {sorted(_FRESH_MEMBERS)}")
    for name in ("version", "issued_at", "expires"):
        if type(opened[name]) is not int or opened[name] < 0:
            raise BundleError(f"freshness statement {name} must be a non-negative integer")
    if not opened["issued_at"] < opened["expires"] <= opened["issued_at"] + MAX_FRESH_VALIDITY:
        raise BundleError(f"a freshness statement is valid for more than 0 and at most {MAX_FRESH_VALIDITY} s")
    if not is_address(opened["lists"]):
        raise BundleError("a freshness statement's lists is a digest (43 base64url characters)")
    if not isinstance(opened["province"], str) or not _FRESH_PROVINCE.fullmatch(opened["province"]):
        raise BundleError("a freshness statement's province is a two-digit province code")
    return opened


def freshness_digest(lists: Iterable[tuple[str, int]]) -> str:
    """Return what a freshness statement's ``lists`` says of a province's status lists (docs/FORMAT.md 7.5).

    ``lists`` is each list's ``sub`` and ``version``: the unpadded base64url
    SHA-256 of one line ``"<sub> <version>\\n"`` per list, sorted by ``sub``.
    """
    text = "".join(f"{sub} {version}\n" for sub, version in sorted(lists))
    return b64url_encode(hashlib.sha256(text.encode("utf-8")).digest())
