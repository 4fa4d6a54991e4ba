"""`hcert network pull` and `hcert trust publish` in detail: nothing is stored or published unchecked.

An issuing server's published material is served by a loopback HTTP server that the test
controls, so it can answer with forgeries, replays, garbage and errors.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest

from app.network import pull, pull_forever
from app.service import IssuingService, ServiceError
from app.settings import Settings
from app.store import open_store
from app.trust import SAMPLE_RULES, TrustNetwork, export_submission, sign_trust_list
from hcert_verifier import Bundle, Verifier
from issuer import STATUS_LIST_SIZE, StatusBits, sign_status_list
from keys import KeyRing, generate_signing_key, sign_compact
from tests.app.test_cli_and_e2e import hcert
from tests.conftest import NOW, WORKER, LoopbackServer

HOUR = dt.timedelta(hours=1)


class Origin(LoopbackServer):
    """A loopback HTTP server standing for another province's hcert server: path -> (status, body)."""

    def __init__(self):
        self.routes: dict[str, tuple[int, bytes]] = {}
        super().__init__(lambda path: self.routes.get(path, (404, b"{}")))


class World:
    """Sichuan's issuing service (published through ``origin``), a distribution server, a root."""

    def __init__(self, tmp_path, origin):
        self.origin = origin
        settings = Settings(data_dir=tmp_path / "sc", base_url=origin.url)
        self.sc = IssuingService(settings, open_store("sqlite", path=str(tmp_path / "sc.sqlite3")))
        self.sc.create_authority("510321", "荣县", "Rong County", actor="t", now=NOW)
        self.clerk = self.sc.create_operator("510321", "clerk", "operator", actor="t", now=NOW)[0]
        self.sc_net = TrustNetwork(self.sc)
        self.sc_net.sign_rules(
            "51", {"checkpoints": {"gate": [{"id": "SC-1", "type": "accept_kinds", "kinds": ["w"]}]}}, now=NOW
        )
        dist_settings = Settings(data_dir=tmp_path / "dist", base_url="https://dist.test")
        self.dist = TrustNetwork(
            IssuingService(dist_settings, open_store("sqlite", path=str(tmp_path / "dist.sqlite3")))
        )
        self.root = KeyRing(tmp_path / "root")
        self.root.ensure(now=int(NOW.timestamp()))
        self.roots = [
            {"kty": "EC", "crv": "P-256", "x": r.x, "y": r.y, "kid": r.kid}
            for r in self.root.published(now=int(NOW.timestamp()))
        ]

    def trust_list(self, version=1, signers=None, submissions=None, now=NOW):
        subs = submissions or [export_submission(self.sc, "51", now=now)]
        return sign_trust_list(
            self.root, subs, self.dist.bundle_signers(now=NOW) if signers is None else signers, version=version, now=now
        )

    def publish(self, version=1):
        return self.dist.publish_verified(self.trust_list(version), roots=self.roots, now=NOW)

    def issue(self):
        status, body, _ = self.sc.issue("510321", [WORKER], operator=self.clerk, now=NOW)
        assert status == 201
        return json.loads(body)["issued"][0]

    def serve_list(self, token=None, now=NOW):
        token = token or self.sc.status_list("510321", 0, now=now)[0]
        self.origin.routes["/v1/status/510321"] = (200, b'{"authority": "510321", "lists": [0]}')
        self.origin.routes["/v1/status/510321/0"] = (200, token.encode())
        return token

    def serve_rules(self):
        token = (self.sc_net.dir / "rules" / "51.jwt").read_text().strip()
        self.origin.routes["/v1/rules/51"] = (200, token.encode())
        return token

    def held(self):
        path = self.dist.dir / "remote" / "status" / "510321" / "0.jwt"
        return path.read_text().strip() if path.exists() else None

    def device(self, now=NOW + HOUR):
        return Verifier.from_bundle(self.bundle(now))

    def bundle(self, now=NOW + HOUR):
        return Bundle.load(self.dist.bundle(now=now)[0], self.roots)


