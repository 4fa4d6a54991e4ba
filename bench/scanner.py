"""Benchmark: the gate scanner (/scan) in headless Chromium, beside the Python verifier.

Runs on one core (the browser inherits this process's CPU affinity) against a
real `hcert serve --dev` on a loopback port, with Chromium's fake camera
playing a Y4M video of photographed certificates (30 frames/s: certificate A,
an empty sheet, certificate B, an empty sheet, looped). Measures:

- ``decode_fps``: camera frames decoded per second by zxing-wasm in the page
  (grab, draw, decode), and zxing-cpp's rate on the same frame in Python;
- ``frame_to_verdict_ms``: from the grab of a frame with a QR to the verdict
  painted (median and 90th percentile over the scans of the run);
- ``verify_ms``: QR text to verdict in the page's verifier against the synced
  bundle, and in the Python verifier (``hcert_verifier``) in this process;
- ``cold_offline_ready_ms``: a browser restarted with the network cut,
  from navigation start to ready to scan (page from the service worker,
  bundle from IndexedDB and verified again), median of 5 restarts;
- ``national_bundle_ms``: the page syncing a national-size bundle
  (``bench/bundle.py``: 3,000 authorities, 6,000 keys, 3,000 status lists):
  fetch, verify every signature, store in IndexedDB; then a certificate of it
  verified in the page; beside ``Bundle.load`` in Python.

The last line is one JSON object. Targets (issue 9): verdict within 250 ms of
the QR entering the frame (median), ready within 1.5 s offline, national
bundle verified and stored within 3 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import NOW, ROOT, pin_one_core

from tests.app.test_browser import CHROMIUM_ARGS
from tests.conftest import WORKER, operator_credential, start_hcert, stop
from tests.scanner.camera import fake_camera_args, photographed, write_y4m


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p90(values: list[float]) -> float:
    return sorted(values)[int(0.9 * (len(values) - 1))] if values else float("nan")


def issue_two(url: str, data: Path) -> list[str]:
    import httpx

    h = {"Authorization": f"Bearer {operator_credential(data, 'bench')}"}
    since = (dt.date.today() - dt.timedelta(days=30)).isoformat()
    out = []
    for i in range(2):
        body = {**WORKER, "resident_since": since, "name": ["张伟明", "李秀英"][i]}
        out.append(httpx.post(f"{url}/v1/certificates", json=body, headers=h).json()["qr_text"])
    return out


def python_figures(qr_texts: list[str], url: str, rounds: int) -> dict[str, float]:
    """zxing-cpp on the same camera frame and the Python verifier on the same bundle, in this process."""
    import httpx
    import zxingcpp

    from hcert_verifier import Bundle, Verifier

    frame = photographed(qr_texts[0])
    t = time.perf_counter()
    n = 0
    while time.perf_counter() - t < 3:
        assert zxingcpp.read_barcode(frame).text == qr_texts[0]
        n += 1
    decode_fps = n / (time.perf_counter() - t)
    token = httpx.get(f"{url}/v1/bundle").text
    roots = httpx.get(f"{url}/scan/roots.json").json()["roots"]
    verifier = Verifier.from_bundle(Bundle.load(token, roots))
    times = []
    for _ in range(rounds):
        for q in qr_texts:
            t = time.perf_counter()
            assert verifier.verify(q).valid
            times.append((time.perf_counter() - t) * 1000)
    return {"python_decode_fps": decode_fps, "python_verify_ms": median(times)}


def scan_run(p, chromium: str, url: str, qr_texts: list[str], work: Path, seconds: float) -> dict[str, float]:
    """The camera loop: frames decoded per second and frame-to-verdict latency."""
    blank = photographed(None)
    frames = []
    for q in qr_texts:
        shot = photographed(q)
        frames += [shot] * 15 + [blank] * 15
    video = work / "bench.y4m"
    write_y4m(video, frames, fps=30)
    browser = p.chromium.launch(
        executable_path=chromium, headless=True, args=[*CHROMIUM_ARGS, *fake_camera_args(video)]
    )
    page = browser.new_page(viewport={"width": 360, "height": 740})
    page.goto(f"{url}/scan/")
    page.wait_for_selector("body[data-sync='ok']")
    # The page's own verifier, QR text to verdict, without the camera.
    verify_ms = page.evaluate(
        """async (texts) => {
            const roots = await (await fetch('roots.json')).json();
            const bundle = await window.hcert.Bundle.load(await (await fetch('../v1/bundle')).text(), roots.roots);
            const v = window.hcert.Verifier.fromBundle(bundle);
            const out = [];
            for (let i = 0; i < 40; i++) for (const t of texts) {
                const t0 = performance.now();
                const r = await v.verify(t, { at: Date.now() / 1000 });
                if (!r.valid) throw new Error(r.code);
                out.push(performance.now() - t0);
            }
            out.sort((a, b) => a - b);
            return out[Math.floor(out.length / 2)];
        }""",
        qr_texts,
    )
    page.click("#camera")
    page.wait_for_selector("#verdict:not([hidden])", timeout=60_000)
    page.evaluate("() => { window.hcertTimings.decodeMs.length = 0; window.hcertTimings.frameToVerdictMs.length = 0; }")
    t = time.perf_counter()
    page.wait_for_timeout(seconds * 1000)
    timings = page.evaluate("() => window.hcertTimings")
    elapsed = time.perf_counter() - t
    browser.close()
    verdicts = timings["frameToVerdictMs"]
    return {
        "decode_fps": len(timings["decodeMs"]) / elapsed,
        "decode_ms_median": median(timings["decodeMs"]),
        "scans": len(verdicts),
        "frame_to_verdict_ms_median": median(verdicts),
        "frame_to_verdict_ms_p90": p90(verdicts),
        "verify_ms": verify_ms,
    }


def cold_offline_start(p, chromium: str, url: str, work: Path, restarts: int) -> dict[str, float]:
    """Restart the browser with the network cut; time from navigation start to ready to scan."""
    profile = work / "profile"
    context = p.chromium.launch_persistent_context(
        str(profile),
        executable_path=chromium,
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 360, "height": 740},
    )
    page = context.new_page()
    page.goto(f"{url}/scan/")
    page.wait_for_selector("body[data-sync='ok']")
    deadline = time.monotonic() + 30
    while not page.evaluate("() => navigator.serviceWorker.controller !== null") and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    context.close()
    ready = []
    for _ in range(restarts):
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 360, "height": 740},
            offline=True,
        )
        page = context.new_page()
        page.goto(f"{url}/scan/")
        page.wait_for_selector("body[data-ready='1']")
        assert page.get_attribute("#trust", "data-state") == "fresh"
        ready.append(page.evaluate("() => window.hcertTimings.readyMs"))
        context.close()
    return {"cold_offline_ready_ms_median": median(ready), "cold_offline_ready_ms_max": max(ready)}


def national_bundle(p, chromium: str, url: str, n_authorities: int) -> dict[str, float]:
    """Sync a national-size bundle into a fresh page; verify one of its certificates there."""
    sys.path.insert(0, str(ROOT / "bench"))
    from bundle import build

    from hcert_verifier import Bundle, qr_encode
    from issuer import Issuer, parse_application

    t = time.perf_counter()
    token, roots, _, issuers = build(n_authorities)
    build_s = time.perf_counter() - t
    code, key = issuers[0]
    iss = Issuer(authority=code, signing_key=key)
    claims = iss.claims(parse_application(_worker()), now=NOW, jti="national0001", status=(0, 1))
    claims["o"] = code
    qr = qr_encode(iss.sign(claims)[1])
    t = time.perf_counter()
    Bundle.load(token, roots)
    python_load_ms = (time.perf_counter() - t) * 1000

    browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    page.clock.set_fixed_time(NOW + dt.timedelta(hours=1))
    roots_body = json.dumps({"roots": roots})
    page.route("**/scan/roots.json", lambda r: r.fulfill(body=roots_body, content_type="application/json"))
    page.route("**/v1/bundle", lambda r: r.fulfill(body=token, content_type="application/jwt"))
    page.goto(f"{url}/scan/")
    page.wait_for_selector("body[data-sync]", timeout=120_000)
    assert page.get_attribute("body", "data-sync") == "ok", page.get_attribute("body", "data-sync-message")
    sync_ms = page.evaluate("() => window.hcertTimings.syncMs")
    page.fill("#manual", qr)
    page.click("#manual-verify")
    page.wait_for_selector("#verdict:not([hidden])")
    code_seen = page.get_attribute("#verdict", "data-code")
    # And once more from IndexedDB, as after a restart: load and verify the stored bundle again.
    page.reload()
    page.wait_for_selector("body[data-ready='1']", timeout=120_000)
    ready_ms = page.evaluate("() => window.hcertTimings.readyMs")
    browser.close()
    return {
        "national_build_s": build_s,
        "national_sync_ms": sync_ms,
        "national_ready_after_restart_ms": ready_ms,
        "national_verdict": code_seen,
        "python_bundle_load_ms": python_load_ms,
    }


def _worker() -> dict[str, object]:
    from _common import worker

    return worker(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20, help="length of the camera run")
    parser.add_argument("--restarts", type=int, default=5)
    parser.add_argument("--authorities", type=int, default=3000)
    parser.add_argument(
        "--parts", default="python,camera,cold,national", help="comma-separated: python, camera, cold, national"
    )
    args = parser.parse_args()
    pin_one_core()
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("chromium is not installed")
    work = Path(tempfile.mkdtemp())
    data = work / "data"
    proc, url = start_hcert(data)
    try:
        qr_texts = issue_two(url, data)
        parts = set(args.parts.split(","))
        figures: dict[str, object] = {}
        if "python" in parts:
            figures.update(python_figures(qr_texts, url, rounds=200))
        with sync_playwright() as p:
            if "camera" in parts:
                figures.update(scan_run(p, chromium, url, qr_texts, work, args.seconds))
            if "cold" in parts:
                figures.update(cold_offline_start(p, chromium, url, work, args.restarts))
            if "national" in parts:
                figures.update(national_bundle(p, chromium, url, args.authorities))
    finally:
        stop(proc)
    for name, value in figures.items():
        print(f"{name:34} {value:12.1f}" if isinstance(value, float) else f"{name:34} {value!s:>12}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
