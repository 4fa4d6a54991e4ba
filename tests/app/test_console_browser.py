"""The township console in a real headless Chromium: sign-in, throttle, CSRF, disabling ends a session."""

from __future__ import annotations

import subprocess
import sys
import time

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


def _clear_of_a_window_edge(window: int = 300, need: float = 30.0) -> None:
    """Wait for a new failed sign-in window if this one ends within ``need`` seconds.

    Failures count in fixed windows (HCERT_SIGNIN_WINDOW, 300 s): attempts that straddle an
    edge start counting again, as documented, and the test would see no throttle.
    """
    left = window - time.time() % window
    if left < need:
        time.sleep(left + 0.5)


def test_sign_in_wrong_password_throttle_and_english(server, browser):  # noqa: F811
    url, data, _ = server
    account(data, "zhang.wei", "first-pass-123")
    _clear_of_a_window_edge()
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


# -- issue form, manifest, print ----------------------------------------------------------------------
SHOTS = ROOT / "docs" / "console"


def shoot(page, name, tmp_path, **kwargs):
    """Screenshot to the test folder; with HCERT_DOC_SHOTS=1 also to docs/console/ (how the docs' images are made)."""
    import os

    shot = page.screenshot(path=str(tmp_path / name), **kwargs)
    if os.environ.get("HCERT_DOC_SHOTS") == "1":
        SHOTS.mkdir(exist_ok=True)
        (SHOTS / name).write_bytes(shot)
    return shot


def clerk_page(browser, url, data, width=1280):  # noqa: F811
    account(data, "zhang.wei", "first-pass-123")
    context = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True, locale="zh-CN")
    page = context.new_page()
    first_sign_in(page, url, "zhang.wei", "first-pass-123", "clerk-own-pass")
    return context, page


def test_issue_form_field_error_as_typed_then_fixed(server, browser, tmp_path):  # noqa: F811
    from datetime import date

    url, data, _ = server
    context, page = clerk_page(browser, url, data)
    page.goto(f"{url}/console/issue")
    page.fill("#f-name", "张伟明")
    page.fill("#f-resident_id", "510321199003071235")  # wrong check digit
    live = page.locator("[data-live=resident_id]")
    assert live.is_visible() and live.get_attribute("data-code") == "checksum"
    page.fill("#f-origin_region", "510321")
    page.fill("#f-resident_since", date.fromordinal(date.today().toordinal() - 30).isoformat())
    page.select_option("#f-quarantine", "never")
    page.select_option("#f-health_code", "green")
    page.fill("#f-destination_province", "44")
    page.click("button[type=submit].primary")
    error = page.locator(".field-error[data-field=resident_id]")
    assert error.get_attribute("data-code") == "checksum" and "身份证号校验位不对" in error.inner_text()
    shoot(page, "issue-form-error.png", tmp_path, full_page=True)
    page.fill("#f-resident_id", "510321199003071234")
    assert not page.locator("[data-live=resident_id]").is_visible()
    page.click("button[type=submit].primary")
    assert "/console/certificates/" in page.url and page.locator("[data-status=valid]").count() == 1
    context.close()


def manifest_csv(bad_lines: dict[int, dict[str, str]]) -> tuple[bytes, list[str]]:
    """A 50-row manifest in GBK (as Excel in China saves it); ``bad_lines`` replace cells of some lines."""
    import csv
    import io
    from datetime import date

    from tests.conftest import resident_id

    since = date.fromordinal(date.today().toordinal() - 30).isoformat()
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    cols = [
        "kind",
        "name",
        "resident_id",
        "origin_region",
        "resident_since",
        "quarantine",
        "health_code",
        "destination_province",
        "employer",
    ]
    w.writerow(cols)
    names = []
    for i in range(50):
        row = {
            "kind": "return-to-work",
            "name": f"乘客{i + 1:02d}",
            "resident_id": resident_id(f"5103211990{1 + i % 12:02d}{1 + i % 28:02d}{i:03d}"),
            "origin_region": "510321",
            "resident_since": since,
            "quarantine": "never",
            "health_code": "green",
            "destination_province": "44",
            "employer": "深圳市某电子厂",
        }
        row.update(bad_lines.get(i + 2, {}))
        names.append(row["name"])
        w.writerow([row[c] for c in cols])
    return out.getvalue().encode("gbk"), names


