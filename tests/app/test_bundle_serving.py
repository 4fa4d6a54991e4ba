"""GET /v1/bundle and GET /v1/index: served from memory until the change signal moves, the
state file changes or they age, with every guarantee of the derived ones (versions only go
up, instances on one data folder serve the same version, a revocation elsewhere shows)."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest

from app.store import AuditEvent
from app.trust import SERVED_MAX_AGE, VERIFIER_POLL
from tests.app.test_verify_endpoint import _issue, two_instances  # noqa: F401 - a fixture
from tests.conftest import NOW

PATHS = ["/v1/bundle", "/v1/index"]


def _version(client, path: str) -> int:
    name = path.rsplit("/", 1)[-1]
    return json.loads((client.app.state.trust.dir / f"{name}.state.json").read_text())["version"]


@pytest.mark.parametrize("path", PATHS)
def test_served_from_memory_until_a_revocation_elsewhere_is_signalled(two_instances, path):  # noqa: F811
    a, b = two_instances
    cert = _issue(a)
    first = b.get(path)
    assert first.status_code == 200
    etag = first.headers["etag"]
    derivations = b.app.state.trust.derivations
    for _ in range(5):
        assert b.get(path).headers["etag"] == etag
        again = b.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
    assert b.app.state.trust.derivations == derivations  # ten requests, nothing derived

    version = _version(b, path)
    r = a.post(f"/v1/certificates/{cert['id']}/revoke", json={"reason": "issued in error"})
    assert r.status_code == 200, r.text
    revoked = a.get(path)  # the instance that revoked: at once
    assert revoked.headers["etag"] != etag and _version(a, path) == version + 1
    # The other instance reads the store's signal every VERIFIER_POLL seconds, then serves the same version.
    deadline = time.monotonic() + 20 * VERIFIER_POLL + 5
    while b.get(path, headers={"If-None-Match": etag}).status_code == 304:
        assert time.monotonic() < deadline, "the other instance never saw the revocation"
        time.sleep(VERIFIER_POLL / 4)
    assert b.get(path).content == revoked.content
    assert _version(b, path) == version + 1  # one new version for both instances


@pytest.mark.parametrize("path", PATHS)
def test_a_new_status_list_is_signalled(two_instances, path):  # noqa: F811
    a, b = two_instances
    before = b.get(path)
    _issue(a)  # the authority's first certificate: a new status list, which the bundle must carry
    deadline = time.monotonic() + 20 * VERIFIER_POLL + 5
    while b.get(path).content == before.content:
        assert time.monotonic() < deadline, "the other instance never served the new status list"
        time.sleep(VERIFIER_POLL / 4)
    assert b.get(path).content == a.get(path).content


@pytest.mark.parametrize("path", PATHS)
def test_a_newer_one_made_by_another_instance_is_served_at_once(two_instances, path):  # noqa: F811
    a, b = two_instances
    cert = _issue(a)
    before = b.get(path)
    version = _version(b, path)
    # A status change written to the store without the signal (as when the store could not take it).
    event = AuditEvent(int(NOW.timestamp()), "t", "510321", "certificate.revoke", cert["id"], {"reason": "x"})
    a.app.state.service.store.change_status(
        "510321", cert["id"], status="revoked", reason="x", now=int(NOW.timestamp()), audit=event
    )
    assert b.get(path).content == before.content  # b serves what it holds (at most SERVED_MAX_AGE)
    made = a.get(path)  # a derives (it never served one): a new version
    assert made.content != before.content and _version(a, path) == version + 1
    assert b.get(path).content == made.content  # b sees the state file replaced: the same version
    assert _version(b, path) == version + 1


@pytest.mark.parametrize("path", PATHS)
def test_served_one_is_derived_again_when_it_ages(app_client, clock, path):
    trust = app_client.app.state.trust
    etag = app_client.get(path).headers["etag"]
    derivations = trust.derivations
    clock.now = NOW + dt.timedelta(seconds=SERVED_MAX_AGE - 1)
    assert app_client.get(path).headers["etag"] == etag
    assert trust.derivations == derivations
    clock.now = NOW + dt.timedelta(seconds=SERVED_MAX_AGE)
    assert app_client.get(path).headers["etag"] == etag  # derived again, nothing changed: the same one
    assert trust.derivations == derivations + 1
    clock.now = NOW  # a clock set back is a reason to derive again too
    assert app_client.get(path).headers["etag"] == etag
    assert trust.derivations == derivations + 2
