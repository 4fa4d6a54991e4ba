"""The hcert claim set: every claim checked for presence, type and range.

Claim names are short because every byte costs QR modules; ``docs/FORMAT.md``
maps each to its meaning. Dates are China Standard Time (UTC+8, no daylight
saving) calendar dates written as the integer YYYYMMDD.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from ._errors import BadClaims

__all__ = [
    "CST",
    "KINDS",
    "KIND_FREIGHT_TEST",
    "KIND_RETURN_TO_WORK",
    "MIN_RESIDENCY_DAYS",
    "Certificate",
    "StatusReference",
    "date_from_int",
    "date_to_int",
    "mask_resident_id",
    "parse_claims",
    "unmask_display",
]

CST = dt.timezone(dt.timedelta(hours=8), "CST")
KIND_RETURN_TO_WORK = "w"
KIND_FREIGHT_TEST = "f"
KINDS = {KIND_RETURN_TO_WORK: "return-to-work", KIND_FREIGHT_TEST: "freight-test"}
MIN_RESIDENCY_DAYS = 14

_REGION = re.compile(r"[1-8][0-9]{5}")
_AUTHORITY = re.compile(r"[1-8][0-9]{5}(?:[0-9]{3}(?:[0-9]{3})?)?")
_PROVINCE = re.compile(r"[1-8][0-9]")
_MASKED_ID = re.compile(r"[1-8][0-9]{5}[0-9]{3}[0-9X]")
_JTI = re.compile(r"[A-Za-z0-9_-]{12}")
#: Mainland plate: province abbreviation, issuing-office letter, then 5 (ordinary)
#: or 6 (new-energy) letters/digits; I and O are never used.
PLATE = re.compile(
    "[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼]"
    "[A-HJ-NP-Z][A-HJ-NP-Z0-9]{4,5}[A-HJ-NP-Z0-9挂学警港澳]"
)
_MAX_TEXT = 64
_TIME_MIN = 1_577_836_800  # 2020-01-01T00:00:00Z; no certificate predates the format
_TIME_MAX = 4_102_444_800  # 2100-01-01T00:00:00Z

_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_CST_OFFSET = 8 * 3600
_HEALTH_CODES = ("g", "y")

_COMMON = {"iss", "nbf", "exp", "jti", "iat", "st", "k", "n", "id"}
_ALLOWED = {
    KIND_RETURN_TO_WORK: _COMMON | {"o", "rs", "sy", "q", "hc", "dp", "em", "vp"},
    KIND_FREIGHT_TEST: _COMMON | {"r", "vp", "tk", "tr", "ts", "lab", "ro", "rd", "nk"},
}


def date_to_int(day: dt.date) -> int:
    """Return ``day`` as the integer YYYYMMDD."""
    return day.year * 10000 + day.month * 100 + day.day


def date_from_int(value: int) -> dt.date:
    """Return the date for an integer YYYYMMDD, or raise ``ValueError``."""
    return dt.date(value // 10000, value // 100 % 100, value % 100)


def mask_resident_id(resident_id: str) -> str:
    """Return the 10-character QR form of an 18-character resident ID number.

    Kept: the 6-digit address code (where the holder was registered, which a
    guard compares with the origin) and the last 4 (three sequence digits and the
    check character, what a guard compares with the ID card in hand). Dropped:
    the 8-digit birth date, the most identifying part.
    """
    resident_id = resident_id.upper()
    return resident_id[:6] + resident_id[14:]


def unmask_display(masked: str) -> str:
    """Return the display form ``510321********123X`` of a 10-character masked ID."""
    return masked[:6] + "*" * 8 + masked[6:]


class StatusReference(NamedTuple):
    """Where a certificate's revocation bit lives: list ``lst`` of issuer ``iss``, index ``idx``."""

    iss: str
    lst: int
    idx: int

    def token_status_claim(self, uri: str) -> dict[str, Any]:
        """Return the IETF Token Status List form of this reference for a list at ``uri``."""
        return {"status": {"status_list": {"idx": self.idx, "uri": uri}}}


class Certificate(NamedTuple):
    """A verified certificate: what a guard needs, plus every claim.

    Times are kept as Unix seconds (``iat``, ``nbf``, ``exp``) and shown as
    aware datetimes by the properties. (An immutable named tuple: it is made
    on every scan.)
    """

    kind: str
    issuer: str
    jti: str
    name: str
    masked_id: str
    iat: int
    nbf: int
    exp: int
    status: StatusReference | None
    claims: Mapping[str, Any]

    @property
    def issued_at(self) -> dt.datetime:
        """Return the issue time (``iat``, or ``nbf`` when there is no ``iat``)."""
        return _utc(self.iat)

    @property
    def valid_from(self) -> dt.datetime:
        """Return the start of validity (``nbf``)."""
        return _utc(self.nbf)

    @property
    def expires(self) -> dt.datetime:
        """Return the end of validity (``exp``)."""
        return _utc(self.exp)

    @property
    def kind_name(self) -> str:
        """Return the long name of the kind (``return-to-work`` or ``freight-test``)."""
        return KINDS[self.kind]

    @property
    def masked_id_display(self) -> str:
        """Return the masked ID with the hidden digits shown as asterisks."""
        return unmask_display(self.masked_id)

    def summary(self) -> dict[str, Any]:
        """Return a JSON-ready summary for a guard's screen."""
        return {
            "kind": self.kind_name,
            "issuer": self.issuer,
            "id": self.jti,
            "name": self.name,
            "masked_id": self.masked_id_display,
            "issued_at": self.issued_at.astimezone(CST).isoformat(),
            "valid_from": self.valid_from.astimezone(CST).isoformat(),
            "expires": self.expires.astimezone(CST).isoformat(),
            "claims": dict(self.claims),
        }


