"""The printable pages in a real headless Chromium: the QR on screen reads back, both languages show."""

from __future__ import annotations

import io
import shutil

import httpx
import pytest
import zxingcpp
from PIL import Image

from tests.conftest import WORKER, operator_credential, resident_id

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is not installed; scripts/test installs it")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_certificate_page_shows_a_readable_qr(server, browser, tmp_path):
    url, data, _ = server
    h = {"Authorization": f"Bearer {operator_credential(data, 'printer')}"}
    from datetime import date

    worker = {**WORKER, "resident_since": date.fromordinal(date.today().toordinal() - 30).isoformat()}
    cert = httpx.post(f"{url}/v1/certificates", json=worker, headers=h).json()
    page = browser.new_page(extra_http_headers=h, viewport={"width": 900, "height": 700})
    response = page.goto(f"{url}{cert['links']['print']}")
    assert response.status == 200
    text = page.inner_text("body")
    assert "返岗复工健康证明" in text and "Return-to-work health certificate" in text
    assert "510321********1234" in text and "张伟明" in text
    shot = page.screenshot(full_page=True)
    (tmp_path / "certificate.png").write_bytes(shot)
    barcode = zxingcpp.read_barcode(Image.open(io.BytesIO(shot)), formats=zxingcpp.BarcodeFormat.QRCode)
    assert barcode is not None and barcode.text == cert["qr_text"]
    page.close()


def test_bus_print_sheet_every_qr_reads_back(server, browser):
    url, data, _ = server
    h = {"Authorization": f"Bearer {operator_credential(data, 'printer')}"}
    from datetime import date

    since = date.fromordinal(date.today().toordinal() - 30).isoformat()
    rows = [
        {**WORKER, "resident_since": since, "resident_id": resident_id(f"510321199001{i + 1:02d}{i:03d}")}
        for i in range(6)
    ]
    batch = httpx.post(f"{url}/v1/certificates/batch", json={"applications": rows}, headers=h).json()
    page = browser.new_page(extra_http_headers=h, viewport={"width": 900, "height": 700})
    page.goto(f"{url}/v1/batches/{batch['batch']}/print")
    cards = page.locator("section.cert")
    assert cards.count() == 6
    read = set()
    for i in range(6):
        shot = cards.nth(i).locator(".qr").screenshot()
        barcode = zxingcpp.read_barcode(Image.open(io.BytesIO(shot)), formats=zxingcpp.BarcodeFormat.QRCode)
        assert barcode is not None
        read.add(barcode.text)
    assert read == {c["qr_text"] for c in batch["issued"]}
    page.close()
