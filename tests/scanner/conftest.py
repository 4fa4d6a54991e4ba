"""Fixtures for the scanner tests: one hcert server and one headless Chromium per module."""

from __future__ import annotations

import shutil

import pytest

from tests.app.test_browser import CHROMIUM_ARGS
from tests.conftest import start_hcert, stop


@pytest.fixture(scope="module")
def scan_server(tmp_path_factory):
    """Run `hcert serve` on a free loopback port for the module; yield (url, data dir)."""
    data = tmp_path_factory.mktemp("scan") / "data"
    proc, url = start_hcert(data)
    yield url, data
    stop(proc)


def launch(playwright, *extra: str):
    """Launch Debian's Chromium headless with the project's flags (and ``extra``)."""
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is not installed; scripts/test installs it")
    return playwright.chromium.launch(executable_path=path, headless=True, args=[*CHROMIUM_ARGS, *extra])


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        yield browser
        browser.close()
