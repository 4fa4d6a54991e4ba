"""Issuing round-trips through the device verifier; QR images read back with a real decoder."""

from __future__ import annotations

import datetime as dt
import io
import re

import zxingcpp
from PIL import Image

from hcert_verifier import QR_PREFIX, Verifier
from issuer import Issuer, parse_application, qr_version, render_png, render_svg
from tests.conftest import DRIVER, NOW, WORKER


def test_issued_certificate_verifies_offline(signing_key, trust):
    issuer = Issuer(authority="510321", signing_key=signing_key)
    cert = issuer.issue(parse_application(WORKER), now=NOW, status=(0, 77))
    result = Verifier(trust).verify(cert.qr_text, at=NOW + dt.timedelta(hours=1))
    assert result.valid, result.reason
    c = result.certificate
    assert (c.name, c.masked_id_display, c.kind_name, c.issuer) == (
        "张伟明",
        "510321********1234",
        "return-to-work",
        "510321",
    )
    assert c.status.idx == 77 and c.status.lst == 0
    assert c.expires - c.valid_from == dt.timedelta(days=14)


def test_qr_carries_no_full_id_number_and_no_birth_date(signing_key):
    cert = Issuer(authority="510321", signing_key=signing_key).issue(parse_application(WORKER), now=NOW)
    assert WORKER["resident_id"] not in str(cert.claims)
    assert "19900307" not in str(cert.claims)
    assert cert.claims["id"] == "5103211234"


def test_freight_certificate(signing_key):
    from hcert_verifier import JwksTrust, TrustedKey

    cert = Issuer(authority="420100", signing_key=signing_key).issue(parse_application(DRIVER), now=NOW)
    trust = JwksTrust([TrustedKey(signing_key.kid, signing_key.public_key, issuer="420100")])
    result = Verifier(trust).verify(cert.qr_text, at=NOW)
    assert result.valid and result.certificate.kind_name == "freight-test"
    assert result.certificate.expires == dt.datetime(2020, 3, 13, 3, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def test_signatures_are_low_s_and_deterministic(signing_key):
    from hcert_verifier import P256_ORDER, b64url_decode

    issuer = Issuer(authority="510321", signing_key=signing_key)
    app = parse_application(WORKER)
    a = issuer.issue(app, now=NOW, jti="AAAAAAAAAAAA")
    b = issuer.issue(app, now=NOW, jti="AAAAAAAAAAAA")
    assert a.token == b.token
    for i in range(50):
        token = issuer.issue(app, now=NOW).token
        s = int.from_bytes(b64url_decode(token.rsplit(".", 1)[1], "s")[32:], "big")
        assert s <= P256_ORDER // 2


def test_typical_worker_certificate_fits_qr_version_13(signing_key):
    cert = Issuer(authority="510321", signing_key=signing_key).issue(
        parse_application(WORKER), now=NOW, status=(3, 131071)
    )
    assert qr_version(cert.qr_text) <= 13
    assert cert.qr_text.startswith(QR_PREFIX) and cert.qr_text[len(QR_PREFIX) :].isdigit()


def test_png_reads_back_with_zxing(signing_key):
    cert = Issuer(authority="510321", signing_key=signing_key).issue(parse_application(WORKER), now=NOW)
    png = render_png(cert.qr_text)
    with Image.open(io.BytesIO(png)) as img:
        assert img.format == "PNG"
        barcode = zxingcpp.read_barcode(img, formats=zxingcpp.BarcodeFormat.QRCode)
    assert barcode is not None and barcode.text == cert.qr_text
    assert barcode.extra.get("ECLevel") == "M"


def test_svg_is_well_formed_and_matches_the_module_matrix(signing_key):
    """Rasterise the SVG's runs back to modules and read that with zxing."""
    cert = Issuer(authority="510321", signing_key=signing_key).issue(parse_application(WORKER), now=NOW)
    svg = render_svg(cert.qr_text)
    import xml.etree.ElementTree as ET

    root = ET.fromstring(svg)
    full = int(root.attrib["viewBox"].split()[2])
    d = root.find("{http://www.w3.org/2000/svg}path").attrib["d"]
    grid = [[255] * full for _ in range(full)]
    for row in re.finditer(r"M(\d+) (\d+)\.5((?:m\d+ 0h\d+)+)", d):
        x, y = int(row.group(1)), int(row.group(2))
        for gap, run in re.findall(r"m(\d+) 0h(\d+)", row.group(3)):
            x += int(gap)
            for i in range(int(run)):
                grid[y][x + i] = 0
            x += int(run)
    scale = 4
    img = Image.new("L", (full * scale, full * scale))
    img.putdata([grid[y // scale][x // scale] for y in range(full * scale) for x in range(full * scale)])
    barcode = zxingcpp.read_barcode(img, formats=zxingcpp.BarcodeFormat.QRCode)
    assert barcode is not None and barcode.text == cert.qr_text


def test_example_files_are_the_documented_examples():
    """examples/*.json (used in the README) are the library's examples, and those are eligible."""
    import json

    from issuer import EXAMPLE_DRIVER, EXAMPLE_WORKER
    from tests.conftest import ROOT

    assert json.loads((ROOT / "examples" / "worker.json").read_text("utf-8")) == EXAMPLE_WORKER
    assert json.loads((ROOT / "examples" / "driver.json").read_text("utf-8")) == EXAMPLE_DRIVER
