"""Check the hash chain of the audit log."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .store._base import GENESIS, chain_hash

__all__ = ["AuditReport", "verify_chain"]


@dataclass(frozen=True)
class AuditReport:
    """Result of a chain check: how many entries, and the first broken one, if any."""

    entries: int
    ok: bool
    broken_at: int | None = None
    reason: str | None = None


def verify_chain(entries: Iterable[tuple[dict[str, Any], str]]) -> AuditReport:
    """Recompute every link: each entry's ``prev`` is the previous hash, each hash matches its entry."""
    prev = GENESIS
    n = 0
    for n, (entry, digest) in enumerate(entries, start=1):
        if entry.get("seq") != n:
            return AuditReport(n, False, n, f"entry {n} has sequence number {entry.get('seq')}")
        if entry.get("prev") != prev:
            return AuditReport(n, False, n, f"entry {n} does not follow entry {n - 1}")
        if chain_hash(entry) != digest:
            return AuditReport(n, False, n, f"entry {n} was altered")
        prev = digest
    return AuditReport(n, True)
