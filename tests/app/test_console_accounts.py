"""People's sign-in for the console: accounts, argon2id passwords, sessions, CSRF, throttling, audit."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys

import pytest

from app.audit import verify_chain
from app.store import Account, AuditEvent, Conflict, Session
from tests.conftest import NOW, ROOT

T = 1_583_802_000
MIN = dt.timedelta(minutes=1)


# -- the store contract (SQLite and a real redis-server) -------------------------------------------
def test_accounts_in_the_store(store):
    ev = AuditEvent(T, "op_a", "510321", "account.password_create", "op_1", {})
    store.set_account(Account("op_1", "zhang.wei", "$argon2id$x", True, T), ev)
    assert store.account_by_username("zhang.wei") == Account("op_1", "zhang.wei", "$argon2id$x", True, T)
    assert store.account_of("op_1").must_change is True
    with pytest.raises(Conflict):
        store.set_account(Account("op_2", "zhang.wei", "$argon2id$y", True, T), ev)
    assert store.account_of("op_2") is None
    # A new password (and user name) replaces the old record; the old user name is free again.
    store.set_account(Account("op_1", "zhang.w", "$argon2id$z", False, T + 5), ev)
    assert store.account_by_username("zhang.wei") is None
    assert store.account_by_username("zhang.w").password_hash == "$argon2id$z"
    entries = list(store.audit_entries())
    assert len(entries) == 2 and verify_chain(entries).ok


def test_sessions_in_the_store(store):
    a = Session("h1", "op_1", "c1", T, T, T + 3600)
    b = Session("h2", "op_1", "c2", T, T, T + 3600)
    c = Session("h3", "op_2", "c3", T, T, T + 3600)
    for s in (a, b, c):
        store.add_session(s)
    assert store.get_session("h1") == a
    store.touch_session("h1", T + 60)
    store.touch_session("h1", T + 30)  # never moves back
    assert store.get_session("h1").last_seen == T + 60
    store.delete_session("h2")
    assert store.get_session("h2") is None
    assert store.delete_sessions("op_1") == 1
    assert store.get_session("h1") is None and store.get_session("h3") == c
    assert store.delete_sessions("op_1") == 0


# -- the console over HTTP -------------------------------------------------------------------------
def admin_header(app_client):
    _, token = app_client.service.create_operator("510321", "boss", "authority_admin", actor="t", now=NOW)
    return {"Authorization": f"Bearer {token}"}


def make_account(app_client, username, password="first-pass-123", role="operator"):
    if not hasattr(app_client, "admin"):
        app_client.admin = admin_header(app_client)
    r = app_client.post(
        "/v1/authorities/510321/accounts",
        json={"username": username, "password": password, "role": role},
        headers=app_client.admin,
    )
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
def web(app_client):
    """The TestClient without its bearer credential (a browser has none)."""
    app_client.admin = admin_header(app_client)
    del app_client.headers["Authorization"]
    return app_client


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def sign_in(web, username, password, *, expect=303):
    page = web.get("/console/signin")
    assert page.status_code == 200
    r = web.post(
        "/console/signin",
        data={"csrf": csrf_of(page.text), "username": username, "password": password},
        follow_redirects=False,
    )
    assert r.status_code == expect, r.text
    return r


def test_account_sign_in_forced_change_and_sign_out(web, clock):
    body = make_account(web, "zhang.wei")
    assert body["username"] == "zhang.wei" and body["must_change"] is True and "credential" not in body
    assert web.get("/console", follow_redirects=False).headers["location"] == "/console/signin"
    r = sign_in(web, "zhang.wei", "first-pass-123")
    assert r.headers["location"] == "/console/password"
    cookie = r.headers["set-cookie"]
    assert "hcert_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # served over http in this test; https requests get Secure
    # Until the password is changed, every page leads to the change form.
    assert web.get("/console", follow_redirects=False).headers["location"] == "/console/password"
    form = web.get("/console/password")
    token = csrf_of(form.text)
    r = web.post(
        "/console/password",
        data={"csrf": token, "current": "first-pass-123", "password": "short", "password2": "short"},
    )
    assert r.status_code == 422 and 'data-code="password_too_short"' in r.text and "密码至少 10 个字符" in r.text
    r = web.post(
        "/console/password",
        data={
            "csrf": token,
            "current": "first-pass-123",
            "password": "my-own-pass-456",
            "password2": "my-own-pass-456",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    home = web.get("/console")
    assert home.status_code == 200 and "今日工作" in home.text and "zhang.wei" in home.text
    # Sign out ends the session in the store: the old cookie no longer works.
    old = web.cookies.get("hcert_session")
    r = web.post("/console/signout", data={"csrf": csrf_of(home.text)}, follow_redirects=False)
    assert r.status_code == 303
    web.cookies.set("hcert_session", old)
    assert web.get("/console", follow_redirects=False).headers["location"] == "/console/signin"
    # The new password works, the first one does not.
    sign_in(web, "zhang.wei", "first-pass-123", expect=401)
    assert sign_in(web, "zhang.wei", "my-own-pass-456").headers["location"] == "/console"
    actions = [e["action"] for e, _ in web.service.store.audit_entries()]
    assert actions.count("signin.success") == 2 and actions.count("signin.failure") == 1
    assert "signout" in actions and "account.password_change" in actions


def test_https_requests_get_a_secure_cookie(app_client):
    from fastapi.testclient import TestClient

    make_account(app_client, "zhang.wei")
    with TestClient(app_client.app, base_url="https://hcert.test") as secure:
        page = secure.get("/console/signin")
        r = secure.post(
            "/console/signin",
            data={"csrf": csrf_of(page.text), "username": "zhang.wei", "password": "first-pass-123"},
            follow_redirects=False,
        )
        assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]


def test_wrong_password_is_audited_then_throttled_across_the_store(web):
    make_account(web, "zhang.wei")
    for _ in range(5):
        r = sign_in(web, "zhang.wei", "not-the-password", expect=401)
        assert 'data-code="wrong_credentials"' in r.text and "用户名或密码错误" in r.text
    # The limit holds even for the right password now, with Retry-After.
    r = sign_in(web, "zhang.wei", "first-pass-123", expect=429)
    assert 'data-code="too_many_failed_signins"' in r.text and int(r.headers["retry-after"]) > 0
    failures = [e for e, _ in web.service.store.audit_entries() if e["action"] == "signin.failure"]
    assert len(failures) == 5 and all(e["subject"] == "zhang.wei" for e in failures)
    assert not any("not-the-password" in str(e) for e, _ in web.service.store.audit_entries())
    # An unknown user name answers exactly like a wrong password.
    r = sign_in(web, "nobody", "whatever-password", expect=401)
    assert 'data-code="wrong_credentials"' in r.text


def test_window_passes_and_sign_in_works_again(web, clock):
    make_account(web, "zhang.wei")
    for _ in range(5):
        sign_in(web, "zhang.wei", "not-the-password", expect=401)
    sign_in(web, "zhang.wei", "first-pass-123", expect=429)
    clock.now += dt.timedelta(seconds=web.service.settings.signin_window)
    sign_in(web, "zhang.wei", "first-pass-123", expect=303)


def _signed_in_and_changed(web, username="zhang.wei"):
    make_account(web, username)
    sign_in(web, username, "first-pass-123")
    token = csrf_of(web.get("/console/password").text)
    r = web.post(
        "/console/password",
        data={
            "csrf": token,
            "current": "first-pass-123",
            "password": "my-own-pass-456",
            "password2": "my-own-pass-456",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    return web.get("/console")


def test_forms_without_the_csrf_token_are_refused(web):
    home = _signed_in_and_changed(web)
    for data in ({}, {"csrf": "forged"}):
        r = web.post("/console/signout", data=data)
        assert r.status_code == 403 and 'data-code="csrf_failed"' in r.text
    assert web.get("/console").status_code == 200  # still signed in
    # The sign-in form too: without its token nothing is checked.
    web.cookies.clear()
    r = web.post("/console/signin", data={"username": "zhang.wei", "password": "my-own-pass-456"})
    assert r.status_code == 403 and 'data-code="csrf_failed"' in r.text
    assert "hcert_session" not in r.headers.get("set-cookie", "")
    assert csrf_of(home.text)


def test_idle_and_absolute_expiry(web, clock):
    from app.accounts import ABSOLUTE_SECONDS, IDLE_SECONDS

    _signed_in_and_changed(web)
    clock.now += dt.timedelta(seconds=IDLE_SECONDS - 60)
    assert web.get("/console").status_code == 200  # activity moves the idle limit
    clock.now += dt.timedelta(seconds=IDLE_SECONDS - 60)
    assert web.get("/console").status_code == 200
    clock.now += dt.timedelta(seconds=IDLE_SECONDS)
    assert web.get("/console", follow_redirects=False).headers["location"] == "/console/signin"
    sign_in(web, "zhang.wei", "my-own-pass-456")
    start = clock.now
    while clock.now - start < dt.timedelta(seconds=ABSOLUTE_SECONDS - 600):
        clock.now += dt.timedelta(seconds=IDLE_SECONDS - 60)
        assert web.get("/console").status_code == 200
    clock.now = start + dt.timedelta(seconds=ABSOLUTE_SECONDS)
    assert web.get("/console", follow_redirects=False).headers["location"] == "/console/signin"


def test_disabling_an_account_ends_its_sessions_at_once(web):
    from fastapi.testclient import TestClient

    _signed_in_and_changed(web, "zhang.wei")
    person = web.service.store.account_by_username("zhang.wei").operator
    # The admin signs in on another browser and disables the clerk.
    make_account(web, "boss.admin", role="authority_admin")
    with TestClient(web.app) as admin_browser:
        sign_in(admin_browser, "boss.admin", "first-pass-123")
        token = csrf_of(admin_browser.get("/console/password").text)
        admin_browser.post(
            "/console/password",
            data={
                "csrf": token,
                "current": "first-pass-123",
                "password": "admin-pass-789",
                "password2": "admin-pass-789",
            },
        )
        people = admin_browser.get("/console/people")
        assert people.status_code == 200 and "zhang.wei" in people.text
        r = admin_browser.post(
            f"/console/people/{person}/disable", data={"csrf": csrf_of(people.text)}, follow_redirects=False
        )
        assert r.status_code == 303
    assert web.get("/console", follow_redirects=False).headers["location"] == "/console/signin"
    r = sign_in(web, "zhang.wei", "my-own-pass-456", expect=401)
    assert 'data-code="account_disabled"' in r.text


def test_a_clerk_cannot_open_admin_pages(web):
    _signed_in_and_changed(web)
    assert web.get("/console/people").status_code == 403
    assert web.get("/console/audit").status_code == 403


def test_admin_pages_create_reset_and_audit(web):
    make_account(web, "boss.admin", role="authority_admin")
    sign_in(web, "boss.admin", "first-pass-123")
    token = csrf_of(web.get("/console/password").text)
    web.post(
        "/console/password",
        data={"csrf": token, "current": "first-pass-123", "password": "admin-pass-789", "password2": "admin-pass-789"},
    )
    people = web.get("/console/people")
    r = web.post("/console/people", data={"csrf": csrf_of(people.text), "username": "Bad Name!", "role": "operator"})
    assert r.status_code == 422 and 'data-field="username"' in r.text and "invalid_username" in r.text
    r = web.post("/console/people", data={"csrf": csrf_of(people.text), "username": "wang.fang", "role": "operator"})
    assert r.status_code == 201
    first = re.search(r'<code class="secret">([^<]+)</code>', r.text).group(1)
    assert len(first) == 12
    person = web.service.store.account_by_username("wang.fang").operator
    r = web.post(f"/console/people/{person}/reset", data={"csrf": csrf_of(people.text)})
    second = re.search(r'<code class="secret">([^<]+)</code>', r.text).group(1)
    assert second != first
    audit = web.get("/console/audit")
    assert 'data-chain="ok"' in audit.text and "account.password_reset" in audit.text


def test_api_account_errors(web):
    admin = web.admin
    r = web.post(
        "/v1/authorities/510321/accounts", json={"username": "zhang.wei", "password": "zhang.wei-123"}, headers=admin
    )
    assert r.status_code == 422 and r.json()["code"] == "password_contains_username"
    assert web.post("/v1/authorities/510321/accounts", json={"username": "ab"}, headers=admin).status_code == 422
    ok = web.post("/v1/authorities/510321/accounts", json={"username": "zhang.wei"}, headers=admin)
    assert ok.status_code == 201 and len(ok.json()["password"]) == 12
    again = web.post("/v1/authorities/510321/accounts", json={"username": "zhang.wei"}, headers=admin)
    assert again.status_code == 409 and again.json()["code"] == "username_taken"
    r = web.post(f"/v1/authorities/510321/accounts/{ok.json()['id']}/password", json={}, headers=admin)
    assert r.status_code == 200 and r.json()["must_change"] is True
    other = web.post("/v1/authorities/510322/accounts", json={"username": "x.y.z"}, headers=admin)
    assert other.status_code == 403
    # Bearer credentials stay for machines: the console cookie is no API credential.
    assert web.get("/v1/certificates").status_code == 401


def test_cli_account_create_and_reset(tmp_path):
    def hcert(*args, stdin=None):
        return subprocess.run(
            [sys.executable, "-m", "app", "--data-dir", str(tmp_path / "d"), *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
            input=stdin,
        )

    assert hcert("authority", "create", "510321", "--name-zh", "荣县", "--name-en", "Rong").returncode == 0
    r = hcert("account", "create", "--authority", "510321", "--username", "zhang.wei")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.strip()) == 12 and "changed at first sign-in" in r.stderr
    r = hcert(
        "account",
        "create",
        "--authority",
        "510321",
        "--username",
        "li.na",
        "--password-stdin",
        stdin="a-good-password-1\n",
    )
    assert r.returncode == 0 and r.stdout == ""
    r = hcert("account", "create", "--authority", "510321", "--username", "li.na")
    assert r.returncode != 0 and "username_taken" in r.stderr and "Traceback" not in r.stderr
    r = hcert("account", "create", "--authority", "510321", "--username", "wang", "--password-stdin", stdin="short\n")
    assert r.returncode != 0 and "password_too_short" in r.stderr
    listed = hcert("operator", "list", "--authority", "510321").stdout
    op_id = next(line.split("\t")[0] for line in listed.splitlines() if "zhang.wei" in line)
    r = hcert("account", "reset-password", op_id)
    assert r.returncode == 0 and len(r.stdout.strip()) == 12


def test_a_store_fault_on_a_console_page_is_a_page_not_json(web, monkeypatch):
    """A person posting the sign-in form while the store is down reads a page in Chinese; scripts get problem+json."""
    from app.store import StoreUnavailable

    make_account(web, "li.na")
    page = web.get("/console/signin")

    def down(*args, **kwargs):
        raise StoreUnavailable("Redis does not answer")

    monkeypatch.setattr(web.service.store, "failed_signins", down)
    form = {"csrf": csrf_of(page.text), "username": "li.na", "password": "first-pass-123"}
    browser = {"Accept": "text/html,application/xhtml+xml", "Sec-Fetch-Mode": "navigate"}
    r = web.post("/console/signin", data=form, headers=browser, follow_redirects=False)
    assert r.status_code == 503 and r.headers["content-type"].startswith("text/html"), r.text
    assert r.headers["Retry-After"] == "1"
    assert 'data-code="store_unavailable"' in r.text and "数据库暂时无法访问" in r.text
    # The same fault for a script (fetch, curl): problem+json as everywhere else.
    r = web.post("/console/signin", data=form, headers={"Accept": "*/*", "Sec-Fetch-Mode": "cors"})
    assert r.status_code == 503 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "store_unavailable"
