"""Capacity inputs: bytes stored and CPU spent per issued certificate, on SQLite and Redis.

Issues ``--count`` distinct return-to-work certificates in-process through
``IssuingService.issue`` (eligibility, claims, signing, status entry, one atomic
write with its audit entry and idempotency record), once one certificate per
request and once in 50-row batches, on one pinned core, and reports for each
store:

- bytes per certificate: SQLite, the database file's growth after a checkpoint
  of its write-ahead log; Redis, ``used_memory`` growth and append-only file growth;
- CPU milliseconds per certificate of this process (``time.process_time``: the
  service's own work, without HTTP; Redis's CPU is not counted) and wall time.

    python bench/capacity.py               # 1,000 certificates a mode: about 20 s
    python bench/capacity.py --count 3000

The last line is one JSON object. Needs ``redis-server``.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import NOW, pin_one_core, redis_server, worker


def issue_all(service, operator, count: int, per_request: int, offset: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Issue ``count`` certificates ``per_request`` at a time; return (CPU s, wall s)."""
    cpu, wall = time.process_time(), time.perf_counter()
    for start in range(0, count, per_request):
        rows = [worker(offset + i) for i in range(start, min(count, start + per_request))]
        shape = "one" if per_request == 1 else "application/json"
        status, _, _ = service.issue(
            "510321",
            rows,
            operator=operator,
            now=NOW,
            idempotency_key=uuid.uuid4().hex,
            request_hash=service.request_fingerprint(shape, rows),
        )
        assert status == 201, status
    return time.process_time() - cpu, time.perf_counter() - wall


def measure(kind: str, count: int, url: str | None) -> dict[str, float]:
    from app.service import IssuingService
    from app.settings import Settings
    from app.store import open_store

    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        db = data / "hcert.sqlite3"
        store = open_store(kind, path=str(db), url=url)
        if kind == "redis":
            import redis

            redis.Redis.from_url(url or "").flushdb()
        service = IssuingService(Settings(data_dir=data, dev=True), store)
        service.ensure_development_setup(now=NOW)
        operator, _ = service.create_operator("510321", "bench", "operator", actor="bench", now=NOW)

        def size() -> tuple[int, int]:
            if kind == "sqlite":
                with sqlite3.connect(db) as c:
                    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                return db.stat().st_size, 0
            import redis

            r = redis.Redis.from_url(url or "")
            memory = int(r.info("memory")["used_memory"])
            aof = int(r.info("persistence").get("aof_current_size", 0))
            r.close()
            return memory, aof

        for label, per_request, offset in (("single", 1, 0), ("batch50", 50, 1_000_000)):
            before = size()
            cpu, wall = issue_all(service, operator, count, per_request, offset)
            after = size()
            out[f"{label}_cpu_ms_per_cert"] = round(cpu * 1000 / count, 3)
            out[f"{label}_wall_ms_per_cert"] = round(wall * 1000 / count, 3)
            out[f"{label}_bytes_per_cert"] = round((after[0] - before[0]) / count)
            if kind == "redis":
                out[f"{label}_aof_bytes_per_cert"] = round((after[1] - before[1]) / count)
        store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="certificates per mode and store (default 1000)")
    args = parser.parse_args()
    pin_one_core()
    results = {"count": args.count, "sqlite": measure("sqlite", args.count, None)}
    with redis_server() as url:
        results["redis"] = measure("redis", args.count, url)
    for store in ("sqlite", "redis"):
        print(f"{store:>7}: " + ", ".join(f"{k} {v}" for k, v in results[store].items()))  # type: ignore[union-attr]
    print(json.dumps(results))


if __name__ == "__main__":
    main()
