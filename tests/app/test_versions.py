"""Server side of rollback protection: every signed object carries a version from a durable
counter, never the clock; the bundle only moves forward, even for several changes within one
second and across instances sharing the data folder; /v1/verify never answers 5xx for input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from app.service import ServiceError
from app.trust import TrustNetwork, next_version, sign_trust_list
from hcert_verifier import BUNDLE_FORMAT, Bundle, StatusList, Verifier, b64url_decode, inflate, json_object
from hcert_verifier.state import admit
from tests.app.test_trust_network import HOUR, Network
from tests.conftest import NOW, WORKER, resident_id


def _payload(token: str) -> dict:
    return json_object(inflate(b64url_decode(token.split(".")[1], "p"), 64 << 20), "p")


def _bundle_payload(envelope: str) -> dict:
    return _payload(json.loads(envelope)["bundle"])


@pytest.fixture
def network(tmp_path):
    return Network(tmp_path)


def test_the_counter_is_durable_and_shared_by_processes(tmp_path):
    path = tmp_path / "c" / "n.version"
    assert [next_version(path) for _ in range(3)] == [1, 2, 3]
    code = (
        "import sys; from pathlib import Path; from app.trust import next_version;"
        "print(' '.join(str(next_version(Path(sys.argv[1]))) for _ in range(40)))"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    seen = [int(v) for p in procs for v in p.communicate(timeout=120)[0].split()]
    assert sorted(seen) == list(range(4, 84))  # no version handed out twice, none lost
    assert path.read_text().strip() == "83"


def test_three_changes_in_one_second_give_three_bundle_versions(network):
    """The reported bug: versions from the clock second gave [t, t+1, t+1]."""
    n = network
    device = n.settings.data_dir.parent / "device"
    certs = [n.issue("510321", {**WORKER, "resident_id": resident_id(f"5103211990010{i}00{i}")}) for i in range(1, 4)]
    envelopes = [n.net.bundle(now=NOW)[0]]
    for cert in certs:
        n.service.change_status("510321", cert["id"], "suspended", "check", operator=n.ops["510321"], now=NOW)
        envelopes.append(n.net.bundle(now=NOW)[0])
    versions = [_bundle_payload(e)["version"] for e in envelopes]
    assert versions == sorted(set(versions)) and len(versions) == 4
    for envelope in envelopes:
        admit(device, Bundle.load(envelope, n.roots()), now=int(NOW.timestamp()), leeway=300, store=envelope.encode())
    held = Bundle.from_file(device / "bundle.json", n.roots())
    assert Verifier.from_bundle(held).verify(certs[-1]["qr_text"], at=NOW + HOUR).code == "suspended"
    # The first one again: refused, whatever the clock says.
    with pytest.raises(Exception) as e:
        admit(device, Bundle.load(envelopes[1], n.roots()), now=int(NOW.timestamp()), leeway=300)
    assert getattr(e.value, "code", None) == "bundle_rollback"


def test_status_list_versions_follow_the_content(network):
    n = network
    cert = n.issue("510321", WORKER)
    lst = cert["status"]["list"] if isinstance(cert.get("status"), dict) else 0

    def current(now):
        token, _, version = n.service.versioned_status_list("510321", lst, now=now)
        claims = json.loads(b64url_decode(token.split(".")[1], "p"))
        assert claims["version"] == version  # the claim carries the store's counter
        return token, version

    t1, v1 = current(NOW)
    t2, v2 = current(NOW + 2 * HOUR)  # re-signed for freshness: same content, same version
    assert t1 != t2 and v1 == v2
    n.service.change_status("510321", cert["id"], "suspended", "check", operator=n.ops["510321"], now=NOW)
    _, v3 = current(NOW + 2 * HOUR)
    n.service.change_status("510321", cert["id"], "valid", "cleared", operator=n.ops["510321"], now=NOW)
    _, v4 = current(NOW + 2 * HOUR)
    assert v1 < v3 < v4  # back to the same bits, yet a new version: versions never repeat


def test_status_lists_stay_readable_by_token_status_list_readers(network):
    import jwt  # PyJWT: an independent reader of the IETF format

    n = network
    n.issue("510321", WORKER)
    token, _, version = n.service.versioned_status_list("510321", 0, now=NOW)
    key = n.service.ring("510321").active()
    from hcert_verifier import jwk_from_public_key

    public = jwt.PyJWK({**jwk_from_public_key(key.public_key), "alg": "ES256"}).key
    claims = jwt.decode(token, public, algorithms=["ES256"], options={"verify_exp": False})
    assert claims["status_list"]["bits"] == 2 and claims["version"] == version
    assert jwt.get_unverified_header(token)["typ"] == "statuslist+jwt"


def test_rules_versions_come_from_the_counter(network):
    n = network
    first = _payload(n.net.sign_rules("44", {"checkpoints": {"gate": []}, "version": 10**12}, now=NOW))
    second = _payload(n.net.sign_rules("44", {"checkpoints": {"gate": []}}, now=NOW))
    # The fixture signed version 1; the given 10**12 is ignored; same second, still a new version.
    assert (first["version"], second["version"]) == (2, 3)


def test_trust_list_versions_come_from_the_root_counter_and_never_go_back(network):
    n = network
    older = sign_trust_list(n.root, [], n.net.bundle_signers(now=NOW), now=NOW)
    newer = sign_trust_list(n.root, [], n.net.bundle_signers(now=NOW), now=NOW)
    assert _payload(newer)["version"] == _payload(older)["version"] + 1
    n.net.publish_trust_list(newer)
    with pytest.raises(ServiceError) as e:
        n.net.publish_trust_list(older)
    assert e.value.code == "trust_list_rollback" and e.value.status == 409
    n.net.publish_trust_list(newer)  # the same one again is fine


def test_instances_sharing_a_folder_serve_one_bundle(network):
    n = network
    other = TrustNetwork(n.service)  # a second instance on the same data folder
    a, _ = n.net.bundle(now=NOW)
    b, _ = other.bundle(now=NOW)
    assert a == b
    n.issue("510321", WORKER)
    n.service.change_status(
        "510321",
        n.issue("510321", {**WORKER, "resident_id": resident_id("51032119880808123")})["id"],
        "revoked",
        "x",
        operator=n.ops["510321"],
        now=NOW,
    )
    c, _ = other.bundle(now=NOW)
    d, _ = n.net.bundle(now=NOW)
    assert c == d and _bundle_payload(c)["version"] == _bundle_payload(a)["version"] + 1


def test_the_bundle_format(network):
    envelope, _ = network.net.bundle(now=NOW)
    outer = json.loads(envelope)
    assert set(outer) == {"format", "trust_list", "bundle"} and outer["format"] == BUNDLE_FORMAT
    payload = _bundle_payload(envelope)
    assert payload["expires"] - payload["issued_at"] == 7 * 86400
    assert payload["trust_list"]["version"] == _payload(outer["trust_list"])["version"]
    for token in payload["status_lists"]:
        assert isinstance(json.loads(b64url_decode(token.split(".")[1], "p"))["version"], int)
    bundle = Bundle.load(envelope, network.roots())
    assert all(isinstance(lst, StatusList) for lst in bundle._status.values())


def test_verify_api_takes_any_checkpoint_and_never_fails_on_odd_rules(tmp_path, clock):
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.settings import Settings

    app = create_app(Settings(data_dir=tmp_path / "d", dev=True), clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        service = app.state.service
        _, token = service.create_operator("510321", "c", "operator", actor="t", now=NOW)
        cert = client.post("/v1/certificates", json=WORKER, headers={"Authorization": f"Bearer {token}"}).json()
        odd = {
            "checkpoints": {
                "port-7": [
                    {"id": "P1", "type": "accept_kinds", "kinds": ["w"]},
                    {"id": "P2", "type": "future_rule", "hours": "many", "kinds": 5, "areas": {"x": [1]}},
                    {"id": "P3", "type": "future_rule", "values": [[1], {"a": 1}], "open": "accept"},
                ]
            }
        }
        app.state.trust.sign_rules("44", odd, now=NOW)
        r = client.post("/v1/verify", json={"qr": cert["qr_text"], "destination": "44", "checkpoint": "port-7"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["code"] == "rejected_by_rules"
        assert [(x["id"], x["outcome"]) for x in body["rules"]] == [("P1", "PASS"), ("P2", "OPEN"), ("P3", "OPEN")]
        for checkpoint in ("gate", "highway", "unknown-one"):
            r = client.post("/v1/verify", json={"qr": cert["qr_text"], "destination": "44", "checkpoint": checkpoint})
            assert r.status_code == 200 and r.json()["code"] == "rules_unavailable"
        for bad in ({"qr": cert["qr_text"], "checkpoint": "a b"}, {"qr": "x" * 5000}, {"qr": 5}):
            assert client.post("/v1/verify", json=bad).status_code == 422
        for qr in ("CNHC:/99", "a.b.c", "\x00", "CNHC:/" + "5" * 3000):
            assert client.post("/v1/verify", json={"qr": qr, "destination": "44"}).status_code == 200
