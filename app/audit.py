"""Check the hash chain of the audit log, and anchor its head outside the database.

The chain alone shows an altered or removed entry in the middle, but not a
deleted or rewritten tail: whoever can write the database can cut the log and
carry on from there. So after every write that appends to the log, the service
signs a **checkpoint** (the sequence number and hash of the newest entry) with
its audit key, which lives with the signing keys (``<keys-dir>/_audit``), not in
the database, and rewrites ``<keys-dir>/_audit/checkpoint.jwt`` with it.
``hcert audit verify`` recomputes the chain and requires the signed head to be
in it: a log that ends before the checkpoint, or differs at its position, fails.
The checkpoint moves forward only from a log that still holds the entry it
anchors: after a cut or rewritten tail, later writes cannot carry the checkpoint
past the damage and hide it.

A store may keep several chains (Redis: one per authority and ``national``):
each has its own checkpoint, ``<keys-dir>/_audit/checkpoints/<chain>.jwt``
(the single chain of SQLite keeps ``checkpoint.jwt``). A chain that has a
checkpoint but no entries in the store (a Redis that restarted empty) fails
the check like a cut tail.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hcert_verifier import HcertError, json_compact, public_key_from_jwk
from hcert_verifier.bundle import open_signed
from keys import KeyRing, sign_compact

from .store._base import GENESIS, SINGLE_CHAIN, Store, chain_hash

__all__ = [
    "AUDIT_CHECKPOINT_TYP",
    "AuditAnchor",
    "AuditAnchors",
    "AuditError",
    "AuditReport",
    "ChainReport",
    "Checkpoint",
    "verify_chain",
    "verify_store",
]

AUDIT_CHECKPOINT_TYP = "hcert-audit-checkpoint"

log = logging.getLogger("hcert")


class AuditError(HcertError):
    """The audit checkpoint is missing, unreadable or not signed by the audit key."""

    code = "audit_checkpoint_invalid"


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: the log's entry ``seq`` had hash ``head`` (logged at ``at``, Unix seconds)."""

    seq: int
    head: str
    at: int


@dataclass(frozen=True)
class AuditReport:
    """Result of a chain check: how many entries, and the first broken one, if any.

    ``anchored`` is the sequence number the signed checkpoint covers (0: none given).
    """

    entries: int
    ok: bool
    broken_at: int | None = None
    reason: str | None = None
    anchored: int = 0


def verify_chain(entries: Iterable[tuple[dict[str, Any], str]], *, anchor: Checkpoint | None = None) -> AuditReport:
    """Recompute every link: each entry's ``prev`` is the previous hash, each hash matches its entry.

    With ``anchor``, the entry at ``anchor.seq`` must exist and have the
    anchored hash: a deleted or rewritten tail fails even if its chain is
    consistent.
    """
    prev = GENESIS
    n = 0
    for n, (entry, digest) in enumerate(entries, start=1):
        if entry.get("seq") != n:
            return AuditReport(n, False, n, f"entry {n} has sequence number {entry.get('seq')}")
        if entry.get("prev") != prev:
            return AuditReport(n, False, n, f"entry {n} does not follow entry {n - 1}")
        if chain_hash(entry) != digest:
            return AuditReport(n, False, n, f"entry {n} was altered")
        if anchor is not None and n == anchor.seq and digest != anchor.head:
            return AuditReport(
                n, False, n, f"entry {n} is not the one the signed checkpoint holds: the log was rewritten"
            )
        prev = digest
    if anchor is not None and anchor.seq > n:
        return AuditReport(
            n,
            False,
            n + 1,
            f"the log ends at entry {n} but the signed checkpoint holds entry {anchor.seq}: entries were deleted",
        )
    return AuditReport(n, True, anchored=anchor.seq if anchor else 0)


