"""Trust sources: where a verifier gets the keys it may trust.

A :class:`TrustSource` answers one question on the verify path: which trusted
key has this kid. :class:`JwksTrust` reads a JWKS file; the signed national
bundle (:mod:`hcert_verifier.bundle`) is another implementation of the same
protocol. Nothing here touches the network.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from ._errors import TrustError
from ._jwk import KID_LENGTH, kid_for, public_key_from_jwk

__all__ = ["KEY_STATES", "JwksTrust", "TrustSource", "TrustedKey"]

KEY_STATES = ("active", "retired", "withdrawn")


@dataclass(frozen=True)
class TrustedKey:
    """A public key a verifier trusts, with what it may sign.

    ``issuer`` binds the key to one authority (``None``: any ``iss``); ``kinds``
    and ``regions`` limit the certificate kinds and the region-code prefixes of
    the residents it may certify (``None``: no limit). ``not_before`` and
    ``not_after`` bound the issue times (Unix seconds) of certificates it signed.
    """

    kid: str
    public_key: ec.EllipticCurvePublicKey
    issuer: str | None = None
    kinds: frozenset[str] | None = None
    regions: tuple[str, ...] | None = None
    state: str = "active"
    not_before: int | None = None
    not_after: int | None = None


class TrustSource(Protocol):
    """Anything that resolves a kid to a :class:`TrustedKey`."""

    def key(self, kid: str) -> TrustedKey | None:
        """Return the trusted key with this kid, or ``None``."""
        ...

    def keys(self) -> Iterable[TrustedKey]:
        """Return every trusted key."""
        ...


def index_keys(keys: Iterable[TrustedKey]) -> dict[str, TrustedKey]:
    """Index keys by kid, refusing duplicates and kids that are not their key's."""
    by_kid: dict[str, TrustedKey] = {}
    for key in keys:
        if key.kid != kid_for(key.public_key):
            raise TrustError(f"kid {key.kid!r} is not the thumbprint of its key")
        if key.kid in by_kid:
            raise TrustError(f"two trusted keys share the kid {key.kid!r}")
        if key.state not in KEY_STATES:
            raise TrustError(f"key {key.kid!r} has unknown state {key.state!r}")
        by_kid[key.kid] = key
    return by_kid


class JwksTrust:
    """Trust every P-256 key of a JWKS document.

    A JWK may carry the hcert members ``iss`` (the authority it signs for) and
    ``hcert_state`` (``active``, ``retired`` or ``withdrawn``) and
    ``hcert_retired`` (Unix seconds: a certificate whose ``iat`` is later was
    not signed while the key was in service and is refused with
    ``key_not_valid_at_issue``). Each key's
    ``kid`` must be the hcert kid of the key itself, so that a JWKS cannot
    make one key answer to another key's id.
    """

    def __init__(self, keys: Iterable[TrustedKey]) -> None:
        self._keys = index_keys(keys)

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any]) -> JwksTrust:
        """Build from a parsed JWKS; raise :class:`TrustError` if any key is unusable."""
        entries = jwks.get("keys") if isinstance(jwks, Mapping) else None
        if not isinstance(entries, list):
            raise TrustError("a JWKS is an object with a 'keys' array")
        keys = []
        for jwk in entries:
            public_key = public_key_from_jwk(jwk)
            kid = jwk.get("kid", kid_for(public_key))
            if not isinstance(kid, str) or len(kid) != KID_LENGTH:
                raise TrustError(f"JWK kid {kid!r} is not an hcert key id")
            issuer = jwk.get("iss")
            if issuer is not None and not isinstance(issuer, str):
                raise TrustError("JWK iss must be a string")
            retired = jwk.get("hcert_retired")
            if retired is not None and (type(retired) is not int or retired < 0):
                raise TrustError(f"JWK {kid} hcert_retired must be Unix seconds")
            keys.append(
                TrustedKey(
                    kid=kid,
                    public_key=public_key,
                    issuer=issuer,
                    state=str(jwk.get("hcert_state", "active")),
                    not_after=retired,
                )
            )
        return cls(keys)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> JwksTrust:
        """Read a JWKS file; raise :class:`TrustError` if it is missing or malformed."""
        try:
            with open(path, "rb") as f:
                data = json.loads(f.read(4 * 1024 * 1024))
        except OSError as e:
            raise TrustError(f"cannot read JWKS {os.fspath(path)!r}: {e.strerror}") from e
        except ValueError as e:
            raise TrustError(f"JWKS {os.fspath(path)!r} is not JSON") from e
        return cls.from_jwks(data)

    def key(self, kid: str) -> TrustedKey | None:
        """Return the trusted key with this kid, or ``None``."""
        return self._keys.get(kid)

    def keys(self) -> Iterable[TrustedKey]:
        """Return every trusted key."""
        return self._keys.values()
