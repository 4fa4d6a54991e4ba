"""Bad input never stalls or 5xx's; security headers; /metrics only as configured; the batch
index; and a withdrawn key's certificates shown as devices judge them (key_withdrawn)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.routes.certificates import MAX_JSON_DEPTH
from app.settings import Settings
from tests.app.test_api import is_problem
from tests.conftest import NOW, WORKER, resident_id


def _nested(depth: int) -> bytes:
    return b'{"applications": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5_000, 200_000])
def test_deeply_nested_json_is_a_422_problem(app_client, depth):
    json_headers = {"Content-Type": "application/json"}
    one = b'{"kind": ' + b"[" * depth + b"]" * depth + b"}"
    is_problem(app_client.post("/v1/certificates", content=one, headers=json_headers), 422, "too_deep")
    batch = _nested(depth)
    is_problem(app_client.post("/v1/certificates/batch", content=batch, headers=json_headers), 422, "too_deep")


def test_an_application_with_a_flood_of_values_is_refused_before_parsing(app_client):
    flood = b'{"kind": "return-to-work", "symptoms": [' + b",".join([b'"x"'] * 300_000) + b"]}"
    r = app_client.post("/v1/certificates", content=flood, headers={"Content-Type": "application/json"})
    is_problem(r, 422, "too_many_values")


def test_million_row_batches_are_refused_before_parsing_them_all(app_client):
    csv = b"kind\n" + b"x\n" * 1_000_000
    body = is_problem(
        app_client.post("/v1/certificates/batch", content=csv, headers={"Content-Type": "text/csv"}),
        422,
        "too_many_rows",
    )
    assert "500" in body["detail"]
    many = b'{"applications":[' + b",".join([b"{}"] * 600_000) + b"]}"
    is_problem(
        app_client.post("/v1/certificates/batch", content=many, headers={"Content-Type": "application/json"}),
        422,
        "too_many_rows",
    )
    # At the cap exactly, every row is checked and issued as usual.
    rows = "".join(
        f"return-to-work,张三,{resident_id('51032119900307' + f'{i:03d}')},510321,2020-01-20,never,green\n"
        for i in range(500)
    )
    head = "kind,name,resident_id,origin_region,resident_since,quarantine,health_code\n"
    r = app_client.post("/v1/certificates/batch", content=(head + rows).encode(), headers={"Content-Type": "text/csv"})
    assert r.status_code == 201, r.text[:500]
    assert r.json()["counts"]["issued"] == 500


def test_security_headers_on_pages_and_token_bearing_answers(app_client):
    issued = app_client.post("/v1/certificates", json=WORKER)
    assert issued.status_code == 201
    cert = issued.json()
    for path in ("/v1/certificates", f"/v1/certificates/{cert['id']}", f"/v1/certificates/{cert['id']}/qr.png"):
        r = app_client.get(path)
        assert r.status_code == 200
        assert r.headers["cache-control"] == "no-store", path
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert issued.headers["cache-control"] == "no-store"
    for path in (f"/v1/certificates/{cert['id']}/print", f"/v1/batches/{cert['batch']}/print"):
        page = app_client.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["x-content-type-options"] == "nosniff"
    # Public material keeps its own caching, and still gets nosniff and a CSP.
    jwks = app_client.get("/.well-known/jwks.json", headers={"Authorization": ""})
    assert jwks.headers["cache-control"].startswith("public")
    assert jwks.headers["x-content-type-options"] == "nosniff" and "content-security-policy" in jwks.headers
    # Problems too, the body limit's included.
    too_big = app_client.post("/v1/certificates", content=b"x" * (3 * 1024 * 1024))
    assert too_big.status_code == 413 and too_big.headers["x-content-type-options"] == "nosniff"


def _client(store, tmp_path, clock, **settings):
    app = create_app(
        Settings(data_dir=tmp_path / "d", base_url="https://hcert.test", **settings), store=store, clock=clock
    )
    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_metrics_are_off_unless_a_token_is_set(store, tmp_path, clock):
    with _client(store, tmp_path, clock) as client:
        is_problem(client.get("/metrics"), 404, "metrics_disabled")
    with _client(store, tmp_path, clock, metrics_token="s3cret-scrape") as client:
        is_problem(client.get("/metrics"), 401, "unauthenticated")
        is_problem(client.get("/metrics", headers={"Authorization": "Bearer wrong"}), 401, "unauthenticated")
        ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape"})
        assert ok.status_code == 200 and "hcert_http_requests_total" in ok.text
        assert ok.headers["cache-control"] == "no-store"


def test_batch_print_reads_the_batch_index_in_manifest_order(app_client, monkeypatch):
    rows = [{**WORKER, "resident_id": resident_id("51032119900307" + f"{i:03d}"), "name": f"乘客{i}"} for i in range(4)]
    batch = app_client.post("/v1/certificates/batch", json={"applications": rows}).json()
    ids = [item["id"] for item in batch["issued"]]
    store = app_client.service.store

    def no_scan(*args, **kwargs):
        raise AssertionError("batch print must not scan the authority's certificates")

    monkeypatch.setattr(store, "list_certificates", no_scan)
    page = app_client.get(f"/v1/batches/{batch['batch']}/print")
    assert page.status_code == 200
    positions = [page.text.index(f'data-id="{jti}"') for jti in ids]
    assert positions == sorted(positions)  # manifest order, not id order
    is_problem(app_client.get("/v1/batches/b_0000000000000000/print"), 404, "batch_not_found")


def test_withdrawn_key_certificates_show_as_refused_everywhere(app_client):
    service = app_client.service
    cert = app_client.post("/v1/certificates", json=WORKER).json()
    assert cert["status"] == "valid"
    service.rotate_key("510321", actor="admin", now=NOW)
    service.withdraw_key("510321", cert["kid"], reason="laptop stolen", actor="admin", now=NOW)
    after = app_client.post("/v1/certificates", json={**WORKER, "resident_id": resident_id("51032119900307999")}).json()

    shown = app_client.get(f"/v1/certificates/{cert['id']}").json()
    assert shown["status"] == "key_withdrawn" and "laptop stolen" in shown["status_reason"]
    assert shown["token"] is None and shown["qr_text"] is None and set(shown["links"]) == {"print"}
    listed = {item["id"]: item for item in app_client.get("/v1/certificates").json()["items"]}
    assert listed[cert["id"]]["status"] == "key_withdrawn" and listed[cert["id"]]["token"] is None
    assert listed[after["id"]]["status"] == "valid"  # the new key's certificates are untouched
    for fmt in ("png", "svg"):
        is_problem(app_client.get(f"/v1/certificates/{cert['id']}/qr.{fmt}"), 409, "key_withdrawn")
    for path in (f"/v1/certificates/{cert['id']}/print", f"/v1/batches/{cert['batch']}/print"):
        page = app_client.get(path).text
        assert "key_withdrawn" in page and "<svg" not in page and 'class="st valid"' not in page
    assert "<svg" in app_client.get(f"/v1/certificates/{after['id']}/print").text
