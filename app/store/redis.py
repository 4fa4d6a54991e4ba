"""The scale-out backend: Redis or Redis Cluster, shared by several app instances.

Key layout. Everything of one authority ``A`` (certificates, their index,
batches, idempotency records, status lists, its audit chain) is under the hash
tag ``{A}`` (``hcert:{A}:...``), so it lives in one cluster slot and one
authority's writes never wait on another's. The shared directory (authorities,
operators, people's accounts, console sessions) and the national audit chain
are under ``{national}``; failed sign-in counts under ``{signin}``.

Writes. Every write that changes more than one key, or appends to the audit
log, is one Lua script run (:mod:`._redis_lua`): its checks (a key absent, a
record unchanged since it was read) and its writes are atomic, and it appends
the audit entries to the chain of the data it changes, computing each entry's
place (``seq``, ``prev``) on the server. There is no WATCH and no retry loop on
a shared key. A read-modify-write of one record (a status change, an operator
update) checks in the script that the record is still the one read; a
concurrent change of the same record makes it read again, at most
``_RECORD_RETRIES`` times.

Audit chains. One per authority (its certificates, status changes, key
changes, sign-ins) and ``national`` (the directory: authorities, operators,
accounts, and events of no authority). A deployment written before the chains
were split keeps its old log as the chain ``all``, read-only.

Errors. A connection that fails before a write is sent raises
:class:`StoreUnavailable`; one that fails after it was sent, before the reply,
raises :class:`OutcomeUnknown` (the script may have run).

Durability needs the server configured with ``appendonly yes`` and
``appendfsync always`` (or ``everysec``, accepting up to a second of loss on
power failure); see docs/OPERATIONS.md and docs/SCALE.md.
"""

from __future__ import annotations

import collections
import hashlib
import heapq
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace
from functools import partial
from typing import Any, TypeVar

import redis
import redis.cluster
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..settings import SettingsError
from . import _redis_lua
from ._base import (
    GENESIS,
    NATIONAL_CHAIN,
    SINGLE_CHAIN,
    STATUS_VALUES,
    Account,
    AuditEvent,
    AuditListener,
    Authority,
    CertificateRecord,
    Conflict,
    IdempotencyRecord,
    IssueWrite,
    NotFound,
    Operator,
    OutcomeUnknown,
    Session,
    StoreError,
    StoreUnavailable,
    raised_from,
)

__all__ = ["CLUSTER_SCHEMES", "RedisStore"]

T = TypeVar("T")

#: URL schemes that select the Redis Cluster client (``redis+cluster://host:port[,host:port...]``).
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")

#: How often a read-modify-write of one record reads again after a concurrent change of that record.
_RECORD_RETRIES = 8

_DIR = NATIONAL_CHAIN  # hash tag of the directory, the national chain and the layout marker
_LEGACY_AUDIT = "hcert:audit"  # the single chain of a deployment written before the split

#: The lock of the move to the per-authority layout, its time to live (renewed while moving) and
#: how long another instance starting meanwhile waits for the move to end (seconds).
_MIGRATING = "hcert:migrating"
_MIGRATION_LOCK_TTL = 10
_MIGRATION_WAIT = 60

#: Written when a new deployment first opens the store: its absence later means Redis lost its data.
_MARKER = "hcert:store"

#: Set once the keys are in the per-authority layout (a new store, or one whose keys were moved).
_LAYOUT = "hcert:{national}:layout"

#: Writes with more audit entries than this read the chain's head before they are sent.
_FRESH_HEAD_ABOVE = 8

#: Socket timeouts (seconds): a frozen or unreachable Redis fails a request within a second.
_TIMEOUT = 0.5
#: Spare status entries: an authority gets, besides what it asks for, as many entries as this
#: process handed out for it in the last ``_SPARE_AGE`` seconds (with the spares left, at most
#: ``_SPARE_MAX``), kept
#: in the process for ``_SPARE_AGE`` seconds, so that most of a busy authority's requests need
#: no reservation round trip. An entry never used is harmless (as for a request that fails); a
#: quiet office reserves none. The write checks that each entry is still reserved in Redis and
#: not used by another certificate.
_SPARE_MAX = 16
_SPARE_AGE = 10.0


def _key(tag: str, *parts: str) -> str:
    return f"hcert:{{{tag}}}:" + ":".join(parts)


#: The keys of the CREDENTIAL script: the credential index, the operators, the authorities.
_CREDENTIAL_KEYS = [_key(_DIR, "optoken"), _key(_DIR, "operators"), _key(_DIR, "authorities")]


def _bitfield_offset(idx: int) -> int:
    # Token Status List entries are LSB-first within a byte; Redis numbers bits
    # MSB-first. Entry idx (2 bits at LSB shift s of byte b) is the u2 field at
    # Redis bit offset 8b + 6 - s, whose high bit is the entry's high bit.
    byte, shift = divmod(idx * 2, 8)
    return byte * 8 + 6 - shift


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


_BEFORE_PREV = ("action", "actor", "authority", "detail")
_AFTER_SEQ = ("subject", "time")


def _pieces(event: AuditEvent) -> tuple[str, str, str]:
    """Cut the canonical JSON of ``event``'s entry around its ``prev`` and ``seq`` values.

    ``before + prev + between + str(seq) + after`` is exactly the text that
    :func:`chain_hash` hashes (keys sorted: action, actor, authority, detail,
    prev, seq, subject, time).
    """
    entry = event.body(0, "")
    if sorted(entry) != sorted((*_BEFORE_PREV, "prev", "seq", *_AFTER_SEQ)):
        raise StoreError(f"unexpected audit entry fields: {sorted(entry)}")

    def items(keys: tuple[str, ...]) -> str:
        return ",".join(f"{_canon(k)}:{_canon(entry[k])}" for k in keys)

    return "{" + items(_BEFORE_PREV) + ',"prev":"', '","seq":', "," + items(_AFTER_SEQ) + "}"


class _ReplyLost(redis.ConnectionError):
    """The connection failed after a command was sent, before its reply."""


class _ReservationLost(StoreError):
    """A status entry reserved for an issue is no longer in its list's reserved set."""


class _TaggedConnection:
    """Mixed into the client's connection class: tells a lost reply from a failed send."""

    _in_handshake = False

    def on_connect(self) -> None:
        self._in_handshake = True
        try:
            super().on_connect()  # type: ignore[misc]
        finally:
            self._in_handshake = False

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().read_response(*args, **kwargs)  # type: ignore[misc]
        except (redis.ConnectionError, redis.TimeoutError) as e:
            # LOADING is the server's reply (redis-py makes it a ConnectionError): a refusal, nothing ran.
            if self._in_handshake or isinstance(e, _ReplyLost | redis.exceptions.BusyLoadingError):
                raise
            raise _ReplyLost(str(e)) from e


def _entry_hash(raw: bytes, seq: int) -> str | None:
    """Return the hash of a stored audit entry if it is entry ``seq``."""
    entry, digest = json.loads(raw)
    return str(digest) if isinstance(entry, dict) and entry.get("seq") == seq else None


