"""The township console in a real headless Chromium: sign-in, throttle, CSRF, disabling ends a session."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.app.test_browser import browser  # noqa: F401 - the shared Chromium fixture
from tests.conftest import ROOT

pytestmark = pytest.mark.browser


def account(data_dir, username: str, password: str, role: str = "operator") -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "--data-dir",
            str(data_dir),
            "account",
            "create",
            "--authority",
            "510321",
            "--username",
            username,
            "--role",
            role,
            "--password-stdin",
        ],
        input=password + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr


def sign_in(page, url, username, password):
    page.goto(f"{url}/console")
    assert page.url.endswith("/console/signin")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit].primary")


def first_sign_in(page, url, username, first, own):
    sign_in(page, url, username, first)
    assert page.url.endswith("/console/password")
    page.fill("input[name=current]", first)
    page.fill("input[name=password]", own)
    page.fill("input[name=password2]", own)
    page.click("button[type=submit].primary")
    assert page.url.endswith("/console?changed=1")


def test_sign_in_wrong_password_throttle_and_english(server, browser):  # noqa: F811
    url, data, _ = server
    account(data, "zhang.wei", "first-pass-123")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    sign_in(page, url, "zhang.wei", "wrong-password")
    alert = page.locator("[role=alert]")
    assert alert.get_attribute("data-code") == "wrong_credentials" and "用户名或密码错误" in alert.inner_text()
    for _ in range(4):
        sign_in(page, url, "zhang.wei", "wrong-password")
    sign_in(page, url, "zhang.wei", "first-pass-123")
    assert page.locator("[role=alert]").get_attribute("data-code") == "too_many_failed_signins"
    assert "登录失败次数过多" in page.locator("[role=alert]").inner_text()
    # Another person is not locked out by zhang.wei's failures.
    account(data, "li.na", "first-pass-123")
    first_sign_in(page, url, "li.na", "first-pass-123", "li-na-own-pass")
    cookie = next(c for c in context.cookies() if c["name"] == "hcert_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert "今日工作" in page.inner_text("main")
    page.click("a.lang")
    assert "Today's work" in page.inner_text("main")
    page.click("button.link")  # sign out
    assert page.url.endswith("/console/signin")
    page.goto(f"{url}/console")
    assert page.url.endswith("/console/signin")
    context.close()


def test_csrf_refused_and_a_disabled_account_session_ends(server, browser):  # noqa: F811
    url, data, _ = server
    account(data, "zhang.wei", "first-pass-123")
    account(data, "boss.admin", "first-pass-123", role="authority_admin")
    clerk = browser.new_context(viewport={"width": 1024, "height": 768})  # a tablet
    page = clerk.new_page()
    first_sign_in(page, url, "zhang.wei", "first-pass-123", "clerk-own-pass")
    # A form posted without the session's token (as a forged cross-site form would be) is refused.
    status = page.evaluate(
        """async () => (await fetch('/console/signout', {method: 'POST',
             headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'csrf=forged'})).status"""
    )
    assert status == 403
    page.goto(f"{url}/console")
    assert page.url.endswith("/console")  # still signed in
    admin = browser.new_context(viewport={"width": 1280, "height": 800})
    apage = admin.new_page()
    first_sign_in(apage, url, "boss.admin", "first-pass-123", "admin-own-pass")
    apage.click("a[href='/console/people']")
    row = apage.locator("tr", has_text="zhang.wei")
    row.locator("button", has_text="停用").click()
    assert "已停用" in apage.locator("tr", has_text="zhang.wei").inner_text()
    page.reload()
    assert page.url.endswith("/console/signin")
    audit = apage.goto(f"{url}/console/audit")
    assert audit.status == 200 and apage.locator("[data-chain=ok]").count() == 1
    assert "operator.disable" in apage.inner_text("table")
    clerk.close()
    admin.close()
