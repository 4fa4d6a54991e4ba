"""Fuzzing Verifier.verify from the conformance vectors (Hypothesis).

Two properties hold for every input: ``verify`` returns a ``Result`` with ``ok``
or a stable failure code (it never raises), and it says ``valid`` only for a
valid vector's token or QR text, byte for byte.
"""

from __future__ import annotations

import datetime as dt
import json
import zlib

from hypothesis import example, given
from hypothesis import strategies as st

from hcert_verifier import (
    JwksTrust,
    Result,
    StatusList,
    StatusLists,
    Verifier,
    b64url_decode,
    b64url_encode,
    decode_token,
    deflate,
    inflate,
    json_compact,
    qr_encode,
)
from hcert_verifier._errors import VerificationError
from keys import SigningKey
from tests.conftest import VECTORS
from tests.fuzzing import ACCEPTED, CASES, CODES, chars, edited, flip_bytes, flips, fuzz, json_values

TRUST = JwksTrust.from_file(VECTORS / "jwks.json")
LISTS = StatusLists(
    StatusList.from_token(t, TRUST) for t in sorted({t for c in CASES for t in c.get("status_lists", [])})
)
VERIFIER = Verifier(TRUST, status=LISTS)
STRICT = Verifier(TRUST, status=LISTS, require_status=True)
TOKEN_CASES = [c for c in CASES if "token" in c]
SIGNER = SigningKey.from_pem((VECTORS / "keys" / "issuer-510321.pem").read_bytes())


def at_of(case: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(case["at"])


def check(text: str, at: dt.datetime) -> Result:
    """Verify ``text`` with both verifiers and assert the two fuzz properties."""
    for verifier in (VERIFIER, STRICT):
        result = verifier.verify(text, at=at)
        assert isinstance(result, Result)
        assert result.code in CODES | {"ok"}, result
        assert result.valid == (result.code == "ok")
        if result.valid:
            assert text in ACCEPTED, f"a mutant verified: {text!r}"
    return result


def test_the_vectors_are_fuzz_seeds():
    assert len(TOKEN_CASES) >= 60 and len(ACCEPTED) >= 20


@fuzz
@given(case=st.sampled_from(CASES), data=st.data())
def test_edited_qr_text(case, data):
    check(data.draw(edited(case["qr_text"], st.one_of(st.sampled_from("0123456789"), chars))), at_of(case))


@fuzz
@given(case=st.sampled_from(TOKEN_CASES), data=st.data())
def test_edited_token(case, data):
    check(data.draw(edited(case["token"])), at_of(case))


@fuzz
@given(case=st.sampled_from(TOKEN_CASES), where=st.integers(0, 1 << 16), char=st.characters(min_codepoint=0x80))
@example(case=next(c for c in TOKEN_CASES if c["expected"]["valid"]), where=100, char="é")
def test_one_non_ascii_character_anywhere(case, where, char):
    for text in (case["token"], case["qr_text"]):
        i = where % (len(text) + 1)
        check(text[:i] + char + text[i:], at_of(case))
        if i < len(text):
            check(text[:i] + char + text[i + 1 :], at_of(case))


@fuzz
@given(
    case=st.sampled_from(TOKEN_CASES),
    changes=st.lists(
        st.tuples(
            st.one_of(st.sampled_from(["alg", "kid", "typ", "zip", "crit", "jku", "jwk", "x5c", "cty"]), st.text()),
            st.one_of(st.just(None), json_values),
        ),
        min_size=1,
        max_size=3,
    ),
    as_qr=st.booleans(),
)
def test_header_members_changed(case, changes, as_qr):
    segments = case["token"].split(".")
    try:
        header = dict(decode_token(case["token"])[0])
    except VerificationError:
        header = {}
    for name, value in changes:
        if value is None:
            header.pop(name, None)
        else:
            header[name] = value
    token = ".".join([b64url_encode(json_compact(header)), *segments[1:]])
    check(qr_encode(token) if as_qr and all("-" <= c <= "z" for c in token) else token, at_of(case))


@fuzz
@given(case=st.sampled_from(TOKEN_CASES), where=flips, inflated=st.booleans(), as_qr=st.booleans())
def test_payload_redeflated_with_flipped_bytes(case, where, inflated, as_qr):
    segments = case["token"].split(".")
    try:
        payload = b64url_decode(segments[1], "payload")
    except VerificationError:
        payload = segments[1].encode("utf-8")
    if inflated:
        try:
            payload = deflate(flip_bytes(inflate(payload), where))
        except VerificationError:
            payload = flip_bytes(payload, where)
    else:
        payload = flip_bytes(payload, where)
    token = ".".join([segments[0], b64url_encode(payload), *segments[2:]])
    check(qr_encode(token) if as_qr and all("-" <= c <= "z" for c in token) else token, at_of(case))


@fuzz
@given(digits=st.text(alphabet="0123456789", max_size=1800), prefixed=st.booleans())
def test_random_digit_strings(digits, prefixed):
    check(("CNHC:/" if prefixed else "") + digits, at_of(CASES[0]))


@fuzz
@given(text=st.text(max_size=400))
def test_arbitrary_text(text):
    check(text, at_of(CASES[0]))


# -- past the signature: mutants signed by a trusted key ---------------------------
# These may legitimately verify (the key is trusted), so the property is only
# "never raises": they reach the inflate, JSON and claim checks that a forger
# cannot reach.


@fuzz
@given(case=st.sampled_from([c for c in TOKEN_CASES if "claims" in c]), where=flips, compressed=st.booleans())
def test_signed_payload_with_flipped_bytes(case, where, compressed):
    raw = json_compact(case["claims"])
    payload = flip_bytes(deflate(raw), where) if compressed else deflate(flip_bytes(raw, where))
    _signed_check(payload, at_of(case))


@fuzz
@given(
    case=st.sampled_from([c for c in TOKEN_CASES if "claims" in c]),
    changes=st.dictionaries(
        st.one_of(
            st.sampled_from("iss nbf exp iat jti st k n id o rs sy q hc dp em vp r tk tr ts lab ro rd nk".split()),
            st.text(max_size=6),
        ),
        st.one_of(st.just(None), json_values),
        min_size=1,
        max_size=3,
    ),
)
def test_signed_claims_changed(case, changes):
    claims = dict(case["claims"])
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    _signed_check(deflate(json_compact(claims)), at_of(case))


@fuzz
@given(payload=st.binary(max_size=600))
def test_signed_random_bytes(payload):
    _signed_check(payload, at_of(CASES[0]))
    _signed_check(deflate(payload), at_of(CASES[0]))


def _signed_check(payload: bytes, at: dt.datetime) -> None:
    header = b64url_encode(json_compact({"alg": "ES256", "kid": SIGNER.kid, "typ": "hc1", "zip": "DEF"}))
    signing_input = f"{header}.{b64url_encode(payload)}"
    token = f"{signing_input}.{b64url_encode(SIGNER.sign(signing_input.encode('ascii')))}"
    for verifier in (VERIFIER, STRICT):
        result = verifier.verify(token, at=at)
        assert result.code in CODES | {"ok"}, result
        if result.valid:
            # Only the signed claims can pass, exactly as signed.
            assert result.certificate is not None
            assert dict(result.certificate.claims) == json.loads(zlib.decompress(payload, -15))
