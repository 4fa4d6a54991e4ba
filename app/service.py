"""The issuing service as a library: what the HTTP routes and the ``hcert`` CLI both call."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hcert_verifier import HcertError, JwksTrust, TrustedKey, public_key_from_jwk, status_list_uri
from issuer import (
    STATUS_LIST_SIZE,
    ApplicationError,
    Issuer,
    StatusBits,
    parse_application,
    region_name,
    region_prefix,
    render_png,
    render_svg,
    sign_status_list,
)
from keys import KeyNotFound, KeyRecord, KeyRing, KeyRingError

from .audit import AuditAnchors
from .settings import Settings
from .store import (
    AuditEvent,
    Authority,
    CertificateRecord,
    Conflict,
    IdempotencyRecord,
    NotFound,
    Operator,
    Store,
    StoreError,
    StoreUnavailable,
)
from .store._base import ALL_KINDS, IssueWrite

__all__ = ["ROLES", "BatchResult", "IssuingService", "ServiceError", "hash_token"]

ROLES = ("operator", "authority_admin", "national_admin")
TOKEN_PREFIX = "hct_"  # noqa: S105 - the prefix of a credential, not one
#: Marks an idempotency request hash made with the server secret (``IssuingService.request_fingerprint``).
KEYED_REQUEST_PREFIX = "k1:"
log = logging.getLogger("hcert.service")

#: The store's change counter for everything a verdict depends on (``IssuingService.trust_changed``).
TRUST_GENERATION = "trust"
#: ``last_used`` of an operator is written at most this often (seconds): not a write per request.
LAST_USED_GRANULARITY = 60
#: Longest certificate validity; a retired key stays published this long.
MAX_VALIDITY = 30 * 86400
#: How long refused applications stay noted for the console (seconds): today's page needs a day.
REFUSALS_KEPT = 7 * 86400


class ServiceError(HcertError):
    """A request the service refuses, with a stable code and an HTTP status."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 400,
        errors: list[dict[str, Any]] | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.errors = errors or []
        self.headers = headers or {}


def hash_token(token: str) -> str:
    """Return the stored form of a bearer credential (credentials are 256-bit random)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class BatchResult:
    """Outcome of an issue request: issued certificates and refused rows."""

    batch: str
    issued: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


#: Seconds an authority read with a request's credential serves that request's scope check;
#: older (a slow upload), the issue reads it again. Bounds how late a narrowed scope can bind.
AUTHORITY_READ_FRESH = 1.0


@dataclass(frozen=True)
class AuthorityRead:
    """An authority as read with a request's credential, and when (``time.monotonic()``)."""

    authority: Authority
    at: float


def _token_shaped(token: str) -> bool:
    """Whether a presented credential looks like one (only those are looked up)."""
    return token.startswith(TOKEN_PREFIX) and len(token) <= 100


def _ts(now: dt.datetime) -> int:
    return int(now.timestamp())


