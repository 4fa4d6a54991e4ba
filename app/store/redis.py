"""The scale-out backend: Redis, shared by several app instances.

Multi-key writes are optimistic transactions (WATCH, then MULTI/EXEC, retried
on a concurrent change), so they are atomic like SQLite's. Status lists are
Redis strings written with BITFIELD. Durability needs the server configured
with ``appendonly yes`` and ``appendfsync always`` (or ``everysec``, accepting
up to a second of loss on power failure); see docs/OPERATIONS.md.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace
from typing import Any, TypeVar

import redis

from ._base import (
    GENESIS,
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
    Session,
    StoreError,
    chain_hash,
)

__all__ = ["RedisStore"]

T = TypeVar("T")
P = "hcert:"
_HEAD = P + "audit:head"
_AUDIT = P + "audit"


def _bitfield_offset(idx: int) -> int:
    # Token Status List entries are LSB-first within a byte; Redis numbers bits
    # MSB-first. Entry idx (2 bits at LSB shift s of byte b) is the u2 field at
    # Redis bit offset 8b + 6 - s, whose high bit is the entry's high bit.
    byte, shift = divmod(idx * 2, 8)
    return byte * 8 + 6 - shift


class RedisStore:
    """All state in one Redis database, under keys prefixed ``hcert:``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.audit_listener: AuditListener | None = None
        self._r = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)

    # -- the transaction helper -------------------------------------------------
    def _atomic(self, watch: list[str], body: Callable[[Any, Callable[[list[AuditEvent]], None]], T]) -> T:
        """Run ``body(pipe, audit)`` under WATCH of ``watch`` and the audit head, retrying on conflict.

        ``body`` reads with ``pipe`` (immediate mode), then calls ``pipe.multi()``
        and queues its writes; ``audit(events)`` queues chained audit entries.
        """
        for _ in range(50):
            with self._r.pipeline() as pipe:
                try:
                    pipe.watch(_HEAD, *watch)  # type: ignore[no-untyped-call]
                    head: Any = pipe.get(_HEAD)
                    seq_text, prev = head.decode().split(" ") if head else ("0", GENESIS)
                    seq = int(seq_text)
                    state: dict[str, Any] = {"seq": seq, "prev": prev}

                    def audit(events: list[AuditEvent], pipe: Any = pipe, state: dict[str, Any] = state) -> None:
                        for event in events:
                            state["seq"] += 1
                            entry = event.body(state["seq"], state["prev"])
                            state["prev"] = chain_hash(entry)
                            pipe.rpush(_AUDIT, json.dumps([entry, state["prev"]], ensure_ascii=False, sort_keys=True))
                            state["time"] = event.time
                        pipe.set(_HEAD, f"{state['seq']} {state['prev']}")

                    result = body(pipe, audit)
                    pipe.execute()
                    if state["seq"] != seq and self.audit_listener is not None:
                        self.audit_listener(state["seq"], state["prev"], state["time"])
                    return result
                except redis.WatchError:
                    continue
        raise StoreError("too much contention on the Redis store")

    # -- audit -------------------------------------------------------------------
    def append_audit(self, events: list[AuditEvent]) -> None:
        def body(pipe: Any, audit: Callable[[list[AuditEvent]], None]) -> None:
            pipe.multi()
            audit(events)

        self._atomic([], body)

    def audit_head(self) -> tuple[int, str]:
        head: Any = self._r.get(_HEAD)
        if not head:
            return 0, GENESIS
        seq_text, digest = head.decode().split(" ")
        return int(seq_text), digest

    def audit_hash(self, seq: int) -> str | None:
        raw: Any = self._r.lindex(_AUDIT, seq - 1) if seq >= 1 else None
        if raw is None:
            return None
        entry, digest = json.loads(raw)
        return str(digest) if isinstance(entry, dict) and entry.get("seq") == seq else None

    def audit_entries(self) -> Iterator[tuple[dict[str, Any], str]]:
        n = self._r.llen(_AUDIT)
        for start in range(0, n, 1000):
            for raw in self._r.lrange(_AUDIT, start, start + 999):
                entry, digest = json.loads(raw)
                yield entry, digest

    # -- authorities and operators ----------------------------------------------
    def add_authority(self, authority: Authority, audit: AuditEvent) -> None:
        def body(pipe: Any, log: Callable[[list[AuditEvent]], None]) -> None:
            if pipe.hexists(P + "authorities", authority.code):
                raise Conflict(f"authority {authority.code} exists already")
            pipe.multi()
            pipe.hset(P + "authorities", authority.code, authority.to_json())
            log([audit])

        self._atomic([P + "authorities"], body)

    def get_authority(self, code: str) -> Authority | None:
        raw = self._r.hget(P + "authorities", code)
        return Authority.from_json(raw) if raw else None

    def list_authorities(self) -> list[Authority]:
        return sorted((Authority.from_json(v) for v in self._r.hvals(P + "authorities")), key=lambda a: a.code)

    def set_authority_scope(
        self, code: str, *, kinds: tuple[str, ...], regions: tuple[str, ...] | None, audit: AuditEvent
    ) -> Authority:
        changed: list[Authority] = []

        def body(pipe: Any, log: Callable[[list[AuditEvent]], None]) -> None:
            raw = pipe.hget(P + "authorities", code)
            if raw is None:
                raise NotFound(f"no authority {code}")
            changed[:] = [replace(Authority.from_json(raw), kinds=kinds, regions=regions)]
            pipe.multi()
            pipe.hset(P + "authorities", code, changed[0].to_json())
            log([audit])

        self._atomic([P + "authorities"], body)
        return changed[0]

    def add_operator(self, operator: Operator, audit: AuditEvent) -> None:
        name_key = f"{operator.authority or ''}|{operator.name}"

        def body(pipe: Any, log: Callable[[list[AuditEvent]], None]) -> None:
            if pipe.hexists(P + "opname", name_key) or pipe.hexists(P + "optoken", operator.token_hash):
                raise Conflict(f"operator {operator.name} exists already")
            pipe.multi()
            pipe.hset(P + "operators", operator.id, json.dumps(asdict(operator), ensure_ascii=False))
            pipe.hset(P + "opname", name_key, operator.id)
            pipe.hset(P + "optoken", operator.token_hash, operator.id)
            log([audit])

        self._atomic([P + "opname", P + "optoken"], body)

    def operator_by_token_hash(self, token_hash: str) -> Operator | None:
        op_id = self._r.hget(P + "optoken", token_hash)
        raw = self._r.hget(P + "operators", op_id) if op_id else None
        return Operator(**json.loads(raw)) if raw else None

    def list_operators(self, authority: str | None) -> list[Operator]:
        ops = (Operator(**json.loads(v)) for v in self._r.hvals(P + "operators"))
        return sorted((o for o in ops if o.authority == authority), key=lambda o: o.name)

    # -- credential lifecycle ---------------------------------------------------
    def get_operator(self, op_id: str) -> Operator | None:
        raw = self._r.hget(P + "operators", op_id)
        return Operator(**json.loads(raw)) if raw else None

    def update_operator(self, operator: Operator, audit: AuditEvent) -> None:
        def body(pipe: Any, log: Callable[[list[AuditEvent]], None]) -> None:
            raw = pipe.hget(P + "operators", operator.id)
            if not raw:
                raise NotFound(f"no operator {operator.id}")
            old = Operator(**json.loads(raw))
            if old.token_hash != operator.token_hash and pipe.hexists(P + "optoken", operator.token_hash):
                raise Conflict(f"operator {operator.name} conflicts with another")
            pipe.multi()
            pipe.hset(P + "operators", operator.id, json.dumps(asdict(operator), ensure_ascii=False))
            if old.token_hash != operator.token_hash:
                pipe.hdel(P + "optoken", old.token_hash)
                pipe.hset(P + "optoken", operator.token_hash, operator.id)
            log([audit])

        self._atomic([P + "operators", P + "optoken"], body)

    def touch_operator(self, op_id: str, at: int) -> None:
        for _ in range(50):
            with self._r.pipeline() as pipe:
                try:
                    pipe.watch(P + "operators")  # type: ignore[no-untyped-call]
                    raw: Any = pipe.hget(P + "operators", op_id)
                    if not raw:
                        return
                    op = Operator(**json.loads(raw))
                    if op.last_used is not None and op.last_used >= at:
                        return
                    pipe.multi()
                    pipe.hset(P + "operators", op_id, json.dumps(asdict(replace(op, last_used=at)), ensure_ascii=False))
                    pipe.execute()
                    return
                except redis.WatchError:
                    continue
        raise StoreError("too much contention on the Redis store")

    def record_failed_signin(self, keys: list[str], *, now: int, window: int) -> list[int]:
        win = now // window
        with self._r.pipeline(transaction=True) as pipe:
            for key in keys:
                pipe.incr(P + f"signin:{win}:{key}")
                pipe.expire(P + f"signin:{win}:{key}", 2 * window)
            results = pipe.execute()
        return [int(n) for n in results[::2]]

    def failed_signins(self, keys: list[str], *, now: int, window: int) -> list[int]:
        if not keys:
            return []
        win = now // window
        values = self._r.mget([P + f"signin:{win}:{key}" for key in keys])
        return [int(v) if v else 0 for v in values]

    # -- certificates -----------------------------------------------------------
    def allocate_status(self, authority: str, count: int, *, list_size: int) -> list[tuple[int, int]]:
        used_key = P + f"listused:{authority}"
        out: list[tuple[int, int]] = []
        while len(out) < count:
            lists = self._r.hgetall(used_key)
            if not lists:
                self._r.hsetnx(used_key, "0", 0)
                continue
            lst = max(int(k) for k in lists)
            room = list_size // 2 - int(lists[str(lst).encode()])
            if room <= 0:
                # A list is filled to half at most; then the next one starts.
                self._r.hsetnx(used_key, str(lst + 1), 0)
                continue
            # One round trip for the whole batch of random candidates; SADD says which were free.
            candidates = [secrets.randbelow(list_size) for _ in range(min(count - len(out), room))]
            with self._r.pipeline(transaction=False) as pipe:
                for idx in candidates:
                    pipe.sadd(P + f"slots:{authority}:{lst}", idx)
                added = pipe.execute()
            won = [(lst, idx) for idx, new in zip(candidates, added, strict=True) if new]
            if won:
                self._r.hincrby(used_key, str(lst), len(won))
                out.extend(won)
        return out

    def commit_issue(
        self, records: list[CertificateRecord], audit: list[AuditEvent], idempotency: IdempotencyRecord | None
    ) -> None:
        idem_key = P + f"idem:{idempotency.authority}:{idempotency.key}" if idempotency else None
        cert_keys = [P + f"cert:{r.jti}" for r in records]

        def body(pipe: Any, log: Callable[[list[AuditEvent]], None]) -> None:
            if idem_key and pipe.exists(idem_key):
                raise Conflict("idempotency key exists already")
            if cert_keys and pipe.exists(*cert_keys):
                raise Conflict("certificate id exists already")
            pipe.multi()
            if idem_key and idempotency:
                pipe.set(idem_key, json.dumps(asdict(idempotency), ensure_ascii=False))
            for key, record in zip(cert_keys, records, strict=True):
                pipe.set(key, record.to_json())
                pipe.zadd(P + f"certs:{record.authority}", {record.jti: record.issued_at})
                if record.batch is not None:  # the batch index, in manifest order
                    pipe.rpush(P + f"batch:{record.authority}:{record.batch}", record.jti)
            log(audit)

        self._atomic([*([idem_key] if idem_key else []), *cert_keys], body)

    def issue_with_status(
        self,
        authority: str,
        count: int,
        *,
        list_size: int,
        build: Callable[[list[tuple[int, int]]], IssueWrite],
    ) -> None:
        records, audit, idempotency = build(self.allocate_status(authority, count, list_size=list_size))
        self.commit_issue(records, audit, idempotency)

    def forget_idempotency_without(self, prefix: str) -> int:
        done = P + f"idem:forgotten-without:{prefix}"
        if self._r.exists(done):
            return 0
        gone = 0
        for key in self._r.scan_iter(P + "idem:*", count=1000):
            raw = self._r.get(key)
            if raw and not json.loads(raw).get("request_hash", "").startswith(prefix):
                gone += int(self._r.delete(key))
        self._r.set(done, 1)
        return gone

    def get_idempotency(self, authority: str, key: str) -> IdempotencyRecord | None:
        raw = self._r.get(P + f"idem:{authority}:{key}")
        return IdempotencyRecord(**json.loads(raw)) if raw else None

    def get_certificate(self, authority: str, jti: str) -> CertificateRecord | None:
        raw = self._r.get(P + f"cert:{jti}")
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
        jtis: list[bytes] = self._r.zrevrangebyscore(P + f"certs:{authority}", hi, lo)  # type: ignore[assignment]
        if kind is None and kid is None:
            page = jtis[offset : offset + limit]
            records = self._load([j.decode() for j in page])
            return records, len(jtis)
        matched = [
            r
            for r in self._load([j.decode() for j in jtis])
            if (kind is None or r.kind == kind) and (kid is None or r.kid == kid)
        ]
        return matched[offset : offset + limit], len(matched)

    def batch_certificates(self, authority: str, batch: str) -> list[str]:
        jtis: list[bytes] = self._r.lrange(P + f"batch:{authority}:{batch}", 0, -1)  # type: ignore[assignment]
        return [j.decode() for j in jtis]

    def _load(self, jtis: list[str]) -> list[CertificateRecord]:
        if not jtis:
            return []
        raws = self._r.mget([P + f"cert:{j}" for j in jtis])
        return [CertificateRecord.from_json(r) for r in raws if r]

    def change_status(
        self, authority: str, jti: str, *, status: str, reason: str, now: int, audit: AuditEvent
    ) -> CertificateRecord:
        key = P + f"cert:{jti}"

        def body(pipe: Any, log: Callable[[list[AuditEvent]], None]) -> CertificateRecord:
            raw = pipe.get(key)
            record = CertificateRecord.from_json(raw) if raw else None
            if record is None or record.authority != authority:
                raise NotFound(jti)
            if record.status == "revoked":
                raise Conflict("a revoked certificate cannot change status")
            updated = replace(record, status=status, status_reason=reason, updated_at=now)
            list_key = P + f"status:{authority}:{record.status_list}"
            pipe.multi()
            pipe.set(key, updated.to_json())
            pipe.bitfield(list_key).set("u2", _bitfield_offset(record.status_index), STATUS_VALUES[status]).execute()
            pipe.hincrby(P + f"statusver:{authority}", str(record.status_list), 1)
            log([audit])
            return updated

        return self._atomic([key], body)

    def status_bits(self, authority: str, lst: int, *, list_size: int) -> tuple[bytes, int]:
        if not self._r.hexists(P + f"listused:{authority}", str(lst)):
            raise NotFound(f"status list {authority}/{lst}")
        with self._r.pipeline(transaction=True) as pipe:
            pipe.get(P + f"status:{authority}:{lst}")
            pipe.hget(P + f"statusver:{authority}", str(lst))
            data, version = pipe.execute()
        data = data or b""
        full = list_size * 2 // 8
        return data + bytes(full - len(data)), int(version or 0)

    def status_lists(self, authority: str) -> list[int]:
        return sorted(int(k) for k in self._r.hkeys(P + f"listused:{authority}"))

    # -- operations ----------------------------------------------------------------
    # -- people's accounts and console sessions ---------------------------------
    # accounts: hash operator id -> JSON; usernames: hash user name -> operator id.
    # A session is a string that Redis expires at its absolute expiry, indexed per operator.
    def set_account(self, account: Account, audit: AuditEvent) -> None:
        def body(pipe: Any, log: Callable[[list[AuditEvent]], None]) -> None:
            holder = pipe.hget(P + "usernames", account.username)
            if holder is not None and holder.decode() != account.operator:
                raise Conflict(f"user name {account.username} is taken")
            old = pipe.hget(P + "accounts", account.operator)
            pipe.multi()
            if old is not None:
                pipe.hdel(P + "usernames", json.loads(old)["username"])
            pipe.hset(P + "usernames", account.username, account.operator)
            pipe.hset(P + "accounts", account.operator, json.dumps(asdict(account), ensure_ascii=False))
            log([audit])

        self._atomic([P + "usernames", P + "accounts"], body)

    def account_by_username(self, username: str) -> Account | None:
        op: Any = self._r.hget(P + "usernames", username)
        return self.account_of(op.decode()) if op else None

    def account_of(self, operator: str) -> Account | None:
        raw = self._r.hget(P + "accounts", operator)
        return Account(**json.loads(raw)) if raw else None

    def add_session(self, session: Session) -> None:
        ttl = max(1, session.expires - session.created)
        with self._r.pipeline(transaction=True) as pipe:
            pipe.set(P + f"session:{session.id_hash}", json.dumps(asdict(session)), ex=ttl)
            pipe.sadd(P + f"opsessions:{session.operator}", session.id_hash)
            pipe.execute()

    def get_session(self, id_hash: str) -> Session | None:
        raw = self._r.get(P + f"session:{id_hash}")
        return Session(**json.loads(raw)) if raw else None

    def touch_session(self, id_hash: str, at: int) -> None:
        key = P + f"session:{id_hash}"
        for _ in range(50):
            with self._r.pipeline() as pipe:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    raw: Any = pipe.get(key)
                    if not raw:
                        return
                    session = Session(**json.loads(raw))
                    if session.last_seen >= at:
                        return
                    pipe.multi()
                    pipe.set(key, json.dumps(asdict(replace(session, last_seen=at))), keepttl=True)
                    pipe.execute()
                    return
                except redis.WatchError:
                    continue
        raise StoreError("too much contention on the Redis store")

    def delete_session(self, id_hash: str) -> None:
        session = self.get_session(id_hash)
        with self._r.pipeline(transaction=True) as pipe:
            pipe.delete(P + f"session:{id_hash}")
            if session is not None:
                pipe.srem(P + f"opsessions:{session.operator}", id_hash)
            pipe.execute()

    def delete_sessions(self, operator: str) -> int:
        index = P + f"opsessions:{operator}"
        ids = [i.decode() for i in self._r.smembers(index)]  # type: ignore[union-attr]
        if not ids:
            return 0
        with self._r.pipeline(transaction=True) as pipe:
            for i in ids:
                pipe.delete(P + f"session:{i}")
            pipe.srem(index, *ids)
            results = pipe.execute()
        return sum(int(n) for n in results[:-1])

    def ping(self) -> bool:
        try:
            return bool(self._r.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        self._r.close()
