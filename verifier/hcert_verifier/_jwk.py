"""P-256 public keys as JWK, RFC 7638 thumbprints and hcert key ids."""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from ._codec import b64url_decode, b64url_encode, json_compact
from ._errors import HcertError, TrustError

__all__ = ["KID_LENGTH", "jwk_from_public_key", "jwk_thumbprint", "kid_for", "public_key_from_jwk"]

#: Characters of the RFC 7638 thumbprint kept as the key id (66 bits). The kid
#: is only a lookup handle: the signature must still verify with the trusted key
#: the kid names, and a trust list with two keys of one kid is refused.
KID_LENGTH = 11


def jwk_from_public_key(public_key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """Return the public JWK members (kty, crv, x, y) of a P-256 key."""
    if not isinstance(public_key.curve, ec.SECP256R1):
        raise TrustError("only P-256 keys are used by hcert")
    numbers = public_key.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url_encode(numbers.x.to_bytes(32, "big")),
        "y": b64url_encode(numbers.y.to_bytes(32, "big")),
    }


def jwk_thumbprint(public_key: ec.EllipticCurvePublicKey) -> str:
    """Return the RFC 7638 SHA-256 JWK thumbprint (43 base64url characters)."""
    jwk = jwk_from_public_key(public_key)
    # RFC 7638: required members only, lexicographic order, no whitespace.
    canonical = json_compact({k: jwk[k] for k in ("crv", "kty", "x", "y")})
    return b64url_encode(hashlib.sha256(canonical).digest())


def kid_for(public_key: ec.EllipticCurvePublicKey) -> str:
    """Return the hcert key id: the first 11 characters of the RFC 7638 thumbprint."""
    return jwk_thumbprint(public_key)[:KID_LENGTH]


def public_key_from_jwk(jwk: Any) -> ec.EllipticCurvePublicKey:
    """Load a P-256 public key from a JWK, refusing private members and other curves.

    Raises :class:`TrustError` naming what is wrong.
    """
    if not isinstance(jwk, dict):
        raise TrustError("a JWK must be a JSON object")
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise TrustError("only EC P-256 keys are trusted")
    if "d" in jwk:
        raise TrustError("a trust source must not contain private keys")
    try:
        x = b64url_decode(jwk["x"], "JWK x")
        y = b64url_decode(jwk["y"], "JWK y")
    except (KeyError, TypeError, HcertError) as e:
        raise TrustError("JWK x and y must be base64url strings") from e
    if len(x) != 32 or len(y) != 32:
        raise TrustError("JWK x and y must be 32 bytes each")
    try:
        return ec.EllipticCurvePublicNumbers(
            int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
        ).public_key()
    except ValueError as e:
        raise TrustError("JWK point is not on the P-256 curve") from e
