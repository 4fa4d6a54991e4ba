"""Build and sign IETF Token Status List tokens (``typ: statuslist+jwt``)."""

from __future__ import annotations

import zlib

from hcert_verifier import b64url_encode, json_compact
from keys import SigningKey

__all__ = ["STATUS_LIST_SIZE", "StatusBits", "sign_status_list"]

#: Entries per list. With random index allocation, 131,072 entries hide which
#: certificate a verifier is asking about among many (herd privacy).
STATUS_LIST_SIZE = 131_072


class StatusBits:
    """A mutable status bit array of ``size`` entries of ``bits`` bits (LSB first)."""

    def __init__(self, size: int = STATUS_LIST_SIZE, bits: int = 2, data: bytes | None = None) -> None:
        if bits not in (1, 2):
            raise ValueError("bits must be 1 or 2")
        self.size = size
        self.bits = bits
        length = (size * bits + 7) // 8
        self.data = bytearray(data if data is not None else length)
        if len(self.data) != length:
            raise ValueError("status data has the wrong length")

    def set(self, idx: int, value: int) -> None:
        """Set entry ``idx`` to ``value`` (0 valid, 1 revoked, 2 suspended)."""
        if not 0 <= idx < self.size or not 0 <= value < (1 << self.bits):
            raise ValueError("status index or value out of range")
        bit = idx * self.bits
        mask = ((1 << self.bits) - 1) << (bit % 8)
        self.data[bit // 8] = (self.data[bit // 8] & ~mask) | (value << (bit % 8))

    def get(self, idx: int) -> int:
        """Return the value of entry ``idx``."""
        bit = idx * self.bits
        return (self.data[bit // 8] >> (bit % 8)) & ((1 << self.bits) - 1)

    def compressed(self) -> bytes:
        """Return the zlib-compressed bytes, as the status list ``lst`` carries them."""
        return zlib.compress(bytes(self.data), 9)


def sign_status_list(
    key: SigningKey, bits: StatusBits, *, uri: str, iat: int, exp: int, ttl: int, version: int | None = None
) -> str:
    """Return a signed status list token for list ``uri``.

    ``version`` is the list's content version (the hcert ``version`` claim): it
    must change whenever the bits change, and never go back.
    """
    header = json_compact({"alg": "ES256", "kid": key.kid, "typ": "statuslist+jwt"})
    claims: dict[str, object] = {"sub": uri, "iat": iat, "exp": exp, "ttl": ttl}
    if version is not None:
        claims["version"] = version
    claims["status_list"] = {"bits": bits.bits, "lst": b64url_encode(bits.compressed())}
    payload = json_compact(claims)
    signing_input = f"{b64url_encode(header)}.{b64url_encode(payload)}"
    return f"{signing_input}.{b64url_encode(key.sign(signing_input.encode('ascii')))}"