@pytest.fixture
def world(tmp_path):
    origin = Origin()
    yield World(tmp_path, origin)
    origin.close()


def test_pull_stores_what_verifies_and_the_bundle_carries_it(world):
    world.publish()
    cert = world.issue()
    token = world.serve_list()
    world.serve_rules()
    report = pull(world.dist, now=NOW)
    assert report.failed == [] and len(report.stored) == 2
    assert world.held() == token
    device = world.device()
    result = device.verify(cert["qr_text"], at=NOW + HOUR, destination="51")
    assert result.code == "ok" and result.status_checked and [r.id for r in result.rules] == ["SC-1"]
    # Nothing changed: nothing stored again.
    again = pull(world.dist, now=NOW)
    assert again.stored == [] and len(again.current) == 2


def test_pull_refuses_forgeries_and_replays_and_keeps_the_last_good_copy(world):
    world.publish()
    cert = world.issue()
    good = world.serve_list()
    world.serve_rules()
    assert pull(world.dist, now=NOW).failed == []
    uri = f"{world.origin.url}/v1/status/510321/0"
    empty = StatusBits(STATUS_LIST_SIZE, 2)
    ts = int(NOW.timestamp())

    def refused(token, reason):
        world.serve_list(token)
        report = pull(world.dist, now=NOW)
        assert len(report.failed) == 1 and reason in report.failed[0], report.failed
        assert world.held() == good

    # A key the trust list does not name (a stolen or unapproved key).
    refused(sign_status_list(generate_signing_key(), empty, uri=uri, iat=ts + 9, exp=ts + 86400, ttl=60), "unknown key")
    # The authority's real key, but a sub elsewhere: the full URI is checked, not its tail.
    key = world.sc.ring("510321").active()
    elsewhere = "https://mirror.example/v1/status/510321/0"
    refused(sign_status_list(key, empty, uri=elsewhere, iat=ts + 9, exp=ts + 86400, ttl=60), "sub")
    # Expired.
    refused(sign_status_list(key, empty, uri=uri, iat=ts - 90000, exp=ts - 3600, ttl=60), "expired")
    # Garbage and errors.
    refused("not a token", "malformed")
    world.origin.routes["/v1/status/510321/0"] = (500, b"oops")
    assert "answered 500" in pull(world.dist, now=NOW).failed[0] and world.held() == good
    world.origin.routes["/v1/status/510321"] = (200, b'{"lists": "all"}')
    assert "not" in pull(world.dist, now=NOW).failed[0] and world.held() == good

    # Revoked at the origin: a newer list replaces the held one; the old one is then a replay.
    world.sc.change_status("510321", cert["id"], "revoked", "fever", operator=world.clerk, now=NOW + HOUR)
    newer = world.serve_list(now=NOW + HOUR)
    assert pull(world.dist, now=NOW + HOUR).stored == [uri]
    assert world.device(now=NOW + 2 * HOUR).verify(cert["qr_text"], at=NOW + 2 * HOUR).code == "revoked"
    world.serve_list(good)
    replay = pull(world.dist, now=NOW + HOUR)
    assert "older than the copy in hand" in replay.failed[0] and world.held() == newer

    # Rules: a forgery (not the province's rule key) and an older version are refused.
    forged = sign_compact(
        generate_signing_key(),
        typ="hcert-rules",
        payload=json.dumps({**SAMPLE_RULES, "province": "51", "version": 10**9, "issued_at": ts}).encode(),
    )
    world.origin.routes["/v1/rules/51"] = (200, forged.encode())
    assert "not trusted" in pull(world.dist, now=NOW + HOUR).failed[-1]
    held_rules = (world.dist.dir / "rules" / "51.jwt").read_text()
    # The province's own rule key, but a version older than the copy in hand (a replay).
    older = sign_compact(
        world.sc_net.rules_ring("51").active(),
        typ="hcert-rules",
        payload=json.dumps({"province": "51", "version": 0, "issued_at": ts, "checkpoints": {"gate": []}}).encode(),
    )
    world.origin.routes["/v1/rules/51"] = (200, older.encode())
    assert "not newer" in pull(world.dist, now=NOW + HOUR).failed[-1]
    assert (world.dist.dir / "rules" / "51.jwt").read_text() == held_rules


