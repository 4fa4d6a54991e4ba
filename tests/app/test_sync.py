"""`hcert-verify sync` against a running server, and what it does when things go wrong."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import date

import httpx
import pytest

from tests.conftest import WORKER, LoopbackServer, operator_credential


def hv(*args):
    return subprocess.run([sys.executable, "-m", "hcert_verifier", *args], capture_output=True, text=True, timeout=60)


def test_sync_then_verify_offline_then_revocation_arrives(server, tmp_path):
    url, data, _ = server
    device = tmp_path / "device"
    roots = data / "root" / "roots.json"
    first = hv("sync", url, "--roots", str(roots), "--data-dir", str(device))
    assert first.returncode == 0 and "updated" in first.stdout, first.stderr
    bundle = httpx.get(f"{url}/v1/bundle", headers={"Accept-Encoding": "identity"})
    gzipped = httpx.get(f"{url}/v1/bundle", headers={"Accept-Encoding": "gzip"})
    assert gzipped.headers["content-encoding"] == "gzip"
    # What came over the wire: the gzipped body and its status line and headers, not the bundle's length.
    fetched = int(re.search(r"fetched (\d+) bytes in 1 responses", first.stdout).group(1))
    assert gzipped.num_bytes_downloaded < fetched < len(bundle.content)
    again = hv("sync", url, "--data-dir", str(device))
    assert again.returncode == 0 and "unchanged" in again.stdout
    assert int(re.search(r"fetched (\d+) bytes", again.stdout).group(1)) < gzipped.num_bytes_downloaded  # 304: no body
    h = {"Authorization": f"Bearer {operator_credential(data, 'clerk')}"}
    worker = {**WORKER, "resident_since": date.fromordinal(date.today().toordinal() - 30).isoformat()}
    cert = httpx.post(f"{url}/v1/certificates", json=worker, headers=h).json()
    assert hv("sync", url, "--data-dir", str(device)).returncode == 0  # the new status list
    ok = hv("verify", "--data-dir", str(device), "--destination", "44", "--json", cert["qr_text"])
    assert ok.returncode == 0, ok.stdout + ok.stderr
    out = json.loads(ok.stdout)
    assert out["status_checked"] and {r["id"] for r in out["rules"]} >= {"GD-G1", "GD-G3"}
    httpx.post(f"{url}/v1/certificates/{cert['id']}/revoke", json={"reason": "fever"}, headers=h)
    # Before the next sync the device does not know yet; after it, it does.
    assert hv("verify", "--data-dir", str(device), cert["qr_text"]).returncode == 0
    assert hv("sync", url, "--data-dir", str(device)).returncode == 0
    revoked = hv("verify", "--data-dir", str(device), "--json", cert["qr_text"])
    assert revoked.returncode == 1 and json.loads(revoked.stdout)["code"] == "revoked"


class _Serve(LoopbackServer):
    """A loopback HTTP server that answers /v1/bundle with whatever the test sets."""

    def __init__(self):
        self.body = {"data": b"", "status": 200}
        super().__init__(lambda path: (self.body["status"], self.body["data"]))


@pytest.fixture
def fake():
    s = _Serve()
    yield s
    s.close()


def test_sync_keeps_the_last_good_bundle(server, fake, tmp_path):
    url, data, proc = server
    device = tmp_path / "device"
    assert hv("sync", url, "--roots", str(data / "root" / "roots.json"), "--data-dir", str(device)).returncode == 0
    good = (device / "bundle.json").read_bytes()
    # A tampered bundle.
    envelope = json.loads(good)
    h, p, s = envelope["bundle"].split(".")
    fake.body["data"] = json.dumps({**envelope, "bundle": f"{h}.{p[:-8]}AAAAAAAA.{s}"}).encode()
    bad = hv("sync", fake.url, "--data-dir", str(device))
    assert bad.returncode == 1 and "bundle_invalid" in bad.stderr and "kept" in bad.stderr
    assert (device / "bundle.json").read_bytes() == good
    # A server error, and garbage.
    fake.body.update(status=500, data=b"oops")
    assert hv("sync", fake.url, "--data-dir", str(device)).returncode == 1
    fake.body.update(status=200, data=b"\xff" * 100)
    assert hv("sync", fake.url, "--data-dir", str(device)).returncode == 1
    assert (device / "bundle.json").read_bytes() == good
    # A newer bundle arrives; then the old one is replayed and refused.
    newer = httpx.get(f"{url}/v1/bundle").content
    h2 = {"Authorization": f"Bearer {operator_credential(data, 'second')}"}  # a new status list changes the bundle
    worker = {**WORKER, "resident_since": date.fromordinal(date.today().toordinal() - 30).isoformat()}
    httpx.post(f"{url}/v1/certificates", json=worker, headers=h2)
    newest = httpx.get(f"{url}/v1/bundle").content
    assert newest != newer
    fake.body.update(status=200, data=newest)
    assert hv("sync", fake.url, "--data-dir", str(device)).returncode == 0
    fake.body.update(data=good)
    replay = hv("sync", fake.url, "--data-dir", str(device))
    assert replay.returncode == 1 and "bundle_rollback" in replay.stderr
    assert (device / "bundle.json").read_bytes() == newest
    # The server is gone: the device keeps working from what it has.
    proc.terminate()
    proc.communicate(timeout=10)
    assert hv("sync", url, "--data-dir", str(device)).returncode == 1
    assert hv("verify", "--data-dir", str(device), "CNHC:/00").returncode == 1  # verifies (and refuses) offline


def test_sync_usage_errors(tmp_path):
    r = hv("sync", "ftp://example.invalid", "--data-dir", str(tmp_path))
    assert r.returncode == 1 and "http" in r.stderr
    r = hv("sync", "http://127.0.0.1:9", "--data-dir", str(tmp_path))
    assert r.returncode == 2 and "roots" in r.stderr  # nothing pinned yet
    r = hv("verify", "--data-dir", str(tmp_path), "CNHC:/00")
    assert r.returncode == 2 and "sync" in r.stderr
