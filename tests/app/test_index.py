"""The index of parts (hcert-index/1): content-addressed parts under a signed index, with
every rule of the bundle (docs/FORMAT.md section 7.4)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from app.trust import BUNDLE_REFRESH
from hcert_verifier import Bundle, BundleError, Verifier
from hcert_verifier.bundle import part_address
from hcert_verifier.state import admit
from tests.app.test_trust_network import Network
from tests.conftest import NOW, WORKER

HOUR = dt.timedelta(hours=1)


@pytest.fixture
def network(tmp_path):
    return Network(tmp_path)


def _parts(net):
    """A part source over the server's parts (one it has not is left out: part_missing)."""

    def get(addresses):
        out = {}
        for address in addresses:
            try:
                out[address] = net.part(address)
            except Exception:
                pass
        return out

    return get


def _load(n, now=NOW + HOUR, parts=None):
    envelope, _ = n.net.index(now=now)
    return envelope, Bundle.from_index(envelope, parts or _parts(n.net), n.roots())


def _shards(n, bundle, envelope):
    index = json.loads(envelope)
    from hcert_verifier import b64url_decode, inflate, json_object

    payload = json_object(inflate(b64url_decode(index["index"].split(".")[1], "index")), "index")
    return payload, {a: json.loads(n.net.part(a))["status_lists"] for a in payload["shards"]}


def test_the_index_gives_the_bundles_verdicts(network):
    n = network
    certs = [n.issue("510321", WORKER) for _ in range(3)]
    n.service.change_status("510321", certs[1]["id"], "revoked", "lost", operator=n.ops["510321"], now=NOW)
    _, from_index = _load(n)
    from_bundle = n.bundle()
    assert from_index.format == "hcert-index/1" and from_bundle.format == "hcert-bundle/2"
    assert from_index.status_list_count == from_bundle.status_list_count >= 1
    assert from_index.provinces == from_bundle.provinces == ["44"]
    for cert in certs:
        a = Verifier.from_bundle(from_index).verify(cert["qr_text"], at=NOW + HOUR, destination="44")
        b = Verifier.from_bundle(from_bundle).verify(cert["qr_text"], at=NOW + HOUR, destination="44")
        assert a.code == b.code
    assert [Verifier.from_bundle(from_index).verify(c["qr_text"], at=NOW + HOUR).code for c in certs] == [
        "ok",
        "revoked",
        "ok",
    ]
    for address in from_index.parts:
        assert part_address(n.net.part(address)) == address


def test_a_part_that_does_not_match_its_address_is_refused(network):
    n = network
    n.issue("510321", WORKER)
    envelope, good = _load(n)
    _, shards = _shards(n, good, envelope)
    victim = next(a for lists in shards.values() for a in lists)
    real = _parts(n.net)

    def tampered(addresses):
        got = real(addresses)
        if victim in got:
            got[victim] = got[victim].replace(b".", b"x", 1)
        return got

    with pytest.raises(BundleError) as e:
        Bundle.from_index(envelope, tampered, n.roots())
    assert e.value.code == "part_mismatch"


def test_a_missing_part_is_refused(network):
    n = network
    n.issue("510321", WORKER)
    envelope, good = _load(n)
    payload, _ = _shards(n, good, envelope)
    real = _parts(n.net)
    for missing in [payload["rules"][0], payload["shards"][0], json.loads(envelope)["trust_list"]]:

        def without(addresses, missing=missing):
            return {a: data for a, data in real(addresses).items() if a != missing}

        with pytest.raises(BundleError) as e:
            Bundle.from_index(envelope, without, n.roots())
        assert e.value.code == "part_missing"


def test_an_older_index_is_refused_after_a_newer_one(network, tmp_path):
    n = network
    n.issue("510321", WORKER)
    old_envelope, old = _load(n, now=NOW + HOUR)
    new_envelope, new = _load(n, now=NOW + HOUR + dt.timedelta(seconds=BUNDLE_REFRESH))
    assert new.version == old.version + 1
    device = tmp_path / "device"
    at = int((NOW + 2 * HOUR).timestamp())
    admit(device, new, now=at, leeway=300, store=new_envelope.encode())
    with pytest.raises(BundleError) as e:
        admit(device, old, now=at, leeway=300, store=old_envelope.encode())
    assert e.value.code == "bundle_rollback"
    assert (device / "index.json").read_text() == new_envelope


