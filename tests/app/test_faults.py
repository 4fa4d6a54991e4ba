"""Faults: a real `hcert serve` (uvicorn) while its store fails.

Keep-alive clients issue certificates while a private redis-server is killed
(SIGKILL, then restarted from its append-only file) and frozen (SIGSTOP, then
SIGCONT); the embedded store's disk fills (RLIMIT_FSIZE on the server process)
and its database is read-only after a crash. Every answer is a 201 or a 503
problem+json with ``Retry-After``; during an outage every answer is a 503 within
a second; no connection is dropped; once the store is back, retrying each 503
with the same Idempotency-Key leaves exactly the acknowledged certificates
stored, and the audit chain intact.
"""

from __future__ import annotations

import http.client
import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, WORKER, free_port, stop, wait_ready

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")

#: The bound on an answer during an outage (the store's timeouts are 0.5 s).
ANSWER_WITHIN = 1.0
BODY = json.dumps(WORKER).encode()


# -- the parts ------------------------------------------------------------------------
class RedisServer:
    """A private redis-server with an append-only file, restartable on the same port and directory."""

    def __init__(self, workdir: Path, *, appendonly: str = "yes") -> None:
        self.workdir = workdir
        self.appendonly = appendonly
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import redis

        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                self.appendonly,
                "--appendfsync",
                "everysec",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        for _ in range(200):
            try:
                if client.ping():
                    break
            except redis.RedisError:
                time.sleep(0.05)
        client.close()

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        if sig == signal.SIGKILL:
            self.proc.wait(timeout=10)
        elif sig == signal.SIGSTOP:
            _wait_state(self.proc.pid, "T")

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(timeout=10)


def _wait_state(pid: int, state: str) -> None:
    for _ in range(200):
        if Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == state:
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} never reached state {state}")


def _hcert(data: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **env},
        timeout=60,
    )


_SERVE = ("serve", "--dev", "--port")


