"""Byte-level codecs: numeric QR text, base64url, strict JSON, capped DEFLATE.

Everything here is pure and allocation-light because it sits on the verify path.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Any

from ._errors import (
    BadBase64,
    BadJson,
    BadQrDigits,
    BadQrPrefix,
    DecompressionFailed,
    DuplicateJsonKey,
    InputTooLarge,
    PayloadTooLarge,
)

#: Scheme prefix of an hcert QR code. Upper case so that a QR encoder can put it
#: in alphanumeric mode; the digits that follow go in numeric mode.
QR_PREFIX = "CNHC:/"

#: Longest QR text accepted. A version-40 QR at level M holds 3,391 digits; a
#: real certificate needs under 800.
MAX_QR_TEXT = 3400

#: Longest compact token accepted (half the digits of the longest QR text).
MAX_TOKEN = MAX_QR_TEXT // 2

#: Largest inflated payload accepted. A certificate's claims are under 600 bytes.
MAX_PAYLOAD = 4096

# Numeric-mode encoding as SMART Health Cards define it: each token character c
# (always in "-" .. "z") becomes the two digits of ord(c) - 45.
_OFFSET = 45
_MAX_PAIR = ord("z") - _OFFSET  # 77

# Decoding trick: bytes.fromhex("5676") gives b"\x56\x76", i.e. each digit pair
# read as one BCD byte. One 256-entry table then maps a BCD byte 0xTU to the
# character 10*T + U + 45, and every byte that is not a valid pair to NUL.
_BCD_TABLE = bytearray(256)
for _tens in range(10):
    for _units in range(10):
        _value = 10 * _tens + _units
        if _value <= _MAX_PAIR:
            _BCD_TABLE[(_tens << 4) | _units] = _value + _OFFSET
_BCD = bytes(_BCD_TABLE)
_ENCODE_TABLE = {chr(v + _OFFSET): f"{v:02d}" for v in range(_MAX_PAIR + 1)}

_B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_PADDING = {0: b"", 2: b"==", 3: b"="}
_B64URL_INDEX = {c: i for i, c in enumerate(_B64URL_ALPHABET)}
_B64URL_BYTES = _B64URL_ALPHABET.encode("ascii")
# Bits of the last character that carry no data, by len(segment) % 4.
_B64URL_SPARE_BITS = {2: 0x0F, 3: 0x03}


def qr_encode(token: str) -> str:
    """Return the QR text for a compact token: prefix + two digits a character."""
    return QR_PREFIX + "".join(map(_ENCODE_TABLE.__getitem__, token))


def qr_decode(qr_text: str, prefix: str = QR_PREFIX, *, limit: int = MAX_QR_TEXT) -> str:
    """Return the compact token carried by numeric QR text with ``prefix``.

    Raises :class:`InputTooLarge`, :class:`BadQrPrefix` or :class:`BadQrDigits`.
    """
    if len(qr_text) > limit:
        raise InputTooLarge(f"QR text is {len(qr_text)} characters; the limit is {limit}")
    if not qr_text.startswith(prefix):
        raise BadQrPrefix(f"QR text must start with {prefix!r}")
    try:
        digits = qr_text[len(prefix) :].encode("ascii")
    except UnicodeEncodeError:
        raise BadQrDigits("QR text after the prefix must be ASCII digits") from None
    # Deleting every digit must leave nothing (unhexlify alone would take a-f).
    if not digits or len(digits) % 2 or digits.translate(None, b"0123456789"):
        raise BadQrDigits("QR text after the prefix must be a non-empty even run of ASCII digits")
    raw = binascii.unhexlify(digits).translate(_BCD)
    if 0 in raw:
        raise BadQrDigits("QR text has a digit pair above 77, which encodes no token character")
    return raw.decode("ascii")


def b64url_encode(data: bytes) -> str:
    """Return unpadded base64url text for ``data``."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_check(segment: str, what: str) -> bytes:
    """Check that ``segment`` is canonical unpadded base64url and return it as ASCII bytes.

    Nothing is decoded: this is the gate every token segment passes before any
    use (a signing input is ASCII by definition). Raises :class:`BadBase64`
    naming ``what`` for a non-string, a character outside the base64url
    alphabet (padding, ``+``, ``/``, whitespace, anything non-ASCII), an
    impossible length or stray bits in the last character.
    """
    if not isinstance(segment, str) or not segment.isascii():
        raise BadBase64(f"{what} is not unpadded base64url")
    data = segment.encode("ascii")
    if data.translate(None, _B64URL_BYTES) or len(data) % 4 == 1:
        raise BadBase64(f"{what} is not unpadded base64url")
    # Reject non-canonical encodings (stray bits in the last character) so that
    # one byte string has exactly one textual form.
    spare = _B64URL_SPARE_BITS.get(len(data) % 4)
    if spare and _B64URL_INDEX[segment[-1]] & spare:
        raise BadBase64(f"{what} is not canonical base64url")
    return data


