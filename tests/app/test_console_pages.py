"""Console pages over HTTP: the issue form with inline errors, one certificate's status, search, XSS escaped."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from tests.app.test_console_accounts import csrf_of, make_account, sign_in
from tests.conftest import NOW, resident_id


@pytest.fixture
def clerk(app_client):
    """A TestClient signed in as a clerk who has chosen their password."""
    del app_client.headers["Authorization"]
    make_account(app_client, "zhang.wei")
    sign_in(app_client, "zhang.wei", "first-pass-123")
    token = csrf_of(app_client.get("/console/password").text)
    app_client.post(
        "/console/password",
        data={
            "csrf": token,
            "current": "first-pass-123",
            "password": "my-own-pass-456",
            "password2": "my-own-pass-456",
        },
    )
    return app_client


def worker_form(page_html, **overrides):
    since = (NOW.date() - dt.timedelta(days=30)).isoformat()
    form = {
        "csrf": csrf_of(page_html),
        "kind": "return-to-work",
        "idem": re.search(r'name="idem" value="([^"]+)"', page_html).group(1),
        "name": "张伟明",
        "resident_id": "510321199003071234",
        "origin_region": "510321",
        "resident_since": since,
        "quarantine": "never",
        "health_code": "green",
        "destination_province": "44",
    }
    form.update(overrides)
    return form


def test_issue_form_field_error_then_fixed_and_a_double_submit_issues_once(clerk):
    page = clerk.get("/console/issue")
    assert page.status_code == 200 and 'data-check="resident-id"' in page.text
    bad = worker_form(page.text, resident_id="510321199003071235", health_code="red")
    r = clerk.post("/console/issue", data=bad)
    assert r.status_code == 422
    assert 'data-field="resident_id" data-code="checksum"' in r.text and "身份证号校验位不对" in r.text
    assert 'data-field="health_code" data-code="red"' in r.text and "红码不能签发" in r.text
    assert 'value="张伟明"' in r.text  # what was typed stays
    good = worker_form(r.text)
    assert good["idem"] != bad["idem"]  # a corrected form is a new request
    first = clerk.post("/console/issue", data=good, follow_redirects=False)
    again = clerk.post("/console/issue", data=good, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert clerk.service.store.list_certificates("510321")[1] == 1
    shown = clerk.get(first.headers["location"])
    assert "510321********1234" in shown.text and 'data-status="valid"' in shown.text


def test_freight_form_and_english_errors(clerk):
    page = clerk.get("/console/issue?kind=freight-test")
    assert 'name="vehicle_plate"' in page.text and 'name="sampled_at"' in page.text
    clerk.cookies.set("hcert_lang", "en")
    form = {
        "csrf": csrf_of(page.text),
        "kind": "freight-test",
        "idem": "k1",
        "name": "李强",
        "resident_id": "420102198506115677",
        "role": "driver",
        "vehicle_plate": "not a plate",
        "test_kind": "nucleic_acid",
        "test_result": "negative",
        "sampled_at": "2020-03-10T03:00",
        "testing_institution": "武汉市第一医院检验科",
        "route_origin": "420102",
        "route_destination": "440305",
        "no_key_area_passage": "1",
    }
    r = clerk.post("/console/issue", data=form)
    assert r.status_code == 422 and "is not a mainland vehicle plate (plate)" in r.text
    r = clerk.post("/console/issue", data={**form, "idem": "k2", "vehicle_plate": "鄂A12345"}, follow_redirects=False)
    assert r.status_code == 303


def _issue(clerk, **overrides):
    page = clerk.get("/console/issue")
    r = clerk.post("/console/issue", data=worker_form(page.text, **overrides), follow_redirects=False)
    assert r.status_code == 303, r.text
    return r.headers["location"].split("?")[0]


def test_suspend_unsuspend_revoke_with_reason_and_confirmation(clerk):
    where = _issue(clerk)
    page = clerk.get(where)
    token = csrf_of(page.text)
    r = clerk.post(f"{where}/status", data={"csrf": token, "action": "suspend", "reason": "核查中"})
    assert r.status_code == 422 and 'data-code="confirmation_required"' in r.text
    r = clerk.post(f"{where}/status", data={"csrf": token, "action": "suspend", "reason": "核查中", "confirm": "1"})
    assert r.status_code == 200 and 'data-status="suspended"' in r.text and "核查中" in r.text
    r = clerk.post(f"{where}/status", data={"csrf": token, "action": "unsuspend", "reason": "核查无误", "confirm": "1"})
    assert 'data-status="valid"' in r.text
    r = clerk.post(f"{where}/status", data={"csrf": token, "action": "revoke", "reason": "", "confirm": "1"})
    assert r.status_code == 422 and 'data-code="invalid_reason"' in r.text
    r = clerk.post(f"{where}/status", data={"action": "revoke", "reason": "x", "confirm": "1"})
    assert r.status_code == 403 and 'data-code="csrf_failed"' in r.text
    r = clerk.post(f"{where}/status", data={"csrf": token, "action": "revoke", "reason": "信息有误", "confirm": "1"})
    assert 'data-status="revoked"' in r.text
    actions = [e["action"] for e, _ in clerk.service.store.audit_entries()]
    assert actions[-3:] == ["certificate.suspend", "certificate.unsuspend", "certificate.revoke"]


def test_search_by_name_id_date_and_batch(clerk):
    _issue(clerk)
    _issue(clerk, name="李娜", resident_id=resident_id("51032119910505234"))
    r = clerk.get("/console/search", params={"name": "李娜"})
    assert r.status_code == 200 and "找到 1 份" in r.text and "李娜" in r.text and "张伟明" not in r.text
    r = clerk.get("/console/search", params={"id": "1234"})
    assert "张伟明" in r.text and "李娜" not in r.text
    r = clerk.get("/console/search", params={"date": NOW.date().isoformat()})
    assert "张伟明" in r.text
    r = clerk.get("/console/search", params={"date": "2020-03-11"})
    assert "找到 0 份" in r.text
    r = clerk.get("/console/search", params={"date": "yesterday"})
    assert 'data-code="format"' in r.text
    batch = clerk.service.store.list_certificates("510321")[0][0].batch
    r = clerk.get("/console/search", params={"batch": batch})
    assert "找到 1 份" in r.text
    r = clerk.get("/console/search", params={"date": NOW.date().isoformat()})
    assert "找到 2 份" in r.text


XSS = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


def test_stored_xss_in_text_fields_is_escaped(clerk):
    # Text fields that pass the application's checks are stored and shown back: escaped everywhere.
    where = _issue(clerk, name=XSS[:64], employer=XSS[:64])
    for path in (where, "/console/search?name=%3Cscript%3E", f"{where}/print"):
        html = clerk.get(path).text
        assert "<script>alert(1)</script>" not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
    token = csrf_of(clerk.get(where).text)
    clerk.post(f"{where}/status", data={"csrf": token, "action": "suspend", "reason": XSS, "confirm": "1"})
    html = clerk.get(where).text
    assert "<img src=x" not in html and "&lt;img src=x" in html
    # Refused input is echoed back into the form escaped too.
    page = clerk.get("/console/issue")
    r = clerk.post("/console/issue", data=worker_form(page.text, name=XSS, resident_id=XSS))
    assert r.status_code == 422 and "<script>alert(1)</script>" not in r.text


def test_a_sheet_of_more_than_120_certificates_is_refused_not_cut(clerk):
    r = clerk.get("/console/sheet", params={"ids": ",".join(f"c{i:03d}" for i in range(121))})
    assert r.status_code == 422 and 'data-code="too_many_certificates"' in r.text and "最多 120 份" in r.text
