"""The office's seal (checked PNG, stored per authority, printed on every card) and the keys page."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, PngImagePlugin

from app.console.office import SEAL_MAX_BYTES, check_seal
from app.service import ServiceError
from app.store import AuditEvent
from tests.app.test_console_accounts import csrf_of, make_account, sign_in
from tests.conftest import NOW, WORKER


def png(width=200, height=200, *, text: str | None = None, mode="RGBA") -> bytes:
    image = Image.new(mode, (width, height), (200, 0, 0, 255) if mode == "RGBA" else 0)
    info = PngImagePlugin.PngInfo()
    if text:
        info.add_text("Comment", text)
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info)
    return out.getvalue()


def _code(raw: bytes) -> tuple[str, int]:
    with pytest.raises(ServiceError) as e:
        check_seal(raw)
    return e.value.code, e.value.status


def test_seal_check_type_size_and_dimensions():
    jpeg = io.BytesIO()
    Image.new("RGB", (200, 200)).save(jpeg, "JPEG")
    assert _code(jpeg.getvalue()) == ("seal_not_png", 415)
    assert _code(b"<svg xmlns='http://www.w3.org/2000/svg'/>") == ("seal_not_png", 415)
    assert _code(b"") == ("seal_not_png", 415)
    assert _code(png(32, 200)) == ("seal_dimensions", 422)
    assert _code(png(200, 2001)) == ("seal_dimensions", 422)
    # A header that claims a huge image is refused before anything is decoded.
    ihdr = struct.pack(">IIBBBBB", 40000, 40000, 8, 6, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    assert _code(bomb) == ("seal_dimensions", 422)
    good = png()
    assert _code(good[:60]) == ("seal_unreadable", 422)  # cut short
    assert _code(b"x" * (SEAL_MAX_BYTES + 1)) == ("seal_too_large", 413)


def test_seal_is_stored_decoded_and_encoded_again():
    stored = check_seal(png(1000, 800, text="<script>alert(1)</script>") + b"trailing bytes")
    with Image.open(io.BytesIO(stored)) as image:
        assert image.format == "PNG" and image.size == (512, 410) and image.mode == "RGBA"
        assert "Comment" not in image.info
    assert b"<script>" not in stored and not stored.endswith(b"trailing bytes")
    with Image.open(io.BytesIO(check_seal(png(100, 100, mode="L")))) as small:
        assert small.size == (100, 100) and small.mode == "RGBA"


def test_seal_store_contract(store):
    event = AuditEvent(1_583_802_000, "op_1", "510321", "authority.seal", "510321", {})
    assert store.get_seal("510321") is None
    store.set_seal("510321", b"\x89PNG one", event)
    store.set_seal("510321", b"\x89PNG two", event)
    assert store.get_seal("510321") == b"\x89PNG two" and store.get_seal("420100") is None
    store.set_seal("510321", None, event)
    assert store.get_seal("510321") is None
    store.set_seal("510321", None, event)  # removing what is not there is fine
    assert [e["action"] for e, _ in store.audit_entries()] == ["authority.seal"] * 4


@pytest.fixture
def admin(app_client):
    """A TestClient signed in as an authority admin who has chosen their password."""
    make_account(app_client, "boss.admin", role="authority_admin")
    token = app_client.headers.pop("Authorization")
    app_client.bearer = {"Authorization": token}
    sign_in(app_client, "boss.admin", "first-pass-123")
    app_client.post(
        "/console/password",
        data={
            "csrf": csrf_of(app_client.get("/console/password").text),
            "current": "first-pass-123",
            "password": "boss-own-pass-456",
            "password2": "boss-own-pass-456",
        },
    )
    return app_client


def _upload(client, raw, *, csrf, content_type="image/png"):
    return client.post("/console/seal", content=raw, headers={"Content-Type": content_type, "X-CSRF-Token": csrf})


def test_admin_uploads_the_seal_and_every_card_prints_it(admin):
    page = admin.get("/console/seal")
    assert page.status_code == 200 and 'id="no-seal"' in page.text
    csrf = csrf_of(page.text)
    assert _upload(admin, png(), csrf="forged").json()["code"] == "csrf_failed"
    r = _upload(admin, png(), csrf=csrf, content_type="image/jpeg")
    assert r.status_code == 415 and r.json()["code"] == "seal_not_png"
    r = _upload(admin, png(40, 40), csrf=csrf)
    assert r.status_code == 422 and r.json()["code"] == "seal_dimensions" and "40x40" in r.json()["detail"]
    assert admin.service.store.get_seal("510321") is None  # nothing stored for a refused file
    r = _upload(admin, png(), csrf=csrf)
    assert r.status_code == 201
    assert 'id="current-seal" src="data:image/png;base64,' in admin.get("/console/seal?saved=1").text
    assert [e["action"] for e, _ in admin.service.store.audit_entries()][-1] == "authority.seal"

    cert = admin.post("/v1/certificates", json=WORKER, headers=admin.bearer).json()
    for path, headers in (
        (f"/console/certificates/{cert['id']}/print", {}),
        (f"/v1/certificates/{cert['id']}/print", admin.bearer),
        (f"/v1/batches/{cert['batch']}/print", admin.bearer),
    ):
        html = admin.get(path, headers=headers).text
        assert html.count('class="seal"') == 1 and html.count("data:image/png;base64,") == 1, path

    admin.post(f"/v1/certificates/{cert['id']}/revoke", json={"reason": "信息有误"}, headers=admin.bearer)
    assert 'class="seal"' not in admin.get(f"/v1/certificates/{cert['id']}/print", headers=admin.bearer).text
    r = admin.post("/console/seal/remove", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and admin.service.store.get_seal("510321") is None
    other = admin.post("/v1/certificates", json={**WORKER, "name": "李娜"}, headers=admin.bearer).json()
    html = admin.get(f"/v1/certificates/{other['id']}/print", headers=admin.bearer).text
    assert "<svg" in html and 'class="seal"' not in html


def test_seal_and_keys_pages_are_for_admins_only(app_client):
    make_account(app_client, "zhang.wei")
    del app_client.headers["Authorization"]
    sign_in(app_client, "zhang.wei", "first-pass-123")
    app_client.post(
        "/console/password",
        data={
            "csrf": csrf_of(app_client.get("/console/password").text),
            "current": "first-pass-123",
            "password": "my-own-pass-456",
            "password2": "my-own-pass-456",
        },
    )
    home = app_client.get("/console").text
    assert 'href="/console/keys"' not in home and 'href="/console/seal"' not in home
    for path in ("/console/keys", "/console/seal"):
        r = app_client.get(path)
        assert r.status_code == 403 and 'data-code="forbidden"' in r.text, path
    r = _upload(app_client, png(), csrf=csrf_of(home))
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert app_client.service.store.get_seal("510321") is None


def test_keys_page_shows_each_key_and_its_state(admin):
    service = admin.service

    def active() -> str:
        return next(k.kid for k in service.ring("510321").records if k.state == "active")

    first = active()
    page = admin.get("/console/keys")
    assert page.status_code == 200 and f'data-kid="{first}" data-state="active"' in page.text
    service.rotate_key("510321", actor="admin", now=NOW)
    second = active()
    service.withdraw_key("510321", first, reason="laptop <b>stolen</b>", actor="admin", now=NOW)
    html = admin.get("/console/keys").text
    assert f'data-kid="{second}" data-state="active"' in html and f'data-kid="{first}" data-state="withdrawn"' in html
    assert html.index(second) < html.index(first)  # newest first
    assert "已撤回" in html and "laptop &lt;b&gt;stolen&lt;/b&gt;" in html
