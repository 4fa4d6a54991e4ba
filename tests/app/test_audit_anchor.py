"""Tamper-evident audit: the log's head is anchored in a signed checkpoint outside the database.

An attacker who can write the database (SQLite file, Redis) but not the key
directory deletes or rewrites the tail of the log, even recomputing the whole
hash chain: `hcert audit verify` fails with one line and exit 1.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from app.store._base import GENESIS, chain_hash
from tests.conftest import NOW, WORKER


class Deployment:
    """A service on one backend, its data directory, and how to run `hcert` against the same state."""

    def __init__(self, kind, tmp_path, request):
        from app.service import IssuingService, data_path
        from app.settings import Settings
        from app.store import open_store
        from app.store._base import SINGLE_CHAIN

        self.kind = kind
        # The chain the tests attack: SQLite's one chain, or the authority's chain in Redis.
        self.chain = SINGLE_CHAIN if kind == "sqlite" else "510321"
        self.data = tmp_path / "data"
        self.data.mkdir()
        self.flags = ["--data-dir", str(self.data), "--store", kind]
        if kind == "redis":
            import redis

            self.url = request.getfixturevalue("redis_url")
            redis.Redis.from_url(self.url).flushdb()
            self.flags += ["--redis-url", self.url]
            settings = Settings(data_dir=self.data, store="redis", redis_url=self.url)
        else:
            settings = Settings(data_dir=self.data, store="sqlite")
        self.service = IssuingService(settings, open_store(kind, path=str(data_path(settings)), url=settings.redis_url))
        self.db_path = data_path(settings)

    def populate(self):
        s = self.service
        s.create_authority("510321", "荣县卫生健康局", "Rong County", actor="national", now=NOW)
        op, _ = s.create_operator("510321", "clerk", "operator", actor="admin", now=NOW)
        _, body, _ = s.issue("510321", [WORKER, WORKER, WORKER], operator=op, now=NOW)
        first = json.loads(body)["issued"][0]["id"]
        s.change_status("510321", first, "revoked", "entered in error", operator=op, now=NOW)

    def hcert(self, capsys, *args):
        from app.cli import main

        capsys.readouterr()
        code = main([*self.flags, *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    # -- what an attacker with the database alone can do --------------------------------
    def entries(self):
        return list(self.service.store.audit_entries(self.chain))

    def intact(self, anchored_to=None, newer=0):
        """What `hcert audit verify` prints for an intact log whose attacked chain is anchored up to ``anchored_to``."""
        n = len(self.entries())
        note = f"; the {newer} newest not yet anchored" if newer else ""
        if self.kind == "sqlite":
            return f"audit chain intact: {n} entries, anchored up to entry {n - newer}{note}\n"
        total = len(list(self.service.store.audit_entries()))
        chains = len(self.service.store.audit_chains())
        return f"audit chain intact: {total} entries in {chains} chains, {total - newer} anchored{note}\n"

    @property
    def anchor(self):
        return self.service.audit_anchors.for_chain(self.chain)

    def replace_log(self, entries):
        """Write ``entries`` as the whole log, with a freshly computed, self-consistent chain."""
        prev = GENESIS
        rows = []
        for n, entry in enumerate(entries, start=1):
            entry = {**entry, "seq": n, "prev": prev}
            prev = chain_hash(entry)
            rows.append((entry, prev))
        if self.kind == "sqlite":
            db = sqlite3.connect(self.db_path)
            db.execute("DELETE FROM audit")
            db.executemany(
                "INSERT INTO audit(seq, entry, hash) VALUES (?, ?, ?)",
                [(e["seq"], json.dumps(e, ensure_ascii=False, sort_keys=True), h) for e, h in rows],
            )
            db.commit()
            db.close()
        else:
            import redis

            r = redis.Redis.from_url(self.url)
            key = f"hcert:{{{self.chain}}}:audit"
            r.delete(key)
            for e, h in rows:
                r.rpush(key, json.dumps([e, h], ensure_ascii=False, sort_keys=True))
            r.set(key + ":head", f"{len(rows)} {prev}")
            r.close()


@pytest.fixture(params=["sqlite", "redis"])
def deployment(request, tmp_path):
    d = Deployment(request.param, tmp_path, request)
    d.populate()
    yield d
    d.service.store.close()


def _fails_in_one_line(code, out, err, *words):
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("audit chain BROKEN"), err
    for word in words:
        assert word in err, err


def test_an_untouched_log_verifies_and_is_anchored_to_its_last_entry(deployment, capsys):
    n = len(deployment.entries())
    assert n >= 4
    checkpoint = deployment.anchor.load()
    assert checkpoint is not None and checkpoint.seq == n
    assert (checkpoint.seq, checkpoint.head) == deployment.service.store.audit_head(deployment.chain)
    code, out, _ = deployment.hcert(capsys, "audit", "verify")
    assert code == 0 and out == deployment.intact()


@pytest.mark.parametrize("cut", [1, 3])
def test_deleting_the_tail_is_detected(deployment, capsys, cut):
    deployment.replace_log([e for e, _ in deployment.entries()[:-cut]])
    _fails_in_one_line(*deployment.hcert(capsys, "audit", "verify"), "entries were deleted")


def test_rewriting_the_last_entry_with_a_recomputed_chain_is_detected(deployment, capsys):
    entries = [e for e, _ in deployment.entries()]
    entries[-1] = {**entries[-1], "detail": {"reason": "nothing to see"}}
    deployment.replace_log(entries)
    _fails_in_one_line(*deployment.hcert(capsys, "audit", "verify"), "rewritten")


@pytest.mark.parametrize("action", ["cut", "rewrite"])
def test_later_writes_and_audit_checkpoint_do_not_hide_a_damaged_tail(deployment, capsys, caplog, action):
    # The attacker cuts (or rewrites) the tail; the service goes on writing more entries than
    # were removed. The checkpoint must not move on from a log that lost its anchored entry.
    entries = [e for e, _ in deployment.entries()]
    if action == "cut":
        deployment.replace_log(entries[:-2])
    else:
        deployment.replace_log([*entries[:-1], {**entries[-1], "detail": {"reason": "nothing to see"}}])
    s = deployment.service
    op, _ = s.create_operator("510321", "second clerk", "operator", actor="admin", now=NOW)
    _, body, _ = s.issue("510321", [WORKER, WORKER, WORKER], operator=op, now=NOW)
    assert len(json.loads(body)["issued"]) == 3  # the service keeps working
    assert len(deployment.entries()) > len(entries)
    assert "checkpoint not moved" in caplog.text
    _fails_in_one_line(*deployment.hcert(capsys, "audit", "verify"), "rewritten")
    code, out, err = deployment.hcert(capsys, "audit", "checkpoint")
    assert code == 1 and out == "" and "no checkpoint written" in err
    _fails_in_one_line(*deployment.hcert(capsys, "audit", "verify"), "rewritten")


def test_deleting_an_entry_and_padding_the_log_back_to_length_is_detected(deployment, capsys):
    entries = [e for e, _ in deployment.entries()]
    revoke = next(i for i, e in enumerate(entries) if e["action"] == "certificate.revoke")
    forged = {**entries[0], "action": "authority.note", "subject": "x"}
    deployment.replace_log([*entries[:revoke], *entries[revoke + 1 :], forged])
    _fails_in_one_line(*deployment.hcert(capsys, "audit", "verify"), "rewritten")


def test_emptying_the_log_is_detected(deployment, capsys):
    deployment.replace_log([])
    _fails_in_one_line(*deployment.hcert(capsys, "audit", "verify"), "entries were deleted")


def test_a_missing_or_forged_checkpoint_is_detected(deployment, capsys):
    from keys import generate_signing_key, sign_compact

    path = deployment.anchor.path
    good = path.read_text()
    path.unlink()
    _fails_in_one_line(*deployment.hcert(capsys, "audit", "verify"), "no signed checkpoint")
    # The attacker cuts the log and signs a matching checkpoint with a key of their own.
    deployment.replace_log([e for e, _ in deployment.entries()[:-2]])
    seq, head = deployment.service.store.audit_head(deployment.chain)
    from hcert_verifier import json_compact

    forged = sign_compact(
        generate_signing_key(),
        typ="hcert-audit-checkpoint",
        payload=json_compact({"seq": seq, "head": head, "at": 0}),
    )
    path.write_text(forged + "\n")
    _fails_in_one_line(*deployment.hcert(capsys, "audit", "verify"), "not signed by the audit key")
    path.write_text(good)
    _fails_in_one_line(*deployment.hcert(capsys, "audit", "verify"), "entries were deleted")


def test_entries_after_the_checkpoint_are_reported_and_can_be_anchored(deployment, capsys):
    from app.store import AuditEvent

    store = deployment.service.store
    store.audit_listener = None  # as if the checkpoint could not be written (a full disk)
    store.append_audit([AuditEvent(1, "t", "510321", "test.note", "x", {})])
    n = len(deployment.entries())
    code, out, _ = deployment.hcert(capsys, "audit", "verify")
    assert code == 0 and out == deployment.intact(newer=1)
    code, out, _ = deployment.hcert(capsys, "audit", "checkpoint")
    assert code == 0 and f"written at entry {n}" in out
    code, out, _ = deployment.hcert(capsys, "audit", "verify")
    assert code == 0 and out == deployment.intact()


def test_a_redis_that_restarted_empty_fails_against_the_anchor(request, tmp_path, capsys):
    """Every chain's checkpoint outlives the data: an emptied Redis is entries deleted, never "intact: 0 entries"."""
    import redis

    deployment = Deployment("redis", tmp_path, request)
    deployment.populate()
    code, out, _ = deployment.hcert(capsys, "audit", "verify")
    assert code == 0 and " 2 chains" in out
    redis.Redis.from_url(deployment.url).flushall()
    _fails_in_one_line(*deployment.hcert(capsys, "audit", "verify"), "entries were deleted")
    code, out, err = deployment.hcert(capsys, "audit", "checkpoint")
    assert code == 1 and "no checkpoint written" in err
    deployment.service.store.close()


