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

Bundle vectors, in ``bundle/``, are a device offered a trust bundle and then
scanning; their fields are described above :func:`bundle_cases` and in
``docs/SCANNER.md``.
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
    BUNDLE_FORMAT,
    BUNDLE_TYP,
    P256_ORDER,
    QR_PREFIX,
    RULES_TYP,
    TRUST_LIST_TYP,
    Bundle,
    b64url_decode,
    b64url_encode,
    deflate,
    json_compact,
    jwk_from_public_key,
    qr_encode,
)
from hcert_verifier.bundle import sha256_text
from hcert_verifier.state import STATE_FORMAT, DeviceState
from issuer import StatusBits, sign_status_list
from keys import SigningKey, sign_compact
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
    files.update(bundle_cases(a, withdrawn, b, attacker, sign))
    return files


# -- bundle vectors ----------------------------------------------------------------
# Each file in bundle/ holds: ``roots`` (the pinned root JWKs), ``bundle`` (the
# hcert-bundle/2 envelope text a device is offered), ``prior_state`` (what the
# device accepted before, as its state.json, or null), ``synced_at`` (the device
# clock when it is offered the bundle), ``qr_text``, ``at`` (the time of the
# scan), ``clock`` ("device": the device's own clock, where the clock floor
# refuses; "operator": a time the operator states), ``destination`` (a province,
# or null for no rules) and ``checkpoint``; and ``expected``: ``valid``, ``code``
# and ``warnings``. A device (1) loads the bundle from the roots, (2) admits it at
# ``synced_at`` (freshness, then versions against ``prior_state``), (3) verifies
# the QR text at ``at`` with the bundle's trust list, status lists and the
# destination's rules. The first refusal is the verdict.

BUNDLE_ISSUED = T0 + 3600
BUNDLE_AT = T0 + 2 * 3600
TRUST_LIST_EXPIRES = T0 + 30 * DAY
BASE_URL = "https://hcert.example"
OTHER_STATUS_URI = "https://status.example/v1/status/510321/0"
PASS_RULES: dict[str, list[dict[str, Any]]] = {
    "gate": [
        {"id": "GD-1", "type": "accept_kinds", "kinds": ["w", "f"]},
        {"id": "GD-2", "type": "max_age_hours", "hours": 336},
    ],
    "highway": [{"id": "GD-H1", "type": "accept_kinds", "kinds": ["f"]}],
}


def _pub(key: SigningKey, **extra: Any) -> dict[str, Any]:
    return {**jwk_from_public_key(key.public_key), "kid": key.kid, **extra}


def _version_of(token: str) -> Any:
    return json.loads(zlib.decompress(b64url_decode(token.split(".")[1], "token"), -15))["version"]


