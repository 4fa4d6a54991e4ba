"""The offline verifier: QR text or compact token in, a typed verdict out.

The numbered steps match section 6 of ``docs/FORMAT.md``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from ._claims import KIND_RETURN_TO_WORK, Certificate, parse_claims
from ._codec import QR_PREFIX, b64url_decode, inflate, json_object, qr_decode
from ._errors import (
    BadQrPrefix,
    BundleExpired,
    ClockBeforeBundle,
    Expired,
    IssuedInFuture,
    KeyNotYetValid,
    KeyWithdrawn,
    NotYetValid,
    OutOfScope,
    RejectedByRules,
    Revoked,
    RulesUnavailable,
    StatusListExpired,
    StatusUnavailable,
    Suspended,
    TrustListExpired,
    UnknownIssuer,
    UnknownKey,
    VerificationError,
)
from ._jwk import KID_LENGTH
from ._jws import check_header, split_token, verify_es256
from .bundle import STALE_AFTER, Bundle
from .rules import RuleOutcome, evaluate
from .status import STATUS_REVOKED, STATUS_SUSPENDED, StatusSource
from .trust import TrustedKey, TrustSource

__all__ = ["CLOCK_LEEWAY", "TYP", "Result", "Verifier", "decode_token", "verify_compact_jws"]

#: Certificate type in the JWS header.
TYP = "hc1"
#: Seconds of clock difference tolerated between issuer and device, both ways.
#: Five minutes covers an unsynchronised phone clock without stretching a
#: certificate's validity in any way that matters at a gate.
CLOCK_LEEWAY = 300

_HEADER_PARAMS = frozenset({"alg", "kid", "typ", "zip"})
_HEADER_CACHE_MAX = 4096


@dataclass(frozen=True)
class Result:
    """The verdict on one certificate.

    ``valid`` is the answer; ``code`` is ``"ok"`` or the stable failure code;
    ``reason`` says why in words. ``certificate`` is set whenever the signature
    verified and the claims parsed, even if the certificate was then refused
    (expired, revoked ...), so that the guard can see whose it is. Every field
    after ``reason`` is keyword-only.
    """

    valid: bool
    code: str
    reason: str
    _: KW_ONLY
    certificate: Certificate | None = None
    kid: str | None = None
    status_checked: bool = False
    warnings: tuple[str, ...] = ()
    rules: tuple[RuleOutcome, ...] = ()
    destination: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict, the one the CLI and the API print."""
        return {
            "valid": self.valid,
            "code": self.code,
            "reason": self.reason,
            "kid": self.kid,
            "status_checked": self.status_checked,
            "warnings": list(self.warnings),
            "destination": self.destination,
            "rules": [r.to_dict() for r in self.rules],
            "certificate": self.certificate.summary() if self.certificate else None,
        }


def _to_token(text: str) -> str:
    # The text is taken exactly as scanned: nothing is trimmed, so a certificate
    # has exactly one QR text and one token that verify (a file's line ending is
    # the CLI's business).
    if text.startswith(QR_PREFIX):
        return qr_decode(text)
    if text.count(".") == 2:
        return text
    raise BadQrPrefix(f"input is neither hcert QR text (starting {QR_PREFIX!r}) nor a compact JWS")


def _timestamp(at: dt.datetime | int | float | None) -> int:
    if at is None:
        return int(dt.datetime.now(dt.UTC).timestamp())
    if isinstance(at, dt.datetime):
        if at.tzinfo is None:
            raise ValueError("verification time must be timezone-aware")
        return int(at.timestamp())
    return int(at)


