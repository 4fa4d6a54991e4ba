"""Freshness statements (docs/FORMAT.md section 7.5): a province vouches with its rule key
that its status lists in an index are still current, so an unchanged list keeps its bytes
(its part) instead of being re-signed for its ``exp``; the bundle signer alone can neither
make one nor stretch one."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from app.trust import make_index
from hcert_verifier import Bundle, BundleError, Verifier, b64url_decode, inflate, json_compact, json_object
from hcert_verifier.bundle import FRESH_FORMAT, FRESH_TYP, freshness_digest
from hcert_verifier.state import admit
from hcert_verifier.trustlist import TrustList
from keys import sign_compact
from tests.app.test_index import _hubei, _parts
from tests.app.test_trust_network import Network
from tests.conftest import NOW, WORKER, resident_id

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


def _ts(when: dt.datetime) -> int:
    return int(when.timestamp())


def _payload(token: str) -> dict:
    return json_object(inflate(b64url_decode(token.split(".")[1], "t"), 1 << 24), "t")


def _list(data: bytes) -> dict:
    """A status list part's claims (a status list JWT is not compressed)."""
    return json_object(b64url_decode(data.decode().split(".")[1], "t"), "t")


@pytest.fixture
def network(tmp_path):
    n = Network(tmp_path)
    n.net.rules_ring("51").ensure(now=_ts(NOW))  # Sichuan has a rule key here; Hubei (42) has none
    n.sign_trust_list()
    return n


def _index(n, now):
    envelope, _ = n.net.index(now=now)
    payload = _payload(json.loads(envelope)["index"])
    return envelope, payload


def _list_addresses(n, payload) -> dict[str, str]:
    """The index's status list parts by their sub."""
    out = {}
    for shard in payload["shards"]:
        for address in json.loads(n.net.part(shard))["status_lists"]:
            out[_list(n.net.part(address))["sub"]] = address
    return out


def _verdict(n, envelope, qr, at, parts=None):
    bundle = Bundle.from_index(envelope, parts or _parts(n.net), n.roots())
    result = Verifier.from_bundle(bundle).verify(qr, at=at)
    return result.code, result.status_checked


def test_a_province_with_its_rule_key_vouches_and_its_lists_keep_their_bytes(network):
    n = network
    sichuan, hubei = n.issue("510321", WORKER), n.issue("420100", _hubei())
    envelope, first = _index(n, NOW + HOUR)
    (statement,) = first["fresh"]  # Sichuan's only: Hubei's rule key is not on this server
    body = _payload(statement)
    assert body["format"] == FRESH_FORMAT and body["province"] == "51" and body["version"] == 1
    assert body["expires"] - body["issued_at"] == n.settings.status_list_validity
    lists = _list_addresses(n, first)
    sichuan_sub = next(s for s in lists if "/510321/" in s)
    hubei_sub = next(s for s in lists if "/420100/" in s)
    assert body["lists"] == freshness_digest(
        [(s, _list(n.net.part(a))["version"]) for s, a in lists.items() if "/510321/" in s]
    )

    # Four days on, past half of the 7-day validity: Hubei's list is re-signed (a new part),
    # Sichuan's keeps its bytes and its statement is re-signed instead.
    later = NOW + 4 * DAY
    envelope, again = _index(n, later)
    moved = _list_addresses(n, again)
    assert moved[sichuan_sub] == lists[sichuan_sub]
    assert moved[hubei_sub] != lists[hubei_sub]
    (restated,) = again["fresh"]
    assert _payload(restated)["version"] == 2 and _payload(restated)["lists"] == body["lists"]

    # Eight days on, Sichuan's list is past its own exp, and still current by the statement.
    at = _ts(NOW + 8 * DAY)
    assert _list(n.net.part(moved[sichuan_sub]))["exp"] < at
    assert _verdict(n, envelope, sichuan["qr_text"], at) == ("ok", True)
    assert _verdict(n, envelope, hubei["qr_text"], at) == ("ok", True)  # Hubei's was re-signed

    # A revocation is a new version: a new list part and a new statement, and it is seen.
    n.service.change_status("510321", sichuan["id"], "revoked", "lost", operator=n.ops["510321"], now=later)
    envelope, revoked = _index(n, later + HOUR)
    assert _payload(revoked["fresh"][0])["version"] == 3
    assert _list_addresses(n, revoked)[sichuan_sub] != lists[sichuan_sub]
    assert _verdict(n, envelope, sichuan["qr_text"], at)[0] == "revoked"


def _forged_index(n, lists_from, *, fresh, version=99, now=NOW + 8 * DAY):
    """What the bundle-signer key alone can make: any index over published parts."""
    trust = n.net.trust_list()
    tokens = [n.net.part(a).decode() for a in _list_addresses(n, lists_from).values()]
    envelope, parts = make_index(
        trust,
        [],
        tokens,
        [],
        key=n.net.bundle_ring.active(),
        version=version,
        issued_at=_ts(now),
        expires=_ts(now) + 6 * 86400,
        fresh=fresh,
    )
    return envelope, parts


