"""Fuzzing Bundle.load on a bundle the server made (Hypothesis).

Whatever the text, ``Bundle.load`` raises nothing but ``BundleError``, and it
loads nothing but the bundle the server signed, byte for byte (whitespace around
the token, as a file's line ending, aside).
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.service import IssuingService
from app.settings import Settings
from app.store import open_store
from app.trust import SAMPLE_RULES, TrustNetwork, export_submission, sign_trust_list
from hcert_verifier import Bundle, BundleError, VerificationError, b64url_decode, b64url_encode, deflate, inflate
from keys import KeyRing
from tests.conftest import NOW, WORKER
from tests.fuzzing import edited, flip_bytes, flips, fuzz


@pytest.fixture(scope="module")
def seed(tmp_path_factory):
    """A small network's bundle: three authorities, Guangdong's rules, a status list in use."""
    tmp = tmp_path_factory.mktemp("bundle")
    service = IssuingService(
        Settings(data_dir=tmp / "data", base_url="https://hcert.test"),
        open_store("sqlite", path=str(tmp / "hcert.sqlite3")),
    )
    net = TrustNetwork(service)
    root = KeyRing(tmp / "root")
    ts = int(NOW.timestamp())
    root.ensure(now=ts)
    for code in ("510321", "420100", "440300"):
        service.create_authority(code, "卫生健康局", "Health Bureau", actor="national", now=NOW)
    operator = service.create_operator("510321", "clerk", "operator", actor="t", now=NOW)[0]
    status, body, _ = service.issue("510321", [dict(WORKER)], operator=operator, now=NOW)
    assert status == 201, body
    net.sign_rules("44", SAMPLE_RULES, now=NOW)
    subs = [export_submission(service, p, now=NOW) for p in ("42", "44", "51")]
    net.publish_trust_list(sign_trust_list(root, subs, net.bundle_signers(now=NOW), version=ts, now=NOW))
    token, _ = net.bundle(now=NOW)
    roots = [{"kty": "EC", "crv": "P-256", "x": r.x, "y": r.y, "kid": r.kid} for r in root.published(now=ts)]
    service.store.close()
    return token, roots


def _load(token: str, seed) -> None:
    try:
        Bundle.load(token, seed[1])
    except BundleError:
        return
    # Whitespace around the token is ignored (a file's line ending): the same signed bytes.
    assert token.strip() == seed[0], "an edited bundle loaded"


def test_seed_bundle_loads(seed):
    bundle = Bundle.load(*seed)
    assert bundle.status_list_count >= 1 and bundle.rules_for("44") is not None


@given(data=st.data())
@fuzz
def test_edited_bundle(seed, data):
    _load(data.draw(edited(seed[0])), seed)


JWS = re.compile(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)")


@given(which=st.integers(0, 16), where=flips, inflated=st.booleans())
@fuzz
def test_bundle_payload_with_flipped_bytes(seed, which, where, inflated):
    # Flip bytes in the payload of one of the signed objects the envelope carries.
    found = list(JWS.finditer(seed[0]))
    m = found[which % len(found)]
    raw = b64url_decode(m.group(2), "p")
    if inflated:
        try:
            raw = deflate(flip_bytes(inflate(raw, 1 << 26), where))
        except VerificationError:
            raw = flip_bytes(raw, where)
    else:
        raw = flip_bytes(raw, where)
    mutant = f"{m.group(1)}.{b64url_encode(raw)}.{m.group(3)}"
    _load(seed[0][: m.start()] + mutant + seed[0][m.end() :], seed)


@given(text=st.text(max_size=200))
@fuzz
def test_bundle_from_arbitrary_text(seed, text):
    _load(text, seed)