class BundleWorld:
    """Test-only root, bundle signer and rule key of province 44, over the vector issuers."""

    def __init__(self, a: SigningKey, withdrawn: SigningKey, b: SigningKey) -> None:
        self.root = load_key("root")
        self.signer = load_key("bundle-signer")
        self.rules_key = load_key("rules-44")
        self.a, self.withdrawn, self.b = a, withdrawn, b
        self.roots = [_pub(self.root)]

    def trust_list(
        self,
        version: int = 3,
        *,
        key: SigningKey | None = None,
        name: str = "荣县卫生健康局",
        expires: int | None = TRUST_LIST_EXPIRES,
    ) -> str:
        """Return a trust list signed by the root (or ``key``); ``expires`` None leaves it out."""

        def keys(*items: tuple[SigningKey, str]) -> list[dict[str, Any]]:
            return [_pub(k, state=state, not_before=T0 - 30 * DAY, not_after=None) for k, state in items]

        payload: dict[str, Any] = {
            "version": version,
            "issued_at": T0,
            "expires": expires,
            "roots": self.roots,
            "bundle_signers": [_pub(self.signer)],
            "rule_signers": {"44": [_pub(self.rules_key)]},
            "authorities": [
                {
                    "id": "510321",
                    "name_zh": name,
                    "name_en": "Rong County Health Bureau",
                    "base_url": BASE_URL,
                    "scope": {"regions": ["51"], "kinds": ["w", "f"]},
                    "keys": keys((self.a, "active"), (self.withdrawn, "withdrawn")),
                },
                {
                    "id": "420100",
                    "name_zh": "武汉市卫生健康委员会",
                    "name_en": "Wuhan Municipal Health Commission",
                    "base_url": BASE_URL,
                    "scope": {"regions": ["42"], "kinds": ["f"]},
                    "keys": keys((self.b, "active")),
                },
            ],
        }
        if expires is None:
            del payload["expires"]
        return sign_compact(key or self.root, typ=TRUST_LIST_TYP, payload=json_compact(payload))

    def rules(
        self, checkpoints: dict[str, Any] | None = None, *, version: int = 2, key: SigningKey | None = None
    ) -> str:
        """Return province 44's rules signed by its rule key (or ``key``)."""
        body = {
            "province": "44",
            "version": version,
            "issued_at": T0,
            "checkpoints": PASS_RULES if checkpoints is None else checkpoints,
        }
        return sign_compact(key or self.rules_key, typ=RULES_TYP, payload=json_compact(body))

    def status(
        self,
        *,
        version: int = 4,
        key: SigningKey | None = None,
        uri: str = STATUS_URI,
        iat: int = T0,
        exp: int = T0 + 7 * DAY,
        extra: int | None = None,
    ) -> str:
        """Return authority 510321's list 0: 4243 revoked, 4244 suspended (and ``extra`` revoked)."""
        bits = StatusBits()
        bits.set(4243, 1)
        bits.set(4244, 2)
        if extra is not None:
            bits.set(extra, 1)
        return sign_status_list(key or self.a, bits, uri=uri, iat=iat, exp=exp, ttl=43200, version=version)

    def bundle(
        self,
        *,
        version: int = 10,
        trust: str | None = None,
        rules: list[str] | None = None,
        lists: list[str] | None = None,
        withdrawn: list[str] = [],
        issued_at: int = BUNDLE_ISSUED,
        expires: int | None = None,
        pair_with: str | None = None,
        key: SigningKey | None = None,
    ) -> tuple[str, str]:
        """Return (envelope text, bundle token) signed by the bundle signer (or ``key``)."""
        trust = self.trust_list() if trust is None else trust
        paired = pair_with or trust
        payload = {
            "format": BUNDLE_FORMAT,
            "version": version,
            "issued_at": issued_at,
            "expires": issued_at + 7 * DAY if expires is None else expires,
            "trust_list": {"version": _version_of(paired), "sha256": sha256_text(paired)},
            "rules": [self.rules()] if rules is None else rules,
            "status_lists": [self.status()] if lists is None else lists,
            "withdrawn": [{"kid": k, "iss": "510321", "at": T0, "reason": "key compromise"} for k in withdrawn],
        }
        token = sign_compact(key or self.signer, typ=BUNDLE_TYP, payload=json_compact(payload))
        return envelope(trust, token), token


def envelope(trust: str, token: str, **changes: Any) -> str:
    """Return the hcert-bundle/2 envelope text (with changes; None deletes a member)."""
    body: dict[str, Any] = {"format": BUNDLE_FORMAT, "trust_list": trust, "bundle": token}
    for name, value in changes.items():
        if value is None:
            body.pop(name)
        else:
            body[name] = value
    return json_compact(body).decode()


def state_after(roots: list[dict[str, Any]], *bundles: str) -> dict[str, Any]:
    """Return the state.json body of a device that accepted these bundles in turn."""
    state = DeviceState()
    for text in bundles:
        bundle = Bundle.load(text, roots)
        state.check(bundle)
        state.record(bundle)
    return {
        "format": STATE_FORMAT,
        "bundle": state.bundle,
        "trust_list": state.trust_list,
        "rules": state.rules,
        "status_lists": state.status_lists,
        "withdrawn": state.withdrawn,
    }


