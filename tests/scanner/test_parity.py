"""One truth for two verifiers: every conformance vector gives the same verdict in Python and in the browser.

The browser side is the scanner's own TypeScript verifier (``web/scanner/src/verifier``),
as built into ``app/static/scan`` and served at ``/scan/``, running in headless Chromium
with WebCrypto and DecompressionStream. Certificate vectors (``valid/``, ``invalid/``)
give the same ``valid`` and ``code``; bundle vectors (``bundle/``: a device offered a
bundle, then scanning) the same ``valid``, ``code`` and warnings.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from hcert_verifier import JwksTrust, StatusList, StatusLists, Verifier
from tests.conftest import VECTORS
from tests.verifier.test_bundle_vectors import BUNDLE_FILES, python_bundle_verdict, seconds

pytestmark = pytest.mark.browser

FILES = sorted([*VECTORS.glob("valid/*.json"), *VECTORS.glob("invalid/*.json")])

# Runs every vector through the page's verifier; returns {name: [valid, code, reason]}.
BROWSER_RUN = """
async (cases) => {
  const h = window.hcert;
  const out = {};
  const trusts = {};
  for (const c of cases) {
    try {
      trusts[c.jwks] ??= await h.JwksTrust.fromJwks(c.jwks_body);
      const trust = trusts[c.jwks];
      const lists = [];
      for (const token of c.status_lists) lists.push(await h.StatusList.fromToken(token, trust, c.at));
      const verifier = new h.Verifier(trust, { status: new h.StatusLists(lists) });
      const r = await verifier.verify(c.qr_text, { at: c.at });
      out[c.name] = [r.valid, r.code, r.reason, r.certificate ? JSON.stringify(r.certificate.claims) : null];
    } catch (e) {
      out[c.name] = [null, "threw", String(e && e.stack || e), null];
    }
  }
  return out;
}
"""


# A device offered a bundle, then scanning: load from the pinned roots, admit at
# synced_at against the prior state, verify at `at` (the device clock: Date.now reads
# it; or a time the operator states). Returns {name: [valid, code, warnings, reason]}.
BROWSER_BUNDLE_RUN = """
async (cases) => {
  const h = window.hcert;
  const out = {};
  const systemNow = Date.now;
  for (const c of cases) {
    try {
      let bundle;
      try {
        bundle = await h.Bundle.load(c.bundle, c.roots);
        const p = c.prior_state;
        const state = p === null ? h.emptyState() : {
          bundle: p.bundle && { version: p.bundle.version, issuedAt: p.bundle.issued_at, digest: p.bundle.digest },
          trustList: p.trust_list,
          rules: p.rules,
          statusLists: p.status_lists,
          withdrawn: p.withdrawn,
        };
        h.checkDeviceState(state, bundle, c.synced_at);
      } catch (e) {
        if (!(e instanceof h.BundleError)) throw e;
        out[c.name] = [false, e.code, [], e.reason];
        continue;
      }
      const verifier = h.Verifier.fromBundle(bundle);
      const options = { destination: c.destination, checkpoint: c.checkpoint };
      let r;
      if (c.clock === "device") {
        Date.now = () => c.at * 1000;
        try { r = await verifier.verify(c.qr_text, options); } finally { Date.now = systemNow; }
      } else {
        r = await verifier.verify(c.qr_text, { ...options, at: c.at });
      }
      out[c.name] = [r.valid, r.code, [...r.warnings], r.reason];
    } catch (e) {
      out[c.name] = [null, "threw", [], String(e && e.stack || e)];
    }
  }
  return out;
}
"""


def python_verdict(case):
    trust = JwksTrust.from_file(VECTORS / case["jwks"])
    at = int(dt.datetime.fromisoformat(case["at"]).timestamp())
    lists = StatusLists(StatusList.from_token(t, trust, at=at) for t in case.get("status_lists", []))
    return Verifier(trust, status=lists).verify(case["qr_text"], at=at)


@pytest.fixture(scope="module")
def browser_verdicts(scan_server, chromium):
    url, _ = scan_server
    cases = []
    for path in FILES:
        case = json.loads(path.read_text("utf-8"))
        cases.append(
            {
                "name": f"{path.parent.name}/{path.stem}",
                "qr_text": case["qr_text"],
                "at": int(dt.datetime.fromisoformat(case["at"]).timestamp()),
                "jwks": case["jwks"],
                "jwks_body": json.loads((VECTORS / case["jwks"]).read_text("utf-8")),
                "status_lists": case.get("status_lists", []),
            }
        )
    page = chromium.new_page()
    page.goto(f"{url}/scan/")
    page.wait_for_selector("body[data-ready='1']")
    verdicts = page.evaluate(BROWSER_RUN, cases)
    page.close()
    return verdicts


@pytest.fixture(scope="module")
def browser_bundle_verdicts(scan_server, chromium):
    url, _ = scan_server
    cases = []
    for path in BUNDLE_FILES:
        case = json.loads(path.read_text("utf-8"))
        cases.append(
            {
                **case,
                "name": path.stem,
                "synced_at": seconds(case["synced_at"]),
                "at": seconds(case["at"]),
            }
        )
    page = chromium.new_page()
    page.goto(f"{url}/scan/")
    page.wait_for_selector("body[data-ready='1']")
    verdicts = page.evaluate(BROWSER_BUNDLE_RUN, cases)
    page.close()
    return verdicts


def test_every_vector_reaches_the_browser(browser_verdicts, browser_bundle_verdicts):
    assert len(browser_verdicts) == len(FILES) >= 40
    assert len(browser_bundle_verdicts) == len(BUNDLE_FILES) >= 40


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_same_verdict_in_python_and_in_the_browser(path, browser_verdicts):
    case = json.loads(path.read_text("utf-8"))
    expected = (case["expected"]["valid"], case["expected"]["code"])
    python = python_verdict(case)
    valid, code, reason, claims = browser_verdicts[f"{path.parent.name}/{path.stem}"]
    assert (python.valid, python.code) == expected, python.reason
    assert (valid, code) == expected, reason
    if valid:
        # The same claims come out, not only the same verdict.
        assert json.loads(claims) == case["claims"]


@pytest.mark.parametrize("path", BUNDLE_FILES, ids=lambda p: f"bundle/{p.stem}")
def test_same_bundle_verdict_in_python_and_in_the_browser(path, browser_bundle_verdicts):
    case = json.loads(path.read_text("utf-8"))
    expected = (case["expected"]["valid"], case["expected"]["code"], case["expected"]["warnings"])
    assert python_bundle_verdict(case) == expected
    valid, code, warnings, reason = browser_bundle_verdicts[path.stem]
    assert (valid, code, warnings) == expected, reason