def _credential_reply(reply: list[Any]) -> tuple[Operator | None, Authority | None]:
    """Return the operator and authority of a CREDENTIAL script's reply."""
    operator = Operator(**json.loads(reply[0])) if reply else None
    return operator, Authority.from_json(reply[1]) if len(reply) > 1 else None


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:120]


def _tagged(cls: type) -> type:
    return cls if issubclass(cls, _TaggedConnection) else type("Tagged" + cls.__name__, (_TaggedConnection, cls), {})


#: Everything a Redis call can raise for a fault of the server or the network (redis-py's
#: RedisClusterException, raised when no node of a cluster answers, is not a RedisError).
_FAULTS = (redis.RedisError, redis.exceptions.RedisClusterException, OSError)

#: Server replies that refuse a command before it changes anything.
_REFUSALS = (
    "READONLY",
    "MISCONF",
    "OOM",
    "BUSY",
    "LOADING",
    "MASTERDOWN",
    "CLUSTERDOWN",
    "TRYAGAIN",
    "NOREPLICAS",
    "MOVED",  # a slot moved (a failover, a resharding): the command was not run
    "ASK",
)


class RedisStore:
    """All state in one Redis database or one Redis Cluster, under keys prefixed ``hcert:``."""

    def __init__(self, url: str, *, wait_replicas: int = 0, wait_ms: int = 100) -> None:
        self.url = url
        #: After each write, ``WAIT`` until this many replicas have it (0: do not wait), at most ``wait_ms``.
        self.wait_replicas = wait_replicas
        self.wait_ms = wait_ms
        self.audit_listener: AuditListener | None = None
        #: Whether the deployment is new (the service: no audit checkpoint yet). Only then is a
        #: missing marker written; ``None`` (a store opened on its own): always.
        self.new_deployment: Callable[[], bool] | None = None
        # The caller's last known head of each chain: a write that finds it unchanged stores the
        # hashes computed here; otherwise the script hashes (no retry either way).
        self._heads: dict[str, tuple[int, str]] = {}
        self._registered: set[str] = set()
        #: The newest entry of each chain that this process had anchored: usually the audit
        #: checkpoint holds it or a later one (the write script reads the entries from it back;
        #: an entry outside them is read with LINDEX).
        self._anchored: dict[str, int] = {}
        #: The newest status list each authority used here (the allocation script's guess).
        self._lists: dict[str, int] = {}
        #: Spare reserved status entries per (authority, list size), each with when it was reserved;
        #: the entries handed out per authority lately (when, how many), which size the spares; and
        #: the (authority, list size) a thread is reserving spares for.
        self._spare: dict[tuple[str, int], list[tuple[float, tuple[int, int]]]] = {}
        self._handed: dict[str, tuple[collections.deque[tuple[float, int]], int]] = {}
        self._refilling: set[tuple[str, int]] = set()
        self._spare_lock = threading.Lock()
        scheme = urllib.parse.urlsplit(url).scheme
        # No client-side retries: a write retried after its reply was lost could run twice.
        no_retry = Retry(NoBackoff(), 0)
        self.cluster = scheme in CLUSTER_SCHEMES
        self._r: Any
        if self.cluster:
            try:
                self._r = _cluster_client(url, retry=no_retry)
            except redis.exceptions.RedisClusterException as e:  # no start-up node answers
                # redis-py's text: "Redis Cluster cannot be connected. Please provide ... node: <cause>"
                cause = str(e).rpartition("reachable node: ")[2] or type(e).__name__
                raise StoreUnavailable(f"no node of the Redis Cluster answers ({cause.splitlines()[0][:120]})") from e
        else:
            self._r = redis.Redis.from_url(
                url, socket_timeout=_TIMEOUT, socket_connect_timeout=_TIMEOUT, retry=no_retry
            )
            pool = self._r.connection_pool
            pool.connection_class = _tagged(pool.connection_class)
        self._write = self._r.register_script(_redis_lua.WRITE)
        self._signin = self._r.register_script(_redis_lua.SIGNIN)
        self._credential = self._r.register_script(_redis_lua.CREDENTIAL)
        self._allocate = self._r.register_script(_redis_lua.ALLOCATE)
        self._status = self._r.register_script(_redis_lua.STATUS)
        self._move = self._r.register_script(_redis_lua.MOVE)
        self._lock = self._r.register_script(_redis_lua.LOCK)
        if not self.cluster:  # a cluster never held the single-server layout
            self._migrate_single_key_layout()
        self._marked = self._marker_exists()

    # -- the layout before per-authority hash tags ------------------------------------------
    def _migrate_single_key_layout(self) -> None:
        """Move the keys of a store written before the per-authority layout to their new names, once.

        Several instances may start at once: one moves the keys under a lock key
        (``hcert:migrating``, held for ``_MIGRATION_LOCK_TTL`` seconds and renewed as it
        goes, so that an instance that dies part way frees it soon), the others wait for
        it, ``_MIGRATION_WAIT`` seconds at most. Each move is safe to repeat (a key
        another instance moved already is skipped), so a start that stopped part way is
        finished by the next. The old audit log stays where it was, as the chain ``all``.
        A Redis error part way is :class:`StoreUnavailable` with one line saying so.
        """
        try:
            if self._r.exists(_LAYOUT):
                return
            if not next(self._legacy_keys(), None):  # a new store (one scan, then never again)
                self._r.set(_LAYOUT, "2")
                return
        except _FAULTS:
            return  # not reachable now: the first call that needs the store says so
        try:
            token = secrets.token_hex(8)
            end = time.monotonic() + _MIGRATION_WAIT
            while not self._r.set(_MIGRATING, token, nx=True, px=_MIGRATION_LOCK_TTL * 1000):
                if self._r.exists(_LAYOUT):
                    return  # another instance finished
                if time.monotonic() > end:
                    raise StoreUnavailable(
                        "another instance is still moving the Redis keys to the per-authority layout; start again"
                    )
                time.sleep(0.1)
            try:
                if not self._r.exists(_LAYOUT):
                    self._move_legacy_keys(token)
                    self._r.set(_LAYOUT, "2")
            finally:
                self._lock(keys=[_MIGRATING], args=[token, "0"])
        except StoreUnavailable:
            raise
        except _FAULTS as e:
            raise StoreUnavailable(
                "moving the Redis keys to the per-authority layout stopped part way"
                f" ({type(e).__name__}: {_first_line(e)}); start again to finish it"
            ) from e

    def _move_legacy_keys(self, token: str) -> None:
        for n, key in enumerate(list(self._legacy_keys()), start=1):
            if n % 100 == 0 and not self._lock(keys=[_MIGRATING], args=[token, str(_MIGRATION_LOCK_TTL * 1000)]):
                raise StoreUnavailable("the lock on moving the Redis keys expired; start again to finish the move")
            new = self._legacy_name(key.decode())
            if new is None:
                continue
            if new == "":  # the seals hash: one key per authority (setting them again is harmless)
                for authority, png in self._r.hgetall(key).items():
                    self._r.set(_key(authority.decode(), "seal"), png)
                self._r.delete(key)
            elif new.startswith("cert:"):
                raw = self._r.get(key)
                if raw is not None:
                    self._move(keys=[key, _key(json.loads(raw)["authority"], new)])
            else:
                self._move(keys=[key, new])

    def _legacy_keys(self) -> Iterator[bytes]:
        for key in self._r.scan_iter("hcert:*", count=1000):
            if b"{" not in key and self._legacy_name(key.decode()) is not None:
                yield key

    @staticmethod
    def _legacy_name(key: str) -> str | None:
        """Return the new name of a key of the single-server layout (``None``: it stays; ``""``: the seals)."""
        name = key.removeprefix("hcert:")
        kind, _, rest = name.partition(":")
        if kind in ("authorities", "operators", "opname", "optoken", "accounts", "usernames", "session", "opsessions"):
            return _key(_DIR, name)
        if kind == "seals" and not rest:
            return ""
        if kind == "cert" and rest:
            return f"cert:{rest}"  # under the authority its record names
        if kind == "idem" and rest.startswith("forgotten-without:"):
            return _key(_DIR, "idem-forgotten-without", rest.removeprefix("forgotten-without:"))
        if kind in ("certs", "listused", "statusver", "refusals") and rest and ":" not in rest:
            return _key(rest, kind)
        if kind in ("idem", "batch", "slots", "status") and ":" in rest:
            authority, _, tail = rest.partition(":")
            return _key(authority, f"{kind}:{tail}")
        return None  # the old audit log (chain ``all``), sign-in counts, the marker, the counters

    # -- calling Redis ----------------------------------------------------------------
    def _call(self, fn: Callable[[], T], *, write: bool = False) -> T:
        """Run ``fn``, turning Redis's errors into the store's."""
        try:
            return fn()
        except _ReplyLost as e:
            # Short messages: the API logs one line per refused request, and an outage refuses many.
            if write:
                raise OutcomeUnknown("Redis did not answer a write") from e
            raise StoreUnavailable("Redis did not answer") from e
        except redis.exceptions.BusyLoadingError as e:  # a reply: Redis is reading its data after a restart
            raise StoreUnavailable("Redis refused the command (LOADING)") from e
        except (redis.ConnectionError, redis.TimeoutError) as e:
            raise StoreUnavailable(f"Redis cannot be reached ({type(e).__name__})") from e
        except (redis.exceptions.ClusterError, redis.exceptions.RedisClusterException) as e:
            # No node serves the slot, the cluster is down, or no node answers at all (redis-py's
            # RedisClusterException is not a RedisError). A write whose reply was lost first may have run.
            if write and raised_from(e, _ReplyLost):
                raise OutcomeUnknown("Redis did not answer a write") from e
            raise StoreUnavailable(f"Redis Cluster cannot serve the request ({type(e).__name__})") from e
        except redis.ResponseError as e:
            if str(e).split(" ", 1)[0].upper() in _REFUSALS:
                raise StoreUnavailable(f"Redis refused the write ({str(e)[:40]})") from e
            raise StoreError(f"Redis: {e}") from e

    def _run(
        self,
        tag: str,
        *,
        checks: list[tuple[str, str, str, str]] = (),  # type: ignore[assignment]
        writes: list[tuple[str, str, str, str, str]] = (),  # type: ignore[assignment]
        chain: str | None = None,
        events: list[AuditEvent] = (),  # type: ignore[assignment]
    ) -> int | None:
        """Run one write script on keys of hash tag ``tag``; return the number of the failed check, or ``None``.

        ``checks`` are ``(name, key, arg1, arg2)``, ``writes`` ``(name, key, arg1, arg2, arg3)``
        with keys given as suffixes under ``hcert:{tag}:``. ``events`` go to the audit chain
        ``chain`` (its keys under the same tag).
        """
        keys: list[str] = []
        index: dict[str, int] = {}

        def k(suffix: str) -> str:
            name = _key(tag, suffix)
            if name not in index:
                keys.append(name)
                index[name] = len(keys)
            return str(index[name])

        argv: list[str] = [str(len(checks)), str(len(writes))]
        for name, key, a1, a2 in checks:
            argv += [name, k(key), a1, a2, ""]
        for name, key, a1, a2, a3 in writes:
            argv += [name, k(key), a1, a2, a3]
        guess: tuple[int, str] | None = None
        if events and chain is not None:
            if chain not in self._registered:  # the chain registry lists every chain (a separate slot)
                self._call(lambda: self._r.sadd(_key(_DIR, "chains"), chain), write=True)
                self._registered.add(chain)
            guess = self._heads.get(chain)
            if guess is None or len(events) > _FRESH_HEAD_ABOVE:
                # A large write (a manifest) reads the head first, so that Redis hashes its
                # entries only if another write lands in between (SHA-256 in Lua: about a
                # millisecond an entry, during which Redis serves nobody else).
                guess = self.audit_head(chain)
            # The entries from the one this process last saw anchored (the checkpoint cannot be
            # older) up to the head: the checkpoint reads the one it anchors from the reply.
            want = max(self._anchored.get(chain, 0), guess[0] - 63) if chain in self._anchored else 0
            argv += [k("audit"), k("audit:head"), str(guess[0]), guess[1], str(len(events)), str(want)]
            seq, prev = guess
            for event in events:
                seq += 1
                before, between, after = _pieces(event)
                digest = hashlib.sha256(f"{before}{prev}{between}{seq}{after}".encode()).hexdigest()
                argv += [before, between, after, digest]
                prev = digest
        else:
            argv += ["0", "0", "", "", "0", "0"]
        acked: int | None = None
        if self.wait_replicas > 0:
            reply, acked = self._call(partial(self._write_and_wait, keys, argv), write=True)
        else:
            reply = self._call(lambda: self._write(keys=keys, args=argv), write=True)
        if int(reply[0]) == 0:
            return int(reply[1])
        if len(reply) == 4 and chain is not None:
            head = (int(reply[1]), reply[2].decode())
            self._heads[chain] = head
            if self.audit_listener is not None:
                seen = {want + i: raw for i, raw in enumerate(reply[3])}

                def lookup(seq: int, chain: str = chain) -> str | None:
                    # Read in the same script as the write: the log held it after the checkpoint was made.
                    return _entry_hash(seen[seq], seq) if seq in seen else self.audit_hash(chain, seq)

                self.audit_listener(chain, head[0], head[1], events[-1].time, lookup)
            # A hint: after the listener the chain's checkpoint holds this head or a later one,
            # unless it could not be written (then the entry it holds is read with LINDEX).
            self._anchored[chain] = max(self._anchored.get(chain, 0), head[0])
        if acked is not None and acked < self.wait_replicas:
            # Written on the master, not yet on enough replicas: a failover now could lose it.
            raise OutcomeUnknown(
                f"written, but {acked} of {self.wait_replicas} replicas had it after {self.wait_ms} ms"
            )
        return None

    def _write_and_wait(self, keys: list[str], argv: list[str]) -> tuple[list[Any], int]:
        """Run the write script and ``WAIT`` on one connection (WAIT counts that connection's writes)."""
        client = self._r
        if self.cluster:  # the master of the keys' slot, addressed directly
            client = self._r.get_redis_connection(self._r.get_node_from_key(keys[0]))
        with client.pipeline(transaction=False) as pipe:
            self._write(keys=keys, args=argv, client=pipe)
            pipe.execute_command("WAIT", self.wait_replicas, self.wait_ms)
            reply, acked = pipe.execute()
        return reply, int(acked)

    def _chain_of(self, event: AuditEvent) -> str:
        return event.authority or NATIONAL_CHAIN

    # -- audit -------------------------------------------------------------------
    def append_audit(self, events: list[AuditEvent]) -> None:
        # Each chain's entries in one script run; events of several chains are appended chain by chain.
        by_chain: dict[str, list[AuditEvent]] = {}
        for event in events:
            by_chain.setdefault(self._chain_of(event), []).append(event)
        for chain, group in by_chain.items():
            self._run(chain, chain=chain, events=group)

    def audit_chains(self) -> list[str]:
        registered = self._call(lambda: self._r.smembers(_key(_DIR, "chains")))
        names = {NATIONAL_CHAIN, *(n.decode() for n in registered), *(a.code for a in self.list_authorities())}
        candidates = sorted(names)
        found = self._call(lambda: self._exists_each([_key(c, "audit:head") for c in candidates]))
        chains = [c for c, present in zip(candidates, found, strict=True) if present]
        if self._call(lambda: self._r.exists(_LEGACY_AUDIT)):
            chains.append(SINGLE_CHAIN)
        return sorted(chains)

    def _exists_each(self, keys: list[str]) -> list[bool]:
        with self._r.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.exists(key)
            return [bool(n) for n in pipe.execute()]

    def _chain_keys(self, chain: str) -> tuple[str, str | None]:
        if chain == SINGLE_CHAIN:
            return _LEGACY_AUDIT, "hcert:audit:head"
        return _key(chain, "audit"), _key(chain, "audit:head")

    def audit_head(self, chain: str) -> tuple[int, str]:
        _, head_key = self._chain_keys(chain)
        head: Any = self._call(lambda: self._r.get(head_key))
        if not head:
            return 0, GENESIS
        seq_text, digest = head.decode().split(" ")
        return int(seq_text), digest

    def audit_hash(self, chain: str, seq: int) -> str | None:
        list_key, _ = self._chain_keys(chain)
        raw: Any = self._call(lambda: self._r.lindex(list_key, seq - 1)) if seq >= 1 else None
        return None if raw is None else _entry_hash(raw, seq)

    def audit_entries(self, chain: str | None = None) -> Iterator[tuple[dict[str, Any], str]]:
        if chain is not None:
            yield from self._chain_entries(chain)
            return
        # All chains, merged by time (each chain's own order kept; at equal times the national chain first).
        chains = sorted(self.audit_chains(), key=lambda c: (c != NATIONAL_CHAIN, c))
        streams = [self._chain_entries(c) for c in chains]
        yield from heapq.merge(*streams, key=lambda item: int(item[0].get("time", 0)))

    def _chain_entries(self, chain: str) -> Iterator[tuple[dict[str, Any], str]]:
        list_key, _ = self._chain_keys(chain)
        n = self._call(lambda: self._r.llen(list_key))
        for start in range(0, n, 1000):
            for raw in self._call(partial(self._r.lrange, list_key, start, start + 999)):
                entry, digest = json.loads(raw)
                yield entry, digest

    # -- authorities and operators ----------------------------------------------
    def add_authority(self, authority: Authority, audit: AuditEvent) -> None:
        failed = self._run(
            _DIR,
            checks=[("hfree", "authorities", authority.code, "")],
            writes=[("hset", "authorities", authority.code, authority.to_json(), "")],
            chain=NATIONAL_CHAIN,
            events=[audit],
        )
        if failed:
            raise Conflict(f"authority {authority.code} exists already")

    def get_authority(self, code: str) -> Authority | None:
        raw = self._call(lambda: self._r.hget(_key(_DIR, "authorities"), code))
        return Authority.from_json(raw) if raw else None

    def list_authorities(self) -> list[Authority]:
        values = self._call(lambda: self._r.hvals(_key(_DIR, "authorities")))
        return sorted((Authority.from_json(v) for v in values), key=lambda a: a.code)

    def set_authority_scope(
        self, code: str, *, kinds: tuple[str, ...], regions: tuple[str, ...] | None, audit: AuditEvent
    ) -> Authority:
        for _ in range(_RECORD_RETRIES):
            raw = self._call(lambda: self._r.hget(_key(_DIR, "authorities"), code))
            if raw is None:
                raise NotFound(f"no authority {code}")
            changed = replace(Authority.from_json(raw), kinds=kinds, regions=regions)
            failed = self._run(
                _DIR,
                checks=[("heq", "authorities", code, raw.decode())],
                writes=[("hset", "authorities", code, changed.to_json(), "")],
                chain=NATIONAL_CHAIN,
                events=[audit],
            )
            if not failed:
                return changed
        raise StoreUnavailable(f"authority {code} is being changed by others; try again")

    def add_operator(self, operator: Operator, audit: AuditEvent) -> None:
        name_key = f"{operator.authority or ''}|{operator.name}"
        failed = self._run(
            _DIR,
            checks=[("hfree", "opname", name_key, ""), ("hfree", "optoken", operator.token_hash, "")],
            writes=[
                ("hset", "operators", operator.id, json.dumps(asdict(operator), ensure_ascii=False), ""),
                ("hset", "opname", name_key, operator.id, ""),
                ("hset", "optoken", operator.token_hash, operator.id, ""),
            ],
            chain=NATIONAL_CHAIN,
            events=[audit],
        )
        if failed:
            raise Conflict(f"operator {operator.name} exists already")

    def operator_by_token_hash(self, token_hash: str) -> Operator | None:
        op_id = self._call(lambda: self._r.hget(_key(_DIR, "optoken"), token_hash))
        return self.get_operator(op_id.decode()) if op_id else None

    def credential(self, token_hash: str) -> tuple[Operator | None, Authority | None]:
        reply: list[Any] = self._call(lambda: self._credential(keys=_CREDENTIAL_KEYS, args=[token_hash]))
        return _credential_reply(reply)

    def sign_in_state(
        self, token_hash: str | None, keys: list[str], *, now: int, window: int
    ) -> tuple[list[int], Operator | None, Authority | None]:
        if token_hash is None or self.cluster:  # a cluster: two slots, two masters, two calls
            counts = self.failed_signins(keys, now=now, window=window)
            return (counts, *self.credential(token_hash)) if token_hash is not None else (counts, None, None)
        names = [_key("signin", str(now // window), key) for key in keys]

        def read() -> list[Any]:
            # One pipeline, one round trip. EVALSHA is sent as a command (a Script in a pipeline
            # would first ask SCRIPT EXISTS: another round trip); an unknown script loads and
            # reads once more (a read, safe to repeat).
            with self._r.pipeline(transaction=False) as pipe:
                pipe.mget(names)
                pipe.evalsha(self._credential.sha, len(_CREDENTIAL_KEYS), *_CREDENTIAL_KEYS, token_hash)
                values, reply = pipe.execute(raise_on_error=False)
            if isinstance(reply, redis.exceptions.NoScriptError):
                reply = self._credential(keys=_CREDENTIAL_KEYS, args=[token_hash])
            for item in (values, reply):
                if isinstance(item, Exception):
                    raise item
            return [values, reply]

        values, reply = self._call(read)
        return [int(v) if v else 0 for v in values], *_credential_reply(reply)

    def list_operators(self, authority: str | None) -> list[Operator]:
        ops = (Operator(**json.loads(v)) for v in self._call(lambda: self._r.hvals(_key(_DIR, "operators"))))
        return sorted((o for o in ops if o.authority == authority), key=lambda o: o.name)

    # -- credential lifecycle ---------------------------------------------------
    def get_operator(self, op_id: str) -> Operator | None:
        raw = self._call(lambda: self._r.hget(_key(_DIR, "operators"), op_id))
        return Operator(**json.loads(raw)) if raw else None

    def update_operator(self, operator: Operator, audit: AuditEvent) -> None:
        for _ in range(_RECORD_RETRIES):
            raw = self._call(lambda: self._r.hget(_key(_DIR, "operators"), operator.id))
            if not raw:
                raise NotFound(f"no operator {operator.id}")
            old = Operator(**json.loads(raw))
            checks = [("heq", "operators", operator.id, raw.decode())]
            writes = [("hset", "operators", operator.id, json.dumps(asdict(operator), ensure_ascii=False), "")]
            if old.token_hash != operator.token_hash:
                checks.append(("hfree", "optoken", operator.token_hash, ""))
                writes += [
                    ("hdel", "optoken", old.token_hash, "", ""),
                    ("hset", "optoken", operator.token_hash, operator.id, ""),
                ]
            failed = self._run(_DIR, checks=checks, writes=writes, chain=NATIONAL_CHAIN, events=[audit])
            if failed is None:
                return
            if failed == 2:
                raise Conflict(f"operator {operator.name} conflicts with another")
        raise StoreUnavailable(f"operator {operator.id} is being changed by others; try again")

    def touch_operator(self, op_id: str, at: int) -> None:
        for _ in range(_RECORD_RETRIES):
            raw = self._call(lambda: self._r.hget(_key(_DIR, "operators"), op_id))
            if not raw:
                return
            op = Operator(**json.loads(raw))
            if op.last_used is not None and op.last_used >= at:
                return
            touched = json.dumps(asdict(replace(op, last_used=at)), ensure_ascii=False)
            if not self._run(
                _DIR,
                checks=[("heq", "operators", op_id, raw.decode())],
                writes=[("hset", "operators", op_id, touched, "")],
            ):
                return
        # Best effort: a sign-in time that others keep changing is not worth failing a request.

    def record_failed_signin(self, keys: list[str], *, now: int, window: int) -> list[int]:
        if not keys:
            return []
        win = now // window
        names = [_key("signin", str(win), key) for key in keys]
        counts = self._call(lambda: self._signin(keys=names, args=[2 * window]), write=True)
        return [int(n) for n in counts]

    def failed_signins(self, keys: list[str], *, now: int, window: int) -> list[int]:
        if not keys:
            return []
        win = now // window
        values = self._call(lambda: self._r.mget([_key("signin", str(win), key) for key in keys]))
        return [int(v) if v else 0 for v in values]

    # -- certificates -----------------------------------------------------------
    def allocate_status(self, authority: str, count: int, *, list_size: int) -> list[tuple[int, int]]:
        return self._allocate_entries(authority, count, list_size=list_size)

    def _allocate_entries(self, authority: str, count: int, *, list_size: int, spare: int = 0) -> list[tuple[int, int]]:
        # Up to ``spare`` more than ``count`` are asked for in the first run only, so they come
        # from a list the requested entries use: spares never open a list of their own.
        # One script run for the whole batch of random candidates (usually the only one).
        # An entry reserved for a request that then fails is never used: harmless, so a lost
        # reply here is "nothing written" (no certificate), not an unknown outcome.
        # The script is given the reserved sets of the newest list it may use, guessed (the last
        # one this instance used): it answers with the right list number when the guess is off.
        out: list[tuple[int, int]] = []
        while len(out) < count:
            guess = self._lists.get(authority, 0)
            keys = [_key(authority, "listused"), *(_key(authority, f"slots:{n}") for n in (guess, guess + 1))]
            candidates = [str(secrets.randbelow(list_size)) for _ in range(count - len(out) + spare)]
            won: list[Any] = self._call(partial(self._allocate, keys=keys, args=[guess, list_size // 2, *candidates]))
            if int(won[0]) < 0:
                self._lists[authority] = int(won[1])
                continue
            spare = 0
            self._lists[authority] = int(won[0])
            out.extend((int(won[0]), int(idx)) for idx in won[1:])
        return out

    def commit_issue(
        self, records: list[CertificateRecord], audit: list[AuditEvent], idempotency: IdempotencyRecord | None
    ) -> None:
        self._commit_issue(records, audit, idempotency, reserved=False)

    def _commit_issue(
        self,
        records: list[CertificateRecord],
        audit: list[AuditEvent],
        idempotency: IdempotencyRecord | None,
        *,
        reserved: bool,
    ) -> None:
        """Write an issue; with ``reserved``, only if every record's status entry is still reserved.

        Raises :class:`Conflict` for an idempotency key or certificate id that exists,
        :class:`_ReservationLost` when a status entry is no longer in its list's reserved set or
        another certificate was written with it (Redis lost the reservation: restarted without
        it, or failed over, and the entry was reserved again): nothing is written. Each entry
        written is marked used (``used:<list>``: entry -> certificate id).
        """
        authorities = {r.authority for r in records} | ({idempotency.authority} if idempotency else set())
        if len(authorities) > 1:
            raise StoreError("one issue write is of one authority")
        if not authorities:
            self.append_audit(audit)
            return
        (authority,) = authorities
        checks: list[tuple[str, str, str, str]] = []
        what: list[str] = []
        writes: list[tuple[str, str, str, str, str]] = []
        if idempotency is not None:
            checks.append(("absent", f"idem:{idempotency.key}", "", ""))
            what.append("idempotency key")
            writes.append(
                ("set", f"idem:{idempotency.key}", json.dumps(asdict(idempotency), ensure_ascii=False), "", "")
            )
        for record in records:
            checks.append(("absent", f"cert:{record.jti}", "", ""))
            what.append("certificate id")
            if reserved:
                # Reserved (Redis still holds the reservation) and not yet used by another
                # certificate: after a loss, another process may have reserved the same entry.
                entry = str(record.status_index)
                checks.append(("member", f"slots:{record.status_list}", entry, ""))
                checks.append(("hfree", f"used:{record.status_list}", entry, ""))
                what += ["reservation", "reservation"]
                writes.append(("hset", f"used:{record.status_list}", entry, record.jti, ""))
            writes += [
                ("set", f"cert:{record.jti}", record.to_json(), "", ""),
                ("zadd", "certs", str(record.issued_at), record.jti, ""),
            ]
            if record.batch is not None:  # the batch index, in manifest order
                writes.append(("rpush", f"batch:{record.batch}", record.jti, "", ""))
        failed = self._run(authority, checks=checks, writes=writes, chain=authority, events=audit)
        if failed is not None:
            if what[failed - 1] == "reservation":
                raise _ReservationLost(authority)
            raise Conflict(f"{what[failed - 1]} exists already")

    def issue_with_status(
        self,
        authority: str,
        count: int,
        *,
        list_size: int,
        build: Callable[[list[tuple[int, int]]], IssueWrite],
    ) -> None:
        try:
            self._commit_issue(*build(self._reserved(authority, count, list_size)), reserved=True)
        except _ReservationLost:
            # Redis no longer holds a reservation this process made (a restart or a failover
            # since): another process may have the entry. Spares go; sign again with new entries.
            with self._spare_lock:
                self._spare.pop((authority, list_size), None)
            try:
                self._commit_issue(*build(self.allocate_status(authority, count, list_size=list_size)), reserved=True)
            except _ReservationLost as e:
                raise StoreUnavailable("Redis lost the status entries reserved for this request; retry") from e

    def _reserved(self, authority: str, count: int, list_size: int) -> list[tuple[int, int]]:
        """Return ``count`` reserved status entries: spare ones kept from an earlier reservation, or new ones.

        Spares are sized by demand: as many as this process handed out for the authority in
        the last ``_SPARE_AGE`` seconds (at most ``_SPARE_MAX``), so a quiet office reserves
        none and a steady one about what it uses before they expire. One thread refills at a
        time; what it reserves beyond its own count joins the spares left.
        """
        now = time.monotonic()
        key = (authority, list_size)
        with self._spare_lock:
            spare = [(at, slot) for at, slot in self._spare.get(key, []) if now - at <= _SPARE_AGE]
            handed, total = self._handed.get(authority) or (collections.deque(), 0)
            while handed and now - handed[0][0] > _SPARE_AGE:
                total -= handed.popleft()[1]
            demand = total
            handed.append((now, count))
            self._handed[authority] = (handed, total + count)
            if len(spare) >= count:
                self._spare[key] = spare[count:]
                return [slot for _, slot in spare[:count]]
            self._spare[key] = spare
            room = _SPARE_MAX - len(spare)
            refill = 0 if count > _SPARE_MAX or key in self._refilling else max(0, min(room, demand))
            if refill:
                self._refilling.add(key)
        try:
            slots = self._allocate_entries(authority, count, list_size=list_size, spare=refill)
        finally:
            if refill:
                with self._spare_lock:
                    self._refilling.discard(key)
        if len(slots) > count:
            with self._spare_lock:
                self._spare[key] = self._spare.get(key, []) + [(now, slot) for slot in slots[count:]]
        return slots[:count]

    def forget_idempotency_without(self, prefix: str) -> int:
        done = _key(_DIR, "idem-forgotten-without", prefix)
        if self._call(lambda: self._r.exists(done)):
            return 0
        gone = 0
        for pattern in ("hcert:{*}:idem:*", "hcert:idem:*"):
            for key in self._call(partial(self._scan, pattern)):
                raw = self._call(partial(self._r.get, key))
                if raw and not json.loads(raw).get("request_hash", "").startswith(prefix):
                    gone += int(self._call(partial(self._r.delete, key), write=True))
        self._call(lambda: self._r.set(done, 1), write=True)
        return gone

    def _scan(self, pattern: str) -> list[bytes]:
        return list(self._r.scan_iter(pattern, count=1000))

    def get_idempotency(self, authority: str, key: str) -> IdempotencyRecord | None:
        raw = self._call(lambda: self._r.get(_key(authority, f"idem:{key}")))
        if raw and self.wait_replicas > 0:
            # The record may be one whose write was answered outcome_unknown (too few replicas had
            # it): it is replayed only once enough replicas have it, like a write is answered.
            acked = self._call(partial(self._confirm, _key(authority, "replayed")), write=True)
            if acked < self.wait_replicas:
                raise OutcomeUnknown(
                    f"the stored answer is on the master; {acked} of {self.wait_replicas} replicas"
                    f" had it after {self.wait_ms} ms"
                )
        return IdempotencyRecord(**json.loads(raw)) if raw else None

    def _confirm(self, key: str) -> int:
        """Return how many replicas have every write the master of ``key``'s slot made so far.

        ``WAIT`` counts the writes of its own connection, so a write goes first on that
        connection (a counter under the same hash tag): replication is in order, so a
        replica that has it has everything the master had before.
        """
        client = self._r
        if self.cluster:
            client = self._r.get_redis_connection(self._r.get_node_from_key(key))
        with client.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.execute_command("WAIT", self.wait_replicas, self.wait_ms)
            _, acked = pipe.execute()
        return int(acked)

    def get_certificate(self, authority: str, jti: str) -> CertificateRecord | None:
        raw = self._call(lambda: self._r.get(_key(authority, f"cert:{jti}")))
        record = CertificateRecord.from_json(raw) if raw else None
        return record if record and record.authority == authority else None

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
    ) -> tuple[list[CertificateRecord], int]:
        hi = "(" + str(issued_to) if issued_to is not None else "+inf"
        lo = str(issued_from) if issued_from is not None else "-inf"
        jtis: list[bytes] = self._call(lambda: self._r.zrevrangebyscore(_key(authority, "certs"), hi, lo))
        if kind is None and kid is None:
            page = jtis[offset : offset + limit]
            records = self._load(authority, [j.decode() for j in page])
            return records, len(jtis)
        matched = [
            r
            for r in self._load(authority, [j.decode() for j in jtis])
            if (kind is None or r.kind == kind) and (kid is None or r.kid == kid)
        ]
        return matched[offset : offset + limit], len(matched)

    def batch_certificates(self, authority: str, batch: str) -> list[str]:
        jtis: list[bytes] = self._call(lambda: self._r.lrange(_key(authority, f"batch:{batch}"), 0, -1))
        return [j.decode() for j in jtis]

    def _load(self, authority: str, jtis: list[str]) -> list[CertificateRecord]:
        out: list[CertificateRecord] = []
        for start in range(0, len(jtis), 1000):
            names = [_key(authority, f"cert:{j}") for j in jtis[start : start + 1000]]
            out += [CertificateRecord.from_json(r) for r in self._call(partial(self._r.mget, names)) if r]
        return out

    def change_status(
        self, authority: str, jti: str, *, status: str, reason: str, now: int, audit: AuditEvent
    ) -> CertificateRecord:
        for _ in range(_RECORD_RETRIES):
            raw = self._call(lambda: self._r.get(_key(authority, f"cert:{jti}")))
            record = CertificateRecord.from_json(raw) if raw else None
            if record is None or record.authority != authority:
                raise NotFound(jti)
            if record.status == "revoked":
                raise Conflict("a revoked certificate cannot change status")
            updated = replace(record, status=status, status_reason=reason, updated_at=now)
            lst = str(record.status_list)
            failed = self._run(
                authority,
                checks=[("eq", f"cert:{jti}", raw.decode(), "")],
                writes=[
                    ("set", f"cert:{jti}", updated.to_json(), "", ""),
                    ("u2", f"status:{lst}", str(_bitfield_offset(record.status_index)), str(STATUS_VALUES[status]), ""),
                    ("hincrby", "statusver", lst, "1", ""),
                ],
                chain=authority,
                events=[audit],
            )
            if failed is None:
                return updated
        raise StoreUnavailable(f"certificate {jti} is being changed by others; try again")

    def status_bits(self, authority: str, lst: int, *, list_size: int) -> tuple[bytes, int]:
        keys = [_key(authority, f"status:{lst}"), _key(authority, "statusver"), _key(authority, "listused")]
        reply: list[Any] = self._call(lambda: self._status(keys=keys, args=[str(lst)]))
        if int(reply[0]) == 0:
            raise NotFound(f"status list {authority}/{lst}")
        data, version = bytes(reply[1]), int(reply[2])
        full = list_size * 2 // 8
        return data + bytes(full - len(data)), version

    def status_lists(self, authority: str) -> list[int]:
        return sorted(int(k) for k in self._call(lambda: self._r.hkeys(_key(authority, "listused"))))

    # -- people's accounts and console sessions ---------------------------------
    # accounts: hash operator id -> JSON; usernames: hash user name -> operator id.
    # A session is a string that Redis expires at its absolute expiry, indexed per operator.
    def set_account(self, account: Account, audit: AuditEvent) -> None:
        for _ in range(_RECORD_RETRIES):
            old: Any = self._call(lambda: self._r.hget(_key(_DIR, "accounts"), account.operator))
            checks = [("hfree_or_eq", "usernames", account.username, account.operator)]
            writes: list[tuple[str, str, str, str, str]] = []
            if old is None:
                checks.append(("hfree", "accounts", account.operator, ""))
            else:
                checks.append(("heq", "accounts", account.operator, old.decode()))
                writes.append(("hdel", "usernames", json.loads(old)["username"], "", ""))
            writes += [
                ("hset", "usernames", account.username, account.operator, ""),
                ("hset", "accounts", account.operator, json.dumps(asdict(account), ensure_ascii=False), ""),
            ]
            failed = self._run(_DIR, checks=checks, writes=writes, chain=NATIONAL_CHAIN, events=[audit])
            if failed is None:
                return
            if failed == 1:
                raise Conflict(f"user name {account.username} is taken")
        raise StoreUnavailable(f"the account of {account.operator} is being changed by others; try again")

    def account_by_username(self, username: str) -> Account | None:
        op: Any = self._call(lambda: self._r.hget(_key(_DIR, "usernames"), username))
        return self.account_of(op.decode()) if op else None

    def account_of(self, operator: str) -> Account | None:
        raw = self._call(lambda: self._r.hget(_key(_DIR, "accounts"), operator))
        return Account(**json.loads(raw)) if raw else None

    def add_session(self, session: Session) -> None:
        ttl = max(1, session.expires - session.created)
        self._run(
            _DIR,
            writes=[
                ("setex", f"session:{session.id_hash}", json.dumps(asdict(session)), str(ttl), ""),
                ("sadd", f"opsessions:{session.operator}", session.id_hash, "", ""),
            ],
        )

    def get_session(self, id_hash: str) -> Session | None:
        raw = self._call(lambda: self._r.get(_key(_DIR, f"session:{id_hash}")))
        return Session(**json.loads(raw)) if raw else None

    def touch_session(self, id_hash: str, at: int) -> None:
        for _ in range(_RECORD_RETRIES):
            raw: Any = self._call(lambda: self._r.get(_key(_DIR, f"session:{id_hash}")))
            if not raw:
                return
            session = Session(**json.loads(raw))
            if session.last_seen >= at:
                return
            touched = json.dumps(asdict(replace(session, last_seen=at)))
            if not self._run(
                _DIR,
                checks=[("eq", f"session:{id_hash}", raw.decode(), "")],
                writes=[("setkeepttl", f"session:{id_hash}", touched, "", "")],
            ):
                return
        # Best effort, like touch_operator.

    def delete_session(self, id_hash: str) -> None:
        session = self.get_session(id_hash)
        writes = [("del", f"session:{id_hash}", "", "", "")]
        if session is not None:
            writes.append(("srem", f"opsessions:{session.operator}", id_hash, "", ""))
        self._run(_DIR, writes=writes)

    def delete_sessions(self, operator: str) -> int:
        index = _key(_DIR, f"opsessions:{operator}")
        ids = [i.decode() for i in self._call(lambda: self._r.smembers(index))]
        if not ids:
            return 0
        live = self._call(lambda: self._exists_each([_key(_DIR, f"session:{i}") for i in ids]))
        writes = [("del", f"session:{i}", "", "", "") for i in ids]
        writes += [("srem", f"opsessions:{operator}", i, "", "") for i in ids]
        self._run(_DIR, writes=writes)
        return sum(live)

    # -- change signals --------------------------------------------------------------
    def bump_generation(self, name: str) -> None:
        self._call(partial(self._r.incr, f"hcert:generation:{name}"), write=True)

    def generation(self, name: str) -> int:
        value: Any = self._call(partial(self._r.get, f"hcert:generation:{name}"))
        return int(value or 0)

    # -- an authority's seal --------------------------------------------------------------
    def set_seal(self, authority: str, png: bytes | None, audit: AuditEvent) -> None:
        write = ("del", "seal", "", "", "") if png is None else ("set", "seal", png, "", "")
        self._run(authority, writes=[write], chain=authority, events=[audit])  # type: ignore[list-item]

    def get_seal(self, authority: str) -> bytes | None:
        png: Any = self._call(partial(self._r.get, _key(authority, "seal")))
        return bytes(png) if png is not None else None

    # -- refused applications ---------------------------------------------------------------
    def add_refusals(self, authority: str, items: list[dict[str, Any]], *, at: int, keep: int) -> None:
        # Each member is unique (a random id), so that two equal refusals are both counted; ordered by time.
        writes = [
            ("zadd", "refusals", str(at), json.dumps({**item, "_id": secrets.token_hex(8)}, ensure_ascii=False), "")
            for item in items
        ]
        writes.append(("zforget", "refusals", f"({at - keep}", "", ""))
        self._run(authority, writes=writes)

    def refusals(self, authority: str, *, since: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        key = _key(authority, "refusals")

        def read() -> tuple[list[bytes], int]:
            with self._r.pipeline(transaction=False) as pipe:
                pipe.zrevrangebyscore(key, "+inf", since, start=0, num=limit)
                pipe.zcount(key, since, "+inf")
                raw, count = pipe.execute()
            return list(raw), int(count)

        raw, count = self._call(read)
        items = []
        for member in raw:
            item = json.loads(member)
            item.pop("_id", None)
            items.append(item)
        return items, count

    # -- operations ----------------------------------------------------------------
    def ping(self) -> bool:
        try:
            return bool(self._r.ping())
        except _FAULTS:
            return False

    # -- readiness ---------------------------------------------------------------------
    def _marker_exists(self) -> bool:
        try:
            return bool(self._r.exists(_MARKER))
        except _FAULTS:
            return False

    def mark_if_new(self) -> None:
        """Write the store's marker key if this instance has not seen it and the deployment is new."""
        if not self._marked and (self.new_deployment is None or self.new_deployment()):
            self._marked = self._mark_store()

    def _mark_store(self) -> bool:
        """Write the store's marker key unless present; return whether the marker is known to exist."""
        try:
            self._r.set(_MARKER, json.dumps({"created": int(time.time())}), nx=True)
            return True
        except _FAULTS:
            return False

    def readiness(self) -> list[str]:
        """Return why a write cannot succeed now (empty: ready); never raises.

        ``store_unreachable`` (no answer within the socket timeout), ``store_loading``
        (Redis is reading its data after a restart), ``appendonly_off`` (an
        acknowledged write would not survive a restart; in a cluster: on any master),
        ``store_emptied`` (the marker key is gone: Redis restarted without its data;
        only a new deployment writes a missing marker, so it lasts until the data is
        restored or the operator sets the key), ``cluster_down`` (a cluster that does not
        serve every slot: ``cluster_state`` is not ``ok`` on some master),
        ``replicas_missing`` (``HCERT_REDIS_WAIT_REPLICAS`` asks for more replicas than
        a master has connected, so every write would answer ``outcome_unknown``).
        """
        reasons: list[str] = []
        infos: list[dict[str, Any]] = []
        # Each master on its own (a cluster's), so that one that does not answer does not hide the others' state.
        masters = self._masters()
        if not masters:
            reasons.append("store_unreachable")
        for client in masters:
            try:
                infos.append(client.info("persistence"))
                if self.wait_replicas > 0:
                    # Every write waits for this many replicas: with fewer connected, none can succeed.
                    connected = int(client.info("replication").get("connected_slaves", 0))
                    if connected < self.wait_replicas:
                        reasons.append("replicas_missing")
                if self.cluster and client.cluster("INFO").get("cluster_state") != "ok":
                    reasons.append("cluster_down")
            except _FAULTS as e:
                loading = isinstance(e, redis.exceptions.BusyLoadingError)
                reasons.append("store_loading" if loading else "store_unreachable")
        try:
            marker = self._r.exists(_MARKER) if "store_unreachable" not in reasons else 1
        except _FAULTS as e:
            reasons.append("store_loading" if isinstance(e, redis.exceptions.BusyLoadingError) else "store_unreachable")
            marker = 1
        if any(info.get("loading") for info in infos):
            reasons.append("store_loading")
        if infos and not all(info.get("aof_enabled") for info in infos):
            reasons.append("appendonly_off")
        if not marker:
            if self._marked:  # this instance saw the marker, or wrote it: Redis lost its data since
                reasons.append("store_emptied")
            else:
                self.mark_if_new()
                if not self._marked:  # not a new deployment: the store lost what it held
                    reasons.append("store_emptied")
        return list(dict.fromkeys(reasons))

    def _masters(self) -> list[Any]:
        """The single server's client, or a client of each master the cluster client knows."""
        if not self.cluster:
            return [self._r]
        try:
            nodes = self._r.get_primaries()
        except _FAULTS:
            return []
        return [self._r.get_redis_connection(node) for node in nodes]

    def close(self) -> None:
        if self.cluster:
            # Node clients built from a connection pool do not close it themselves.
            for node in self._r.get_nodes():
                if node.redis_connection is not None:
                    node.redis_connection.connection_pool.disconnect()
        self._r.close()


def check_url(url: str) -> None:
    """Raise :class:`~app.settings.SettingsError` for a URL no Redis client here can use.

    Plain ``redis://``, ``rediss://`` and ``unix://`` go to redis-py; the cluster forms
    must name at least one ``host:port`` (never a silent ``localhost:6379``).
    """
    where = "HCERT_REDIS_URL / --redis-url"
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as e:
        raise SettingsError(f"{where}: not a URL ({e})") from None
    schemes = ("redis", "rediss", "unix", *CLUSTER_SCHEMES)
    if parts.scheme not in schemes:
        named = ", ".join(f"{s}://" for s in schemes)
        raise SettingsError(f"{where}: the scheme must be one of {named}, not {parts.scheme[:20]!r}")
    if parts.scheme in CLUSTER_SCHEMES:
        hosts = parts.netloc.rpartition("@")[2]
        for hostport in hosts.split(","):
            host, colon, port = hostport.rpartition(":")
            if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise SettingsError(
                    f"{where}: a cluster URL names its nodes as host:port[,host:port...], not {hostport[:60]!r}"
                )


def _cluster_client(url: str, *, retry: Retry) -> Any:
    """A Redis Cluster client from ``redis+cluster://[user:password@]host:port[,host:port...]``.

    Every listed node is a start-up node: the client finds the rest of the
    cluster from any one that answers.
    """
    parts = urllib.parse.urlsplit(url)
    credentials, _, hosts = parts.netloc.rpartition("@")
    nodes = []
    for hostport in hosts.split(","):
        host, _, port = hostport.rpartition(":")
        nodes.append(redis.cluster.ClusterNode(host or "127.0.0.1", int(port or 6379)))  # type: ignore[no-untyped-call]
    scheme = parts.scheme.removesuffix("+cluster")
    first = f"{scheme}://{credentials + '@' if credentials else ''}{nodes[0].host}:{nodes[0].port}"
    ssl = scheme == "rediss"
    return redis.cluster.RedisCluster(
        url=first,  # node clients are then built from a connection pool that takes our connection class
        startup_nodes=nodes,
        socket_timeout=_TIMEOUT,
        socket_connect_timeout=_TIMEOUT,
        retry=retry,
        connection_class=_tagged(redis.connection.SSLConnection if ssl else redis.connection.Connection),
    )
