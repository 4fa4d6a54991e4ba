"""Province-run servers: three `hcert serve` processes and an offline root form one network.

Sichuan's server issues for Rong County, Guangdong's server publishes Guangdong's rules,
the distribution server hands out the bundle. The national root signs the trust list on
its own (offline) directory. A Guangdong gate device syncs only from the distribution
server, verifies a Sichuan certificate, and sees its revocation after one sync.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date

import httpx
import pytest

from app.trust import SAMPLE_RULES
from tests.conftest import ROOT, WORKER, free_port, stop, wait_ready


def hcert(data_dir, *args, base_url=None):
    env = {**os.environ, "HCERT_DEV": ""}
    if base_url:
        env["HCERT_BASE_URL"] = base_url
    return subprocess.run(
        [sys.executable, "-m", "app", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )


def ok(proc):
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def device(*args):
    return subprocess.run(
        [sys.executable, "-m", "hcert_verifier", *args], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


class Server:
    """An `hcert serve` (production mode) on a free loopback port, its data directory and base URL."""

    def __init__(self, data_dir):
        self.data = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def cli(self, *args):
        return hcert(self.data, *args, base_url=self.url)

    def start(self):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app", "--data-dir", str(self.data), "serve", "--port", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "HCERT_BASE_URL": self.url, "HCERT_DEV": ""},
        )
        wait_ready(self.url, self.proc)

    def stop(self):
        if self.proc is not None:
            stop(self.proc)


@pytest.fixture
def network(tmp_path):
    servers = {name: Server(tmp_path / name) for name in ("sichuan", "guangdong", "distribution")}
    try:
        yield servers
    finally:
        for s in servers.values():
            s.stop()


def test_three_servers_one_network(network, tmp_path):
    sichuan, guangdong, dist = network["sichuan"], network["guangdong"], network["distribution"]
    offline = tmp_path / "offline"
    root = offline / "root"

    # Each province sets up its own server.
    ok(sichuan.cli("authority", "create", "510321", "--name-zh", "荣县卫生健康局", "--name-en", "Rong County"))
    clerk = ok(sichuan.cli("operator", "create", "--authority", "510321", "--name", "clerk")).stdout.strip()
    ok(guangdong.cli("authority", "create", "440300", "--name-zh", "深圳市卫生健康委员会", "--name-en", "Shenzhen"))
    (tmp_path / "gd-rules.json").write_text(json.dumps(SAMPLE_RULES, ensure_ascii=False))
    ok(guangdong.cli("rules", "sign", "--province", "44", str(tmp_path / "gd-rules.json")))
    ok(sichuan.cli("province", "export", "--province", "51", "-o", str(tmp_path / "sc.json")))
    ok(guangdong.cli("province", "export", "--province", "44", "-o", str(tmp_path / "gd.json")))
    (tmp_path / "signers.json").write_text(ok(dist.cli("bundle", "--signers")).stdout)
    assert json.loads((tmp_path / "sc.json").read_text())["authorities"][0]["base_url"] == sichuan.url

    # The national root, offline, signs the trust list; the distribution server checks and publishes it.
    ok(hcert(offline, "root", "init", "--root-dir", str(root)))
    signed = hcert(
        offline,
        "trust",
        "sign",
        "--root-dir",
        str(root),
        "--no-local",
        "--bundle-signers",
        str(tmp_path / "signers.json"),
        "--submission",
        str(tmp_path / "sc.json"),
        "--submission",
        str(tmp_path / "gd.json"),
        "-o",
        str(tmp_path / "tl.jwt"),
    )
    assert ok(signed).stdout.startswith("trust list signed: 2 authorities from 2 provinces")
    ok(dist.cli("trust", "publish", str(tmp_path / "tl.jwt"), "--roots", str(root / "roots.json")))
    for s in (sichuan, guangdong, dist):
        s.start()

    # Sichuan issues; the distribution server pulls; the device syncs from it alone.
    worker = {**WORKER, "resident_since": date.fromordinal(date.today().toordinal() - 30).isoformat()}
    auth = {"Authorization": f"Bearer {clerk}"}
    cert = httpx.post(f"{sichuan.url}/v1/certificates", json=worker, headers=auth).json()
    pulled = ok(dist.cli("network", "pull"))
    assert "2 stored, 0 already current, 0 failed" in pulled.stdout  # Sichuan's list 0, Guangdong's rules
    gate = tmp_path / "gate"
    ok(device("sync", dist.url, "--roots", str(root / "roots.json"), "--data-dir", str(gate)))
    verify = ("verify", "--data-dir", str(gate), "--destination", "44", "--checkpoint", "gate", "--json")
    first = device(*verify, cert["qr_text"])
    assert first.returncode == 0, first.stdout + first.stderr
    verdict = json.loads(first.stdout)
    assert verdict["code"] == "ok" and verdict["status_checked"]
    assert {r["id"] for r in verdict["rules"]} >= {"GD-G1", "GD-G2", "GD-G3"}

    # Sichuan revokes; after one pull and one sync the Guangdong gate refuses it.
    r = httpx.post(f"{sichuan.url}/v1/certificates/{cert['id']}/revoke", json={"reason": "fever"}, headers=auth)
    assert r.status_code == 200, r.text
    pulled = ok(dist.cli("network", "pull"))
    assert "1 stored, 1 already current, 0 failed" in pulled.stdout
    assert "updated" in ok(device("sync", dist.url, "--data-dir", str(gate))).stdout
    revoked = device(*verify, cert["qr_text"])
    assert revoked.returncode == 1 and json.loads(revoked.stdout)["code"] == "revoked", revoked.stdout

    # Sichuan's server goes down: the pull says so, exits 1, and the last good copy stays in the bundle.
    before = httpx.get(f"{dist.url}/v1/bundle").text
    sichuan.stop()
    down = dist.cli("network", "pull")
    assert down.returncode == 1 and f"{sichuan.url}/v1/status/510321: unreachable" in down.stderr
    assert httpx.get(f"{dist.url}/v1/bundle").text == before
    assert json.loads(device(*verify, cert["qr_text"]).stdout)["code"] == "revoked"
