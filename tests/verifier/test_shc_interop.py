"""SMART Health Cards interoperability: the JWS + DEFLATE + numeric-QR layer.

The spec examples' payloads are FHIR, not hcert claims, so these tests drive
the shared layer directly: numeric QR decoding, header rules, ES256 with the
examples' published JWKS, capped inflate, strict JSON.
"""

from __future__ import annotations

import json

import pytest

from hcert_verifier import (
    BadSignature,
    BadZip,
    DecompressionFailed,
    UnknownKey,
    VerificationError,
    public_key_from_jwk,
    qr_decode,
    verify_compact_jws,
)
from tests.conftest import SHARED

EXAMPLES = SHARED / "anchors" / "shc" / "health-cards-examples"
DEVTOOLS = SHARED / "anchors" / "shc" / "dev-tools-testdata"

pytestmark = pytest.mark.skipif(not EXAMPLES.is_dir(), reason="../shared/anchors is not beside the checkout")


def shc_keys():
    jwks = json.loads((EXAMPLES / "issuer" / ".well-known" / "jwks.json").read_text())
    return {k["kid"]: public_key_from_jwk({m: k[m] for m in ("kty", "crv", "x", "y")}) for k in jwks["keys"]}


def shc_token_from_qr(paths) -> str:
    """Join SHC numeric QR chunks (shc:/N or shc:/i/n/N) into the token."""
    digits = []
    for path in paths:
        text = path.read_text().strip()
        body = text[len("shc:/") :]
        if body.count("/") == 2:  # deprecated chunking: i/n/digits
            body = body.rsplit("/", 1)[1]
        digits.append(body)
    return qr_decode("shc:/" + "".join(digits), prefix="shc:/", limit=16384)


@pytest.mark.parametrize("n", ["00", "01", "02", "03"])
def test_spec_example_numeric_qr_decodes_to_the_jws(n):
    chunks = sorted(EXAMPLES.glob(f"example-{n}-f-qr-code-numeric-value-*.txt"))
    assert chunks
    assert shc_token_from_qr(chunks) == (EXAMPLES / f"example-{n}-d-jws.txt").read_text().strip()


@pytest.mark.parametrize("n", ["00", "01", "02", "03"])
def test_spec_example_verifies_with_published_jwks(n):
    token = (EXAMPLES / f"example-{n}-d-jws.txt").read_text().strip()
    claims = verify_compact_jws(token, shc_keys(), allow_high_s=True)
    assert claims == json.loads((EXAMPLES / f"example-{n}-c-jws-payload-minified.json").read_text())


def test_some_spec_examples_carry_high_s_and_hcert_profile_would_refuse_them():
    from hcert_verifier import P256_ORDER, b64url_decode

    high = 0
    for n in ["00", "01", "02", "03"]:
        token = (EXAMPLES / f"example-{n}-d-jws.txt").read_text().strip()
        s = int.from_bytes(b64url_decode(token.rsplit(".", 1)[1], "sig")[32:], "big")
        if s > P256_ORDER // 2:
            high += 1
            with pytest.raises(VerificationError) as e:
                verify_compact_jws(token, shc_keys(), allow_high_s=False)
            assert e.value.code == "signature_not_canonical"
    assert high >= 1


def test_tampered_example_fails():
    token = (EXAMPLES / "example-00-d-jws.txt").read_text().strip()
    h, _, s = token.split(".")
    other = (EXAMPLES / "example-03-d-jws.txt").read_text().strip().split(".")[1]
    with pytest.raises(BadSignature):
        verify_compact_jws(f"{h}.{other}.{s}", shc_keys())


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("test-example-00-d-jws-der-signature.txt", BadSignature),
        ("test-example-00-d-jws-invalid-signature.txt", BadSignature),
        ("test-example-00-d-jws-wrong_jws_header_kid.txt", UnknownKey),
        ("test-example-00-d-jws-no_jws_header_zip.txt", BadZip),
        ("test-example-00-d-jws-no_deflate.txt", BadZip),
        ("test-example-00-d-jws-no_jws_header_alg.txt", VerificationError),
        ("test-example-00-d-jws-no_jws_header_kid.txt", VerificationError),
        ("test-example-00-d-jws-trailing_chars.txt", VerificationError),
        ("test-example-00-d-jws-utf8_bom_prefix.txt", VerificationError),
    ],
)
def test_dev_tools_negative_jws(name, error):
    path = DEVTOOLS / name
    if not path.exists():
        pytest.skip(f"{name} not in this snapshot")
    token = path.read_text(encoding="utf-8", errors="surrogateescape").rstrip("\n")
    with pytest.raises(error):
        verify_compact_jws(token, shc_keys())


def test_corrupt_deflate_is_reported():
    from hcert_verifier import inflate

    with pytest.raises(DecompressionFailed):
        inflate(b"\xff\xff\xff\xff")