def decode_cards(page, shot_bytes):
    """Decode the QR of every card from the one full-page screenshot (each card's box cropped from it)."""
    import io

    import zxingcpp
    from PIL import Image

    image = Image.open(io.BytesIO(shot_bytes))
    found = {}
    cards = page.locator("section.cert")
    for i in range(cards.count()):
        card = cards.nth(i)
        box = card.bounding_box()
        crop = image.crop((int(box["x"]), int(box["y"]), int(box["x"] + box["width"]), int(box["y"] + box["height"])))
        barcode = zxingcpp.read_barcode(crop, formats=zxingcpp.BarcodeFormat.QRCode)
        found[card.get_attribute("data-id")] = barcode.text if barcode else None
    return found


def seal_png() -> bytes:
    """A red round seal on a transparent background, as an office would scan and cut out its own."""
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    red = (200, 16, 32, 230)
    draw.ellipse((12, 12, 388, 388), outline=red, width=22)
    star = [(200, 95), (225, 170), (305, 170), (240, 215), (265, 292), (200, 245), (135, 292), (160, 215), (95, 170),
            (175, 170)]  # fmt: skip
    draw.polygon(star, fill=red)
    draw.rectangle((110, 318, 290, 332), fill=red)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def admin_uploads_the_seal(browser, url, data, tmp_path):  # noqa: F811
    """An authority admin signs in and uploads the office's seal on the seal page; a non-PNG is refused first."""
    account(data, "boss.admin", "first-pass-123", role="authority_admin")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    first_sign_in(page, url, "boss.admin", "first-pass-123", "admin-own-pass")
    page.click("a[href='/console/seal']")
    assert page.locator("#no-seal").count() == 1
    page.set_input_files("input[name=file]", files=[{"name": "seal.png", "mimeType": "image/png", "buffer": b"GIF89a"}])
    page.click("#seal-upload")
    failure = page.locator("#failure")
    failure.wait_for(state="visible")
    assert failure.get_attribute("data-code") == "seal_not_png" and "印章须为 PNG 图片" in failure.inner_text()
    seal = {"name": "seal.png", "mimeType": "image/png", "buffer": seal_png()}
    page.set_input_files("input[name=file]", files=[seal])
    page.click("#seal-upload")
    page.locator("#current-seal").wait_for()
    assert page.url.endswith("/console/seal?saved=1")
    shoot(page, "seal.png", tmp_path)
    page.click("a[href='/console/keys']")
    assert page.locator("tr[data-state=active]").count() == 1
    shoot(page, "keys.png", tmp_path)
    context.close()


def pdf_pages(pdf: bytes) -> list[tuple[str, list[str], int]]:
    """Each page of a PDF: its text, the QR codes decoded (zxing-cpp) from it rendered at 150 dpi, its red pixels."""
    import pypdfium2
    import zxingcpp
    from PIL import ImageChops

    doc = pypdfium2.PdfDocument(pdf)
    pages = []
    for page in doc:
        text = page.get_textpage().get_text_range()
        image = page.render(scale=150 / 72).to_pil()
        r, g, b = image.convert("RGB").split()
        mask = ImageChops.multiply(
            ImageChops.multiply(r.point(lambda v: 255 if v > 150 else 0), g.point(lambda v: 255 if v < 90 else 0)),
            b.point(lambda v: 255 if v < 90 else 0),
        )
        red = mask.histogram()[255]
        # zxing-cpp can report one symbol twice (found by two of its detectors); a card printed twice on a page
        # still fails below, on the page's text, and one printed on two pages on the document's list.
        qrs = list(dict.fromkeys(b.text for b in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)))
        pages.append((text, qrs, red))
    doc.close()
    return pages


