"""The offline trust bundle: trust list, destination rules and status lists in one signed file.

Chain of trust, checked on load:

1. the **trust list** inside the bundle is signed by a national root key the
   device has pinned (``roots.json``);
2. the trust list names the **bundle signers**; the bundle's outer signature
   must be by one of them (an online key, so that status lists can be refreshed
   without taking the root out of its safe);
3. each province's **rules** are signed by a rule key the trust list names for
   that province;
4. each **status list** is signed by a key of its own authority, and its
   ``sub`` is exactly ``<base_url>/v1/status/<iss>/<lst>`` with the base URL
   the trust list gives that authority (no other server can stand in for it).

Anything that fails refuses the whole bundle, so a device keeps its last good one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from ._codec import b64url_decode, inflate, json_object
from ._errors import BundleError, HcertError, TrustError
from ._jwk import KID_LENGTH, kid_for, public_key_from_jwk
from ._jws import check_header, split_token, verify_es256
from .rules import RuleSet
from .status import StatusList, status_list_uri
from .trust import TrustedKey, index_keys

__all__ = [
    "BUNDLE_TYP",
    "RULES_TYP",
    "STALE_AFTER",
    "TRUST_LIST_TYP",
    "Authority",
    "Bundle",
    "load_roots",
    "open_signed",
]

BUNDLE_TYP = "hcert-bundle"
TRUST_LIST_TYP = "hcert-trustlist"
RULES_TYP = "hcert-rules"
#: Past this age (seconds) a verdict carries the warning ``bundle_stale``.
STALE_AFTER = 48 * 3600
MAX_BUNDLE = 64 * 1024 * 1024
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


def open_signed(token: str, keys: Mapping[str, ec.EllipticCurvePublicKey], *, typ: str, what: str) -> dict[str, Any]:
    """Verify an hcert signed object (ES256, zip DEF, this typ) with one of ``keys``; return its payload.

    Raises :class:`BundleError` naming ``what`` and the defect.
    """
    try:
        jws = split_token(token, limit=MAX_BUNDLE)
        unverified_header = check_header(jws.header_segment, typ=typ, allowed=_HEADER, kid_length=KID_LENGTH)
        key = keys.get(unverified_header["kid"])
        if key is None:
            raise BundleError(f"{what} is signed by key {unverified_header['kid']}, which is not trusted for it")
        verify_es256(key, jws.signing_input, jws.signature, allow_high_s=False)
        return json_object(inflate(b64url_decode(jws.payload_segment, what), MAX_BUNDLE), what)
    except BundleError:
        raise
    except HcertError as e:
        raise BundleError(f"{what}: {e.code}: {e.reason}") from e


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


@dataclass
class Bundle:
    """A verified bundle. It is a trust source, a status source and the rule book of a device."""

    version: int
    issued_at: int
    expires: int
    trust_list_version: int
    roots: list[dict[str, Any]]
    authorities: dict[str, Authority]
    _keys: dict[str, TrustedKey] = field(repr=False)
    _rules: dict[str, RuleSet] = field(repr=False)
    _status: dict[tuple[str, int], StatusList] = field(repr=False)
    raw: str = field(repr=False, default="")

    # -- loading -------------------------------------------------------------
    @classmethod
    def load(cls, token: str, roots: Sequence[Mapping[str, Any]]) -> Bundle:
        """Verify a bundle against pinned ``roots`` and return it; raise :class:`BundleError`."""
        if not isinstance(token, str) or len(token) > MAX_BUNDLE:
            raise BundleError("a bundle is a compact JWS of at most 64 MB")
        token = token.strip()
        try:
            jws = split_token(token, limit=MAX_BUNDLE)
            unverified = json_object(inflate(b64url_decode(jws.payload_segment, "bundle"), MAX_BUNDLE), "bundle")
        except HcertError as e:
            raise BundleError(f"bundle: {e.code}: {e.reason}") from e
        if unverified.get("format") != "hcert-bundle/1" or not isinstance(unverified.get("trust_list"), str):
            raise BundleError("not an hcert-bundle/1")
        # 1. The trust list, by a pinned root.
        trust = open_signed(
            unverified["trust_list"], _keys_by_kid(roots, "pinned roots"), typ=TRUST_LIST_TYP, what="trust list"
        )
        # 2. The bundle itself, by a bundle signer the trust list names.
        signers = _keys_by_kid(trust.get("bundle_signers") or [], "bundle signers")
        payload = open_signed(token, signers, typ=BUNDLE_TYP, what="bundle")
        if payload != unverified:  # pragma: no cover - same bytes, verified now
            raise BundleError("bundle payload changed")
        for name in ("version", "issued_at", "expires"):
            if type(payload.get(name)) is not int:
                raise BundleError(f"bundle {name} must be an integer")
        if payload["expires"] <= payload["issued_at"]:
            raise BundleError("bundle expires before it is issued")
        authorities, keys = cls._authorities(trust)
        # The bundle signer may withdraw keys between two trust lists (never add any).
        withdrawn = {w.get("kid") for w in payload.get("withdrawn") or [] if isinstance(w, dict)}
        keys = [replace(k, state="withdrawn") if k.kid in withdrawn else k for k in keys]
        bundle = cls(
            version=payload["version"],
            issued_at=payload["issued_at"],
            expires=payload["expires"],
            trust_list_version=int(trust.get("version", 0)),
            roots=[dict(r) for r in (trust.get("roots") or roots)],
            authorities=authorities,
            _keys=index_keys(keys),
            _rules={},
            _status={},
            raw=token,
        )
        # 3. Rules, each by its province's rule key.
        rule_signers = trust.get("rule_signers") or {}
        for item in payload.get("rules") or []:
            province = _unverified_province(item)
            ruleset = RuleSet.from_payload(
                open_signed(
                    item,
                    _keys_by_kid(rule_signers.get(province, []), f"rule signers of {province}"),
                    typ=RULES_TYP,
                    what=f"rules of province {province}",
                )
            )
            if ruleset.province != province:  # pragma: no cover - province read from the same payload
                raise BundleError("rules province mismatch")
            bundle._rules[province] = ruleset
        # 4. Status lists, each by a key of its own authority (never a withdrawn one).
        for item in payload.get("status_lists") or []:
            try:
                lst = StatusList.from_token(item, _UsableKeys(bundle))
            except TrustError as e:
                raise BundleError(f"a status list in the bundle does not verify: {e.reason}") from e
            owner = bundle.authorities.get(lst.iss)
            expected = status_list_uri(owner.base_url, lst.iss, lst.lst) if owner else ""
            if not owner or lst.uri != expected:
                raise BundleError(f"a status list in the bundle has sub {lst.uri!r}, not {expected!r}")
            bundle._status[(lst.iss, lst.lst)] = lst
        return bundle

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
        """Read and verify a bundle file."""
        try:
            with open(path, encoding="ascii") as f:
                token = f.read(MAX_BUNDLE + 1)
        except (OSError, UnicodeDecodeError) as e:
            raise BundleError(f"cannot read bundle {os.fspath(path)!r}") from e
        return cls.load(token, roots)

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


def _unverified_province(token: Any) -> str:
    # Only to pick the rule keys to try; the signature check that follows is what counts.
    try:
        payload = json_object(inflate(b64url_decode(token.split(".")[1], "rules"), MAX_BUNDLE), "rules")
    except (HcertError, AttributeError, IndexError) as e:
        raise BundleError("a rules object is malformed") from e
    province = payload.get("province")
    if not isinstance(province, str):
        raise BundleError("rules name no province")
    return province
