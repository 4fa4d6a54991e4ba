"""The embedded default: SQLite in WAL mode with synchronous=FULL (crash-safe, durable)."""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from typing import Any

from ._base import (
    GENESIS,
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
    chain_hash,
)

__all__ = ["BUSY_TIMEOUT", "MIN_FREE_BYTES", "SqliteStore"]

#: Seconds a write waits for another process's write lock before the store answers
#: :class:`StoreUnavailable` (the API: 503 within a second).
BUSY_TIMEOUT = 0.5
#: Below this much free space on the database's file system, ``readiness()`` reports ``disk_full``.
MIN_FREE_BYTES = 64 * 1024 * 1024
#: Extended result codes of a failed COMMIT after which the transaction may be durable all the
#: same (the WAL frames were written, syncing them failed): the outcome is not known.
_UNKNOWN_AFTER_COMMIT = frozenset({"SQLITE_IOERR_FSYNC", "SQLITE_IOERR_DIR_FSYNC", "SQLITE_IOERR"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS authorities(
  code TEXT PRIMARY KEY, name_zh TEXT NOT NULL, name_en TEXT NOT NULL, created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS operators(
  id TEXT PRIMARY KEY, authority TEXT, name TEXT NOT NULL, role TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE, created INTEGER NOT NULL, disabled INTEGER NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX IF NOT EXISTS operators_name ON operators(ifnull(authority, ''), name);
CREATE TABLE IF NOT EXISTS certificates(
  jti TEXT PRIMARY KEY, authority TEXT NOT NULL, kind TEXT NOT NULL, issued_at INTEGER NOT NULL,
  kid TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS certificates_time ON certificates(authority, issued_at);
CREATE INDEX IF NOT EXISTS certificates_kid ON certificates(authority, kid);
CREATE TABLE IF NOT EXISTS status_slots(
  authority TEXT NOT NULL, lst INTEGER NOT NULL, idx INTEGER NOT NULL,
  PRIMARY KEY(authority, lst, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS status_lists(
  authority TEXT NOT NULL, lst INTEGER NOT NULL, data BLOB, version INTEGER NOT NULL DEFAULT 0,
  used INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(authority, lst));
CREATE TABLE IF NOT EXISTS idempotency(
  authority TEXT NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL, status_code INTEGER NOT NULL,
  body TEXT NOT NULL, created INTEGER NOT NULL, PRIMARY KEY(authority, key));
CREATE TABLE IF NOT EXISTS audit(seq INTEGER PRIMARY KEY, entry TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS write_probe(id INTEGER PRIMARY KEY, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS signin_failures(
  key TEXT NOT NULL, win INTEGER NOT NULL, count INTEGER NOT NULL, PRIMARY KEY(key, win)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS accounts(
  operator TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,
  must_change INTEGER NOT NULL, changed INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sessions(
  id_hash TEXT PRIMARY KEY, operator TEXT NOT NULL, csrf TEXT NOT NULL, created INTEGER NOT NULL,
  last_seen INTEGER NOT NULL, expires INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS sessions_operator ON sessions(operator);
CREATE TABLE IF NOT EXISTS generations(name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS seals(authority TEXT PRIMARY KEY, png BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS refusals(authority TEXT NOT NULL, at INTEGER NOT NULL, item TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS refusals_time ON refusals(authority, at);
"""
#: Columns added after the first release (added to an older database when it opens).
_OPERATOR_COLUMNS = {"expires": "INTEGER", "last_used": "INTEGER"}


def _private_files(path: str) -> None:
    """Make the database file 0600 before SQLite opens it; its -wal and -shm files take its mode."""
    if path == ":memory:":
        return
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for name in (path, path + "-wal", path + "-shm"):
        try:
            os.chmod(name, 0o600)
        except FileNotFoundError:
            pass


def _fault(e: sqlite3.Error) -> bool:
    """Tell whether ``e`` is the database failing (busy, full, read-only, I/O, corrupt), not a bug or a constraint."""
    return isinstance(e, sqlite3.OperationalError) or type(e) is sqlite3.DatabaseError


def _reason(e: sqlite3.Error) -> str:
    """Return the readiness reason code for a failed write."""
    name = getattr(e, "sqlite_errorname", "") or ""
    if name.startswith("SQLITE_READONLY"):
        return "read_only"
    if name == "SQLITE_FULL":
        return "disk_full"
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return "store_busy"
    return "io_error"


def _describe(e: sqlite3.Error) -> str:
    return f"{getattr(e, 'sqlite_errorname', None) or type(e).__name__}: {e}"


def _scope_json(authority: Authority) -> str:
    return json.dumps({"kinds": list(authority.kinds), "regions": list(authority.regions or []) or None})


class SqliteStore:
    """All state in one SQLite file. Writes are serialised and run in IMMEDIATE transactions."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.RLock()
        self.audit_listener: AuditListener | None = None
        self.new_deployment: Callable[[], bool] | None = None  # unused: SQLite keeps no marker
        self._pending_head: tuple[int, str, int] | None = None
        #: The database could only be opened for reading (read-only file or file system):
        #: reads work, every write raises :class:`StoreUnavailable`.
        self.read_only = False
        try:
            _private_files(path)
        except OSError as e:
            if e.errno not in (errno.EACCES, errno.EPERM, errno.EROFS) or not os.path.exists(path):
                raise
            self.read_only = True
        target = f"file:{urllib.parse.quote(path)}?mode=ro" if self.read_only else path
        self._db = sqlite3.connect(
            target, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT, uri=self.read_only
        )
        self._db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
        if self.read_only:
            return
        # Several instances may open a new database at once. In WAL mode a statement that
        # read the schema before another instance changed it fails at once with "database
        # is locked" (the busy timeout does not apply to it): start over, a bounded number
        # of times.
        for attempt in range(100):
            try:
                self._prepare()
                break
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or attempt == 99:
                    raise
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                time.sleep(0.02)

    def _prepare(self) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        with self._tx() as db:  # several instances may open an older database at once
            columns = {row[1] for row in db.execute("PRAGMA table_info(authorities)")}
            if "scope" not in columns:  # stores made before authorities had a scope
                db.execute("ALTER TABLE authorities ADD COLUMN scope TEXT")
            have = {row[1] for row in db.execute("PRAGMA table_info(operators)")}
            for column, kind in _OPERATOR_COLUMNS.items():
                if column not in have:
                    db.execute(f"ALTER TABLE operators ADD COLUMN {column} {kind}")
            certificate_columns = {row[1] for row in db.execute("PRAGMA table_info(certificates)")}
            if "batch" not in certificate_columns:  # stores made before the batch index
                db.execute("ALTER TABLE certificates ADD COLUMN batch TEXT")
                db.execute("UPDATE certificates SET batch = json_extract(body, '$.batch')")
            db.execute("CREATE INDEX IF NOT EXISTS certificates_batch ON certificates(authority, batch)")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """Run the body in one IMMEDIATE transaction; a failing database raises a :class:`StoreError`.

        Busy, disk full, read-only and I/O errors before COMMIT roll the transaction
        back: :class:`StoreUnavailable`, nothing written. A COMMIT that fails writing
        the WAL is not committed either (its commit frame is the last one written and
        SQLite ignores frames after the last valid commit frame); one that wrote it
        but failed to sync it may be durable all the same: :class:`OutcomeUnknown`.
        """
        with self._lock:
            self._pending_head = None
            self._rollback()  # a transaction a failed ROLLBACK left open would refuse every BEGIN
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as e:
                raise self._unavailable(e) from e
            try:
                yield self._db
            except BaseException as exc:
                self._rollback()
                self._pending_head = None
                if isinstance(exc, sqlite3.Error) and _fault(exc):
                    raise self._unavailable(exc) from exc
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as e:
                self._rollback()
                self._pending_head = None
                if getattr(e, "sqlite_errorname", "SQLITE_IOERR") in _UNKNOWN_AFTER_COMMIT:
                    raise OutcomeUnknown(f"the database did not confirm the commit ({_describe(e)})") from e
                raise self._unavailable(e) from e
            head, self._pending_head = self._pending_head, None
            if head is not None and self.audit_listener is not None:
                self.audit_listener(SINGLE_CHAIN, *head)

    def _rollback(self) -> None:
        # After some errors SQLite has rolled the transaction back itself already.
        if self._db.in_transaction:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    @staticmethod
    def _unavailable(e: sqlite3.Error) -> StoreUnavailable:
        return StoreUnavailable(f"the database cannot write now ({_describe(e)}); nothing was written")

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.Error as e:
                if _fault(e):
                    raise StoreUnavailable(f"the database cannot be read now ({_describe(e)})") from e
                raise

    # -- audit (inside a caller's transaction) -----------------------------------
    def _append(self, db: sqlite3.Connection, events: list[AuditEvent]) -> None:
        row = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (row[0], row[1]) if row else (0, GENESIS)
        for event in events:
            seq += 1
            entry = event.body(seq, prev)
            prev = chain_hash(entry)
            db.execute(
                "INSERT INTO audit(seq, entry, hash) VALUES (?, ?, ?)",
                (seq, json.dumps(entry, ensure_ascii=False, sort_keys=True), prev),
            )
        if events:
            # Told to the audit listener once the transaction commits.
            self._pending_head = (seq, prev, events[-1].time)

    # One chain (SINGLE_CHAIN): a single writer gains nothing from splitting it.
    def audit_chains(self) -> list[str]:
        return [SINGLE_CHAIN] if self._read("SELECT 1 FROM audit LIMIT 1") else []

    def audit_head(self, chain: str) -> tuple[int, str]:
        if chain != SINGLE_CHAIN:
            return 0, GENESIS
        rows = self._read("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        return (int(rows[0][0]), str(rows[0][1])) if rows else (0, GENESIS)

    def audit_hash(self, chain: str, seq: int) -> str | None:
        if chain != SINGLE_CHAIN:
            return None
        rows = self._read("SELECT hash FROM audit WHERE seq = ?", (seq,))
        return str(rows[0][0]) if rows else None

    def append_audit(self, events: list[AuditEvent]) -> None:
        with self._tx() as db:
            self._append(db, events)

    def audit_entries(self, chain: str | None = None) -> Iterator[tuple[dict[str, Any], str]]:
        if chain not in (None, SINGLE_CHAIN):
            return
        for entry, digest in self._read("SELECT entry, hash FROM audit ORDER BY seq"):
            yield json.loads(entry), digest

    # -- authorities and operators --------------------------------------------------
    def add_authority(self, authority: Authority, audit: AuditEvent) -> None:
        try:
            with self._tx() as db:
                db.execute(
                    "INSERT INTO authorities(code, name_zh, name_en, created, scope) VALUES (?, ?, ?, ?, ?)",
                    (authority.code, authority.name_zh, authority.name_en, authority.created, _scope_json(authority)),
                )
                self._append(db, [audit])
        except sqlite3.IntegrityError as e:
            raise Conflict(f"authority {authority.code} exists already") from e

    _AUTH = "SELECT code, name_zh, name_en, created, scope FROM authorities"

    @staticmethod
    def _authority(row: tuple[Any, ...]) -> Authority:
        code, name_zh, name_en, created, scope = row
        return Authority.from_json(
            json.dumps(
                {"code": code, "name_zh": name_zh, "name_en": name_en, "created": created, **json.loads(scope or "{}")}
            )
        )

    def get_authority(self, code: str) -> Authority | None:
        rows = self._read(f"{self._AUTH} WHERE code = ?", (code,))
        return self._authority(rows[0]) if rows else None

    def list_authorities(self) -> list[Authority]:
        return [self._authority(r) for r in self._read(f"{self._AUTH} ORDER BY code")]

    def set_authority_scope(
        self, code: str, *, kinds: tuple[str, ...], regions: tuple[str, ...] | None, audit: AuditEvent
    ) -> Authority:
        with self._tx() as db:
            row = db.execute(f"{self._AUTH} WHERE code = ?", (code,)).fetchone()
            if row is None:
                raise NotFound(f"no authority {code}")
            authority = replace(self._authority(row), kinds=kinds, regions=regions)
            db.execute("UPDATE authorities SET scope = ? WHERE code = ?", (_scope_json(authority), code))
            self._append(db, [audit])
        return authority

    def add_operator(self, operator: Operator, audit: AuditEvent) -> None:
        try:
            with self._tx() as db:
                db.execute(
                    f"INSERT INTO operators({', '.join(self._OP_COLUMNS)}) VALUES ({', '.join('?' * 9)})",  # noqa: S608
                    self._operator_row(operator),
                )
                self._append(db, [audit])
        except sqlite3.IntegrityError as e:
            raise Conflict(f"operator {operator.name} exists already") from e

    _OP_COLUMNS = ("id", "authority", "name", "role", "token_hash", "created", "disabled", "expires", "last_used")
    _OP = f"SELECT {', '.join(_OP_COLUMNS)} FROM operators"  # noqa: S608

    @staticmethod
    def _operator_row(o: Operator) -> tuple[Any, ...]:
        return (o.id, o.authority, o.name, o.role, o.token_hash, o.created, int(o.disabled), o.expires, o.last_used)

    def operator_by_token_hash(self, token_hash: str) -> Operator | None:
        rows = self._read(f"{self._OP} WHERE token_hash = ?", (token_hash,))
        return self._operator(rows[0]) if rows else None

    def credential(self, token_hash: str) -> tuple[Operator | None, Authority | None]:
        operator = self.operator_by_token_hash(token_hash)
        authority = self.get_authority(operator.authority) if operator and operator.authority else None
        return operator, authority

    def list_operators(self, authority: str | None) -> list[Operator]:
        rows = self._read(f"{self._OP} WHERE ifnull(authority, '') = ? ORDER BY name", (authority or "",))
        return [self._operator(r) for r in rows]

    @staticmethod
    def _operator(row: tuple[Any, ...]) -> Operator:
        op_id, authority, name, role, token_hash, created, disabled, expires, last_used = row
        return Operator(
            op_id,
            authority,
            name,
            role,
            token_hash,
            created,
            disabled=bool(disabled),
            expires=expires,
            last_used=last_used,
        )

    # -- credential lifecycle ------------------------------------------------------------
    def get_operator(self, op_id: str) -> Operator | None:
        rows = self._read(f"{self._OP} WHERE id = ?", (op_id,))
        return self._operator(rows[0]) if rows else None

    def update_operator(self, operator: Operator, audit: AuditEvent) -> None:
        try:
            with self._tx() as db:
                cur = db.execute(
                    "UPDATE operators SET authority = ?, name = ?, role = ?, token_hash = ?, created = ?, "
                    "disabled = ?, expires = ?, last_used = ? WHERE id = ?",
                    (*self._operator_row(operator)[1:], operator.id),
                )
                if cur.rowcount == 0:
                    raise NotFound(f"no operator {operator.id}")
                self._append(db, [audit])
        except sqlite3.IntegrityError as e:
            raise Conflict(f"operator {operator.name} conflicts with another") from e

    def touch_operator(self, op_id: str, at: int) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE operators SET last_used = ? WHERE id = ? AND (last_used IS NULL OR last_used < ?)",
                (at, op_id, at),
            )

    def record_failed_signin(self, keys: list[str], *, now: int, window: int) -> list[int]:
        win = now // window
        with self._tx() as db:
            db.execute("DELETE FROM signin_failures WHERE win < ?", (win - 1,))
            counts = []
            for key in keys:
                db.execute(
                    "INSERT INTO signin_failures VALUES (?, ?, 1) "
                    "ON CONFLICT(key, win) DO UPDATE SET count = count + 1",
                    (key, win),
                )
                row = db.execute("SELECT count FROM signin_failures WHERE key = ? AND win = ?", (key, win)).fetchone()
                counts.append(int(row[0]))
            return counts

    def failed_signins(self, keys: list[str], *, now: int, window: int) -> list[int]:
        win = now // window
        out = []
        for key in keys:
            rows = self._read("SELECT count FROM signin_failures WHERE key = ? AND win = ?", (key, win))
            out.append(int(rows[0][0]) if rows else 0)
        return out

    def sign_in_state(
        self, token_hash: str | None, keys: list[str], *, now: int, window: int
    ) -> tuple[list[int], Operator | None, Authority | None]:
        counts = self.failed_signins(keys, now=now, window=window)
        return (counts, *self.credential(token_hash)) if token_hash is not None else (counts, None, None)

    # -- certificates ------------------------------------------------------------------
    def allocate_status(self, authority: str, count: int, *, list_size: int) -> list[tuple[int, int]]:
        with self._tx() as db:
            return self._allocate(db, authority, count, list_size)

    @staticmethod
    def _allocate(db: sqlite3.Connection, authority: str, count: int, list_size: int) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        # A list is filled to half at most, so random probing stays cheap and the
        # used indexes stay spread over the whole list.
        while len(out) < count:
            row = db.execute(
                "SELECT lst, used FROM status_lists WHERE authority = ? ORDER BY lst DESC LIMIT 1", (authority,)
            ).fetchone()
            if row is None or row[1] >= list_size // 2:
                lst = 0 if row is None else row[0] + 1
                db.execute("INSERT INTO status_lists(authority, lst, used) VALUES (?, ?, 0)", (authority, lst))
                continue
            lst = row[0]
            idx = secrets.randbelow(list_size)
            cur = db.execute("INSERT OR IGNORE INTO status_slots VALUES (?, ?, ?)", (authority, lst, idx))
            if cur.rowcount:
                db.execute("UPDATE status_lists SET used = used + 1 WHERE authority = ? AND lst = ?", (authority, lst))
                out.append((lst, idx))
        return out

    def _insert(
        self,
        db: sqlite3.Connection,
        records: list[CertificateRecord],
        audit: list[AuditEvent],
        idempotency: IdempotencyRecord | None,
    ) -> None:
        if idempotency is not None:
            db.execute("INSERT INTO idempotency VALUES (?, ?, ?, ?, ?, ?)", tuple(asdict(idempotency).values()))
        db.executemany(
            "INSERT INTO certificates(jti, authority, kind, issued_at, kid, body, batch) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(r.jti, r.authority, r.kind, r.issued_at, r.kid, r.to_json(), r.batch) for r in records],
        )
        self._append(db, audit)

    def commit_issue(
        self, records: list[CertificateRecord], audit: list[AuditEvent], idempotency: IdempotencyRecord | None
    ) -> None:
        try:
            with self._tx() as db:
                self._insert(db, records, audit, idempotency)
        except sqlite3.IntegrityError as e:
            raise Conflict("idempotency key or certificate id exists already") from e

    def issue_with_status(
        self,
        authority: str,
        count: int,
        *,
        list_size: int,
        build: Callable[[list[tuple[int, int]]], IssueWrite],
    ) -> None:
        try:
            with self._tx() as db:
                records, audit, idempotency = build(self._allocate(db, authority, count, list_size))
                self._insert(db, records, audit, idempotency)
        except sqlite3.IntegrityError as e:
            raise Conflict("idempotency key or certificate id exists already") from e

    def forget_idempotency_without(self, prefix: str) -> int:
        with self._tx() as db:
            cur = db.execute("DELETE FROM idempotency WHERE substr(request_hash, 1, ?) != ?", (len(prefix), prefix))
            return int(cur.rowcount)

    def get_idempotency(self, authority: str, key: str) -> IdempotencyRecord | None:
        rows = self._read("SELECT * FROM idempotency WHERE authority = ? AND key = ?", (authority, key))
        return IdempotencyRecord(*rows[0]) if rows else None

    def get_certificate(self, authority: str, jti: str) -> CertificateRecord | None:
        rows = self._read("SELECT body FROM certificates WHERE authority = ? AND jti = ?", (authority, jti))
        return CertificateRecord.from_json(rows[0][0]) if rows else None

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
        where = ["authority = ?"]
        args: list[Any] = [authority]
        for clause, value in (
            ("kind = ?", kind),
            ("issued_at >= ?", issued_from),
            ("issued_at < ?", issued_to),
            ("kid = ?", kid),
        ):
            if value is not None:
                where.append(clause)
                args.append(value)
        sql_where = " AND ".join(where)
        total = self._read(f"SELECT count(*) FROM certificates WHERE {sql_where}", tuple(args))[0][0]  # noqa: S608
        rows = self._read(
            f"SELECT body FROM certificates WHERE {sql_where} ORDER BY issued_at DESC, jti LIMIT ? OFFSET ?",  # noqa: S608
            (*args, limit, offset),
        )
        return [CertificateRecord.from_json(r[0]) for r in rows], int(total)

    def batch_certificates(self, authority: str, batch: str) -> list[str]:
        # Rows are inserted in manifest order within one transaction, so rowid keeps that order.
        rows = self._read(
            "SELECT jti FROM certificates WHERE authority = ? AND batch = ? ORDER BY rowid", (authority, batch)
        )
        return [r[0] for r in rows]

    def change_status(
        self, authority: str, jti: str, *, status: str, reason: str, now: int, audit: AuditEvent
    ) -> CertificateRecord:
        with self._tx() as db:
            row = db.execute(
                "SELECT body FROM certificates WHERE authority = ? AND jti = ?", (authority, jti)
            ).fetchone()
            if row is None:
                raise NotFound(jti)
            record = CertificateRecord.from_json(row[0])
            if record.status == "revoked":
                raise Conflict("a revoked certificate cannot change status")
            updated = replace(record, status=status, status_reason=reason, updated_at=now)
            db.execute("UPDATE certificates SET body = ? WHERE jti = ?", (updated.to_json(), jti))
            data_row = db.execute(
                "SELECT data FROM status_lists WHERE authority = ? AND lst = ?", (authority, record.status_list)
            ).fetchone()
            if data_row is None:
                raise StoreError(f"status list {record.status_list} is missing")
            data = bytearray(data_row[0] or b"")
            byte, shift = divmod(record.status_index * 2, 8)
            if len(data) <= byte:
                data.extend(bytes(byte + 1 - len(data)))
            data[byte] = (data[byte] & ~(3 << shift)) | (STATUS_VALUES[status] << shift)
            db.execute(
                "UPDATE status_lists SET data = ?, version = version + 1 WHERE authority = ? AND lst = ?",
                (bytes(data), authority, record.status_list),
            )
            self._append(db, [audit])
            return updated

    def status_bits(self, authority: str, lst: int, *, list_size: int) -> tuple[bytes, int]:
        rows = self._read("SELECT data, version FROM status_lists WHERE authority = ? AND lst = ?", (authority, lst))
        if not rows:
            raise NotFound(f"status list {authority}/{lst}")
        data = bytes(rows[0][0] or b"")
        full = list_size * 2 // 8
        return data + bytes(full - len(data)), int(rows[0][1])

    def status_lists(self, authority: str) -> list[int]:
        return [r[0] for r in self._read("SELECT lst FROM status_lists WHERE authority = ? ORDER BY lst", (authority,))]

    # -- operations ----------------------------------------------------------------------
    # -- people's accounts and console sessions -------------------------------------------
    def set_account(self, account: Account, audit: AuditEvent) -> None:
        try:
            with self._tx() as db:
                db.execute(
                    "INSERT INTO accounts VALUES (?, ?, ?, ?, ?) ON CONFLICT(operator) DO UPDATE SET "
                    "username = excluded.username, password_hash = excluded.password_hash, "
                    "must_change = excluded.must_change, changed = excluded.changed",
                    (
                        account.operator,
                        account.username,
                        account.password_hash,
                        int(account.must_change),
                        account.changed,
                    ),
                )
                self._append(db, [audit])
        except sqlite3.IntegrityError as e:
            raise Conflict(f"user name {account.username} is taken") from e

    _ACCOUNT = "SELECT operator, username, password_hash, must_change, changed FROM accounts"

    def account_by_username(self, username: str) -> Account | None:
        rows = self._read(f"{self._ACCOUNT} WHERE username = ?", (username,))
        return self._account(rows[0]) if rows else None

    def account_of(self, operator: str) -> Account | None:
        rows = self._read(f"{self._ACCOUNT} WHERE operator = ?", (operator,))
        return self._account(rows[0]) if rows else None

    @staticmethod
    def _account(row: tuple[Any, ...]) -> Account:
        operator, username, password_hash, must_change, changed = row
        return Account(operator, username, password_hash, bool(must_change), changed)

    def add_session(self, session: Session) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM sessions WHERE expires <= ?", (session.created,))
            db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?)", tuple(asdict(session).values()))

    def get_session(self, id_hash: str) -> Session | None:
        rows = self._read(
            "SELECT id_hash, operator, csrf, created, last_seen, expires FROM sessions WHERE id_hash = ?", (id_hash,)
        )
        return Session(*rows[0]) if rows else None

    def touch_session(self, id_hash: str, at: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE sessions SET last_seen = ? WHERE id_hash = ? AND last_seen < ?", (at, id_hash, at))

    def delete_session(self, id_hash: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM sessions WHERE id_hash = ?", (id_hash,))

    def delete_sessions(self, operator: str) -> int:
        with self._tx() as db:
            return db.execute("DELETE FROM sessions WHERE operator = ?", (operator,)).rowcount

    # -- change signals --------------------------------------------------------------
    def bump_generation(self, name: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO generations(name, value) VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1",
                (name,),
            )

    def generation(self, name: str) -> int:
        rows = self._read("SELECT value FROM generations WHERE name = ?", (name,))
        return int(rows[0][0]) if rows else 0

    def set_seal(self, authority: str, png: bytes | None, audit: AuditEvent) -> None:
        with self._tx() as db:
            if png is None:
                db.execute("DELETE FROM seals WHERE authority = ?", (authority,))
            else:
                db.execute(
                    "INSERT INTO seals VALUES (?, ?) ON CONFLICT(authority) DO UPDATE SET png = excluded.png",
                    (authority, png),
                )
            self._append(db, [audit])

    def get_seal(self, authority: str) -> bytes | None:
        rows = self._read("SELECT png FROM seals WHERE authority = ?", (authority,))
        return bytes(rows[0][0]) if rows else None

    def add_refusals(self, authority: str, items: list[dict[str, Any]], *, at: int, keep: int) -> None:
        with self._tx() as db:
            db.executemany(
                "INSERT INTO refusals VALUES (?, ?, ?)",
                [(authority, at, json.dumps(item, ensure_ascii=False)) for item in items],
            )
            db.execute("DELETE FROM refusals WHERE authority = ? AND at < ?", (authority, at - keep))

    def refusals(self, authority: str, *, since: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        rows = self._read(
            "SELECT item FROM refusals WHERE authority = ? AND at >= ? ORDER BY at DESC, rowid DESC LIMIT ?",
            (authority, since, limit),
        )
        count = self._read("SELECT count(*) FROM refusals WHERE authority = ? AND at >= ?", (authority, since))
        return [json.loads(r[0]) for r in rows], int(count[0][0])

    def ping(self) -> bool:
        try:
            return self._read("SELECT 1") == [(1,)]
        except (sqlite3.Error, StoreError):
            return False

    def readiness(self) -> list[str]:
        """Return why a write cannot succeed now (empty: ready); never raises.

        ``read_only`` (the database opened read-only, or a write says so), ``disk_full``
        (under :data:`MIN_FREE_BYTES` free, or a write says so), ``store_busy`` (another
        process held the write lock for :data:`BUSY_TIMEOUT`), ``io_error`` (any other
        failure of the probe). The probe is a real write: one row replaced and
        committed (synced) in its own transaction, outside the audit log.
        """
        if self.read_only:
            return ["read_only"]
        reasons = []
        if self.path != ":memory:":
            try:
                if shutil.disk_usage(os.path.dirname(os.path.abspath(self.path))).free < MIN_FREE_BYTES:
                    reasons.append("disk_full")
            except OSError:
                reasons.append("io_error")
        try:
            with self._tx() as db:
                db.execute("INSERT OR REPLACE INTO write_probe(id, at) VALUES (1, ?)", (int(time.time()),))
        except StoreError as e:
            reason = _reason(e.__cause__) if isinstance(e.__cause__, sqlite3.Error) else "io_error"
            if reason not in reasons:
                reasons.append(reason)
        except Exception:  # a probe reports, it never raises
            reasons.append("io_error")
        return reasons

    def close(self) -> None:
        with self._lock:
            self._db.close()