def bundle_cases(
    a: SigningKey,
    withdrawn: SigningKey,
    b: SigningKey,
    attacker: SigningKey,
    sign: Any,
) -> dict[str, dict[str, Any]]:
    """Return the bundle vectors: bundle/<defect>.json -> body."""
    w = BundleWorld(a, withdrawn, b)
    good, good_token = w.bundle()
    cert = qr_encode(sign(rtw_claims())[1])
    out: dict[str, dict[str, Any]] = {}

    def add(
        name: str,
        description: str,
        *,
        valid: bool,
        code: str,
        bundle: str = good,
        qr_text: str = cert,
        prior: tuple[str, ...] = (),
        synced_at: int = BUNDLE_AT,
        at: int = BUNDLE_AT,
        clock: str = "device",
        destination: str | None = "44",
        checkpoint: str = "gate",
        warnings: tuple[str, ...] = (),
    ) -> None:
        def iso(t: int) -> str:
            return dt.datetime.fromtimestamp(t, CST).isoformat()

        out[f"bundle/{name}.json"] = {
            "description": description,
            "roots": w.roots,
            "bundle": bundle,
            "prior_state": state_after(w.roots, *prior) if prior else None,
            "synced_at": iso(synced_at),
            "qr_text": qr_text,
            "at": iso(at),
            "clock": clock,
            "destination": destination,
            "checkpoint": checkpoint,
            "expected": {"valid": valid, "code": code, "warnings": list(warnings)},
        }

    def rules_bundle(checkpoints: dict[str, Any]) -> str:
        return w.bundle(rules=[w.rules(checkpoints)])[0]

    # Destination rules.
    add("rules-pass", "every gate rule of province 44 passes", valid=True, code="ok")
    add("rules-no-destination", "no destination: the rules are not applied", valid=True, code="ok", destination=None)
    add(
        "rules-fail",
        "the highway checkpoint accepts freight tests only; this is a return-to-work certificate",
        valid=False,
        code="rejected_by_rules",
        checkpoint="highway",
    )
    add(
        "rules-open-rejects",
        "test_within_hours cannot be evaluated without a sample time: OPEN, and the rule rejects when open",
        valid=False,
        code="rejected_by_rules",
        bundle=rules_bundle({"gate": [{"id": "GD-T", "type": "test_within_hours", "hours": 48}]}),
    )
    add(
        "rules-open-accepts",
        "test_within_hours is OPEN and the rule says open: accept",
        valid=True,
        code="ok",
        bundle=rules_bundle({"gate": [{"id": "GD-T", "type": "test_within_hours", "hours": 48, "open": "accept"}]}),
    )
    add(
        "rules-unknown-type-rejects",
        "a rule of a type this verifier does not know is OPEN, whatever else it holds; open defaults to reject",
        valid=False,
        code="rejected_by_rules",
        bundle=rules_bundle({"gate": [{"id": "GD-X", "type": "quarantine_days", "days": "seven"}]}),
    )
    add(
        "rules-unknown-type-accepts",
        "a rule of an unknown type with open: accept",
        valid=True,
        code="ok",
        bundle=rules_bundle({"gate": [{"id": "GD-X", "type": "quarantine_days", "days": 7, "open": "accept"}]}),
    )
    add(
        "rules-unknown-checkpoint",
        "province 44 has no rules for checkpoint port",
        valid=False,
        code="rules_unavailable",
        checkpoint="port",
    )
    add(
        "rules-unknown-province",
        "no rules in the bundle for destination province 31",
        valid=False,
        code="rules_unavailable",
        destination="31",
    )
    add(
        "rules-wrong-signer",
        "province 44's rules signed by the bundle signer, not the province's rule key",
        valid=False,
        code="bundle_invalid",
        bundle=w.bundle(rules=[w.rules(key=w.signer)])[0],
    )
    # Status lists.
    add(
        "status-revoked",
        "entry 4243 of the bundle's list is revoked",
        valid=False,
        code="revoked",
        qr_text=qr_encode(sign(rtw_claims(st=[4243, 0]))[1]),
    )
    add(
        "status-suspended",
        "entry 4244 of the bundle's list is suspended",
        valid=False,
        code="suspended",
        qr_text=qr_encode(sign(rtw_claims(st=[4244, 0]))[1]),
    )
    add(
        "status-list-missing",
        "the bundle carries no status list for the certificate's list: a bundle fails closed",
        valid=False,
        code="status_unavailable",
        bundle=w.bundle(lists=[])[0],
    )
    add(
        "status-list-expired",
        "the bundle's status list passed its exp before the scan",
        valid=False,
        code="status_list_expired",
        bundle=w.bundle(lists=[w.status(iat=T0 - DAY, exp=T0 + 3600)])[0],
    )
    add(
        "status-list-withdrawn-key",
        "the status list is signed by a key the trust list marks withdrawn",
        valid=False,
        code="bundle_invalid",
        bundle=w.bundle(lists=[w.status(key=withdrawn)])[0],
    )
    add(
        "status-list-key-withdrawn-by-bundle",
        "the status list is signed by the authority's key that the bundle itself withdraws",
        valid=False,
        code="bundle_invalid",
        bundle=w.bundle(withdrawn=[a.kid])[0],
    )
    add(
        "status-list-wrong-sub",
        "the status list's sub is on a server other than the authority's base_url",
        valid=False,
        code="bundle_invalid",
        bundle=w.bundle(lists=[w.status(uri=OTHER_STATUS_URI)])[0],
    )
    add(
        "status-list-other-authority",
        "authority 420100's key signs list 510321/0",
        valid=False,
        code="bundle_invalid",
        bundle=w.bundle(lists=[w.status(key=b)])[0],
    )
    # Expiry, staleness, validity, the clock.
    expires = BUNDLE_ISSUED + 7 * DAY
    add("expired", "the scan is at the bundle's expires", valid=False, code="bundle_expired", at=expires)
    add(
        "expired-at-sync",
        "the device is offered a bundle already past its expires",
        valid=False,
        code="bundle_expired",
        synced_at=expires + 60,
        at=expires + 60,
    )
    add(
        "stale",
        "the bundle is 49 hours old: valid, with the warning bundle_stale",
        valid=True,
        code="ok",
        at=BUNDLE_ISSUED + 49 * 3600,
        warnings=("bundle_stale",),
    )
    add("not-yet-stale", "the bundle is 47 hours old: no warning", valid=True, code="ok", at=BUNDLE_ISSUED + 47 * 3600)
    late = TRUST_LIST_EXPIRES - DAY
    add(
        "trust-list-expired",
        "the scan is at the trust list's expires; the bundle carrying it (issued a day before) is still within its own",
        valid=False,
        code="trust_list_expired",
        bundle=w.bundle(issued_at=late)[0],
        synced_at=late + 60,
        at=TRUST_LIST_EXPIRES,
    )
    add(
        "trust-list-expired-at-sync",
        "a fresh bundle re-wraps a trust list already past its expires (a stolen bundle-signer key holding news back)",
        valid=False,
        code="trust_list_expired",
        bundle=w.bundle(issued_at=TRUST_LIST_EXPIRES + 60)[0],
        synced_at=TRUST_LIST_EXPIRES + 120,
        at=TRUST_LIST_EXPIRES + 120,
    )
    add(
        "trust-list-validity-too-long",
        "the trust list's expires is 92 days and 1 second after its issued_at",
        valid=False,
        code="trust_list_validity_too_long",
        bundle=w.bundle(trust=w.trust_list(expires=T0 + 92 * DAY + 1))[0],
    )
    add(
        "trust-list-validity-92-days",
        "the trust list's expires is exactly 92 days after its issued_at (the maximum)",
        valid=True,
        code="ok",
        bundle=w.bundle(trust=w.trust_list(expires=T0 + 92 * DAY))[0],
    )
    add(
        "trust-list-without-expires",
        "the trust list carries no expires",
        valid=False,
        code="bundle_invalid",
        bundle=w.bundle(trust=w.trust_list(expires=None))[0],
    )
    add(
        "validity-too-long",
        "expires is 7 days and 1 second after issued_at",
        valid=False,
        code="bundle_validity_too_long",
        bundle=w.bundle(expires=BUNDLE_ISSUED + 7 * DAY + 1)[0],
    )
    add(
        "validity-seven-days",
        "expires is exactly 7 days after issued_at (the maximum)",
        valid=True,
        code="ok",
        bundle=w.bundle(expires=BUNDLE_ISSUED + 7 * DAY)[0],
    )
    add(
        "expires-before-issued",
        "expires equals issued_at",
        valid=False,
        code="bundle_invalid",
        bundle=w.bundle(expires=BUNDLE_ISSUED)[0],
    )
    add(
        "issued-in-future",
        "the bundle is issued an hour after the device clock at sync",
        valid=False,
        code="bundle_issued_in_future",
        synced_at=BUNDLE_ISSUED - 3600,
        at=BUNDLE_ISSUED - 3600,
    )
    add(
        "issued-within-leeway",
        "the bundle is issued 4 minutes after the device clock: within CLOCK_LEEWAY",
        valid=True,
        code="ok",
        synced_at=BUNDLE_ISSUED - 240,
        at=BUNDLE_ISSUED - 240,
    )
    add(
        "clock-before-floor",
        "after the sync, the device clock reads an hour before the bundle's issued_at",
        valid=False,
        code="clock_before_bundle",
        at=BUNDLE_ISSUED - 3600,
    )
    add(
        "clock-before-floor-operator",
        "the same time, stated by the operator: valid with the warning clock_before_bundle",
        valid=True,
        code="ok",
        at=BUNDLE_ISSUED - 3600,
        clock="operator",
        warnings=("clock_before_bundle",),
    )
    # Rollback against what the device accepted before.
    older, _ = w.bundle(version=9, issued_at=BUNDLE_ISSUED - 3600)
    newer, _ = w.bundle(version=11, issued_at=BUNDLE_ISSUED + 60)
    add(
        "rollback-same-bundle-again",
        "the bundle the device already holds, offered again",
        valid=True,
        code="ok",
        prior=(good,),
    )
    add("rollback-newer-bundle", "a newer bundle after an older one", valid=True, code="ok", prior=(older,))
    add(
        "rollback-bundle-lower",
        "bundle version 10 after version 11",
        valid=False,
        code="bundle_rollback",
        prior=(newer,),
    )
    add(
        "rollback-bundle-equal-different",
        "bundle version 10 again, with other content (no status lists)",
        valid=False,
        code="version_reused",
        bundle=w.bundle(lists=[])[0],
        prior=(good,),
    )
    add(
        "rollback-bundle-issued-earlier",
        "a higher bundle version issued before the accepted bundle",
        valid=False,
        code="bundle_rollback",
        bundle=w.bundle(version=12, issued_at=BUNDLE_ISSUED)[0],
        prior=(newer,),
    )
    add(
        "rollback-trust-list-lower",
        "a new bundle with trust list version 2 after version 3",
        valid=False,
        code="trust_list_rollback",
        bundle=w.bundle(version=11, trust=w.trust_list(2), issued_at=BUNDLE_ISSUED + 60)[0],
        prior=(good,),
    )
    add(
        "rollback-trust-list-equal-different",
        "trust list version 3 again, with another authority name",
        valid=False,
        code="version_reused",
        bundle=w.bundle(version=11, trust=w.trust_list(3, name="荣县卫健局"), issued_at=BUNDLE_ISSUED + 60)[0],
        prior=(good,),
    )
    add(
        "rollback-rules-lower",
        "a new bundle with province 44's rules version 1 after version 2",
        valid=False,
        code="rules_rollback",
        bundle=w.bundle(version=11, rules=[w.rules(version=1)], issued_at=BUNDLE_ISSUED + 60)[0],
        prior=(good,),
    )
    add(
        "rollback-status-list-lower",
        "a new bundle with status list version 3 after version 4 (before a revocation)",
        valid=False,
        code="status_list_rollback",
        bundle=w.bundle(version=11, lists=[w.status(version=3)], issued_at=BUNDLE_ISSUED + 60)[0],
        prior=(good,),
    )
    add(
        "rollback-status-list-equal-different",
        "status list version 4 again with one more entry revoked",
        valid=False,
        code="version_reused",
        bundle=w.bundle(version=11, lists=[w.status(extra=5000)], issued_at=BUNDLE_ISSUED + 60)[0],
        prior=(good,),
    )
    add(
        "rollback-status-list-newer",
        "status list version 5 revokes the certificate after version 4",
        valid=False,
        code="revoked",
        bundle=w.bundle(version=11, lists=[w.status(version=5, extra=4242)], issued_at=BUNDLE_ISSUED + 60)[0],
        prior=(good,),
    )
    add(
        "rollback-withdrawal-dropped",
        "an earlier bundle withdrew authority 420100's key; this one, with the same trust list, trusts it again",
        valid=False,
        code="withdrawal_dropped",
        bundle=w.bundle(version=11, issued_at=BUNDLE_ISSUED + 60)[0],
        prior=(w.bundle(withdrawn=[b.kid])[0],),
    )
    add(
        "rollback-withdrawal-superseded",
        "a newer root-signed trust list has the last word on a key an earlier bundle withdrew",
        valid=True,
        code="ok",
        bundle=w.bundle(version=11, trust=w.trust_list(4), issued_at=BUNDLE_ISSUED + 60)[0],
        prior=(w.bundle(withdrawn=[b.kid])[0],),
    )
    # Tampered envelopes and signatures.
    trust = w.trust_list()
    header, payload, signature = good_token.split(".")
    body = json.loads(zlib.decompress(b64url_decode(payload, "bundle"), -15))
    body["version"] += 1000
    bumped = b64url_encode(deflate(json_compact(body)))
    flipped = b64url_decode(signature, "signature")
    flipped = flipped[:10] + bytes([flipped[10] ^ 1]) + flipped[11:]
    tampered = {
        "tampered-bundle-payload": (
            "the bundle payload's version raised, the signature kept",
            envelope(trust, f"{header}.{bumped}.{signature}"),
        ),
        "tampered-bundle-signature": (
            "one bit of the bundle signature flipped",
            envelope(trust, f"{header}.{payload}.{b64url_encode(flipped)}"),
        ),
        "tampered-bundle-signer": (
            "the bundle is signed by a key the trust list does not name",
            w.bundle(key=attacker)[0],
        ),
        "tampered-trust-list-signer": (
            "the trust list is signed by a key that is not a pinned root",
            w.bundle(trust=w.trust_list(key=attacker))[0],
        ),
        "tampered-trust-list-swapped": (
            "a different root-signed trust list beside the bundle (pairing)",
            envelope(w.trust_list(5), good_token),
        ),
        "tampered-envelope-extra-member": (
            "the envelope has a member beyond format, trust_list and bundle",
            envelope(trust, good_token, note="hi"),
        ),
        "tampered-envelope-format": (
            "the envelope says hcert-bundle/1",
            envelope(trust, good_token, format="hcert-bundle/1"),
        ),
        "tampered-envelope-missing-trust-list": (
            "the envelope has no trust list",
            envelope(trust, good_token, trust_list=None),
        ),
        "tampered-bare-token": ("a bare bundle token with no envelope (bundle/1 style)", good_token),
        "tampered-not-json": ("the bundle file is not JSON", "hcert-bundle/2"),
    }
    # Older formats and loose numbers: a device takes only what FORMAT.md section 7.1 allows.
    v1 = {
        "format": "hcert-bundle/1",
        "version": 20,
        "issued_at": BUNDLE_ISSUED,
        "expires": BUNDLE_ISSUED + 365 * DAY,
        "trust_list": trust,
        "rules": [w.rules()],
        "status_lists": [w.status()],
    }
    tampered["bundle-1-token"] = (
        "a bundle/1 token (trust list inside, valid a year) signed by a bundle signer: not an envelope",
        sign_compact(w.signer, typ=BUNDLE_TYP, payload=json_compact(v1)),
    )
    tampered["bundle-version-fraction"] = (
        "the bundle's version is 10.5, not an integer",
        w.bundle(version=10.5)[0],  # type: ignore[arg-type]
    )
    tampered["trust-list-version-fraction"] = (
        "the trust list's version is 3.5, not an integer",
        w.bundle(trust=w.trust_list(3.5))[0],  # type: ignore[arg-type]
    )
    for name, (description, text) in tampered.items():
        add(name, description, valid=False, code="bundle_invalid", bundle=text)
    number_cases(w, add)
    return out