class AuditAnchor:
    """The signed checkpoint file and the key that signs it (a key ring outside the database)."""

    def __init__(self, ring: KeyRing, path: Path, *, lookup: Callable[[int], str | None] | None = None) -> None:
        self.ring = ring
        self.path = path
        #: The store's hash of entry ``seq`` (``None``: no such entry), checked before the checkpoint moves.
        self.lookup = lookup
        self._writing = threading.Lock()

    def write(self, seq: int, head: str, *, at: int, lookup: Callable[[int], str | None] | None = None) -> bool:
        """Sign and store a checkpoint of entry ``seq``, unless the file already holds a later one.

        Several processes may write: the file is rewritten in place under an
        exclusive lock (readers take a shared one) and only ever moves forward.
        It is not fsynced: it is written after the store's own durable commit,
        so after a power cut it can only lag the log (``hcert audit verify``
        then reports the newest entries as not yet anchored), and a torn file is
        replaced by the next write. ``lookup`` replaces :attr:`lookup` for this
        write (the store's entries read with the write that appended ``seq``).
        Returns whether it was written. Raises
        :class:`keys.KeyRingError` when the audit key cannot be used, and
        :class:`AuditError` (writing nothing) when the log no longer holds the
        entry the present checkpoint anchors: moving on would hide a cut or
        rewritten tail.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # The threads of one process queue here, not on the file lock: a later write finds the
        # file at its seq or past it and returns at once (a waiting file lock is a system call each).
        with self._writing, self._locked(fcntl.LOCK_EX):
            current = self._unverified_head()
            if current is not None and current[0] >= seq:
                return False
            lookup = lookup or self.lookup
            if current is not None and lookup is not None and lookup(current[0]) != current[1]:
                raise AuditError(
                    f"the log no longer holds entry {current[0]} as the signed checkpoint anchors it: "
                    "checkpoint not moved (run `hcert audit verify`)"
                )
            key = self.ring.ensure(now=at)
            token = sign_compact(
                key, typ=AUDIT_CHECKPOINT_TYP, payload=json_compact({"seq": seq, "head": head, "at": at})
            )
            data = token.encode("ascii") + b"\n"
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                os.pwrite(fd, data, 0)
                os.ftruncate(fd, len(data))
            finally:
                os.close(fd)
            return True

    @contextmanager
    def _locked(self, mode: int) -> Iterator[None]:
        fd = os.open(self.path.parent / ".checkpoint.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)

    def _unverified_head(self) -> tuple[int, str] | None:
        # Only to keep the file moving forward from an intact log; `load` checks the signature.
        try:
            from hcert_verifier import b64url_decode, inflate

            payload = self.path.read_text("ascii").strip().split(".")[1]
            unverified = json.loads(inflate(b64url_decode(payload, "checkpoint"), 4096))
            seq, head = unverified.get("seq"), unverified.get("head")
            return (seq, head) if type(seq) is int and isinstance(head, str) else None
        except (OSError, ValueError, IndexError, AttributeError, HcertError):
            return None

    def load(self) -> Checkpoint | None:
        """Return the verified checkpoint, or ``None`` if there is none.

        Raises :class:`AuditError` when the file is unreadable or its signature
        is not by a (non-withdrawn) key of the audit key ring.
        """
        if not self.path.exists():
            return None
        try:
            with self._locked(fcntl.LOCK_SH):
                token = self.path.read_text("ascii").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as e:
            raise AuditError(f"cannot read the audit checkpoint {self.path}: {e}") from e
        keys = {r.kid: public_key_from_jwk(r.jwk(None)) for r in self.ring.records if r.state != "withdrawn"}
        try:
            payload = open_signed(token, keys, typ=AUDIT_CHECKPOINT_TYP, what="audit checkpoint")
        except HcertError as e:
            raise AuditError(f"the audit checkpoint {self.path} is not signed by the audit key: {e.reason}") from e
        seq, head, at = payload.get("seq"), payload.get("head"), payload.get("at")
        if type(seq) is not int or seq < 1 or not isinstance(head, str) or len(head) != 64 or type(at) is not int:
            raise AuditError(f"the audit checkpoint {self.path} is malformed")
        return Checkpoint(seq, head, at)

    def listener(self, seq: int, head: str, at: int, lookup: Callable[[int], str | None] | None = None) -> None:
        """Write a checkpoint after the store appended entries; log (never raise) on failure.

        The entries are committed already: failing the request would not undo
        them. ``hcert audit verify`` reports the entries after the checkpoint.
        """
        try:
            self.write(seq, head, at=at, lookup=lookup)
        except Exception as e:
            log.warning("audit checkpoint not written for entry %d: %s: %s", seq, type(e).__name__, e)


_CHAIN_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


class AuditAnchors:
    """The checkpoints of every chain of a store's log: one :class:`AuditAnchor` per chain, one key ring.

    ``root`` is ``<keys-dir>/_audit``. The single chain of a one-chain store is
    anchored in ``root/checkpoint.jwt``, any other chain in
    ``root/checkpoints/<chain>.jwt``.
    """

    def __init__(self, ring: KeyRing, root: Path, *, lookup: Callable[[str, int], str | None] | None = None) -> None:
        self.ring = ring
        self.root = root
        #: The store's hash of entry ``seq`` of a chain (``None``: no such entry).
        self.lookup = lookup
        self._anchors: dict[str, AuditAnchor] = {}

    def path(self, chain: str) -> Path:
        """Return the checkpoint file of ``chain``; raise :class:`AuditError` for a name unfit for a file."""
        if chain == SINGLE_CHAIN:
            return self.root / "checkpoint.jwt"
        if not _CHAIN_NAME.fullmatch(chain):
            raise AuditError(f"not an audit chain name: {chain!r}")
        return self.root / "checkpoints" / f"{chain}.jwt"

    def for_chain(self, chain: str) -> AuditAnchor:
        """Return the anchor of one chain."""
        anchor = self._anchors.get(chain)
        if anchor is None:
            lookup = self.lookup
            anchor = AuditAnchor(
                self.ring,
                self.path(chain),
                lookup=(lambda seq, chain=chain: lookup(chain, seq)) if lookup is not None else None,  # type: ignore[misc]
            )
            self._anchors[chain] = anchor
        return anchor

    def chains(self) -> list[str]:
        """Return the names of the chains that have a checkpoint file, sorted."""
        names = [SINGLE_CHAIN] if (self.root / "checkpoint.jwt").exists() else []
        folder = self.root / "checkpoints"
        if folder.is_dir():
            names += [p.stem for p in folder.glob("*.jwt") if _CHAIN_NAME.fullmatch(p.stem)]
        return sorted(names)

    def listener(
        self, chain: str, seq: int, head: str, at: int, lookup: Callable[[int], str | None] | None = None
    ) -> None:
        """Write the chain's checkpoint after the store appended to it; log (never raise) on failure."""
        try:
            anchor = self.for_chain(chain)
        except AuditError as e:
            log.warning("audit checkpoint not written for entry %d of chain %s: %s", seq, chain, e)
            return
        anchor.listener(seq, head, at, lookup)


@dataclass(frozen=True)
class ChainReport:
    """The check of one chain: its name, its checkpoint (``None``: none) and the result."""

    chain: str
    checkpoint: Checkpoint | None
    report: AuditReport


def verify_store(store: Store, anchors: AuditAnchors) -> list[ChainReport]:
    """Check every chain the store holds or the anchors name, each against its signed checkpoint.

    Per chain the checkpoint is read first: entries only grow, so a live
    server cannot make a sound chain look cut. Raises :class:`AuditError` when
    a checkpoint is unreadable or not signed by the audit key.
    """
    out = []
    for chain in sorted(set(store.audit_chains()) | set(anchors.chains())):
        checkpoint = anchors.for_chain(chain).load()
        out.append(ChainReport(chain, checkpoint, verify_chain(store.audit_entries(chain), anchor=checkpoint)))
    return out
