"""Fault benchmark: keep-alive clients issuing while Redis is killed and frozen (loopback, bounded).

Starts a private ``redis-server`` (append-only file on, ``appendfsync everysec``) and
``hcert serve`` on it, makes an operator credential with the CLI, and runs
``--clients`` threads, each on one keep-alive connection, issuing one certificate
per request with a new ``Idempotency-Key``. The run has five phases of
``--phase`` seconds: ``before`` (the baseline, same run), ``killed`` (SIGKILL),
``restarted`` (the same port and append-only file), ``frozen`` (SIGSTOP) and
``after`` (SIGCONT). Per phase it prints requests, 201s, 503s by code, other
answers, dropped connections, p50/p99/max latency (a request belongs to the phase
it started in; the outage figures count the requests made wholly inside the
``killed`` and ``frozen`` phases). Then every request not answered 201 is retried with its key
until it is, and the acknowledged certificates are compared with what Redis holds.

    python bench/faults.py                 # 3 clients, 2 s phases: about 15 s
    python bench/faults.py --clients 8 --phase 3

The last line is one JSON object. Needs ``redis-server``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import free_port, start_hcert, wait_ready  # noqa: E402

from issuer import EXAMPLE_WORKER  # noqa: E402

BODY = json.dumps(EXAMPLE_WORKER).encode()
PHASES = ("before", "killed", "restarted", "frozen", "after")


def start_redis(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    import redis

    proc = subprocess.Popen(
        [
            *(shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--dir", str(workdir)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            if client.ping():
                break
        except redis.RedisError:
            time.sleep(0.05)
    client.close()
    return proc


class Client:
    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.results: list[dict[str, object]] = []

    def issue(self, key: str | None = None) -> dict[str, object]:
        key = key or uuid.uuid4().hex
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json", "Idempotency-Key": key}
        start = time.monotonic()
        result: dict[str, object] = {"key": key, "start": start}
        try:
            self.conn.request("POST", "/v1/certificates", body=BODY, headers=headers)
            response = self.conn.getresponse()
            data = json.loads(response.read())
            result.update(status=response.status, code=data.get("code"), jti=data.get("id"))
            result["retry_after"] = response.getheader("Retry-After")
        except (OSError, http.client.HTTPException) as e:
            result.update(status=0, dropped=type(e).__name__)
            self.conn.close()
        result["took"] = time.monotonic() - start
        self.results.append(result)
        return result


def summarise(results: list[dict[str, object]]) -> dict[str, object]:
    took = sorted(float(r["took"]) for r in results)  # type: ignore[arg-type]
    codes: dict[str, int] = {}
    for r in results:
        if r["status"] == 503:
            codes[str(r["code"])] = codes.get(str(r["code"]), 0) + 1
    return {
        "requests": len(results),
        "201": sum(1 for r in results if r["status"] == 201),
        "503": codes,
        "503_without_retry_after": sum(1 for r in results if r["status"] == 503 and not r.get("retry_after")),
        "other": dict(Counter(f"{r['status']} {r['code']}" for r in results if r["status"] not in (0, 201, 503))),
        "dropped": sum(1 for r in results if r["status"] == 0),
        "p50_ms": round(statistics.median(took) * 1000, 1) if took else None,
        "p99_ms": round(took[min(len(took) - 1, int(len(took) * 0.99))] * 1000, 1) if took else None,
        "max_ms": round(took[-1] * 1000, 1) if took else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--phase", type=float, default=2.0, help="seconds per phase (default 2)")
    parser.add_argument("--log", help="write the server's output to this file (default: discarded)")
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        sys.exit("bench/faults.py needs redis-server")

    work = Path(tempfile.mkdtemp(prefix="hcert-faults-"))
    redis_port, port = free_port(), free_port()
    redis_proc = start_redis(redis_port, work)
    env = {
        **os.environ,
        "HCERT_STORE": "redis",
        "HCERT_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "HCERT_BASE_URL": f"http://127.0.0.1:{port}",
    }
    data = work / "data"
    server, url, token = start_hcert(data, env=env, port=port, log=args.log)
    try:
        clients = [Client(port, token) for _ in range(args.clients)]
        stop = threading.Event()

        def loop(client: Client) -> None:
            while not stop.is_set():
                client.issue()

        threads = [threading.Thread(target=loop, args=(c,), daemon=True) for c in clients]
        for t in threads:
            t.start()
        marks = {"before": time.monotonic()}
        time.sleep(args.phase)
        redis_proc.kill()
        redis_proc.wait()
        marks["killed"] = time.monotonic()
        time.sleep(args.phase)
        marks["restarted"] = time.monotonic()
        redis_proc = start_redis(redis_port, work)
        time.sleep(args.phase)
        redis_proc.send_signal(signal.SIGSTOP)
        while Path(f"/proc/{redis_proc.pid}/stat").read_text().split(") ")[1][0] != "T":
            time.sleep(0.01)
        marks["frozen"] = time.monotonic()
        time.sleep(args.phase)
        marks["after"] = time.monotonic()
        redis_proc.send_signal(signal.SIGCONT)
        time.sleep(args.phase)
        stop.set()
        for t in threads:
            t.join(timeout=15)

        results = [r for c in clients for r in c.results]
        bounds = [marks[p] for p in PHASES] + [float("inf")]
        phases = {
            name: summarise([r for r in results if bounds[i] <= float(r["start"]) < bounds[i + 1]])  # type: ignore[arg-type]
            for i, name in enumerate(PHASES)
        }
        for name, figures in phases.items():
            print(f"{name:>10}: {json.dumps(figures)}")

        # Recovery: retry everything not acknowledged with its own key.
        wait_ready(url, server)
        acknowledged = {str(r["key"]): str(r["jti"]) for r in results if r["status"] == 201}
        retrier = Client(port, token)
        for key in {str(r["key"]) for r in results} - set(acknowledged):
            for _ in range(50):
                r = retrier.issue(key)
                if r["status"] == 201:
                    acknowledged[key] = str(r["jti"])
                    break
                time.sleep(0.1)
        from app.store import open_store

        store = open_store("redis", url=env["HCERT_REDIS_URL"])
        stored, total = store.list_certificates("510321", limit=1_000_000)
        store.close()
        for c in [*clients, retrier]:
            c.conn.close()
        stored_ids = {r.jti for r in stored}
        audit = subprocess.run(
            [sys.executable, "-m", "app", "--data-dir", str(data), "audit", "verify"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )

        def within(r: dict[str, object], begin: float, end: float) -> bool:
            start = float(r["start"])  # type: ignore[arg-type]
            return begin <= start and start + float(r["took"]) <= end  # type: ignore[arg-type]

        # Requests made wholly inside an outage (a request still waiting when Redis comes back may succeed).
        outage = [r for r in results if within(r, marks["killed"], marks["restarted"])]
        outage += [r for r in results if within(r, marks["frozen"], marks["after"])]
        summary = {
            "clients": args.clients,
            "phase_s": args.phase,
            "phases": phases,
            "outage_requests": len(outage),
            "outage_answered_503": sum(1 for r in outage if r["status"] == 503),
            "outage_max_ms": round(max(float(r["took"]) for r in outage) * 1000, 1) if outage else None,  # type: ignore[arg-type]
            "baseline_max_ms": phases["before"]["max_ms"],
            "dropped": sum(1 for r in results if r["status"] == 0),
            "acknowledged": len(acknowledged),
            "stored": total,
            "lost": len(set(acknowledged.values()) - stored_ids),
            "unacknowledged_stored": len(stored_ids - set(acknowledged.values())),
            "audit": audit.stdout.strip() or audit.stderr.strip(),
        }
        print(json.dumps(summary))
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if redis_proc.poll() is None:
            redis_proc.send_signal(signal.SIGCONT)
            redis_proc.kill()
            redis_proc.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
