"""Key ring lifecycle: changes under a file lock across processes, passphrase errors, retirement."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap

import pytest

from hcert_verifier import JwksTrust, Verifier
from issuer import Issuer, parse_application
from keys import KeyNotFound, KeyPassphraseError, KeyRing
from tests.conftest import ROOT, WORKER

T0 = 1_583_802_000  # 2020-03-10 09:00 +08:00


def _snapshot(directory):
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.name != ".lock"}


_ROTATOR = textwrap.dedent(
    """
    import sys
    from keys import KeyRing
    ring = KeyRing(sys.argv[1])
    base = int(sys.argv[2])
    print("ready", flush=True)
    sys.stdin.readline()  # start together
    for i in range(int(sys.argv[3])):
        ring.rotate(now=base + i, max_validity=60)
    """
)


def test_two_processes_rotating_at_once_lose_no_update(tmp_path):
    KeyRing(tmp_path / "ring").ensure(now=T0)
    rounds = 15
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _ROTATOR, str(tmp_path / "ring"), str(T0 + 1000 * n), str(rounds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for n in (1, 2)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        p.communicate(timeout=120)  # closes the pipes
        assert p.returncode == 0
    records = KeyRing(tmp_path / "ring").records
    assert len(records) == 1 + 2 * rounds, "every rotation's key is recorded"
    assert [r.state for r in records].count("active") == 1
    active = next(r for r in records if r.state == "active")
    pems = {p.stem for p in (tmp_path / "ring").glob("*.pem")}
    assert pems == {active.kid}, "only the active key keeps a private part"


def test_a_stale_server_ring_does_not_undo_a_withdrawal_from_the_cli(tmp_path):
    server = KeyRing(tmp_path)
    compromised = server.ensure(now=T0)
    assert server.records[0].kid == compromised.kid  # the server has read the ring
    # The CLI, another process, withdraws the compromised key.
    cli = subprocess.run(
        [
            sys.executable,
            "-c",
            f"from keys import KeyRing; KeyRing({str(tmp_path)!r}).withdraw({compromised.kid!r}, now={T0 + 5}, "
            "reason='stolen')",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    cli_key = next(r.kid for r in KeyRing(tmp_path).records if r.state == "active")
    # Then the running server rotates through its API.
    newest = server.rotate(now=T0 + 10, max_validity=60)
    states = {r.kid: r.state for r in KeyRing(tmp_path).records}
    assert states == {compromised.kid: "withdrawn", cli_key: "retired", newest.kid: "active"}
    jwks = {k["kid"]: k["hcert_state"] for k in server.jwks(now=T0 + 20)["keys"]}
    assert jwks[compromised.kid] == "withdrawn"


@pytest.mark.parametrize(
    ("stored", "given"),
    [(b"right", b"wrong"), (b"right", None), (None, b"unexpected")],
    ids=["wrong", "missing", "ring-not-encrypted"],
)
def test_a_bad_passphrase_is_a_clear_error_that_writes_nothing(tmp_path, stored, given):
    first = KeyRing(tmp_path, passphrase=stored).ensure(now=T0)
    before = _snapshot(tmp_path)
    ring = KeyRing(tmp_path, passphrase=given)
    with pytest.raises(KeyPassphraseError) as e:
        ring.rotate(now=T0 + 10, max_validity=60)
    assert e.value.code == "key_passphrase_invalid"
    with pytest.raises(KeyPassphraseError):
        ring.withdraw(first.kid, now=T0 + 10, reason="test")
    with pytest.raises(KeyPassphraseError):
        ring.active()
    assert _snapshot(tmp_path) == before
    assert KeyRing(tmp_path, passphrase=stored).active().kid == first.kid


def test_retiring_deletes_the_private_part_unless_the_ring_keeps_retired_keys(tmp_path):
    ring = KeyRing(tmp_path / "a")
    old = ring.ensure(now=T0)
    ring.rotate(now=T0 + 10, max_validity=60)
    assert not (tmp_path / "a" / f"{old.kid}.pem").exists()
    with pytest.raises(KeyNotFound):
        ring.signing_key(old.kid)
    root = KeyRing(tmp_path / "root", keep_retired=True)
    old_root = root.ensure(now=T0)
    root.rotate(now=T0 + 10, max_validity=60)
    assert root.signing_key(old_root.kid).kid == old_root.kid


def test_a_failing_journal_leaves_the_ring_unchanged(tmp_path):
    ring = KeyRing(tmp_path)
    key = ring.ensure(now=T0)
    before = _snapshot(tmp_path)

    def store_down(_record):
        raise ConnectionError("store down")

    with pytest.raises(ConnectionError):
        ring.rotate(now=T0 + 10, max_validity=60, journal=store_down)
    with pytest.raises(ConnectionError):
        ring.withdraw(key.kid, now=T0 + 10, reason="x", journal=store_down)
    assert _snapshot(tmp_path) == before


def test_jwks_carries_the_retirement_time_and_verifiers_refuse_later_certificates(tmp_path):
    ring = KeyRing(tmp_path)
    old = ring.ensure(now=T0)
    ring.rotate(now=T0 + 3600, max_validity=30 * 86400)
    jwks = ring.jwks(now=T0 + 7200, issuer="510321")
    retired = next(k for k in jwks["keys"] if k["kid"] == old.kid)
    assert retired["hcert_state"] == "retired" and retired["hcert_retired"] == T0 + 3600
    assert "hcert_retired" not in next(k for k in jwks["keys"] if k["kid"] != old.kid)
    verifier = Verifier(JwksTrust.from_jwks(json.loads(json.dumps(jwks))))
    issuer = Issuer(authority="510321", signing_key=old)  # a copy of the key made before retirement
    at = dt.datetime.fromtimestamp(T0, dt.UTC)
    before = issuer.sign_application(parse_application(WORKER), now=at + dt.timedelta(minutes=30))
    after = issuer.sign_application(parse_application(WORKER), now=at + dt.timedelta(hours=2))
    check = at + dt.timedelta(hours=3)
    assert verifier.verify(before.qr_text, at=check).valid
    refused = verifier.verify(after.qr_text, at=check)
    assert not refused.valid and refused.code == "key_not_valid_at_issue"


@pytest.mark.parametrize("bad", ["soon", -1, 1.5, True])
def test_jwks_with_a_bad_retirement_time_is_refused(tmp_path, bad):
    from hcert_verifier import TrustError

    ring = KeyRing(tmp_path)
    ring.ensure(now=T0)
    jwks = ring.jwks(now=T0)
    jwks["keys"][0]["hcert_retired"] = bad
    with pytest.raises(TrustError):
        JwksTrust.from_jwks(jwks)