def _statement(key, *, province="51", version=5, issued_at, expires, lists, **extra):
    body = {
        "format": FRESH_FORMAT,
        "province": province,
        "version": version,
        "issued_at": issued_at,
        "expires": expires,
        "lists": lists,
        **extra,
    }
    return sign_compact(key, typ=FRESH_TYP, payload=json_compact(body))


def test_the_bundle_signer_alone_cannot_make_or_stretch_freshness(network):
    n = network
    cert = n.issue("510321", WORKER)
    _, honest = _index(n, NOW + HOUR)
    (statement,) = honest["fresh"]
    digest = _payload(statement)["lists"]
    at = _ts(NOW + 8 * DAY + HOUR)  # past the list's exp and past the honest statement's expires

    def verdict(fresh):
        envelope, parts = _forged_index(n, honest, fresh=fresh)
        return _verdict(n, envelope, cert["qr_text"], at, parts=lambda wanted: {a: parts[a] for a in wanted})

    # The honest statement, re-wrapped after it expired: the list says nothing about today.
    assert verdict([statement]) == ("status_list_expired", False)
    # No statement at all: the list's own exp.
    assert verdict([]) == ("status_list_expired", False)
    # A statement the province signed stretches it; signed by any other key it refuses the index.
    province_key = n.net.rules_ring("51").active()
    fresh = {"issued_at": _ts(NOW + 8 * DAY), "expires": _ts(NOW + 9 * DAY), "lists": digest}
    assert verdict([_statement(province_key, **fresh)]) == ("ok", True)
    for key in (n.net.bundle_ring.active(), n.net.rules_ring("44").active()):
        with pytest.raises(BundleError) as e:
            verdict([_statement(key, **fresh)])
        assert e.value.code == "bundle_invalid"
    # A statement of other lists (another version) vouches for nothing.
    assert verdict([_statement(province_key, **{**fresh, "lists": "A" * 43})]) == ("status_list_expired", False)
    # One valid longer than a list may be, or with a member the format does not have: refused.
    for bad in (
        _statement(province_key, **{**fresh, "expires": fresh["issued_at"] + 7 * 86400 + 1}),
        _statement(province_key, **fresh, note="x"),
        _statement(province_key, **{**fresh, "version": 1.0}),
        _statement(province_key, **{**fresh, "expires": fresh["issued_at"]}),
    ):
        with pytest.raises(BundleError) as e:
            verdict([bad])
        assert e.value.code == "bundle_invalid"
    with pytest.raises(BundleError):
        verdict([_statement(province_key, **fresh), _statement(province_key, **fresh)])  # twice


def test_a_device_refuses_an_older_freshness_statement(network, tmp_path):
    n = network
    n.issue("510321", WORKER)
    device = tmp_path / "device"
    _, honest = _index(n, NOW + HOUR)
    digest = _payload(honest["fresh"][0])["lists"]
    key = n.net.rules_ring("51").active()
    times = {"issued_at": _ts(NOW + 8 * DAY), "expires": _ts(NOW + 9 * DAY), "lists": digest}

    def offer(version, statement):
        envelope, parts = _forged_index(n, honest, fresh=[statement], version=version)
        bundle = Bundle.from_index(envelope, lambda wanted: {a: parts[a] for a in wanted}, n.roots())
        admit(device, bundle, now=_ts(NOW + 8 * DAY + HOUR), leeway=300, store=envelope.encode())

    offer(10, _statement(key, version=7, **times))
    state = json.loads((device / "state.json").read_text())
    assert state["fresh"]["51"]["version"] == 7
    for version, statement, code in [
        (11, _statement(key, version=6, **times), "freshness_rollback"),
        (12, _statement(key, version=7, **{**times, "expires": times["expires"] + 60}), "version_reused"),
    ]:
        with pytest.raises(BundleError) as e:
            offer(version, statement)
        assert e.value.code == code
    assert json.loads((device / "state.json").read_text()) == state
    offer(13, _statement(key, version=8, **times))  # a newer one is accepted


