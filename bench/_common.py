"""Shared helpers for the benchmarks: one core, interleaved rounds, best-of timing."""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CST = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2020, 3, 10, 9, 0, tzinfo=CST)


def pin_one_core() -> None:
    """Run on one core, so that figures are per core and comparable."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def rate(fn: Callable[[], int], *, rounds: int) -> list[float]:
    """Call ``fn`` (which returns how many operations it did) ``rounds`` times; return ops/s per round."""
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        n = fn()
        out.append(n / (time.perf_counter() - t))
    return out


def interleave(fns: dict[str, Callable[[], int]], *, rounds: int) -> dict[str, float]:
    """Run the candidates in turn, ``rounds`` times, and return each one's best ops/s.

    Interleaving exposes every candidate to the same machine state; the best
    round is the least disturbed by other work on the machine.
    """
    results: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            results[name].extend(rate(fn, rounds=1))
    return {name: max(values) for name, values in results.items()}


def worker(i: int) -> dict[str, object]:
    """Return the i-th distinct, eligible worker application."""
    from stdnum.cn import ric

    body = "510321" + f"{19800101 + (i % 28):08d}" + f"{i % 1000:03d}"
    return {
        "kind": "return-to-work",
        "name": "张伟明",
        "resident_id": body + ric.calc_check_digit(body + "0"),
        "origin_region": "510321",
        "resident_since": "2020-01-20",
        "symptoms": [],
        "quarantine": "never",
        "health_code": "green",
        "destination_province": "44",
    }
