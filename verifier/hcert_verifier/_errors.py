"""The error tree of hcert.

Every failure a verifier can report is a subclass of :class:`VerificationError`
with a stable ``code`` string. The CLI prints it, the HTTP API returns it in a
problem+json body and the web page shows it; the codes never change meaning.
"""

from __future__ import annotations

__all__ = [
    "AlgorithmNotAllowed",
    "BadBase64",
    "BadClaims",
    "BadJson",
    "BadKid",
    "BadQrDigits",
    "BadQrPrefix",
    "BadSignature",
    "BadTyp",
    "BadZip",
    "BundleError",
    "BundleExpired",
    "BundleIssuedInFuture",
    "BundleRollback",
    "BundleValidityTooLong",
    "ClockBeforeBundle",
    "CritUnsupported",
    "DecompressionFailed",
    "DuplicateJsonKey",
    "Expired",
    "ForbiddenHeader",
    "FreshnessRollback",
    "HcertError",
    "InputTooLarge",
    "IssuedInFuture",
    "KeyNotYetValid",
    "KeyWithdrawn",
    "MalformedToken",
    "NotYetValid",
    "OutOfScope",
    "PartMismatch",
    "PartMissing",
    "PayloadTooLarge",
    "RejectedByRules",
    "Revoked",
    "RulesRollback",
    "RulesUnavailable",
    "SignatureNotCanonical",
    "StatusListExpired",
    "StatusListRollback",
    "StatusUnavailable",
    "Suspended",
    "TrustError",
    "TrustListExpired",
    "TrustListRollback",
    "TrustListValidityTooLong",
    "UnknownHeader",
    "UnknownIssuer",
    "UnknownKey",
    "VerificationError",
    "VersionReused",
    "WithdrawalDropped",
]


class HcertError(Exception):
    """Base of every error hcert raises on purpose."""

    code = "hcert_error"

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason or self.__class__.__doc__ or self.code)
        self.reason = reason or (self.__class__.__doc__ or self.code).strip()

    def diagnostics(self) -> str:
        """Return one line a person can act on: the code and the reason."""
        return f"{self.code}: {self.reason}"


class TrustError(HcertError):
    """The trust material (JWKS, trust list or bundle) could not be used."""

    code = "trust_error"


class BundleError(TrustError):
    """The offline bundle is missing, malformed or not signed by a pinned root."""

    code = "bundle_invalid"


class PartMissing(BundleError):
    """A part an index names is not at hand (the server did not have it)."""

    code = "part_missing"


class PartMismatch(BundleError):
    """A part's bytes do not match the SHA-256 address the index names it by."""

    code = "part_mismatch"


class BundleRollback(BundleError):
    """The bundle is older than the one the device holds (a replay)."""

    code = "bundle_rollback"


class TrustListRollback(BundleError):
    """The bundle carries an older trust list than the device has accepted."""

    code = "trust_list_rollback"


class RulesRollback(BundleError):
    """The bundle carries older rules of a province than the device has accepted."""

    code = "rules_rollback"


class FreshnessRollback(BundleError):
    """The index carries an older freshness statement of a province than the device has accepted."""

    code = "freshness_rollback"


class StatusListRollback(BundleError):
    """The bundle carries an older status list than the device has accepted."""

    code = "status_list_rollback"


class VersionReused(BundleError):
    """A signed object has the version of one the device accepted, with other content."""

    code = "version_reused"


class WithdrawalDropped(BundleError):
    """The bundle omits a key withdrawal that an earlier bundle announced."""

    code = "withdrawal_dropped"


class BundleValidityTooLong(BundleError):
    """The bundle's ``expires`` is further from its ``issued_at`` than the format allows."""

    code = "bundle_validity_too_long"


class TrustListValidityTooLong(BundleError):
    """The trust list's ``expires`` is further from its ``issued_at`` than devices allow."""

    code = "trust_list_validity_too_long"


class BundleIssuedInFuture(BundleError):
    """The bundle says it was issued after the device's current time."""

    code = "bundle_issued_in_future"


class VerificationError(HcertError):
    """A certificate did not verify."""

    code = "verification_failed"


# -- step 1: transport ------------------------------------------------------
class InputTooLarge(VerificationError):
    """The input is larger than any hcert certificate can be."""

    code = "input_too_large"


class BadQrPrefix(VerificationError):
    """The QR text does not start with the hcert scheme prefix."""

    code = "bad_qr_prefix"


class BadQrDigits(VerificationError):
    """The QR text after the prefix is not an even run of valid digit pairs."""

    code = "bad_qr_digits"