def test_a_list_that_stops_verifying_leaves_the_bundle_not_the_device(world):
    """A held list whose key is no longer listed is left out; the bundle still loads everywhere."""
    world.publish()
    world.issue()
    world.serve_list()
    world.serve_rules()
    assert pull(world.dist, now=NOW).failed == []
    assert world.bundle().status_list_count == 1
    world.sc.rotate_key("510321", actor="t", now=NOW)
    sub = export_submission(world.sc, "51", now=NOW)
    sub["authorities"][0]["keys"] = [k for k in sub["authorities"][0]["keys"] if k["state"] == "active"]
    world.dist.publish_verified(world.trust_list(version=2, submissions=[sub]), roots=None, now=NOW)
    assert world.bundle().status_list_count == 0


def test_pull_needs_a_verified_trust_list(world):
    with pytest.raises(ServiceError) as e:
        pull(world.dist, now=NOW)
    assert e.value.code == "no_trust_list"


def test_background_pull(world):
    world.publish()
    world.issue()
    token = world.serve_list()

    async def run():
        task = asyncio.create_task(pull_forever(world.dist, lambda: NOW, 0.01))
        try:
            for _ in range(3000):
                if world.held() == token:
                    return True
                await asyncio.sleep(0.01)
            return False
        finally:
            task.cancel()

    assert asyncio.run(run())


def test_trust_publish_checks_as_a_device_would(world, tmp_path):
    data = world.dist.service.settings.data_dir
    good = tmp_path / "good.jwt"
    good.write_text(world.trust_list(version=5))
    (tmp_path / "roots.json").write_text(json.dumps({"roots": world.roots}))
    roots = str(tmp_path / "roots.json")

    def publish(path, *extra):
        r = hcert(data, "trust", "publish", str(path), *extra)
        assert len((r.stdout + r.stderr).strip().splitlines()) == 1, r.stdout + r.stderr
        return r

    # No pinned roots yet, and none given.
    r = publish(good)
    assert r.returncode == 1 and "trust_list_invalid" in r.stderr and "--roots" in r.stderr
    # Signed by a root devices do not pin.
    other = KeyRing(tmp_path / "other-root")
    other.ensure(now=int(NOW.timestamp()))
    foreign = tmp_path / "foreign.jwt"
    foreign.write_text(
        sign_trust_list(
            other, [export_submission(world.sc, "51", now=NOW)], world.dist.bundle_signers(now=NOW), version=6, now=NOW
        )
    )
    r = publish(foreign, "--roots", roots)
    assert r.returncode == 1 and r.stderr.startswith("hcert: trust_list_invalid: not signed by a pinned root")
    # Without this server's bundle signer, every device would refuse the bundle.
    unsigned = tmp_path / "no-signer.jwt"
    unsigned.write_text(world.trust_list(version=6, signers=[]))
    r = publish(unsigned, "--roots", roots)
    assert r.returncode == 1 and "devices would refuse the bundle" in r.stderr
    # Garbage, a missing file.
    (tmp_path / "garbage.jwt").write_text("hello")
    assert publish(tmp_path / "garbage.jwt", "--roots", roots).returncode == 1
    missing = publish(tmp_path / "missing.jwt", "--roots", roots)
    assert missing.returncode == 2 and "cannot read trust list" in missing.stderr
    assert not (data / "trust" / "trustlist.jwt").exists()
    # The good one, then an older one (rollback) and another list with the same version.
    r = publish(good, "--roots", roots)
    assert r.returncode == 0 and "version 5 verified" in r.stdout
    older = tmp_path / "older.jwt"
    older.write_text(world.trust_list(version=4))
    r = publish(older)
    assert r.returncode == 1 and "does not replace the published version 5" in r.stderr
    same = tmp_path / "same.jwt"
    same.write_text(world.trust_list(version=5, now=NOW + HOUR))
    assert same.read_text() != good.read_text()
    assert publish(same).returncode == 1
    assert publish(good).returncode == 0  # the very same list again is fine
    assert (data / "trust" / "trustlist.jwt").read_text().strip() == good.read_text().strip()


