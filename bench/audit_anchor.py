"""Benchmark: what the signed audit checkpoint and the sign-in check cost an issue request.

- ``issue/s``: one certificate per ``IssuingService.issue`` call on the embedded
  store (``synchronous=FULL``), with the audit checkpoint written after every
  write (``anchored``, what the service does) and without it (``bare``: the
  store's audit listener removed), interleaved in the same run;
- ``sign_in/s``: ``IssuingService.sign_in`` (throttle read, credential lookup)
  against ``authenticate`` alone (credential lookup).

The last line is one JSON object.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from _common import NOW, interleave, pin_one_core, worker


def main() -> None:
    from app.service import IssuingService, data_path
    from app.settings import Settings
    from app.store import open_store

    pin_one_core()
    results: dict[str, float] = {}
    services = {}
    tmps = []
    for name in ("anchored", "bare"):
        tmp = Path(tempfile.mkdtemp())
        tmps.append(tmp)
        settings = Settings(data_dir=tmp, store="sqlite", dev=True)
        service = IssuingService(settings, open_store("sqlite", path=str(data_path(settings))))
        service.ensure_development_setup(now=NOW)
        operator, token = service.create_operator("510321", "bench", "operator", actor="bench", now=NOW)
        if name == "bare":
            service.store.audit_listener = None
        services[name] = (service, operator, token)

    def issuing(name: str, n: int = 40):
        service, operator, _ = services[name]

        def run() -> int:
            for i in range(n):
                service.issue("510321", [worker(i)], operator=operator, now=NOW)
            return n

        return run

    issued = interleave({"anchored": issuing("anchored"), "bare": issuing("bare")}, rounds=6)
    results.update({f"issue/s {k}": v for k, v in issued.items()})

    service, _, token = services["anchored"]

    def signing_in(n: int = 500) -> int:
        for _ in range(n):
            service.sign_in(token, client="127.0.0.1", now=NOW)
        return n

    def lookup(n: int = 500) -> int:
        for _ in range(n):
            service.authenticate(token, now=NOW)
        return n

    signed = interleave({"sign_in": signing_in, "authenticate": lookup}, rounds=6)
    results.update({f"{k}/s" if "/" not in k else k: v for k, v in signed.items()})
    for key, value in results.items():
        print(f"{key:32} {value:10.2f}")
    print(json.dumps({k: round(v, 3) for k, v in results.items()}))
    for service, _, _ in services.values():
        service.store.close()
    for tmp in tmps:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