def test_the_checkpoint_moves_forward_only_from_a_log_that_holds_its_entry(tmp_path):
    from app.audit import AuditAnchor, AuditError
    from keys import KeyRing

    log = {5: "a" * 64}
    anchor = AuditAnchor(KeyRing(tmp_path / "_audit"), tmp_path / "_audit" / "checkpoint.jwt", lookup=log.get)
    assert anchor.write(5, "a" * 64, at=1)
    log[5] = "d" * 64  # entry 5 rewritten
    with pytest.raises(AuditError):
        anchor.write(7, "e" * 64, at=2)
    del log[5]  # entry 5 deleted
    with pytest.raises(AuditError):
        anchor.write(7, "e" * 64, at=2)
    assert anchor.load().seq == 5
    log[5] = "a" * 64
    assert anchor.write(7, "e" * 64, at=3)
    assert anchor.load().seq == 7


def test_the_checkpoint_only_moves_forward(tmp_path):
    from app.audit import AuditAnchor
    from keys import KeyRing

    anchor = AuditAnchor(KeyRing(tmp_path / "_audit"), tmp_path / "_audit" / "checkpoint.jwt")
    assert anchor.write(5, "a" * 64, at=1)
    assert not anchor.write(4, "b" * 64, at=2)
    assert anchor.load().seq == 5
    assert anchor.write(6, "c" * 64, at=3)
    assert anchor.load().head == "c" * 64


def test_an_emptied_redis_stays_not_ready_until_the_operator_accepts_it(request, tmp_path, capsys):
    """Another instance or an `hcert` command opening the emptied store does not make it ready again."""
    import redis

    from app.service import IssuingService
    from app.settings import Settings
    from app.store import open_store

    deployment = Deployment("redis", tmp_path, request)
    deployment.populate()
    first = deployment.service.store
    assert first.readiness() == []
    admin = redis.Redis.from_url(deployment.url)
    admin.flushall()  # what a restart without an append-only file leaves
    settings = Settings(data_dir=deployment.data, store="redis", redis_url=deployment.url)
    second = IssuingService(settings, open_store("redis", url=deployment.url))  # a second worker, a restart
    _fails_in_one_line(*deployment.hcert(capsys, "audit", "verify"), "entries were deleted")
    try:
        assert first.readiness() == ["store_emptied"]
        assert second.store.readiness() == ["store_emptied"]
        # The operator accepts the empty store on purpose (docs/OPERATIONS.md): the marker key.
        admin.set("hcert:store", "accepted")
        assert first.readiness() == [] and second.store.readiness() == []
    finally:
        admin.close()
        second.store.close()
        first.close()
