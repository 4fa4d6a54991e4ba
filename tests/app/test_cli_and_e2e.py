"""The hcert CLI and the whole path: serve, credential from the CLI, issue over HTTP,
verify offline with hcert-verify, revoke, and see the revocation once the list is in hand."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import ROOT, WORKER


def hcert(data_dir, *args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "app", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )


def test_cli_admin_commands(tmp_path):
    data = tmp_path / "data"
    r = hcert(data, "authority", "create", "420100", "--name-zh", "武汉市卫健委", "--name-en", "Wuhan")
    assert r.returncode == 0, r.stderr
    r = hcert(data, "authority", "create", "420100", "--name-zh", "x", "--name-en", "x")
    assert r.returncode == 1 and r.stderr.startswith("hcert: authority_exists") and r.stderr.count("\n") == 1
    r = hcert(data, "authority", "create", "999999", "--name-zh", "x", "--name-en", "x")
    assert r.returncode == 1 and "invalid_authority_code" in r.stderr
    r = hcert(data, "operator", "create", "--authority", "420100", "--name", "clerk")
    assert r.returncode == 0 and r.stdout.startswith("hct_") and "shown once" in r.stderr
    r = hcert(data, "operator", "create", "--name", "nobody")
    assert r.returncode == 2
    r = hcert(data, "operator", "create", "--national", "--name", "root")
    assert r.returncode == 0
    r = hcert(data, "key", "rotate", "--authority", "420100")
    assert r.returncode == 0 and "new active key" in r.stdout
    r = hcert(data, "key", "list", "--authority", "420100")
    assert [line.split("\t")[1] for line in r.stdout.splitlines()] == ["active", "retired"]
    assert r.stdout.splitlines()[1].split("\t")[3].startswith("retired 20")
    r = hcert(data, "jwks")
    assert len(json.loads(r.stdout)["keys"]) == 2
    r = hcert(data, "audit", "verify")
    assert r.returncode == 0 and "intact" in r.stdout
    for pem in (data / "keys").rglob("*.pem"):
        assert oct(pem.stat().st_mode & 0o777) == "0o600"
    r = hcert(data, "key", "withdraw", "--authority", "420100", "AAAAAAAAAAA", "--reason", "x")
    assert r.returncode == 1 and "key_not_found" in r.stderr


def test_audit_tampering_fails_the_cli(tmp_path):
    data = tmp_path / "data"
    hcert(data, "authority", "create", "420100", "--name-zh", "武汉", "--name-en", "Wuhan")
    hcert(data, "operator", "create", "--authority", "420100", "--name", "a")
    db = sqlite3.connect(data / "hcert.sqlite3")
    entry = json.loads(db.execute("SELECT entry FROM audit WHERE seq = 1").fetchone()[0])
    entry["actor"] = "someone-else"
    db.execute("UPDATE audit SET entry = ? WHERE seq = 1", (json.dumps(entry),))
    db.commit()
    db.close()
    r = hcert(data, "audit", "verify")
    assert r.returncode == 1 and "BROKEN at entry 1" in r.stderr


def test_serve_issue_verify_offline_revoke(server, tmp_path):
    url, data, _ = server
    cred = hcert(data, "operator", "create", "--authority", "510321", "--name", "clerk").stdout.strip()
    h = {"Authorization": f"Bearer {cred}"}
    from datetime import date

    worker = {**WORKER, "resident_since": date.fromordinal(date.today().toordinal() - 30).isoformat()}
    r = httpx.post(f"{url}/v1/certificates", json=worker, headers=h)
    assert r.status_code == 201, r.text
    cert = r.json()
    jwks = tmp_path / "jwks.json"
    jwks.write_text(httpx.get(f"{url}/.well-known/jwks.json").text)

    def verify(*extra):
        return subprocess.run(
            [sys.executable, "-m", "hcert_verifier", "verify", "--jwks", str(jwks), "--json", *extra, cert["qr_text"]],
            capture_output=True,
            text=True,
            timeout=60,
        )

    ok = verify()
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(ok.stdout)["certificate"]["masked_id"] == "510321********1234"
    png = tmp_path / "qr.png"
    png.write_bytes(httpx.get(f"{url}{cert['links']['png']}", headers=h).content)
    from_photo = subprocess.run(
        [sys.executable, "-m", "hcert_verifier", "verify", "--jwks", str(jwks), str(png)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert from_photo.returncode == 0, from_photo.stdout + from_photo.stderr
    assert (
        httpx.post(f"{url}/v1/certificates/{cert['id']}/revoke", json={"reason": "fever"}, headers=h).status_code == 200
    )
    status = tmp_path / "status.jwt"
    status.write_text(httpx.get(f"{url}/v1/status/510321/0").text)
    revoked = verify("--status", str(status))
    assert revoked.returncode == 1 and json.loads(revoked.stdout)["code"] == "revoked"


def test_server_output_never_contains_secrets_or_id_numbers(server):
    url, data, proc = server
    cred = hcert(data, "operator", "create", "--authority", "510321", "--name", "clerk").stdout.strip()
    httpx.post(f"{url}/v1/certificates", json=WORKER, headers={"Authorization": f"Bearer {cred}"})
    httpx.post(
        f"{url}/v1/certificates",
        content=b"{bad",
        headers={"Authorization": f"Bearer {cred}", "Content-Type": "application/json"},
    )
    proc.terminate()
    out, err = proc.communicate(timeout=10)
    text = out + err
    assert "operator create" in out  # the first-run hint
    for secret in (cred, WORKER["resident_id"], "PRIVATE KEY"):
        assert secret not in text


def test_readme_first_command_serves_and_the_example_issues(tmp_path):
    """`./scripts/serve` (the README's first command) brings the service up; examples/worker.json issues."""
    from tests.conftest import free_port, wait_ready

    port = free_port()
    # A new user's shell: the project's virtual environment is not on PATH.
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != venv_bin)
    env = {**os.environ, "HCERT_DATA_DIR": str(tmp_path / "data"), "PATH": path}
    proc = subprocess.Popen(
        ["bash", "scripts/serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc)  # the first run of scripts/serve may install .venv first
        cred = hcert(tmp_path / "data", "operator", "create", "--authority", "510321", "--name", "clerk").stdout.strip()
        body = json.loads((ROOT / "examples" / "worker.json").read_text("utf-8"))
        r = httpx.post(f"{url}/v1/certificates", json=body, headers={"Authorization": f"Bearer {cred}"})
        assert r.status_code == 201, r.text
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    # The credential command the server prints works when pasted into that shell, as printed.
    hint = next(line for line in out.splitlines() if "operator create --authority 510321" in line)
    command = hint.split("with:", 1)[1].strip()
    assert command.startswith(".venv/bin/hcert "), hint
    # ...also into a shell without HCERT_DATA_DIR: the command names the data folder it was started with.
    assert f"--data-dir {tmp_path / 'data'} " in command
    shell = {k: v for k, v in env.items() if k != "HCERT_DATA_DIR"}
    second = command.replace("--name clerk", "--name clerk2")
    pasted = subprocess.run(["bash", "-c", second], cwd=ROOT, env=shell, capture_output=True)
    assert pasted.returncode == 0 and pasted.stdout.strip(), pasted.stderr


def test_national_flow_from_the_cli(tmp_path):
    """Root on its own machine, a province's submission, bundle signers from the server: all by CLI."""
    server, national = tmp_path / "server", tmp_path / "national"
    assert hcert(server, "authority", "create", "420100", "--name-zh", "武汉", "--name-en", "Wuhan").returncode == 0
    rules = tmp_path / "rules.json"
    rules.write_text(
        json.dumps({"checkpoints": {"highway": [{"id": "HB-1", "type": "test_within_hours", "hours": 24}]}})
    )
    assert hcert(server, "rules", "sign", "--province", "42", str(rules)).returncode == 0
    assert hcert(server, "province", "export", "--province", "42", "-o", str(tmp_path / "hb.json")).returncode == 0
    signers = hcert(server, "bundle", "--signers")
    (tmp_path / "signers.json").write_text(signers.stdout)
    root = national / "root"
    r = hcert(national, "root", "init", "--root-dir", str(root))
    assert r.returncode == 0 and "roots.json" in r.stdout
    assert hcert(national, "root", "init", "--root-dir", str(root)).returncode == 2
    r = hcert(
        national,
        "trust",
        "sign",
        "--root-dir",
        str(root),
        "--no-local",
        "--submission",
        str(tmp_path / "hb.json"),
        "--bundle-signers",
        str(tmp_path / "signers.json"),
        "-o",
        str(tmp_path / "tl.jwt"),
    )
    assert r.returncode == 0 and "1 authorities from 1 provinces" in r.stdout, r.stderr
    r = hcert(server, "trust", "publish", str(tmp_path / "tl.jwt"), "--roots", str(root / "roots.json"))
    assert r.returncode == 0
    assert hcert(server, "bundle", "-o", str(tmp_path / "bundle.jwt")).returncode == 0
    from hcert_verifier import Bundle, load_roots

    bundle = Bundle.from_file(tmp_path / "bundle.jwt", load_roots(root / "roots.json"))
    assert list(bundle.authorities) == ["420100"] and bundle.provinces == ["42"]
    bad = tmp_path / "bad-rules.json"
    bad.write_text(json.dumps({"checkpoints": {"gate": [{"id": "x", "type": "max_age_hours", "hours": 0}]}}))
    r = hcert(server, "rules", "sign", "--province", "42", str(bad))
    assert r.returncode == 1 and "invalid_rules" in r.stderr
    r = hcert(national, "root", "rotate", "--root-dir", str(root))
    assert r.returncode == 0 and "--sign-with" in r.stdout
    assert len(json.loads((root / "roots.json").read_text())["roots"]) == 2


def test_verify_with_a_bundle_file_and_pinned_roots(tmp_path):
    """`hcert-verify verify --bundle F --roots R --destination 44`: the checkpoint path without sync."""
    from datetime import UTC, date, datetime

    from tests.conftest import operator_credential, run_module

    data = tmp_path / "data"
    r = hcert(data, "authority", "create", "510321", "--name-zh", "荣县", "--name-en", "Rong")
    assert r.returncode == 0
    from app.service import IssuingService
    from app.settings import Settings
    from app.store import open_store
    from app.trust import TrustNetwork

    service = IssuingService(Settings(data_dir=data), open_store("sqlite", path=str(data / "hcert.sqlite3")))
    now = datetime.now(UTC)
    TrustNetwork(service).ensure_development_network(now=now)
    operator = service.authenticate(operator_credential(data, "clerk"))
    worker = {**WORKER, "resident_since": date.fromordinal(date.today().toordinal() - 30).isoformat()}
    _, body, _ = service.issue("510321", [worker], operator=operator, now=now)
    qr = json.loads(body)["issued"][0]["qr_text"]
    service.store.close()
    assert hcert(data, "bundle", "-o", str(tmp_path / "b.jwt")).returncode == 0
    roots = data / "root" / "roots.json"

    def verify(*args):
        return run_module("hcert_verifier", "verify", *args, qr)

    bundle = ("--bundle", str(tmp_path / "b.jwt"), "--roots", str(roots))
    gate = verify(*bundle, "--destination", "44")
    assert gate.returncode == 0 and "rule GD-G1: PASS" in gate.stdout, gate.stdout + gate.stderr
    nowhere = verify(*bundle, "--destination", "44", "--checkpoint", "nowhere")
    assert nowhere.returncode == 1 and "rules_unavailable" in nowhere.stdout
    no_bundle = verify("--jwks", str(roots), "--destination", "44")
    assert no_bundle.returncode == 2 and "bundle" in no_bundle.stderr
    # A tampered bundle: no verdict at all, one line with bundle_invalid, exit 2 (docs: verifier/README.md).
    token = (tmp_path / "b.jwt").read_text()
    i = len(token) // 2
    (tmp_path / "tampered.jwt").write_text(token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :])
    tampered = verify("--bundle", str(tmp_path / "tampered.jwt"), "--roots", str(roots))
    assert tampered.returncode == 2 and tampered.stdout == ""
    assert tampered.stderr.startswith("hcert-verify: bundle_invalid:") and tampered.stderr.count("\n") == 1
