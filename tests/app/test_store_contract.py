"""One contract, three real backends: every test runs on SQLite, a real redis-server and a real Redis Cluster."""

from __future__ import annotations

import itertools
import time

import pytest

from app.audit import verify_chain
from app.store import AuditEvent, Authority, CertificateRecord, Conflict, IdempotencyRecord, NotFound, Operator
from tests.conftest import open_test_store

T = 1_583_802_000


@pytest.fixture(params=["sqlite", "redis", "cluster"])
def store(request, tmp_path):
    """SQLite in a temporary folder, a flushed redis-server, a flushed three-master Redis Cluster."""
    s = open_test_store(request.param, request, tmp_path)
    yield s
    s.close()


def assert_every_chain_verifies(store):
    chains = store.audit_chains()
    assert chains
    for chain in chains:
        report = verify_chain(store.audit_entries(chain))
        assert report.ok, (chain, report)
        assert report.entries == store.audit_head(chain)[0]


def ev(action="x", subject="s"):
    return AuditEvent(T, "op_1", "510321", action, subject, {})


def record(jti, lst=0, idx=1, kind="w", kid="kidkidkidki", issued=T, batch="b1"):
    return CertificateRecord(
        jti=jti,
        authority="510321",
        kind=kind,
        name="张伟明",
        masked_id="5103211234",
        subject_hash="h",
        token="a.b.c",
        kid=kid,
        status_list=lst,
        status_index=idx,
        issued_at=issued,
        expires=issued + 86400,
        operator="op_1",
        batch=batch,
    )


def test_authorities(store):
    store.add_authority(Authority("510321", "荣县", "Rong", T), ev())
    with pytest.raises(Conflict):
        store.add_authority(Authority("510321", "荣县", "Rong", T), ev())
    assert store.get_authority("510321").name_zh == "荣县"
    assert store.get_authority("999999") is None
    assert [a.code for a in store.list_authorities()] == ["510321"]


def test_operators(store):
    op = Operator("op_1", "510321", "clerk", "operator", "hash1", T)
    store.add_operator(op, ev())
    with pytest.raises(Conflict):
        store.add_operator(Operator("op_2", "510321", "clerk", "operator", "hash2", T), ev())
    assert store.operator_by_token_hash("hash1") == op
    assert store.operator_by_token_hash("nope") is None
    national = Operator("op_3", None, "root", "national_admin", "hash3", T)
    store.add_operator(national, ev())
    assert store.list_operators(None) == [national]
    assert store.list_operators("510321") == [op]


def test_a_credential_reads_its_operator_and_authority_together(store):
    rong = Authority("510321", "荣县", "Rong", T, kinds=("w",), regions=("510321",))
    store.add_authority(rong, ev())
    op = Operator("op_1", "510321", "clerk", "operator", "hash1", T, expires=T + 86400)
    store.add_operator(op, ev())
    store.add_operator(Operator("op_2", None, "root", "national_admin", "hash2", T), ev())
    store.add_operator(Operator("op_3", "510999", "orphan", "operator", "hash3", T), ev())
    assert store.credential("hash1") == (op, rong)
    assert store.credential("hash2") == (store.get_operator("op_2"), None)  # a national admin has none
    assert store.credential("hash3") == (store.get_operator("op_3"), None)  # an authority not in the directory
    assert store.credential("nope") == (None, None)
    narrowed = store.set_authority_scope("510321", kinds=("w", "f"), regions=None, audit=ev())
    assert store.credential("hash1") == (op, narrowed)  # read now, never remembered
    # With the failed sign-in counts, as every request with a bearer credential reads them.
    w = 300
    store.record_failed_signin(["client:a"], now=T, window=w)
    assert store.sign_in_state("hash1", ["client:a", "credential:x"], now=T, window=w) == ([1, 0], op, narrowed)
    assert store.sign_in_state("nope", ["client:a"], now=T, window=w) == ([1], None, None)
    assert store.sign_in_state(None, ["client:a"], now=T + w, window=w) == ([0], None, None)
    if hasattr(store, "_r") and not store.cluster:  # a Redis restarted without its scripts
        store._r.script_flush()
        assert store.sign_in_state("hash1", ["client:a"], now=T, window=w) == ([1], op, narrowed)


def test_status_allocation_is_unique_random_and_rolls_over(store):
    slots = store.allocate_status("510321", 300, list_size=512)
    assert len(set(slots)) == 300
    assert {lst for lst, _ in slots} == {0, 1}  # a list is filled to half, then the next starts
    assert sum(1 for lst, _ in slots if lst == 0) == 256
    idx = [i for lst, i in slots if lst == 0]
    assert idx != sorted(idx)  # random, not sequential
    assert store.status_lists("510321") == [0, 1]


def test_commit_is_atomic_and_idempotency_conflicts(store):
    idem = IdempotencyRecord("510321", "key-1", "hash", 201, '{"ok":1}', T)
    store.commit_issue([record("j1"), record("j2", idx=2)], [ev("issue", "j1"), ev("issue", "j2")], idem)
    assert store.get_idempotency("510321", "key-1") == idem
    with pytest.raises(Conflict):
        store.commit_issue([record("j3", idx=3)], [ev("issue", "j3")], idem)
    assert store.get_certificate("510321", "j3") is None  # nothing of the refused write
    with pytest.raises(Conflict):
        store.commit_issue([record("j4", idx=4), record("j1")], [ev()], None)
    assert store.get_certificate("510321", "j4") is None
    entries = list(store.audit_entries())
    assert [e["subject"] for e, _ in entries] == ["j1", "j2"]
    assert verify_chain(entries).ok


def test_get_is_scoped_to_the_authority(store):
    store.commit_issue([record("j1")], [ev()], None)
    assert store.get_certificate("510321", "j1").name == "张伟明"
    assert store.get_certificate("440300", "j1") is None


