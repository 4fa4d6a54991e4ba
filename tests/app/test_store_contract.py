"""One contract, two real backends: every test runs on SQLite and on a real redis-server."""

from __future__ import annotations

import pytest

from app.audit import verify_chain
from app.store import AuditEvent, Authority, CertificateRecord, Conflict, IdempotencyRecord, NotFound, Operator

T = 1_583_802_000


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
    assert verify_chain(entries).ok


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
    store.audit_listener = lambda seq, head, at: heard.append((seq, head, at))
    assert store.audit_head() == (0, GENESIS)
    store.add_authority(Authority("510321", "荣县", "Rong", T), AuditEvent(T + 1, "a", None, "x", "s", {}))
    store.commit_issue(
        [record("j1"), record("j2", idx=2)], [ev("issue", "j1"), AuditEvent(T + 2, "a", None, "x", "s", {})], None
    )
    with pytest.raises(Conflict):
        store.commit_issue([record("j1")], [ev()], None)  # refused: nothing appended, nothing heard
    entries = list(store.audit_entries())
    assert store.audit_head() == (2 + 1, entries[-1][1])
    assert heard == [(1, entries[0][1], T + 1), (3, entries[2][1], T + 2)]
    store.audit_listener = None


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
