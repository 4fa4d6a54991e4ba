"""Storage behind one interface, two real backends (SQLite embedded, Redis).

Every operation that writes more than one thing is atomic in both backends:
an issue batch (certificates, audit entries, idempotency record), a status
change (record, status bit, audit entry), an operator or key change with its
audit entry. A request that fails leaves nothing behind.
"""

from __future__ import annotations

from ..settings import SettingsError
from ._base import (
    Account,
    AuditEvent,
    Authority,
    CertificateRecord,
    Conflict,
    IdempotencyRecord,
    NotFound,
    Operator,
    OutcomeUnknown,
    Session,
    Store,
    StoreError,
    StoreUnavailable,
)

__all__ = [
    "Account",
    "AuditEvent",
    "Authority",
    "CertificateRecord",
    "Conflict",
    "IdempotencyRecord",
    "NotFound",
    "Operator",
    "OutcomeUnknown",
    "Session",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "open_store",
]


def open_store(
    kind: str, *, path: str | None = None, url: str | None = None, wait_replicas: int = 0, wait_ms: int = 100
) -> Store:
    """Open the ``sqlite`` store at ``path`` or the ``redis`` store at ``url``.

    ``wait_replicas``/``wait_ms`` (Redis only): after each write, wait until that many
    replicas have it (see :class:`app.store.redis.RedisStore`).
    """
    if kind == "sqlite":
        from .sqlite import SqliteStore

        assert path is not None
        return SqliteStore(path)
    if kind == "redis":
        from .redis import RedisStore, check_url

        assert url is not None
        check_url(url)
        return RedisStore(url, wait_replicas=wait_replicas, wait_ms=wait_ms)
    raise SettingsError(f"HCERT_STORE / --store: unknown store {kind[:40]!r}: use sqlite or redis")
