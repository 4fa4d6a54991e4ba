"""An attacker holding only the online bundle-signer key tries every replay on a device.

The national root, the authority's keys and the province's rule key stay honest. The
attacker may re-sign any bundle with the bundle-signer key and put into it any object
that was ever published: older or equal versions of the bundle, the trust list, the
rules and the status lists; a stretched ``expires``; a future ``issued_at``; dropped
withdrawals. Each attempt is refused with its own code, the device keeps its last good
bundle, and no combination un-revokes, un-withdraws or extends trust: the most the key
can do is withhold news until the bundle in hand expires.
"""

from __future__ import annotations

import http.server
import itertools
import json
import threading
import time
from pathlib import Path

import pytest

from hcert_verifier import (
    BUNDLE_FORMAT,
    BUNDLE_TYP,
    CLOCK_LEEWAY,
    MAX_BUNDLE_VALIDITY,
    MAX_TRUST_LIST_VALIDITY,
    RULES_TYP,
    TRUST_LIST_TYP,
    Bundle,
    BundleError,
    JwksTrust,
    StatusList,
    StatusLists,
    TrustError,
    TrustListExpired,
    Verifier,
    json_compact,
    jwk_from_public_key,
)
from hcert_verifier.bundle import sha256_text
from hcert_verifier.state import DeviceState, admit
from hcert_verifier.sync import SyncError, check_url, sync, sync_parts
from issuer import STATUS_LIST_SIZE, Issuer, StatusBits, parse_application, sign_status_list
from keys import SigningKey, generate_signing_key, sign_compact
from tests.conftest import NOW, WORKER

T0 = int(NOW.timestamp())
HOUR = 3600
DAY = 86400
URI = "https://hcert.test/v1/status/510321/0"
IDX = 4242


def jwk(key: SigningKey, **extra):
    return {**jwk_from_public_key(key.public_key), "kid": key.kid, **extra}


class World:
    """Honest root, authority and province keys; the bundle-signer key is the attacker's too."""

    def __init__(self) -> None:
        self.root = generate_signing_key()
        self.authority = generate_signing_key()  # signs certificates and status lists
        self.second = generate_signing_key()  # another key of the authority, withdrawn later
        self.rules_key = generate_signing_key()
        self.bundle_key = generate_signing_key()  # stolen
        self.roots = [jwk(self.root)]

    # -- honest objects --------------------------------------------------------------
    def trust_list(
        self, version: int, *, second_state: str = "active", issued_at: int = T0, expires: int | None = T0 + 30 * DAY
    ) -> str:
        keys = [
            jwk(self.authority, state="active", not_before=T0 - DAY, not_after=None),
            jwk(self.second, state=second_state, not_before=T0 - DAY, not_after=None),
        ]
        payload = {
            "version": version,
            "issued_at": issued_at,
            "expires": expires,
            "roots": self.roots,
            "bundle_signers": [jwk(self.bundle_key)],
            "rule_signers": {"44": [jwk(self.rules_key)]},
            "authorities": [
                {
                    "id": "510321",
                    "name_zh": "荣县卫生健康局",
                    "name_en": "Rong County Health Bureau",
                    "base_url": "https://hcert.test",
                    "scope": {"regions": ["51"], "kinds": ["w", "f"]},
                    "keys": keys,
                }
            ],
        }
        if expires is None:
            del payload["expires"]
        return sign_compact(self.root, typ=TRUST_LIST_TYP, payload=json_compact(payload))

    def rules(self, version: int, *, hours: int = 336) -> str:
        body = {
            "province": "44",
            "version": version,
            "issued_at": T0,
            "checkpoints": {"gate": [{"id": "GD-1", "type": "max_age_hours", "hours": hours}]},
        }
        return sign_compact(self.rules_key, typ=RULES_TYP, payload=json_compact(body))

    def status(self, version: int, *, revoked: bool, iat: int = T0, key: SigningKey | None = None) -> str:
        bits = StatusBits(STATUS_LIST_SIZE, 2)
        if revoked:
            bits.set(IDX, 1)
        return sign_status_list(
            key or self.authority, bits, uri=URI, iat=iat, exp=iat + 7 * DAY, ttl=3600, version=version
        )

    def certificate(self, key: SigningKey | None = None) -> str:
        issuer = Issuer(authority="510321", signing_key=key or self.authority)
        return issuer.sign_application(parse_application(WORKER), now=NOW, status=(0, IDX)).qr_text

    # -- what the bundle-signer key can make --------------------------------------------
    def bundle(
        self,
        version: int,
        *,
        trust: str,
        rules: list[str],
        lists: list[str],
        withdrawn: list[str] = (),
        issued_at: int = T0,
        expires: int | None = None,
        pair_with: str | None = None,
    ) -> str:
        paired = pair_with or trust
        payload = {
            "format": BUNDLE_FORMAT,
            "version": version,
            "issued_at": issued_at,
            "expires": issued_at + 7 * DAY if expires is None else expires,
            "trust_list": {"version": _version(paired), "sha256": sha256_text(paired)},
            "rules": rules,
            "status_lists": lists,
            "withdrawn": [{"kid": k, "iss": "510321", "at": T0, "reason": "stolen"} for k in withdrawn],
        }
        token = sign_compact(self.bundle_key, typ=BUNDLE_TYP, payload=json_compact(payload))
        return json_compact({"format": BUNDLE_FORMAT, "trust_list": trust, "bundle": token}).decode()