def test_an_index_over_an_expired_trust_list_is_refused(network, tmp_path):
    from app.trust import export_submission, sign_trust_list
    from hcert_verifier import TrustListExpired
    from hcert_verifier.state import check_fresh

    n = network
    subs = [export_submission(n.service, p, now=NOW) for p in ("42", "43", "44", "51")]
    n.net.publish_trust_list(sign_trust_list(n.root, subs, n.net.bundle_signers(now=NOW), now=NOW, valid_days=1))
    envelope, bundle = _load(n)
    late = int((NOW + dt.timedelta(days=1)).timestamp())
    with pytest.raises(TrustListExpired):
        check_fresh(bundle, now=late, leeway=300)
    with pytest.raises(TrustListExpired):
        admit(tmp_path / "device", bundle, now=late, leeway=300, store=envelope.encode())
    assert not (tmp_path / "device" / "index.json").exists()


def test_unchanged_lists_keep_their_parts_and_a_change_touches_one_shard(network):
    n = network
    certs = [n.issue("510321", WORKER), n.issue("420100", _hubei())]
    _, first = _load(n, now=NOW + HOUR)
    later = NOW + HOUR + dt.timedelta(seconds=BUNDLE_REFRESH)
    _, again = _load(n, now=later)
    assert again.version == first.version + 1  # re-made (it aged) ...
    assert again.parts == first.parts  # ... but every part is the same bytes
    n.service.change_status("510321", certs[0]["id"], "revoked", "lost", operator=n.ops["510321"], now=later)
    changed_envelope, changed = _load(n, now=later + dt.timedelta(minutes=1))
    fetched = changed.parts - again.parts
    _, shards = _shards(n, changed, changed_envelope)
    assert len(fetched) == 2  # the changed list and the one manifest it is in
    assert sum(1 for a in fetched if a in shards) == 1


def _hubei():
    from tests.conftest import resident_id

    return {**WORKER, "resident_id": resident_id("42010219900101001"), "origin_region": "420102"}


def test_parts_no_index_names_are_deleted_after_a_day(network):
    from app.trust import PART_RETENTION

    n = network
    cert = n.issue("510321", WORKER)
    _, first = _load(n, now=NOW + HOUR)
    n.service.change_status("510321", cert["id"], "revoked", "lost", operator=n.ops["510321"], now=NOW + HOUR)
    soon = NOW + 2 * HOUR
    _, second = _load(n, now=soon)
    gone = first.parts - second.parts
    assert len(gone) == 2  # the old list and the old manifest
    assert all(n.net.part(a) for a in gone)  # still served to a device that fetched the first index
    later = soon + dt.timedelta(seconds=PART_RETENTION + BUNDLE_REFRESH)
    _, third = _load(n, now=later)
    folder = n.net.dir / "parts"
    assert {p.name for p in folder.iterdir()} == set(third.parts)


def test_an_address_is_never_a_path(network, tmp_path):
    """An unverified index names its parts; a name that is not a base64url hash is refused unread."""
    from hcert_verifier.sync import _held_parts

    n = network
    n.issue("510321", WORKER)
    envelope, _ = _load(n)
    asked: list[str] = []
    real = _parts(n.net)

    def recording(addresses):
        asked.extend(addresses)
        return real(addresses)

    for name in ["/dev/" + "./" * 17 + "zero", "../" * 14 + "a", "a" * 42 + "/"]:
        assert len(name) == 43
        evil = json.dumps({**json.loads(envelope), "trust_list": name})
        with pytest.raises(BundleError) as e:
            Bundle.from_index(evil, recording, n.roots())
        assert e.value.code == "bundle_invalid" and name not in asked
    # The device's own folder: a directory, or a file too large, is a missing part, not an error.
    folder = tmp_path / "parts"
    (folder / ("d" * 43)).mkdir(parents=True)
    assert _held_parts(folder)(["d" * 43, "/dev/" + "./" * 17 + "zero"]) == {}


def test_the_parts_of_an_index_are_held_to_a_bundles_size(network, monkeypatch):
    import hcert_verifier.bundle as bundle_module

    n = network
    n.issue("510321", WORKER)
    envelope, good = _load(n)
    total = sum(len(n.net.part(a)) for a in good.parts)
    monkeypatch.setattr(bundle_module, "MAX_BUNDLE", total - 1)
    with pytest.raises(BundleError) as e:
        Bundle.from_index(envelope, _parts(n.net), n.roots())
    assert "more than" in e.value.reason
    monkeypatch.setattr(bundle_module, "MAX_BUNDLE", total)
    Bundle.from_index(envelope, _parts(n.net), n.roots())