def test_list_pages_and_filters(store):
    recs = [
        record(f"j{i:02d}", idx=i, kind="w" if i % 2 else "f", issued=T + i, kid="A" * 11 if i < 5 else "B" * 11)
        for i in range(12)
    ]
    store.commit_issue(recs, [ev()], None)
    page, total = store.list_certificates("510321", offset=0, limit=5)
    assert total == 12 and [r.jti for r in page] == ["j11", "j10", "j09", "j08", "j07"]
    page, total = store.list_certificates("510321", kind="f", offset=2, limit=2)
    assert total == 6 and [r.jti for r in page] == ["j06", "j04"]
    page, total = store.list_certificates("510321", issued_from=T + 3, issued_to=T + 6)
    assert total == 3 and {r.jti for r in page} == {"j03", "j04", "j05"}
    page, total = store.list_certificates("510321", kid="A" * 11)
    assert total == 5


def test_status_change_sets_bits_and_version(store):
    slots = store.allocate_status("510321", 3, list_size=1024)
    recs = [record(f"j{i}", lst=lst, idx=idx) for i, (lst, idx) in enumerate(slots)]
    store.commit_issue(recs, [ev()], None)
    data, v0 = store.status_bits("510321", 0, list_size=1024)
    assert len(data) == 256 and not any(data)
    store.change_status("510321", "j0", status="revoked", reason="fever", now=T, audit=ev("revoke", "j0"))
    store.change_status("510321", "j1", status="suspended", reason="check", now=T, audit=ev("suspend", "j1"))
    data, v1 = store.status_bits("510321", 0, list_size=1024)
    assert v1 == v0 + 2

    def value(idx):
        return (data[idx * 2 // 8] >> (idx * 2 % 8)) & 3

    assert value(slots[0][1]) == 1 and value(slots[1][1]) == 2 and value(slots[2][1]) == 0
    assert sum(bin(b).count("1") for b in data) == 2
    got = store.get_certificate("510321", "j0")
    assert got.status == "revoked" and got.status_reason == "fever"
    with pytest.raises(Conflict):
        store.change_status("510321", "j0", status="valid", reason="x", now=T, audit=ev())
    with pytest.raises(NotFound):
        store.change_status("510321", "nope", status="revoked", reason="x", now=T, audit=ev())
    store.change_status("510321", "j1", status="valid", reason="cleared", now=T, audit=ev())
    data, _ = store.status_bits("510321", 0, list_size=1024)
    assert value(slots[1][1]) == 0
    assert verify_chain(store.audit_entries()).ok


def test_unknown_status_list(store):
    with pytest.raises(NotFound):
        store.status_bits("510321", 7, list_size=1024)


def test_audit_tampering_is_detected(store):
    store.append_audit([ev("a", "1"), ev("b", "2"), ev("c", "3")])
    entries = list(store.audit_entries())
    assert verify_chain(entries).ok
    entries[1][0]["subject"] = "forged"
    report = verify_chain(entries)
    assert not report.ok and report.broken_at == 2
    assert not verify_chain(entries[:1] + entries[2:]).ok  # a deleted entry breaks the chain


def test_ping(store):
    assert store.ping()


def test_operator_updates_replace_the_record_and_the_credential_index(store):
    from dataclasses import replace

    op = Operator("op_1", "510321", "clerk", "operator", "hash1", T, expires=T + 86400)
    store.add_operator(op, ev("operator.create", "op_1"))
    store.add_operator(Operator("op_2", "510321", "other", "operator", "hash2", T), ev())
    assert store.get_operator("op_1") == op and store.get_operator("op_9") is None
    disabled = replace(op, disabled=True)
    store.update_operator(disabled, ev("operator.disable", "op_1"))
    assert store.operator_by_token_hash("hash1") == disabled
    rotated = replace(disabled, token_hash="hash1b", expires=T + 2 * 86400)
    store.update_operator(rotated, ev("operator.rotate", "op_1"))
    assert store.operator_by_token_hash("hash1") is None
    assert store.operator_by_token_hash("hash1b") == rotated == store.get_operator("op_1")
    with pytest.raises(Conflict):
        store.update_operator(replace(rotated, token_hash="hash2"), ev("operator.rotate", "op_1"))
    with pytest.raises(NotFound):
        store.update_operator(replace(op, id="op_9"), ev())
    assert store.get_operator("op_1") == rotated and store.operator_by_token_hash("hash2").id == "op_2"
    entries = list(store.audit_entries())
    assert [e["action"] for e, _ in entries][-2:] == ["operator.disable", "operator.rotate"]
    assert_every_chain_verifies(store)


def test_last_use_only_moves_forward_and_is_not_audited(store):
    store.add_operator(Operator("op_1", "510321", "clerk", "operator", "hash1", T), ev())
    before = len(list(store.audit_entries()))
    store.touch_operator("op_1", T + 100)
    store.touch_operator("op_1", T + 50)
    store.touch_operator("op_unknown", T + 100)
    assert store.get_operator("op_1").last_used == T + 100
    assert store.list_operators("510321")[0].last_used == T + 100
    assert len(list(store.audit_entries())) == before


def test_failed_signins_count_per_key_in_fixed_windows(store):
    w = 300
    now = T - T % w + 10
    assert store.failed_signins(["client:a", "credential:x"], now=now, window=w) == [0, 0]
    assert store.record_failed_signin(["client:a", "credential:x"], now=now, window=w) == [1, 1]
    assert store.record_failed_signin(["client:a", "credential:y"], now=now + 5, window=w) == [2, 1]
    assert store.failed_signins(["client:a", "credential:x", "credential:y"], now=now + 200, window=w) == [2, 1, 1]
    # The next window starts from zero.
    assert store.failed_signins(["client:a"], now=now + w, window=w) == [0]
    assert store.record_failed_signin(["client:a"], now=now + w, window=w) == [1]
    assert store.failed_signins(["client:b"], now=now, window=w) == [0]


def test_audit_head_and_listener_follow_every_committed_append(store):
    from app.store._base import GENESIS

    heard = []
    lookups = []

    def listener(chain, seq, head, at, lookup=None):
        heard.append((chain, seq, head, at))
        lookups.append((chain, lookup))

    store.audit_listener = listener
    assert store.audit_chains() == []
    store.add_authority(Authority("510321", "荣县", "Rong", T), AuditEvent(T + 1, "a", None, "x", "s", {}))
    store.commit_issue([record("j1"), record("j2", idx=2)], [ev("issue", "j1"), ev("issue", "j2")], None)
    with pytest.raises(Conflict):
        store.commit_issue([record("j1")], [ev()], None)  # refused: nothing appended, nothing heard
    assert len(heard) == 2
    for chain, seq, head, _ in heard:
        assert store.audit_hash(chain, seq) == head == dict((e["seq"], h) for e, h in store.audit_entries(chain))[seq]
    for chain, seq, head, _ in {h[0]: h for h in heard}.values():  # the last heard of each chain is its head
        assert store.audit_head(chain) == (seq, head) and store.audit_hash(chain, seq + 1) is None
    assert [at for *_, at in heard] == [T + 1, T]
    assert store.audit_head("no-such-chain") == (0, GENESIS)
    assert sorted(store.audit_chains()) == sorted({chain for chain, *_ in heard})
    assert sum(n for _, n, _, _ in {h[0]: h for h in heard}.values()) == 3
    # A lookup handed to the listener answers as audit_hash does, for every entry of the chain.
    for chain, lookup in lookups:
        if lookup is not None:
            n = store.audit_head(chain)[0]
            assert [lookup(s) for s in range(n + 2)] == [store.audit_hash(chain, s) for s in range(n + 2)]
    # Later appends to a chain read back the entries from the one last anchored (Redis: in the write).
    store.commit_issue([record("j3", idx=3)], [ev("issue", "j3")], None)
    chain, lookup = lookups[-1]
    seq = heard[-1][1]
    if lookup is not None:
        assert [lookup(s) for s in range(1, seq + 1)] == [store.audit_hash(chain, s) for s in range(1, seq + 1)]
        anchored = seq - 1  # the head after the previous write to this chain, which its checkpoint holds
        expected = store.audit_hash(chain, anchored)
        store.audit_hash = lambda *a: pytest.fail("the anchored entry was not read with the write")
        assert lookup(anchored) == expected  # no further round trip
        del store.audit_hash
    assert_every_chain_verifies(store)
    store.audit_listener = None


def test_each_authoritys_chain_verifies(store):
    """Authorities, operators, issues, status changes and bare appends: every chain intact, nothing lost."""
    from app.store import Account

    store.add_authority(
        Authority("510321", "荣县", "Rong", T), AuditEvent(T, "root", None, "authority.create", "510321", {})
    )
    store.add_authority(
        Authority("440300", "深圳", "Shenzhen", T), AuditEvent(T, "root", None, "authority.create", "440300", {})
    )
    store.add_operator(Operator("op_1", "510321", "clerk", "operator", "h1", T), ev("operator.create", "op_1"))
    store.set_account(Account("op_1", "zhang", "argon2id$x", True, T), ev("account.create", "op_1"))
    total = 4
    for authority in ("510321", "440300"):
        slots = store.allocate_status(authority, 5, list_size=1024)
        recs = [
            CertificateRecord(**{**record(f"{authority}-{i}", lst=lst, idx=idx).__dict__, "authority": authority})
            for i, (lst, idx) in enumerate(slots)
        ]
        events = [
            AuditEvent(T + i, "op_1", authority, "certificate.issue", r.jti, {"名": "张伟明"})
            for i, r in enumerate(recs)
        ]
        store.commit_issue(recs, events, None)
        store.change_status(
            authority,
            recs[0].jti,
            status="revoked",
            reason="错误",
            now=T,
            audit=AuditEvent(T, "op_1", authority, "certificate.revoke", recs[0].jti, {}),
        )
        total += 6
    store.append_audit(
        [AuditEvent(T, "op_1", "440300", "key.rotate", "kid", {}), AuditEvent(T, "x", None, "signin.failure", "-", {})]
    )
    total += 2
    assert_every_chain_verifies(store)
    assert sum(1 for _ in store.audit_entries()) == total
    assert sum(verify_chain(store.audit_entries(c)).entries for c in store.audit_chains()) == total
    if len(store.audit_chains()) > 1:  # Redis: a chain per authority, national actions in their own
        assert store.audit_chains() == ["440300", "510321", "national"]
        assert {e["subject"] for e, _ in store.audit_entries("440300")} >= {"440300-0", "kid"}
        assert [e["action"] for e, _ in store.audit_entries("national")][:2] == ["authority.create"] * 2


def test_sixteen_concurrent_issuers_all_succeed(store):
    """16 threads issue at once into two authorities: every write succeeds and every chain holds every entry."""
    from concurrent.futures import ThreadPoolExecutor

    authorities = ("510321", "440300")

    def issuer(n):
        authority = authorities[n % 2]
        done = 0
        for i in range(8):
            ((lst, idx),) = store.allocate_status(authority, 1, list_size=4096)
            jti = f"c{n}-{i}"
            rec = CertificateRecord(**{**record(jti, lst=lst, idx=idx, batch=None).__dict__, "authority": authority})
            idem = IdempotencyRecord(authority, f"k{n}-{i}", "h", 201, "{}", T)
            store.commit_issue([rec], [AuditEvent(T, f"op{n}", authority, "certificate.issue", jti, {})], idem)
            done += 1
        return done

    with ThreadPoolExecutor(16) as pool:
        assert sum(pool.map(issuer, range(16))) == 128
    for authority in authorities:
        recs, total = store.list_certificates(authority, limit=1000)
        assert total == 64 and len({(r.status_list, r.status_index) for r in recs}) == 64
    assert_every_chain_verifies(store)
    issued = [e["subject"] for e, _ in store.audit_entries() if e["action"] == "certificate.issue"]
    assert sorted(issued) == sorted(f"c{n}-{i}" for n in range(16) for i in range(8))


def test_idempotency_records_without_the_keyed_prefix_are_forgotten(store):
    old = IdempotencyRecord("510321", "old", "3f" * 32, 201, "{}", T)
    new = IdempotencyRecord("510321", "new", "k1:" + "ab" * 32, 201, "{}", T)
    store.commit_issue([record("j1")], [ev()], old)
    store.commit_issue([record("j2", idx=2)], [ev()], new)
    assert store.forget_idempotency_without("k1:") == 1
    assert store.get_idempotency("510321", "old") is None
    assert store.get_idempotency("510321", "new") == new
    assert store.get_certificate("510321", "j1") is not None  # only the record of the request goes
    assert store.forget_idempotency_without("k1:") == 0


def test_batch_index_keeps_manifest_order_per_authority(store):
    # Ids that sort differently from their manifest order, and a second batch in between.
    store.commit_issue([record("zz", idx=1, batch="b1"), record("aa", idx=2, batch="b1")], [ev()], None)
    store.commit_issue([record("mm", idx=3, batch="b2")], [ev()], None)
    store.commit_issue([record("kk", idx=4, batch="b1")], [ev()], None)  # same id twice would be a bug, not a batch
    store.commit_issue([record("nb", idx=5, batch=None)], [ev()], None)
    assert store.batch_certificates("510321", "b1") == ["zz", "aa", "kk"]
    assert store.batch_certificates("510321", "b2") == ["mm"]
    assert store.batch_certificates("510321", "nope") == []
    assert store.batch_certificates("420100", "b1") == []  # another authority sees nothing


def test_readiness_is_empty_when_a_write_can_succeed(store):
    assert store.readiness() == []
    store.append_audit([ev()])
    assert store.readiness() == []  # the probe writes outside the audit log
    assert [entry["seq"] for entry, _ in store.audit_entries()] == [1]


def test_readiness_names_a_redis_that_lost_its_data(redis_url):
    import redis

    from app.store import open_store

    store = open_store("redis", url=redis_url)
    try:
        assert store.readiness() == []
        admin = redis.Redis.from_url(redis_url)
        admin.flushdb()  # what a restart without an append-only file leaves
        admin.close()
        assert store.readiness() == ["store_emptied"]
    finally:
        store.close()


# -- Redis: what a lost connection means ---------------------------------------------------
class _SilentRedis:
    """A loopback server that speaks enough RESP for a client to connect, then drops the connection
    when a script (a write) is sent, before any reply: the write's outcome is unknown."""

    def __init__(self) -> None:
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.got_script = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import contextlib

        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                with conn:
                    while data := conn.recv(65536):
                        # The command names (the first bulk string of each request array).
                        lines = data.split(b"\r\n")
                        names = [lines[i + 2].upper() for i, line in enumerate(lines[:-2]) if line.startswith(b"*")]
                        if any(name in (b"EVALSHA", b"EVAL") for name in names):
                            self.got_script.set()
                            break  # close without a reply
                        # The handshake (HELLO 3: a RESP3 map), null to GET (an empty chain), +OK to the rest.
                        replies = {b"HELLO": b"%1\r\n+proto\r\n:3\r\n", b"GET": b"_\r\n"}
                        conn.sendall(b"".join(replies.get(name, b"+OK\r\n") for name in names))

    def close(self) -> None:
        self.sock.close()


def test_redis_errors_say_whether_a_write_may_have_happened():
    from app.store import OutcomeUnknown, StoreUnavailable, open_store
    from tests.conftest import free_port

    # Nothing listens: refused before anything was sent.
    store = open_store("redis", url=f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(StoreUnavailable):
        store.append_audit([ev()])
    with pytest.raises(StoreUnavailable):
        store.get_authority("510321")
    store.close()
    # The write reached the server and the connection dropped before the reply.
    silent = _SilentRedis()
    store = open_store("redis", url=f"redis://127.0.0.1:{silent.port}/0")
    try:
        with pytest.raises(OutcomeUnknown):
            store.commit_issue([record("j1")], [ev()], None)
        assert silent.got_script.is_set()
    finally:
        store.close()
        silent.close()


def test_redis_chain_entries_hashed_on_the_server_verify(redis_url):
    """Two instances writing one authority's chain in turn: each finds the head moved and Redis hashes the entries."""
    from app.store import open_store
    from tests.conftest import flush_redis

    flush_redis(redis_url)
    a, b = open_store("redis", url=redis_url), open_store("redis", url=redis_url)
    try:
        for i in range(6):
            detail = {"reason": "发热 " * (i * 7), "n": i, "q": 'quote " and \\ backslash'}
            (a if i % 2 else b).append_audit(
                [AuditEvent(T + i, "op_1", "510321", "certificate.revoke", f"j{i}", detail)]
            )
        entries = list(a.audit_entries("510321"))
        assert [e["subject"] for e, _ in entries] == [f"j{i}" for i in range(6)]
        assert verify_chain(entries).ok and a.audit_head("510321") == (6, entries[-1][1])
    finally:
        a.close()
        b.close()


def test_redis_waits_for_replicas_when_told(tmp_path):
    """HCERT_REDIS_WAIT_REPLICAS: a write is acknowledged once a replica has it; too few replicas is outcome_unknown."""
    import time

    import redis

    from app.store import OutcomeUnknown, open_store
    from tests.conftest import _redis_server, _stop_all

    (tmp_path / "m").mkdir()
    (tmp_path / "r").mkdir()
    master, mport = _redis_server(tmp_path / "m")
    replica, rport = _redis_server(tmp_path / "r", "--replicaof", "127.0.0.1", str(mport))
    url = f"redis://127.0.0.1:{mport}/0"
    m, r = redis.Redis(port=mport), redis.Redis(port=rport)
    try:
        for _ in range(600):  # the replica's first sync (bounded: 30 s)
            if r.info("replication").get("master_link_status") == "up":
                break
            time.sleep(0.05)
        else:
            pytest.fail("the replica did not connect to its master")
        one = open_store("redis", url=url, wait_replicas=1, wait_ms=5000)
        one.append_audit([ev("a", "1")])
        assert r.get("hcert:{510321}:audit:head").startswith(b"1 ")  # the replica had it before the answer
        two = open_store("redis", url=url, wait_replicas=2, wait_ms=50)
        with pytest.raises(OutcomeUnknown):
            two.append_audit([ev("b", "2")])
        assert m.get("hcert:{510321}:audit:head").startswith(b"2 ")  # written on the master all the same
        # A retry with the same Idempotency-Key replays the stored answer only once enough replicas have it.
        idem = IdempotencyRecord("510321", "key-w", "hash", 201, '{"ok":1}', T)
        with pytest.raises(OutcomeUnknown):
            two.commit_issue([record("jw")], [ev("issue", "jw")], idem)
        with pytest.raises(OutcomeUnknown):
            two.get_idempotency("510321", "key-w")  # on the master, not confirmed on two replicas
        assert one.get_idempotency("510321", "key-w") == idem  # confirmed on one: replayed
        plain = open_store("redis", url=url)  # no WAIT asked: replayed from the master
        assert plain.get_idempotency("510321", "key-w") == idem
        # Readiness says which instance cannot write: one replica is connected, two are asked.
        assert "replicas_missing" in two.readiness()
        assert "replicas_missing" not in one.readiness() and "replicas_missing" not in plain.readiness()
        plain.close()
        one.close()
        two.close()
    finally:
        m.close()
        r.close()
        _stop_all([replica, master])


def test_redis_cluster_wait_goes_to_the_slots_master(redis_cluster_url):
    """In a cluster WAIT runs on the master of the write's slot; with no replica the write is outcome_unknown."""
    from app.store import OutcomeUnknown, open_store
    from tests.conftest import flush_redis

    flush_redis(redis_cluster_url)
    store = open_store("redis", url=redis_cluster_url, wait_replicas=1, wait_ms=20)
    try:
        with pytest.raises(OutcomeUnknown):
            store.append_audit([ev("a", "1")])
        assert [e["subject"] for e, _ in store.audit_entries("510321")] == ["1"]
        idem = IdempotencyRecord("510321", "key-w", "hash", 201, '{"ok":1}', T)
        with pytest.raises(OutcomeUnknown):
            store.commit_issue([record("jw")], [ev("issue", "jw")], idem)
        with pytest.raises(OutcomeUnknown):  # never replayed unconfirmed
            store.get_idempotency("510321", "key-w")
        assert "replicas_missing" in store.readiness()  # no master of this cluster has a replica
    finally:
        store.close()


def _write_single_key_layout(r):
    """Write a store of the layout before per-authority hash tags with the client ``r``; return its record, operator."""
    import json
    from dataclasses import asdict

    from app.store._base import GENESIS, chain_hash

    rec = record("old1", lst=0, idx=5)
    op = Operator("op_1", "510321", "clerk", "operator", "hash1", T)
    r.hset("hcert:authorities", "510321", Authority("510321", "荣县", "Rong", T).to_json())
    r.hset("hcert:operators", "op_1", json.dumps(asdict(op)))
    r.hset("hcert:optoken", "hash1", "op_1")
    r.hset("hcert:opname", "510321|clerk", "op_1")
    r.set("hcert:cert:old1", rec.to_json())
    r.zadd("hcert:certs:510321", {"old1": T})
    r.rpush("hcert:batch:510321:b1", "old1")
    r.set("hcert:idem:510321:key:1", json.dumps(asdict(IdempotencyRecord("510321", "key:1", "k1:x", 201, "{}", T))))
    r.hset("hcert:listused:510321", "0", 1)
    r.sadd("hcert:slots:510321:0", 5)
    r.setbit("hcert:status:510321:0", 8, 1)
    r.hset("hcert:statusver:510321", "0", 3)
    r.hset("hcert:seals", "510321", b"\x89PNG")
    entry = ev("certificate.issue", "old1").body(1, GENESIS)
    r.rpush("hcert:audit", json.dumps([entry, chain_hash(entry)], ensure_ascii=False, sort_keys=True))
    r.set("hcert:audit:head", f"1 {chain_hash(entry)}")
    return rec, op


def test_a_redis_store_of_the_single_key_layout_is_moved_to_per_authority_keys(redis_url):
    """Keys written before the per-authority layout are renamed once, at start; the old log stays as chain ``all``."""
    import redis

    from app.store import open_store
    from tests.conftest import flush_redis

    flush_redis(redis_url)
    r = redis.Redis.from_url(redis_url)
    rec, op = _write_single_key_layout(r)
    store = open_store("redis", url=redis_url)
    try:
        assert store.get_authority("510321").name_zh == "荣县"
        assert store.operator_by_token_hash("hash1") == op
        assert store.get_certificate("510321", "old1") == rec
        assert store.list_certificates("510321")[1] == 1 and store.batch_certificates("510321", "b1") == ["old1"]
        assert store.get_idempotency("510321", "key:1").request_hash == "k1:x"
        assert store.status_lists("510321") == [0] and store.status_bits("510321", 0, list_size=64)[1] == 3
        assert store.get_seal("510321") == b"\x89PNG"
        assert not [
            k for k in r.scan_iter("hcert:*") if b"{" not in k and not k.startswith((b"hcert:audit", b"hcert:store"))
        ]
        assert store.audit_chains() == ["all"] and verify_chain(store.audit_entries("all")).ok
        store.commit_issue([record("new1", idx=6)], [ev("certificate.issue", "new1")], None)
        assert store.audit_chains() == ["510321", "all"] and store.list_certificates("510321")[1] == 2
    finally:
        store.close()
        r.close()


def test_moving_the_single_key_layout_again_after_another_instance_did_is_harmless(redis_url, monkeypatch):
    """Two instances start at once: the second renames keys the first already moved (its scan was older)."""
    import redis

    from app.store import open_store
    from app.store.redis import RedisStore
    from tests.conftest import flush_redis

    flush_redis(redis_url)
    r = redis.Redis.from_url(redis_url)
    rec, _ = _write_single_key_layout(r)
    seen = [k for k in r.scan_iter("hcert:*") if b"{" not in k and not k.startswith((b"hcert:audit", b"hcert:store"))]
    first = open_store("redis", url=redis_url)  # moves every key
    r.delete("hcert:{national}:layout")  # the second checked the layout before the first was done
    monkeypatch.setattr(RedisStore, "_legacy_keys", lambda self: iter(seen))
    second = open_store("redis", url=redis_url)
    try:
        assert second.get_certificate("510321", "old1") == rec and second.get_seal("510321") == b"\x89PNG"
        assert r.exists("hcert:{national}:layout") and not r.exists("hcert:migrating")
    finally:
        first.close()
        second.close()
        r.close()


def test_a_redis_error_while_moving_the_single_key_layout_is_one_clear_error(tmp_path, capsys):
    """A Redis refusing writes at start (a replica): StoreUnavailable naming the move; once it writes, the move ends."""
    import redis

    from app.cli import main
    from app.store import StoreUnavailable, open_store
    from tests.conftest import _redis_server, _stop_all, free_port

    proc, port = _redis_server(tmp_path)
    url = f"redis://127.0.0.1:{port}/0"
    r = redis.Redis(port=port)
    try:
        rec, _ = _write_single_key_layout(r)
        r.replicaof("127.0.0.1", free_port())  # read-only now: every write is refused (READONLY)
        with pytest.raises(StoreUnavailable, match="per-authority layout"):
            open_store("redis", url=url)
        capsys.readouterr()
        data = tmp_path / "data"
        data.mkdir()
        assert main(["--data-dir", str(data), "--store", "redis", "--redis-url", url, "authority", "list"]) == 1
        err = capsys.readouterr().err
        assert err.startswith("hcert: store_unavailable: ") and "per-authority layout" in err
        assert err.count("\n") == 1 and "Traceback" not in err
        r.replicaof("no", "one")
        store = open_store("redis", url=url)
        try:
            assert store.get_certificate("510321", "old1") == rec
        finally:
            store.close()
    finally:
        r.close()
        _stop_all([proc])


@pytest.mark.parametrize("kind", ["redis", "cluster"])
def test_sixteen_issuers_on_four_instances_of_one_redis(kind, request, tmp_path):
    """As four app workers on one Redis: each instance's view of a chain's head is often stale, every write succeeds."""
    from concurrent.futures import ThreadPoolExecutor

    from app.store import open_store

    first = open_test_store(kind, request, tmp_path)  # flushed
    url = first.url
    instances = [first, *(open_store("redis", url=url) for _ in range(3))]
    authorities = ("510321", "440300")

    def issuer(n):
        store, authority = instances[n % 4], authorities[n % 2]
        for i in range(6):
            ((lst, idx),) = store.allocate_status(authority, 1, list_size=4096)
            rec = CertificateRecord(**{**record(f"c{n}-{i}", lst=lst, idx=idx).__dict__, "authority": authority})
            event = AuditEvent(T, f"op{n}", authority, "certificate.issue", rec.jti, {"行": i})
            store.commit_issue([rec], [event], IdempotencyRecord(authority, f"k{n}-{i}", "h", 201, "{}", T))
        return 6

    try:
        with ThreadPoolExecutor(16) as pool:
            assert sum(pool.map(issuer, range(16))) == 96
        for authority in authorities:
            recs, total = first.list_certificates(authority, limit=1000)
            assert total == 48 and len({(r.status_list, r.status_index) for r in recs}) == 48
            entries = list(instances[3].audit_entries(authority))
            assert len(entries) == 48 and verify_chain(entries).ok
    finally:
        for store in instances:
            store.close()


def test_a_cluster_that_lost_a_master_is_not_ready_and_refuses_writes(tmp_path):
    """One master of three (no replicas) killed: the readiness reasons name it, every write is store_unavailable."""
    import time

    from app.store import StoreUnavailable, open_store
    from tests.conftest import _stop_all, start_redis_cluster

    procs, ports = start_redis_cluster(tmp_path)
    store = open_store("redis", url="redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in ports))
    try:
        assert store.readiness() == []
        procs[0].kill()
        procs[0].wait()
        reasons: list[str] = []
        for _ in range(100):  # the other masters mark the cluster failed after the node timeout (2 s)
            reasons = store.readiness()
            if "cluster_down" in reasons:
                break
            time.sleep(0.2)
        assert "store_unreachable" in reasons and "cluster_down" in reasons, reasons
        for authority in ("510321", "440300", "110101"):  # whichever master holds their slots
            with pytest.raises(StoreUnavailable):
                store.append_audit([AuditEvent(T, "op_1", authority, "x", "s", {})])
    finally:
        store.close()
        _stop_all(procs)


def test_redis_large_write_with_a_stale_head_reads_the_head_first(redis_url):
    from app.store import open_store
    from tests.conftest import flush_redis

    flush_redis(redis_url)
    store = open_store("redis", url=redis_url)
    try:
        store.append_audit([ev("a", "0")])
        store._heads["510321"] = (7, "e" * 64)  # as if another instance wrote since
        store.append_audit([ev("m", str(i)) for i in range(1, 21)])  # a manifest's entries
        entries = list(store.audit_entries("510321"))
        assert [e["subject"] for e, _ in entries] == [str(i) for i in range(21)]
        assert verify_chain(entries).ok and store._heads["510321"] == store.audit_head("510321") == (21, entries[-1][1])
    finally:
        store.close()


def test_a_cluster_with_every_node_down_is_unavailable_not_an_error(tmp_path):
    """Every node of the cluster killed: reads and writes are store_unavailable, readiness says store_unreachable."""
    from app.store import StoreUnavailable, open_store
    from tests.conftest import _stop_all, start_redis_cluster

    procs, ports = start_redis_cluster(tmp_path)
    store = open_store("redis", url="redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in ports))
    try:
        assert store.readiness() == []
        _stop_all(procs)
        with pytest.raises(StoreUnavailable):
            store.get_authority("510321")
        with pytest.raises(StoreUnavailable):
            store.append_audit([AuditEvent(T, "op_1", "510321", "x", "s", {})])
        assert "store_unreachable" in store.readiness()
        with pytest.raises(StoreUnavailable):  # and so is a client that starts while it is down
            open_store("redis", url="redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in ports))
    finally:
        store.close()
        _stop_all(procs)


def test_a_redis_loading_its_data_refuses_writes_as_unavailable(tmp_path):
    """LOADING is a refusal (the script did not run): store_unavailable, and readiness says store_loading."""
    import shutil
    import socket
    import subprocess
    import time

    import redis

    from app.store import OutcomeUnknown, StoreUnavailable, open_store
    from tests.conftest import _DURABLE, _redis_server, _stop_all

    proc, port = _redis_server(tmp_path)
    filler = redis.Redis(port=port)
    filler.eval("for i = 1, 40000 do redis.call('SET', 'filler:' .. i, i) end", 0)
    filler.close()
    _stop_all([proc])  # a clean shutdown: the append-only file holds the 40,000 keys
    # Restarted with a delay per key read (Redis's key-load-delay, microseconds): it loads for about 8 s,
    # answering clients between every 1,024 commands it replays.
    proc = subprocess.Popen(
        [shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path),
         *_DURABLE, "--key-load-delay", "200"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
                    probe.sendall(b"PING\r\n")
                    if probe.recv(100).startswith(b"-LOADING"):
                        break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            pytest.fail("redis-server did not report LOADING")
        store = open_store("redis", url=f"redis://127.0.0.1:{port}/0")
        try:
            with pytest.raises(StoreUnavailable) as refused:
                store.commit_issue([record("j1")], [ev()], None)
            assert not isinstance(refused.value, OutcomeUnknown)
            with pytest.raises(StoreUnavailable):
                store.get_authority("510321")
            assert "store_loading" in store.readiness()
        finally:
            store.close()
    finally:
        _stop_all([proc])


def test_every_key_a_redis_script_touches_is_one_of_its_keys(redis_url):
    """Redis MONITOR shows each command a script runs: its key must be among the KEYS the script was given."""
    import threading

    import redis

    from app.store import open_store
    from tests.conftest import flush_redis

    flush_redis(redis_url)
    store = open_store("redis", url=redis_url)
    watcher = redis.Redis.from_url(redis_url)
    lines: list[tuple[str, list[str]]] = []
    started = threading.Event()

    def watch() -> None:
        with watcher.monitor() as monitor:
            started.set()
            for command in monitor.listen():
                words = command["command"].split(" ")
                if words[0] == "ECHO" and words[1:] == ["monitor-done"]:
                    return
                lines.append((command["client_type"], words))

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    assert started.wait(5)
    try:
        small = 8  # lists of 8 entries: the third allocation of 4 starts list 1, then list 2
        for i in range(3):
            store.allocate_status("510321", 4, list_size=small)
        fresh = open_store("redis", url=redis_url)  # guesses list 0: the script names the list to use
        assert fresh.allocate_status("510321", 1, list_size=small)[0][0] == 3
        fresh.close()
        store.commit_issue([record("j1", idx=1)], [ev("issue", "j1")], None)
        store.change_status("510321", "j1", status="suspended", reason="r", now=T, audit=ev("suspend", "j1"))
        store.status_bits("510321", 0, list_size=64)
        store.record_failed_signin(["client:x"], now=T, window=60)
        store.add_authority(Authority("510321", "荣县", "Rong", T), ev())
        store.add_operator(Operator("op_1", "510321", "clerk", "operator", "hash1", T), ev())
        assert store.credential("hash1")[1] is not None
        assert store.sign_in_state("hash1", ["client:x"], now=T, window=60)[0] == [1]
        store._r.echo("monitor-done")
        thread.join(10)
    finally:
        store.close()
        watcher.close()
    scripts = 0
    given: set[str] = set()
    for client, words in lines:
        if client != "lua" and words[0].upper() == "EVALSHA":
            scripts += 1
            given = set(words[3 : 3 + int(words[2])])
        elif client == "lua":
            assert words[1] in given, (words, given)
    assert scripts >= 12 and any(w[0] == "SADD" for c, w in lines if c == "lua")
    assert any(w[0] == "HGET" and "authorities" in w[1] for c, w in lines if c == "lua")  # CREDENTIAL ran


def _distinct_draws(monkeypatch, redis_store, start=0):
    """Make the random status-entry candidates distinct and predictable (no collisions in a test)."""
    draws = itertools.count(start)
    monkeypatch.setattr(redis_store.secrets, "randbelow", lambda n: next(draws) % n)


def test_a_busy_authority_takes_spare_status_entries_and_a_quiet_one_reserves_none(store, monkeypatch):
    if not hasattr(store, "_reserved"):
        pytest.skip("SQLite reserves in the issue's own transaction")
    import app.store.redis as redis_store

    monkeypatch.setattr(redis_store, "_SPARE_AGE", 3600.0)  # no expiry during the test: no timing in it
    _distinct_draws(monkeypatch, redis_store)
    asked = []
    real = store._allocate_entries

    def allocate(authority, n, *, list_size, spare=0):
        asked.append(n + spare)
        return real(authority, n, list_size=list_size, spare=spare)

    monkeypatch.setattr(store, "_allocate_entries", allocate)
    used = []
    jtis = itertools.count()

    def issue(n=1, size=4096):
        def build(slots):
            used.extend(slots)
            return [record(f"j{next(jtis)}", lst, idx) for lst, idx in slots], [ev()], None

        store.issue_with_status("510321", n, list_size=size, build=build)

    def spares(size=4096):
        return len(store._spare.get(("510321", size), []))

    issue()  # nothing handed out lately: no spares
    assert asked == [1] and spares() == 0
    issue()  # one handed out lately: one spare
    assert asked == [1, 2] and spares() == 1
    issue()  # from the spare
    assert asked == [1, 2] and spares() == 0
    issue()  # three handed out lately: three spares
    assert asked == [1, 2, 4] and spares() == 3
    issue(5)  # more than the three spares: its own five, and four more (four handed out lately)
    assert asked[-1] == 5 + 4 and spares() == 3 + 4  # added to the ones left
    calls = len(asked)
    for _ in range(7):
        issue()  # served from the spares: no reservation round trip
    assert len(asked) == calls and spares() == 0
    issue(2)  # sixteen handed out lately: sixteen spares, the most kept
    assert asked[-1] == 2 + redis_store._SPARE_MAX and spares() == redis_store._SPARE_MAX
    issue(17)  # more than a refill's worth: its own entries only, the spares stay
    assert asked[-1] == 17 and spares() == redis_store._SPARE_MAX
    assert len(set(used)) == len(used)  # never an entry twice
    # Spares never open a list: every list there is holds a certificate (a list of 40 takes 20).
    for _ in range(45):
        issue(size=40)
    assert store.status_lists("510321") == sorted({lst for lst, _ in used})
    # Spares left over expire; a quiet authority (nothing handed out lately) reserves what it asks for.
    issue()
    issue()
    assert spares() > 0
    monkeypatch.setattr(redis_store, "_SPARE_AGE", 0.0)
    asked.clear()
    issue()
    issue(3)
    assert asked == [1, 3] and spares() == 0
    assert len(set(used)) == len(used)


def test_only_one_thread_at_a_time_reserves_spares_for_an_authority(store, monkeypatch):
    if not hasattr(store, "_reserved"):
        pytest.skip("SQLite reserves in the issue's own transaction")
    import threading

    import app.store.redis as redis_store

    monkeypatch.setattr(redis_store, "_SPARE_AGE", 3600.0)
    store._reserved("510321", 1, 4096)
    store._reserved("510321", 1, 4096)  # handed out lately: the next refill asks for spares
    store._spare.clear()
    inside, spare_asks, lock = [], [], threading.Lock()
    release = threading.Event()
    real = store._allocate_entries

    def slow(authority, n, *, list_size, spare=0):
        with lock:
            spare_asks.append(spare)
            inside.append(1)
        if spare:
            release.wait(5)  # the refilling thread holds on while the others come
        return real(authority, n, list_size=list_size, spare=spare)

    monkeypatch.setattr(store, "_allocate_entries", slow)
    got = []
    threads = [threading.Thread(target=lambda: got.append(store._reserved("510321", 1, 4096))) for _ in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while len(inside) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for t in threads:
        t.join(5)
    assert sum(1 for s in spare_asks if s) == 1  # one refill; the others reserved their own entry
    assert len({slot for slots in got for slot in slots}) == 4


def test_an_issue_whose_reservation_redis_lost_is_signed_again_with_new_entries(store, monkeypatch):
    if not hasattr(store, "_reserved"):
        pytest.skip("SQLite reserves in the issue's own transaction")
    import app.store.redis as redis_store
    from app.store import StoreUnavailable

    monkeypatch.setattr(redis_store, "_SPARE_AGE", 3600.0)
    _distinct_draws(monkeypatch, redis_store)
    built = []

    def issue(s=store):
        def build(slots):
            built.append((f"j{len(built)}", slots))
            return [record(built[-1][0], lst, idx) for lst, idx in slots], [ev()], None

        s.issue_with_status("510321", 1, list_size=4096, build=build)

    for _ in range(4):
        issue()  # a busy authority: spares kept in the process
    assert store._spare[("510321", 4096)]
    store._r.delete("hcert:{510321}:slots:0")  # Redis lost the reservations (restarted without them)
    issue()
    (lost, _), (again, slots) = built[-2], built[-1]
    assert not store._spare.get(("510321", 4096))  # signed again with new entries; the spares went
    assert store.get_certificate("510321", again).status_index == slots[0][1]
    assert store.get_certificate("510321", lost) is None  # nothing written with the lost entry
    # Lost, then reserved again by another process that wrote a certificate with it: refused too.
    for _ in range(4):
        issue()
    spare = store._spare[("510321", 4096)][0][1]
    store._r.delete("hcert:{510321}:slots:0")
    from app.store import open_store

    other = open_store("redis", url=store.url)  # another process on the same Redis
    try:
        monkeypatch.setattr(other, "_reserved", lambda a, n, size: [spare])
        other._r.sadd("hcert:{510321}:slots:0", spare[1])  # the other process's reservation of the entry
        issue(other)
        assert store.get_certificate("510321", built[-1][0]).status_index == spare[1]
        issue()  # this process's spare is that very entry: refused, signed again with another
        assert built[-2][1] == [spare] and built[-1][1] != [spare]
        assert store.get_certificate("510321", built[-2][0]) is None
    finally:
        other.close()
    # Lost twice in a row: 503, nothing written.
    monkeypatch.setattr(store, "allocate_status", lambda a, n, **kw: [(99, 7)])  # never reserved
    monkeypatch.setattr(store, "_reserved", lambda a, n, size: [(99, 5)])
    with pytest.raises(StoreUnavailable):
        issue()
    assert store.get_certificate("510321", built[-1][0]) is None