def _version(trust_list: str) -> int:
    from hcert_verifier import b64url_decode, inflate, json_object

    return json_object(inflate(b64url_decode(trust_list.split(".")[1], "t"), 1 << 20), "t")["version"]


class Device:
    """A checkpoint's data folder: pinned roots, the bundle in hand, the state."""

    def __init__(self, folder: Path, roots) -> None:
        self.dir = folder
        self.dir.mkdir(parents=True, exist_ok=True)
        (folder / "roots.json").write_text(json.dumps({"roots": roots}))
        self.roots = roots

    def offer(self, envelope: str, *, now: int = T0 + HOUR) -> None:
        admit(self.dir, Bundle.load(envelope, self.roots), now=now, leeway=CLOCK_LEEWAY, store=envelope.encode())

    def refuses(self, envelope: str, code: str, *, now: int = T0 + HOUR) -> None:
        before = (self.dir / "bundle.json").read_bytes()
        state_before = (self.dir / "state.json").read_bytes()
        with pytest.raises(BundleError) as e:
            self.offer(envelope, now=now)
        assert e.value.code == code, e.value.reason
        assert (self.dir / "bundle.json").read_bytes() == before  # the last good bundle stays
        assert (self.dir / "state.json").read_bytes() == state_before

    def verifier(self) -> Verifier:
        return Verifier.from_bundle(Bundle.from_file(self.dir / "bundle.json", self.roots))

    def verdict(self, qr: str, at: int = T0 + 2 * HOUR) -> str:
        return self.verifier().verify(qr, at=at, destination="44").code


@pytest.fixture
def world():
    return World()


@pytest.fixture
def device(tmp_path, world):
    return Device(tmp_path / "device", world.roots)


@pytest.fixture
def revoked_state(world, device):
    """The device has accepted: bundle 2, trust list 2 (second key withdrawn), rules 2, status list 2 (revoked)."""
    cert = world.certificate()
    by_second = world.certificate(world.second)
    device.offer(
        world.bundle(1, trust=world.trust_list(1), rules=[world.rules(1)], lists=[world.status(1, revoked=False)])
    )
    assert device.verdict(cert) == "ok" and device.verdict(by_second) == "ok"
    device.offer(
        world.bundle(
            2,
            trust=world.trust_list(2, second_state="withdrawn"),
            rules=[world.rules(2)],
            lists=[world.status(2, revoked=True)],
        )
    )
    assert device.verdict(cert) == "revoked" and device.verdict(by_second) == "key_withdrawn"
    return cert, by_second


# -- each replay, with its code ------------------------------------------------------------


def test_an_older_bundle_is_refused(world, device, revoked_state):
    old = world.bundle(1, trust=world.trust_list(1), rules=[world.rules(1)], lists=[world.status(1, revoked=False)])
    device.refuses(old, "bundle_rollback")
    assert device.verdict(revoked_state[0]) == "revoked"


def test_the_same_bundle_version_with_other_content_is_refused(world, device, revoked_state):
    current = dict(trust=world.trust_list(2, second_state="withdrawn"), rules=[world.rules(2)])
    device.offer(world.bundle(2, **current, lists=[world.status(2, revoked=True)]))  # the very same bundle: fine
    device.refuses(
        world.bundle(2, **current, lists=[world.status(2, revoked=True)], withdrawn=["x" * 11]), "version_reused"
    )


