"""Benchmark: a bus manifest, its print sheet, and status list sizes.

- ``manifest_ms``: a 50-row manifest (JSON rows) checked, signed and stored in
  one atomic write, through ``IssuingService.issue`` on the embedded store and
  on Redis (when a ``redis-server`` binary is on PATH);
- ``print_sheet_ms``: the batch's 50 QR codes rendered as SVG for the print page;
- ``status_list_bytes``: a status list token of 1,000,000 entries with 1%
  revoked at random, as served (2 bits an entry, zlib, base64url, signed), and
  of one 131,072-entry list at the same rate.

The last line is one JSON object.
"""

from __future__ import annotations

import gzip
import json
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from _common import NOW, pin_one_core, redis_server, worker


def manifest_run(store_kind: str, url: str | None, runs: int) -> tuple[float, float]:
    from app.service import IssuingService, data_path
    from app.settings import Settings
    from app.store import open_store

    tmp = Path(tempfile.mkdtemp())
    settings = Settings(data_dir=tmp, store=store_kind, redis_url=url or "")
    store = open_store(store_kind, path=str(data_path(settings)), url=url)
    service = IssuingService(settings, store)
    service.ensure_development_setup(now=NOW)
    operator, _ = service.create_operator("510321", "bench", "operator", actor="bench", now=NOW)
    rows = [worker(i) for i in range(50)]
    service.issue("510321", rows, operator=operator, now=NOW)  # warm up
    manifest, sheet = [], []
    for run in range(runs):
        t = time.perf_counter()
        status, body, _ = service.issue("510321", rows, operator=operator, now=NOW, idempotency_key=f"run-{run}")
        manifest.append((time.perf_counter() - t) * 1000)
        assert status == 201
        batch = json.loads(body)["batch"]
        records = [service.certificate("510321", c["id"]) for c in json.loads(body)["issued"]]
        service._renders.clear()
        t = time.perf_counter()
        for r in records:
            service.render(r, "svg")
        sheet.append((time.perf_counter() - t) * 1000)
        assert batch
    store.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return statistics.median(manifest), statistics.median(sheet)


def status_size(entries: int, rate: float) -> tuple[int, int]:
    from issuer import StatusBits, sign_status_list
    from keys import generate_signing_key

    bits = StatusBits(entries, 2)
    rng = random.Random(1)
    for idx in rng.sample(range(entries), int(entries * rate)):
        bits.set(idx, 1)
    token = sign_status_list(
        generate_signing_key(), bits, uri="https://hcert.example/v1/status/510321/0", iat=1, exp=2, ttl=3600
    )
    # What the app's GZipMiddleware (level 9) sends to a client that accepts gzip.
    return len(token.encode()), len(gzip.compress(token.encode(), 9))


def main() -> None:
    pin_one_core()
    out: dict[str, object] = {}
    m, s = manifest_run("sqlite", None, runs=9)
    print(f"50-row manifest, embedded SQLite:  {m:6.1f} ms (median of 9)")
    print(f"print sheet, 50 QR SVG:            {s:6.1f} ms")
    out.update(manifest_ms_sqlite=round(m, 1), print_sheet_ms=round(s, 1))
    if shutil.which("redis-server"):
        with redis_server() as url:
            m, _ = manifest_run("redis", url, runs=9)
        print(f"50-row manifest, Redis (AOF):      {m:6.1f} ms (median of 9)")
        out["manifest_ms_redis"] = round(m, 1)
    million, million_gz = status_size(1_000_000, 0.01)
    one, one_gz = status_size(131_072, 0.01)
    print(f"status list 1,000,000 entries, 1% revoked: token {million:,} bytes, {million_gz:,} on the wire (gzip)")
    print(f"status list   131,072 entries, 1% revoked: token {one:,} bytes, {one_gz:,} on the wire (gzip)")
    out.update(
        status_list_1m_bytes=million,
        status_list_1m_wire_bytes=million_gz,
        status_list_131k_bytes=one,
        status_list_131k_wire_bytes=one_gz,
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
