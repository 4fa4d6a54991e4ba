"""Shared test helpers: fixed times, test keys, a known-good application."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

from issuer import EXAMPLE_DRIVER, EXAMPLE_WORKER

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "vectors"
SHARED = ROOT.parent / "shared"
CST = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2020, 3, 10, 9, 0, tzinfo=CST)


def resident_id(prefix17: str) -> str:
    """Return an 18-character resident ID with a correct GB 11643 check digit."""
    from stdnum.cn import ric

    return prefix17 + ric.calc_check_digit(prefix17 + "0")


# The examples the API documents and examples/*.json hold (a test keeps those files equal).
WORKER = dict(EXAMPLE_WORKER)
DRIVER = dict(EXAMPLE_DRIVER)


@pytest.fixture
def signing_key():
    from keys import generate_signing_key

    return generate_signing_key()


@pytest.fixture
def trust(signing_key):
    from hcert_verifier import JwksTrust, TrustedKey

    return JwksTrust([TrustedKey(signing_key.kid, signing_key.public_key, issuer="510321")])


def run_module(*args: str, input: str | None = None):
    """Run ``python -m`` in a subprocess and return the completed process."""
    import subprocess

    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, input=input, timeout=120)


def free_port() -> int:
    """Return a free TCP port on the loopback interface."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_DURABLE = ("--appendonly", "yes", "--appendfsync", "everysec", "--daemonize", "no")


def _redis_server(workdir, *args: str):
    """Start a private redis-server on a free loopback port in ``workdir``; return (process, port) once it answers."""
    import shutil
    import subprocess
    import time

    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed; scripts/test installs it")
    port = free_port()
    proc = subprocess.Popen(
        # Durable as production runs it (/readyz refuses a Redis without an append-only file).
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(workdir), *_DURABLE, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    try:
        for _ in range(200):
            try:
                client.ping()
                return proc, port
            except redis.ConnectionError:
                if proc.poll() is not None:
                    break
                time.sleep(0.05)
    finally:
        client.close()
    proc.kill()
    pytest.fail("redis-server did not start")


def _stop_all(procs) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except Exception:
            proc.kill()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """Start a private redis-server on a free loopback port for the test session."""
    proc, port = _redis_server(tmp_path_factory.mktemp("redis"))
    yield f"redis://127.0.0.1:{port}/0"
    _stop_all([proc])


def start_redis_cluster(workdir, masters: int = 3, *, deadline: float = 30.0):
    """Start a Redis Cluster of ``masters`` masters on loopback; return (processes, ports).

    Each node is ``redis-server --cluster-enabled yes`` in its own folder of
    ``workdir``; ``redis-cli --cluster create`` assigns the slots. Fails (with
    every node stopped) unless the cluster reports ``cluster_state:ok`` on every
    node within ``deadline`` seconds.
    """
    import shutil
    import subprocess
    import time
    from pathlib import Path

    import redis

    procs, ports = [], []
    try:
        for i in range(masters):
            node = Path(workdir) / f"node{i}"
            node.mkdir(parents=True, exist_ok=True)
            proc, port = _redis_server(
                node,
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                str(node / "nodes.conf"),
                "--cluster-node-timeout",
                "2000",
                "--cluster-port",  # the bus port, else port + 10000 (past 65535 for a high free port)
                str(free_port()),
            )
            procs.append(proc)
            ports.append(port)
        cli = shutil.which("redis-cli")
        if cli is None:
            pytest.fail("redis-cli is not installed; scripts/test installs it")
        created = subprocess.run(
            [cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports), "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=deadline,
        )
        if created.returncode != 0:
            pytest.fail(f"redis-cli --cluster create failed: {created.stdout[-500:]} {created.stderr[-500:]}")
        end = time.monotonic() + deadline
        clients = [redis.Redis(port=p) for p in ports]
        try:
            while True:
                # redis-py answers CLUSTER INFO as a dict.
                text = [str(c.cluster("INFO")) for c in clients]
                if all("'cluster_state': 'ok'" in t for t in text):
                    break
                if time.monotonic() > end:
                    pytest.fail(f"the Redis Cluster did not become ready: {text}")
                time.sleep(0.1)
        finally:
            for c in clients:
                c.close()
    except BaseException:
        _stop_all(procs)
        raise
    return procs, ports


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory):
    """A real three-master Redis Cluster on loopback for the test session: its ``redis+cluster://`` URL."""
    procs, ports = start_redis_cluster(tmp_path_factory.mktemp("redis-cluster"))
    yield "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in ports)
    _stop_all(procs)


