"""Load benchmark: the issue endpoint over HTTP with wrk, on SQLite, Redis and Redis Cluster, on loopback only.

For each configuration (embedded SQLite, one redis-server, a three-master Redis
Cluster; 1 or 2 uvicorn workers) this starts ``hcert serve`` on a free
127.0.0.1 port, makes an operator credential with the CLI, and runs
``wrk --latency`` with ``--connections`` concurrent clients (16 by default)
against ``POST /v1/certificates`` (one return-to-work certificate per request:
checks, signing, status entry, atomic store write, audit entry, checkpoint) and
then ``GET /healthz`` (the framework's floor) for ``--seconds`` each.

Per configuration it prints requests/s, p50/p99, failed requests (non-2xx
answers and socket errors), and the CPU time per certificate: user + system
time of the server's processes and of the Redis servers during the issue run,
divided by the certificates issued. A failed request is a non-2xx answer or a socket
error (a refused or dropped connection, or no answer within 10 s). Then, per worker count, Redis's and the
cluster's certificates/s as a ratio of SQLite's from the same run. All Redis
servers run with ``appendonly yes``, ``appendfsync everysec``.

Needs ``wrk``, ``redis-server`` and ``redis-cli`` (Debian packages). Bounded:
3 stores x 2 worker counts x 2 runs of ``--seconds`` (5: about 90 s with
start-up). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import free_port, redis_server, served_hcert  # noqa: E402

from issuer import EXAMPLE_WORKER  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def parse_wrk(text: str) -> dict[str, float]:
    def ms(value: str) -> float:
        number, unit = re.match(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
        return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    out = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))}  # type: ignore[union-attr]
    out["requests"] = float(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]
    for pct in ("50", "99"):
        out[f"p{pct}_ms"] = ms(re.search(rf"\s{pct}%\s+(\S+)", text).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non_2xx"] = float(errors.group(1)) if errors else 0.0
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out["socket_errors"] = float(sum(int(n) for n in sockets.groups())) if sockets else 0.0
    return out


def tree(pid: int) -> list[int]:
    """Return ``pid`` and its descendants (uvicorn's workers)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        with contextlib.suppress(OSError):
            for child in Path(f"/proc/{p}/task/{p}/children").read_text().split():
                todo.append(int(child))
    return out


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for p in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(") ", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


@contextlib.contextmanager
def redis_cluster(masters: int = 3) -> Iterator[tuple[str, list[int]]]:
    """Run a Redis Cluster of ``masters`` masters (AOF, fsync every second) on loopback; yield its URL and pids."""
    binary, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if binary is None or cli is None:
        raise SystemExit("this benchmark needs redis-server and redis-cli: apt-get install redis-server")
    procs, ports = [], []
    with tempfile.TemporaryDirectory() as folder:
        try:
            for i in range(masters):
                port, node = free_port(), Path(folder) / f"node{i}"
                node.mkdir()
                procs.append(
                    subprocess.Popen(
                        [
                            *(binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(node), "--save", ""),
                            *("--appendonly", "yes", "--appendfsync", "everysec", "--cluster-enabled", "yes"),
                            *("--cluster-config-file", str(node / "nodes.conf"), "--cluster-port", str(free_port())),
                        ],
                        stdout=subprocess.DEVNULL,
                    )
                )
                ports.append(port)
            time.sleep(0.5)
            subprocess.run(
                [cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports), "--cluster-yes"],
                check=True,
                capture_output=True,
                timeout=60,
            )
            for _ in range(300):
                states = [
                    subprocess.run([cli, "-p", str(p), "cluster", "info"], capture_output=True, text=True).stdout
                    for p in ports
                ]
                if all("cluster_state:ok" in s for s in states):
                    break
                time.sleep(0.1)
            else:
                raise SystemExit("the Redis Cluster did not become ready")
            yield "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in ports), [p.pid for p in procs]
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(timeout=20)


def flush(url: str) -> None:
    import redis
    import redis.cluster

    if url.startswith("redis+cluster://"):
        host, _, port = url.removeprefix("redis+cluster://").split(",")[0].rpartition(":")
        client = redis.cluster.RedisCluster(host=host, port=int(port))
        client.flushall(target_nodes=redis.cluster.RedisCluster.PRIMARIES)
    else:
        client = redis.Redis.from_url(url)
        client.flushall()
    client.close()


def run(
    store: str, workers: int, seconds: int, connections: int, redis_url: str | None, store_pids: list[int]
) -> dict[str, dict[str, float]]:
    env = {**os.environ, "HCERT_STORE": "redis" if redis_url else "sqlite"}
    if redis_url:
        env["HCERT_REDIS_URL"] = redis_url
    with served_hcert(env=env, workers=workers) as (proc, url, cred, data):
        script = data / "issue.lua"
        body = json.dumps(EXAMPLE_WORKER, ensure_ascii=False).replace("\\", "\\\\").replace("'", "\\'")
        script.write_text(
            f"wrk.method = 'POST'\nwrk.body = '{body}'\n"
            f"wrk.headers['Content-Type'] = 'application/json'\nwrk.headers['Authorization'] = 'Bearer {cred}'\n",
            encoding="utf-8",
        )
        results = {}
        for name, extra in (("issue", ["-s", str(script), f"{url}/v1/certificates"]), ("healthz", [f"{url}/healthz"])):
            pids = tree(proc.pid) + store_pids
            before = cpu_seconds(pids)
            out = subprocess.run(
                # A slow answer is latency, not a failure: wrk gives up only after 10 s (its default is 2 s).
                [
                    "wrk",
                    "--latency",
                    "--timeout",
                    "10s",
                    "-t",
                    "2",
                    "-c",
                    str(connections),
                    "-d",
                    f"{seconds}s",
                    *extra,
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            results[name] = parse_wrk(out)
            results[name]["cpu_s"] = cpu_seconds(pids) - before
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--stores", default="sqlite,redis,cluster", help="comma-separated: sqlite, redis, cluster")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench/load.py needs wrk: apt-get install wrk")
    stores = args.stores.split(",")
    summary: dict[str, dict[str, float]] = {}
    with contextlib.ExitStack() as stack:
        urls: dict[str, tuple[str | None, list[int]]] = {"sqlite": (None, [])}
        if "redis" in stores:
            url = stack.enter_context(redis_server())
            urls["redis"] = (url, _pids_on_port(int(url.rsplit(":", 1)[1].split("/")[0])))
        if "cluster" in stores:
            urls["cluster"] = stack.enter_context(redis_cluster())
        for workers in (int(w) for w in args.workers.split(",")):
            for store in stores:
                url, pids = urls[store]
                if url:
                    flush(url)
                r = run(store, workers, args.seconds, args.connections, url, pids)
                issue = r["issue"]
                ok = issue["requests"] - issue["non_2xx"]
                key = f"{store}_{workers}w"
                summary[key] = s = {
                    "issue_rps": round(issue["rps"], 1),
                    "issue_p50_ms": issue["p50_ms"],
                    "issue_p99_ms": issue["p99_ms"],
                    "failed": int(issue["non_2xx"] + issue["socket_errors"]),
                    "cpu_ms_per_cert": round(1000 * issue["cpu_s"] / ok, 2) if ok else 0.0,
                    "healthz_rps": round(r["healthz"]["rps"], 1),
                }
                print(
                    f"{store:7s} {workers} worker(s): issue {s['issue_rps']:7.1f} req/s"
                    f"  p50 {s['issue_p50_ms']:7.2f} ms  p99 {s['issue_p99_ms']:7.2f} ms  failed {s['failed']}"
                    f"  CPU {s['cpu_ms_per_cert']:5.2f} ms/cert"
                    f"   (healthz {s['healthz_rps']:.0f} req/s)",
                    flush=True,
                )
            base = summary.get(f"sqlite_{workers}w")
            for store in stores:
                if store != "sqlite" and base and base["issue_rps"]:
                    ratio = summary[f"{store}_{workers}w"]["issue_rps"] / base["issue_rps"]
                    summary[f"{store}/sqlite_{workers}w"] = {"issue_rps_ratio": round(ratio, 2)}
                    print(f"{store} / sqlite, {workers} worker(s): {ratio:.2f}", flush=True)
    print(json.dumps(summary))


def _pids_on_port(port: int) -> list[int]:
    """Return the pid of the redis-server listening on ``port`` (for its CPU time)."""
    out = subprocess.run(["redis-cli", "-p", str(port), "info", "server"], capture_output=True, text=True).stdout
    match = re.search(r"process_id:(\d+)", out)
    return [int(match.group(1))] if match else []


if __name__ == "__main__":
    main()
