"""What pulling other servers' status lists costs the distribution server.

An origin server (a loopback HTTP server standing for another province's hcert server)
publishes ``--lists`` status lists of one authority. The distribution server:

- ``pull_first_s``: ``hcert network pull`` when every list is new (fetch, verify, store);
- ``pull_again_s``: the next pull, nothing changed (fetch, verify, compare);
- ``bundle_local_ms``: ``/v1/bundle`` assembly with no remote lists (the baseline);
- ``bundle_remote_ms``: the same with the pulled lists, after the first (cached) check;
- ``bundle_recheck_ms``: the first assembly after a pull changed the files (every held list verified again).

Run: ``.venv/bin/python bench/network.py [--lists 50] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import http.server
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

from _common import NOW, pin_one_core


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lists", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    pin_one_core()

    from app.network import pull
    from app.service import IssuingService
    from app.settings import Settings
    from app.store import open_store
    from app.trust import TrustNetwork, export_submission, sign_trust_list
    from issuer import STATUS_LIST_SIZE, StatusBits, sign_status_list
    from keys import KeyRing

    routes: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = routes.get(self.path, b"")
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{httpd.server_address[1]}"
    tmp = Path(tempfile.mkdtemp())
    sc = IssuingService(
        Settings(data_dir=tmp / "sc", base_url=origin), open_store("sqlite", path=str(tmp / "sc.sqlite3"))
    )
    sc.create_authority("510321", "荣县", "Rong County", actor="bench", now=NOW)
    dist = TrustNetwork(
        IssuingService(
            Settings(data_dir=tmp / "dist", base_url="https://dist.test"),
            open_store("sqlite", path=str(tmp / "dist.sqlite3")),
        )
    )
    root = KeyRing(tmp / "root")
    root.ensure(now=int(NOW.timestamp()))
    roots = [{"kty": "EC", "crv": "P-256", "x": r.x, "y": r.y, "kid": r.kid} for r in root.records]
    token = sign_trust_list(
        root, [export_submission(sc, "51", now=NOW)], dist.bundle_signers(now=NOW), version=1, now=NOW
    )
    dist.publish_verified(token, roots=roots, now=NOW)

    key = sc.ring("510321").active()
    ts = int(NOW.timestamp())

    def publish(iat: int) -> None:
        bits = StatusBits(STATUS_LIST_SIZE, 2)
        routes["/v1/status/510321"] = json.dumps({"lists": list(range(args.lists))}).encode()
        for lst in range(args.lists):
            uri = f"{origin}/v1/status/510321/{lst}"
            routes[f"/v1/status/510321/{lst}"] = sign_status_list(
                key, bits, uri=uri, iat=iat, exp=iat + 86400, ttl=3600
            ).encode()

    def timed(fn) -> float:  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    local, first, again, remote, recheck = [], [], [], [], []
    for r in range(args.rounds):
        dist._bundle = None
        local_dir = dist.dir / "remote"
        if local_dir.exists():
            import shutil

            shutil.rmtree(local_dir)
        dist._bundle = None
        local.append(timed(lambda: dist.bundle(now=NOW)) * 1000)
        publish(ts + 2 * r)
        first.append(timed(lambda: pull(dist, now=NOW)))
        dist._bundle = None
        recheck.append(timed(lambda: dist.bundle(now=NOW)) * 1000)
        again.append(timed(lambda: pull(dist, now=NOW)))
        dist._bundle = None
        remote.append(timed(lambda: dist.bundle(now=NOW)) * 1000)
    httpd.shutdown()
    med = statistics.median
    print(f"lists={args.lists} rounds={args.rounds} (medians)")
    print(f"pull_first_s={med(first):.3f} ({med(first) / args.lists * 1000:.2f} ms a list)")
    print(f"pull_again_s={med(again):.3f} ({med(again) / args.lists * 1000:.2f} ms a list)")
    print(f"bundle_local_ms={med(local):.2f} (baseline)")
    print(f"bundle_remote_ms={med(remote):.2f} ({med(remote) / med(local):.2f}x baseline)")
    print(f"bundle_recheck_ms={med(recheck):.2f} ({med(recheck) / med(local):.2f}x baseline)")


if __name__ == "__main__":
    main()