def test_an_older_trust_list_in_a_newer_bundle_is_refused(world, device, revoked_state):
    # Trust list 1 still lists the withdrawn key as active: it would un-withdraw it.
    replay = world.bundle(3, trust=world.trust_list(1), rules=[world.rules(2)], lists=[world.status(2, revoked=True)])
    device.refuses(replay, "trust_list_rollback")
    assert device.verdict(revoked_state[1]) == "key_withdrawn"


def test_older_status_lists_in_a_newer_bundle_are_refused(world, device, revoked_state):
    trust = world.trust_list(2, second_state="withdrawn")
    replay = world.bundle(3, trust=trust, rules=[world.rules(2)], lists=[world.status(1, revoked=False)])
    device.refuses(replay, "status_list_rollback")
    # Re-signed by the authority at a later time but the same old version: still version 1.
    replay = world.bundle(3, trust=trust, rules=[world.rules(2)], lists=[world.status(1, revoked=False, iat=T0 + HOUR)])
    device.refuses(replay, "status_list_rollback")
    assert device.verdict(revoked_state[0]) == "revoked"


def test_a_status_list_version_with_other_bits_is_refused(world, device, revoked_state):
    trust = world.trust_list(2, second_state="withdrawn")
    # A store restored from a backup hands out version 2 again with other bits.
    reused = world.bundle(3, trust=trust, rules=[world.rules(2)], lists=[world.status(2, revoked=False)])
    device.refuses(reused, "version_reused")
    # Re-signing the same bits (fresh exp) keeps the version: accepted.
    device.offer(
        world.bundle(3, trust=trust, rules=[world.rules(2)], lists=[world.status(2, revoked=True, iat=T0 + 60)])
    )


def test_older_rules_in_a_newer_bundle_are_refused(world, device, revoked_state):
    trust = world.trust_list(2, second_state="withdrawn")
    device.refuses(
        world.bundle(3, trust=trust, rules=[world.rules(1)], lists=[world.status(2, revoked=True)]), "rules_rollback"
    )
    device.refuses(
        world.bundle(3, trust=trust, rules=[world.rules(2, hours=100)], lists=[world.status(2, revoked=True)]),
        "version_reused",
    )


def test_an_equal_trust_list_version_with_other_content_is_refused(world, device, revoked_state):
    other = world.trust_list(2, second_state="active")  # the root's own mistake, or a backup restored
    device.refuses(
        world.bundle(3, trust=other, rules=[world.rules(2)], lists=[world.status(2, revoked=True)]), "version_reused"
    )


def test_a_stretched_expiry_is_refused(world, device, revoked_state):
    trust = world.trust_list(2, second_state="withdrawn")
    long = world.bundle(
        3, trust=trust, rules=[world.rules(2)], lists=[world.status(2, revoked=True)], expires=T0 + 30 * DAY
    )
    with pytest.raises(BundleError) as e:
        Bundle.load(long, world.roots)
    assert e.value.code == "bundle_validity_too_long"
    just = world.bundle(
        3, trust=trust, rules=[world.rules(2)], lists=[world.status(2, revoked=True)], expires=T0 + MAX_BUNDLE_VALIDITY
    )
    device.offer(just)


def test_a_bundle_from_the_future_is_refused(world, device, revoked_state):
    trust = world.trust_list(2, second_state="withdrawn")
    future = world.bundle(
        3, trust=trust, rules=[world.rules(2)], lists=[world.status(2, revoked=True)], issued_at=T0 + DAY
    )
    device.refuses(future, "bundle_issued_in_future", now=T0 + HOUR)


def test_a_bundle_issued_before_the_one_in_hand_is_refused(world, device, revoked_state):
    # A higher version, but dated earlier than the accepted bundle: a wound-back clock or a forged freeze.
    trust = world.trust_list(2, second_state="withdrawn")
    back = world.bundle(
        3, trust=trust, rules=[world.rules(2)], lists=[world.status(2, revoked=True)], issued_at=T0 - HOUR
    )
    device.refuses(back, "bundle_rollback")


