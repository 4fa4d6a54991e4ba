"""Stall benchmark: ``/healthz`` latency while operators post million-row batches.

Starts ``hcert serve --dev`` (embedded store) on a free 127.0.0.1 port, makes an
operator credential with the CLI, then measures ``GET /healthz`` one request at a
time: first alone (the baseline), then while another thread posts, back to back, the
million-row CSV (about 2 MB, just under the body limit) and a JSON batch of a million
empty applications. Every batch is refused (``too_many_rows``); what is measured is
whether the service keeps answering meanwhile. Target: every health answer under
load within 200 ms. Bounded: ``--posts`` posts of each kind, loopback only.

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import free_port, start_hcert  # noqa: E402

MILLION_CSV = b"kind\n" + b"x\n" * 1_000_000
MILLION_JSON = b'{"applications":[' + b",".join([b"{}"] * 600_000) + b"]}"


def poll(url: str, stop: threading.Event | None, count: int) -> list[float]:
    """Return the latencies (ms) of sequential health requests: ``count`` of them, or until ``stop``."""
    import httpx

    out: list[float] = []
    with httpx.Client(timeout=30) as client:
        while (stop is None and len(out) < count) or (stop is not None and not stop.is_set()):
            t = time.perf_counter()
            r = client.get(f"{url}/healthz")
            out.append((time.perf_counter() - t) * 1000)
            if r.status_code != 200:
                raise RuntimeError(f"/healthz answered {r.status_code}")
    return out


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "n": len(values),
        "p50_ms": statistics.median(ordered),
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "max_ms": ordered[-1],
    }


def main() -> None:
    import httpx

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=10, help="posts of each kind (CSV, JSON)")
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "data"
        env = {**os.environ, "HCERT_BASE_URL": url}
        proc, _, token = start_hcert(data, env=env, port=port, log=None)
        try:
            baseline = poll(url, None, 300)

            stop = threading.Event()
            posted: list[tuple[str, int, float]] = []

            def post_all() -> None:
                headers = {"Authorization": f"Bearer {token}"}
                with httpx.Client(timeout=120) as client:
                    for _ in range(args.posts):
                        for kind, body in (("text/csv", MILLION_CSV), ("application/json", MILLION_JSON)):
                            t = time.perf_counter()
                            r = client.post(
                                f"{url}/v1/certificates/batch",
                                content=body,
                                headers={**headers, "Content-Type": kind},
                            )
                            posted.append((kind, r.status_code, (time.perf_counter() - t) * 1000))
                stop.set()

            poster = threading.Thread(target=post_all)
            poster.start()
            loaded = poll(url, stop, 0)
            poster.join()
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    base, load = summary(baseline), summary(loaded)
    codes = sorted({f"{kind} {code}" for kind, code, _ in posted})
    post_ms = statistics.median(ms for _, _, ms in posted)
    print(f"body sizes: CSV {len(MILLION_CSV):,} bytes (1,000,000 rows), JSON {len(MILLION_JSON):,} bytes")
    print(f"batch answers: {', '.join(codes)}; median {post_ms:.1f} ms per post, {len(posted)} posts")
    print(f"/healthz alone:      n={base['n']}  p50 {base['p50_ms']:.2f} ms  p99 {base['p99_ms']:.2f} ms")
    print(
        f"/healthz under load: n={load['n']}  p50 {load['p50_ms']:.2f} ms  p99 {load['p99_ms']:.2f} ms  "
        f"max {load['max_ms']:.2f} ms (target: max < 200 ms)"
    )
    print(f"ratio p50 under load / alone: {load['p50_ms'] / base['p50_ms']:.2f}")
    print(json.dumps({"baseline": base, "under_load": load, "post_median_ms": post_ms, "answers": codes}))


if __name__ == "__main__":
    main()
