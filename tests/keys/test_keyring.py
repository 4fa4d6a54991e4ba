"""Key ring: 0600 PEM files, passphrases, rotation, withdrawal, JWKS; private keys never shown."""

from __future__ import annotations

import os
import stat

import pytest

from hcert_verifier import JwksTrust, kid_for
from keys import KeyRing, KeyRingError, SigningKey, generate_signing_key

NOW = 1_583_802_000


def test_first_run_generates_a_key_with_mode_0600(tmp_path):
    ring = KeyRing(tmp_path / "k")
    key = ring.ensure(now=NOW)
    pem = tmp_path / "k" / f"{key.kid}.pem"
    assert stat.S_IMODE(os.stat(pem).st_mode) == 0o600
    assert ring.ensure(now=NOW).kid == key.kid
    assert KeyRing(tmp_path / "k").active().kid == key.kid


def test_passphrase_encrypts_the_pem(tmp_path):
    ring = KeyRing(tmp_path, passphrase=b"correct horse")
    key = ring.ensure(now=NOW)
    assert b"ENCRYPTED" in (tmp_path / f"{key.kid}.pem").read_bytes()
    with pytest.raises(KeyRingError):
        KeyRing(tmp_path, passphrase=b"wrong").active()
    with pytest.raises(KeyRingError):
        KeyRing(tmp_path).active()
    assert KeyRing(tmp_path, passphrase=b"correct horse").active().kid == key.kid


def test_rotation_keeps_retired_key_published_until_its_certificates_expire(tmp_path):
    ring = KeyRing(tmp_path)
    old = ring.ensure(now=NOW)
    new = ring.rotate(now=NOW + 10, max_validity=30 * 86400)
    assert ring.active().kid == new.kid != old.kid
    states = {k["kid"]: k["hcert_state"] for k in ring.jwks(now=NOW + 20)["keys"]}
    assert states == {new.kid: "active", old.kid: "retired"}
    later = {k["kid"] for k in ring.jwks(now=NOW + 10 + 30 * 86400 + 1)["keys"]}
    assert later == {new.kid}


def test_withdrawal_replaces_active_key_and_deletes_private_key(tmp_path):
    ring = KeyRing(tmp_path)
    old = ring.ensure(now=NOW)
    record = ring.withdraw(old.kid, now=NOW + 5, reason="laptop stolen")
    assert record.state == "withdrawn" and not (tmp_path / f"{old.kid}.pem").exists()
    assert ring.active().kid != old.kid
    jwks = ring.jwks(now=NOW + 10**8, issuer="510321")
    assert {k["kid"]: k["hcert_state"] for k in jwks["keys"]}[old.kid] == "withdrawn"
    trust = JwksTrust.from_jwks(jwks)
    assert trust.key(old.kid).state == "withdrawn" and trust.key(old.kid).issuer == "510321"


def test_jwks_has_no_private_members_and_kids_match(tmp_path):
    ring = KeyRing(tmp_path)
    key = ring.ensure(now=NOW)
    jwk = ring.jwks(now=NOW)["keys"][0]
    assert "d" not in jwk and jwk["kid"] == kid_for(key.public_key) and len(jwk["kid"]) == 11


def test_signing_key_repr_hides_the_private_key():
    key = generate_signing_key()
    assert repr(key) == f"SigningKey(kid={key.kid!r})"
    assert not any("private" in name for name in dir(key) if not name.startswith("_"))


def test_pem_never_overwritten(tmp_path):
    key = generate_signing_key()
    key.write_pem(tmp_path / "a.pem")
    with pytest.raises(FileExistsError):
        key.write_pem(tmp_path / "a.pem")
    assert SigningKey.from_pem((tmp_path / "a.pem").read_bytes()).kid == key.kid


def test_jwks_trust_refuses_a_kid_that_is_not_the_keys_own():
    from hcert_verifier import TrustError

    a, b = generate_signing_key(), generate_signing_key()
    ring_jwk = {"kty": "EC", "crv": "P-256", **_xy(a), "kid": b.kid}
    with pytest.raises(TrustError):
        JwksTrust.from_jwks({"keys": [ring_jwk]})
    with pytest.raises(TrustError):
        JwksTrust.from_jwks({"keys": [{**ring_jwk, "kid": a.kid, "d": "AAAA"}]})


def _xy(key):
    from hcert_verifier import jwk_from_public_key

    jwk = jwk_from_public_key(key.public_key)
    return {"x": jwk["x"], "y": jwk["y"]}