def test_an_expired_bundle_is_refused_at_sync(world, device, revoked_state):
    trust = world.trust_list(2, second_state="withdrawn")
    stale = world.bundle(3, trust=trust, rules=[world.rules(2)], lists=[world.status(2, revoked=True)])
    with pytest.raises(Exception) as e:
        device.offer(stale, now=T0 + 8 * DAY)
    assert getattr(e.value, "code", None) == "bundle_expired"


def test_an_old_trust_list_rewrapped_past_its_expiry_is_refused(world, device, revoked_state):
    # The stolen bundle-signer key wraps the last root-signed trust list (expires T0 + 30 days)
    # in a fresh, well-formed bundle, so that the device never learns of a newer one.
    trust = world.trust_list(2, second_state="withdrawn")
    late = T0 + 31 * DAY
    rewrapped = world.bundle(3, trust=trust, rules=[world.rules(2)], lists=[], issued_at=late)
    assert Bundle.load(rewrapped, world.roots).trust_list_expires == T0 + 30 * DAY  # it is genuine ...
    before = (device.dir / "bundle.json").read_bytes()
    with pytest.raises(TrustListExpired) as e:  # ... and refused at sync
        device.offer(rewrapped, now=late + HOUR)
    assert e.value.code == "trust_list_expired"
    assert (device.dir / "bundle.json").read_bytes() == before
    # A bundle already in hand verifies nothing once its trust list has expired, even though the
    # bundle itself is still within its own seven days.
    just_before = world.bundle(4, trust=trust, rules=[world.rules(2)], lists=[], issued_at=T0 + 29 * DAY)
    device.offer(just_before, now=T0 + 29 * DAY)
    cert = world.certificate()
    assert device.verifier().verify(cert, at=T0 + 30 * DAY - 1).code != "trust_list_expired"
    assert device.verifier().verify(cert, at=T0 + 30 * DAY).code == "trust_list_expired"
    assert device.verdict(cert, at=T0 + 32 * DAY) == "trust_list_expired"


def test_a_trust_list_valid_longer_than_the_maximum_is_refused(world):
    def load(trust: str) -> Bundle:
        return Bundle.load(world.bundle(1, trust=trust, rules=[], lists=[]), world.roots)

    assert load(world.trust_list(1, expires=T0 + MAX_TRUST_LIST_VALIDITY)).trust_list_expires == T0 + 92 * DAY
    with pytest.raises(BundleError) as e:
        load(world.trust_list(1, expires=T0 + MAX_TRUST_LIST_VALIDITY + 1))
    assert e.value.code == "trust_list_validity_too_long"
    for expires in (None, T0, T0 - 1):  # no expiry at all, or none after issued_at
        with pytest.raises(BundleError) as e:
            load(world.trust_list(1, expires=expires))
        assert e.value.code == "bundle_invalid"


def test_dropped_withdrawals_are_refused_until_the_root_speaks(world, device):
    cert = world.certificate(world.second)
    trust = world.trust_list(1)
    device.offer(world.bundle(1, trust=trust, rules=[world.rules(1)], lists=[world.status(1, revoked=False)]))
    # The signer withdraws the second key between two trust lists.
    device.offer(
        world.bundle(
            2, trust=trust, rules=[world.rules(1)], lists=[world.status(1, revoked=False)], withdrawn=[world.second.kid]
        )
    )
    assert device.verdict(cert) == "key_withdrawn"
    # The same signer (or a thief with its key) then leaves the withdrawal out.
    dropped = world.bundle(3, trust=trust, rules=[world.rules(1)], lists=[world.status(1, revoked=False)])
    device.refuses(dropped, "withdrawal_dropped")
    assert device.verdict(cert) == "key_withdrawn"
    assert DeviceState.read(device.dir).withdrawn == {world.second.kid: 1}
    # A newer root-signed trust list has the last word (here it withdraws the key itself).
    device.offer(
        world.bundle(
            3,
            trust=world.trust_list(2, second_state="withdrawn"),
            rules=[world.rules(1)],
            lists=[world.status(1, revoked=False)],
        )
    )
    assert device.verdict(cert) == "key_withdrawn"
    assert DeviceState.read(device.dir).withdrawn == {}


def test_a_trust_list_swapped_beside_the_bundle_is_refused(world, device, revoked_state):
    # The bundle names trust list 2 but the envelope carries trust list 3 (or the reverse).
    t2, t3 = world.trust_list(2, second_state="withdrawn"), world.trust_list(3)
    swapped = world.bundle(3, trust=t3, rules=[world.rules(2)], lists=[world.status(2, revoked=True)], pair_with=t2)
    device.refuses(swapped, "bundle_invalid")