HUGE = 10**30


def _respelled(token: str, key: SigningKey, *edits: tuple[str, str]) -> str:
    """Return ``token`` signed again by ``key`` with JSON members spelt as given.

    Each edit ``(name, text)`` replaces the value of the first integer member
    ``name`` with ``text`` (``10.0``, ``1e1``, ``-0``, a 31-digit integer):
    spellings ``json_compact`` never writes, signed as a server could sign them.
    """
    import re

    header_segment, payload_segment, _ = token.split(".")
    header = json.loads(b64url_decode(header_segment, "header"))
    raw = b64url_decode(payload_segment, "payload")
    text = (zlib.decompress(raw, -15) if header.get("zip") == "DEF" else raw).decode()
    for name, value in edits:
        text, n = re.subn(rf'"{name}":-?[0-9]+(?=[,}}])', f'"{name}":{value}', text, count=1)
        assert n == 1, (name, text[:300])
    body = text.encode()
    if header.get("zip") == "DEF":
        body = deflate(body)
    signing_input = f"{header_segment}.{b64url_encode(body)}"
    return f"{signing_input}.{b64url_encode(key.sign(signing_input.encode('ascii')))}"


def number_cases(w: BundleWorld, add: Any) -> None:
    """Bundle vectors: every integer member of the trust material spelt as a JSON float
    (``10.0``, ``1e1``), as ``-0`` and as an integer beyond 2**53. A float is not an
    integer (FORMAT.md: integers; ``type(x) is int``), whatever its value; ``-0`` is the
    integer 0; an integer has no upper bound in the format."""

    def bundle_with(*edits: tuple[str, str], **kw: Any) -> str:
        return envelope(w.trust_list(), _respelled(w.bundle(**kw)[1], w.signer, *edits))

    def trust_with(*edits: tuple[str, str]) -> str:
        return w.bundle(trust=_respelled(w.trust_list(), w.root, *edits))[0]

    def rules_with(*edits: tuple[str, str]) -> str:
        return w.bundle(rules=[_respelled(w.rules(), w.rules_key, *edits)])[0]

    def status_with(*edits: tuple[str, str]) -> str:
        return w.bundle(lists=[_respelled(w.status(), w.a, *edits)])[0]

    invalid = "bundle_invalid"
    cases: list[tuple[str, str, str, str]] = [
        ("bundle-version-integral-float", "the bundle's version is 10.0", bundle_with(("version", "10.0")), invalid),
        ("bundle-version-exponent", "the bundle's version is 1e1", bundle_with(("version", "1e1")), invalid),
        (
            "bundle-version-negative-zero",
            "the bundle's version is -0: the integer 0",
            bundle_with(("version", "-0")),
            "ok",
        ),
        ("bundle-version-huge", f"the bundle's version is {HUGE}", bundle_with(("version", str(HUGE))), "ok"),
        (
            "bundle-issued-at-integral-float",
            "the bundle's issued_at is a float of an integral value",
            bundle_with(("issued_at", f"{BUNDLE_ISSUED}.0")),
            invalid,
        ),
        (
            "bundle-expires-exponent",
            "the bundle's expires is spelt with an exponent",
            bundle_with(("expires", f"{BUNDLE_ISSUED + DAY}e0")),
            invalid,
        ),
        (
            "bundle-issued-at-huge",
            f"the bundle is issued at {HUGE} and expires a day later: an integer, far in the future",
            bundle_with(("issued_at", str(HUGE)), ("expires", str(HUGE + DAY))),
            "bundle_issued_in_future",
        ),
        (
            "bundle-expires-huge",
            f"the bundle expires at {HUGE}: valid far longer than 7 days",
            bundle_with(("expires", str(HUGE))),
            "bundle_validity_too_long",
        ),
        (
            "bundle-pairing-version-integral-float",
            "the bundle names its trust list's version as 3.0",
            envelope(w.trust_list(), _pairing_float(w)),
            invalid,
        ),
        (
            "trust-list-version-integral-float",
            "the trust list's version is 3.0",
            trust_with(("version", "3.0")),
            invalid,
        ),
        ("trust-list-version-huge", f"the trust list's version is {HUGE}", trust_with(("version", str(HUGE))), "ok"),
        (
            "trust-list-issued-at-exponent",
            "the trust list's issued_at is spelt with an exponent",
            trust_with(("issued_at", f"{T0}e0")),
            invalid,
        ),
        (
            "trust-list-expires-integral-float",
            "the trust list's expires is a float of an integral value",
            trust_with(("expires", f"{TRUST_LIST_EXPIRES}.0")),
            invalid,
        ),
        (
            "trust-list-expires-huge",
            f"the trust list expires at {HUGE}: valid far longer than 92 days",
            trust_with(("expires", str(HUGE))),
            "trust_list_validity_too_long",
        ),
        (
            "key-not-before-integral-float",
            "a key's not_before is a float of an integral value",
            trust_with(("not_before", f"{T0 - 30 * DAY}.0")),
            invalid,
        ),
        (
            "key-not-before-text",
            "a key's not_before is a string",
            trust_with(("not_before", f'"{T0 - 30 * DAY}"')),
            invalid,
        ),
        (
            "key-not-before-negative-zero",
            "a key's not_before is -0: the integer 0",
            trust_with(("not_before", "-0")),
            "ok",
        ),
        (
            "key-not-before-huge",
            f"a key's not_before is {HUGE}: it signs nothing dated before",
            trust_with(("not_before", str(HUGE))),
            "key_not_valid_at_issue",
        ),
        (
            "rules-version-integral-float",
            "province 44's rules have version 2.0",
            rules_with(("version", "2.0")),
            invalid,
        ),
        ("rules-version-huge", f"province 44's rules have version {HUGE}", rules_with(("version", str(HUGE))), "ok"),
        ("rules-hours-integral-float", "a rule's hours is 336.0", rules_with(("hours", "336.0")), invalid),
        ("rules-hours-exponent", "a rule's hours is 3.36e2", rules_with(("hours", "3.36e2")), invalid),
        (
            "status-list-version-integral-float",
            "the status list's version is 4.0",
            status_with(("version", "4.0")),
            invalid,
        ),
        ("status-list-version-huge", f"the status list's version is {HUGE}", status_with(("version", str(HUGE))), "ok"),
        (
            "status-list-iat-exponent",
            "the status list's iat is spelt with an exponent",
            status_with(("iat", f"{T0}e0")),
            invalid,
        ),
        ("status-list-exp-huge", f"the status list's exp is {HUGE}", status_with(("exp", str(HUGE))), "ok"),
        ("status-list-bits-integral-float", "the status list's bits is 2.0", status_with(("bits", "2.0")), invalid),
        ("status-list-bits-true", "the status list's bits is true", status_with(("bits", "true")), invalid),
    ]
    for name, description, text, code in cases:
        add(name, description, valid=code == "ok", code=code, bundle=text)
    trailing = _status_with_trailing_data(w)
    add(
        "status-list-trailing-data",
        "the status list's lst is a zlib stream followed by one more byte",
        valid=False,
        code=invalid,
        bundle=w.bundle(lists=[trailing])[0],
    )