def _serve(data: Path, env: dict[str, str], port: int, *, prefix: list[str] | None = None) -> subprocess.Popen[str]:
    # The server's output goes to a file: a pipe nobody reads would fill up and block the server.
    with open(data.parent / f"serve-{port}.log", "w") as out:
        return subprocess.Popen(
            [*(prefix or []), sys.executable, "-m", "app", "--data-dir", str(data), *_SERVE, str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
            env={**os.environ, "HCERT_BASE_URL": f"http://127.0.0.1:{port}", **env},
        )


@dataclass
class Answer:
    key: str
    start: float
    end: float
    status: int = 0
    code: str | None = None
    retry_after: str | None = None
    content_type: str = ""
    jti: str | None = None
    dropped: str | None = None

    @property
    def took(self) -> float:
        return self.end - self.start


@dataclass
class KeepAliveClient:
    """One keep-alive connection issuing certificates, each with a new Idempotency-Key."""

    port: int
    token: str
    answers: list[Answer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def issue(self, key: str | None = None) -> Answer:
        key = key or uuid.uuid4().hex
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json", "Idempotency-Key": key}
        answer = Answer(key, time.monotonic(), 0.0)
        try:
            self.conn.request("POST", "/v1/certificates", body=BODY, headers=headers)
            response = self.conn.getresponse()
            body = response.read()
            answer.status = response.status
            answer.retry_after = response.getheader("Retry-After")
            answer.content_type = response.getheader("Content-Type", "")
            data = json.loads(body)
            answer.code = data.get("code")
            answer.jti = data.get("id") if response.status == 201 else None
            if response.getheader("Connection", "").lower() == "close":
                answer.dropped = "Connection: close"
        except (OSError, http.client.HTTPException) as e:
            answer.dropped = type(e).__name__
            self.conn.close()  # a new connection for the next request; the drop is counted
        answer.end = time.monotonic()
        self.answers.append(answer)
        return answer

    def close(self) -> None:
        self.conn.close()

    def get(self, path: str) -> tuple[int, Any]:
        self.conn.request("GET", path, headers={"Authorization": f"Bearer {self.token}"})
        response = self.conn.getresponse()
        return response.status, json.loads(response.read())


@pytest.fixture
def connect():
    """Make keep-alive clients; close them at the end."""
    made: list[KeepAliveClient] = []

    def make(port: int, token: str) -> KeepAliveClient:
        made.append(KeepAliveClient(port, token))
        return made[-1]

    yield make
    for client in made:
        client.close()


def _run_clients(clients: list[KeepAliveClient], stop_event: threading.Event) -> list[threading.Thread]:
    def loop(client: KeepAliveClient) -> None:
        while not stop_event.is_set():
            client.issue()

    threads = [threading.Thread(target=loop, args=(c,), daemon=True) for c in clients]
    for t in threads:
        t.start()
    return threads


def _assert_honest(answers: list[Answer]) -> None:
    """Every answer is a 201 or a store 503 problem+json with Retry-After; none dropped."""
    dropped = [a.dropped for a in answers if a.dropped]
    assert not dropped, f"{len(dropped)} of {len(answers)} requests got no answer: {dropped[:5]}"
    for a in answers:
        assert a.status in (201, 503), (a.status, a.code)
        if a.status == 503:
            assert a.code in ("store_unavailable", "outcome_unknown"), a.code
            assert a.content_type.startswith("application/problem+json") and a.retry_after, a


def _assert_outage(answers: list[Answer], begin: float, end: float, *, clients: int) -> None:
    """Requests made wholly inside [begin, end] were each answered 503 within a second."""
    inside = [a for a in answers if a.start >= begin and a.end <= end]
    assert len(inside) >= clients, f"only {len(inside)} requests fell inside the outage"
    assert all(a.status == 503 for a in inside), [(a.status, a.code) for a in inside if a.status != 503]
    slow = [round(a.took, 3) for a in inside if a.took >= ANSWER_WITHIN]
    assert not slow, f"answers slower than {ANSWER_WITHIN} s during the outage: {slow}"


def _settle(client: KeepAliveClient, answers: list[Answer]) -> dict[str, str]:
    """Retry every unanswered or 503 request with its Idempotency-Key; return key -> certificate id."""
    acknowledged: dict[str, str] = {}
    for a in answers:
        if a.status == 201:
            assert a.jti is not None
            assert acknowledged.setdefault(a.key, a.jti) == a.jti
    for key in {a.key for a in answers} - set(acknowledged):
        for _ in range(50):
            retried = client.issue(key)
            if retried.status == 201:
                assert retried.jti is not None
                acknowledged[key] = retried.jti
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"request {key} never succeeded after the store came back")
    return acknowledged


def _wait_readyz(port: int, *, status: int = 200, timeout: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/readyz")
            response = conn.getresponse()
            last = (response.status, json.loads(response.read()))
            if response.status == status:
                return last[1]  # type: ignore[index,no-any-return]
        except (OSError, http.client.HTTPException) as e:
            last = e
        finally:
            conn.close()
        time.sleep(0.1)
    raise AssertionError(f"/readyz never answered {status}: {last}")


def _listed(client: KeepAliveClient) -> set[str]:
    status, listing = client.get("/v1/certificates?page_size=500")
    assert status == 200 and listing["total"] == len(listing["items"]), listing
    return {item["id"] for item in listing["items"]}


def _audit_intact(data: Path, env: dict[str, str]) -> None:
    result = _hcert(data, env, "audit", "verify")
    assert result.returncode == 0 and "audit chain intact" in result.stdout, result.stderr


# -- Redis killed and frozen ------------------------------------------------------------
def test_redis_killed_and_frozen(tmp_path, connect):
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    server = RedisServer(redis_dir)
    server.start()
    data = tmp_path / "data"
    env = {"HCERT_STORE": "redis", "HCERT_REDIS_URL": server.url}
    port = free_port()
    proc = _serve(data, env, port)
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc)
        token = _hcert(data, env, "operator", "create", "--authority", "510321", "--name", "clerk").stdout.strip()
        clients = [connect(port, token) for _ in range(3)]
        stop_event = threading.Event()
        threads = _run_clients(clients, stop_event)
        time.sleep(1.0)

        server.signal(signal.SIGKILL)
        killed = time.monotonic()
        time.sleep(1.5)
        restarting = time.monotonic()
        server.start()  # the same port and append-only file
        time.sleep(1.0)

        server.signal(signal.SIGSTOP)
        frozen = time.monotonic()
        time.sleep(1.5)
        thawing = time.monotonic()
        server.signal(signal.SIGCONT)
        time.sleep(1.0)
        stop_event.set()
        for t in threads:
            t.join(timeout=15)

        answers = [a for c in clients for a in c.answers]
        _assert_honest(answers)
        _assert_outage(answers, killed, restarting, clients=len(clients))
        _assert_outage(answers, frozen, thawing, clients=len(clients))
        assert any(a.status == 201 and a.start > thawing for a in answers), "no certificate issued after recovery"

        _wait_readyz(port)
        acknowledged = _settle(clients[0], answers)
        _assert_honest(clients[0].answers)

        from app.store import open_store

        store = open_store("redis", url=server.url)
        try:
            stored, total = store.list_certificates("510321", limit=100_000)
        finally:
            store.close()
        assert total == len(stored) == len(acknowledged), (total, len(acknowledged))
        assert {r.jti for r in stored} == set(acknowledged.values())
        _audit_intact(data, env)
    finally:
        stop(proc)
        server.close()


def test_redis_without_append_only_file_or_data_is_not_ready(tmp_path):
    import redis

    from app.store import open_store

    server = RedisServer(tmp_path, appendonly="no")
    server.start()
    store = open_store("redis", url=server.url)
    try:
        assert store.readiness() == ["appendonly_off"]
        server.signal(signal.SIGKILL)
        assert store.readiness() == ["store_unreachable"]
        server.start()  # without an append-only file: empty
        assert store.readiness() == ["appendonly_off", "store_emptied"]
        admin = redis.Redis(port=server.port)
        admin.config_set("appendonly", "yes")
        admin.close()
        assert store.readiness() == ["store_emptied"]
    finally:
        store.close()
        server.close()


def test_the_breaker_refuses_at_once_while_redis_is_frozen_then_probes(tmp_path):
    from app.breaker import COOLDOWN, GuardedStore
    from app.store import StoreUnavailable, open_store

    refused = "not tried again yet"  # the breaker's refusal, sent nowhere
    server = RedisServer(tmp_path)
    server.start()
    raw = open_store("redis", url=server.url)
    store = GuardedStore(raw)
    try:
        assert store.list_authorities() == []
        server.signal(signal.SIGSTOP)
        with pytest.raises(StoreUnavailable) as reached:
            store.list_authorities()  # reaches the frozen Redis and waits out the socket timeout
        assert refused not in str(reached.value)
        for _ in range(20):
            with pytest.raises(StoreUnavailable, match=refused):
                store.get_authority("510321")
        assert store.readiness() == ["store_unreachable"]  # readiness always asks the store itself
        time.sleep(COOLDOWN)
        with pytest.raises(StoreUnavailable) as probe:
            store.list_authorities()  # the probe reaches Redis
        assert refused not in str(probe.value)
        with pytest.raises(StoreUnavailable, match=refused):
            store.list_authorities()
        server.signal(signal.SIGCONT)
        time.sleep(COOLDOWN)
        assert store.list_authorities() == []  # the probe is answered: closed again
        assert store.get_authority("510321") is None
    finally:
        raw.close()
        server.close()


def test_readiness_asks_the_store_not_the_breaker(tmp_path):
    """Redis back while the breaker still refuses: /readyz says ready at once, not a bare 503."""
    import redis
    from fastapi.testclient import TestClient

    from app.breaker import GuardedStore
    from app.main import create_app
    from app.settings import Settings
    from tests.conftest import NOW, Clock

    server = RedisServer(tmp_path)
    server.start()
    # The app opens the store itself, so that it is behind the breaker as in a deployment.
    app = create_app(
        Settings(data_dir=tmp_path / "data", dev=True, store="redis", redis_url=server.url), clock=Clock(NOW)
    )
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            store = app.state.service.store
            assert isinstance(store, GuardedStore)
            assert client.get("/readyz").json() == {"status": "ready"}
            # A failure seen a moment ago (a long cooldown, so that no probe closes it during the test).
            breaker = object.__getattribute__(store, "_breaker")
            breaker.cooldown = 60
            breaker.after(redis.exceptions.ConnectionError("gone a moment ago"))
            refused = client.get("/v1/certificates", headers={"Authorization": "Bearer hct_x"})
            assert refused.status_code == 503 and refused.json()["code"] == "store_unavailable", refused.text
            ready = client.get("/readyz")
            assert ready.status_code == 200 and ready.json() == {"status": "ready"}, ready.text
            # And a Redis that is really gone is named, with the breaker open or not.
            server.signal(signal.SIGKILL)
            gone = client.get("/readyz")
            assert gone.status_code == 503 and [e["code"] for e in gone.json()["errors"]] == ["store_unreachable"]
    finally:
        server.close()


def test_the_breaker_ignores_a_full_disk(tmp_path):
    from app.breaker import Breaker
    from app.store import StoreUnavailable

    breaker = Breaker()
    breaker.before()
    breaker.after(StoreUnavailable("the database cannot write now (SQLITE_FULL)"))
    assert not breaker.is_open
    breaker.before()  # a read that would work is let through


def test_an_operation_refused_after_one_of_its_writes_is_outcome_unknown(tmp_path):
    """Disabling an account writes the operator, then ends its sessions: refused in between, part was stored."""
    from app.accounts import Accounts
    from app.breaker import Breaker, GuardedStore
    from app.service import IssuingService
    from app.settings import Settings
    from app.store import OutcomeUnknown, StoreUnavailable, open_store
    from tests.conftest import NOW

    server = RedisServer(tmp_path)
    server.start()
    raw = open_store("redis", url=server.url)
    breaker = Breaker()
    (tmp_path / "data").mkdir()
    settings = Settings(data_dir=tmp_path / "data", store="redis", redis_url=server.url)
    service = IssuingService(settings, GuardedStore(raw, breaker))  # type: ignore[arg-type]
    accounts = Accounts(service)
    try:
        service.create_authority("510321", "荣县卫生健康局", "Rong County", actor="national", now=NOW)
        op, _ = accounts.create("510321", "clerk.one", "operator", password=None, actor="admin", now=NOW)
        update = raw.update_operator

        def update_then_freeze(*args, **kwargs):
            update(*args, **kwargs)
            server.signal(signal.SIGSTOP)  # Redis stalls right after this write

        raw.update_operator = update_then_freeze  # type: ignore[method-assign]
        with pytest.raises(OutcomeUnknown):
            accounts.set_disabled(op.id, True, authority="510321", actor="admin", now=NOW)
        raw.update_operator = update  # type: ignore[method-assign]
        assert breaker.is_open
        with pytest.raises(StoreUnavailable):  # the breaker refuses at once: nothing of it was stored
            accounts.set_disabled(op.id, False, authority="510321", actor="admin", now=NOW)
        server.signal(signal.SIGCONT)
        stored = raw.get_operator(op.id)
        assert stored is not None and stored.disabled  # the first write was stored
    finally:
        raw.close()
        server.close()


def test_a_redis_cluster_with_every_node_down_answers_503(tmp_path):
    """Every node of the cluster killed: the API answers 503 problem+json, /readyz 503 store_unreachable."""
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.settings import Settings
    from app.store import open_store
    from tests.conftest import NOW, Clock, _stop_all, start_redis_cluster

    procs, ports = start_redis_cluster(tmp_path / "cluster")
    store = open_store("redis", url="redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in ports))
    app = create_app(Settings(data_dir=tmp_path / "data", dev=True), store=store, clock=Clock(NOW))
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            _, token = app.state.service.create_operator("510321", "clerk", "operator", actor="test", now=NOW)
            headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "k-1"}
            assert client.post("/v1/certificates", content=BODY, headers=headers).status_code == 201
            assert client.get("/readyz").status_code == 200
            _stop_all(procs)
            for answer in (
                client.post("/v1/certificates", content=BODY, headers={**headers, "Idempotency-Key": "k-2"}),
                client.get("/readyz"),
            ):
                assert answer.status_code == 503, answer.text
                assert answer.headers["content-type"].startswith("application/problem+json")
                assert answer.headers["Retry-After"]
            assert client.post("/v1/certificates", content=BODY, headers=headers).json()["code"] == "store_unavailable"
            assert "store_unreachable" in [e["code"] for e in client.get("/readyz").json()["errors"]]
    finally:
        store.close()
        _stop_all(procs)


# -- SQLite: disk full, read-only after a crash ---------------------------------------------
def _sqlite_server(data: Path, port: int, *, prefix: list[str] | None = None) -> subprocess.Popen[str]:
    return _serve(data, {"HCERT_STORE": "sqlite"}, port, prefix=prefix)


def test_sqlite_disk_full(tmp_path, connect):
    data = tmp_path / "data"
    port = free_port()
    proc = _sqlite_server(data, port)
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc)
        token = _hcert(data, {}, "operator", "create", "--authority", "510321", "--name", "clerk").stdout.strip()
        client = connect(port, token)
        first = [client.issue() for _ in range(3)]
        assert [a.status for a in first] == [201, 201, 201]

        # The write-ahead log is emptied, then the server may not grow any file past 1 KiB:
        # the next commit cannot write its frames, as on a full disk.
        db = sqlite3.connect(data / "hcert.sqlite3")
        assert db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
        db.close()
        soft, hard = resource.prlimit(proc.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (1024, hard))
        try:
            during = [client.issue() for _ in range(5)]
            assert [(a.status, a.code) for a in during] == [(503, "store_unavailable")] * 5
            assert all(a.took < ANSWER_WITHIN for a in during)
            ready = _wait_readyz(port, status=503)
            assert ready["code"] == "not_ready" and ready["errors"], ready
            # Reads still work, on the same keep-alive connection.
            assert client.get(f"/v1/certificates/{first[0].jti}")[0] == 200
        finally:
            resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (soft, hard))
        _wait_readyz(port)
        answers = first + during
        _assert_honest(client.answers)
        acknowledged = _settle(client, answers)
        assert len(acknowledged) == 8
        assert _listed(client) == set(acknowledged.values())
    finally:
        stop(proc)
    _audit_intact(data, {})