def test_manifest_upload_fix_print_verify_revoke(server, browser, tmp_path):  # noqa: F811
    import re
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    url, data, _ = server
    admin_uploads_the_seal(browser, url, data, tmp_path)
    context, page = clerk_page(browser, url, data)
    bad = {7: {"resident_id": "510321199003071235"}, 31: {"health_code": "red"}}
    raw, names = manifest_csv(bad)
    page.goto(f"{url}/console/manifest")
    page.fill("input[name=plate]", "川C12345")
    page.fill("input[name=route]", "荣县 → 深圳")
    page.fill("input[name=date]", "2026-11-24")
    page.set_input_files("input[name=file]", files=[{"name": "名单.csv", "mimeType": "text/csv", "buffer": raw}])
    page.click("#upload")
    page.locator("#count", has_text="50 / 50").wait_for()
    assert page.locator("#encoding").get_attribute("data-encoding") == "GBK"
    assert "已签发 48 人，被拒 2 人" in page.inner_text("#summary")
    refused = page.locator("tr[data-state=refused]")
    assert refused.count() == 2
    assert page.locator("tr[data-line='7'] .field-error").get_attribute("data-code") == "checksum"
    assert page.locator("tr[data-line='31'] .field-error").get_attribute("data-code") == "red"
    shoot(page, "manifest-upload.png", tmp_path, full_page=False)
    # The refused rows download as a CSV to fix in Excel...
    with page.expect_download() as download:
        page.click("#download")
    from pathlib import Path

    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert len(text.strip().splitlines()) == 3 and "乘客06" in text and "乘客30" in text
    # ...or are fixed in place and sent again.
    page.fill("tr[data-line='7'] input[data-fix=resident_id]", re.sub(r".$", "", bad[7]["resident_id"]) + "4")
    page.fill("tr[data-line='31'] input[data-fix=health_code]", "green")
    page.click("#resubmit")
    page.locator("#summary", has_text="已签发 50 人").wait_for()
    assert "已签发 50 人，被拒 0 人" in page.inner_text("#summary")
    first_ids = [page.locator(f"tr[data-line='{n}']").inner_text() for n in range(2, 52)]
    # A second upload of the same file (a reload, a double click) issues nothing twice.
    page.reload()
    page.set_input_files("input[name=file]", files=[{"name": "名单.csv", "mimeType": "text/csv", "buffer": raw}])
    page.click("#upload")
    page.locator("#count", has_text="50 / 50").wait_for()
    assert [page.locator(f"tr[data-line='{n}']").inner_text() for n in (2, 3, 51)] == [first_ids[i] for i in (0, 1, 49)]
    page.goto(f"{url}/console")
    assert page.locator("[data-kind=all]").inner_text() == "50"
    # Fix the two rows again on this page so that the sheet can be printed from it.
    page.goto(f"{url}/console/manifest")
    page.fill("input[name=plate]", "川C12345")
    page.fill("input[name=route]", "荣县 → 深圳")
    page.fill("input[name=date]", "2026-11-24")
    page.set_input_files("input[name=file]", files=[{"name": "名单.csv", "mimeType": "text/csv", "buffer": raw}])
    page.click("#upload")
    page.locator("#count", has_text="50 / 50").wait_for()
    page.fill("tr[data-line='7'] input[data-fix=resident_id]", re.sub(r".$", "", bad[7]["resident_id"]) + "4")
    page.fill("tr[data-line='31'] input[data-fix=health_code]", "green")
    page.click("#resubmit")
    # The print link is already shown for the first pass's 48; wait for the second pass to finish.
    page.locator("#summary", has_text="已签发 50 人").wait_for()
    page.locator("#print").wait_for(state="visible")
    sheet = page.locator("#print").get_attribute("href")
    page.goto(f"{url}{sheet}")
    assert (
        page.locator("[data-h=count]").inner_text() == "50"
        and page.locator("[data-h=plate]").inner_text() == "川C12345"
    )
    assert [r.inner_text() for r in page.locator("table.manifest tbody tr td:nth-child(2)").all()] == names
    cards = page.locator("section.cert")
    assert cards.count() == 50
    assert (
        "请用核验程序扫码核验 Scan to verify" in cards.first.inner_text() and f"{url}/scan" in cards.first.inner_text()
    )
    assert "深圳市某电子厂" in cards.first.inner_text() and "(UTC+8)" in cards.first.locator(".validity").inner_text()
    assert page.locator("section.cert .seal").count() == 50
    shot = shoot(page, "print-sheet.png", tmp_path, full_page=True)
    decoded = decode_cards(page, shot)
    assert len(decoded) == 50 and all(decoded.values()), [k for k, v in decoded.items() if not v]
    jwks = tmp_path / "jwks.json"
    jwks.write_text(httpx.get(f"{url}/.well-known/jwks.json").text)

    def verify(qr):
        return subprocess.run(
            [sys.executable, "-m", "hcert_verifier", "verify", "--jwks", str(jwks), "--json", qr],
            capture_output=True,
            text=True,
            timeout=120,
        )

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(verify, decoded.values()))
    assert all(r.returncode == 0 for r in results), [r.stdout for r in results if r.returncode]
    # A4 PDF from Chromium's print (without the "background graphics" option, as a clerk's browser prints
    # by default): the header, the manifest table in the CSV's order, then the cards four a page, none cut.
    pdf = page.pdf(format="A4")
    (tmp_path / "sheet.pdf").write_bytes(pdf)
    pages = pdf_pages(pdf)
    first_cards = next(i for i, (_, qrs, _) in enumerate(pages) if qrs)
    head = pages[0][0]
    for fact in ("川C12345", "荣县 → 深圳", "2026-11-24", "荣县卫生健康局"):
        assert fact in head, fact
    assert "人数" in head and "50" in head
    table = "".join(text for text, _, _ in pages[:first_cards])
    positions = [table.index(name) for name in names]
    assert positions == sorted(positions)  # the CSV's order
    by_qr = {qr: jti for jti, qr in decoded.items()}
    seen = []
    for text, qrs, red in pages[first_cards:]:
        assert red > 1000 * len(qrs)  # the seal prints on every card, without the background graphics option
        # Every card on the page whole: its QR code decodes, and its title, id and how-to-verify line are there.
        assert 1 <= len(qrs) <= 4 and text.count("请用核验程序扫码核验") == len(qrs) == text.count("返岗复工健康证明")
        for qr in qrs:
            # PDFium gives a hyphen that ends a line as U+FFFE (its mark for a soft hyphen).
            assert by_qr[qr] in text.replace("\r", "").replace("\n", "").replace("\ufffe", "-")
        seen.extend(by_qr[qr] for qr in qrs)
    assert sorted(seen) == sorted(decoded) and len(pages) == first_cards + 13
    # Revoke one: the reprint shows VOID / 作废 with the reason and no QR code.
    victim = cards.nth(3).get_attribute("data-id")
    page.goto(f"{url}/console/certificates/{victim}")
    page.select_option("select[name=action]", "revoke")
    page.fill("input[name=reason]", "信息有误 重新签发")
    page.check("input[name=confirm]")
    page.click("button.danger")
    assert page.locator("[data-status=revoked]").count() == 1
    page.goto(f"{url}{sheet}")
    void = page.locator(f"section.cert[data-id='{victim}']")
    assert void.locator("svg").count() == 0 and void.locator("[data-void=revoked]").count() == 1
    assert "作废 VOID" in void.inner_text() and "信息有误 重新签发" in void.inner_text()
    assert page.locator("section.cert svg").count() == 49
    context.close()


