"""Records and the Store protocol shared by both backends."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from hcert_verifier import HcertError

__all__ = [
    "ALL_KINDS",
    "NATIONAL_CHAIN",
    "SINGLE_CHAIN",
    "Account",
    "AuditEvent",
    "AuditListener",
    "Authority",
    "CertificateRecord",
    "Conflict",
    "IdempotencyRecord",
    "IssueWrite",
    "NotFound",
    "Operator",
    "OutcomeUnknown",
    "Session",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "chain_hash",
]

GENESIS = "0" * 64

#: The audit chain of the shared directory (authorities, operators, accounts) and of events of no authority.
NATIONAL_CHAIN = "national"
#: The one chain of a store that keeps a single log (SQLite; a Redis log written before chains were split).
SINGLE_CHAIN = "all"


class StoreError(HcertError):
    """The store could not do what was asked."""

    code = "store_error"


def raised_from(exc: BaseException, kinds: type[BaseException] | tuple[type[BaseException], ...]) -> bool:
    """Tell whether ``exc``, or an exception it was raised from (or while handling), is one of ``kinds``."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, kinds):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class NotFound(StoreError):
    """No such record."""

    code = "not_found"


class Conflict(StoreError):
    """A unique record exists already (authority, operator name, idempotency key)."""

    code = "conflict"


class StoreUnavailable(StoreError):
    """The store cannot be reached or cannot write now (down, frozen, disk full, read-only).

    Raised only when it is known that nothing was written: the API answers 503
    ``store_unavailable`` with ``Retry-After``.
    """

    code = "store_unavailable"


class OutcomeUnknown(StoreError):
    """A write was sent but its outcome is not known (connection lost before the reply).

    It may have been committed. The API answers 503 ``outcome_unknown`` with
    ``Retry-After``: retrying with the same Idempotency-Key is safe.
    """

    code = "outcome_unknown"


#: Certificate kinds an authority may issue unless its scope says otherwise.
ALL_KINDS = ("w", "f")


@dataclass(frozen=True)
class Authority:
    """An issuing authority: a township or county health office.

    ``kinds`` and ``regions`` are its scope: the certificate kinds it may issue
    and the region-code prefixes of the residents it may certify (``None``:
    its own region, see :func:`issuer.region_prefix`). The trust list carries
    them to devices, and the API refuses to issue outside them.
    """

    code: str
    name_zh: str
    name_en: str
    created: int
    kinds: tuple[str, ...] = ALL_KINDS
    regions: tuple[str, ...] | None = None

    def to_json(self) -> str:
        """Serialise for storage."""
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Authority:
        """Load from storage (records written before scopes existed get the defaults)."""
        data = json.loads(text)
        data["kinds"] = tuple(data.get("kinds") or ALL_KINDS)
        data["regions"] = tuple(data["regions"]) if data.get("regions") else None
        return cls(**data)


@dataclass(frozen=True)
class Operator:
    """A person or system acting for an authority (``authority=None``: national admin)."""

    id: str
    authority: str | None
    name: str
    role: str  # operator | authority_admin | national_admin
    token_hash: str
    created: int
    disabled: bool = False
    #: Unix seconds after which the credential is refused (``None``: never, for records made before expiry existed).
    expires: int | None = None
    #: Unix seconds of the last successful sign-in (updated at most once a minute).
    last_used: int | None = None


@dataclass(frozen=True)
class Account:
    """A person's sign-in for an operator: a user name and an argon2id password hash.

    ``must_change`` is set when an admin sets the password (on creation or a
    reset): the console asks for a new one before anything else.
    """

    operator: str
    username: str
    password_hash: str
    must_change: bool
    changed: int


@dataclass(frozen=True)
class Session:
    """A console session. The cookie holds a random token; the store keeps only its hash."""

    id_hash: str
    operator: str
    csrf: str
    created: int
    last_seen: int
    expires: int  # absolute expiry (Unix seconds)


@dataclass(frozen=True)
class CertificateRecord:
    """What the issuing office keeps of a certificate. No full ID number: only its keyed hash."""

    jti: str
    authority: str
    kind: str
    name: str
    masked_id: str
    subject_hash: str
    token: str
    kid: str
    status_list: int
    status_index: int
    issued_at: int
    expires: int
    operator: str
    batch: str | None
    status: str = "valid"  # valid | revoked | suspended
    status_reason: str | None = None
    updated_at: int | None = None

    def to_json(self) -> str:
        """Serialise for storage."""
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> CertificateRecord:
        """Load from storage."""
        return cls(**json.loads(text))


@dataclass(frozen=True)
class IdempotencyRecord:
    """The response of a request made with an ``Idempotency-Key``, kept to replay it."""

    authority: str
    key: str
    request_hash: str
    status_code: int
    body: str
    created: int


