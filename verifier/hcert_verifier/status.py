"""IETF Token Status Lists (draft-ietf-oauth-status-list) on the device.

An issuing authority publishes each list as a JWT with ``typ: statuslist+jwt``
whose ``status_list`` claim holds ``bits`` (1 or 2) and ``lst``, the
base64url of the zlib-compressed bit array. Entry ``i`` occupies ``bits`` bits
starting at bit ``i * bits``, least significant bit first. Values: 0 valid,
1 revoked (invalid), 2 suspended.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ._codec import b64url_decode, json_object
from ._errors import HcertError, TrustError, VerificationError
from ._jws import check_header, split_token, verify_es256
from .trust import TrustSource

__all__ = [
    "STATUS_REVOKED",
    "STATUS_SUSPENDED",
    "STATUS_VALID",
    "StatusList",
    "StatusLists",
    "StatusSource",
    "status_list_uri",
]

STATUS_VALID = 0
STATUS_REVOKED = 1
STATUS_SUSPENDED = 2
STATUS_LIST_TYP = "statuslist+jwt"
#: Largest inflated list accepted: 2**24 entries of 2 bits.
MAX_LIST_BYTES = 2**24 // 4
MAX_LIST_TOKEN = 4 * 1024 * 1024
_HEADER = frozenset({"alg", "kid", "typ"})


def status_list_uri(base_url: str, iss: str, lst: int) -> str:
    """Return the URI of list ``lst`` of authority ``iss`` on a server at ``base_url``."""
    return f"{base_url.rstrip('/')}/v1/status/{iss}/{lst}"


@dataclass(frozen=True)
class StatusList:
    """One verified status list: authority, list number, bit width and the bits.

    ``uri`` is its ``sub``; ``version`` the hcert ``version`` claim (``None`` for
    a list from an issuer that does not carry one). ``expires`` is its ``exp``;
    ``fresh_until`` the ``expires`` of a freshness statement of its province that
    covers it in an index (docs/FORMAT.md section 7.5), when there is one.
    """

    iss: str
    lst: int
    bits: int
    data: bytes
    issued_at: int
    expires: int | None
    uri: str = ""
    version: int | None = None
    fresh_until: int | None = None

    @property
    def content_digest(self) -> str:
        """Return the SHA-256 (hex) of what the list says: its bit width and bits.

        Two tokens of one list with the same version must have the same digest;
        re-signing a list to refresh ``exp`` does not change it.
        """
        return hashlib.sha256(bytes([self.bits]) + self.data).hexdigest()

    def is_current(self, at: int, *, leeway: int = 300) -> bool:
        """Return whether the list may be used at ``at``: its ``exp`` or a statement covering it is not yet past."""
        return any(until is not None and at < until + leeway for until in (self.expires, self.fresh_until))

    def status(self, idx: int) -> int:
        """Return the status value of entry ``idx``; an index past the end is an error."""
        bit = idx * self.bits
        if bit // 8 >= len(self.data):
            raise IndexError(idx)
        return (self.data[bit // 8] >> (bit % 8)) & ((1 << self.bits) - 1)

    @classmethod
    def from_token(cls, token: str, trust: TrustSource, *, at: int | None = None) -> StatusList:
        """Verify a status list token against the trust source and decode it.

        The signing key is looked up by kid in ``trust`` (never taken from the
        token) and must not be withdrawn; the algorithm is pinned to ES256.
        ``sub`` must end in ``/<iss>/<lst>``, and a key bound to an authority
        may sign only that authority's lists. ``iat`` and ``exp`` are required
        integers, ``version`` (when present) a non-negative integer. With
        ``at``, a list past its ``exp`` is refused here too; without it, the
        :class:`Verifier` refuses to use the list once ``exp`` has passed.
        Raises :class:`TrustError`.
        """
        if not isinstance(token, str) or len(token) > MAX_LIST_TOKEN:
            raise TrustError("status list token is not a string of acceptable size")
        try:
            jws = split_token(token, limit=MAX_LIST_TOKEN)
            unverified_header = check_header(
                jws.header_segment, typ=STATUS_LIST_TYP, allowed=_HEADER, kid_length=None, deflated=False
            )
            key = trust.key(unverified_header["kid"])
            if key is None:
                raise TrustError("status list token is signed by an unknown key")
            if key.state == "withdrawn":
                raise TrustError(f"status list token is signed by withdrawn key {key.kid}")
            # High s is accepted here: a list's identity is its URI, and other
            # Token Status List issuers need not normalise s.
            verify_es256(key.public_key, jws.signing_input, jws.signature, allow_high_s=True)
            claims = json_object(b64url_decode(jws.payload_segment, "status list"), "status list")
        except VerificationError as e:
            raise TrustError(f"status list token does not verify: {e.code}: {e.reason}") from e
        iat, exp, version = claims.get("iat"), claims.get("exp"), claims.get("version")
        if type(iat) is not int or type(exp) is not int:
            raise TrustError("status list iat and exp must be integers")
        if version is not None and (type(version) is not int or version < 0):
            raise TrustError("status list version must be a non-negative integer")
        if at is not None and exp + 300 <= at:
            raise TrustError("status_list_expired: the status list is past its exp")
        return cls._from_claims(claims, key.issuer)

    @classmethod
    def _from_claims(cls, claims: Mapping[str, Any], key_issuer: str | None) -> StatusList:
        sub = claims.get("sub")
        parts = sub.rsplit("/", 2) if isinstance(sub, str) else []
        if len(parts) != 3 or not parts[2].isdigit():
            raise TrustError("status list sub must end in /<authority>/<list number>")
        iss, lst = parts[1], int(parts[2])
        if key_issuer is not None and key_issuer != iss:
            raise TrustError("status list is signed by another authority's key")
        body = claims.get("status_list")
        if (
            not isinstance(body, dict)
            or type(body.get("bits")) is not int
            or body["bits"] not in (1, 2)
            or not isinstance(body.get("lst"), str)
        ):
            raise TrustError("status_list must hold bits (1 or 2) and lst")
        try:
            d = zlib.decompressobj()
            data = d.decompress(b64url_decode(body["lst"], "status list"), MAX_LIST_BYTES)
            if d.unconsumed_tail or not d.eof or d.unused_data:
                raise TrustError("status list is too large, truncated or followed by other data")
        except (zlib.error, HcertError) as e:
            raise TrustError("status list lst is not base64url zlib data") from e
        exp, version = claims.get("exp"), claims.get("version")
        return cls(
            iss,
            lst,
            body["bits"],
            data,
            int(claims["iat"]),
            int(exp) if exp is not None else None,
            uri=str(sub),
            version=version,
        )


class StatusSource(Protocol):
    """Anything that holds verified status lists by authority and list number."""

    def status_list(self, iss: str, lst: int) -> StatusList | None:
        """Return the list, or ``None`` if it is not at hand."""
        ...


class StatusLists:
    """An in-memory set of verified status lists."""

    def __init__(self, lists: Iterable[StatusList] = ()) -> None:
        self._lists: dict[tuple[str, int], StatusList] = {}
        for item in lists:
            self.add(item)

    def add(self, item: StatusList) -> None:
        """Add a list, replacing an older one of the same authority and number.

        Older means a lower ``version``, or the same version (or none) and an
        earlier ``iat``.
        """
        current = self._lists.get((item.iss, item.lst))
        if current is None or (current.version or 0, current.issued_at) <= (item.version or 0, item.issued_at):
            self._lists[(item.iss, item.lst)] = item

    def status_list(self, iss: str, lst: int) -> StatusList | None:
        """Return the list, or ``None`` if it is not at hand."""
        return self._lists.get((iss, lst))

    def __len__(self) -> int:
        return len(self._lists)
