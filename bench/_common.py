"""Shared helpers for the benchmarks: one core, interleaved rounds, best-of timing."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
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
    """Run the candidates in turn, ``rounds`` times; return each one's best ops/s.

    Also returns, under ``"<a>/<b>"`` for every pair, the median over rounds of
    the ratio of the two candidates measured back to back in the same round
    (the order alternates between rounds). This machine is a shared virtual
    machine whose speed drifts by tens of percent within a minute; a ratio of
    adjacent measurements cancels the drift, where a ratio of two independent
    bests does not.
    """
    results: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for i in range(rounds):
        for name in names if i % 2 == 0 else reversed(names):
            results[name].extend(rate(fns[name], rounds=1))
    out = {name: max(values) for name, values in results.items()}
    for a in names:
        for b in names:
            if a != b:
                out[f"{a}/{b}"] = statistics.median(x / y for x, y in zip(results[a], results[b], strict=True))
    return out


def worker(i: int) -> dict[str, object]:
    """Return the i-th distinct, eligible worker application (the documented example, another ID)."""
    from stdnum.cn import ric

    from issuer import EXAMPLE_WORKER

    body = "510321" + f"{19800101 + (i % 28):08d}" + f"{i % 1000:03d}"
    return {**EXAMPLE_WORKER, "resident_id": body + ric.calc_check_digit(body + "0")}


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """Run a private redis-server (AOF, fsync every second) on a free loopback port; yield its URL."""
    import shutil
    import subprocess
    import tempfile
    import time

    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("this benchmark needs redis-server: apt-get install redis-server")
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                folder,
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
        )
        time.sleep(0.5)
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait()


def wait_ready(url: str, proc: subprocess.Popen[bytes] | None = None, *, timeout: float = 60) -> None:
    """Wait until ``url``'s ``/readyz`` answers 200; fail at once if ``proc`` (the server) has exited."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("server exited")
        try:
            if urllib.request.urlopen(f"{url}/readyz", timeout=2).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("server did not start")


def start_hcert(
    data: Path,
    *,
    env: dict[str, str] | None = None,
    workers: int = 1,
    launch: list[str] | None = None,
    port: int | None = None,
    log: str | None = None,
) -> tuple[subprocess.Popen[bytes], str, str]:
    """Start ``hcert serve --dev`` on a free loopback port in ``data``; return (process, URL, operator credential).

    ``launch`` replaces ``python -m app`` as the command that serves (for instance under ``taskset``).
    The credential is made with the CLI, as an administrator would. ``port`` (default: a free
    one) and ``log`` (a file for the server's output; default: none) as a benchmark needs.
    """
    port = port or free_port()
    hcert = [sys.executable, "-m", "app", "--data-dir", str(data)]
    serve = ["serve", "--dev", "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(
        [*(launch or hcert), *serve],
        cwd=ROOT,
        env=env,
        # A file or nothing: a pipe nobody reads would fill up and block the server.
        stdout=open(log, "w") if log else subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc)
        cred = subprocess.run(
            [*hcert, "operator", "create", "--authority", "510321", "--name", f"bench{port}"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except BaseException:
        proc.kill()
        raise
    return proc, url, cred


@contextlib.contextmanager
def served_hcert(
    *, env: dict[str, str] | None = None, workers: int = 1
) -> Iterator[tuple[subprocess.Popen[bytes], str, str, Path]]:
    """:func:`start_hcert` in a new temporary data directory; stopped and removed on leaving.

    Yields (process, URL, operator credential, data directory).
    """
    import shutil
    import tempfile

    data = Path(tempfile.mkdtemp())
    proc, url, cred = start_hcert(data, env=env, workers=workers)
    try:
        yield proc, url, cred, data
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        shutil.rmtree(data, ignore_errors=True)


def public_jwk(key: object, **extra: object) -> dict[str, object]:
    """The public JWK of a signing key (``keys.SigningKey``) with its kid and ``extra`` members."""
    from hcert_verifier import jwk_from_public_key

    return {**jwk_from_public_key(key.public_key), "kid": key.kid, **extra}  # type: ignore[attr-defined]


def national_authority(i: int, *, at: int) -> tuple[str, str, dict[str, object], object]:
    """The ``i``-th county authority of a synthetic national network (34 provinces, round robin).

    Returns (province, code, its trust list entry, its active private key); the entry has an
    active key and a retired one, as after one rotation.
    """
    from keys import generate_signing_key

    province = f"{11 + i % 34:02d}"
    code = f"{province}{i // 34 + 1:04d}"
    active, retired = generate_signing_key(), generate_signing_key()
    entry = {
        "id": code,
        "name_zh": f"县卫生健康局{i}",
        "name_en": f"County Health Bureau {i}",
        "base_url": "https://hcert.example",
        "scope": {"regions": [code], "kinds": ["w", "f"]},
        "keys": [
            public_jwk(active, state="active", not_before=at - 86400, not_after=None),
            public_jwk(retired, state="retired", not_before=at - 90 * 86400, not_after=at - 86400),
        ],
    }
    return province, code, entry, active