def _pairing_float(w: BundleWorld) -> str:
    """A bundle token whose trust_list pairing spells the trust list's version 3 as 3.0."""
    token = w.bundle()[1]
    header_segment, payload_segment, _ = token.split(".")
    text = zlib.decompress(b64url_decode(payload_segment, "payload"), -15).decode()
    pairing = '"trust_list":{"version":3,'
    assert pairing in text, text[:300]
    text = text.replace(pairing, '"trust_list":{"version":3.0,')
    signing_input = f"{header_segment}.{b64url_encode(deflate(text.encode()))}"
    return f"{signing_input}.{b64url_encode(w.signer.sign(signing_input.encode('ascii')))}"


def _status_with_trailing_data(w: BundleWorld) -> str:
    """Authority 510321's list 0 with one byte after its zlib stream, signed by its key."""
    token = w.status()
    header_segment, payload_segment, _ = token.split(".")
    claims = json.loads(b64url_decode(payload_segment, "payload"))
    lst = b64url_decode(claims["status_list"]["lst"], "lst")
    claims["status_list"]["lst"] = b64url_encode(lst + b"\x00")
    signing_input = f"{header_segment}.{b64url_encode(json_compact(claims))}"
    return f"{signing_input}.{b64url_encode(w.a.sign(signing_input.encode('ascii')))}"


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