def test_the_signer_cannot_add_trust(world, device, revoked_state):
    trust = world.trust_list(2, second_state="withdrawn")
    # Its own status list, or one signed by the withdrawn key: neither verifies.
    own = world.status(3, revoked=False, key=world.bundle_key)
    device.refuses(world.bundle(3, trust=trust, rules=[world.rules(2)], lists=[own]), "bundle_invalid")
    by_withdrawn = world.status(3, revoked=False, key=world.second)
    device.refuses(world.bundle(3, trust=trust, rules=[world.rules(2)], lists=[by_withdrawn]), "bundle_invalid")
    # Rules signed by itself.
    forged = sign_compact(
        world.bundle_key,
        typ=RULES_TYP,
        payload=json_compact({"province": "44", "version": 9, "issued_at": T0, "checkpoints": {"gate": []}}),
    )
    device.refuses(
        world.bundle(3, trust=trust, rules=[forged], lists=[world.status(2, revoked=True)]), "bundle_invalid"
    )


def test_no_combination_un_revokes_un_withdraws_or_extends(world, device, revoked_state):
    cert, by_second = revoked_state
    trusts = {"old": world.trust_list(1), "current": world.trust_list(2, second_state="withdrawn")}
    rules = {"old": world.rules(1), "current": world.rules(2)}
    lists = {"old": world.status(1, revoked=False), "current": world.status(2, revoked=True)}
    versions = {"lower": 1, "equal": 2, "higher": 7}
    expiries = {"normal": None, "stretched": T0 + 60 * DAY}
    withdrawals = {"none": [], "second": [world.second.kid]}
    accepted = 0
    for (v, version), (t, trust), (r, rule), (s, lst), (e, expires), (w, withdrawn) in itertools.product(
        versions.items(), trusts.items(), rules.items(), lists.items(), expiries.items(), withdrawals.items()
    ):
        envelope = world.bundle(version, trust=trust, rules=[rule], lists=[lst], withdrawn=withdrawn, expires=expires)
        try:
            device.offer(envelope)
        except BundleError:
            pass
        else:
            accepted += 1
            assert (v, t, r, s, e) in {
                ("equal", "current", "current", "current", "normal"),
                ("higher",) + ("current",) * 3 + ("normal",),
            }
        bundle = Bundle.from_file(device.dir / "bundle.json", world.roots)
        assert bundle.expires <= bundle.issued_at + MAX_BUNDLE_VALIDITY
        assert device.verdict(cert) == "revoked"
        assert device.verdict(by_second) == "key_withdrawn"
    assert accepted >= 1


def test_the_signer_can_only_delay_until_expires(world, device):
    cert = world.certificate()
    trust = world.trust_list(1)
    device.offer(world.bundle(1, trust=trust, rules=[world.rules(1)], lists=[world.status(1, revoked=False)]))
    # The revocation is never delivered (freeze): the certificate passes until the bundle expires ...
    assert device.verdict(cert, at=T0 + 6 * DAY) == "ok"
    # ... and not one second longer.
    assert device.verdict(cert, at=T0 + 7 * DAY) == "bundle_expired"


# -- status lists must be current and signed by a usable key, on every path -------------------


def test_status_lists_past_exp_are_not_used(world, device):
    cert = world.certificate()
    trust = world.trust_list(1)
    early = world.status(1, revoked=False, iat=T0 - 6 * DAY)  # exp = T0 + 1 day
    device.offer(world.bundle(1, trust=trust, rules=[world.rules(1)], lists=[early]))
    assert device.verdict(cert, at=T0 + 2 * HOUR) == "ok"
    assert device.verdict(cert, at=T0 + 2 * DAY) == "status_list_expired"
    # JWKS path: the same list, read by the library.
    jwks = JwksTrust.from_jwks({"keys": [jwk(world.authority, iss="510321")]})
    lst = StatusList.from_token(early, jwks)
    v = Verifier(jwks, status=StatusLists([lst]), require_status=True)
    assert v.verify(cert, at=T0 + 2 * DAY).code == "status_list_expired"
    lenient = Verifier(jwks, status=StatusLists([lst])).verify(cert, at=T0 + 2 * DAY)
    assert lenient.valid and "status_list_expired" in lenient.warnings and not lenient.status_checked
    with pytest.raises(TrustError, match="status_list_expired"):
        StatusList.from_token(early, jwks, at=T0 + 2 * DAY)