def test_sqlite_read_only_after_a_crash(tmp_path, connect):
    # Root ignores file modes: the server then runs without the capabilities that let it.
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: a file mode cannot make the database read-only")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    data = tmp_path / "data"
    port = free_port()
    proc = _sqlite_server(data, port)
    wait_ready(f"http://127.0.0.1:{port}", proc)
    token = _hcert(data, {}, "operator", "create", "--authority", "510321", "--name", "clerk").stdout.strip()
    client = connect(port, token)
    issued = [client.issue() for _ in range(2)]
    assert [a.status for a in issued] == [201, 201]
    proc.kill()  # a crash: the write-ahead log and its index stay behind
    proc.communicate(timeout=10)
    database = [data / "hcert.sqlite3", data / "hcert.sqlite3-wal", data / "hcert.sqlite3-shm"]
    assert all(p.exists() for p in database)
    for p in database:
        p.chmod(0o444)
    data.chmod(0o555)

    port = free_port()
    proc = _sqlite_server(data, port, prefix=prefix)
    try:
        ready = _wait_readyz(port, status=503)
        assert ready["code"] == "not_ready" and [e["code"] for e in ready["errors"]] == ["read_only"]  # type: ignore[index,union-attr]
        client = connect(port, token)
        refused = [client.issue() for _ in range(3)]
        assert [(a.status, a.code) for a in refused] == [(503, "store_unavailable")] * 3
        assert all(a.retry_after and a.took < ANSWER_WITHIN for a in refused)
        # What was stored before the crash is still served.
        assert client.get(f"/v1/certificates/{issued[0].jti}")[0] == 200
        _assert_honest(client.answers)
    finally:
        stop(proc)
        data.chmod(0o700)
        for p in database:
            if p.exists():
                p.chmod(0o600)

    port = free_port()
    proc = _sqlite_server(data, port)
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc)
        client = connect(port, token)
        acknowledged = _settle(client, issued + refused)
        assert _listed(client) == set(acknowledged.values())
    finally:
        stop(proc)
    _audit_intact(data, {})