def _fail(claim: str, why: str) -> BadClaims:
    return BadClaims(f"claim {claim!r} {why}")


def _int(claims: Mapping[str, Any], name: str, lo: int, hi: int) -> int:
    value = claims.get(name)
    # bool is an int subclass; true is not a time.
    if type(value) is not int:
        raise _fail(name, "must be an integer")
    if not lo <= value <= hi:
        raise _fail(name, f"must be between {lo} and {hi}")
    return value


def _text(claims: Mapping[str, Any], name: str, pattern: re.Pattern[str] | None = None) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value or len(value) > _MAX_TEXT or not value.isprintable():
        raise _fail(name, f"must be printable text of 1 to {_MAX_TEXT} characters")
    if pattern is not None and not pattern.fullmatch(value):
        raise _fail(name, "is not in the required format")
    return value


def _choice(claims: Mapping[str, Any], name: str, choices: tuple[Any, ...]) -> Any:
    value = claims.get(name)
    if type(value) not in (str, int) or value not in choices:
        raise _fail(name, f"must be one of {', '.join(map(repr, choices))}")
    return value


def _date(claims: Mapping[str, Any], name: str) -> dt.date:
    value = _int(claims, name, 20000101, 20991231)
    try:
        return date_from_int(value)
    except ValueError as e:
        raise _fail(name, "is not a calendar date YYYYMMDD") from e


def _utc(ts: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def _match(claims: Mapping[str, Any], name: str, pattern: re.Pattern[str]) -> str:
    value = claims.get(name)
    # The patterns bound the length and the alphabet; no other check is needed.
    if type(value) is not str or pattern.fullmatch(value) is None:
        raise _fail(name, "is missing or not in the required format")
    return value


def parse_claims(claims: Mapping[str, Any]) -> Certificate:
    """Check every claim of a signature-verified payload and build a :class:`Certificate`.

    Time claims are checked for range and order here; against the verification
    time in the verifier. Raises :class:`BadClaims` naming the claim. (Written
    straight through, without a schema walker: this runs on every scan.)
    """
    get = claims.get
    kind = get("k")
    allowed = _ALLOWED.get(kind) if type(kind) is str else None
    if allowed is None:
        raise _fail("k", f"must be one of {', '.join(map(repr, KINDS))}")
    if not allowed.issuperset(claims):
        raise _fail(sorted(set(claims) - allowed)[0], f"is not defined for kind {kind!r}")
    iss = _match(claims, "iss", _AUTHORITY)
    nbf = _int(claims, "nbf", _TIME_MIN, _TIME_MAX)
    exp = _int(claims, "exp", _TIME_MIN, _TIME_MAX)
    iat = _int(claims, "iat", _TIME_MIN, _TIME_MAX) if "iat" in claims else nbf
    if not iat <= nbf < exp:
        raise _fail("exp", "must come after nbf, and nbf not before iat")
    jti = _match(claims, "jti", _JTI)
    name = _text(claims, "n")
    masked = _match(claims, "id", _MASKED_ID)
    status = None
    st = get("st")
    if st is not None:
        if not (
            type(st) is list
            and len(st) == 2
            and type(st[0]) is int
            and type(st[1]) is int
            and 0 <= st[0] < 2**31
            and 0 <= st[1] < 2**31
        ):
            raise _fail("st", "must be [index, list number] with two non-negative integers")
        status = StatusReference(iss, st[1], st[0])
    # The issue date in China Standard Time as a day number, without building datetimes.
    issue_day = (iat + _CST_OFFSET) // 86400 + _EPOCH_ORDINAL
    if kind == KIND_RETURN_TO_WORK:
        _match(claims, "o", _REGION)
        if issue_day - _day(claims, "rs") < MIN_RESIDENCY_DAYS:
            raise _fail("rs", f"must be at least {MIN_RESIDENCY_DAYS} days before the issue date")
        if get("sy") != 0 or type(get("sy")) is not int:
            raise _fail("sy", "must be 0 (no symptoms declared)")
        q = get("q")
        if not (q == 0 and type(q) is int) and _day(claims, "q") > issue_day:
            raise _fail("q", "quarantine release must be on or before the issue date")
        if get("hc") not in _HEALTH_CODES or type(get("hc")) is not str:
            raise _fail("hc", "must be 'g' or 'y'")
        if "dp" in claims:
            _match(claims, "dp", _PROVINCE)
        if "em" in claims:
            _text(claims, "em")
        if "vp" in claims:
            _match(claims, "vp", PLATE)
    else:
        _choice(claims, "r", ("d", "p"))
        _match(claims, "vp", PLATE)
        _choice(claims, "tk", ("n", "a"))
        _choice(claims, "tr", ("n",))
        sampled = _int(claims, "ts", _TIME_MIN, _TIME_MAX)
        if sampled > iat:
            raise _fail("ts", "sampling time must not be after the issue time")
        _text(claims, "lab")
        _match(claims, "ro", _REGION)
        _match(claims, "rd", _REGION)
        _choice(claims, "nk", (1,))
    return Certificate(kind, iss, jti, name, masked, iat, nbf, exp, status, claims)  # type: ignore[arg-type]


def _day(claims: Mapping[str, Any], name: str) -> int:
    """Return a YYYYMMDD claim as a day ordinal (days since 1970-01-01 plus the epoch's ordinal)."""
    return _date(claims, name).toordinal()
