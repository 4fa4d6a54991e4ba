"""Benchmark: finding a batch's certificates for its print sheet, index vs scan.

An authority with ``--certs`` certificates (issued in batches of 500 into the
embedded store, at the example time). Measures, for a known and an unknown batch,
the batch index (``store.batch_certificates`` then one read per certificate, what
``GET /v1/batches/{batch}/print`` does) against the scan it replaced (read up to
100,000 of the authority's certificates and filter by batch), interleaved.

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import NOW, worker

from app.service import IssuingService, data_path
from app.settings import Settings
from app.store import open_store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certs", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(data_dir=Path(folder), base_url="https://hcert.test")
        store = open_store("sqlite", path=str(data_path(settings)))
        service = IssuingService(settings, store)
        service.create_authority("510321", "荣县卫生健康局", "Rong County", actor="bench", now=NOW)
        _, token = service.create_operator("510321", "bench", "operator", actor="bench", now=NOW)
        operator = service.authenticate(token)
        assert operator is not None
        batches = []
        for start in range(0, args.certs, 500):
            rows = [worker(i) for i in range(start, min(start + 500, args.certs))]
            _, body, _ = service.issue("510321", rows, operator=operator, now=NOW)
            batches.append(json.loads(body)["batch"])
        known, unknown = batches[len(batches) // 2], "b_0000000000000000"

        def by_index(batch: str) -> int:
            ids = store.batch_certificates("510321", batch)
            return len([r for r in (store.get_certificate("510321", j) for j in ids) if r is not None])

        def by_scan(batch: str) -> int:
            records, _ = store.list_certificates("510321", limit=100_000)
            return len([r for r in records if r.batch == batch])

        times: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for name, fn, batch in (
                ("index_known", by_index, known),
                ("scan_known", by_scan, known),
                ("index_unknown", by_index, unknown),
                ("scan_unknown", by_scan, unknown),
            ):
                t = time.perf_counter()
                fn(batch)
                times.setdefault(name, []).append((time.perf_counter() - t) * 1000)
        store.close()
    out = {name: round(statistics.median(v), 2) for name, v in times.items()}
    print(f"authority with {args.certs:,} certificates, batches of 500; medians of {args.rounds} rounds")
    for kind in ("known", "unknown"):
        index, scan = out[f"index_{kind}"], out[f"scan_{kind}"]
        print(f"{kind:>7} batch: index {index:8.2f} ms   scan {scan:8.2f} ms   scan/index {scan / index:7.1f}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