def test_a_revocation_stays_proven_after_the_list_expires(world):
    jwks = JwksTrust.from_jwks({"keys": [jwk(world.authority, iss="510321")]})
    lst = StatusList.from_token(world.status(1, revoked=True, iat=T0 - 6 * DAY), jwks)
    assert Verifier(jwks, status=StatusLists([lst])).verify(world.certificate(), at=T0 + 2 * DAY).code == "revoked"


def test_status_lists_signed_by_a_withdrawn_key_are_refused_on_the_jwks_path(world):
    jwks = JwksTrust.from_jwks(
        {"keys": [jwk(world.authority, iss="510321"), jwk(world.second, iss="510321", hcert_state="withdrawn")]}
    )
    with pytest.raises(TrustError, match="withdrawn"):
        StatusList.from_token(world.status(1, revoked=False, key=world.second), jwks)
    assert StatusList.from_token(world.status(1, revoked=False), jwks).version == 1


def test_the_newest_status_list_version_wins_in_memory(world):
    jwks = JwksTrust.from_jwks({"keys": [jwk(world.authority, iss="510321")]})
    newer = StatusList.from_token(world.status(2, revoked=True, iat=T0), jwks)
    older_but_later = StatusList.from_token(world.status(1, revoked=False, iat=T0 + HOUR), jwks)
    lists = StatusLists([newer, older_but_later])
    assert lists.status_list("510321", 0) is newer


# -- the signature comes first ------------------------------------------------------------------


def test_nothing_unsigned_is_inflated(world, device):
    import zlib

    from hcert_verifier import b64url_encode

    trust = world.trust_list(1)
    bomb = b64url_encode(zlib.compress(b"[" * (60 * 1024 * 1024))[2:-4])
    header = b64url_encode(json_compact({"alg": "ES256", "kid": world.bundle_key.kid, "typ": BUNDLE_TYP, "zip": "DEF"}))
    unsigned = json_compact({"format": BUNDLE_FORMAT, "trust_list": trust, "bundle": f"{header}.{bomb}.{'A' * 86}"})
    with pytest.raises(BundleError, match="bad_signature"):
        Bundle.load(unsigned.decode(), world.roots)
    # An unsigned trust list is refused the same way.
    troot = b64url_encode(json_compact({"alg": "ES256", "kid": world.root.kid, "typ": TRUST_LIST_TYP, "zip": "DEF"}))
    fake_trust = f"{troot}.{bomb}.{'A' * 86}"
    with pytest.raises(BundleError, match="bad_signature"):
        Bundle.load(json_compact({"format": BUNDLE_FORMAT, "trust_list": fake_trust, "bundle": "a.b.c"}), world.roots)


def test_the_envelope_shape_is_strict(world):
    trust = world.trust_list(1)
    good = json.loads(world.bundle(1, trust=trust, rules=[], lists=[]))
    Bundle.load(json.dumps(good), world.roots)
    for bad in (
        {**good, "format": "hcert-bundle/1"},
        {k: v for k, v in good.items() if k != "trust_list"},
        {**good, "index": "x"},
        {**good, "bundle": 5},
    ):
        with pytest.raises(BundleError):
            Bundle.load(json.dumps(bad), world.roots)
    with pytest.raises(BundleError):
        Bundle.load(good["bundle"], world.roots)  # a bare hcert-bundle/1-style token


# -- the clock floor ---------------------------------------------------------------------------


def test_a_clock_behind_the_bundle_is_refused_unless_the_time_is_given(world, tmp_path):
    far = 4_102_444_800  # 2100-01-01: later than any test machine's clock
    trust = world.trust_list(1, issued_at=far, expires=far + 30 * DAY)
    envelope = world.bundle(
        1, trust=trust, rules=[world.rules(1)], lists=[world.status(1, revoked=False, iat=far)], issued_at=far
    )
    bundle = Bundle.load(envelope, world.roots)
    cert = world.certificate()
    v = Verifier.from_bundle(bundle)
    refused = v.verify(cert)
    assert refused.code == "clock_before_bundle" and not refused.valid
    # An operator-given time is believed (and the certificate, from 2020, judged on it).
    given = v.verify(cert, at=T0 + HOUR)
    assert given.code != "clock_before_bundle" and "clock_before_bundle" in given.warnings
    # The CLI: refused without --at.
    from hcert_verifier.cli import main

    (tmp_path / "b.json").write_text(envelope)
    (tmp_path / "roots.json").write_text(json.dumps({"roots": world.roots}))
    args = ["verify", "--bundle", str(tmp_path / "b.json"), "--roots", str(tmp_path / "roots.json"), "--json", cert]
    assert main(args) == 1


