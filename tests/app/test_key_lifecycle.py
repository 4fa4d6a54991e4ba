"""Key lifecycle through the service, the API and the `hcert` CLI: passphrase errors, audit, retirement."""

from __future__ import annotations

import pytest

from tests.conftest import NOW, WORKER


def _files(directory):
    return {p.relative_to(directory): p.read_bytes() for p in directory.rglob("*") if p.is_file() and p.name != ".lock"}


@pytest.mark.parametrize("passphrase", ["wrong", None], ids=["wrong", "missing"])
def test_cli_key_rotate_with_a_bad_passphrase_fails_in_one_line_and_writes_nothing(
    tmp_path, monkeypatch, capsys, passphrase
):
    from app.cli import main

    monkeypatch.setenv("HCERT_KEY_PASSPHRASE", "right one")
    data = tmp_path / "data"
    assert (
        main(["--data-dir", str(data), "authority", "create", "510321", "--name-zh", "荣县", "--name-en", "Rong"]) == 0
    )
    before = _files(data / "keys")
    capsys.readouterr()
    if passphrase is None:
        monkeypatch.delenv("HCERT_KEY_PASSPHRASE")
    else:
        monkeypatch.setenv("HCERT_KEY_PASSPHRASE", passphrase)
    assert main(["--data-dir", str(data), "key", "rotate", "--authority", "510321"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("hcert: key_passphrase_invalid: ")
    assert "Traceback" not in err
    assert _files(data / "keys") == before
    monkeypatch.setenv("HCERT_KEY_PASSPHRASE", "right one")
    assert main(["--data-dir", str(data), "audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert "1 entries" in out  # authority.create, and nothing for the refused rotation


def test_api_with_a_wrong_passphrase_answers_503_with_its_code(tmp_path):
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.settings import Settings

    data = tmp_path / "data"
    good = Settings(data_dir=data, base_url="https://hcert.test", key_passphrase="right", dev=True)
    with TestClient(create_app(good, clock=lambda: NOW)) as client:
        _, token = client.app.state.service.create_operator("510321", "admin", "authority_admin", actor="t", now=NOW)
    bad = Settings(data_dir=data, base_url="https://hcert.test", key_passphrase="wrong")
    with TestClient(create_app(bad, clock=lambda: NOW), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        before = _files(data / "keys")
        for r in (
            client.post("/v1/certificates", json=WORKER),
            client.post("/v1/authorities/510321/keys/rotate"),
        ):
            assert r.status_code == 503, r.text
            assert r.json()["code"] == "key_passphrase_invalid"
        assert _files(data / "keys") == before


def test_key_changes_are_audited_with_the_change(tmp_path, store):
    from app.service import IssuingService, ServiceError
    from app.settings import Settings

    service = IssuingService(Settings(data_dir=tmp_path / "data"), store)
    service.create_authority("510321", "荣县", "Rong", actor="t", now=NOW)
    first = service.ring("510321").active().kid
    new = service.rotate_key("510321", actor="admin", now=NOW)
    service.withdraw_key("510321", first, reason="laptop stolen", actor="admin", now=NOW)
    actions = [(e["action"], e["subject"]) for e, _ in store.audit_entries()]
    assert actions[-2:] == [("key.rotate", new.kid), ("key.withdraw", first)]
    with pytest.raises(ServiceError) as e:
        service.withdraw_key("510321", "AAAAAAAAAAA", reason="x", actor="admin", now=NOW)
    assert e.value.status == 404 and e.value.code == "key_not_found"


def test_cli_withdrawal_then_api_rotation_on_a_running_server_keeps_both_changes(tmp_path):
    """The bug this replaces: the server's stale key ring re-published the withdrawn key and lost the CLI's key."""
    import subprocess
    import sys

    import httpx

    from tests.conftest import ROOT, start_hcert, stop

    data = tmp_path / "data"
    proc, url = start_hcert(data)

    def hcert(*args):
        r = subprocess.run(
            [sys.executable, "-m", "app", "--data-dir", str(data), *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert r.returncode == 0, r.stderr
        return r.stdout

    try:
        admin = hcert("operator", "create", "--authority", "510321", "--name", "boss", "--role", "authority_admin")
        h = {"Authorization": f"Bearer {admin.strip()}"}
        # The server has loaded the ring: it signs with the first key.
        first = httpx.post(f"{url}/v1/certificates", json=WORKER, headers=h).json()["kid"]
        # A kid may start with "-" (base64url): it goes after "--", as OPERATIONS.md shows.
        hcert("key", "withdraw", "--authority", "510321", "--reason", "laptop stolen", "--", first)
        cli_key = next(
            k["kid"] for k in httpx.get(f"{url}/.well-known/jwks.json").json()["keys"] if k["hcert_state"] == "active"
        )
        r = httpx.post(f"{url}/v1/authorities/510321/keys/rotate", headers=h)
        assert r.status_code == 200, r.text
        api_key = r.json()["kid"]
        states = {k["kid"]: k["hcert_state"] for k in httpx.get(f"{url}/.well-known/jwks.json").json()["keys"]}
        assert states == {first: "withdrawn", cli_key: "retired", api_key: "active"}
        assert httpx.post(f"{url}/v1/certificates", json=WORKER, headers=h).json()["kid"] == api_key
        pems = {p.stem for p in (data / "keys" / "510321").glob("*.pem")}
        assert pems == {api_key}
    finally:
        stop(proc)
