"""The scanner's trust bundle in headless Chromium: expiry, staleness, tampering and rollback.

The page syncs the real bundle from a real `hcert serve`. A bad bundle "offered by
the server" is served in its place by intercepting `/v1/bundle` (Playwright
routing), exactly as a compromised or replaying server would answer.
"""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest

from hcert_verifier import b64url_decode, b64url_encode, deflate, inflate
from tests.conftest import operator_credential
from tests.scanner.test_camera import issue, verdict, wait_until

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def clerk(scan_server):
    _, data = scan_server
    return {"Authorization": f"Bearer {operator_credential(data, 'bundle-clerk')}"}


def split_bundle(text: str) -> tuple[dict | None, str]:
    """Return (envelope, bundle JWS): an hcert-bundle/2 envelope, or (None, token) for a bare bundle token."""
    text = text.strip()
    if text.startswith("{"):
        envelope = json.loads(text)
        return envelope, envelope["bundle"]
    return None, text


def bundle_payload(text: str) -> dict:
    token = split_bundle(text)[1]
    return json.loads(inflate(b64url_decode(token.split(".")[1], "bundle"), 64 * 1024 * 1024))


def open_page(chromium, url: str):
    context = chromium.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    page.goto(f"{url}/scan/")
    page.wait_for_selector("body[data-sync='ok']")
    # Installed: the service worker serves the page from now on, with or without network.
    wait_until(page, "() => navigator.serviceWorker.controller !== null")
    return context, page


def type_in(page, qr_text: str) -> tuple[str, str]:
    page.evaluate("() => { const v = document.getElementById('verdict'); v.hidden = true; }")
    page.fill("#manual", qr_text)
    page.click("#manual-verify")
    return verdict(page)


def shown_version(page) -> int:
    text = page.inner_text("#trust-text")
    return int(text.split(" v", 1)[1].split(" ", 1)[0])


def test_a_bundle_past_its_expiry_refuses_every_certificate(scan_server, chromium, clerk):
    url, _ = scan_server
    cert = issue(url, clerk)
    context, page = open_page(chromium, url)
    payload = bundle_payload(httpx.get(f"{url}/v1/bundle").text)
    assert type_in(page, cert["qr_text"]) == ("true", "ok")
    # The device's clock passes the bundle's expiry with no network to sync.
    context.set_offline(True)
    page.clock.set_fixed_time(dt.datetime.fromtimestamp(payload["expires"] + 60, dt.UTC))
    page.reload()
    page.wait_for_selector("body[data-sync='failed']")
    assert page.get_attribute("#trust", "data-state") == "expired"
    assert "信任包已过期" in page.inner_text("#trust")
    assert type_in(page, cert["qr_text"]) == ("false", "bundle_expired")
    context.close()


def test_a_stale_bundle_warns_but_still_verifies(scan_server, chromium, clerk):
    url, _ = scan_server
    cert = issue(url, clerk)
    context, page = open_page(chromium, url)
    payload = bundle_payload(httpx.get(f"{url}/v1/bundle").text)
    context.set_offline(True)
    page.clock.set_fixed_time(dt.datetime.fromtimestamp(payload["issued_at"] + 49 * 3600, dt.UTC))
    page.reload()
    page.wait_for_selector("body[data-sync='failed']")
    assert page.get_attribute("#trust", "data-state") == "stale"
    assert type_in(page, cert["qr_text"]) == ("true", "ok")
    assert "信任包超过48小时未更新" in page.inner_text("#verdict")
    context.close()


def test_a_tampered_bundle_is_refused_and_the_last_good_one_kept(scan_server, chromium, clerk):
    url, _ = scan_server
    cert = issue(url, clerk)
    context, page = open_page(chromium, url)
    good = shown_version(page)
    text = httpx.get(f"{url}/v1/bundle").text
    envelope, token = split_bundle(text)
    header, _, signature = token.split(".")
    body = bundle_payload(text)
    body["version"] += 1000  # a server pushing a forged, "newer" bundle
    forged = f"{header}.{b64url_encode(deflate(json.dumps(body, separators=(',', ':')).encode()))}.{signature}"
    if envelope is not None:
        forged = json.dumps({**envelope, "bundle": forged})
    page.route("**/v1/bundle", lambda route: route.fulfill(status=200, body=forged, content_type="application/jwt"))
    page.reload()
    page.wait_for_selector("body[data-sync='failed']")
    assert "does not verify" in page.get_attribute("body", "data-sync-message")
    assert shown_version(page) == good
    assert type_in(page, cert["qr_text"]) == ("true", "ok")
    context.close()


def test_a_rolled_back_bundle_is_refused_and_a_revocation_stays(scan_server, chromium, clerk):
    url, _ = scan_server
    cert = issue(url, clerk)
    old = httpx.get(f"{url}/v1/bundle").text  # before the revocation: the certificate is valid in it
    response = httpx.post(f"{url}/v1/certificates/{cert['id']}/revoke", json={"reason": "test"}, headers=clerk)
    assert response.status_code == 200, response.text
    context, page = open_page(chromium, url)
    newer = shown_version(page)
    assert newer > bundle_payload(old)["version"]
    assert type_in(page, cert["qr_text"]) == ("false", "revoked")
    # The server (or someone in between) replays the old bundle, which does not know the revocation.
    page.route("**/v1/bundle", lambda route: route.fulfill(status=200, body=old, content_type="application/jwt"))
    page.reload()
    page.wait_for_selector("body[data-sync='failed']")
    assert "older" in page.get_attribute("body", "data-sync-message")
    assert shown_version(page) == newer
    assert type_in(page, cert["qr_text"]) == ("false", "revoked")
    context.close()


def test_the_first_open_says_syncing_until_the_bundle_is_in(scan_server, chromium):
    """A new device: while the first sync runs the bundle line says so (not "no bundle"), then shows the bundle."""
    url, _ = scan_server
    context = chromium.new_context(viewport={"width": 360, "height": 740})
    held = []
    context.route("**/v1/bundle", lambda route: held.append(route))  # answered when the test lets it through
    page = context.new_page()
    page.goto(f"{url}/scan/")
    page.wait_for_selector("body[data-ready='1']")
    wait_until(page, "() => document.getElementById('trust').dataset.state === 'syncing'")
    assert "正在同步信任包" in page.inner_text("#trust")
    assert "尚未同步" not in page.inner_text("#trust")
    assert len(held) == 1
    held[0].continue_()
    page.wait_for_selector("body[data-sync='ok']")
    assert page.get_attribute("#trust", "data-state") == "fresh"
    context.close()


def test_the_first_open_offline_says_there_is_no_bundle(scan_server, chromium):
    """With the server out of reach and nothing stored, the line says there is no bundle yet (no endless "syncing")."""
    url, _ = scan_server
    context = chromium.new_context(viewport={"width": 360, "height": 740})
    context.route("**/v1/bundle", lambda route: route.abort())
    page = context.new_page()
    page.goto(f"{url}/scan/")
    page.wait_for_selector("body[data-sync='failed']")
    assert page.get_attribute("#trust", "data-state") == "none"
    assert "尚未同步信任包" in page.inner_text("#trust")
    context.close()