def test_published_material_endpoints(app_client):
    r = app_client.get("/v1/status/510321")
    assert r.status_code == 200 and r.json() == {"authority": "510321", "lists": []}
    app_client.post("/v1/certificates", json=WORKER)
    assert app_client.get("/v1/status/510321").json()["lists"] == [0]
    assert app_client.get("/v1/status/999999").json()["code"] == "authority_not_found"
    rules = app_client.get("/v1/rules/44")
    assert rules.status_code == 200 and rules.headers["content-type"] == "application/jwt"
    assert app_client.get("/v1/rules/45").json()["code"] == "rules_not_found"
    # Sichuan (51) vouches for its lists here; Guangdong (44) has rules but no lists here.
    fresh = app_client.get("/v1/fresh/51")
    assert fresh.status_code == 200 and fresh.headers["content-type"] == "application/jwt"
    assert _claims(fresh.text)["province"] == "51" and _claims(fresh.text)["format"] == "hcert-fresh/1"
    assert app_client.get("/v1/fresh/44").json()["code"] == "fresh_not_found"


def _claims(token: str) -> dict:
    from hcert_verifier import b64url_decode, inflate, json_object

    return json_object(inflate(b64url_decode(token.split(".")[1], "t"), 1 << 20), "t")


def test_pull_carries_a_provinces_freshness_statement_while_it_speaks_of_the_lists_held(world):
    from hcert_verifier.bundle import FRESH_TYP, freshness_digest

    world.publish()
    world.sc_net.publish_trust_list(world.trust_list())
    cert = world.issue()
    world.serve_list()
    world.serve_rules()
    sc_index, _ = world.sc_net.index(now=NOW)
    statement = world.sc_net.statement_in(sc_index, "51")
    assert statement is not None
    world.origin.routes["/v1/fresh/51"] = (200, statement.encode())
    report = pull(world.dist, now=NOW)
    assert report.failed == [] and len(report.stored) == 3, report
    envelope, _ = world.dist.index(now=NOW + HOUR)
    assert world.dist.statement_in(envelope, "51") == statement
    parts = {a: world.dist.part(a) for a in _named(world.dist, envelope)}
    bundle = Bundle.from_index(envelope, lambda wanted: {a: parts[a] for a in wanted}, world.roots)
    (held,) = bundle._status.values()
    assert held.fresh_until == _claims(statement)["expires"]
    verdict = Verifier.from_bundle(bundle).verify(cert["qr_text"], at=NOW + HOUR, destination="51")
    assert verdict.code == "ok" and verdict.status_checked

    # An older statement, or one the province's rule key did not sign: refused, the last good one kept.
    key = world.sc_net.rules_ring("51").active()
    older = sign_compact(key, typ=FRESH_TYP, payload=json.dumps({**_claims(statement), "version": 0}).encode())
    forged = sign_compact(generate_signing_key(), typ=FRESH_TYP, payload=json.dumps(_claims(statement)).encode())
    soon = int(NOW.timestamp()) + 301  # a province server whose clock runs fast
    ahead = sign_compact(
        key,
        typ=FRESH_TYP,
        payload=json.dumps({**_claims(statement), "version": 7, "issued_at": soon, "expires": soon + 86400}).encode(),
    )
    for token, reason in [
        (older, "not newer"),
        (forged, "not trusted for it"),
        (ahead, "ahead of this server's clock"),
    ]:
        world.origin.routes["/v1/fresh/51"] = (200, token.encode())
        failed = pull(world.dist, now=NOW).failed
        assert len(failed) == 1 and reason in failed[0], failed
        assert (world.dist.dir / "remote" / "fresh" / "51.jwt").read_text().strip() == statement

    # The list changes (a revocation) and the statement in hand speaks of the old version:
    # the index leaves it out rather than vouch for lists it does not describe.
    world.sc.change_status("510321", cert["id"], "revoked", "lost", operator=world.clerk, now=NOW)
    world.serve_list(now=NOW + HOUR)
    world.origin.routes["/v1/fresh/51"] = (404, b"{}")  # a server that vouches for nothing: not a failure
    assert pull(world.dist, now=NOW + HOUR).failed == []
    assert (world.dist.dir / "remote" / "fresh" / "51.jwt").read_text().strip() == statement  # still held
    envelope, _ = world.dist.index(now=NOW + 2 * HOUR)
    assert world.dist.statement_in(envelope, "51") is None
    parts = {a: world.dist.part(a) for a in _named(world.dist, envelope)}
    bundle = Bundle.from_index(envelope, lambda wanted: {a: parts[a] for a in wanted}, world.roots)
    (held,) = bundle._status.values()
    assert held.fresh_until is None  # the new list stands on its own exp, and says revoked
    assert Verifier.from_bundle(bundle).verify(cert["qr_text"], at=NOW + 2 * HOUR).code == "revoked"
    assert _claims(statement)["lists"] != freshness_digest([(f"{world.origin.url}/v1/status/510321/0", 2)])


