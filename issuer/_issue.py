"""Sign certificates: eligibility, claims, compact JWS, QR text.

The token is built with the very codecs the verifier uses (``hcert_verifier``),
and every issued token can be checked with :class:`hcert_verifier.Verifier`.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hcert_verifier import (
    ALGORITHM,
    CST,
    TYP,
    b64url_encode,
    date_to_int,
    deflate,
    json_compact,
    mask_resident_id,
    qr_encode,
)
from keys import SigningKey

from ._application import (
    Application,
    ApplicationError,
    FreightTestApplication,
    ReturnToWorkApplication,
)
from ._eligibility import IssuePolicy, check_eligibility

__all__ = ["IssuedCertificate", "Issuer", "new_jti"]

_TEST_KIND = {"nucleic_acid": "n", "antigen": "a"}


def new_jti() -> str:
    """Return a fresh certificate id: 72 random bits as 12 base64url characters."""
    return b64url_encode(secrets.token_bytes(9))


@dataclass(frozen=True)
class IssuedCertificate:
    """A signed certificate: its id, token, QR text and the claims it carries."""

    jti: str
    kind: str
    kid: str
    token: str
    qr_text: str
    claims: dict[str, Any]
    issued_at: dt.datetime
    expires: dt.datetime


def _ts(when: dt.datetime) -> int:
    if when.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return int(when.timestamp())


class Issuer:
    """Sign certificates for one authority.

    ``signing_key`` is the key or a callable returning the current active key
    (so that a rotation takes effect on the next certificate).
    """

    def __init__(
        self,
        *,
        authority: str,
        signing_key: SigningKey | Callable[[], SigningKey],
        policy: IssuePolicy = IssuePolicy(),
    ) -> None:
        self.authority = authority
        self._key = signing_key if callable(signing_key) else (lambda: signing_key)
        self.policy = policy

    def check(self, application: Application, *, now: dt.datetime) -> None:
        """Raise :class:`ApplicationError` if the application is not eligible at ``now``."""
        errors = check_eligibility(application, authority=self.authority, now=now, policy=self.policy)
        if errors:
            raise ApplicationError(errors)

    def claims(
        self, application: Application, *, now: dt.datetime, jti: str, status: tuple[int, int] | None
    ) -> dict[str, Any]:
        """Return the claim set for an eligible application (see docs/FORMAT.md)."""
        iat = _ts(now)
        claims: dict[str, Any] = {"iss": self.authority, "nbf": iat}
        if isinstance(application, ReturnToWorkApplication):
            days = application.valid_days or self.policy.return_to_work_valid_days
            claims["exp"] = iat + days * 86400
        else:
            claims["exp"] = _ts(application.sampled_at) + self.policy.freight_valid_hours * 3600
        claims["jti"] = jti
        if status is not None:
            claims["st"] = [status[1], status[0]]  # [index, list number]
        claims["k"] = application.kind
        claims["n"] = application.name
        claims["id"] = mask_resident_id(application.resident_id)
        if isinstance(application, ReturnToWorkApplication):
            claims["o"] = application.origin_region
            claims["rs"] = date_to_int(application.resident_since)
            claims["sy"] = 0
            released = application.quarantine_released_on
            claims["q"] = date_to_int(released) if application.quarantine == "released" and released else 0
            claims["hc"] = application.health_code[0]
            for name, value in (
                ("dp", application.destination_province),
                ("em", application.employer),
                ("vp", application.vehicle_plate),
            ):
                if value is not None:
                    claims[name] = value
        elif isinstance(application, FreightTestApplication):
            claims["r"] = application.role[0]
            claims["vp"] = application.vehicle_plate
            claims["tk"] = _TEST_KIND[application.test_kind]
            claims["tr"] = "n"
            claims["ts"] = _ts(application.sampled_at)
            claims["lab"] = application.testing_institution
            claims["ro"] = application.route_origin
            claims["rd"] = application.route_destination
            claims["nk"] = 1
        return claims

    def sign(self, claims: dict[str, Any]) -> tuple[str, str]:
        """Sign a claim set; return ``(kid, compact token)``."""
        key = self._key()
        header = json_compact({"alg": ALGORITHM, "kid": key.kid, "typ": TYP, "zip": "DEF"})
        signing_input = f"{b64url_encode(header)}.{b64url_encode(deflate(json_compact(claims)))}"
        signature = key.sign(signing_input.encode("ascii"))
        return key.kid, f"{signing_input}.{b64url_encode(signature)}"

    def issue(
        self,
        application: Application,
        *,
        now: dt.datetime,
        status: tuple[int, int] | None = None,
        jti: str | None = None,
    ) -> IssuedCertificate:
        """Check, sign and encode one certificate.

        ``status`` is ``(list number, index)`` of the certificate's status-list
        entry, allocated by the caller's store. Raises :class:`ApplicationError`.
        """
        self.check(application, now=now)
        return self.sign_application(application, now=now, status=status, jti=jti)

    def sign_application(
        self,
        application: Application,
        *,
        now: dt.datetime,
        status: tuple[int, int] | None = None,
        jti: str | None = None,
    ) -> IssuedCertificate:
        """Sign an application that :meth:`check` has already passed."""
        jti = jti or new_jti()
        claims = self.claims(application, now=now, jti=jti, status=status)
        kid, token = self.sign(claims)
        return IssuedCertificate(
            jti=jti,
            kind=application.kind,
            kid=kid,
            token=token,
            qr_text=qr_encode(token),
            claims=claims,
            issued_at=now.astimezone(CST),
            expires=dt.datetime.fromtimestamp(claims["exp"], CST),
        )
