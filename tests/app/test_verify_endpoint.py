"""POST /v1/verify: one shared verifier per bundle change, a change signal that crosses
instances on one store, and a checkpoint's queue in one request."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.routes.trust import MAX_VERIFY_BATCH
from app.settings import Settings
from app.store import open_store
from app.trust import VERIFIER_MAX_AGE, VERIFIER_POLL
from tests.conftest import NOW, WORKER

HOUR = dt.timedelta(hours=1)


def _open(backend: str, tmp_path, request):
    if backend == "sqlite":
        return open_store("sqlite", path=str(tmp_path / "hcert.sqlite3"))
    return open_store("redis", url=request.getfixturevalue("redis_url"))


@pytest.fixture(params=["sqlite", "redis"])
def two_instances(request, tmp_path, clock):
    """Two app instances on one store and one data folder (as two workers, or two machines on one Redis)."""
    if request.param == "redis":
        import redis

        redis.Redis.from_url(request.getfixturevalue("redis_url")).flushdb()
    settings = Settings(data_dir=tmp_path / "data", base_url="https://hcert.test", dev=True)
    stores = [_open(request.param, tmp_path, request) for _ in range(2)]
    apps = [create_app(settings, store=s, clock=clock) for s in stores]
    with TestClient(apps[0]) as a, TestClient(apps[1]) as b:
        _, token = apps[0].state.service.create_operator("510321", "clerk", "operator", actor="t", now=NOW)
        a.headers["Authorization"] = b.headers["Authorization"] = f"Bearer {token}"
        yield a, b
    for s in stores:
        s.close()


def _issue(client) -> dict:
    r = client.post("/v1/certificates", json=WORKER)
    assert r.status_code == 201, r.text
    return r.json()


def _verify(client, qr: str) -> dict:
    r = client.post("/v1/verify", json={"qr": qr, "destination": "44"})
    assert r.status_code == 200, r.text
    return r.json()


def test_the_verifier_is_made_once_and_a_revocation_elsewhere_is_seen(two_instances):
    a, b = two_instances
    cert = _issue(a)
    for client in (a, b):
        for _ in range(5):
            assert _verify(client, cert["qr_text"])["code"] == "ok"
        assert client.app.state.trust.verifier.builds == 1  # five requests, one verifier

    r = a.post(f"/v1/certificates/{cert['id']}/revoke", json={"reason": "issued in error"})
    assert r.status_code == 200, r.text
    assert _verify(a, cert["qr_text"])["code"] == "revoked"  # the instance that revoked: at once
    # The other instance reads the store's signal every VERIFIER_POLL seconds.
    deadline = time.monotonic() + 20 * VERIFIER_POLL + 5
    while _verify(b, cert["qr_text"])["code"] != "revoked":
        assert time.monotonic() < deadline, "the other instance never saw the revocation"
        time.sleep(VERIFIER_POLL / 4)
    assert _verify(b, cert["qr_text"])["code"] == "revoked"
    assert b.app.state.trust.verifier.builds == 2


def test_a_new_certificate_in_a_known_list_needs_no_rebuild(two_instances):
    a, b = two_instances
    first = _issue(a)
    assert _verify(b, first["qr_text"])["valid"]
    builds = b.app.state.trust.verifier.builds
    later = _issue(a)  # same status list; its entry is still 0 (valid) in the verifier's copy
    assert _verify(b, later["qr_text"])["valid"]
    assert b.app.state.trust.verifier.builds == builds


def test_the_verifier_is_remade_when_it_ages_without_a_signal(app_client, clock):
    cert = app_client.post("/v1/certificates", json=WORKER).json()
    shared = app_client.app.state.trust.verifier
    assert _verify(app_client, cert["qr_text"])["valid"]
    builds = shared.builds
    clock.now = NOW + dt.timedelta(seconds=VERIFIER_MAX_AGE - 1)
    _verify(app_client, cert["qr_text"])
    assert shared.builds == builds
    clock.now = NOW + dt.timedelta(seconds=VERIFIER_MAX_AGE)
    assert _verify(app_client, cert["qr_text"])["valid"]
    assert shared.builds == builds + 1
    clock.now = NOW  # a clock set back is a reason to rebuild too
    _verify(app_client, cert["qr_text"])
    assert shared.builds == builds + 2


def test_a_queue_gets_one_verdict_per_qr_text_in_order(app_client):
    good = app_client.post("/v1/certificates", json=WORKER).json()
    gone = app_client.post("/v1/certificates", json=WORKER).json()
    app_client.post(f"/v1/certificates/{gone['id']}/revoke", json={"reason": "lost"})
    h, p, s = good["token"].split(".")
    tampered = f"{h}.{p[:10]}{'A' if p[10] != 'A' else 'B'}{p[11:]}.{s}"
    queue = [good["qr_text"], gone["qr_text"], tampered, "not a certificate", good["token"]]
    r = app_client.post("/v1/verify", json={"qrs": queue, "destination": "44", "checkpoint": "gate"})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["code"] for x in results] == ["ok", "revoked", "bad_signature", "bad_qr_prefix", "ok"]
    for qr, batched in zip(queue, results, strict=True):
        assert batched == _verify(app_client, qr)  # the same verdict as one at a time


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"qr": "CNHC:/00", "qrs": ["CNHC:/00"]},
        {"qrs": []},
        {"qrs": ["CNHC:/00"] * (MAX_VERIFY_BATCH + 1)},
        {"qrs": ["CNHC:/00", ""]},
        {"qrs": "CNHC:/00"},
    ],
    ids=["neither", "both", "empty", "too-many", "empty-text", "not-a-list"],
)
def test_a_bad_queue_is_a_422_problem(app_client, body):
    r = app_client.post("/v1/verify", json=body)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "invalid_request"


def test_a_full_queue_is_accepted(app_client):
    cert = app_client.post("/v1/certificates", json=WORKER).json()
    r = app_client.post("/v1/verify", json={"qrs": [cert["qr_text"]] * MAX_VERIFY_BATCH})
    assert r.status_code == 200
    assert [x["valid"] for x in r.json()["results"]] == [True] * MAX_VERIFY_BATCH


def test_a_certificate_in_a_list_newer_than_the_verifier_makes_it_rebuild_once(app_client, monkeypatch):
    import app.service

    monkeypatch.setattr(app.service, "STATUS_LIST_SIZE", 8)  # a list takes 4 certificates, then the next starts
    first = app_client.post("/v1/certificates", json=WORKER).json()
    shared = app_client.app.state.trust.verifier
    assert _verify(app_client, first["qr_text"])["valid"]
    builds = shared.builds
    later = [app_client.post("/v1/certificates", json=WORKER).json() for _ in range(4)]
    assert app_client.service.store.status_lists("510321") == [0, 1]  # the last one opened list 1
    assert all(_verify(app_client, c["qr_text"])["code"] == "ok" for c in later)
    assert shared.builds == builds + 1  # one rebuild, for the new list
    # Certificates in lists the verifier has need no further rebuild.
    assert _verify(app_client, first["qr_text"])["valid"]
    assert shared.builds == builds + 1


def test_a_store_that_cannot_give_the_signal_is_logged_once_per_outage(app_client, monkeypatch, caplog):
    from app.store import StoreUnavailable

    store = app_client.service.store
    polls = []

    def down(name):
        polls.append(name)
        raise StoreUnavailable("the store is down")

    with caplog.at_level("WARNING", logger="hcert.trust"):
        monkeypatch.setattr(store, "generation", down)
        deadline = time.monotonic() + 10
        while len(polls) < 5:  # several polls fail ...
            assert time.monotonic() < deadline
            time.sleep(VERIFIER_POLL)
        monkeypatch.undo()
        deadline = time.monotonic() + 10
        while not any("readable again" in r.message for r in caplog.records):
            assert time.monotonic() < deadline
            time.sleep(VERIFIER_POLL)
    failed = [r for r in caplog.records if "signal failed" in r.message]
    assert len(failed) == 1  # ... and say so once


@pytest.mark.parametrize("body", [b'{"qr": ', b'{"qr": "\xff"}'], ids=["truncated", "not UTF-8"])
@pytest.mark.parametrize("path", ["/v1/verify", "/v1/certificates", "/v1/certificates/batch"])
def test_a_body_that_is_not_json_is_400_invalid_json_everywhere(app_client, path, body):
    r = app_client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "invalid_json"


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("application/x-www-form-urlencoded", b"qr=HC1"),  # curl -d without -H
        ("text/plain", b'{"qr": "HC1"}'),  # JSON, but not said to be
        ("", b'{"qr": "HC1"}'),  # no Content-Type at all
    ],
)
def test_a_json_route_sent_another_media_type_says_so(app_client, content_type, body):
    r = app_client.post("/v1/verify", content=body, headers={"Content-Type": content_type} if content_type else {})
    assert r.status_code == 415, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "unsupported_media_type" and (content_type or "no Content-Type") in r.json()["detail"]
    # The same body as JSON is answered (a verdict, not an error).
    ok = app_client.post("/v1/verify", json={"qr": "HC1"})
    assert ok.status_code == 200 and ok.json()["valid"] is False


def test_no_body_at_all_is_a_missing_body_not_a_media_type(app_client):
    r = app_client.post("/v1/verify")
    assert (r.status_code, r.json()["code"]) == (422, "invalid_request"), r.text
    assert r.json()["errors"][0]["field"] == "body"
