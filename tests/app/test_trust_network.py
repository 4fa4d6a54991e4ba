"""Mutual recognition end to end, offline: three provinces issue with their own keys, the
national root signs the trust list, Guangdong publishes rules, and a checkpoint verifies
a mix of certificates from one synced bundle. Then the key compromise drill and a root
rotation."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from app.service import IssuingService
from app.settings import Settings
from app.store import open_store
from app.trust import SAMPLE_RULES, TrustNetwork, export_submission, sign_trust_list
from hcert_verifier import Bundle, BundleError, Verifier, load_roots
from issuer import parse_application
from keys import KeyRing
from tests.conftest import DRIVER, NOW, WORKER, resident_id

HOUR = dt.timedelta(hours=1)


class Network:
    """A national network on one test server: authorities of Sichuan, Hubei and Hunan."""

    def __init__(self, tmp_path):
        self.settings = Settings(data_dir=tmp_path / "data", base_url="https://hcert.test")
        self.service = IssuingService(self.settings, open_store("sqlite", path=str(tmp_path / "hcert.sqlite3")))
        self.net = TrustNetwork(self.service)
        self.root = KeyRing(tmp_path / "root", keep_retired=True)
        self.root.ensure(now=int(NOW.timestamp()))
        for code, zh, en in [
            ("510321", "荣县卫生健康局", "Rong County Health Bureau"),
            ("420100", "武汉市卫生健康委员会", "Wuhan Municipal Health Commission"),
            ("430100", "长沙市卫生健康委员会", "Changsha Municipal Health Commission"),
        ]:
            self.service.create_authority(code, zh, en, actor="national", now=NOW)
        self.ops = {
            code: self.service.create_operator(code, f"clerk-{code}", "operator", actor="t", now=NOW)[0]
            for code in ("510321", "420100", "430100")
        }
        self.net.sign_rules("44", SAMPLE_RULES, now=NOW)
        self.sign_trust_list()

    def roots(self):
        return [
            {"kty": "EC", "crv": "P-256", "x": r.x, "y": r.y, "kid": r.kid}
            for r in self.root.published(now=int(NOW.timestamp()))
        ]

    def sign_trust_list(self, now=NOW, sign_with=None):
        subs = [export_submission(self.service, p, now=now) for p in ("42", "43", "44", "51")]
        token = sign_trust_list(
            self.root,
            subs,
            self.net.bundle_signers(now=now),
            now=now,
            sign_with=sign_with,
        )
        self.net.publish_trust_list(token)

    def issue(self, authority, data, now=NOW):
        status, body, _ = self.service.issue(authority, [data], operator=self.ops[authority], now=now)
        assert status == 201, body
        return json.loads(body)["issued"][0]

    def bundle(self, now=NOW + HOUR):
        token, _ = self.net.bundle(now=now)
        return Bundle.load(token, self.roots())


@pytest.fixture
def network(tmp_path):
    return Network(tmp_path)


def driver(origin_authority_region, plate, sampled):
    return {
        **DRIVER,
        "vehicle_plate": plate,
        "route_origin": origin_authority_region,
        "sampled_at": sampled.isoformat(),
    }


def test_checkpoint_verifies_a_mix_offline(network):
    n = network
    valid = n.issue("510321", WORKER)
    revoked = n.issue("510321", {**WORKER, "resident_id": resident_id("51032119880808123")})
    n.service.change_status("510321", revoked["id"], "revoked", "fever", operator=n.ops["510321"], now=NOW)
    wuhan_worker = n.issue(
        "420100", {**WORKER, "resident_id": resident_id("42010219900101001"), "origin_region": "420102"}
    )
    fresh_freight = n.issue("510321", driver("510321", "川C12345", NOW - 30 * HOUR))
    stale_hubei_freight = n.issue("420100", driver("420102", "鄂A12345", NOW - 30 * HOUR))
    # Wuhan's key signs a Sichuan resident's certificate: a real key, outside its scope.
    wuhan = n.service.issuer("420100")
    out_of_scope = wuhan.sign_application(parse_application(WORKER), now=NOW, status=None)
    # Changsha's key is then withdrawn (compromised); what it signed must fail everywhere.
    changsha_cert = n.issue(
        "430100", {**WORKER, "resident_id": resident_id("43010219900101002"), "origin_region": "430102"}
    )
    n.service.withdraw_key("430100", changsha_cert["kid"], reason="stolen laptop", actor="t", now=NOW)

    bundle = n.bundle()
    v = Verifier.from_bundle(bundle)
    at = NOW + 2 * HOUR

    def check(cert, code, checkpoint="gate"):
        result = v.verify(
            cert["qr_text"] if isinstance(cert, dict) else cert.qr_text, at=at, destination="44", checkpoint=checkpoint
        )
        assert result.code == code, (result.code, result.reason)
        return result

    ok = check(valid, "ok")
    assert ok.valid and ok.status_checked and {r.id for r in ok.rules} >= {"GD-G1", "GD-G2", "GD-G3"}
    check(revoked, "revoked")
    check(out_of_scope, "out_of_scope")
    check(changsha_cert, "key_withdrawn")
    epidemic = check(wuhan_worker, "rejected_by_rules")
    assert [r.id for r in epidemic.rules if r.outcome == "FAIL"] == ["GD-G3"]
    check(fresh_freight, "ok", checkpoint="highway")
    too_old = check(stale_hubei_freight, "rejected_by_rules", checkpoint="highway")
    assert [r.id for r in too_old.rules if r.outcome == "FAIL"] == ["GD-H3"]
    check(fresh_freight, "rejected_by_rules", checkpoint="gate")  # gates take return-to-work only
    assert v.verify(valid["qr_text"], at=at, destination="31").code == "rules_unavailable"
    # Without a destination: the certificate itself, no rules.
    assert v.verify(wuhan_worker["qr_text"], at=at).valid

    # Stale and expired bundle.
    stale = v.verify(valid["qr_text"], at=NOW + 3 * 24 * HOUR, destination="44")
    assert stale.valid and "bundle_stale" in stale.warnings
    assert v.verify(valid["qr_text"], at=NOW + 8 * 24 * HOUR, destination="44").code == "bundle_expired"
    behind = v.verify(valid["qr_text"], at=NOW, destination="44")
    assert "clock_before_bundle" in behind.warnings


def test_bundle_refuses_foreign_roots_and_tampering(network, tmp_path):
    token, _ = network.net.bundle(now=NOW + HOUR)
    other = KeyRing(tmp_path / "other-root")
    other.ensure(now=int(NOW.timestamp()))
    r = other.records[0]
    with pytest.raises(BundleError):
        Bundle.load(token, [{"kty": "EC", "crv": "P-256", "x": r.x, "y": r.y, "kid": r.kid}])
    envelope = json.loads(token)
    h, p, s = envelope["bundle"].split(".")
    with pytest.raises(BundleError):
        Bundle.load(json.dumps({**envelope, "bundle": f"{h}.{p[:-4]}AAAA.{s}"}), network.roots())
    h, p, s = envelope["trust_list"].split(".")
    with pytest.raises(BundleError):
        Bundle.load(json.dumps({**envelope, "trust_list": f"{h}.{p[:-4]}AAAA.{s}"}), network.roots())
    with pytest.raises(BundleError):
        Bundle.load("not a bundle", network.roots())
    with pytest.raises(BundleError):
        Bundle.load(json.dumps({**envelope, "extra": 1}), network.roots())


def test_key_compromise_drill(network):
    n = network
    first = [
        n.issue("510321", {**WORKER, "resident_id": resident_id(f"510321199001{i + 10:02d}00{i}")}) for i in range(3)
    ]
    kid = first[0]["kid"]
    device = Verifier.from_bundle(n.bundle())
    assert all(device.verify(c["qr_text"], at=NOW + 2 * HOUR).valid for c in first)
    # 03:00: the key leaked. Withdraw it; a new active key replaces it at once.
    n.service.withdraw_key("510321", kid, reason="key file found on a public share", actor="ops", now=NOW + HOUR)
    # The next sync: every certificate the key signed is rejected with the withdrawn-key code,
    # without waiting for the national root (the bundle signer may withdraw, never add).
    device = Verifier.from_bundle(n.bundle(now=NOW + 2 * HOUR))
    assert {device.verify(c["qr_text"], at=NOW + 2 * HOUR).code for c in first} == {"key_withdrawn"}
    # The holders to re-issue.
    affected, total = n.service.store.list_certificates("510321", kid=kid)
    assert total == 3 and {r.jti for r in affected} == {c["id"] for c in first}
    reissued = n.issue("510321", WORKER, now=NOW + 2 * HOUR)
    assert reissued["kid"] != kid
    # The replacement key reaches devices once the national admin approves and re-signs.
    assert (
        Verifier.from_bundle(n.bundle(now=NOW + 3 * HOUR)).verify(reissued["qr_text"], at=NOW + 3 * HOUR).code
        == "unknown_key"
    )
    n.sign_trust_list(now=NOW + 3 * HOUR)
    device = Verifier.from_bundle(n.bundle(now=NOW + 4 * HOUR))
    assert device.verify(reissued["qr_text"], at=NOW + 4 * HOUR).valid
    assert device.verify(first[0]["qr_text"], at=NOW + 4 * HOUR).code == "key_withdrawn"


def test_key_rotation_keeps_old_certificates_and_bounds_the_old_key(network):
    n = network
    old = n.issue("510321", WORKER)
    ring = n.service.ring("510321")
    retired_pem = ring.directory / f"{old['kid']}.pem"
    stolen = retired_pem.read_bytes()  # what a thief copied while the key was active
    n.service.rotate_key("510321", actor="t", now=NOW + HOUR)
    assert not retired_pem.exists(), "retiring a key deletes its private part"
    n.sign_trust_list(now=NOW + HOUR)
    new = n.issue("510321", WORKER, now=NOW + 2 * HOUR)
    v = Verifier.from_bundle(n.bundle(now=NOW + 2 * HOUR))
    assert v.verify(old["qr_text"], at=NOW + 3 * HOUR).valid
    assert v.verify(new["qr_text"], at=NOW + 3 * HOUR).valid
    # A certificate dated after the old key retired is refused: a stolen retired key is no use.
    late = n.service.issuer("510321")
    from keys import SigningKey

    forged = type(late)(authority="510321", signing_key=SigningKey.from_pem(stolen))
    cert = forged.sign_application(parse_application(WORKER), now=NOW + 2 * HOUR)
    assert v.verify(cert.qr_text, at=NOW + 3 * HOUR).code == "key_not_valid_at_issue"


def test_root_rotation(network, tmp_path):
    n = network
    pinned_old = n.roots()
    old_kid = n.root.active().kid
    n.root.rotate(now=int((NOW + HOUR).timestamp()), max_validity=30 * 86400)
    # Transition: signed by the old root, listing both.
    n.sign_trust_list(now=NOW + HOUR, sign_with=old_kid)
    bundle = Bundle.load(n.net.bundle(now=NOW + HOUR)[0], pinned_old)
    assert {r["kid"] for r in bundle.roots} == {old_kid, n.root.active().kid}
    repinned = bundle.roots
    # Afterwards: signed by the new root; a device that re-pinned follows, one that did not refuses.
    n.sign_trust_list(now=NOW + 2 * HOUR)
    token, _ = n.net.bundle(now=NOW + 2 * HOUR)
    assert Bundle.load(token, repinned).trust_list_version == 3  # the root folder's counter: 1, 2, 3
    with pytest.raises(BundleError):
        Bundle.load(token, pinned_old)


def test_rules_are_validated_before_signing(network):
    from app.service import ServiceError

    with pytest.raises(ServiceError) as e:
        network.net.sign_rules(
            "44", {"checkpoints": {"gate": [{"id": "x", "type": "max_age_hours", "hours": -1}]}}, now=NOW
        )
    assert e.value.code == "invalid_rules"
    with pytest.raises(ServiceError):
        network.net.sign_rules(
            "44",
            {
                "checkpoints": {
                    "gate": [
                        {
                            "id": "x",
                            "type": "not_from_key_area",
                            "areas": [{"prefix": "42", "from": "2020-05-01", "to": "2020-04-01"}],
                        }
                    ]
                }
            },
            now=NOW,
        )


def test_unknown_rule_type_is_open_and_rejects_unless_marked(network):
    rules = {
        "checkpoints": {
            "gate": [
                {"id": "NEW-1", "type": "vaccinated_twice"},
                {"id": "NEW-2", "type": "vaccinated_thrice", "open": "accept"},
            ]
        }
    }
    network.net.sign_rules("44", rules, now=NOW)
    cert = network.issue("510321", WORKER)
    v = Verifier.from_bundle(network.bundle())
    result = v.verify(cert["qr_text"], at=NOW + 2 * HOUR, destination="44")
    assert result.code == "rejected_by_rules"
    assert [(r.id, r.outcome) for r in result.rules] == [("NEW-1", "OPEN"), ("NEW-2", "OPEN")]


def test_submission_outside_its_province_is_refused(network):
    from app.service import ServiceError

    sub = export_submission(network.service, "51", now=NOW)
    sub["authorities"][0]["scope"]["regions"] = ["44"]
    with pytest.raises(ServiceError):
        sign_trust_list(network.root, [sub], [], version=1, now=NOW)


def test_verify_api_gives_the_offline_verdict(tmp_path, clock):
    from fastapi.testclient import TestClient

    from app.main import create_app

    app = create_app(Settings(data_dir=tmp_path / "d", dev=True), clock=clock)
    with TestClient(app) as client:
        service = app.state.service
        _, token = service.create_operator("510321", "c", "operator", actor="t", now=NOW)
        cert = client.post("/v1/certificates", json=WORKER, headers={"Authorization": f"Bearer {token}"}).json()
        r = client.post("/v1/verify", json={"qr": cert["qr_text"], "destination": "44"})
        assert r.status_code == 200 and r.json()["valid"] and r.json()["rules"]
        roots = load_roots(tmp_path / "d" / "root" / "roots.json")
        bundle = Bundle.load(client.get("/v1/bundle").text, roots)
        offline = Verifier.from_bundle(bundle).verify(cert["qr_text"], at=NOW, destination="44")
        assert r.json()["code"] == offline.code == "ok"
        h, p, s = cert["token"].split(".")
        tampered = f"{h}.{p[:10]}{'A' if p[10] != 'A' else 'B'}{p[11:]}.{s}"
        bad = client.post("/v1/verify", json={"qr": tampered, "destination": "44"})
        assert bad.json()["code"] == "bad_signature"
        assert client.post("/v1/verify", json={"qr": ""}).status_code == 422
        etag = client.get("/v1/bundle").headers["etag"]
        assert client.get("/v1/bundle", headers={"If-None-Match": etag}).status_code == 304


def test_status_list_sub_is_checked_in_full_against_the_base_url(network):
    """A status list counts only when its sub is `<base_url>/v1/status/<iss>/<lst>` of the trust list entry."""
    n = network
    n.issue("510321", WORKER)
    assert n.bundle().status_list("510321", 0) is not None
    # The trust list names another server for Rong County: the lists this server signs
    # (sub https://hcert.test/v1/status/510321/0, the right tail) no longer count.
    subs = [export_submission(n.service, p, now=NOW) for p in ("42", "43", "44", "51")]
    subs[-1]["authorities"][0]["base_url"] = "https://rong.example"
    n.net.publish_trust_list(sign_trust_list(n.root, subs, n.net.bundle_signers(now=NOW), version=2, now=NOW))
    with pytest.raises(BundleError) as e:
        n.bundle()
    assert "sub 'https://hcert.test/v1/status/510321/0', not 'https://rong.example/" in str(e.value)


@pytest.mark.parametrize(
    "base_url", ["http://hcert.test", "ftp://hcert.test", "https://hcert.test/", "https://a@hcert.test", None]
)
def test_base_urls_are_https_or_loopback(network, base_url):
    from app.service import ServiceError
    from keys import sign_compact

    sub = export_submission(network.service, "51", now=NOW)
    sub["authorities"][0]["base_url"] = base_url
    with pytest.raises(ServiceError) as e:
        sign_trust_list(network.root, [sub], [], version=1, now=NOW)
    assert e.value.code == "invalid_submission"
    # A root-signed trust list carrying such a URL is refused by devices as well.
    from hcert_verifier import TRUST_LIST_TYP, json_compact

    trust = {
        "version": 1000,  # newer than the published one, or the server refuses it as a rollback
        "issued_at": 1,
        "expires": 2,
        "roots": network.roots(),
        "bundle_signers": network.net.bundle_signers(now=NOW),
        "rule_signers": {},
        "authorities": sub["authorities"],
    }
    network.net.publish_trust_list(sign_compact(network.root.active(), typ=TRUST_LIST_TYP, payload=json_compact(trust)))
    with pytest.raises(BundleError, match="base_url"):
        network.bundle()


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:8123", "http://localhost:9", "http://[::1]:8000"])
def test_loopback_base_urls_are_allowed_for_tests_and_development(network, base_url):
    subs = [export_submission(network.service, p, now=NOW) for p in ("42", "43", "44", "51")]
    subs[-1]["authorities"][0]["base_url"] = base_url
    token = sign_trust_list(network.root, subs, network.net.bundle_signers(now=NOW), now=NOW)
    network.net.publish_trust_list(token)
    assert network.bundle().authorities["510321"].base_url == base_url


def test_the_trust_list_expires_as_signed_and_devices_stop_with_it(network, tmp_path):
    from app.service import ServiceError
    from hcert_verifier import TrustListExpired
    from hcert_verifier.state import admit

    n = network
    day = 24 * HOUR
    cert = n.issue("510321", WORKER)["qr_text"]
    # `hcert trust sign` by default: 30 days after signing.
    late = n.bundle(now=NOW + 29 * day)
    assert late.trust_list_expires == int((NOW + 30 * day).timestamp())
    v = Verifier.from_bundle(late)
    assert v.verify(cert, at=NOW + 30 * day - dt.timedelta(seconds=1)).code != "trust_list_expired"
    assert v.verify(cert, at=NOW + 30 * day).code == "trust_list_expired"  # the bundle itself is 1 day old
    # A device refuses, at sync, a bundle whose trust list has expired, and keeps nothing of it.
    device = tmp_path / "device"
    device.mkdir()
    with pytest.raises(TrustListExpired):
        admit(device, late, now=int((NOW + 30 * day).timestamp()), leeway=300)
    assert not (device / "bundle.json").exists() and not (device / "state.json").exists()
    # The root re-signs (the re-signing ceremony) and the next bundle carries the new expiry.
    n.sign_trust_list(now=NOW + 28 * day)
    renewed = n.bundle(now=NOW + 29 * day)
    assert renewed.trust_list_expires == int((NOW + 58 * day).timestamp())
    admit(device, renewed, now=int((NOW + 30 * day).timestamp()), leeway=300)
    # Any validity from 1 to 92 days; nothing else is signed.
    subs = [export_submission(n.service, p, now=NOW) for p in ("42", "43", "44", "51")]
    signers = n.net.bundle_signers(now=NOW)
    longest = sign_trust_list(n.root, subs, signers, now=NOW, valid_days=92)
    n.net.publish_trust_list(longest)
    assert n.bundle(now=NOW).trust_list_expires == int((NOW + 92 * day).timestamp())
    for days in (0, -1, 93):
        with pytest.raises(ServiceError) as e:
            sign_trust_list(n.root, subs, signers, now=NOW, valid_days=days)
        assert e.value.code == "invalid_valid_days"


def test_trust_sign_valid_days_on_the_command_line(tmp_path):
    from hcert_verifier import b64url_decode, inflate, json_object
    from tests.app.test_cli_and_e2e import hcert

    data, root = tmp_path / "data", str(tmp_path / "root")
    assert hcert(data, "authority", "create", "420100", "--name-zh", "武汉", "--name-en", "Wuhan").returncode == 0
    assert hcert(data, "root", "init", "--root-dir", root).returncode == 0

    def validity(*extra):
        out = tmp_path / "t.jwt"
        r = hcert(data, "trust", "sign", "--root-dir", root, *extra, "-o", str(out))
        assert r.returncode == 0, r.stderr
        token = out.read_text().strip()
        payload = json_object(inflate(b64url_decode(token.split(".")[1], "t"), 1 << 20), "t")
        return payload["expires"] - payload["issued_at"]

    assert validity() == 30 * 86400
    assert validity("--valid-days", "7") == 7 * 86400
    assert validity("--valid-days", "92") == 92 * 86400
    for days in ("93", "0"):
        out = tmp_path / f"refused-{days}.jwt"
        r = hcert(data, "trust", "sign", "--root-dir", root, "--valid-days", days, "-o", str(out))
        assert r.returncode == 1 and r.stderr.startswith("hcert: invalid_valid_days:"), r.stderr
        assert len(r.stderr.splitlines()) == 1 and not out.exists()
