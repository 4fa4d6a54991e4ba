"""An independent JOSE library verifies hcert tokens against the published JWKS."""

from __future__ import annotations

import json
import zlib

from joserfc import jws
from joserfc.jwk import KeySet
from joserfc.registry import HeaderParameter

from hcert_verifier import b64url_decode
from tests.conftest import VECTORS

# hcert tokens carry zip: DEF as SMART Health Cards do; a JWS registry must be told about it.
REGISTRY = jws.JWSRegistry(header_registry={"zip": HeaderParameter("Compression", "str")})


def test_joserfc_verifies_every_valid_vector():
    jwks = json.loads((VECTORS / "jwks.json").read_text())
    key_set = KeySet.import_key_set(
        {"keys": [{k: v for k, v in key.items() if k != "hcert_state"} for key in jwks["keys"]]}
    )
    checked = 0
    for path in sorted((VECTORS / "valid").glob("*.json")):
        case = json.loads(path.read_text())
        obj = jws.deserialize_compact(case["token"], key_set, algorithms=["ES256"], registry=REGISTRY)
        assert obj.protected["kid"] == case["header"]["kid"]
        assert json.loads(zlib.decompress(obj.payload, -15)) == case["claims"]
        checked += 1
    assert checked >= 10


def test_joserfc_rejects_a_tampered_vector():
    import pytest
    from joserfc.errors import BadSignatureError

    jwks = json.loads((VECTORS / "jwks.json").read_text())
    key_set = KeySet.import_key_set(
        {"keys": [{k: v for k, v in key.items() if k != "hcert_state"} for key in jwks["keys"]]}
    )
    case = json.loads((VECTORS / "invalid" / "payload-tampered.json").read_text())
    with pytest.raises(BadSignatureError):
        jws.deserialize_compact(case["token"], key_set, algorithms=["ES256"], registry=REGISTRY)
    assert b64url_decode(case["token"].split(".")[2], "sig")


def test_pyjwt_verifies_hcert_status_list_tokens():
    """An independent JWT library reads the status lists hcert publishes (IETF Token Status List)."""
    import jwt

    from hcert_verifier import JwksTrust, StatusList

    case = json.loads((VECTORS / "invalid" / "revoked.json").read_text())
    token = case["status_lists"][0]
    trust = JwksTrust.from_file(VECTORS / "jwks.json")
    kid = jwt.get_unverified_header(token)["kid"]
    claims = jwt.decode(
        token,
        key=trust.key(kid).public_key,
        algorithms=["ES256"],
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    ours = StatusList.from_token(token, trust)
    assert claims["status_list"]["bits"] == ours.bits == 2
    assert claims["sub"].endswith(f"/{ours.iss}/{ours.lst}")
    assert zlib.decompress(b64url_decode(claims["status_list"]["lst"], "lst")) == ours.data