class Verifier:
    """Verify hcert certificates offline against a trust source.

    ``trust`` resolves key ids (a :class:`JwksTrust` or an offline bundle);
    ``status`` holds status lists, if any are at hand. With
    ``require_status=True`` a certificate whose list is missing is refused
    (``status_unavailable``) instead of passing with a warning.
    """

    def __init__(
        self,
        trust: TrustSource,
        *,
        status: StatusSource | None = None,
        require_status: bool = False,
        bundle: Bundle | None = None,
    ) -> None:
        self._trust = trust
        self._status = status
        self._require_status = require_status
        self._bundle = bundle
        # Header segment -> trusted key. Only headers that passed every header
        # rule and name a trusted key are cached, so the cache is bounded by the
        # trust list, and a token's header is parsed once per key, not per scan.
        self._headers: dict[str, TrustedKey] = {}

    @classmethod
    def from_bundle(cls, bundle: Bundle, *, require_status: bool = True) -> Verifier:
        """Verify against an offline bundle: its trust list, status lists and rules.

        With a bundle, a certificate whose status list is missing is refused by
        default (``status_unavailable``): the bundle is meant to carry them all.
        """
        return cls(bundle, status=bundle, require_status=require_status, bundle=bundle)

    def verify(
        self,
        qr_text_or_token: str,
        *,
        at: dt.datetime | int | float | None = None,
        destination: str | None = None,
        checkpoint: str = "gate",
        now: int | None = None,
    ) -> Result:
        """Verify QR text or a compact token at time ``at`` (default: the device clock).

        With a bundle and a ``destination`` province, that province's rules for
        ``checkpoint`` (any name the rules use, e.g. ``gate`` or ``highway``)
        are applied too. With a bundle and no ``at``, a device clock earlier
        than the bundle's signed ``issued_at`` (beyond :data:`CLOCK_LEEWAY`) is
        refused (``clock_before_bundle``): the clock is wrong. An explicit
        ``at`` is the operator's word and only gets a warning. ``now`` is a
        reading of the device clock (Unix seconds) in place of the system
        clock: unlike ``at`` it is not the operator's word. Never raises
        for a bad certificate: every failure is a :class:`Result` with
        ``valid=False`` and its code.
        """
        explicit = at is not None
        now = _timestamp(at if explicit or now is None else now)
        warnings: list[str] = []
        bundle = self._bundle
        if bundle is not None:
            # Step 0: the bundle's own age, against the device clock.
            if now >= bundle.expires:
                return Result(
                    False,
                    BundleExpired.code,
                    "the trust bundle has expired; sync before verifying",
                    destination=destination,
                )
            if now >= bundle.trust_list_expires:
                # A bundle whose root-signed trust list has expired verifies nothing.
                return Result(
                    False,
                    TrustListExpired.code,
                    "the trust list in the bundle has expired; the national root must re-sign it",
                    destination=destination,
                )
            if now < bundle.issued_at - CLOCK_LEEWAY:
                if not explicit:
                    return Result(
                        False,
                        ClockBeforeBundle.code,
                        "the device clock is earlier than the trust bundle's issue time; set the clock (or pass at)",
                        destination=destination,
                    )
                warnings.append("clock_before_bundle")
            elif now - bundle.issued_at > STALE_AFTER:
                warnings.append("bundle_stale")
        try:
            cert, key = self._authenticate(qr_text_or_token)
        except VerificationError as e:
            return Result(False, e.code, e.reason, warnings=tuple(warnings), destination=destination)
        try:
            checked = self._judge(cert, key, now, warnings)
        except VerificationError as e:
            # A revoked or suspended verdict comes from the status list: it was checked.
            status = isinstance(e, Revoked | Suspended)
            return Result(
                False,
                e.code,
                e.reason,
                certificate=cert,
                kid=key.kid,
                status_checked=status,
                warnings=tuple(warnings),
                destination=destination,
            )
        if destination is None:
            return Result(
                True, "ok", "valid", certificate=cert, kid=key.kid, status_checked=checked, warnings=tuple(warnings)
            )
        # Step 9: the destination's acceptance rules.
        ruleset = bundle.rules_for(destination) if bundle is not None else None
        rules = ruleset.compiled(checkpoint) if ruleset is not None else None
        if rules is None:
            return Result(
                False,
                RulesUnavailable.code,
                f"no rules for province {destination}, checkpoint {checkpoint}",
                certificate=cert,
                kid=key.kid,
                status_checked=checked,
                warnings=tuple(warnings),
                destination=destination,
            )
        accepted, outcomes = evaluate(rules, cert, at=now, province=destination)
        failed = "; ".join(f"{o.id}: {o.reason}" for o in outcomes if o.outcome != "PASS")
        return Result(
            accepted,
            "ok" if accepted else RejectedByRules.code,
            "valid" if accepted else failed,
            certificate=cert,
            kid=key.kid,
            status_checked=checked,
            warnings=tuple(warnings),
            rules=outcomes,
            destination=destination,
        )

    def _key_for(self, header_segment: str) -> TrustedKey:
        key = self._headers.get(header_segment)
        if key is not None:
            return key
        # Step 3: the protected header.
        unverified_header = check_header(header_segment, typ=TYP, allowed=_HEADER_PARAMS, kid_length=KID_LENGTH)
        # Step 4a: the key, from the trust source only.
        key = self._trust.key(unverified_header["kid"])
        if key is None:
            raise UnknownKey(f"no trusted key has kid {unverified_header['kid']!r}")
        if len(self._headers) < _HEADER_CACHE_MAX:
            self._headers[header_segment] = key
        return key

    def _authenticate(self, text: str) -> tuple[Certificate, TrustedKey]:
        if not isinstance(text, str):
            raise BadQrPrefix("input must be text")
        # Steps 1-2: transport and JWS structure.
        jws = split_token(_to_token(text))
        key = self._key_for(jws.header_segment)
        # Step 4b: the signature, before anything in the payload is looked at.
        verify_es256(key.public_key, jws.signing_input, jws.signature, allow_high_s=False)
        # Step 5: payload and claims.
        claims = json_object(inflate(jws.unverified_payload), "payload")
        return parse_claims(claims), key

    def _judge(self, cert: Certificate, key: TrustedKey, now: int, warnings: list[str]) -> bool:
        """Apply steps 6-8; return whether the status was checked, or raise the failure."""
        claims = cert.claims
        # Step 6: key state and binding.
        if key.state == "withdrawn":
            raise KeyWithdrawn(f"key {key.kid} was withdrawn; the certificate must be re-issued")
        if key.issuer is not None and key.issuer != cert.issuer:
            raise UnknownIssuer(f"key {key.kid} belongs to authority {key.issuer}, not {cert.issuer}")
        iat = cert.iat
        if (key.not_before is not None and iat < key.not_before) or (key.not_after is not None and iat > key.not_after):
            raise KeyNotYetValid(f"key {key.kid} was not valid for signing at the certificate's issue time")
        if key.kinds is not None and cert.kind not in key.kinds:
            raise OutOfScope(f"authority {cert.issuer} may not issue {cert.kind_name} certificates")
        if key.regions is not None and cert.kind == KIND_RETURN_TO_WORK and not claims["o"].startswith(key.regions):
            raise OutOfScope(f"authority {cert.issuer} may not certify residents of region {claims['o']}")
        # Step 7: time, with CLOCK_LEEWAY either way.
        if iat > now + CLOCK_LEEWAY:
            raise IssuedInFuture(f"issued at {cert.issued_at.isoformat()}, after the verification time")
        if cert.nbf > now + CLOCK_LEEWAY:
            raise NotYetValid(f"valid from {cert.valid_from.isoformat()}")
        if cert.exp <= now - CLOCK_LEEWAY:
            raise Expired(f"expired at {cert.expires.isoformat()}")
        # Step 8: status.
        checked = False
        if cert.status is not None:
            lst = self._status.status_list(cert.issuer, cert.status.lst) if self._status else None
            if lst is None:
                if self._require_status:
                    raise StatusUnavailable(f"no status list {cert.issuer}/{cert.status.lst} at hand")
                warnings.append("status_not_checked")
                return False
            try:
                value = lst.status(cert.status.idx)
            except IndexError:
                raise StatusUnavailable("the certificate's status index is past the end of its list") from None
            # Revocation is final, so even a list past its exp proves it.
            if value == STATUS_REVOKED:
                raise Revoked(f"revoked by authority {cert.issuer}")
            if not lst.is_current(now, leeway=CLOCK_LEEWAY):
                # Otherwise a list past its exp (or without one) says nothing about today.
                if self._require_status:
                    raise StatusListExpired(f"status list {cert.issuer}/{cert.status.lst} is past its exp")
                warnings.append("status_list_expired")
                return False
            if value == STATUS_SUSPENDED:
                raise Suspended(f"suspended by authority {cert.issuer}")
            checked = True
        return checked


