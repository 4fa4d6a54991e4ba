"""Load benchmark: GET /v1/index and GET /v1/bundle served from memory, against derived per request.

Starts two ``hcert serve --dev`` servers (one uvicorn worker each, both pinned to the
first core; wrk runs on the second) on fresh data folders, issues ``--certs``
certificates on each, and then runs wrk (``--seconds`` each, ``--connections``):

- ``served``: the server as shipped: the index and bundle it made are served from
  memory until the trust change signal moves or ``SERVED_MAX_AGE`` passes;
- ``derived``: the same server with ``SERVED_MAX_AGE = 0``, so that every request derives
  the contents again (every authority, rules, status lists, a digest) and compares
  them with the state file, as every request did before.

For each path, a conditional GET answered 304 (``If-None-Match`` the current ETag)
and a plain GET answered 200. The two servers run back to back ``--rounds`` times in
alternating order; the ratio is the median of the rounds' ratios (this machine's speed
drifts), the figures the best round's. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import start_hcert, worker
from load import parse_wrk

LAUNCH = (
    "import sys, app.trust as t\n"
    "if sys.argv[1] == 'derived':\n"
    "    t.SERVED_MAX_AGE = 0\n"
    "from app.cli import main\n"
    "sys.argv = ['hcert', *sys.argv[2:]]\n"
    "sys.exit(main())\n"
)


def _cores() -> tuple[str, str]:
    cores = sorted(os.sched_getaffinity(0))
    return str(cores[0]), str(cores[-1])


def start(mode: str, certs: int) -> tuple[subprocess.Popen[bytes], str]:
    data = Path(tempfile.mkdtemp())
    server_core, _ = _cores()
    launch = ["taskset", "-c", server_core, sys.executable, "-c", LAUNCH, mode, "--data-dir", str(data)]
    proc, url, cred = start_hcert(data, launch=launch)
    try:
        req = urllib.request.Request(
            f"{url}/v1/certificates/batch",
            data=json.dumps({"applications": [worker(i) for i in range(certs)]}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {cred}"},
        )
        with urllib.request.urlopen(req, timeout=60) as r:
            assert len(json.loads(r.read())["issued"]) == certs
    except BaseException:
        proc.kill()
        raise
    return proc, url


def _wrk(url: str, *, seconds: int, connections: int, etag: str | None) -> dict[str, float]:
    _, wrk_core = _cores()
    extra = ["-H", f"If-None-Match: {etag}"] if etag else []
    wrk = ["wrk", "--latency", "-t", "1", "-c", str(connections), "-d", f"{seconds}s"]
    out = subprocess.run(
        ["taskset", "-c", wrk_core, *wrk, *extra, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return parse_wrk(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=int, default=3)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--certs", type=int, default=50)
    p.add_argument("--paths", default="/v1/index,/v1/bundle")
    args = p.parse_args()
    servers = {mode: start(mode, args.certs) for mode in ("served", "derived")}
    results: dict[str, object] = {}
    try:
        for path in args.paths.split(","):
            for answer in ("304", "200"):
                runs: dict[str, list[dict[str, float]]] = {"served": [], "derived": []}
                for i in range(args.rounds):
                    for mode in ("served", "derived") if i % 2 == 0 else ("derived", "served"):
                        url = servers[mode][1] + path
                        with urllib.request.urlopen(url, timeout=30) as r:
                            etag = r.headers["ETag"]
                        out = _wrk(
                            url,
                            seconds=args.seconds,
                            connections=args.connections,
                            etag=etag if answer == "304" else None,
                        )
                        assert out["non_2xx"] == 0 and out["socket_errors"] == 0, out
                        runs[mode].append(out)
                ratio = statistics.median(
                    s["rps"] / d["rps"] for s, d in zip(runs["served"], runs["derived"], strict=True)
                )
                row = {
                    "served_rps": round(max(r["rps"] for r in runs["served"])),
                    "derived_rps": round(max(r["rps"] for r in runs["derived"])),
                    "served_over_derived": round(ratio, 2),
                    "served_p99_ms": min(r["p99_ms"] for r in runs["served"]),
                    "derived_p99_ms": min(r["p99_ms"] for r in runs["derived"]),
                }
                results[f"{path} {answer}"] = row
                print(f"{path:12s} {answer}  {json.dumps(row)}", flush=True)
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