def b64url_decode(segment: str, what: str) -> bytes:
    """Decode canonical unpadded base64url, or raise :class:`BadBase64` naming ``what``.

    Refuses what :func:`b64url_check` refuses: the strict decoder rejects any byte
    outside the alphabet, so this needs no separate alphabet pass.
    """
    if not isinstance(segment, str) or not segment.isascii():
        raise BadBase64(f"{what} is not unpadded base64url")
    data = segment.encode("ascii")
    # strict_mode refuses bytes outside the standard alphabet after translation;
    # "+", "/" and "=" would pass it, so they are refused first.
    if b"=" in data or b"+" in data or b"/" in data or len(data) % 4 == 1:
        raise BadBase64(f"{what} is not unpadded base64url")
    spare = _B64URL_SPARE_BITS.get(len(data) % 4)
    if spare and _B64URL_INDEX.get(segment[-1], 0) & spare:
        raise BadBase64(f"{what} is not canonical base64url")
    try:
        return binascii.a2b_base64(data.translate(_TO_STANDARD) + _PADDING[len(data) % 4], strict_mode=True)
    except (binascii.Error, ValueError) as e:
        raise BadBase64(f"{what} is not unpadded base64url") from e


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateJsonKey(f"JSON member {key!r} appears more than once")
            seen.add(key)
    return result


def _reject_constant(name: str) -> Any:
    raise BadJson(f"JSON constant {name} is not allowed")


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)


def json_object(data: bytes, what: str) -> dict[str, Any]:
    """Parse UTF-8 JSON that must be an object with no repeated member names."""
    try:
        text = data.decode("utf-8")
        value, end = _DECODER.raw_decode(text)
    except DuplicateJsonKey:
        raise
    except BadJson:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise BadJson(f"{what} is not valid UTF-8 JSON") from e
    if text[end:].strip():
        raise BadJson(f"{what} has trailing data after the JSON value")
    if not isinstance(value, dict):
        raise BadJson(f"{what} is not a JSON object")
    return value


def json_compact(value: Any) -> bytes:
    """Serialise ``value`` as minified UTF-8 JSON (no spaces, no ASCII escaping)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def deflate(data: bytes) -> bytes:
    """Compress with raw DEFLATE (RFC 1951, no zlib header), as ``zip: DEF`` requires."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    return c.compress(data) + c.flush()


def inflate(data: bytes, limit: int = MAX_PAYLOAD) -> bytes:
    """Inflate raw DEFLATE, never producing more than ``limit`` bytes.

    Raises :class:`PayloadTooLarge` for a stream that would inflate past the
    limit (a decompression bomb) and :class:`DecompressionFailed` for anything
    that is not exactly one complete raw DEFLATE stream.
    """
    d = zlib.decompressobj(-15)
    try:
        out = d.decompress(data, limit)
    except zlib.error as e:
        raise DecompressionFailed("payload is not a raw DEFLATE stream") from e
    if d.unconsumed_tail:
        raise PayloadTooLarge(f"payload inflates beyond {limit} bytes")
    if not d.eof:
        raise DecompressionFailed("payload DEFLATE stream is truncated")
    if d.unused_data:
        raise DecompressionFailed("payload has data after the DEFLATE stream")
    return out