def decode_token(qr_text_or_token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Decode header and claims WITHOUT verifying anything, for inspection only.

    Raises the :class:`VerificationError` of the first structural defect.
    """
    jws = split_token(_to_token(qr_text_or_token))
    unverified_header = json_object(b64url_decode(jws.header_segment, "header"), "header")
    payload = jws.unverified_payload
    if unverified_header.get("zip") == "DEF":
        payload = inflate(payload)
    return unverified_header, json_object(payload, "payload")


def verify_compact_jws(
    token: str,
    keys: Mapping[str, ec.EllipticCurvePublicKey],
    *,
    allow_high_s: bool = True,
    allowed_headers: frozenset[str] = frozenset({"alg", "kid", "zip"}),
    max_token: int = 8192,
) -> dict[str, Any]:
    """Verify a foreign ES256 + DEFLATE compact JWS (a SMART Health Card) and return its claims.

    The same transport, header, signature and inflate steps as hcert's, without
    hcert's claim profile. ``keys`` maps kid to public key. Raises
    :class:`VerificationError`.
    """
    jws = split_token(token, limit=max_token)
    unverified_header = check_header(jws.header_segment, typ=None, allowed=allowed_headers, kid_length=None)
    key = keys.get(unverified_header["kid"])
    if key is None:
        raise UnknownKey(f"no trusted key has kid {unverified_header['kid']!r}")
    verify_es256(key, jws.signing_input, jws.signature, allow_high_s=allow_high_s)
    return json_object(inflate(jws.unverified_payload, 64 * 1024), "payload")
