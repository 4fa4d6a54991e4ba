"""No input, however broken, makes the verifier raise: it always returns a Result."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest

from hcert_verifier import (
    JwksTrust,
    VerificationError,
    Verifier,
    b64url_decode,
    b64url_encode,
    decode_token,
    inflate,
    qr_decode,
    qr_encode,
)
from hcert_verifier._errors import __all__ as ERROR_NAMES
from tests.conftest import VECTORS

CASE = json.loads((VECTORS / "valid" / "return-to-work.json").read_text())
AT = dt.datetime.fromisoformat(CASE["at"])


@pytest.fixture(scope="module")
def verifier():
    return Verifier(JwksTrust.from_file(VECTORS / "jwks.json"))


def test_random_mutations_of_a_valid_qr_never_raise(verifier):
    rng = random.Random(20200304)
    text = CASE["qr_text"]
    codes = set()
    for _ in range(3000):
        chars = list(text)
        for _ in range(rng.randint(1, 4)):
            op = rng.random()
            i = rng.randrange(len(chars))
            if op < 0.5:
                chars[i] = rng.choice("0123456789")
            elif op < 0.7:
                del chars[i]
            elif op < 0.9:
                chars.insert(i, rng.choice("0123456789"))
            else:
                chars[i] = chr(rng.randrange(32, 0x3000))
        result = verifier.verify("".join(chars), at=AT)
        codes.add(result.code)
    # Mutations land in every layer; each is reported with its own code.
    assert {"bad_signature", "bad_qr_digits"} <= codes
    assert codes <= _codes() | {"ok"}


def test_random_token_mutations_never_raise(verifier):
    rng = random.Random(11)
    token = CASE["token"]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.="
    for _ in range(3000):
        chars = list(token)
        i = rng.randrange(len(chars))
        chars[i] = rng.choice(alphabet)
        result = verifier.verify("".join(chars), at=AT)
        assert result.code in {"ok"} | {c for c in _codes()}


def _codes():
    import hcert_verifier

    return {getattr(hcert_verifier, n).code for n in ERROR_NAMES}


@pytest.mark.parametrize("value", ["", " ", "CNHC:/", "a.b", "..", "a.b.c.d", "x" * 100_000, "\x00", "CNHC:/٠١"])
def test_junk_inputs(verifier, value):
    result = verifier.verify(value, at=AT)
    assert not result.valid and result.code in _codes()


@pytest.mark.parametrize("pad", [" ", "\n", "\r\n", "\t", "\u3000"])
def test_surrounding_whitespace_is_not_trimmed(verifier, pad):
    # One certificate has exactly one QR text and one token that verify.
    for text in (CASE["qr_text"], CASE["token"]):
        assert verifier.verify(text, at=AT).valid
        for padded in (pad + text, text + pad):
            result = verifier.verify(padded, at=AT)
            assert not result.valid and result.code in {"bad_qr_prefix", "bad_qr_digits", "bad_base64"}


def test_non_string_input_is_a_result(verifier):
    result = verifier.verify(b"CNHC:/00", at=AT)  # type: ignore[arg-type]
    assert not result.valid


def test_naive_datetime_is_refused(verifier):
    with pytest.raises(ValueError):
        verifier.verify(CASE["qr_text"], at=dt.datetime(2020, 3, 10))


def test_qr_codec_round_trips_every_token_character():
    token = "".join(chr(c) for c in range(ord("-"), ord("z") + 1))
    assert qr_decode(qr_encode(token)) == token


def test_base64url_round_trip_and_canonical():
    for n in range(0, 40):
        data = bytes(range(n))
        assert b64url_decode(b64url_encode(data), "x") == data
    with pytest.raises(VerificationError):
        b64url_decode("QR", "x")  # 'R' sets unused bits


def test_inflate_limit_is_exact():
    import zlib

    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = c.compress(b"a" * 4096) + c.flush()
    assert inflate(data) == b"a" * 4096
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    with pytest.raises(VerificationError) as e:
        inflate(c.compress(b"a" * 4097) + c.flush())
    assert e.value.code == "payload_too_large"


def test_decode_token_is_marked_unverified_by_the_cli_and_returns_claims():
    header, claims = decode_token(CASE["qr_text"])
    assert header["typ"] == "hc1" and claims == CASE["claims"]