def test_pull_asks_each_server_of_a_province_for_its_statement_until_one_has_it(world, tmp_path):
    # Two servers in Sichuan; only one holds the province's rule key. The other answers 404
    # for the statement, and the pull goes on to the next rather than stop there.
    others = []
    while not others or others[-1].url > world.origin.url:  # the server without the rule key comes first
        others.append(Origin())
    other = others[-1]
    try:
        settings = Settings(data_dir=tmp_path / "sc2", base_url=other.url)
        sc2 = IssuingService(settings, open_store("sqlite", path=str(tmp_path / "sc2.sqlite3")))
        sc2.create_authority("510302", "自流井区", "Ziliujing District", actor="t", now=NOW)
        subs = [export_submission(world.sc, "51", now=NOW), export_submission(sc2, "51", now=NOW)]
        world.dist.publish_verified(world.trust_list(submissions=subs), roots=world.roots, now=NOW)
        world.sc_net.publish_trust_list(world.trust_list(submissions=subs))
        world.issue()
        world.serve_list()
        world.serve_rules()
        other.routes["/v1/status/510302"] = (200, b'{"authority": "510302", "lists": []}')
        sc_index, _ = world.sc_net.index(now=NOW)
        statement = world.sc_net.statement_in(sc_index, "51")
        assert statement is not None
        world.origin.routes["/v1/fresh/51"] = (200, statement.encode())
        report = pull(world.dist, now=NOW)
        assert report.failed == [], report
        assert f"{world.origin.url}/v1/fresh/51" in report.stored
        assert (world.dist.dir / "remote" / "fresh" / "51.jwt").read_text().strip() == statement
        # Neither server publishes the rules any more: one failure line, the held copy kept.
        held_rules = (world.dist.dir / "rules" / "51.jwt").read_text()
        del world.origin.routes["/v1/rules/51"]
        failed = pull(world.dist, now=NOW).failed
        assert failed == ["rules of province 51: none of its servers publishes them (404)"]
        assert (world.dist.dir / "rules" / "51.jwt").read_text() == held_rules
    finally:
        for o in others:
            o.close()


def _named(network, envelope):
    index = _claims(json.loads(envelope)["index"])
    names = [json.loads(envelope)["trust_list"], *index["rules"], *index["shards"]]
    for shard in index["shards"]:
        names += json.loads(network.part(shard))["status_lists"]
    return names