class IssuingService:
    """Authorities, operators, keys, certificates, status lists and the audit log."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self._rings: dict[str, KeyRing] = {}
        self._issuers: dict[str, Issuer] = {}
        self._lock = threading.Lock()
        self._renders: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        # (authority, list) -> (bits version, signed at, kid, token)
        self._status_cache: dict[tuple[str, int], tuple[int, int, str, str]] = {}
        #: Changes signalled by this process (``trust_changed``), seen by its verifier at once.
        self.local_trust_changes = 0
        #: Each authority's status lists as this process knows them: a certificate in another
        #: one opened a list, which the bundle must carry (``issue`` signals it).
        self._known_lists: dict[str, set[int]] = {}
        secure_data_dir(settings.data_dir)
        self._subject_key = self._load_subject_key()
        self.audit_anchors = self._make_audit_anchors()
        store.audit_listener = self.audit_anchors.listener
        # Redis keeps a marker key of its own existence: written only for a new deployment (no
        # audit checkpoint yet), so that a store emptied since stays not ready (store_emptied)
        # whatever opens it next: another worker, a restart, an `hcert` command.
        store.new_deployment = lambda: not self.audit_anchors.chains()
        mark_if_new = getattr(store, "mark_if_new", None)
        if mark_if_new is not None:
            mark_if_new()
        # Idempotency records of older versions kept an unkeyed SHA-256 of the raw body
        # (ID number included): guessable. They go; a retry of such a request issues anew.
        try:
            store.forget_idempotency_without(KEYED_REQUEST_PREFIX)
        except StoreUnavailable as e:
            if not store.ping():  # not reachable at all: nothing to serve
                raise
            # A read-only store still serves reads (status lists, keys, bundles); /readyz says why
            # writes fail. The old records go at the next start that can write.
            log.warning("store cannot write at start: %s", e)

    def _make_audit_anchors(self) -> AuditAnchors:
        # The audit key and the checkpoints live with the signing keys, outside the database.
        return AuditAnchors(self.ring("_audit"), self.settings.key_root / "_audit", lookup=self.store.audit_hash)

    # -- secrets on disk -------------------------------------------------------------
    def _load_subject_key(self) -> bytes:
        if self.settings.subject_key:
            return self.settings.subject_key.encode()
        path = self.settings.data_dir / "subject.key"
        if not path.exists():
            _create_secret(path, secrets.token_hex(32).encode())
        return path.read_text().strip().encode()

    def subject_hash(self, resident_id: str) -> str:
        """Return the keyed hash that stands for a resident ID number in the database."""
        return hmac.new(self._subject_key, resident_id.upper().encode(), hashlib.sha256).hexdigest()

    def request_fingerprint(self, shape: str, rows: Sequence[Mapping[str, Any]]) -> str:
        """Return what the idempotency record keeps of a request: a keyed hash, never the body.

        The rows are hashed as canonical JSON with each ``resident_id`` replaced
        by its keyed hash, under a key derived from the server secret: the stored
        value cannot be tested against guessed ID numbers without that secret.
        """
        import json

        def scrub(row: Mapping[str, Any]) -> Any:
            if not isinstance(row, Mapping):
                return row
            rid = row.get("resident_id")
            return {**row, "resident_id": self.subject_hash(rid) if isinstance(rid, str) else rid}

        canonical = json.dumps([shape, [scrub(r) for r in rows]], sort_keys=True, ensure_ascii=False, default=str)
        key = hmac.new(self._subject_key, b"hcert idempotency request", hashlib.sha256).digest()
        return KEYED_REQUEST_PREFIX + hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()

    # -- keys ------------------------------------------------------------------------
    def ring(self, authority: str) -> KeyRing:
        """Return the key ring of an authority."""
        with self._lock:
            if authority not in self._rings:
                secure_data_dir(self.settings.key_root)
                passphrase = self.settings.key_passphrase.encode() if self.settings.key_passphrase else None
                self._rings[authority] = KeyRing(self.settings.key_root / authority, passphrase=passphrase)
            return self._rings[authority]

    def issuer(self, authority: str) -> Issuer:
        """Return the issuer of an authority; it signs with the ring's current active key."""
        ring = self.ring(authority)
        with self._lock:
            if authority not in self._issuers:
                self._issuers[authority] = Issuer(authority=authority, signing_key=ring.active)
            return self._issuers[authority]

    def _key_error(self, e: KeyRingError) -> ServiceError:
        # A missing or wrong passphrase is the server's configuration, not the request: 503.
        if isinstance(e, KeyNotFound):
            return ServiceError(e.code, str(e), 404)
        return ServiceError(e.code, str(e), 503)

    def rotate_key(self, authority: str, *, actor: str, now: dt.datetime) -> KeyRecord:
        """Make a new active key; the old one retires (its private part is deleted) and stays published.

        The audit entry is appended under the key ring's lock before the ring is
        saved: if the store refuses it, the new key is deleted and nothing changes.
        """
        self._require_authority(authority)

        def journal(record: KeyRecord) -> None:
            self.store.append_audit([AuditEvent(_ts(now), actor, authority, "key.rotate", record.kid, {})])

        try:
            key = self.ring(authority).rotate(now=_ts(now), max_validity=MAX_VALIDITY, journal=journal)
        except KeyRingError as e:
            raise self._key_error(e) from e
        return next(r for r in self.ring(authority).records if r.kid == key.kid)

    def withdraw_key(self, authority: str, kid: str, *, reason: str, actor: str, now: dt.datetime) -> KeyRecord:
        """Withdraw a key (compromise): verifiers reject what it signed from their next sync."""
        self._require_authority(authority)

        def journal(record: KeyRecord) -> None:
            event = AuditEvent(_ts(now), actor, authority, "key.withdraw", record.kid, {"reason": reason})
            self.store.append_audit([event])

        try:
            return self.ring(authority).withdraw(kid, now=_ts(now), reason=reason, journal=journal)
        except KeyRingError as e:
            raise self._key_error(e) from e
        finally:
            self.trust_changed()

    def trust_changed(self) -> None:
        """Tell every instance on this store that verdicts may have changed (a status, a key, the trust list).

        Best effort: when the store cannot take the signal, instances notice the
        change at their next periodic rebuild (``app.trust.VERIFIER_MAX_AGE``).
        """
        self.local_trust_changes += 1  # this process sees its own change at once
        try:
            self.store.bump_generation(TRUST_GENERATION)
        except (StoreError, OSError) as e:
            log.warning("the trust change signal was not stored: %s", e)

    def jwks(self, *, now: dt.datetime) -> dict[str, Any]:
        """Return the JWKS of every authority's published keys (each JWK names its ``iss``)."""
        keys: list[dict[str, Any]] = []
        for authority in self.store.list_authorities():
            keys.extend(self.ring(authority.code).jwks(now=_ts(now), issuer=authority.code)["keys"])
        return {"keys": keys}

    def trust(self, *, now: dt.datetime) -> JwksTrust:
        """Return the service's own keys as a verifier trust source."""
        keys = [
            TrustedKey(k["kid"], public_key_from_jwk(k), issuer=k["iss"], state=k["hcert_state"])
            for k in self.jwks(now=now)["keys"]
        ]
        return JwksTrust(keys)

    # -- authorities and operators ------------------------------------------------------
    def _require_authority(self, code: str) -> Authority:
        authority = self.store.get_authority(code)
        if authority is None:
            raise ServiceError("authority_not_found", f"no authority {code}", 404)
        return authority

    @staticmethod
    def scope_of(authority: Authority) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Return ``(kinds, regions)`` of an authority, its own region when none was set."""
        return authority.kinds, authority.regions or (region_prefix(authority.code),)

    @staticmethod
    def _valid_scope(
        code: str, kinds: Sequence[str] | None, regions: Sequence[str] | None
    ) -> tuple[tuple[str, ...], tuple[str, ...] | None]:
        """Check a scope: kinds among ``w``/``f``; regions are code prefixes inside the authority's own area.

        A scope can only narrow the area: eligibility already refuses residents
        from outside it (:func:`issuer.region_prefix`).
        """
        errors = []
        out_kinds = tuple(dict.fromkeys(kinds)) if kinds is not None else ALL_KINDS
        if not out_kinds or any(k not in ALL_KINDS for k in out_kinds):
            errors.append({"field": "kinds", "code": "scope", "message": "kinds are one or more of w, f"})
        out_regions = tuple(dict.fromkeys(regions)) if regions else None
        area = region_prefix(code)
        for region in out_regions or ():
            if not (region.isdigit() and 2 <= len(region) <= 6 and region.startswith(area)):
                errors.append(
                    {
                        "field": "regions",
                        "code": "scope",
                        "message": f"{region!r} is not a region-code prefix (2 to 6 digits) inside the area {area}"
                        + (" (a county's area is its own code: it has no narrower region)" if len(area) == 6 else ""),
                    }
                )
        if errors:
            raise ServiceError("invalid_scope", "the scope is not valid for this authority", 422, errors)
        return out_kinds, out_regions

    def set_scope(
        self,
        code: str,
        *,
        kinds: Sequence[str] | None = None,
        regions: Sequence[str] | None = None,
        actor: str,
        now: dt.datetime,
    ) -> Authority:
        """Change what an authority may issue: the kinds and the residents' region prefixes (``None``: unchanged).

        The next province export carries it to the trust list; issuing checks it at once.
        """
        current = self._require_authority(code)
        current_kinds, _ = self.scope_of(current)
        new_kinds, new_regions = self._valid_scope(
            code, kinds if kinds is not None else current_kinds, regions if regions is not None else current.regions
        )
        detail = {"kinds": list(new_kinds), "regions": list(new_regions or ())}
        try:
            return self.store.set_authority_scope(
                code,
                kinds=new_kinds,
                regions=new_regions,
                audit=AuditEvent(_ts(now), actor, code, "authority.scope", code, detail),
            )
        except NotFound as e:
            raise ServiceError("authority_not_found", str(e), 404) from e

    def create_authority(
        self,
        code: str,
        name_zh: str,
        name_en: str,
        *,
        actor: str,
        now: dt.datetime,
        kinds: Sequence[str] | None = None,
        regions: Sequence[str] | None = None,
    ) -> Authority:
        """Register an authority by its GB/T 2260 code and give it a first key.

        ``kinds`` (default both) and ``regions`` (default the authority's own
        region prefix) set its scope.
        """
        if not (len(code) in (6, 9, 12) and code.isdigit() and region_name(code[:6])):
            raise ServiceError(
                "invalid_authority_code",
                "an authority code is a current GB/T 2260 code (6, 9 or 12 digits)",
                422,
                [{"field": "code", "code": "region", "message": "not a current GB/T 2260 code"}],
            )
        if not name_zh.strip() or not name_en.strip():
            raise ServiceError("invalid_name", "names in Chinese and English are required", 422)
        scope_kinds, scope_regions = self._valid_scope(code, kinds, regions)
        authority = Authority(
            code, name_zh.strip(), name_en.strip(), _ts(now), kinds=scope_kinds, regions=scope_regions
        )
        try:
            self.store.add_authority(
                authority, AuditEvent(_ts(now), actor, code, "authority.create", code, {"name_en": authority.name_en})
            )
        except Conflict as e:
            raise ServiceError("authority_exists", str(e), 409) from e
        self.ring(code).ensure(now=_ts(now))
        return authority

    def create_operator(
        self,
        authority: str | None,
        name: str,
        role: str,
        *,
        actor: str,
        now: dt.datetime,
        expires_days: int | None = None,
    ) -> tuple[Operator, str]:
        """Create an operator and return it with its bearer credential (shown this once).

        The credential expires after ``expires_days`` (default: the
        ``credential_days`` setting, 90).
        """
        if role not in ROLES:
            raise ServiceError("invalid_role", f"role must be one of {', '.join(ROLES)}", 422)
        if (role == "national_admin") != (authority is None):
            raise ServiceError("invalid_role", "a national admin has no authority; every other role has one", 422)
        if authority is not None:
            self._require_authority(authority)
        if not name.strip() or len(name) > 64:
            raise ServiceError("invalid_name", "operator name must be 1 to 64 characters", 422)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        operator = Operator(
            id="op_" + secrets.token_hex(8),
            authority=authority,
            name=name.strip(),
            role=role,
            token_hash=hash_token(token),
            created=_ts(now),
            expires=_ts(now) + self._credential_seconds(expires_days),
        )
        try:
            self.store.add_operator(
                operator, AuditEvent(_ts(now), actor, authority, "operator.create", operator.id, {"role": role})
            )
        except Conflict as e:
            raise ServiceError("operator_exists", str(e), 409) from e
        return operator, token

    # -- credential lifecycle ----------------------------------------------------------
    def _credential_seconds(self, days: int | None) -> int:
        days = self.settings.credential_days if days is None else days
        if not 1 <= days <= 3660:
            raise ServiceError("invalid_expiry", "a credential is valid for 1 to 3660 days", 422)
        return days * 86400

    def authenticate(self, token: str, *, now: dt.datetime | None = None) -> Operator | None:
        """Return the enabled, unexpired operator holding this credential, or ``None`` (no throttling)."""
        operator, _ = self._credential(token, _ts(now) if now else None)
        return operator

    def _credential(self, token: str, ts: int | None) -> tuple[Operator | None, str]:
        if not _token_shaped(token):
            return None, "unauthenticated"
        # Read from the store on every request: a disabled credential is refused at once everywhere.
        return self._check_credential(*self.store.credential(hash_token(token)), ts)

    def _check_credential(
        self, operator: Operator | None, authority: Authority | None, ts: int | None
    ) -> tuple[Operator | None, str]:
        if operator is None:
            return None, "unauthenticated"
        if operator.disabled:
            return None, "credential_disabled"
        if ts is not None and operator.expires is not None and ts >= operator.expires:
            return None, "credential_expired"
        return operator, ""

    def _authority_for(self, code: str, read: AuthorityRead | None) -> Authority:
        """Return authority ``code``: as read with the request's own credential if that read is fresh, else now."""
        if read is not None and read.authority.code == code and time.monotonic() - read.at < AUTHORITY_READ_FRESH:
            return read.authority
        return self._require_authority(code)

    def sign_in(self, token: str, *, client: str, now: dt.datetime) -> Operator:
        """Authenticate a bearer credential, throttling failed sign-ins per client and per credential.

        The failure counts live in the store, so the limit holds across every
        instance. Raises :class:`ServiceError` 429 ``too_many_failed_signins``
        (with ``Retry-After``) while either count is at its limit, else 401
        ``unauthenticated``, ``credential_disabled`` or ``credential_expired``.
        """
        return self.sign_in_read(token, client=client, now=now)[0]

    def sign_in_read(self, token: str, *, client: str, now: dt.datetime) -> tuple[Operator, AuthorityRead | None]:
        """:meth:`sign_in`, also returning the operator's authority as read with the credential.

        The request hands that read to :meth:`issue` (``authority_read``), which then
        does not read the directory again while the read is fresh (``AUTHORITY_READ_FRESH``).
        """
        ts = _ts(now)
        window = self.settings.signin_window
        # The credential key is a hash of what was presented (capped), never the credential itself.
        keys = [f"client:{client[:64]}", f"credential:{hash_token(token[:200])[:32]}"]
        shaped = _token_shaped(token)
        counts, operator, authority = self.store.sign_in_state(
            hash_token(token) if shaped else None, keys, now=ts, window=window
        )
        read_at = time.monotonic()  # when the authority was read (before any write below)
        if counts[0] >= self.settings.signin_max_per_client or counts[1] >= self.settings.signin_max_per_credential:
            retry = window - ts % window
            raise ServiceError(
                "too_many_failed_signins",
                f"too many failed sign-ins from this client or with this credential; retry in {retry} s",
                429,
                headers={"Retry-After": str(retry)},
            )
        operator, code = self._check_credential(operator, authority, ts) if shaped else (None, "unauthenticated")
        if operator is None:
            self.store.record_failed_signin(keys, now=ts, window=window)
            messages = {
                "unauthenticated": "a valid operator credential is required (Authorization: Bearer hct_...)",
                "credential_disabled": "this credential is disabled",
                "credential_expired": "this credential has expired; ask an admin to rotate it",
            }
            raise ServiceError(code, messages[code], 401)
        if operator.last_used is None or ts - operator.last_used >= LAST_USED_GRANULARITY:
            try:
                self.store.touch_operator(operator.id, ts)
            except StoreUnavailable:
                pass  # bookkeeping: a store that cannot write still serves this operator's reads
        return operator, AuthorityRead(authority, read_at) if authority is not None else None

    def operators(self, authority: str | None) -> list[Operator]:
        """Return an authority's operators (``None``: the national admins)."""
        if authority is not None:
            self._require_authority(authority)
        return self.store.list_operators(authority)

    def operator(self, op_id: str, *, authority: str | None = None) -> Operator:
        """Return one operator; with ``authority``, only one of that authority (404 otherwise)."""
        found = self.store.get_operator(op_id)
        if found is None or (authority is not None and found.authority != authority):
            raise ServiceError(
                "operator_not_found", f"no operator {op_id}" + (f" in {authority}" if authority else ""), 404
            )
        return found

    def _change_operator(self, updated: Operator, action: str, detail: dict[str, Any], *, actor: str, ts: int) -> None:
        from .store import NotFound

        try:
            self.store.update_operator(updated, AuditEvent(ts, actor, updated.authority, action, updated.id, detail))
        except NotFound as e:
            raise ServiceError("operator_not_found", str(e), 404) from e

    def set_operator_disabled(
        self, op_id: str, disabled: bool, *, actor: str, now: dt.datetime, authority: str | None = None
    ) -> Operator:
        """Disable (refused at once by every instance) or re-enable an operator's credential."""
        from dataclasses import replace

        current = self.operator(op_id, authority=authority)
        updated = replace(current, disabled=disabled)
        action = "operator.disable" if disabled else "operator.enable"
        self._change_operator(updated, action, {}, actor=actor, ts=_ts(now))
        return updated

    def rotate_credential(
        self,
        op_id: str,
        *,
        actor: str,
        now: dt.datetime,
        authority: str | None = None,
        expires_days: int | None = None,
    ) -> tuple[Operator, str]:
        """Give an operator a new credential (shown once); the old one stops working at once.

        The new credential is valid for ``expires_days`` (default the
        ``credential_days`` setting); a disabled operator stays disabled.
        """
        from dataclasses import replace

        current = self.operator(op_id, authority=authority)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        ts = _ts(now)
        updated = replace(current, token_hash=hash_token(token), expires=ts + self._credential_seconds(expires_days))
        self._change_operator(updated, "operator.rotate", {"expires": updated.expires}, actor=actor, ts=ts)
        return updated, token

    def expire_credential(
        self, op_id: str, *, at: dt.datetime, actor: str, now: dt.datetime, authority: str | None = None
    ) -> Operator:
        """Set when an operator's credential expires (``at`` = ``now``: at once)."""
        from dataclasses import replace

        current = self.operator(op_id, authority=authority)
        ts = _ts(now)
        expires = _ts(at)
        if not ts <= expires <= ts + 3660 * 86400:
            raise ServiceError("invalid_expiry", "the expiry must be between now and 3660 days from now", 422)
        updated = replace(current, expires=expires)
        self._change_operator(updated, "operator.expire", {"expires": expires}, actor=actor, ts=ts)
        return updated

    @staticmethod
    def describe_operator(operator: Operator, *, now: dt.datetime) -> dict[str, Any]:
        """Return the API view of an operator: never its credential or the credential's hash."""

        def iso(value: int | None) -> str | None:
            return dt.datetime.fromtimestamp(value, dt.UTC).isoformat() if value is not None else None

        expired = operator.expires is not None and _ts(now) >= operator.expires
        state = "disabled" if operator.disabled else ("expired" if expired else "active")
        return {
            "id": operator.id,
            "authority": operator.authority,
            "name": operator.name,
            "role": operator.role,
            "state": state,
            "created": iso(operator.created),
            "expires": iso(operator.expires),
            "last_used": iso(operator.last_used),
        }

    # -- issuing ---------------------------------------------------------------------
    def issue(
        self,
        authority: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        operator: Operator,
        now: dt.datetime,
        idempotency_key: str | None = None,
        request_hash: str = "",
        authority_read: AuthorityRead | None = None,
    ) -> tuple[int, str, bool]:
        """Issue every eligible row; return ``(HTTP status, JSON body, replayed)``.

        ``authority_read`` is the authority as :meth:`sign_in_read` read it for this
        request: used for the scope if it is fresh, else the authority is read again.

        Bad rows are reported by row number and field; good rows are issued. The
        whole request, certificates, audit and idempotency record, is stored in one
        atomic write, so a failure leaves nothing and a retry with the same
        ``Idempotency-Key`` replays the first answer instead of issuing twice.
        """
        import json

        if idempotency_key is not None:
            stored = self.store.get_idempotency(authority, idempotency_key)
            if stored is not None:
                if stored.request_hash != request_hash:
                    raise ServiceError(
                        "idempotency_key_reused", "this Idempotency-Key was used for a different request", 422
                    )
                return stored.status_code, stored.body, True
        issuer = self.issuer(authority)
        scope_kinds, scope_regions = self.scope_of(self._authority_for(authority, authority_read))
        batch = "b_" + secrets.token_hex(8)
        result = BatchResult(batch)
        eligible: list[tuple[int, Any, str]] = []
        for row_no, row in enumerate(rows, start=1):
            try:
                application = parse_application(row)
                issuer.check(application, now=now)
            except ApplicationError as e:
                result.errors.extend({"row": row_no, **err.to_dict()} for err in e.errors)
                continue
            refused = _outside_scope(application, scope_kinds, scope_regions)
            if refused:
                result.errors.append({"row": row_no, **refused})
                continue
            eligible.append((row_no, application, self.subject_hash(application.resident_id)))
        ts = _ts(now)
        status = 201 if not result.errors else (207 if eligible else 422)
        body = ""

        known = self._known_lists.get(authority)
        if known is None and eligible:
            known = self._known_lists[authority] = set(self.store.status_lists(authority))  # before the write
        opened: set[int] = set()

        def build(slots: list[tuple[int, int]]) -> IssueWrite:
            # The store may call this again with other entries (Redis lost a reservation): each
            # call signs anew and describes only its own certificates.
            nonlocal body
            result.issued.clear()
            opened.clear()
            opened.update(slot[0] for slot in slots if known is None or slot[0] not in known)
            records: list[CertificateRecord] = []
            audit: list[AuditEvent] = []
            for (row_no, application, subject), slot in zip(eligible, slots, strict=True):
                cert = issuer.sign_application(application, now=now, status=slot)
                records.append(
                    CertificateRecord(
                        jti=cert.jti,
                        authority=authority,
                        kind=cert.kind,
                        name=application.name,
                        masked_id=cert.claims["id"],
                        subject_hash=subject,
                        token=cert.token,
                        kid=cert.kid,
                        status_list=slot[0],
                        status_index=slot[1],
                        issued_at=ts,
                        expires=cert.claims["exp"],
                        operator=operator.id,
                        batch=batch,
                    )
                )
                audit.append(AuditEvent(ts, operator.id, authority, "certificate.issue", cert.jti, {"kind": cert.kind}))
                result.issued.append({"row": row_no, **self.describe(records[-1], qr_text=cert.qr_text)})
            counts = {"rows": len(rows), "issued": len(records), "refused": len({e["row"] for e in result.errors})}
            body = json.dumps(
                {"batch": batch, "issued": result.issued, "errors": result.errors, "counts": counts},
                ensure_ascii=False,
            )
            idem = (
                IdempotencyRecord(authority, idempotency_key, request_hash, status, body, ts)
                if idempotency_key is not None
                else None
            )
            return records, audit, idem

        try:
            self.store.issue_with_status(authority, len(eligible), list_size=STATUS_LIST_SIZE, build=build)
        except KeyRingError as e:
            raise self._key_error(e) from e
        except Conflict:
            # A concurrent request with the same key won the race; replay its answer.
            stored = self.store.get_idempotency(authority, idempotency_key) if idempotency_key else None
            if stored is None:
                raise
            return stored.status_code, stored.body, True
        if opened and known is not None:
            known.update(opened)
            self.trust_changed()  # a new status list: bundles and verifiers must carry it
        if result.errors:
            self._note_refusals(authority, rows, result, operator=operator, at=ts)
        return status, body, False

    def _note_refusals(
        self, authority: str, rows: Sequence[Mapping[str, Any]], result: BatchResult, *, operator: Operator, at: int
    ) -> None:
        """Note the refused rows for the console's today page (a tally: the answer has gone out either way)."""
        by_row: dict[int, list[dict[str, str]]] = {}
        for e in result.errors:
            error = {"field": e.get("field") or "", "code": e["code"], "message": str(e.get("message", ""))[:200]}
            by_row.setdefault(e["row"], []).append(error)
        items = []
        for row_no, errors in by_row.items():
            name = rows[row_no - 1].get("name") if 0 < row_no <= len(rows) else None
            items.append(
                {
                    "at": at,
                    "operator": operator.id,
                    "batch": result.batch,
                    "row": row_no,
                    "name": name[:64] if isinstance(name, str) else "",
                    "errors": errors[:20],
                }
            )
        try:
            self.store.add_refusals(authority, items, at=at, keep=REFUSALS_KEPT)
        except StoreError as e:
            log.warning("refusals of batch %s not noted: %s", result.batch, e)

    # -- what a clerk sees ---------------------------------------------------------------
    def withdrawn_key(self, record: CertificateRecord) -> KeyRecord | None:
        """Return the key record if the certificate's signing key is withdrawn (devices refuse it), else ``None``."""
        return next(
            (k for k in self.ring(record.authority).records if k.kid == record.kid and k.state == "withdrawn"), None
        )

    def shown_status(self, record: CertificateRecord) -> tuple[str, str | None]:
        """Return ``(status, reason)`` as devices will judge the certificate.

        ``key_withdrawn`` (the code devices give) when its signing key is withdrawn,
        whatever the stored status; else the stored status and its reason.
        """
        key = self.withdrawn_key(record)
        if key is not None:
            why = f": {key.reason}" if key.reason else ""
            return "key_withdrawn", f"signing key {key.kid} withdrawn{why}; re-issue"
        return record.status, record.status_reason

    def require_printable(self, record: CertificateRecord) -> None:
        """Refuse (409 ``key_withdrawn``) to hand out a QR code that every device refuses."""
        if self.withdrawn_key(record) is not None:
            raise ServiceError(
                "key_withdrawn",
                f"certificate {record.jti} was signed with withdrawn key {record.kid}: devices refuse it; re-issue it",
                409,
            )

    def describe(self, record: CertificateRecord, *, qr_text: str | None = None) -> dict[str, Any]:
        """Return the API view of a certificate record.

        A certificate whose signing key is withdrawn shows status ``key_withdrawn``
        and carries no token, QR text or image links: devices refuse it.
        """
        from hcert_verifier import qr_encode, unmask_display

        base = f"/v1/certificates/{record.jti}"
        status, reason = self.shown_status(record)
        if status == "key_withdrawn":
            token = qr = None
            links = {"print": f"{base}/print"}
        else:
            token, qr = record.token, qr_text or qr_encode(record.token)
            links = {"png": f"{base}/qr.png", "svg": f"{base}/qr.svg", "print": f"{base}/print"}
        return {
            "id": record.jti,
            "kind": {"w": "return-to-work", "f": "freight-test"}[record.kind],
            "name": record.name,
            "masked_id": unmask_display(record.masked_id),
            "issued_at": dt.datetime.fromtimestamp(record.issued_at, dt.UTC).isoformat(),
            "expires": dt.datetime.fromtimestamp(record.expires, dt.UTC).isoformat(),
            "status": status,
            "status_reason": reason,
            "kid": record.kid,
            "batch": record.batch,
            "token": token,
            "qr_text": qr,
            "links": links,
        }

    def certificate(self, authority: str, jti: str) -> CertificateRecord:
        """Return one of the authority's certificates (404 for another authority's)."""
        record = self.store.get_certificate(authority, jti)
        if record is None:
            raise ServiceError("certificate_not_found", f"no certificate {jti} of authority {authority}", 404)
        return record

    def render(self, record: CertificateRecord, fmt: str) -> bytes:
        """Return the QR image (``png`` or ``svg``), rendered once and cached."""
        from hcert_verifier import qr_encode

        key = (record.jti, fmt)
        with self._lock:
            if key in self._renders:
                self._renders.move_to_end(key)
                return self._renders[key]
        text = qr_encode(record.token)
        data = render_png(text) if fmt == "png" else render_svg(text).encode()
        with self._lock:
            self._renders[key] = data
            while len(self._renders) > 4096:
                self._renders.popitem(last=False)
        return data

    def change_status(
        self, authority: str, jti: str, status: str, reason: str, *, operator: Operator, now: dt.datetime
    ) -> CertificateRecord:
        """Revoke, suspend or unsuspend (``valid``) a certificate."""
        from .store import NotFound

        if not reason.strip() or len(reason) > 200:
            raise ServiceError(
                "invalid_reason",
                "a reason of 1 to 200 characters is required",
                422,
                [{"field": "reason", "code": "required", "message": "1 to 200 characters"}],
            )
        current = self.certificate(authority, jti)
        if status == "valid" and current.status != "suspended":
            raise ServiceError("not_suspended", "only a suspended certificate can be unsuspended", 409)
        action = {"revoked": "certificate.revoke", "suspended": "certificate.suspend", "valid": "certificate.unsuspend"}
        try:
            return self.store.change_status(
                authority,
                jti,
                status=status,
                reason=reason.strip(),
                now=_ts(now),
                audit=AuditEvent(_ts(now), operator.id, authority, action[status], jti, {"reason": reason.strip()}),
            )
        except NotFound as e:
            raise ServiceError("certificate_not_found", str(e), 404) from e
        except Conflict as e:
            raise ServiceError("already_revoked", str(e), 409) from e
        finally:
            # Also when the outcome is unknown: a needless rebuild costs less than a stale verdict.
            self.trust_changed()

    # -- status lists ----------------------------------------------------------------
    def status_list(self, authority: str, lst: int, *, now: dt.datetime, kid: str | None = None) -> tuple[str, str]:
        """Return the signed status list token and its ETag; re-signed only when bits change or age.

        ``kid`` picks the signing key (default: the active one); the bundle uses
        the newest key that the published trust list already carries.
        """
        token, etag, _ = self.versioned_status_list(authority, lst, now=now, kid=kid)
        return token, etag

    def versioned_status_list(
        self, authority: str, lst: int, *, now: dt.datetime, kid: str | None = None
    ) -> tuple[str, str, int]:
        """Return the signed status list token, its ETag and its version.

        The version is the store's durable per-list counter, incremented in the
        same transaction as every status change, so it changes exactly when the
        bits do; the token carries it as the ``version`` claim.
        """
        from .store import NotFound

        self._require_authority(authority)
        try:
            data, version = self.store.status_bits(authority, lst, list_size=STATUS_LIST_SIZE)
        except NotFound as e:
            raise ServiceError("status_list_not_found", str(e), 404) from e
        ts = _ts(now)
        try:
            kid = kid or self.ring(authority).active().kid
        except KeyRingError as e:
            raise self._key_error(e) from e
        cached = self._status_cache.get((authority, lst))
        # Re-sign when the bits changed, the key rotated, or half the ttl passed.
        if cached and cached[0] == version and cached[2] == kid and ts - cached[1] < self.settings.status_list_ttl // 2:
            token = cached[3]
        else:
            bits = StatusBits(STATUS_LIST_SIZE, 2, data)
            try:
                signer = self.ring(authority).signing_key(kid)
            except KeyRingError as e:
                raise self._key_error(e) from e
            token = sign_status_list(
                signer,
                bits,
                uri=status_list_uri(self.settings.base_url, authority, lst),
                iat=ts,
                exp=ts + self.settings.status_list_validity,
                ttl=self.settings.status_list_ttl,
                version=version,
            )
            self._status_cache[(authority, lst)] = (version, ts, kid, token)
        etag = '"' + hashlib.sha256(token.encode()).hexdigest()[:32] + '"'
        return token, etag, version

    # -- setup -----------------------------------------------------------------------
    def ensure_development_setup(self, *, now: dt.datetime) -> Authority | None:
        """On an empty store, create the development authority (Rong County, Sichuan, 510321)."""
        if self.store.list_authorities():
            return None
        return self.create_authority(
            "510321", "荣县卫生健康局", "Rong County Health Bureau (development)", actor="setup", now=now
        )


