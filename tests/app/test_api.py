"""The HTTP API on both backends: auth, issue, batch, CSV, idempotency, status, errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from hcert_verifier import JwksTrust, StatusList, StatusLists, Verifier
from tests.conftest import DRIVER, NOW, WORKER, resident_id

LATER = NOW + dt.timedelta(hours=1)


def verifier_for(client, *lists: str) -> Verifier:
    trust = JwksTrust.from_jwks(client.get("/.well-known/jwks.json").json())
    return Verifier(trust, status=StatusLists(StatusList.from_token(t, trust) for t in lists))


def is_problem(response, status, code):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code and body["status"] == status and body["type"] == f"urn:hcert:problem:{code}"
    assert "Traceback" not in response.text
    return body


def test_no_credential_is_401(app_client):
    r = app_client.post("/v1/certificates", json=WORKER, headers={"Authorization": ""})
    is_problem(r, 401, "unauthenticated")
    assert r.headers["www-authenticate"] == "Bearer"
    is_problem(
        app_client.get("/v1/certificates", headers={"Authorization": "Bearer hct_wrong"}), 401, "unauthenticated"
    )


def test_issue_one_and_verify_offline(app_client):
    r = app_client.post("/v1/certificates", json=WORKER)
    assert r.status_code == 201, r.text
    cert = r.json()
    assert cert["masked_id"] == "510321********1234" and cert["kind"] == "return-to-work"
    assert WORKER["resident_id"] not in r.text
    result = verifier_for(app_client).verify(cert["qr_text"], at=LATER)
    assert result.valid, result.reason
    assert result.certificate.jti == cert["id"]
    got = app_client.get(f"/v1/certificates/{cert['id']}").json()
    assert got["token"] == cert["token"]


def test_refusal_names_every_field(app_client):
    bad = {**WORKER, "symptoms": ["fever"], "health_code": "red", "resident_id": "123"}
    body = is_problem(app_client.post("/v1/certificates", json=bad), 422, "ineligible")
    assert {e["field"] for e in body["errors"]} >= {"symptoms", "health_code", "resident_id"}
    assert app_client.get("/v1/certificates").json()["total"] == 0


@pytest.mark.parametrize(
    ("content", "ctype", "status", "code"),
    [
        (b"{not json", "application/json", 400, "invalid_json"),
        (b"[1,2]", "application/json", 422, "invalid_request"),
        (b"\xff\xfe", "application/json", 400, "invalid_json"),
    ],
)
def test_malformed_bodies(app_client, content, ctype, status, code):
    is_problem(app_client.post("/v1/certificates", content=content, headers={"Content-Type": ctype}), status, code)


def test_body_size_limit(app_client):
    big = b'{"applications":[' + b'{"name":"' + b"x" * (3 * 1024 * 1024) + b'"}]}'
    is_problem(
        app_client.post("/v1/certificates/batch", content=big, headers={"Content-Type": "application/json"}),
        413,
        "body_too_large",
    )


def test_national_admin_cannot_issue_and_operator_cannot_admin(app_client):
    _, token = app_client.service.create_operator(None, "root", "national_admin", actor="t", now=NOW)
    r = app_client.post("/v1/certificates", json=WORKER, headers={"Authorization": f"Bearer {token}"})
    is_problem(r, 403, "forbidden")
    is_problem(
        app_client.post("/v1/authorities", json={"code": "440300", "name_zh": "深圳", "name_en": "SZ"}),
        403,
        "forbidden",
    )
    r = app_client.post(
        "/v1/authorities",
        json={"code": "440300", "name_zh": "深圳市卫健委", "name_en": "Shenzhen"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 201


def test_other_authoritys_certificate_is_404(app_client):
    service = app_client.service
    service.create_authority("420100", "武汉市卫健委", "Wuhan Health Commission", actor="t", now=NOW)
    _, token = service.create_operator("420100", "wuhan-clerk", "operator", actor="t", now=NOW)
    mine = app_client.post("/v1/certificates", json=WORKER).json()
    other = {"Authorization": f"Bearer {token}"}
    is_problem(app_client.get(f"/v1/certificates/{mine['id']}", headers=other), 404, "certificate_not_found")
    is_problem(
        app_client.post(f"/v1/certificates/{mine['id']}/revoke", json={"reason": "x"}, headers=other),
        404,
        "certificate_not_found",
    )
    is_problem(app_client.get(f"/v1/certificates/{mine['id']}/qr.png", headers=other), 404, "certificate_not_found")


def manifest(n, bad_rows=()):
    rows = []
    for i in range(n):
        row = {**WORKER, "resident_id": resident_id(f"510321199001{(i % 28) + 1:02d}{i:03d}")}
        if i + 1 in bad_rows:
            row["symptoms"] = ["cough"]
        rows.append(row)
    return rows


def test_batch_reports_bad_rows_by_number_and_issues_the_rest(app_client):
    r = app_client.post("/v1/certificates/batch", json={"applications": manifest(40, bad_rows=(7, 31))})
    assert r.status_code == 207, r.text
    body = r.json()
    assert body["counts"] == {"rows": 40, "issued": 38, "refused": 2}
    assert [(e["row"], e["field"], e["code"]) for e in body["errors"]] == [
        (7, "symptoms", "symptomatic"),
        (31, "symptoms", "symptomatic"),
    ]
    listing = app_client.get("/v1/certificates", headers={"Accept-Encoding": "gzip"})
    assert listing.json()["total"] == 38
    # Large responses (status lists of real size, listings) travel gzip-compressed.
    assert listing.headers["content-encoding"] == "gzip"
    jtis = {c["id"] for c in body["issued"]}
    assert len(jtis) == 38
    sheet = app_client.get(f"/v1/batches/{body['batch']}/print")
    assert sheet.status_code == 200 and sheet.text.count('class="cert"') == 38


def test_batch_all_bad_is_422_and_stores_nothing(app_client):
    r = app_client.post("/v1/certificates/batch", json={"applications": [{**WORKER, "quarantine": "under"}]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "quarantine"
    assert app_client.get("/v1/certificates").json()["total"] == 0


def test_batch_limits(app_client):
    is_problem(app_client.post("/v1/certificates/batch", json={"applications": []}), 422, "empty_batch")
    is_problem(app_client.post("/v1/certificates/batch", json={"applications": manifest(501)}), 422, "too_many_rows")
    is_problem(app_client.post("/v1/certificates/batch", json={"rows": []}), 422, "invalid_request")
    is_problem(
        app_client.post("/v1/certificates/batch", content=b"x", headers={"Content-Type": "text/plain"}),
        415,
        "unsupported_media_type",
    )


def test_csv_manifest(app_client):
    rows = [*manifest(3), dict(DRIVER)]
    cols = [
        "kind",
        "name",
        "resident_id",
        "origin_region",
        "resident_since",
        "quarantine",
        "health_code",
        "vehicle_plate",
        "role",
        "test_kind",
        "test_result",
        "sampled_at",
        "testing_institution",
        "route_origin",
        "route_destination",
        "no_key_area_passage",
    ]
    lines = [",".join(cols)]
    for row in rows:
        lines.append(",".join(str(row.get(c, "")).replace("True", "true") for c in cols))
    csv_text = "\ufeff" + "\n".join(lines) + "\n"
    r = app_client.post("/v1/certificates/batch", content=csv_text.encode(), headers={"Content-Type": "text/csv"})
    body = r.json()
    # The driver row is from Wuhan: this authority's freight certificates are fine, but its plate is 鄂A.
    assert r.status_code == 201, body
    assert body["counts"]["issued"] == 4


def test_csv_errors(app_client):
    r = app_client.post(
        "/v1/certificates/batch",
        content=b"kind,name,passport\nreturn-to-work,a,b\n",
        headers={"Content-Type": "text/csv"},
    )
    body = is_problem(r, 422, "invalid_csv")
    assert body["errors"][0]["field"] == "passport"
    r = app_client.post(
        "/v1/certificates/batch", content=b"kind,name\nreturn-to-work,a,extra\n", headers={"Content-Type": "text/csv"}
    )
    is_problem(r, 422, "invalid_csv")
    r = app_client.post(
        "/v1/certificates/batch", content=b"kind,name\n\xff\xff\n", headers={"Content-Type": "text/csv"}
    )
    is_problem(r, 400, "invalid_csv")
    r = app_client.post(
        "/v1/certificates/batch",
        content=b"kind,name,resident_id\nreturn-to-work,,123\n",
        headers={"Content-Type": "text/csv"},
    )
    body = r.json()
    assert r.status_code == 422 and {(e["row"], e["field"]) for e in body["errors"]} >= {
        (1, "name"),
        (1, "resident_id"),
    }


def test_idempotent_retry_never_issues_twice(app_client):
    payload = {"applications": manifest(5)}
    headers = {"Idempotency-Key": "bus-2020-03-10-0700"}
    first = app_client.post("/v1/certificates/batch", json=payload, headers=headers)
    again = app_client.post("/v1/certificates/batch", json=payload, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert app_client.get("/v1/certificates").json()["total"] == 5
    other = app_client.post("/v1/certificates/batch", json={"applications": manifest(2)}, headers=headers)
    is_problem(other, 422, "idempotency_key_reused")
    one = app_client.post("/v1/certificates", json=WORKER, headers={"Idempotency-Key": "single-1"})
    one_again = app_client.post("/v1/certificates", json=WORKER, headers={"Idempotency-Key": "single-1"})
    assert one.json()["id"] == one_again.json()["id"]
    assert app_client.get("/v1/certificates").json()["total"] == 6


def test_list_paging_and_filters(app_client):
    app_client.post("/v1/certificates/batch", json={"applications": manifest(7)})
    page = app_client.get("/v1/certificates", params={"page": 2, "page_size": 3}).json()
    assert page["total"] == 7 and len(page["items"]) == 3
    assert app_client.get("/v1/certificates", params={"kind": "freight-test"}).json()["total"] == 0
    is_problem(app_client.get("/v1/certificates", params={"page_size": 0}), 422, "invalid_request")
    # Found by the API fuzzer: a time beyond SQLite's 64-bit integers was a 500.
    is_problem(app_client.get("/v1/certificates", params={"issued_from": 2**70}), 422, "invalid_request")
    ts = int(NOW.timestamp())
    assert app_client.get("/v1/certificates", params={"issued_from": ts, "issued_to": ts + 1}).json()["total"] == 7


def test_revoke_suspend_unsuspend_through_the_status_list(app_client, clock):
    a = app_client.post("/v1/certificates", json=WORKER).json()
    b = app_client.post("/v1/certificates", json={**WORKER, "resident_id": resident_id("51032119850101001")}).json()
    is_problem(app_client.post(f"/v1/certificates/{a['id']}/revoke", json={}), 422, "invalid_request")
    r = app_client.post(f"/v1/certificates/{a['id']}/revoke", json={"reason": "developed a fever"})
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    app_client.post(f"/v1/certificates/{b['id']}/suspend", json={"reason": "contact tracing"})
    lst = app_client.get("/v1/status/510321/0")
    assert lst.status_code == 200 and lst.headers["content-type"] == "application/statuslist+jwt"
    assert "max-age" in lst.headers["cache-control"]
    verifier = verifier_for(app_client, lst.text)
    assert verifier.verify(a["qr_text"], at=LATER).code == "revoked"
    assert verifier.verify(b["qr_text"], at=LATER).code == "suspended"
    app_client.post(f"/v1/certificates/{b['id']}/unsuspend", json={"reason": "cleared"})
    lst2 = app_client.get("/v1/status/510321/0")
    assert lst2.headers["etag"] != lst.headers["etag"]
    r = verifier_for(app_client, lst2.text).verify(b["qr_text"], at=LATER)
    assert r.valid and r.status_checked
    is_problem(app_client.post(f"/v1/certificates/{a['id']}/unsuspend", json={"reason": "x"}), 409, "not_suspended")
    is_problem(app_client.post(f"/v1/certificates/{a['id']}/suspend", json={"reason": "x"}), 409, "already_revoked")
    # Conditional GET
    r304 = app_client.get("/v1/status/510321/0", headers={"If-None-Match": lst2.headers["etag"]})
    assert r304.status_code == 304
    is_problem(app_client.get("/v1/status/510321/9"), 404, "status_list_not_found")
    is_problem(app_client.get("/v1/status/999999/0"), 404, "authority_not_found")


def test_images_and_print_page(app_client):
    cert = app_client.post("/v1/certificates", json=WORKER).json()
    png = app_client.get(cert["links"]["png"])
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")
    svg = app_client.get(cert["links"]["svg"])
    assert svg.headers["content-type"] == "image/svg+xml" and b"<svg" in svg.content
    page = app_client.get(cert["links"]["print"]).text
    assert "返岗复工健康证明" in page and "Return-to-work health certificate" in page
    assert page.index("返岗复工健康证明") < page.index("Return-to-work")
    assert "510321********1234" in page and WORKER["resident_id"] not in page
    import io

    import zxingcpp
    from PIL import Image

    barcode = zxingcpp.read_barcode(Image.open(io.BytesIO(png.content)), formats=zxingcpp.BarcodeFormat.QRCode)
    assert barcode is not None and barcode.text == cert["qr_text"]


def test_keys_rotation_keeps_old_certificates_valid(app_client):
    service = app_client.service
    _, admin = service.create_operator("510321", "boss", "authority_admin", actor="t", now=NOW)
    h = {"Authorization": f"Bearer {admin}"}
    old = app_client.post("/v1/certificates", json=WORKER).json()
    r = app_client.post("/v1/authorities/510321/keys/rotate", headers=h)
    assert r.status_code == 200
    new = app_client.post("/v1/certificates", json=WORKER).json()
    assert new["kid"] == r.json()["kid"] != old["kid"]
    states = {k["kid"]: k["hcert_state"] for k in app_client.get("/.well-known/jwks.json").json()["keys"]}
    assert states == {old["kid"]: "retired", new["kid"]: "active"}
    v = verifier_for(app_client)
    assert v.verify(old["qr_text"], at=LATER).valid and v.verify(new["qr_text"], at=LATER).valid
    is_problem(app_client.post("/v1/authorities/510321/keys/rotate"), 403, "forbidden")


def test_operator_creation_over_api(app_client):
    _, admin = app_client.service.create_operator("510321", "boss", "authority_admin", actor="t", now=NOW)
    h = {"Authorization": f"Bearer {admin}"}
    r = app_client.post("/v1/authorities/510321/operators", json={"name": "clerk2"}, headers=h)
    assert r.status_code == 201 and r.json()["credential"].startswith("hct_")
    is_problem(
        app_client.post("/v1/authorities/510321/operators", json={"name": "clerk2"}, headers=h), 409, "operator_exists"
    )
    is_problem(app_client.post("/v1/authorities/440300/operators", json={"name": "x"}, headers=h), 403, "forbidden")
    cred = r.json()["credential"]
    assert app_client.get("/v1/certificates", headers={"Authorization": f"Bearer {cred}"}).status_code == 200


def test_health_ready_metrics(app_client):
    assert app_client.get("/healthz").json() == {"status": "ok"}
    assert app_client.get("/readyz").json() == {"status": "ready"}
    app_client.post("/v1/certificates", json=WORKER)
    # /metrics answers only a scraper bearing HCERT_METRICS_TOKEN (tests/app/test_hardening.py).
    app_client.service.settings = dataclasses.replace(app_client.service.settings, metrics_token="scrape")
    text = app_client.get("/metrics", headers={"Authorization": "Bearer scrape"}).text
    assert 'hcert_certificates_issued_total{authority="510321",kind="return-to-work"} 1' in text
    assert 'route="/v1/certificates",status="201"' in text


def test_unknown_route_and_method_are_problems(app_client):
    is_problem(app_client.get("/v1/nothing"), 404, "not_found")
    is_problem(app_client.delete("/v1/certificates"), 405, "method_not_allowed")


def test_audit_records_every_action_without_personal_data(app_client):
    cert = app_client.post("/v1/certificates", json=WORKER).json()
    app_client.post(f"/v1/certificates/{cert['id']}/revoke", json={"reason": "fever"})
    entries = list(app_client.service.store.audit_entries())
    actions = [e["action"] for e, _ in entries]
    assert actions[0] == "authority.create" and "certificate.issue" in actions and actions[-1] == "certificate.revoke"
    text = json.dumps([e for e, _ in entries], ensure_ascii=False)
    assert WORKER["resident_id"] not in text and WORKER["name"] not in text and cert["token"] not in text
    from app.audit import verify_chain

    store = app_client.service.store
    assert all(verify_chain(store.audit_entries(chain)).ok for chain in store.audit_chains())


def test_idempotency_key_required_when_the_server_says_so(app_client):
    # By default a request without a key is served (older clients keep working).
    assert app_client.post("/v1/certificates", json=WORKER).status_code == 201
    settings = app_client.service.settings
    app_client.service.settings = dataclasses.replace(settings, require_idempotency_key=True)
    try:
        is_problem(app_client.post("/v1/certificates", json=WORKER), 400, "idempotency_key_required")
        is_problem(
            app_client.post("/v1/certificates/batch", json={"applications": [WORKER]}), 400, "idempotency_key_required"
        )
        first = app_client.post("/v1/certificates", json=WORKER, headers={"Idempotency-Key": "k-1"})
        again = app_client.post("/v1/certificates", json=WORKER, headers={"Idempotency-Key": "k-1"})
        assert first.status_code == again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
        assert first.json()["id"] == again.json()["id"]
    finally:
        app_client.service.settings = settings


def test_readyz_says_why_a_write_cannot_succeed(app_client, monkeypatch):
    store = app_client.service.store
    monkeypatch.setattr(store, "readiness", lambda: ["disk_full"])
    body = is_problem(app_client.get("/readyz"), 503, "not_ready")
    assert [e["code"] for e in body["errors"]] == ["disk_full"] and "disk" in body["errors"][0]["message"]
    assert app_client.get("/readyz").headers["Retry-After"]
    monkeypatch.setattr(store, "readiness", lambda: ["appendonly_off"])
    is_problem(app_client.get("/readyz"), 503, "not_ready")
    settings = app_client.service.settings
    app_client.service.settings = dataclasses.replace(settings, redis_accept_loss=True)
    try:
        assert app_client.get("/readyz").json() == {"status": "ready"}
    finally:
        app_client.service.settings = settings