def test_a_damaged_statement_file_is_no_statement_and_a_new_one_is_signed(network):
    # A crash mid-write, a disk error or a hand edit leaves trust/fresh/51.jwt unreadable:
    # the index and GET /v1/fresh carry on with a newly signed statement, never a 500.
    n = network
    n.issue("510321", WORKER)
    first = n.net.statement("51", now=_ts(NOW + HOUR))
    key = n.net.rules_ring("51").active()
    odd = _statement(key, issued_at=_ts(NOW), expires="soon", lists="A" * 43)  # signed, but expires is no integer
    forged = _statement(
        n.net.bundle_ring.active(), **{k: _payload(first)[k] for k in ("issued_at", "expires", "lists")}
    )
    flipped = first[:-3] + ("A" if first[-3] != "A" else "B") + first[-2:]  # a changed signature character
    path = n.net.dir / "fresh" / "51.jwt"
    damages = [b"", b"\xff\xfe", b"x", b"a.b.c", first[: len(first) // 2].encode(), odd.encode(), b"e30.W10.x"]
    damages += [first[:-5].encode(), flipped.encode(), forged.encode()]  # a payload intact, the signature not
    for version, damage in enumerate(damages, start=2):
        path.write_bytes(damage)
        token = n.net.statement("51", now=_ts(NOW + HOUR))
        body = TrustList.load(n.net.trust_list(), n.roots()).open_freshness(token)
        assert body["version"] == version and body["lists"] == _payload(first)["lists"]
        assert path.read_text().strip() == token
    envelope, payload = _index(n, NOW + 2 * HOUR)
    assert payload["fresh"] == [token]
    Bundle.from_index(envelope, _parts(n.net), n.roots())  # what devices take

    # Damaged after the index was made, the lists unchanged: the index re-made an hour on
    # (BUNDLE_REFRESH) carries a new statement, never the damaged one a device would refuse.
    path.write_text(flipped)
    envelope, payload = _index(n, NOW + 4 * HOUR)
    (renewed,) = payload["fresh"]
    assert renewed != flipped and _payload(renewed)["version"] == len(damages) + 2
    Bundle.from_index(envelope, _parts(n.net), n.roots())


def test_a_server_vouches_only_with_a_listed_rule_key_over_listed_authorities(tmp_path):
    from app.service import ServiceError

    n = Network(tmp_path)
    n.issue("510321", WORKER)
    n.net.rules_ring("51").ensure(now=_ts(NOW))  # a new rule key the trust list does not name yet
    with pytest.raises(ServiceError) as e:
        n.net.statement("51", now=_ts(NOW + HOUR))
    assert (e.value.code, e.value.status) == ("fresh_not_found", 404) and "does not name" in str(e.value)
    assert "fresh" not in _index(n, NOW + HOUR)[1]

    # Listed now. An authority created since, whose key no device can check yet, is in
    # neither the index nor the statement, so the statement still speaks of the index's lists.
    n.sign_trust_list()
    n.service.create_authority("510302", "自流井区卫生健康局", "Ziliujing District", actor="national", now=NOW)
    n.ops["510302"] = n.service.create_operator("510302", "clerk-510302", "operator", actor="t", now=NOW)[0]
    n.issue("510302", {**WORKER, "resident_id": resident_id("51030219900101001"), "origin_region": "510302"})
    _, payload = _index(n, NOW + 2 * HOUR)
    subs = set(_list_addresses(n, payload))
    assert not any("/510302/" in s for s in subs)
    (statement,) = payload["fresh"]
    versions = [(s, _list(n.net.part(a))["version"]) for s, a in _list_addresses(n, payload).items()]
    assert _payload(statement)["lists"] == freshness_digest([v for v in versions if "/5103" in v[0]])


def test_a_vouched_list_keeps_its_bytes_only_while_a_device_could_use_it_for_half_the_validity(network):
    n = network
    n.issue("510321", WORKER)
    half = n.settings.status_list_validity // 2
    _, first = _index(n, NOW + HOUR)
    held = next(n.net.part(a).decode() for s, a in _list_addresses(n, first).items() if "/510321/" in s)
    later = _list(held.encode())["exp"] + 3600  # past the held list's own exp
    kid = n.service.ring("510321").active().kid
    resigned, _, _ = n.service.versioned_status_list("510321", 0, now=dt.datetime.fromtimestamp(later, dt.UTC), kid=kid)
    assert resigned != held and _list(resigned.encode())["version"] == _list(held.encode())["version"]
    day = 86400
    # Vouched by a statement with more than half of its own validity left: the held bytes stay,
    # whatever that validity is (a province server may set a shorter one than this server).
    assert n.net._stable_list(resigned, now=later, vouched=(later - 3 * day, later + 4 * day)) == held
    assert n.net._stable_list(resigned, now=later, vouched=(later - day // 2, later + 3 * day // 2)) == held
    # With half or less left (a device taking this index could use the list only briefly):
    # the re-signed list replaces it.
    assert n.net._stable_list(resigned, now=later, vouched=(later - half, later + half)) == resigned
    # From then on the re-signed one is held, with its own exp far enough off to stand unvouched.
    assert n.net._stable_list(held, now=later) == resigned


def test_a_statement_is_renewed_once_a_quarter_of_its_validity_has_passed(network):
    n = network
    n.issue("510321", WORKER)
    validity = n.settings.status_list_validity  # 7 days: renewed after 1.75
    first = n.net.statement("51", now=_ts(NOW))
    assert n.net.statement("51", now=_ts(NOW) + validity // 4 - 1) == first
    renewed = n.net.statement("51", now=_ts(NOW) + validity // 4)
    assert _payload(renewed)["version"] == _payload(first)["version"] + 1
    # One dated after the server's clock (the clock was set back) is renewed at once.
    path = n.net.dir / "fresh" / "51.jwt"
    key = n.net.rules_ring("51").active()
    ahead = _statement(
        key, version=50, issued_at=_ts(NOW) + 3600, expires=_ts(NOW) + 3600 + validity, lists=_payload(first)["lists"]
    )
    path.write_text(ahead)
    again = n.net.statement("51", now=_ts(NOW))
    assert again != ahead and _payload(again)["issued_at"] == _ts(NOW)
