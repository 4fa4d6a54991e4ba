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


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """Start a private redis-server on a free loopback port for the test session."""
    import shutil
    import subprocess
    import time

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed; scripts/test installs it")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--daemonize",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("redis-server did not start")
    client.close()
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(params=["sqlite", "redis"])
def store(request, tmp_path):
    """Each backend in turn: SQLite in a temporary folder, Redis flushed."""
    from app.store import open_store

    if request.param == "sqlite":
        s = open_store("sqlite", path=str(tmp_path / "hcert.sqlite3"))
    else:
        url = request.getfixturevalue("redis_url")
        import redis

        redis.Redis.from_url(url).flushdb()
        s = open_store("redis", url=url)
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