def test_pull_compares_and_replaces_under_the_pull_lock(world, monkeypatch):
    # A cron `hcert network pull` and the background pull may run at once: the check against
    # the held copy and its replacement happen under one lock, so an older copy is never put back.
    import fcntl
    import os

    import app.network as network

    world.publish()
    world.issue()
    world.serve_list()
    world.serve_rules()
    lock = world.dist.dir / ".pull.lock"
    held_during_write = []
    real_write = network.write_atomic

    def write(path, data, **kw):
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held_during_write.append(path.name)
        finally:
            os.close(fd)
        real_write(path, data, **kw)

    monkeypatch.setattr(network, "write_atomic", write)
    report = pull(world.dist, now=NOW)
    assert report.failed == [] and len(report.stored) == 2
    assert sorted(held_during_write) == ["0.jwt", "51.jwt"]


def test_pull_orders_status_lists_by_version_as_devices_do(world):
    # A list re-signed later but with an older version (or the same version and other bits)
    # is one devices refuse: the distribution server keeps the copy in hand.
    world.publish()
    cert = world.issue()
    world.sc.change_status("510321", cert["id"], "revoked", "fever", operator=world.clerk, now=NOW)
    good = world.serve_list()
    world.serve_rules()
    assert pull(world.dist, now=NOW).failed == []
    key = world.sc.ring("510321").active()
    uri = f"{world.origin.url}/v1/status/510321/0"
    ts = int(NOW.timestamp())
    from hcert_verifier import StatusList

    held = StatusList.from_token(good, world.sc.trust(now=NOW))
    assert held.version is not None and held.version >= 1
    empty = StatusBits(STATUS_LIST_SIZE, 2)
    for ver, reason in ((held.version - 1, "older than the copy in hand"), (held.version, "other bits")):
        late = sign_status_list(key, empty, uri=uri, iat=ts + 600, exp=ts + 86400, ttl=60, version=ver)
        world.serve_list(late)
        report = pull(world.dist, now=NOW)
        assert len(report.failed) == 1 and reason in report.failed[0], report.failed
        assert world.held() == good


def test_an_index_leaves_out_a_pulled_statement_a_device_would_refuse(world):
    # A statement dated ahead of the index (a province server's clock running fast), or one
    # damaged on disk, would make devices refuse the whole index: it is left out instead.
    from hcert_verifier import b64url_decode
    from hcert_verifier.bundle import FRESH_TYP, freshness_digest

    world.publish()
    world.sc_net.publish_trust_list(world.trust_list())
    world.issue()
    world.serve_list()
    world.serve_rules()
    assert pull(world.dist, now=NOW).failed == []
    key = world.sc_net.rules_ring("51").active()
    at = int((NOW + 6 * HOUR).timestamp())
    held = json.loads(b64url_decode(world.held().split(".")[1], "list"))
    lists = freshness_digest([(held["sub"], held["version"])])
    body = {"format": "hcert-fresh/1", "province": "51", "version": 9, "expires": at + 86400, "lists": lists}
    path = world.dist.dir / "remote" / "fresh" / "51.jwt"
    path.parent.mkdir(parents=True, exist_ok=True)
    # The index does not count statements as its contents: it is re-made with them each
    # BUNDLE_REFRESH (an hour), so each step below is an hour and a bit on.
    for step, (offset, carried) in enumerate([(0, True), (300, True), (301, False)]):
        when = NOW + (2 + step) * (HOUR + dt.timedelta(seconds=1))
        issued = int(when.timestamp()) + offset  # the index is issued at `when`
        token = sign_compact(key, typ=FRESH_TYP, payload=json.dumps({**body, "issued_at": issued}).encode())
        path.write_text(token)
        envelope, _ = world.dist.index(now=when)
        assert (world.dist.statement_in(envelope, "51") == token) is carried, offset
        parts = {a: world.dist.part(a) for a in _named(world.dist, envelope)}
        Bundle.from_index(envelope, lambda wanted: {a: parts[a] for a in wanted}, world.roots)
    good = path.read_text()
    path.write_text(good[:-4])  # the signature cut short
    envelope, _ = world.dist.index(now=NOW + 6 * HOUR)
    assert world.dist.statement_in(envelope, "51") is None