# -- step 2: JWS structure -------------------------------------------------
class MalformedToken(VerificationError):
    """The token is not three dot-separated base64url segments."""

    code = "malformed_token"


class BadBase64(VerificationError):
    """A token segment is not canonical unpadded base64url."""

    code = "bad_base64"


class BadJson(VerificationError):
    """A token segment is not a JSON object."""

    code = "bad_json"


class DuplicateJsonKey(BadJson):
    """A JSON object in the token repeats a member name."""

    code = "duplicate_json_key"


# -- step 3: protected header ------------------------------------------------
class AlgorithmNotAllowed(VerificationError):
    """The header names an algorithm other than ES256."""

    code = "alg_not_allowed"


class ForbiddenHeader(VerificationError):
    """The header carries a key-locating parameter (jku, x5u, jwk, x5c, ...)."""

    code = "forbidden_header"


class CritUnsupported(VerificationError):
    """The header has a crit parameter; hcert defines no critical extensions."""

    code = "crit_unsupported"


class UnknownHeader(VerificationError):
    """The header has a parameter that the hcert format does not define."""

    code = "unknown_header"


class BadTyp(VerificationError):
    """The header typ is not the hcert certificate type."""

    code = "bad_typ"


class BadZip(VerificationError):
    """The header zip is not DEF."""

    code = "bad_zip"


class BadKid(VerificationError):
    """The header kid is missing or not an 11-character base64url key id."""

    code = "bad_kid"


# -- step 4: key and signature -----------------------------------------------
class UnknownKey(VerificationError):
    """No trusted key has this kid."""

    code = "unknown_key"


class KeyWithdrawn(VerificationError):
    """The signing key was withdrawn (compromised or decommissioned)."""

    code = "key_withdrawn"


class KeyNotYetValid(VerificationError):
    """The certificate was issued outside its signing key's validity window."""

    code = "key_not_valid_at_issue"


class BadSignature(VerificationError):
    """The signature is malformed or does not verify with the trusted key."""

    code = "bad_signature"


class SignatureNotCanonical(VerificationError):
    """The ECDSA signature has a high s; hcert issuers always emit low s."""

    code = "signature_not_canonical"


# -- step 5: payload ---------------------------------------------------------
class DecompressionFailed(VerificationError):
    """The payload is not a valid raw DEFLATE stream."""

    code = "decompression_failed"


class PayloadTooLarge(VerificationError):
    """The payload inflates beyond the size limit (a decompression bomb)."""

    code = "payload_too_large"


class BadClaims(VerificationError):
    """A claim is missing, of the wrong type or out of range."""

    code = "bad_claims"


# -- step 6: time ------------------------------------------------------------
class Expired(VerificationError):
    """The certificate has expired."""

    code = "expired"


class NotYetValid(VerificationError):
    """The certificate is not valid yet."""

    code = "not_yet_valid"


class IssuedInFuture(VerificationError):
    """The certificate says it was issued after the verification time."""

    code = "issued_in_future"


# -- step 7: trust list scope and status ------------------------------------
class UnknownIssuer(VerificationError):
    """The issuing authority is not on the trust list, or the key is not its key."""

    code = "unknown_issuer"


class OutOfScope(VerificationError):
    """The issuing authority may not certify this kind or this region."""

    code = "out_of_scope"


class Revoked(VerificationError):
    """The issuing authority has revoked this certificate."""

    code = "revoked"


class Suspended(VerificationError):
    """The issuing authority has suspended this certificate."""

    code = "suspended"


class BundleExpired(VerificationError):
    """The offline trust bundle has expired; sync before verifying."""

    code = "bundle_expired"


class TrustListExpired(BundleExpired):
    """The root-signed trust list in the bundle has expired: the root must re-sign it.

    A kind of :class:`BundleExpired`: the bundle carrying it is as unusable.
    """

    code = "trust_list_expired"


class ClockBeforeBundle(VerificationError):
    """The device clock is earlier than the bundle's signed issue time: it is wrong."""

    code = "clock_before_bundle"


class RejectedByRules(VerificationError):
    """The destination's acceptance rules reject this certificate."""

    code = "rejected_by_rules"


class RulesUnavailable(VerificationError):
    """The bundle carries no rules for this destination and checkpoint."""

    code = "rules_unavailable"


class StatusUnavailable(VerificationError):
    """No current status list for this certificate is at hand, and one is required."""

    code = "status_unavailable"


class StatusListExpired(StatusUnavailable):
    """The certificate's status list is past its ``exp``; it is not used."""

    code = "status_list_expired"
