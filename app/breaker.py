"""Fail fast while the Redis store is unreachable, so that an outage costs each request a millisecond.

Without it, every request during a Redis outage waits for its own socket timeout
(0.5 s) on a thread of the server's pool: with more requests in flight than the
pool has threads, answers queue and a 503 can take seconds. After a call fails
with a Redis connection error or timeout, the breaker **opens**: for
:data:`COOLDOWN` seconds every store call is refused at once with
:class:`StoreUnavailable` (nothing is sent, so nothing was written). Then one
call at a time is let through as a **probe**, while the others are still
refused; the first probe the store answers closes the breaker.

Only connection errors and timeouts of Redis trip it (also when the store wrapped
them): a full disk or a read-only SQLite database still serves reads, and a busy
one answers the next call. ``readiness``, ``ping`` and ``close`` always reach the
store.

An operation that writes more than once (an account and then its audit entry, an
operator change and then the end of its sessions) runs inside
:func:`writes_together`: once one of its writes is stored, a later call of it that
is refused (by the breaker, or by the store as unavailable) raises
:class:`OutcomeUnknown` instead, since part of the operation was stored.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import redis.exceptions

from .store import OutcomeUnknown, Store, StoreUnavailable
from .store._base import raised_from

__all__ = ["COOLDOWN", "Breaker", "GuardedStore", "writes_together"]

#: Seconds the breaker refuses every call after a failure, before it lets a probe through.
COOLDOWN = 0.25

_UNGUARDED = frozenset({"readiness", "ping", "close"})

#: The store's methods that change what it holds. Not ``allocate_status`` (a reserved entry is
#: never seen) nor ``touch_operator`` / ``touch_session`` (a last-use time, best effort).
_WRITES = frozenset(
    {
        "add_authority",
        "set_authority_scope",
        "add_operator",
        "update_operator",
        "record_failed_signin",
        "commit_issue",
        "issue_with_status",
        "change_status",
        "set_account",
        "add_session",
        "delete_session",
        "delete_sessions",
        "set_seal",
        "add_refusals",
        "append_audit",
        "bump_generation",
        "forget_idempotency_without",
    }
)

#: Inside :func:`writes_together`: whether one of the operation's writes was stored (a cell).
_STORED: ContextVar[list[bool] | None] = ContextVar("hcert_stored_in_operation", default=None)


@contextmanager
def writes_together() -> Iterator[None]:
    """Run an operation of several store calls: a refusal after one of its writes is stored is ``OutcomeUnknown``."""
    token = _STORED.set([False])
    try:
        yield
    finally:
        _STORED.reset(token)


_TRIPS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def _connection_failure(exc: BaseException) -> bool:
    """Tell whether ``exc``, or an exception it was raised from, is a Redis connection error or timeout."""
    return raised_from(exc, _TRIPS)


class Breaker:
    """Closed, open (refusing until a time) or probing (one call through, the others refused)."""

    def __init__(self, *, cooldown: float = COOLDOWN, clock: Callable[[], float] = time.monotonic) -> None:
        self.cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._open_until: float | None = None
        self._probing = False

    @property
    def is_open(self) -> bool:
        """Whether calls are being refused now (or one probe is out)."""
        return self._open_until is not None

    def before(self) -> None:
        """Let a call through, or raise :class:`StoreUnavailable` (nothing sent)."""
        with self._lock:
            if self._open_until is None:
                return
            if self._probing or self._clock() < self._open_until:
                raise StoreUnavailable("the store did not answer a moment ago and is not tried again yet")
            self._probing = True

    def after(self, exc: BaseException | None) -> None:
        """Record how a call that was let through ended."""
        with self._lock:
            if exc is not None and _connection_failure(exc):
                self._open_until = self._clock() + self.cooldown
            else:
                self._open_until = None
            self._probing = False


class GuardedStore:
    """A store whose calls pass through a :class:`Breaker` (every other attribute is the store's own)."""

    def __init__(self, store: Store, breaker: Breaker | None = None) -> None:
        object.__setattr__(self, "_store", store)
        object.__setattr__(self, "_breaker", breaker or Breaker())

    @property
    def store(self) -> Store:
        """Return the wrapped store."""
        store: Store = object.__getattribute__(self, "_store")
        return store

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.store, name)
        if name in _UNGUARDED or name.startswith("_") or not callable(attr):
            return attr
        breaker: Breaker = object.__getattribute__(self, "_breaker")

        def guarded(*args: Any, **kwargs: Any) -> Any:
            stored = _STORED.get()
            try:
                breaker.before()
                try:
                    result = attr(*args, **kwargs)
                except BaseException as exc:
                    breaker.after(exc)
                    raise
            except StoreUnavailable as e:
                if stored is not None and stored[0]:
                    raise OutcomeUnknown(f"part of the operation was stored, then: {e}") from e
                raise
            breaker.after(None)
            if stored is not None and name in _WRITES:
                stored[0] = True
            return result

        return guarded

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.store, name, value)  # audit_listener and the like belong to the store
