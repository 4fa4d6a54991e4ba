"""Today's page: issued today by kind, the last batches, and today's refused applications with their reasons."""

from __future__ import annotations

import datetime as dt

from tests.app.test_console_accounts import sign_in
from tests.app.test_console_pages import clerk, worker_form  # noqa: F401 - a signed-in clerk
from tests.conftest import WORKER, resident_id

T = 1_583_802_000  # 2020-03-10 09:00 CST


def _item(row, at=T, code="red"):
    return {"at": at, "operator": "op_1", "batch": "b_1", "row": row, "name": f"乘客{row}",
            "errors": [{"field": "health_code", "code": code, "message": "m"}]}  # fmt: skip


def test_refusals_store_contract(store):
    store.add_refusals("510321", [_item(1), _item(2)], at=T, keep=7 * 86400)
    store.add_refusals("510321", [_item(1, at=T + 60)], at=T + 60, keep=7 * 86400)  # counted again
    store.add_refusals("420100", [_item(9)], at=T, keep=7 * 86400)
    items, count = store.refusals("510321", since=T, limit=10)
    assert count == 3 and len(items) == 3 and items[0]["at"] == T + 60
    assert sorted(i["row"] for i in items) == [1, 1, 2] and items[0]["errors"][0]["code"] == "red"
    items, count = store.refusals("510321", since=T, limit=1)
    assert count == 3 and len(items) == 1
    assert store.refusals("510321", since=T + 61, limit=10) == ([], 0)
    # Older than ``keep`` is forgotten at the next note, for that authority only.
    store.add_refusals("510321", [_item(5, at=T + 8 * 86400)], at=T + 8 * 86400, keep=7 * 86400)
    assert store.refusals("510321", since=0, limit=10)[1] == 1
    assert store.refusals("420100", since=0, limit=10)[1] == 1


def test_today_shows_refusals_from_the_form_and_the_api(clerk, clock):  # noqa: F811
    home = clerk.get("/console")
    assert 'data-kind="refused">0<' in home.text and "今天没有拒签" in home.text
    page = clerk.get("/console/issue")
    form = worker_form(page.text, name="<b>张伟明</b>", health_code="red")
    assert clerk.post("/console/issue", data=form).status_code == 422
    assert clerk.post("/console/issue", data=form).status_code == 422  # a double submit: replayed, noted once
    token = clerk.service.create_operator("510321", "api", "operator", actor="t", now=clock.now)[1]
    rows = [
        {**WORKER, "resident_id": resident_id("51032119900307001"), "name": "乘客1"},
        {**WORKER, "resident_id": resident_id("51032119900307002"), "name": "乘客2", "quarantine": "under"},
        {**WORKER, "resident_id": "510321199003071235", "name": "乘客3", "symptoms": ["fever"]},
    ]
    r = clerk.post("/v1/certificates/batch", json={"applications": rows}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 207
    html = clerk.get("/console").text
    assert 'data-kind="refused">3<' in html and 'data-kind="all">1<' in html
    assert "&lt;b&gt;张伟明&lt;/b&gt;" in html and "<b>张伟明" not in html
    assert 'data-field="health_code" data-code="red"' in html and "红码不能签发" in html
    assert 'data-field="quarantine" data-code="under_quarantine"' in html
    assert 'data-field="resident_id" data-code="checksum"' in html and 'data-field="symptoms"' in html
    batch = r.json()["batch"]
    assert html.index(f'data-batch="{batch}" data-row="2"') < html.index(f'data-batch="{batch}" data-row="3"')
    clerk.cookies.set("hcert_lang", "en")
    assert "Refused today" in clerk.get("/console").text
    # Tomorrow (China Standard Time) starts at zero.
    clock.now = clock.now + dt.timedelta(days=1)
    sign_in(clerk, "zhang.wei", "my-own-pass-456")
    assert 'data-kind="refused">0<' in clerk.get("/console").text