def test_tablet_every_page_fits_and_a_clerk_issues(server, browser, tmp_path):  # noqa: F811
    """At a tablet's 768 x 1024 (portrait) no console page scrolls sideways, and the issue form works by touch."""
    from datetime import date

    url, data, _ = server
    account(data, "zhang.wei", "first-pass-123")
    context = browser.new_context(
        viewport={"width": 768, "height": 1024}, has_touch=True, is_mobile=True, locale="zh-CN"
    )
    page = context.new_page()
    first_sign_in(page, url, "zhang.wei", "first-pass-123", "clerk-own-pass")
    paths = ("/console", "/console/issue", "/console/issue?kind=freight-test", "/console/manifest", "/console/search")
    for path in paths:
        page.goto(f"{url}{path}")
        width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], (path, width)
        assert page.locator("header.top nav a").count() == 4 and page.locator("header.top nav").is_visible()
    page.goto(f"{url}/console/issue")
    page.tap("#f-name")
    page.fill("#f-name", "张伟明")
    page.fill("#f-resident_id", "510321199003071234")
    page.fill("#f-origin_region", "510321")
    page.fill("#f-resident_since", date.fromordinal(date.today().toordinal() - 30).isoformat())
    page.select_option("#f-quarantine", "never")
    page.select_option("#f-health_code", "red")
    page.fill("#f-destination_province", "44")
    page.tap("button[type=submit].primary")
    assert page.locator(".field-error[data-field=health_code]").get_attribute("data-code") == "red"
    shoot(page, "tablet-issue.png", tmp_path, full_page=True)
    page.select_option("#f-health_code", "green")
    page.tap("button[type=submit].primary")
    page.wait_for_url("**/console/certificates/**")
    assert page.locator("[data-status=valid]").count() == 1
    page.goto(f"{url}/console")
    assert page.locator("[data-kind=all]").inner_text() == "1"
    assert page.locator("[data-kind=refused]").inner_text() == "1"
    assert "红码不能签发" in page.locator("table.refusals").inner_text()
    shoot(page, "tablet-today.png", tmp_path, full_page=True)
    context.close()


