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
  bundle rebuilt from IndexedDB), median of 5 restarts;
- ``national_sync_ms``: the page syncing a national-size bundle
  (``bench/bundle.py``: 3,000 authorities, 6,000 keys, 3,000 status lists)
  from a loopback HTTP server: fetch, verify every signature, store in
  IndexedDB, in a fresh browser context ``--rounds`` times, each beside
  ``Bundle.load`` in Python (and their ratio, pair by pair), with each step's
  time; then a certificate of it verified in the page; then the page reopened
  three times (``national_ready_after_restart_ms``: navigation to ready to
  scan, the bundle rebuilt from IndexedDB).

The last line is one JSON object. Targets (issue 9): verdict within 250 ms of
the QR entering the frame (median), ready within 1.5 s offline, national
bundle verified and stored within 3 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.server
import json
import shutil
import statistics
import sys
import tempfile
import threading
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
        assert zxingcpp.read_barcode(frame, formats=zxingcpp.BarcodeFormat.QRCode).text == qr_texts[0]
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


def national_bundle(
    p, chromium: str, url: str, n_authorities: int, rounds: int = 3, reopens: int = 3
) -> dict[str, object]:
    """Sync a national-size bundle into a fresh page, `rounds` times, each beside a Python
    `Bundle.load` of it (this machine's speed drifts: the ratio is taken pair by pair);
    verify one of its certificates there; reopen the page `reopens` times."""
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

    # The bundle comes over HTTP from a loopback server (as /v1/bundle would), not
    # through the browser's test protocol, which would add seconds of its own.
    body = token.encode()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(body))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    bundle_url = f"http://127.0.0.1:{server.server_address[1]}/v1/bundle"
    browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
    roots_body = json.dumps({"roots": roots})

    def fresh_context():
        context = browser.new_context(viewport={"width": 360, "height": 740})
        # The page's clock an hour after the bundle was made. Only Date moves: Playwright's
        # page.clock would also replace performance.now(), which times the page's steps.
        context.add_init_script(_SHIFT_DATE.replace("SHIFT_MS", str(int((NOW.timestamp() + 3600) * 1000))))
        context.route("**/scan/roots.json", lambda r: r.fulfill(body=roots_body, content_type="application/json"))
        context.route("**/v1/bundle", lambda r: r.continue_(url=bundle_url))
        # This measures a first sync of the national material as one bundle: the scanner syncs by
        # parts (pack, index) and turns to /v1/bundle when the server has no index, as here.
        context.route("**/v1/index**", lambda r: r.fulfill(status=404, body=""))
        return context

    python_ms, sync_ms, ratios = [], [], []
    steps: dict[str, list[float]] = {}
    contexts = []
    for _ in range(rounds):
        for old in contexts:
            old.close()
        context = fresh_context()
        contexts = [context]
        t = time.perf_counter()
        Bundle.load(token, roots)
        python_ms.append((time.perf_counter() - t) * 1000)
        page = context.new_page()
        page.goto(f"{url}/scan/")
        page.wait_for_selector("body[data-sync]", timeout=120_000)
        assert page.get_attribute("body", "data-sync") == "ok", page.get_attribute("body", "data-sync-message")
        sync_ms.append(page.evaluate("() => window.hcertTimings.syncMs"))
        ratios.append(sync_ms[-1] / python_ms[-1])
        for name, ms in page.evaluate("() => ({ ...window.hcertTimings.steps })").items():
            if name not in ("stored-read", "stored-rebuild", "roots"):
                steps.setdefault(name, []).append(ms)
    page.fill("#manual", qr)
    page.click("#manual-verify")
    page.wait_for_selector("#verdict:not([hidden])")
    code_seen = page.get_attribute("#verdict", "data-code")
    # Reopened, as after a restart: the page rebuilds the stored bundle from IndexedDB.
    ready = []
    for _ in range(reopens):
        page.close()
        page = context.new_page()
        page.goto(f"{url}/scan/")
        page.wait_for_selector("body[data-ready='1']", timeout=120_000)
        ready.append(page.evaluate("() => window.hcertTimings.readyMs"))
        assert page.get_attribute("#trust", "data-state") == "fresh"
    page.fill("#manual", qr)
    page.click("#manual-verify")
    page.wait_for_selector("#verdict:not([hidden])")
    code_after = page.get_attribute("#verdict", "data-code")
    browser.close()
    server.shutdown()
    figures: dict[str, object] = {
        "national_build_s": build_s,
        "national_sync_ms_median": median(sync_ms),
        "national_sync_ms_best": min(sync_ms),
        "national_sync_ms_rounds": " ".join(f"{ms:.0f}" for ms in sync_ms),
        "python_bundle_load_ms_rounds": " ".join(f"{ms:.0f}" for ms in python_ms),
        "python_bundle_load_ms_median": median(python_ms),
        "python_bundle_load_ms_best": min(python_ms),
        "national_sync_over_python_load": median(ratios),
        "national_ready_after_restart_ms": median(ready),
        "national_ready_after_restart_ms_max": max(ready),
        "national_verdict": code_seen,
        "national_verdict_after_restart": code_after,
    }
    figures.update({f"national_step_{name}_ms": median(ms) for name, ms in steps.items()})
    return figures


# Date (and new Date()) read a fixed offset from the real clock; nothing else changes.
_SHIFT_DATE = """(() => {
  const Real = Date;
  const delta = SHIFT_MS - Real.now();
  class Shifted extends Real {
    constructor(...args) { if (args.length === 0) super(Real.now() + delta); else super(...args); }
    static now() { return Real.now() + delta; }
  }
  globalThis.Date = Shifted;
})();"""


def _handler(body: bytes) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def _worker() -> dict[str, object]:
    from _common import worker

    return worker(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20, help="length of the camera run")
    parser.add_argument("--restarts", type=int, default=5)
    parser.add_argument("--authorities", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3, help="national bundle syncs, each beside a Python load")
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
                figures.update(national_bundle(p, chromium, url, args.authorities, rounds=args.rounds))
    finally:
        stop(proc)
    for name, value in figures.items():
        print(f"{name:34} {value:12.1f}" if isinstance(value, float) else f"{name:34} {value!s:>12}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
