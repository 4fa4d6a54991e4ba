"""Generate hcert conformance vectors: one JSON file per case in this folder.

Run ``python tests/vectors/generate.py`` to (re)write them; ``--check`` exits 1
if any file on disk differs from what this script makes (the test suite runs
the same check). The keys under ``keys/`` are test-only; they are trusted by
nothing but these vectors.

Each case holds what every stage needs, in the spirit of EU DCC's dgc-testdata:
``claims`` (where the payload is JSON), ``header``, ``token``, ``qr_text``,
``at`` (the validation time), the trust material by reference (``jwks``) and,
where the case needs them, ``status_lists``; and ``expected``:
``{"valid": bool, "code": str}``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder leads sys.path, and its keys/ folder of PEM files
# would shadow the hcert ``keys`` package.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import argparse
import datetime as dt
import hashlib
import hmac
import json
import zlib
from typing import Any

from cryptography.hazmat.primitives import serialization

from hcert_verifier import (
    P256_ORDER,
    QR_PREFIX,
    b64url_decode,
    b64url_encode,
    deflate,
    json_compact,
    qr_encode,
)
from issuer import StatusBits, sign_status_list
from keys import SigningKey
from keys._keyring import KeyRecord

HERE = Path(__file__).resolve().parent
KEYS = HERE / "keys"
CST = dt.timezone(dt.timedelta(hours=8))
ISSUED = dt.datetime(2020, 3, 10, 9, 0, tzinfo=CST)
T0 = int(ISSUED.timestamp())
DAY = 86400
AT = ISSUED + dt.timedelta(hours=2)
STATUS_URI = "https://hcert.example/v1/status/510321/0"


def load_key(name: str) -> SigningKey:
    """Load a test key from keys/<name>.pem."""
    return SigningKey.from_pem((KEYS / f"{name}.pem").read_bytes())


def jwks(keys: dict[str, tuple[SigningKey, str, str]]) -> dict[str, Any]:
    """Return the test JWKS: name -> (key, issuer, state)."""
    out = []
    for key, issuer, state in keys.values():
        numbers = key.public_key.public_numbers()
        record = KeyRecord(
            kid=key.kid,
            state=state,
            created=T0,
            x=b64url_encode(numbers.x.to_bytes(32, "big")),
            y=b64url_encode(numbers.y.to_bytes(32, "big")),
        )
        out.append(record.jwk(issuer))
    return {"keys": out}


def rtw_claims(**changes: Any) -> dict[str, Any]:
    """Return a valid return-to-work claim set, with changes (None deletes)."""
    claims: dict[str, Any] = {
        "iss": "510321",
        "nbf": T0,
        "exp": T0 + 14 * DAY,
        "jti": "AAAAAAAAAAAB",
        "st": [4242, 0],
        "k": "w",
        "n": "张伟明",
        "id": "5103211234",
        "o": "510321",
        "rs": 20200120,
        "sy": 0,
        "q": 0,
        "hc": "g",
        "dp": "44",
    }
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def freight_claims(**changes: Any) -> dict[str, Any]:
    """Return a valid freight-test claim set, with changes (None deletes)."""
    claims: dict[str, Any] = {
        "iss": "420100",
        "nbf": T0,
        "exp": T0 - 6 * 3600 + 72 * 3600,
        "jti": "AAAAAAAAAAAF",
        "k": "f",
        "n": "李强",
        "id": "4201025678",
        "r": "d",
        "vp": "鄂A12345",
        "tk": "n",
        "tr": "n",
        "ts": T0 - 6 * 3600,
        "lab": "武汉市第一医院检验科",
        "ro": "420102",
        "rd": "440305",
        "nk": 1,
    }
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def header_for(key: SigningKey, **changes: Any) -> dict[str, Any]:
    """Return the hcert header for ``key``, with changes (None deletes)."""
    header: dict[str, Any] = {"alg": "ES256", "kid": key.kid, "typ": "hc1", "zip": "DEF"}
    for name, value in changes.items():
        if value is None:
            header.pop(name, None)
        else:
            header[name] = value
    return header


def seg(data: bytes | dict[str, Any]) -> str:
    """Return the base64url segment of bytes or of a JSON object."""
    return b64url_encode(data if isinstance(data, bytes) else json_compact(data))


def forge(
    key: SigningKey,
    *,
    header: dict[str, Any] | bytes,
    payload: bytes,
    high_s: bool = False,
    signature: bytes | None = None,
) -> str:
    """Sign ``header.payload`` with ``key`` (the payload is already deflated or raw)."""
    signing_input = f"{seg(header)}.{b64url_encode(payload)}"
    sig = key.sign(signing_input.encode("ascii")) if signature is None else signature
    if high_s:
        s = P256_ORDER - int.from_bytes(sig[32:], "big")
        sig = sig[:32] + s.to_bytes(32, "big")
    return f"{signing_input}.{b64url_encode(sig)}"


def case(
    description: str,
    *,
    token: str | None = None,
    qr_text: str | None = None,
    claims: dict[str, Any] | None = None,
    header: dict[str, Any] | None = None,
    at: dt.datetime = AT,
    valid: bool,
    code: str,
    status_lists: list[str] | None = None,
) -> dict[str, Any]:
    """Assemble one vector."""
    if qr_text is None and token is not None:
        qr_text = qr_encode(token) if all("-" <= c <= "z" for c in token) else token
    body: dict[str, Any] = {"description": description}
    if claims is not None:
        body["claims"] = claims
    if header is not None:
        body["header"] = header
    if token is not None:
        body["token"] = token
    body["qr_text"] = qr_text
    body["at"] = at.isoformat()
    body["jwks"] = "jwks.json"
    if status_lists:
        body["status_lists"] = status_lists
    body["expected"] = {"valid": valid, "code": code}
    return body


def build() -> dict[str, dict[str, Any]]:
    """Return every file this script writes: relative path -> JSON body."""
    a = load_key("issuer-510321")
    retired = load_key("issuer-510321-retired")
    withdrawn = load_key("issuer-510321-withdrawn")
    b = load_key("issuer-420100")
    attacker = load_key("attacker")
    trusted = {
        "a": (a, "510321", "active"),
        "retired": (retired, "510321", "retired"),
        "withdrawn": (withdrawn, "510321", "withdrawn"),
        "b": (b, "420100", "active"),
    }

    def sign(claims: dict[str, Any], key: SigningKey = a, **header_changes: Any) -> tuple[dict[str, Any], str]:
        header = header_for(key, **header_changes)
        return header, forge(key, header=header, payload=deflate(json_compact(claims)))

    bits = StatusBits()
    bits.set(4243, 1)  # revoked
    bits.set(4244, 2)  # suspended
    status = sign_status_list(a, bits, uri=STATUS_URI, iat=T0 + 3600, exp=T0 + 2 * DAY, ttl=43200)

    cases: dict[str, dict[str, Any]] = {}

    def add(name: str, description: str, claims: dict[str, Any] | None, key: SigningKey = a, **kw: Any) -> None:
        header_changes = kw.pop("header_changes", {})
        if claims is not None and "token" not in kw:
            header, token = sign(claims, key, **header_changes)
            kw.setdefault("header", header)
            kw["token"] = token
        cases[name] = case(description, claims=claims, **kw)

    # ---- valid ---------------------------------------------------------------
    add(
        "valid/return-to-work.json",
        "typical worker certificate, three-character name, destination province",
        rtw_claims(),
        valid=True,
        code="ok",
    )
    add(
        "valid/return-to-work-minimal.json",
        "no optional claims, no status entry",
        rtw_claims(dp=None, st=None, jti="AAAAAAAAAAAC"),
        valid=True,
        code="ok",
    )
    add(
        "valid/return-to-work-full.json",
        "employer and point-to-point bus plate",
        rtw_claims(em="深圳市华强电子有限公司", vp="川C12345", jti="AAAAAAAAAAAD"),
        valid=True,
        code="ok",
    )
    add(
        "valid/quarantine-released.json",
        "released from quarantine observation on 2020-02-20",
        rtw_claims(q=20200220, hc="y", jti="AAAAAAAAAAAE"),
        valid=True,
        code="ok",
    )
    add(
        "valid/freight-driver.json",
        "driver, nucleic acid test sampled 6 hours before issue",
        freight_claims(),
        key=b,
        valid=True,
        code="ok",
    )
    add(
        "valid/freight-passenger-antigen.json",
        "passenger, antigen test",
        freight_claims(r="p", tk="a", jti="AAAAAAAAAAAG"),
        key=b,
        valid=True,
        code="ok",
    )
    add(
        "valid/retired-key.json",
        "signed by a retired key that is still published",
        rtw_claims(jti="AAAAAAAAAAAH"),
        key=retired,
        valid=True,
        code="ok",
    )
    add(
        "valid/leeway-before-nbf.json",
        "verified 299 s before nbf: inside the clock leeway",
        rtw_claims(jti="AAAAAAAAAAAI"),
        at=ISSUED - dt.timedelta(seconds=299),
        valid=True,
        code="ok",
    )
    add(
        "valid/leeway-after-exp.json",
        "verified 299 s after exp: inside the clock leeway",
        rtw_claims(jti="AAAAAAAAAAAJ"),
        at=ISSUED + dt.timedelta(days=14, seconds=299),
        valid=True,
        code="ok",
    )
    add(
        "valid/valid-from-later.json",
        "issued now, valid from the day of travel (iat before nbf)",
        rtw_claims(iat=T0 - DAY, jti="AAAAAAAAAAAK"),
        valid=True,
        code="ok",
    )
    add(
        "valid/status-valid.json",
        "status list at hand, entry 4242 is 0 (valid)",
        rtw_claims(),
        valid=True,
        code="ok",
        status_lists=[status],
    )
    _, plain = sign(rtw_claims(jti="AAAAAAAAAAAL"))
    cases["valid/compact-token-input.json"] = case(
        "a bare compact token instead of QR text",
        claims=rtw_claims(jti="AAAAAAAAAAAL"),
        header=header_for(a),
        token=plain,
        qr_text=plain,
        valid=True,
        code="ok",
    )

    # ---- transport -------------------------------------------------------------
    good_header, good = sign(rtw_claims())
    good_qr = qr_encode(good)
    cases["invalid/qr-prefix-wrong.json"] = case(
        "EU DCC prefix", qr_text="HC1:" + good_qr[len(QR_PREFIX) :], valid=False, code="bad_qr_prefix"
    )
    cases["invalid/qr-shc-prefix.json"] = case(
        "SMART Health Card prefix", qr_text="shc:/" + good_qr[len(QR_PREFIX) :], valid=False, code="bad_qr_prefix"
    )
    cases["invalid/qr-odd-digits.json"] = case(
        "odd number of digits", qr_text=good_qr[:-1], valid=False, code="bad_qr_digits"
    )
    cases["invalid/qr-pair-out-of-range.json"] = case(
        "digit pair 78 encodes no character", qr_text=good_qr[:-2] + "78", valid=False, code="bad_qr_digits"
    )
    cases["invalid/qr-non-digit.json"] = case(
        "a letter among the digits", qr_text=good_qr[:-2] + "5A", valid=False, code="bad_qr_digits"
    )
    # Text is verified exactly as scanned: a line ending or a space around it makes
    # another text, which must not verify (the verifier once trimmed it).
    cases["invalid/qr-trailing-newline.json"] = case(
        "QR text followed by a line ending", qr_text=good_qr + "\n", valid=False, code="bad_qr_digits"
    )
    cases["invalid/qr-leading-space.json"] = case(
        "a space before the QR text", qr_text=" " + good_qr, valid=False, code="bad_qr_prefix"
    )
    cases["invalid/oversize-input.json"] = case(
        "5,000 digits: larger than any certificate",
        qr_text=QR_PREFIX + "56" * 2500,
        valid=False,
        code="input_too_large",
    )
    # ---- JWS structure -----------------------------------------------------------
    h, p, s = good.split(".")
    cases["invalid/two-segments.json"] = case(
        "signature segment missing", token=f"{h}.{p}", valid=False, code="malformed_token"
    )
    cases["invalid/empty-signature.json"] = case(
        "empty signature segment", token=f"{h}.{p}.", valid=False, code="malformed_token"
    )
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    stray = alphabet[alphabet.index(s[-1]) ^ 1]  # 86 characters: the last one has 4 unused bits
    cases["invalid/non-canonical-base64.json"] = case(
        "signature's last character sets an unused bit",
        token=f"{h}.{p}.{s[:-1]}{stray}",
        valid=False,
        code="bad_base64",
    )
    cases["invalid/padded-base64.json"] = case(
        "padding is not allowed in JWS", token=f"{h}.{p}.{s}==", valid=False, code="bad_base64"
    )
    # A damaged print can make a camera read one non-ASCII character; it must be
    # refused as bad base64 before the signing input is built (it once raised).
    cases["invalid/payload-non-ascii.json"] = case(
        "one character of the payload segment replaced by a non-ASCII letter",
        token=f"{h}.{p[:40]}é{p[41:]}.{s}",
        valid=False,
        code="bad_base64",
    )
    cases["invalid/header-not-json.json"] = case(
        "header is not JSON", token=forge(a, header=b"not json", payload=deflate(b"{}")), valid=False, code="bad_json"
    )
    dup_header = json_compact(good_header)[:-1] + b',"alg":"none"}'
    cases["invalid/duplicate-key-header.json"] = case(
        "header repeats alg (first ES256, then none)",
        token=forge(a, header=dup_header, payload=deflate(json_compact(rtw_claims()))),
        valid=False,
        code="duplicate_json_key",
    )
    # ---- header ---------------------------------------------------------------
    unsigned = (
        f"{seg({'alg': 'none', 'kid': a.kid, 'typ': 'hc1', 'zip': 'DEF'})}.{seg(deflate(json_compact(rtw_claims())))}"
    )
    cases["invalid/alg-none.json"] = case(
        "alg none with a dummy signature",
        token=unsigned + "." + b64url_encode(b"\0" * 64),
        valid=False,
        code="alg_not_allowed",
    )
    pem = a.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    hs_input = f"{seg(header_for(a, alg='HS256'))}.{seg(deflate(json_compact(rtw_claims())))}"
    hs_sig = hmac.new(pem, hs_input.encode(), hashlib.sha256).digest()
    cases["invalid/alg-hs256-key-confusion.json"] = case(
        "HS256 with the issuer's public key PEM as the HMAC secret",
        token=f"{hs_input}.{b64url_encode(hs_sig)}",
        valid=False,
        code="alg_not_allowed",
    )
    add(
        "invalid/alg-es384.json",
        "ES384 header",
        rtw_claims(),
        header_changes={"alg": "ES384"},
        valid=False,
        code="alg_not_allowed",
    )
    add(
        "invalid/alg-missing.json",
        "no alg",
        rtw_claims(),
        header_changes={"alg": None},
        valid=False,
        code="alg_not_allowed",
    )
    add(
        "invalid/unknown-kid.json",
        "signed by a key that is not on the trust list",
        rtw_claims(),
        key=attacker,
        valid=False,
        code="unknown_key",
    )
    add(
        "invalid/kid-injection.json",
        "kid is a path traversal string",
        rtw_claims(),
        header_changes={"kid": "../../etc/passwd"},
        valid=False,
        code="bad_kid",
    )
    add("invalid/kid-missing.json", "no kid", rtw_claims(), header_changes={"kid": None}, valid=False, code="bad_kid")
    add(
        "invalid/kid-full-thumbprint.json",
        "kid is a full 43-character thumbprint",
        rtw_claims(),
        header_changes={"kid": a.kid + "A" * 32},
        valid=False,
        code="bad_kid",
    )
    jwk = {k: v for k, v in jwks({"x": trusted["a"]})["keys"][0].items() if k in ("kty", "crv", "x", "y")}
    attacker_jwk = {
        k: v for k, v in jwks({"x": (attacker, "510321", "active")})["keys"][0].items() if k in ("kty", "crv", "x", "y")
    }
    add(
        "invalid/jwk-header.json",
        "attacker's own key embedded in the header (jwk)",
        rtw_claims(),
        key=attacker,
        header_changes={"jwk": attacker_jwk, "kid": a.kid},
        valid=False,
        code="forbidden_header",
    )
    add(
        "invalid/jku-header.json",
        "jku points at an attacker's JWKS",
        rtw_claims(),
        header_changes={"jku": "https://attacker.example/jwks.json"},
        valid=False,
        code="forbidden_header",
    )
    add(
        "invalid/x5u-header.json",
        "x5u header",
        rtw_claims(),
        header_changes={"x5u": "https://attacker.example/cert.pem"},
        valid=False,
        code="forbidden_header",
    )
    add(
        "invalid/x5c-header.json",
        "x5c chain in the header",
        rtw_claims(),
        header_changes={"x5c": ["MIIB"]},
        valid=False,
        code="forbidden_header",
    )
    add(
        "invalid/crit-header.json",
        "crit names an extension",
        rtw_claims(),
        header_changes={"crit": ["exp"], "exp": T0},
        valid=False,
        code="crit_unsupported",
    )
    add(
        "invalid/typ-wrong.json",
        "typ JWT instead of hc1",
        rtw_claims(),
        header_changes={"typ": "JWT"},
        valid=False,
        code="bad_typ",
    )
    add(
        "invalid/typ-missing.json",
        "typ absent",
        rtw_claims(),
        header_changes={"typ": None},
        valid=False,
        code="bad_typ",
    )
    add(
        "invalid/zip-missing.json",
        "zip absent (payload still deflated)",
        rtw_claims(),
        header_changes={"zip": None},
        valid=False,
        code="bad_zip",
    )
    add(
        "invalid/unknown-header.json",
        "an undefined header parameter",
        rtw_claims(),
        header_changes={"cty": "JWT"},
        valid=False,
        code="unknown_header",
    )
    _ = jwk
    # ---- signature -----------------------------------------------------------------
    sig = b64url_decode(s, "signature")
    r_int, s_int = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    der = _der(r_int, s_int)
    cases["invalid/der-signature.json"] = case(
        "signature DER-encoded instead of r||s",
        token=f"{h}.{p}.{b64url_encode(der)}",
        valid=False,
        code="bad_signature",
    )
    cases["invalid/signature-r-zero.json"] = case(
        "r = 0", token=f"{h}.{p}.{b64url_encode(bytes(32) + sig[32:])}", valid=False, code="bad_signature"
    )
    cases["invalid/signature-s-order.json"] = case(
        "s = n (out of range)",
        token=f"{h}.{p}.{b64url_encode(sig[:32] + P256_ORDER.to_bytes(32, 'big'))}",
        valid=False,
        code="bad_signature",
    )
    cases["invalid/high-s.json"] = case(
        "the (r, n - s) twin of a valid signature: verifies mathematically, but hcert signatures are low-s",
        token=forge(a, header=good_header, payload=deflate(json_compact(rtw_claims())), high_s=True),
        valid=False,
        code="signature_not_canonical",
    )
    cases["invalid/signature-from-other-key.json"] = case(
        "kid of the trusted key, signature made by the attacker's key",
        token=forge(attacker, header=good_header, payload=deflate(json_compact(rtw_claims()))),
        valid=False,
        code="bad_signature",
    )
    tampered = deflate(json_compact(rtw_claims(n="王五")))
    cases["invalid/payload-tampered.json"] = case(
        "payload replaced after signing", token=f"{h}.{b64url_encode(tampered)}.{s}", valid=False, code="bad_signature"
    )
    # ---- payload (all correctly signed by the trusted key) ------------------------------
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb_data = bomb.compress(b'{"n":"' + b"A" * 1_000_000) + bomb.flush()
    cases["invalid/decompression-bomb.json"] = case(
        "signed payload that inflates to over 1 MB",
        token=forge(a, header=good_header, payload=bomb_data),
        valid=False,
        code="payload_too_large",
    )
    cases["invalid/payload-not-deflated.json"] = case(
        "zip DEF but the payload is plain JSON",
        token=forge(a, header=good_header, payload=json_compact(rtw_claims())),
        valid=False,
        code="decompression_failed",
    )
    cases["invalid/deflate-trailing-data.json"] = case(
        "bytes after the end of the DEFLATE stream",
        token=forge(a, header=good_header, payload=deflate(json_compact(rtw_claims())) + b"\0junk"),
        valid=False,
        code="decompression_failed",
    )
    cases["invalid/payload-zlib-wrapped.json"] = case(
        "zlib header instead of raw DEFLATE",
        token=forge(a, header=good_header, payload=zlib.compress(json_compact(rtw_claims()))),
        valid=False,
        code="decompression_failed",
    )
    cases["invalid/payload-not-json.json"] = case(
        "payload is not JSON",
        token=forge(a, header=good_header, payload=deflate(b"\xff\xfe not json")),
        valid=False,
        code="bad_json",
    )
    cases["invalid/payload-array.json"] = case(
        "payload is a JSON array",
        token=forge(a, header=good_header, payload=deflate(b"[1,2,3]")),
        valid=False,
        code="bad_json",
    )
    dup_payload = json_compact(rtw_claims())[:-1] + ',"n":"王五"}'.encode()
    cases["invalid/duplicate-key-payload.json"] = case(
        "payload repeats the name claim",
        token=forge(a, header=good_header, payload=deflate(dup_payload)),
        valid=False,
        code="duplicate_json_key",
    )
    nan_payload = json_compact(rtw_claims())[:-1] + b',"exp":NaN}'
    cases["invalid/payload-nan.json"] = case(
        "NaN constant in the payload",
        token=forge(a, header=good_header, payload=deflate(nan_payload)),
        valid=False,
        code="bad_json",
    )
    # ---- claims -------------------------------------------------------------------------
    add("invalid/claim-missing-exp.json", "no exp", rtw_claims(exp=None), valid=False, code="bad_claims")
    add(
        "invalid/claim-unknown.json",
        "a claim the format does not define",
        rtw_claims(idn="510321199003071234"),
        valid=False,
        code="bad_claims",
    )
    add(
        "invalid/claim-full-id-number.json",
        "full 18-character ID number instead of the masked form",
        rtw_claims(id="510321199003071234"),
        valid=False,
        code="bad_claims",
    )
    add(
        "invalid/claim-exp-as-string.json",
        "exp is a string",
        rtw_claims(exp=str(T0 + 14 * DAY)),
        valid=False,
        code="bad_claims",
    )
    add("invalid/claim-bool-as-int.json", "sy is true, not 0", rtw_claims(sy=True), valid=False, code="bad_claims")
    add(
        "invalid/claim-residency-short.json",
        "resident since 10 days before issue",
        rtw_claims(rs=20200229),
        valid=False,
        code="bad_claims",
    )
    add(
        "invalid/claim-quarantine-future.json",
        "quarantine released after the issue date",
        rtw_claims(q=20200312),
        valid=False,
        code="bad_claims",
    )
    add("invalid/claim-health-code-red.json", "red health code", rtw_claims(hc="r"), valid=False, code="bad_claims")
    add(
        "invalid/claim-bad-plate.json",
        "malformed vehicle plate",
        freight_claims(vp="ABC123"),
        key=b,
        valid=False,
        code="bad_claims",
    )
    add("invalid/claim-exp-before-nbf.json", "exp before nbf", rtw_claims(exp=T0 - 1), valid=False, code="bad_claims")
    # ---- time ---------------------------------------------------------------------------
    add(
        "invalid/expired.json",
        "verified 15 days after issue",
        rtw_claims(),
        at=ISSUED + dt.timedelta(days=15),
        valid=False,
        code="expired",
    )
    add(
        "invalid/expired-past-leeway.json",
        "verified 301 s after exp",
        rtw_claims(),
        at=ISSUED + dt.timedelta(days=14, seconds=301),
        valid=False,
        code="expired",
    )
    add(
        "invalid/not-yet-valid.json",
        "issued yesterday, valid from tomorrow, verified today",
        rtw_claims(iat=T0 - DAY, nbf=T0 + DAY),
        valid=False,
        code="not_yet_valid",
    )
    add(
        "invalid/issued-in-future.json",
        "verified an hour before the issue time",
        rtw_claims(),
        at=ISSUED - dt.timedelta(hours=1),
        valid=False,
        code="issued_in_future",
    )
    # ---- trust and status ---------------------------------------------------------------
    add(
        "invalid/withdrawn-key.json",
        "signed by a withdrawn (compromised) key",
        rtw_claims(),
        key=withdrawn,
        valid=False,
        code="key_withdrawn",
    )
    add(
        "invalid/issuer-key-mismatch.json",
        "authority 420100's key signs a certificate claiming iss 510321",
        rtw_claims(),
        key=b,
        valid=False,
        code="unknown_issuer",
    )
    add(
        "invalid/revoked.json",
        "status list entry 4243 is 1 (revoked)",
        rtw_claims(st=[4243, 0]),
        status_lists=[status],
        valid=False,
        code="revoked",
    )
    add(
        "invalid/suspended.json",
        "status list entry 4244 is 2 (suspended)",
        rtw_claims(st=[4244, 0]),
        status_lists=[status],
        valid=False,
        code="suspended",
    )
    add(
        "invalid/status-index-past-end.json",
        "status index beyond the list's 131,072 entries",
        rtw_claims(st=[200000, 0]),
        status_lists=[status],
        valid=False,
        code="status_unavailable",
    )

    files: dict[str, dict[str, Any]] = {"jwks.json": jwks(trusted)}
    files.update(cases)
    return files


def _der(r: int, s: int) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    return encode_dss_signature(r, s)


def render(body: dict[str, Any]) -> str:
    """Return the file text of one JSON body."""
    return json.dumps(body, ensure_ascii=False, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the vectors, or with --check report drift."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a vector on disk is stale")
    args = parser.parse_args(argv)
    files = build()
    stale = []
    for rel, body in files.items():
        path = HERE / rel
        text = render(body)
        if args.check:
            if not path.exists() or path.read_text("utf-8") != text:
                stale.append(rel)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, "utf-8")
    on_disk = {str(p.relative_to(HERE)) for p in HERE.glob("*/*.json")}
    extra = sorted(on_disk - set(files))
    if args.check and (stale or extra):
        print(f"stale vectors: {', '.join(stale + extra)}; run python tests/vectors/generate.py", file=sys.stderr)
        return 1
    if not args.check:
        print(f"wrote {len(files)} files to {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
