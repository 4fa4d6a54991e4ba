"""A verified national trust list on its own, outside a bundle.

The distribution server uses it to decide what it may take from other hcert
servers (status lists and rules): the same checks a device makes on the
objects inside a bundle, made before anything is stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from ._errors import BundleError, HcertError, TrustError
from .bundle import (
    RULES_TYP,
    TRUST_LIST_TYP,
    Authority,
    Bundle,
    _keys_by_kid,
    check_trust_list_times,
    open_freshness,
    open_signed,
)
from .rules import RuleSet
from .status import StatusList, status_list_uri
from .trust import TrustedKey, index_keys

__all__ = ["TrustList"]


@dataclass(frozen=True)
class TrustList:
    """A trust list whose signature chains to a pinned root.

    ``authorities`` carry their base URL and scope; ``keys`` are every listed
    key by kid; ``rule_signers`` are each province's rule keys by kid.
    """

    version: int
    issued_at: int
    authorities: Mapping[str, Authority]
    keys: Mapping[str, TrustedKey]
    rule_signers: Mapping[str, Mapping[str, ec.EllipticCurvePublicKey]]
    payload: Mapping[str, Any]
    #: When the trust list stops being usable (Unix seconds; devices refuse it from then on).
    expires: int = 0

    @classmethod
    def load(cls, token: str, roots: Sequence[Mapping[str, Any]]) -> TrustList:
        """Verify ``token`` against the pinned ``roots`` and return it; raise :class:`BundleError`."""
        if not isinstance(token, str):
            raise BundleError("a trust list is a compact JWS")
        payload = open_signed(token.strip(), _keys_by_kid(roots, "pinned roots"), typ=TRUST_LIST_TYP, what="trust list")
        check_trust_list_times(payload)
        authorities, keys = Bundle._authorities(payload)
        try:
            by_kid = index_keys(keys)
        except TrustError as e:
            raise BundleError(f"trust list: {e.reason}") from e
        signers = payload.get("rule_signers") or {}
        if not isinstance(signers, dict):
            raise BundleError("trust list rule_signers must map a province to its keys")
        rule_signers = {
            str(p): _keys_by_kid(jwks if isinstance(jwks, list) else [], f"rule signers of {p}")
            for p, jwks in signers.items()
        }
        return cls(
            payload["version"], payload["issued_at"], authorities, by_kid, rule_signers, payload, payload["expires"]
        )

    def usable_keys(self, authority: str) -> _AuthorityKeys:
        """Return the non-withdrawn keys of one authority: what may sign its status lists."""
        return _AuthorityKeys([k for k in self.keys.values() if k.issuer == authority and k.state != "withdrawn"])

    def open_status_list(self, token: str, *, at: int | None = None) -> StatusList:
        """Verify a status list as a device would from a bundle; raise :class:`TrustError`.

        It must be signed by a non-withdrawn key of its own authority, and its
        ``sub`` must be exactly ``<base_url>/v1/status/<iss>/<lst>`` with that
        authority's base URL; with ``at``, it must not have expired.
        """
        unverified = _unverified_sub_issuer(token)
        lst = StatusList.from_token(token, self.usable_keys(unverified), at=at)
        owner = self.authorities.get(lst.iss)
        expected = status_list_uri(owner.base_url, lst.iss, lst.lst) if owner else ""
        if not owner or lst.uri != expected:
            raise TrustError(f"status list sub {lst.uri!r} is not {expected!r}")
        return lst

    def open_freshness(self, token: str) -> dict[str, Any]:
        """Verify a freshness statement with its province's rule keys; return its payload (:class:`BundleError`)."""
        return open_freshness(token, lambda province: self.rule_signers.get(province) or {})

    def open_rules(self, token: str, province: str) -> RuleSet:
        """Verify a province's signed rules with its rule keys; raise :class:`BundleError` or :class:`TrustError`."""
        keys = self.rule_signers.get(province)
        if not keys:
            raise BundleError(f"the trust list names no rule key for province {province}")
        rules = RuleSet.from_payload(open_signed(token, keys, typ=RULES_TYP, what=f"rules of province {province}"))
        if rules.province != province:
            raise BundleError(f"rules are of province {rules.province}, not {province}")
        return rules


class _AuthorityKeys:
    def __init__(self, keys: Iterable[TrustedKey]) -> None:
        self._keys = {k.kid: k for k in keys}

    def key(self, kid: str) -> TrustedKey | None:
        return self._keys.get(kid)

    def keys(self) -> Iterable[TrustedKey]:
        return self._keys.values()


def _unverified_sub_issuer(token: Any) -> str:
    # Only to pick which authority's keys to try; the signature and the full sub
    # are checked next.
    from ._codec import b64url_decode, json_object

    try:
        claims = json_object(b64url_decode(token.split(".")[1], "status list"), "status list")
    except (HcertError, AttributeError, IndexError) as e:
        raise TrustError("status list token is malformed") from e
    sub = claims.get("sub")
    parts = sub.rsplit("/", 2) if isinstance(sub, str) else []
    if len(parts) != 3:
        raise TrustError("status list sub must end in /<authority>/<list number>")
    return parts[1]
