"""Load benchmark: the issue endpoint over HTTP with wrk, on loopback only.

For each configuration (embedded SQLite or Redis; 1 or 2 uvicorn workers) this
starts ``hcert serve`` on a free 127.0.0.1 port, makes an operator credential
with the CLI, and runs ``wrk --latency`` against ``POST /v1/certificates``
(one return-to-work certificate per request: checks, signing, status entry,
atomic store write, audit entry). Also measures ``GET /healthz`` in the same
run as the framework's floor. Needs ``wrk`` and ``redis-server`` (Debian
packages). Bounded: each wrk run lasts ``--seconds``.

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import free_port, redis_server  # noqa: E402

from issuer import EXAMPLE_WORKER  # noqa: E402


def wait_ready(url: str) -> None:
    import urllib.request

    for _ in range(300):
        try:
            if urllib.request.urlopen(f"{url}/readyz", timeout=1).status == 200:
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def parse_wrk(text: str) -> dict[str, float]:
    def ms(value: str) -> float:
        number, unit = re.match(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
        return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    out = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "99"):
        out[f"p{pct}_ms"] = ms(re.search(rf"\s{pct}%\s+(\S+)", text).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non_2xx"] = float(errors.group(1)) if errors else 0.0
    return out


def run(store: str, workers: int, seconds: int, connections: int, redis_url: str | None) -> dict[str, dict[str, float]]:
    data = Path(tempfile.mkdtemp())
    port = free_port()
    env = {**os.environ, "HCERT_STORE": store}
    if redis_url:
        env["HCERT_REDIS_URL"] = redis_url
    hcert = [sys.executable, "-m", "app", "--data-dir", str(data)]
    proc = subprocess.Popen(
        [*hcert, "serve", "--dev", "--port", str(port), "--workers", str(workers)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url)
        cred = subprocess.run(
            [*hcert, "operator", "create", "--authority", "510321", "--name", f"load{port}"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        script = data / "issue.lua"
        body = json.dumps(EXAMPLE_WORKER, ensure_ascii=False).replace("\\", "\\\\").replace("'", "\\'")
        script.write_text(
            f"wrk.method = 'POST'\nwrk.body = '{body}'\n"
            f"wrk.headers['Content-Type'] = 'application/json'\nwrk.headers['Authorization'] = 'Bearer {cred}'\n",
            encoding="utf-8",
        )
        results = {}
        for name, extra in (("issue", ["-s", str(script), f"{url}/v1/certificates"]), ("healthz", [f"{url}/healthz"])):
            out = subprocess.run(
                ["wrk", "--latency", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", *extra],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            results[name] = parse_wrk(out)
        return results
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench/load.py needs wrk: apt-get install wrk")
    summary = {}
    with redis_server() as redis_url:
        for store in ("sqlite", "redis"):
            for workers in (1, 2):
                url = redis_url if store == "redis" else None
                if url:
                    import redis

                    redis.Redis.from_url(url).flushall()
                r = run(store, workers, args.seconds, args.connections, url)
                key = f"{store}_{workers}w"
                summary[key] = {
                    "issue_rps": round(r["issue"]["rps"]),
                    "issue_p50_ms": r["issue"]["p50_ms"],
                    "issue_p99_ms": r["issue"]["p99_ms"],
                    "non_2xx": int(r["issue"]["non_2xx"]),
                    "healthz_rps": round(r["healthz"]["rps"]),
                }
                s = summary[key]
                print(
                    f"{store:6s} {workers} worker(s): issue {s['issue_rps']:5d} req/s  p50 {s['issue_p50_ms']:6.2f} ms"
                    f"  p99 {s['issue_p99_ms']:6.2f} ms  non-2xx {s['non_2xx']}   (healthz {s['healthz_rps']} req/s)"
                )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