# -- sync over the network ------------------------------------------------------------------------


class _Slow(http.server.BaseHTTPRequestHandler):
    mode = "dribble"

    def do_GET(self):
        self.send_response(200)
        if self.mode == "huge-length":
            self.send_header("Content-Length", str(200 * 1024 * 1024))
            self.end_headers()
            return
        if self.mode == "short":  # a Content-Length, then less than that and the connection closed
            self.send_header("Content-Length", "1000")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b'{"format": ')
            return
        if self.mode == "endless":
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b"x" * 65536)
            except OSError:
                return
        self.send_header("Content-Length", "1000")
        self.end_headers()
        try:
            for _ in range(1000):
                self.wfile.write(b"{")
                self.wfile.flush()
                time.sleep(0.3)
        except OSError:
            return

    def log_message(self, *args):
        pass


@pytest.fixture
def slow_server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_sync_has_a_total_deadline(world, device, slow_server):
    _Slow.mode = "dribble"  # one byte every 0.3 s: no socket timeout ever fires
    url = f"http://127.0.0.1:{slow_server.server_address[1]}"
    with pytest.raises(SyncError, match="deadline"):
        sync(url, data_dir=device.dir, timeout=1.0, at=T0)


@pytest.mark.parametrize("fetch", [sync, sync_parts])
def test_sync_refuses_an_answer_cut_short(world, device, slow_server, fetch):
    _Slow.mode = "short"
    url = f"http://127.0.0.1:{slow_server.server_address[1]}"
    with pytest.raises(SyncError, match="before the whole"):
        fetch(url, data_dir=device.dir, at=T0)


def test_sync_caps_the_size(world, device, slow_server, monkeypatch):
    url = f"http://127.0.0.1:{slow_server.server_address[1]}"
    _Slow.mode = "huge-length"
    with pytest.raises(SyncError, match="larger"):
        sync(url, data_dir=device.dir, at=T0)
    _Slow.mode = "endless"
    monkeypatch.setattr("hcert_verifier.sync.MAX_BUNDLE", 1024 * 1024)
    with pytest.raises(SyncError, match="larger"):
        sync(url, data_dir=device.dir, at=T0)


def test_sync_speaks_https_and_http_only_to_loopback():
    with pytest.raises(SyncError, match="loopback"):
        check_url("http://hcert.example.gov.cn")
    with pytest.raises(SyncError, match="loopback"):
        check_url("http://10.1.2.3:8000")
    for ok in ("https://hcert.example.gov.cn", "http://127.0.0.1:8000", "http://localhost", "http://[::1]:80"):
        check_url(ok)
    check_url("http://hcert.example.gov.cn", allow_http=True)
    for bad in ("ftp://x", "file:///etc/passwd", "https://", "https://x:99999"):
        with pytest.raises(SyncError):
            check_url(bad)


def test_sync_refuses_replays_over_the_wire(world, device, revoked_state):
    body = {"data": b""}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body["data"])))
            self.end_headers()
            self.wfile.write(body["data"])

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        body["data"] = world.bundle(
            1, trust=world.trust_list(1), rules=[world.rules(1)], lists=[world.status(1, revoked=False)]
        ).encode()
        with pytest.raises(BundleError) as e:
            sync(url, data_dir=device.dir, at=T0 + HOUR)
        assert e.value.code == "bundle_rollback"
        newer = world.bundle(
            3,
            trust=world.trust_list(2, second_state="withdrawn"),
            rules=[world.rules(2)],
            lists=[world.status(2, revoked=True)],
        )
        body["data"] = newer.encode()
        assert sync(url, data_dir=device.dir, at=T0 + HOUR).bundle.version == 3
        assert device.verdict(revoked_state[0]) == "revoked"
    finally:
        httpd.shutdown()
        httpd.server_close()
