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
