"""The `hcert` CLI's small promises: one line and a stable exit status on bad input, no
silent empty store, described options, no "serving on" before a failed bind, HEAD on
public material, quiet under `| head`, and a driver example that is always fresh."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys

import httpx

from tests.app.test_cli_and_e2e import hcert
from tests.conftest import ROOT, operator_credential


def _one_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_trust_publish_of_a_missing_file_is_a_usage_error(tmp_path):
    data = tmp_path / "data"
    assert hcert(data, "authority", "create", "510321", "--name-zh", "荣县", "--name-en", "Rong").returncode == 0
    missing = tmp_path / "missing.jwt"
    r = hcert(data, "trust", "publish", str(missing))
    assert r.returncode == 2
    assert _one_line(r) == f"hcert: cannot read trust list {missing}: No such file or directory"


def test_a_mistyped_data_dir_is_refused_and_not_created(tmp_path):
    typo = tmp_path / "dtaa"
    for args in (["operator", "create", "--authority", "510321", "--name", "clerk"], ["authority", "list"], ["jwks"]):
        r = hcert(typo, *args)
        assert r.returncode == 2, r.stderr
        assert _one_line(r).startswith(f"hcert: no data directory {typo}: check --data-dir")
    assert not typo.exists()
    # The commands that start a store say so.
    made = hcert(typo, "authority", "create", "510321", "--name-zh", "荣县", "--name-en", "Rong")
    assert made.returncode == 0 and f"hcert: new data directory {typo}" in made.stderr


def test_serve_help_describes_every_option():
    r = subprocess.run([sys.executable, "-m", "app", "serve", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    for option in ("--host HOST", "--port PORT", "--workers WORKERS", "--dev"):
        described = re.search(re.escape(option) + r" (\S+)", text.split("options:")[1])
        assert described and not described.group(1).startswith("-"), option


def test_a_failed_bind_is_reported_before_anything_is_announced(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = subprocess.run(
            [sys.executable, "-m", "app", "--data-dir", str(tmp_path / "d"), "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
    assert r.returncode == 1
    assert "serving on" not in r.stdout
    assert _one_line(r).startswith(f"hcert: cannot_listen: cannot listen on 127.0.0.1:{port}: ")
    assert not (tmp_path / "d").exists()  # nothing made for a server that never ran


def test_head_on_public_material(server):
    url, _, _ = server
    address = json.loads(httpx.get(url + "/v1/index", timeout=30).text)["trust_list"]  # a part's address
    paths = ["/v1/bundle", "/.well-known/jwks.json", "/v1/index", "/v1/index/pack", "/v1/trust-list", "/scan/"]
    paths += ["/scan/roots.json", "/scan/sw.js", f"/v1/parts/{address}", "/healthz", "/readyz"]
    for path in paths:
        get = httpx.get(url + path, timeout=30)
        head = httpx.head(url + path, timeout=30)
        assert get.status_code == 200, path
        assert head.status_code == 200 and head.content == b"", path
        assert head.headers.get("etag") == get.headers.get("etag")
        for answer in (get, httpx.get(url + path, headers={"Accept-Encoding": "identity"}, timeout=30)):
            assert answer.headers.get("vary", "").lower().count("accept-encoding") <= 1, (path, answer.headers)


def test_piping_into_head_is_quiet(tmp_path):
    err = tmp_path / "stderr"
    # The OpenAPI document is far larger than a pipe buffer: the writer sees the pipe close.
    done = subprocess.run(
        ["bash", "-c", f'"{sys.executable}" -m app openapi 2>"{err}" | head -n 1'],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout.startswith("{")
    assert err.read_text() == ""


def test_driver_example_is_stamped_fresh(tmp_path):
    at = "2020-03-10T09:00:00+08:00"
    r = subprocess.run(
        [sys.executable, "-m", "app", "example", "driver", "--at", at], capture_output=True, text=True, cwd=ROOT
    )
    assert r.returncode == 0
    # At the documented example time it is exactly examples/driver.json (tested 6 hours before).
    assert json.loads(r.stdout) == json.loads((ROOT / "examples" / "driver.json").read_text("utf-8"))
    worker = subprocess.run(
        [sys.executable, "-m", "app", "example", "worker"], capture_output=True, text=True, cwd=ROOT
    )
    assert json.loads(worker.stdout) == json.loads((ROOT / "examples" / "worker.json").read_text("utf-8"))
    bad = subprocess.run(
        [sys.executable, "-m", "app", "example", "driver", "--at", "yesterday"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert bad.returncode == 2 and _one_line(bad).startswith("hcert: --at 'yesterday' is not an ISO-8601 time")


def test_readme_driver_commands_work_as_written(server, tmp_path):
    """The README's freight example, run as written against a real server (whose clock is the real one)."""
    url, data, _ = server
    readme = (ROOT / "README.md").read_text("utf-8")
    assert ".venv/bin/hcert example driver > driver.json" in readme
    assert "-d @driver.json http://127.0.0.1:8000/v1/certificates" in readme
    token = operator_credential(data, "clerk")
    made = subprocess.run(
        ["bash", "-c", f'"{sys.executable}" -m app example driver > driver.json'], cwd=tmp_path, timeout=60
    )
    assert made.returncode == 0
    r = httpx.post(
        f"{url}/v1/certificates",
        content=(tmp_path / "driver.json").read_bytes(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "freight-test"


def test_a_setting_hcert_cannot_use_is_named_in_one_line(tmp_path):
    """A mistyped HCERT_* value or Redis URL stops the command (exit 2), never silently off or localhost."""
    import os

    data = tmp_path / "data"
    data.mkdir()
    cases = {
        "HCERT_REDIS_WAIT_MS": ("x", "hcert: invalid_setting: HCERT_REDIS_WAIT_MS must be a whole number, not 'x'"),
        "HCERT_REDIS_WAIT_REPLICAS": ("-1", "hcert: invalid_setting: HCERT_REDIS_WAIT_REPLICAS must be at least 0"),
        "HCERT_REQUIRE_IDEMPOTENCY_KEY": ("2", "hcert: invalid_setting: HCERT_REQUIRE_IDEMPOTENCY_KEY must be one of"),
        "HCERT_STORE": ("postgres", "hcert: invalid_setting: HCERT_STORE / --store: unknown store 'postgres'"),
    }
    for name, (value, said) in cases.items():
        r = hcert(data, "authority", "list", env={**os.environ, name: value})
        assert r.returncode == 2 and _one_line(r).startswith(said), (name, r.stderr)
    nodes = "a cluster URL names its nodes as host:port[,host:port...], not "
    urls = {
        "redis+cluster://": nodes + "''",
        "redis+cluster://node-a": nodes + "'node-a'",
        "redis+cluster://a:1,b:x": nodes + "'b:x'",
        "foo://x": "the scheme must be one of redis://, rediss://, unix://, redis+cluster://, rediss+cluster://, "
        "not 'foo'",
    }
    for url, said in urls.items():
        r = hcert(data, "--store", "redis", "--redis-url", url, "authority", "list")
        assert r.returncode == 2 and _one_line(r) == f"hcert: invalid_setting: HCERT_REDIS_URL / --redis-url: {said}"
    # A cluster of which no node answers: one line naming the cause.
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    free = port.getsockname()[1]
    port.close()
    r = hcert(data, "--store", "redis", "--redis-url", f"redis+cluster://127.0.0.1:{free}", "authority", "list")
    line = _one_line(r)
    assert r.returncode == 1, line
    assert line.startswith("hcert: store_unavailable: no node of the Redis Cluster answers ("), line
    assert f"127.0.0.1:{free}" in line and line.endswith(")"), line


def test_an_admin_command_signs_with_the_address_the_server_announced(server, tmp_path):
    """`hcert trust sign` in another shell (no HCERT_BASE_URL) names the server's own address, so devices still sync."""
    import os

    url, data, _ = server
    assert (data / "base_url").read_text().strip() == url
    env = {k: v for k, v in os.environ.items() if k != "HCERT_BASE_URL"}
    renewed = hcert(data, "trust", "sign", "--root-dir", str(data / "root"), "--publish", env=env)
    assert renewed.returncode == 0, renewed.stderr
    device = tmp_path / "device"
    roots = str(data / "root" / "roots.json")
    synced = subprocess.run(
        [sys.executable, "-m", "hcert_verifier", "sync", url, "--data-dir", str(device), "--roots", roots],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert synced.returncode == 0, synced.stderr
    # A mistyped address is refused before anything is signed.
    bad = hcert(data, "trust", "sign", "--root-dir", str(data / "root"), env={**env, "HCERT_BASE_URL": "ftp://x"})
    assert bad.returncode == 2
    assert _one_line(bad).startswith("hcert: invalid_setting: HCERT_BASE_URL must be an http:// or https:// address")
