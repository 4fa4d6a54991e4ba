"""Printed certificates: one implementation for the API and the console (facts, validity, how to verify, VOID)."""

from __future__ import annotations

from tests.app.test_console_pages import clerk  # noqa: F401 - a signed-in clerk over the same app
from tests.conftest import DRIVER, NOW, WORKER, resident_id


def _worker(n: int, **extra):
    return {**WORKER, "resident_id": resident_id(f"51032119900307{n:03d}"), "name": f"乘客{n}", **extra}


def test_api_card_shows_the_attested_facts_validity_and_how_to_verify(app_client):
    cert = app_client.post("/v1/certificates", json=_worker(1, employer="深圳市某电子厂")).json()
    page = app_client.get(f"/v1/certificates/{cert['id']}/print")
    assert page.status_code == 200 and page.headers["content-security-policy"].startswith("default-src 'none'")
    html = page.text
    for fact in ("户籍/出发地", "在本地居住起始日", "无 none", "未隔离 never", "绿码 green", "深圳市某电子厂"):
        assert fact in html, fact
    assert "2020-03-10 09:00 至 to 2020-03-24 09:00 (UTC+8)" in html  # validity on one line, China Standard Time
    assert "请用核验程序扫码核验 Scan to verify: <b>https://hcert.test/scan</b>" in html
    assert html.count("<svg") == 1 and "作废" not in html
    assert "<link" not in html and "<script" not in html  # everything inline: nothing to fetch with a bearer header


def test_api_freight_card_shows_the_test(app_client):
    sampled = (NOW.replace(hour=3)).isoformat()
    cert = app_client.post("/v1/certificates", json={**DRIVER, "sampled_at": sampled}).json()
    assert cert["status"] == "valid", cert
    html = app_client.get(f"/v1/certificates/{cert['id']}/print").text
    facts = ("货运人员检测证明", "司机 driver", "阴性 negative", "2020-03-10 03:00 (UTC+8)", DRIVER["vehicle_plate"])
    for fact in facts:
        assert fact in html, fact


def test_api_print_of_revoked_and_suspended_is_void_without_a_qr(app_client):
    one = app_client.post("/v1/certificates", json=_worker(1)).json()
    two = app_client.post("/v1/certificates", json=_worker(2)).json()
    assert app_client.post(f"/v1/certificates/{one['id']}/revoke", json={"reason": "信息有误"}).status_code == 200
    assert app_client.post(f"/v1/certificates/{two['id']}/suspend", json={"reason": "核查中"}).status_code == 200
    for cert, code, reason in ((one, "revoked", "信息有误"), (two, "suspended", "核查中")):
        for path in (f"/v1/certificates/{cert['id']}/print", f"/v1/batches/{cert['batch']}/print"):
            html = app_client.get(path).text
            assert "<svg" not in html and f'data-void="{code}"' in html and "作废 VOID" in html, path
            assert reason in html and "Scan to verify" not in html, path
    app_client.post(f"/v1/certificates/{two['id']}/unsuspend", json={"reason": "核查无误"})
    assert app_client.get(f"/v1/certificates/{two['id']}/print").text.count("<svg") == 1


def test_api_batch_sheet_has_the_header_and_the_manifest_in_row_order(app_client):
    rows = [_worker(n) for n in (5, 3, 9, 1)]
    batch = app_client.post("/v1/certificates/batch", json={"applications": rows}).json()
    header = {"plate": "川C12345", "route": "荣县 → 深圳", "date": "2020-03-11"}
    page = app_client.get(f"/v1/batches/{batch['batch']}/print", params=header)
    html = page.text
    assert page.status_code == 200
    for cell in ('data-h="plate">川C12345<', 'data-h="route">荣县 → 深圳<', 'data-h="date">2020-03-11<'):
        assert cell in html, cell
    assert 'data-h="count">4<' in html and f"<code>{batch['batch']}</code>" in html and "荣县" in html
    table = html[html.index('<table class="manifest">') : html.index("</table>")]
    assert [table.index(r["name"]) for r in rows] == sorted(table.index(r["name"]) for r in rows)
    assert html.count('<section class="cert"') == 4
    assert app_client.get(f"/v1/batches/{batch['batch']}/print", params={"plate": "x" * 65}).status_code == 422


def test_console_and_api_print_the_same_card(clerk):  # noqa: F811
    from tests.app.test_console_pages import _issue

    where = _issue(clerk)
    console = clerk.get(f"{where}/print")
    assert console.status_code == 200 and console.headers["content-security-policy"].startswith("default-src 'none'")
    token = clerk.service.create_operator("510321", "printer", "operator", actor="t", now=NOW)[1]
    api = clerk.get(f"/v1/{where.removeprefix('/console/')}/print", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200 and api.text == console.text


def test_print_pages_are_gzip_compressed_once_when_the_client_takes_gzip(app_client):
    import gzip

    rows = [_worker(n) for n in range(6)]
    batch = app_client.post("/v1/certificates/batch", json={"applications": rows}).json()
    path = f"/v1/batches/{batch['batch']}/print"
    plain = app_client.get(path, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.text.count('<section class="cert"') == 6
    packed = app_client.get(path, headers={"Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip" and "accept-encoding" in packed.headers["vary"].lower()
    assert packed.text.count('<section class="cert"') == 6  # decoded once: the middleware did not compress again
    raw = gzip.compress(plain.content, compresslevel=6, mtime=0)
    assert int(packed.headers["content-length"]) == len(raw)