XSS = '"><img src=x onerror=alert(1)><script>alert(2)</script>'


def test_stored_xss_in_every_text_field_stays_text(server, browser, tmp_path):  # noqa: F811
    """Script in the name, employer, a reason and a manifest cell shows as text on every page; nothing runs."""
    from datetime import date

    url, data, _ = server
    context, page = clerk_page(browser, url, data)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    since = date.fromordinal(date.today().toordinal() - 30).isoformat()
    page.goto(f"{url}/console/issue")
    page.fill("#f-name", XSS[:40])
    page.fill("#f-resident_id", "510321199003071234")
    page.fill("#f-origin_region", "510321")
    page.fill("#f-resident_since", since)
    page.select_option("#f-quarantine", "never")
    page.select_option("#f-health_code", "green")
    page.fill("#f-destination_province", "44")
    page.fill("#f-employer", XSS[:64])
    page.click("button[type=submit].primary")
    page.wait_for_url("**/console/certificates/**")
    where = page.url.split("?")[0]
    page.select_option("select[name=action]", "suspend")
    page.fill("input[name=reason]", XSS)
    page.check("input[name=confirm]")
    page.click("button.danger")
    assert XSS in page.locator("[data-status=suspended]").inner_text()
    # A refused application with script in its name, from a manifest.
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["kind", "name", "resident_id", "origin_region", "resident_since", "quarantine", "health_code",
                     "destination_province"])  # fmt: skip
    writer.writerow(["return-to-work", XSS[:40], "510321199003071234", "510321", since, "never", "red", "44"])
    page.goto(f"{url}/console/manifest")
    csv_file = {"name": "x.csv", "mimeType": "text/csv", "buffer": out.getvalue().encode()}
    page.set_input_files("input[name=file]", files=[csv_file])
    page.click("#upload")
    page.locator("#count", has_text="1 / 1").wait_for()
    assert XSS[:40] in page.locator("tr[data-line='2']").inner_text()
    for path in (where, f"{where}/print", "/console/search?name=%22%3E%3Cimg", "/console"):
        page.goto(path if path.startswith("http") else f"{url}{path}")
        assert page.locator("img[src=x]").count() == 0
        assert XSS[:40] in page.inner_text("body"), path
    assert dialogs == []
    context.close()


def test_a_manifest_longer_than_one_sheet_prints_as_several(server, browser):  # noqa: F811
    import csv
    import io
    from datetime import date

    from tests.conftest import resident_id

    url, data, _ = server
    context, page = clerk_page(browser, url, data)
    since = date.fromordinal(date.today().toordinal() - 30).isoformat()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["kind", "name", "resident_id", "origin_region", "resident_since", "quarantine", "health_code"])
    for i in range(121):
        rid = resident_id(f"5103211990{1 + i % 12:02d}{1 + i % 28:02d}{i:03d}")
        writer.writerow(["return-to-work", f"乘客{i + 1:03d}", rid, "510321", since, "never", "green"])
    page.goto(f"{url}/console/manifest")
    page.set_input_files(
        "input[name=file]", files=[{"name": "m.csv", "mimeType": "text/csv", "buffer": out.getvalue().encode()}]
    )
    page.click("#upload")
    page.locator("#count", has_text="121 / 121").wait_for(timeout=120_000)
    links = page.locator("p.actions a.button")
    assert [links.nth(i).inner_text() for i in range(links.count())] == ["打印整车证明 1/2", "打印整车证明 2/2"]
    hrefs = [links.nth(i).get_attribute("href") for i in range(2)]
    counts = []
    for href in hrefs:
        page.goto(url + href)
        counts.append(page.locator("section.cert").count())
    assert counts == [120, 1]
    assert page.locator("section.cert h2").first.inner_text().startswith("返岗复工健康证明")
    assert "乘客121" in page.inner_text("table.manifest")
    context.close()