# -- an unexpected error keeps the connection --------------------------------------------
def test_an_unexpected_error_is_a_500_problem_and_the_connection_stays_open(tmp_path, connect):
    import uvicorn

    from app.main import create_app
    from app.settings import Settings
    from app.store.sqlite import SqliteStore

    class Broken(SqliteStore):
        """A real store whose certificate reads and issuing fail with an error nobody expects."""

        def get_certificate(self, authority, jti):  # type: ignore[no-untyped-def]
            raise RuntimeError("a bug")

        def issue_with_status(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            raise RuntimeError("a bug")

    data = tmp_path / "data"
    data.mkdir()
    store = Broken(str(data / "hcert.sqlite3"))
    app = create_app(Settings(data_dir=data, dev=True), store=store)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        _wait_readyz(port)
        _, token = app.state.service.create_operator("510321", "clerk", "operator", actor="test", now=app.state.clock())
        client = connect(port, token)
        for _ in range(3):  # each 500 is followed by another request on the same connection
            status, problem = client.get("/v1/certificates/c_missing")
            assert status == 500 and problem["code"] == "internal_error", problem
            assert "nothing was stored" not in problem["detail"]
            issued = client.issue()
            assert (issued.status, issued.code, issued.dropped) == (500, "internal_error", None)
            assert client.get("/healthz") == (200, {"status": "ok"})
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()


def test_the_cli_names_a_store_fault_in_one_line(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    down = {"HCERT_STORE": "redis", "HCERT_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    result = _hcert(data, down, "authority", "list")
    assert result.returncode == 1 and result.stdout == ""
    # Refused before anything was sent: nothing was written.
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("hcert: store_unavailable: Redis "), (
        result.stderr
    )