@dataclass(frozen=True)
class AuditEvent:
    """One audited action. ``detail`` holds no personal data, tokens or keys."""

    time: int
    actor: str
    authority: str | None
    action: str
    subject: str
    detail: dict[str, Any]

    def body(self, seq: int, prev: str) -> dict[str, Any]:
        """Return the chained entry for position ``seq`` after hash ``prev``."""
        return {"seq": seq, "prev": prev, **asdict(self)}


def chain_hash(entry: dict[str, Any]) -> str:
    """Return the SHA-256 over the canonical JSON of an audit entry (which includes ``prev``)."""
    canonical = json.dumps(entry, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()


class AuditListener(Protocol):
    """Told ``(chain, seq, hash, time)`` of the newest entry of a chain after each committed write that appended to it.

    ``lookup``, when given, returns the store's hash of an earlier entry of the chain
    (``None``: no such entry) as read with the write itself, where it has it.
    """

    def __call__(
        self, chain: str, seq: int, head: str, at: int, lookup: Callable[[int], str | None] | None = None, /
    ) -> None: ...


#: What an issue request writes: certificates, audit entries and its idempotency record.
IssueWrite = tuple[list["CertificateRecord"], list["AuditEvent"], "IdempotencyRecord | None"]


class Store(Protocol):
    """The storage contract; ``tests/app/test_store_contract.py`` runs against both backends."""

    # -- authorities and operators -------------------------------------------
    def add_authority(self, authority: Authority, audit: AuditEvent) -> None: ...
    def get_authority(self, code: str) -> Authority | None: ...
    def list_authorities(self) -> list[Authority]: ...
    def set_authority_scope(
        self, code: str, *, kinds: tuple[str, ...], regions: tuple[str, ...] | None, audit: AuditEvent
    ) -> Authority:
        """Replace an authority's scope and append the audit entry, atomically; raise :class:`NotFound`."""
        ...

    def add_operator(self, operator: Operator, audit: AuditEvent) -> None: ...
    def operator_by_token_hash(self, token_hash: str) -> Operator | None: ...
    def credential(self, token_hash: str) -> tuple[Operator | None, Authority | None]:
        """Return the operator of a credential and the operator's authority (``None``: none), read together."""
        ...

    def list_operators(self, authority: str | None) -> list[Operator]: ...

    # -- credential lifecycle -------------------------------------------------------
    def get_operator(self, op_id: str) -> Operator | None: ...
    def update_operator(self, operator: Operator, audit: AuditEvent) -> None:
        """Replace an operator's record (same id) and append the audit entry, atomically.

        A new ``token_hash`` replaces the old one at once: the old credential
        stops working. Raises :class:`NotFound` for an unknown id and
        :class:`Conflict` when another operator holds the token hash.
        """
        ...

    def touch_operator(self, op_id: str, at: int) -> None:
        """Record a successful sign-in at ``at`` (never moves ``last_used`` back; not audited)."""
        ...

    def record_failed_signin(self, keys: list[str], *, now: int, window: int) -> list[int]:
        """Count one failed sign-in against each key in the current fixed window; return the new counts."""
        ...

    def failed_signins(self, keys: list[str], *, now: int, window: int) -> list[int]:
        """Return each key's failed sign-ins in the current fixed window (``now // window``)."""
        ...

    def sign_in_state(
        self, token_hash: str | None, keys: list[str], *, now: int, window: int
    ) -> tuple[list[int], Operator | None, Authority | None]:
        """Return :meth:`failed_signins` of ``keys`` and :meth:`credential` of ``token_hash`` (``None``: not read).

        What every request with a bearer credential reads first; Redis reads both in one round trip.
        """
        ...

    # -- certificates -----------------------------------------------------------
    def allocate_status(self, authority: str, count: int, *, list_size: int) -> list[tuple[int, int]]:
        """Reserve ``count`` random unused status entries; return ``(list, index)`` pairs."""
        ...

    def commit_issue(
        self,
        records: list[CertificateRecord],
        audit: list[AuditEvent],
        idempotency: IdempotencyRecord | None,
    ) -> None:
        """Store certificates, audit entries and the idempotency record atomically.

        Raises :class:`Conflict` (and stores nothing) when the idempotency key or a
        ``jti`` exists already.
        """
        ...

    def issue_with_status(
        self,
        authority: str,
        count: int,
        *,
        list_size: int,
        build: Callable[[list[tuple[int, int]]], IssueWrite],
    ) -> None:
        """Allocate ``count`` status entries, let ``build`` sign with them, and commit what it returns, as one write.

        The embedded store does all of it in one transaction (one fsync); Redis
        allocates first (an entry that is never used is harmless) and commits
        atomically, and calls ``build`` once more, with new entries, if Redis lost
        the reservation meanwhile: ``build`` must not keep anything of an earlier
        call. Raises :class:`Conflict` like :meth:`commit_issue`.
        """
        ...

    def get_idempotency(self, authority: str, key: str) -> IdempotencyRecord | None: ...
    def forget_idempotency_without(self, prefix: str) -> int:
        """Delete every idempotency record whose ``request_hash`` does not start with ``prefix``; return how many.

        Cheap after the first call (the backends remember it was done).
        """
        ...

    def get_certificate(self, authority: str, jti: str) -> CertificateRecord | None: ...
    def list_certificates(
        self,
        authority: str,
        *,
        kind: str | None = None,
        issued_from: int | None = None,
        issued_to: int | None = None,
        kid: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[CertificateRecord], int]: ...

    def batch_certificates(self, authority: str, batch: str) -> list[str]:
        """Return the ids of the certificates one issue request made, in manifest (row) order; ``[]`` if none."""
        ...

    def change_status(
        self, authority: str, jti: str, *, status: str, reason: str, now: int, audit: AuditEvent
    ) -> CertificateRecord:
        """Set a certificate's status, its status-list bits and append the audit entry, atomically."""
        ...

    def status_bits(self, authority: str, lst: int, *, list_size: int) -> tuple[bytes, int]:
        """Return a status list's raw bits (2 per entry, LSB first) and its version number."""
        ...

    def status_lists(self, authority: str) -> list[int]: ...

    # -- audit -------------------------------------------------------------------
    # The log is one or more hash chains, each numbered from 1: SQLite keeps one
    # (``SINGLE_CHAIN``); Redis one per authority and ``NATIONAL_CHAIN``.

    #: Called after every committed write that appended audit entries (the service anchors the head).
    audit_listener: AuditListener | None

    #: Tells whether the deployment is new (no audit checkpoint yet); the service sets it. A
    #: store that keeps a marker of its own existence (Redis) writes a missing marker only then.
    new_deployment: Callable[[], bool] | None

    def audit_chains(self) -> list[str]:
        """Return the names of the chains that hold entries, sorted."""
        ...

    def audit_head(self, chain: str) -> tuple[int, str]:
        """Return the sequence number and hash of the chain's newest entry (``(0, GENESIS)`` when empty)."""
        ...

    def audit_hash(self, chain: str, seq: int) -> str | None:
        """Return the stored hash of entry ``seq`` of the chain, or ``None`` when it has no such entry."""
        ...

    def append_audit(self, events: list[AuditEvent]) -> None: ...
    def audit_entries(self, chain: str | None = None) -> Iterator[tuple[dict[str, Any], str]]:
        """Yield ``(entry, stored hash)`` of one chain in order (``None``: every chain, merged by time)."""
        ...

    # -- people's accounts and console sessions ---------------------------------------
    def set_account(self, account: Account, audit: AuditEvent) -> None:
        """Create or replace the account of ``account.operator`` and append the audit entry, atomically.

        Raises :class:`Conflict` when another operator holds the user name.
        """
        ...

    def account_by_username(self, username: str) -> Account | None: ...
    def account_of(self, operator: str) -> Account | None: ...
    def add_session(self, session: Session) -> None: ...
    def get_session(self, id_hash: str) -> Session | None:
        """Return a stored session (expired ones may still be returned: the caller checks the times)."""
        ...

    def touch_session(self, id_hash: str, at: int) -> None: ...
    def delete_session(self, id_hash: str) -> None: ...
    def delete_sessions(self, operator: str) -> int:
        """End every session of an operator; return how many there were."""
        ...

    # -- change signals --------------------------------------------------------------
    def bump_generation(self, name: str) -> None:
        """Add one to the shared counter ``name`` (every instance on this store sees it)."""
        ...

    def generation(self, name: str) -> int:
        """Return the shared counter ``name`` (0 before its first bump); one cheap read."""
        ...

    # -- an authority's seal (printed on its certificates) ----------------------------
    def set_seal(self, authority: str, png: bytes | None, audit: AuditEvent) -> None:
        """Store (``None``: remove) the authority's seal image and append the audit entry, atomically."""
        ...

    def get_seal(self, authority: str) -> bytes | None:
        """Return the authority's seal image (PNG), or ``None`` when it has none."""
        ...

    # -- refused applications (today's work in the console) -----------------------------
    def add_refusals(self, authority: str, items: list[dict[str, Any]], *, at: int, keep: int) -> None:
        """Note refused applications (JSON-able dicts) at ``at``; forget the authority's older than ``at - keep``."""
        ...

    def refusals(self, authority: str, *, since: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Return the refusals noted at ``since`` or later (newest first, at most ``limit``) and their count."""
        ...

    # -- operations ----------------------------------------------------------------
    def ping(self) -> bool: ...
    def readiness(self) -> list[str]:
        """Return reason codes why a write cannot succeed now (empty: ready).

        Never raises, and answers in bounded time (the store's own timeouts).
        """
        ...

    def close(self) -> None: ...


STATUS_VALUES = {"valid": 0, "revoked": 1, "suspended": 2}