def secure_data_dir(directory: Path) -> None:
    """Create the data directory with mode 0700 (and tighten it if it exists and is ours)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        if directory.stat().st_uid == os.getuid():
            directory.chmod(0o700)
    except OSError:
        pass  # a mounted volume we do not own: its owner sets the mode


def _create_secret(path: Path, data: bytes) -> None:
    """Write a new secret file whole, mode 0600, and never replace an existing one.

    The bytes go to a private temporary file that is then hard-linked into
    place: a concurrent reader finds no file or the complete one, never an empty
    one, and of two instances starting at once the first link wins.
    """
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another instance made it first; use theirs
    finally:
        os.unlink(tmp)


def _outside_scope(application: Any, kinds: tuple[str, ...], regions: tuple[str, ...]) -> dict[str, str] | None:
    """Return the error for an application the authority's scope forbids (what devices would refuse), or None."""
    if application.kind not in kinds:
        return {
            "field": "kind",
            "code": "out_of_scope",
            "message": f"this authority may issue only {', '.join(KIND_LABELS[k] for k in kinds)} certificates",
        }
    # Devices check the region for return-to-work certificates (FORMAT.md, step 6.4).
    if application.kind == "w" and not application.origin_region.startswith(regions):
        return {
            "field": "origin_region",
            "code": "out_of_scope",
            "message": f"this authority certifies residents of regions {', '.join(regions)} only",
        }
    return None


KIND_LABELS = {"w": "return-to-work", "f": "freight-test"}


def data_path(settings: Settings) -> Path:
    """Return the SQLite file of the embedded store."""
    return settings.data_dir / "hcert.sqlite3"
