"""Operator credentials: disable, re-enable, rotate, expire; listed with creation and last use; throttling."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest

from tests.conftest import NOW, ROOT

HOUR = dt.timedelta(hours=1)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def problem(r, status, code):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code
    return r.json()


@pytest.fixture
def admin(app_client):
    _, token = app_client.service.create_operator("510321", "boss", "authority_admin", actor="t", now=NOW)
    return bearer(token)


def _clerk(app_client, admin, name="clerk2"):
    r = app_client.post("/v1/authorities/510321/operators", json={"name": name}, headers=admin)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["state"] == "active" and body["last_used"] is None
    assert body["expires"] == (NOW + dt.timedelta(days=90)).astimezone(dt.UTC).isoformat()
    return body["id"], bearer(body["credential"])


def test_disable_enable_rotate_expire_over_the_api(app_client, admin, clock):
    op_id, clerk = _clerk(app_client, admin)
    assert app_client.get("/v1/certificates", headers=clerk).status_code == 200
    listed = {o["id"]: o for o in app_client.get("/v1/authorities/510321/operators", headers=admin).json()["items"]}
    assert listed[op_id]["created"] == NOW.astimezone(dt.UTC).isoformat()
    assert listed[op_id]["last_used"] == NOW.astimezone(dt.UTC).isoformat()
    assert all("credential" not in o and "token_hash" not in o for o in listed.values())

    r = app_client.post(f"/v1/authorities/510321/operators/{op_id}/disable", headers=admin)
    assert r.status_code == 200 and r.json()["state"] == "disabled"
    problem(app_client.get("/v1/certificates", headers=clerk), 401, "credential_disabled")
    r = app_client.post(f"/v1/authorities/510321/operators/{op_id}/enable", headers=admin)
    assert r.json()["state"] == "active"
    assert app_client.get("/v1/certificates", headers=clerk).status_code == 200

    r = app_client.post(f"/v1/authorities/510321/operators/{op_id}/rotate", json={"expires_days": 7}, headers=admin)
    assert r.status_code == 200 and r.json()["credential"].startswith("hct_")
    new = bearer(r.json()["credential"])
    problem(app_client.get("/v1/certificates", headers=clerk), 401, "unauthenticated")  # the old one is void
    assert app_client.get("/v1/certificates", headers=new).status_code == 200
    clock.now = NOW + dt.timedelta(days=7)
    problem(app_client.get("/v1/certificates", headers=new), 401, "credential_expired")

    clock.now = NOW + HOUR
    at = (NOW + 2 * HOUR).isoformat()
    r = app_client.post(f"/v1/authorities/510321/operators/{op_id}/expire", json={"at": at}, headers=admin)
    assert r.status_code == 200 and r.json()["expires"] == (NOW + 2 * HOUR).astimezone(dt.UTC).isoformat()
    assert app_client.get("/v1/certificates", headers=new).status_code == 200
    r = app_client.post(f"/v1/authorities/510321/operators/{op_id}/expire", headers=admin)  # now
    assert r.json()["state"] == "expired"
    problem(app_client.get("/v1/certificates", headers=new), 401, "credential_expired")
    actions = [e["action"] for e, _ in app_client.service.store.audit_entries()]
    for action in ("operator.disable", "operator.enable", "operator.rotate", "operator.expire"):
        assert action in actions


def test_lifecycle_is_for_admins_of_the_same_authority(app_client, admin):
    op_id, clerk = _clerk(app_client, admin)
    problem(app_client.post(f"/v1/authorities/510321/operators/{op_id}/disable", headers=clerk), 403, "forbidden")
    problem(app_client.get("/v1/authorities/510321/operators", headers=clerk), 403, "forbidden")
    problem(app_client.post(f"/v1/authorities/440300/operators/{op_id}/disable", headers=admin), 403, "forbidden")
    problem(
        app_client.post("/v1/authorities/510321/operators/op_0000000000000000/disable", headers=admin),
        404,
        "operator_not_found",
    )
    problem(
        app_client.post(
            f"/v1/authorities/510321/operators/{op_id}/expire", json={"at": "2019-01-01T00:00:00+08:00"}, headers=admin
        ),
        422,
        "invalid_expiry",
    )
    problem(
        app_client.post(
            f"/v1/authorities/510321/operators/{op_id}/expire", json={"at": "2020-03-11T00:00:00"}, headers=admin
        ),
        422,
        "invalid_expiry",
    )
    problem(app_client.post("/v1/authorities/510321/operators/nope/disable", headers=admin), 422, "invalid_request")


def test_failed_sign_ins_are_throttled_per_client(app_client, clock):
    limit = app_client.service.settings.signin_max_per_client
    for n in range(limit):
        problem(app_client.get("/v1/certificates", headers=bearer(f"hct_guess{n}")), 401, "unauthenticated")
    r = app_client.get("/v1/certificates", headers=bearer("hct_guess-next"))
    body = problem(r, 429, "too_many_failed_signins")
    window = app_client.service.settings.signin_window
    retry = int(r.headers["retry-after"])
    assert 0 < retry <= window and str(retry) in body["detail"]
    # While throttled, the client is refused even with a good credential...
    problem(app_client.get("/v1/certificates"), 429, "too_many_failed_signins")
    # ...until the window ends.
    clock.now = NOW + dt.timedelta(seconds=retry)
    assert app_client.get("/v1/certificates").status_code == 200


def test_failed_sign_ins_are_throttled_per_credential(app_client, admin):
    op_id, clerk = _clerk(app_client, admin)
    app_client.post(f"/v1/authorities/510321/operators/{op_id}/disable", headers=admin)
    limit = app_client.service.settings.signin_max_per_credential
    for _ in range(limit):
        problem(app_client.get("/v1/certificates", headers=clerk), 401, "credential_disabled")
    problem(app_client.get("/v1/certificates", headers=clerk), 429, "too_many_failed_signins")
    # Another credential from the same client still works: the client is under its own limit.
    assert app_client.get("/v1/certificates").status_code == 200


def _second_instance(app_client, tmp_path, clock):
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.settings import Settings

    service = app_client.service
    settings = Settings(data_dir=service.settings.data_dir, base_url="https://hcert.test")
    if service.store.__class__.__name__ == "SqliteStore":
        from app.store import open_store

        store = open_store("sqlite", path=service.store.path)
    else:
        from app.store import open_store

        store = open_store("redis", url=service.store.url)
    return TestClient(create_app(settings, store=store, clock=clock), raise_server_exceptions=False), store


def test_every_instance_refuses_a_disabled_credential_at_once_and_shares_the_throttle(
    app_client, admin, tmp_path, clock
):
    op_id, clerk = _clerk(app_client, admin)
    client_b, store_b = _second_instance(app_client, tmp_path, clock)
    with client_b:
        assert client_b.get("/v1/certificates", headers=clerk).status_code == 200
        app_client.post(f"/v1/authorities/510321/operators/{op_id}/disable", headers=admin)
        problem(client_b.get("/v1/certificates", headers=clerk), 401, "credential_disabled")
        # Failures on instance A count on instance B: the counts live in the store.
        limit = app_client.service.settings.signin_max_per_client
        for n in range(limit - 1):
            app_client.get("/v1/certificates", headers=bearer(f"hct_guess{n}"))
        problem(client_b.get("/v1/certificates", headers=bearer("hct_more")), 429, "too_many_failed_signins")
    store_b.close()


def hcert(data, *args):
    return subprocess.run(
        [sys.executable, "-m", "app", "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_cli_operator_lifecycle(tmp_path):
    import httpx

    from tests.conftest import start_hcert, stop

    data = tmp_path / "data"
    proc, url = start_hcert(data)
    try:
        r = hcert(data, "operator", "create", "--authority", "510321", "--name", "clerk", "--expires-days", "30")
        assert r.returncode == 0, r.stderr
        token = r.stdout.strip()
        assert httpx.get(f"{url}/v1/certificates", headers=bearer(token)).status_code == 200
        listing = hcert(data, "operator", "list", "--authority", "510321").stdout.splitlines()
        assert len(listing) == 1
        op_id, role, state, name, created, expires, last_used = listing[0].split("\t")
        assert (role, state, name) == ("operator", "active", "clerk")
        assert created.startswith("created 20") and expires.startswith("expires 20")
        assert last_used.startswith("last used 20")
        assert hcert(data, "operator", "disable", op_id).returncode == 0
        r = httpx.get(f"{url}/v1/certificates", headers=bearer(token))
        assert r.status_code == 401 and r.json()["code"] == "credential_disabled"
        assert hcert(data, "operator", "enable", op_id).returncode == 0
        assert httpx.get(f"{url}/v1/certificates", headers=bearer(token)).status_code == 200
        r = hcert(data, "operator", "rotate", op_id)
        assert r.returncode == 0 and r.stdout.startswith("hct_") and "shown once" in r.stderr
        new = r.stdout.strip()
        assert httpx.get(f"{url}/v1/certificates", headers=bearer(token)).status_code == 401
        assert httpx.get(f"{url}/v1/certificates", headers=bearer(new)).status_code == 200
        assert hcert(data, "operator", "expire", op_id).returncode == 0
        r = httpx.get(f"{url}/v1/certificates", headers=bearer(new))
        assert r.status_code == 401 and r.json()["code"] == "credential_expired"
        assert "\texpired\t" in hcert(data, "operator", "list", "--authority", "510321").stdout
        bad = hcert(data, "operator", "disable", "op_0000000000000000")
        assert (
            bad.returncode == 1 and bad.stderr.startswith("hcert: operator_not_found") and bad.stderr.count("\n") == 1
        )
        bad = hcert(data, "operator", "expire", op_id, "--at", "tomorrow")
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    finally:
        stop(proc)


def test_an_older_database_gains_the_credential_columns(tmp_path):
    import sqlite3

    from app.store import open_store

    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE operators(id TEXT PRIMARY KEY, authority TEXT, name TEXT NOT NULL, role TEXT NOT NULL, "
        "token_hash TEXT NOT NULL UNIQUE, created INTEGER NOT NULL, disabled INTEGER NOT NULL DEFAULT 0)"
    )
    db.execute("INSERT INTO operators VALUES ('op_1', '510321', 'clerk', 'operator', 'h', 1, 0)")
    db.commit()
    db.close()
    store = open_store("sqlite", path=str(path))
    op = store.get_operator("op_1")
    assert op is not None and op.expires is None and op.last_used is None and not op.disabled
    store.close()