def flush_redis(url: str) -> None:
    """Empty a test Redis (every master of a cluster)."""
    import redis
    import redis.cluster

    if url.startswith("redis+cluster://"):
        host, _, port = url.removeprefix("redis+cluster://").split(",")[0].rpartition(":")
        client = redis.cluster.RedisCluster(host=host, port=int(port))
        client.flushall(target_nodes=redis.cluster.RedisCluster.PRIMARIES)
    else:
        client = redis.Redis.from_url(url)
        client.flushdb()
    client.close()


def open_test_store(kind: str, request, tmp_path):
    """Open an empty store of ``kind`` (sqlite, redis, cluster) for one test."""
    from app.store import open_store

    if kind == "sqlite":
        return open_store("sqlite", path=str(tmp_path / "hcert.sqlite3"))
    url = request.getfixturevalue("redis_cluster_url" if kind == "cluster" else "redis_url")
    flush_redis(url)
    return open_store("redis", url=url)


@pytest.fixture(params=["sqlite", "redis"])
def store(request, tmp_path):
    """Each backend in turn: SQLite in a temporary folder, Redis flushed."""
    s = open_test_store(request.param, request, tmp_path)
    yield s
    s.close()


class Clock:
    """A settable clock for the app."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock(NOW)


@pytest.fixture
def app_client(store, tmp_path, clock):
    """A TestClient of the app on ``store``, with the development authority and an operator."""
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.settings import Settings

    settings = Settings(data_dir=tmp_path / "data", base_url="https://hcert.test", dev=True)
    app = create_app(settings, store=store, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        service = app.state.service
        _, token = service.create_operator("510321", "clerk", "operator", actor="test", now=NOW)
        client.headers["Authorization"] = f"Bearer {token}"
        client.service = service  # type: ignore[attr-defined]
        yield client


def wait_ready(url: str, proc) -> None:
    """Poll ``/readyz`` until it answers 200; fail with the server's stderr if the process dies or 60 s pass."""
    import time

    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    pytest.fail(f"server did not start: {proc.communicate()[1]}")


def start_hcert(data_dir, *, dev: bool = True, env: dict[str, str] | None = None):
    """Start `hcert serve` (embedded store) on a free loopback port; return (process, base URL) once ready.

    ``dev`` passes ``--dev`` (development authority, root and rules on an empty store).
    """
    import os
    import subprocess

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "--data-dir", str(data_dir), "serve", "--port", str(port)]
        + (["--dev"] if dev else []),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "HCERT_BASE_URL": url, **(env or {})},
    )
    wait_ready(url, proc)
    return proc, url


def stop(proc) -> None:
    """Terminate a server started by the tests and collect its output."""
    if proc.returncode is None:
        proc.terminate()
        proc.communicate(timeout=10)


@pytest.fixture
def server(tmp_path):
    """Run `hcert serve` on a free loopback port; yield (url, data dir, process)."""
    data = tmp_path / "data"
    proc, url = start_hcert(data)
    yield url, data, proc
    stop(proc)


def operator_credential(data_dir, name: str, authority: str = "510321") -> str:
    """Create an operator with the `hcert` CLI (as an administrator would) and return its credential."""
    import subprocess

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "--data-dir",
            str(data_dir),
            "operator",
            "create",
            "--authority",
            authority,
            "--name",
            name,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


class LoopbackServer:
    """A loopback HTTP/1.1 server that answers every GET with ``answer(path) -> (status, body)``.

    Stands for another server in a test (a province's hcert, a tampering proxy). ``url``
    is its address; ``close()`` stops it.
    """

    def __init__(self, answer):
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                status, body = answer(self.path)
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
