"""The scanner in headless Chromium with a fake rear camera showing a photographed certificate.

One browser for the module; its camera is a Y4M file that each test rewrites
before the page opens the camera. The certificates come from a real `hcert serve`
and the page syncs the real bundle from it.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import httpx
import pytest

from hcert_verifier import decode_token
from issuer import Issuer
from keys import KeyRing
from tests.conftest import WORKER, operator_credential
from tests.scanner.camera import fake_camera_args, film
from tests.scanner.conftest import launch

pytestmark = pytest.mark.browser

#: Set to a folder (e.g. docs/img) to keep the 360x740 screenshots of the verdicts.
SCREENSHOTS = os.environ.get("HCERT_SCREENSHOTS")


@pytest.fixture(scope="module")
def camera_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("camera") / "camera.y4m"
    film(path, None)
    return path


@pytest.fixture(scope="module")
def browser(camera_file):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p, *fake_camera_args(camera_file))
        yield b
        b.close()


@pytest.fixture(scope="module")
def clerk(scan_server):
    _, data = scan_server
    return {"Authorization": f"Bearer {operator_credential(data, 'scanner-clerk')}"}


def issue(url: str, headers: dict[str, str], **changes) -> dict:
    since = (dt.date.today() - dt.timedelta(days=30)).isoformat()
    body = {**WORKER, "resident_since": since, **changes}
    response = httpx.post(f"{url}/v1/certificates", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def open_scanner(browser, url: str, *, camera: bool = True):
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{url}/scan/{'?camera' if camera else ''}")
    page.wait_for_selector("body[data-sync]")
    return context, page


def verdict(page, timeout: float = 30_000) -> tuple[str, str]:
    page.wait_for_selector("#verdict:not([hidden])", timeout=timeout)
    return page.get_attribute("#verdict", "data-valid"), page.get_attribute("#verdict", "data-code")


def wait_until(page, predicate: str, timeout: float = 30.0) -> None:
    """Poll ``predicate`` (a JS function) with evaluate: the page's CSP forbids wait_for_function's eval."""
    import time

    deadline = time.monotonic() + timeout
    while not page.evaluate(predicate):
        assert time.monotonic() < deadline, f"timed out waiting for {predicate}"
        page.wait_for_timeout(100)


def shoot(page, name: str) -> None:
    if SCREENSHOTS:
        page.wait_for_timeout(300)
        page.screenshot(path=str(Path(SCREENSHOTS) / name))


def test_camera_scan_of_a_printed_certificate_accepts(scan_server, browser, clerk, camera_file):
    url, _ = scan_server
    cert = issue(url, clerk)
    film(camera_file, cert["qr_text"])
    context, page = open_scanner(browser, url)
    assert page.get_attribute("body", "data-sync") == "ok"
    assert verdict(page) == ("true", "ok")
    text = page.inner_text("#verdict")
    assert "通过 ACCEPT" in text and "张伟明" in text and "510321********1234" in text
    assert "荣县" in text, "the issuing authority's name from the trust list"
    shoot(page, "scanner-accept.png")
    wait_until(page, "() => document.querySelectorAll('#log-list li').length >= 1")
    assert cert["id"] in page.inner_text("#log-list") and "张伟明" not in page.inner_text("#log-list")
    context.close()


def test_camera_scan_of_a_revoked_certificate_rejects(scan_server, browser, clerk, camera_file):
    url, _ = scan_server
    cert = issue(url, clerk)
    response = httpx.post(f"{url}/v1/certificates/{cert['id']}/revoke", json={"reason": "test"}, headers=clerk)
    assert response.status_code == 200, response.text
    film(camera_file, cert["qr_text"])
    context, page = open_scanner(browser, url)
    assert verdict(page) == ("false", "revoked")
    text = page.inner_text("#verdict")
    assert "拒绝 REJECT" in text and "证明已被撤销" in text and "revoked" in text
    assert "张伟明" in text, "the guard sees whose certificate was refused"
    shoot(page, "scanner-reject.png")
    context.close()


def test_camera_scan_out_of_the_authoritys_scope_rejects(scan_server, browser, clerk, camera_file):
    url, data = scan_server
    # Rong County's key signs a certificate for a resident of Shenzhen: a real signature, out of scope.
    claims = decode_token(issue(url, clerk)["qr_text"])[1]
    claims = {**claims, "o": "440305", "id": "4403051234", "jti": "outOfScope01"}
    ring = KeyRing(data / "keys" / "510321")
    _, token = Issuer(authority="510321", signing_key=ring.active()).sign(claims)
    from hcert_verifier import qr_encode

    film(camera_file, qr_encode(token))
    context, page = open_scanner(browser, url)
    assert verdict(page) == ("false", "out_of_scope")
    assert "签发机构无权签发此证明" in page.inner_text("#verdict")
    context.close()


def test_offline_reload_still_opens_scans_and_verifies(scan_server, browser, clerk, camera_file):
    url, _ = scan_server
    cert = issue(url, clerk)
    film(camera_file, None)
    context, page = open_scanner(browser, url, camera=False)
    wait_until(page, "() => navigator.serviceWorker.controller !== null")
    context.set_offline(True)
    film(camera_file, cert["qr_text"])
    page.goto(f"{url}/scan/?camera")
    page.wait_for_selector("body[data-sync='failed']")
    assert "离线" in page.inner_text("#trust")
    assert verdict(page) == ("true", "ok")
    context.close()
