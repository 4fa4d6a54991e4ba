"""Load benchmark: POST /v1/verify over HTTP with wrk, against /healthz on the same stack in the same run.

For each store (embedded SQLite, Redis) this starts ``hcert serve --dev`` with
``--workers`` uvicorn workers on a free 127.0.0.1 port, issues ``--certs``
return-to-work certificates through the API, and runs wrk (``--seconds`` each):

- ``healthz``: ``GET /healthz``, closed loop: the framework's floor;
- ``verify``: ``POST /v1/verify`` with one QR text (destination 44, gate rules),
  closed loop, the certificates in turn: the endpoint's throughput. healthz and
  verify run back to back ``--rounds`` times; the ratio is the median of the
  rounds' ratios, the figures the best round's;
- ``queue``: ``POST /v1/verify`` with ``qrs`` of ``--queue`` QR texts: certificates/s;
- ``paced``: ``POST /v1/verify`` paced to about ``--rate`` requests/s (each of
  ``--paced-connections`` connections waits between requests): latency at that load.

Every answer is checked once before the runs (valid, code ok). Needs ``wrk`` and
``redis-server`` (Debian packages). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import redis_server, served_hcert, worker
from load import parse_wrk


def _lua_bodies(path: Path, bodies: list[str], *, delay_ms: float | None = None) -> None:
    quoted = ",\n".join("'" + b.replace("\\", "\\\\").replace("'", "\\'") + "'" for b in bodies)
    script = (
        f"local bodies = {{\n{quoted}\n}}\nlocal i = 0\n"
        "wrk.method = 'POST'\nwrk.headers['Content-Type'] = 'application/json'\n"
        "function request()\n  i = i % #bodies + 1\n  return wrk.format(nil, nil, nil, bodies[i])\nend\n"
    )
    if delay_ms is not None:
        script += f"function delay()\n  return {delay_ms:.3f}\nend\n"
    path.write_text(script, encoding="utf-8")


def _wrk(url: str, *, seconds: int, connections: int, script: Path | None = None) -> dict[str, float]:
    extra = ["-s", str(script)] if script else []
    out = subprocess.run(
        ["wrk", "--latency", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", *extra, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return parse_wrk(out)


def run(store: str, args: argparse.Namespace, redis_url: str | None) -> dict[str, float]:
    import urllib.request

    env = {**os.environ, "HCERT_STORE": store}
    if redis_url:
        env["HCERT_REDIS_URL"] = redis_url
    with served_hcert(env=env, workers=args.workers) as (_proc, url, cred, data):

        def post(path: str, body: object) -> dict:
            req = urllib.request.Request(
                url + path,
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {cred}"},
            )
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read())

        issued = post("/v1/certificates/batch", {"applications": [worker(i) for i in range(args.certs)]})["issued"]
        qrs = [c["qr_text"] for c in issued]
        single = [json.dumps({"qr": q, "destination": "44", "checkpoint": "gate"}) for q in qrs]
        queues = [
            json.dumps({"qrs": [qrs[(i + k) % len(qrs)] for k in range(args.queue)], "destination": "44"})
            for i in range(0, len(qrs), args.queue)
        ]
        for body in single[:3]:  # every answer the load gets is a real verdict
            assert post("/v1/verify", json.loads(body))["code"] == "ok"
        assert all(r["code"] == "ok" for r in post("/v1/verify", json.loads(queues[0]))["results"])

        one, many, paced = data / "verify.lua", data / "queue.lua", data / "paced.lua"
        _lua_bodies(one, single)
        _lua_bodies(many, queues)
        # Each connection sends a request, waits for the answer, then waits delay_ms:
        # about connections / (delay + latency) requests/s in all.
        _lua_bodies(paced, single, delay_ms=args.paced_connections * 1000 / args.rate - 0.5)
        s, c = args.seconds, args.connections
        # healthz and verify back to back, in alternating order, --rounds times: this machine's
        # speed drifts (shared cores), and a ratio of adjacent runs cancels the drift.
        healths, verifies = [], []
        for i in range(args.rounds):
            pair = [("h", f"{url}/healthz", None), ("v", f"{url}/v1/verify", one)]
            for name, target, script in pair if i % 2 == 0 else reversed(pair):
                out = _wrk(target, seconds=s, connections=c, script=script)
                (healths if name == "h" else verifies).append(out)
        ratio = statistics.median(v["rps"] / h["rps"] for v, h in zip(verifies, healths, strict=True))
        health = max(healths, key=lambda r: r["rps"])
        verify = max(verifies, key=lambda r: r["rps"])
        queue = _wrk(f"{url}/v1/verify", seconds=s, connections=c, script=many)
        at_rate = _wrk(f"{url}/v1/verify", seconds=s, connections=args.paced_connections, script=paced)
        return {
            "healthz_rps": round(health["rps"]),
            "verify_rps": round(verify["rps"]),
            "verify_over_healthz": round(ratio, 3),
            "rounds_healthz_rps": " ".join(str(round(h["rps"])) for h in healths),
            "rounds_verify_rps": " ".join(str(round(v["rps"])) for v in verifies),
            "verify_p50_ms": verify["p50_ms"],
            "verify_p99_ms": verify["p99_ms"],
            "queue_certs_per_s": round(queue["rps"] * args.queue),
            "queue_p99_ms": queue["p99_ms"],
            "paced_rps": round(at_rate["rps"]),
            "paced_p50_ms": at_rate["p50_ms"],
            "paced_p99_ms": at_rate["p99_ms"],
            "non_2xx": int(sum(r["non_2xx"] for r in [*healths, *verifies, queue, at_rate])),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--certs", type=int, default=100)
    parser.add_argument("--queue", type=int, default=10)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--paced-connections", type=int, default=20)
    parser.add_argument("--stores", default="sqlite,redis")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench/verify_endpoint.py needs wrk: apt-get install wrk")
    summary = {}
    with redis_server() as redis_url:
        for store in args.stores.split(","):
            if store == "redis":
                import redis

                redis.Redis.from_url(redis_url).flushall()
            r = run(store, args, redis_url if store == "redis" else None)
            summary[f"{store}_{args.workers}w"] = r
            print(
                f"{store:6s} {args.workers} worker(s): healthz {r['healthz_rps']} req/s; verify {r['verify_rps']} req/s"
                f" ({r['verify_over_healthz']:.0%} of healthz) p50 {r['verify_p50_ms']:.2f} ms"
                f" p99 {r['verify_p99_ms']:.2f} ms; queue of {args.queue}: {r['queue_certs_per_s']} certificates/s;"
                f" paced {r['paced_rps']} req/s: p50 {r['paced_p50_ms']:.2f} ms p99 {r['paced_p99_ms']:.2f} ms;"
                f" non-2xx {r['non_2xx']}"
            )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
