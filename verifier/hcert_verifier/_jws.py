"""Compact JWS with ES256 on P-256: parsing, header rules and signature checks.

The algorithm is pinned: the header's ``alg`` is compared with ``ES256`` and
never used to pick an algorithm. Keys come only from the caller's trust source.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ._codec import MAX_TOKEN, b64url_check, b64url_decode, json_object
from ._errors import (
    AlgorithmNotAllowed,
    BadKid,
    BadSignature,
    BadTyp,
    BadZip,
    CritUnsupported,
    ForbiddenHeader,
    InputTooLarge,
    MalformedToken,
    SignatureNotCanonical,
    UnknownHeader,
)

__all__ = ["ALGORITHM", "P256_ORDER", "UnverifiedJws", "check_header", "split_token", "verify_es256"]

ALGORITHM = "ES256"

#: Order n of the P-256 group.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_HALF_ORDER = P256_ORDER // 2

#: Header parameters that would let a token choose its own key; never honoured.
FORBIDDEN_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c", "x5t", "x5t#S256"})

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_KID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class UnverifiedJws(NamedTuple):
    """A compact JWS split into its parts; nothing in it is trusted yet.

    Every segment has been checked as canonical base64url (payload and
    signature decoded), so the signing input is ASCII.
    """

    header_segment: str
    payload_segment: str
    signature: bytes
    #: The payload segment decoded (still deflated, if it is; unverified).
    unverified_payload: bytes = b""

    @property
    def signing_input(self) -> bytes:
        """Return the bytes the signature covers (ASCII header.payload)."""
        return f"{self.header_segment}.{self.payload_segment}".encode("ascii")


def split_token(token: str, *, limit: int = MAX_TOKEN) -> UnverifiedJws:
    """Split a compact JWS into its segments, check all three and decode the signature.

    Every segment's alphabet, length and last character are checked here,
    before any use: nothing downstream sees a segment that is not canonical
    base64url. Raises :class:`InputTooLarge`, :class:`MalformedToken` or
    :class:`BadBase64`.
    """
    if len(token) > limit:
        raise InputTooLarge(f"token is {len(token)} characters; the limit is {limit}")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise MalformedToken("a compact JWS has exactly three non-empty dot-separated segments")
    header_segment, payload_segment, signature_segment = parts
    # The header is only checked here: it is decoded once per distinct header
    # (verifiers cache the key it names), while payload and signature are used
    # in every verification.
    b64url_check(header_segment, "header")
    payload = b64url_decode(payload_segment, "payload")
    return UnverifiedJws(header_segment, payload_segment, b64url_decode(signature_segment, "signature"), payload)


def check_header(
    header_segment: str,
    *,
    typ: str | None,
    allowed: frozenset[str],
    kid_length: int | None,
    deflated: bool = True,
) -> dict[str, Any]:
    """Decode a protected header and apply the hcert header rules.

    ``typ`` is the required ``typ`` value (``None``: must be absent or is not
    checked, for foreign profiles); ``allowed`` the parameters permitted besides
    those. Returns the header. Raises the specific header error.
    """
    unverified_header = json_object(b64url_decode(header_segment, "header"), "header")
    # Order matters: report the most dangerous defect first.
    forbidden = FORBIDDEN_HEADERS.intersection(unverified_header)
    if forbidden:
        raise ForbiddenHeader(
            f"header parameter {sorted(forbidden)[0]!r} is refused: keys come only from the trust list"
        )
    if unverified_header.get("alg") != ALGORITHM:
        raise AlgorithmNotAllowed(f"alg must be {ALGORITHM}, not {unverified_header.get('alg')!r}")
    if "crit" in unverified_header:
        raise CritUnsupported("crit is not supported: hcert defines no critical header parameters")
    unknown = set(unverified_header) - allowed
    if unknown:
        raise UnknownHeader(f"header parameter {sorted(unknown)[0]!r} is not part of the format")
    if typ is not None and unverified_header.get("typ") != typ:
        raise BadTyp(f"typ must be {typ!r}, not {unverified_header.get('typ')!r}")
    if deflated and unverified_header.get("zip") != "DEF":
        raise BadZip("zip must be 'DEF' (raw DEFLATE)")
    if not deflated and "zip" in unverified_header:
        raise BadZip("zip is not allowed in this object")
    kid = unverified_header.get("kid")
    if (
        not isinstance(kid, str)
        or (kid_length is not None and len(kid) != kid_length)
        or not kid
        or len(kid) > 64
        or not _KID_CHARS.issuperset(kid)
    ):
        raise BadKid("kid must be a base64url key id" + (f" of {kid_length} characters" if kid_length else ""))
    return unverified_header


def verify_es256(
    public_key: ec.EllipticCurvePublicKey,
    signing_input: bytes,
    signature: bytes,
    *,
    allow_high_s: bool,
) -> None:
    """Verify a raw r||s ES256 signature (RFC 7518 section 3.4).

    DER-encoded, short, long or out-of-range signatures are refused before any
    curve arithmetic. With ``allow_high_s=False`` an s above n/2 is refused too,
    so that a certificate has exactly one valid token.

    Raises :class:`BadSignature` or :class:`SignatureNotCanonical`.
    """
    if len(signature) != 64:
        raise BadSignature(f"ES256 signature must be 64 bytes r||s, not {len(signature)} (DER is not JWS)")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    if not (0 < r < P256_ORDER and 0 < s < P256_ORDER):
        raise BadSignature("signature r or s is out of range")
    if s > _HALF_ORDER and not allow_high_s:
        raise SignatureNotCanonical("signature s is above n/2; hcert signatures are low-s")
    try:
        public_key.verify(encode_dss_signature(r, s), signing_input, _ECDSA_SHA256)
    except InvalidSignature as e:
        raise BadSignature("signature does not verify with the trusted key") from e
