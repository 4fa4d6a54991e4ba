"""The scanner's trust material in headless Chromium: syncing by parts, expiry, staleness, tampering, rollback.

The page syncs the real index of parts (FORMAT.md section 7.4) from a real `hcert
serve`: the pack on a first sync, then the index and only the parts it lacks. A bad
index or part "offered by the server" is served in its place by intercepting the
request (Playwright routing), exactly as a compromised or replaying server would
answer.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading

import httpx
import pytest

from hcert_verifier import b64url_decode, b64url_encode, deflate, inflate
from tests.conftest import operator_credential
from tests.scanner.test_camera import issue, verdict, wait_until

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def clerk(scan_server):
    _, data = scan_server
    return {"Authorization": f"Bearer {operator_credential(data, 'bundle-clerk')}"}


def split_bundle(text: str) -> tuple[dict | None, str]:
    """Return (envelope, bundle JWS): an hcert-bundle/2 envelope, or (None, token) for a bare bundle token."""
    text = text.strip()
    if text.startswith("{"):
        envelope = json.loads(text)
        return envelope, envelope["bundle"]
    return None, text


def bundle_payload(text: str) -> dict:
    token = split_bundle(text)[1]
    return json.loads(inflate(b64url_decode(token.split(".")[1], "bundle"), 64 * 1024 * 1024))


def index_payload(text: str) -> dict:
    """The signed payload of an hcert-index/1 envelope (read, not verified)."""
    return json.loads(inflate(b64url_decode(json.loads(text)["index"].split(".")[1], "index"), 1024 * 1024))


HELD_PARTS = """() => new Promise((resolve, reject) => {
  const open = indexedDB.open("hcert-scanner");
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const keys = open.result.transaction("parts").objectStore("parts").getAllKeys();
    keys.onsuccess = () => { open.result.close(); resolve(keys.result); };
  };
})"""

DAMAGE_PART = """(address) => new Promise((resolve, reject) => {
  const open = indexedDB.open("hcert-scanner");
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const tx = open.result.transaction("parts", "readwrite");
    tx.objectStore("parts").put(new TextEncoder().encode("not the part"), address);
    tx.oncomplete = () => { open.result.close(); resolve(true); };
  };
})"""


def named_parts(url: str) -> set[str]:
    """Every part the server's current index names: trust list, rules, shard manifests, status lists."""
    envelope = json.loads(httpx.get(f"{url}/v1/index").text)
    payload = index_payload(json.dumps(envelope))
    named = {envelope["trust_list"], *payload["rules"], *payload["shards"]}
    for shard in payload["shards"]:
        named.update(json.loads(httpx.get(f"{url}/v1/parts/{shard}").text)["status_lists"])
    return named


def revoke(url: str, clerk, cert) -> None:
    response = httpx.post(f"{url}/v1/certificates/{cert['id']}/revoke", json={"reason": "test"}, headers=clerk)
    assert response.status_code == 200, response.text


def synced_then_revoked(scan_server, chromium, clerk):
    """A device synced with a valid certificate, which the server then revokes: (cert, context, page, version)."""
    url, _ = scan_server
    cert = issue(url, clerk)
    context, page = open_page(chromium, url)
    good = shown_version(page)
    revoke(url, clerk, cert)
    return cert, context, page, good


def failed_sync(page, pattern: str, handler) -> str:
    """Answer `pattern` with `handler` (a server or someone in between), reload: the sync fails; return its message."""
    page.route(pattern, handler)
    page.reload()
    page.wait_for_selector("body[data-sync='failed']")
    page.unroute(pattern)
    return page.get_attribute("body", "data-sync-message")


def v1_requests(page) -> list[tuple[str, str]]:
    """Record the page's requests to /v1/ from now on, as (path, status) once answered."""
    seen: list[tuple[str, str]] = []

    def answered(response):
        path = response.url.split("/v1/", 1)[-1] if "/v1/" in response.url else None
        if path is not None:
            seen.append((path, str(response.status)))

    page.on("response", answered)
    return seen


def open_page(chromium, url: str):
    context = chromium.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    page.goto(f"{url}/scan/")
    page.wait_for_selector("body[data-sync='ok']")
    # Installed: the service worker serves the page from now on, with or without network.
    wait_until(page, "() => navigator.serviceWorker.controller !== null")
    return context, page


def type_in(page, qr_text: str) -> tuple[str, str]:
    page.evaluate("() => { const v = document.getElementById('verdict'); v.hidden = true; }")
    page.fill("#manual", qr_text)
    page.click("#manual-verify")
    return verdict(page)


def shown_version(page) -> int:
    text = page.inner_text("#trust-text")
    return int(text.split(" v", 1)[1].split(" ", 1)[0])


def test_a_bundle_past_its_expiry_refuses_every_certificate(scan_server, chromium, clerk):
    url, _ = scan_server
    cert = issue(url, clerk)
    context, page = open_page(chromium, url)
    payload = index_payload(httpx.get(f"{url}/v1/index").text)
    assert type_in(page, cert["qr_text"]) == ("true", "ok")
    # The device's clock passes the bundle's expiry with no network to sync.
    context.set_offline(True)
    page.clock.set_fixed_time(dt.datetime.fromtimestamp(payload["expires"] + 60, dt.UTC))
    page.reload()
    page.wait_for_selector("body[data-sync='failed']")
    assert page.get_attribute("#trust", "data-state") == "expired"
    assert "信任包已过期" in page.inner_text("#trust")
    assert type_in(page, cert["qr_text"]) == ("false", "bundle_expired")
    context.close()


def test_a_stale_bundle_warns_but_still_verifies(scan_server, chromium, clerk):
    url, _ = scan_server
    cert = issue(url, clerk)
    context, page = open_page(chromium, url)
    payload = index_payload(httpx.get(f"{url}/v1/index").text)
    context.set_offline(True)
    page.clock.set_fixed_time(dt.datetime.fromtimestamp(payload["issued_at"] + 49 * 3600, dt.UTC))
    page.reload()
    page.wait_for_selector("body[data-sync='failed']")
    assert page.get_attribute("#trust", "data-state") == "stale"
    assert type_in(page, cert["qr_text"]) == ("true", "ok")
    assert "信任包超过48小时未更新" in page.inner_text("#verdict")
    context.close()


def test_a_tampered_index_is_refused_and_the_last_good_one_kept(scan_server, chromium, clerk):
    url, _ = scan_server
    cert = issue(url, clerk)
    context, page = open_page(chromium, url)
    good = shown_version(page)
    envelope = json.loads(httpx.get(f"{url}/v1/index").text)
    header, _, signature = envelope["index"].split(".")
    body = index_payload(json.dumps(envelope))
    body["version"] += 1000  # a server pushing a forged, "newer" index
    forged = f"{header}.{b64url_encode(deflate(json.dumps(body, separators=(',', ':')).encode()))}.{signature}"
    forged = json.dumps({**envelope, "index": forged})
    message = failed_sync(page, "**/v1/index", lambda r: r.fulfill(body=forged, content_type="application/json"))
    assert "does not verify" in message
    assert shown_version(page) == good
    assert type_in(page, cert["qr_text"]) == ("true", "ok")
    context.close()


def test_a_rolled_back_index_is_refused_and_a_revocation_stays(scan_server, chromium, clerk):
    url, _ = scan_server
    cert = issue(url, clerk)
    old = httpx.get(f"{url}/v1/index").text  # before the revocation: the certificate is valid in it
    revoke(url, clerk, cert)
    context, page = open_page(chromium, url)
    newer = shown_version(page)
    assert newer > index_payload(old)["version"]
    assert type_in(page, cert["qr_text"]) == ("false", "revoked")
    # The server (or someone in between) replays the old index, which does not know the revocation.
    # Its parts are still on the server (kept a day after an index last named them).
    message = failed_sync(page, "**/v1/index", lambda r: r.fulfill(body=old, content_type="application/json"))
    assert message.startswith("bundle_rollback: index version")
    assert shown_version(page) == newer
    assert type_in(page, cert["qr_text"]) == ("false", "revoked")
    context.close()


def test_a_resync_fetches_only_the_index_and_the_parts_that_changed(scan_server, chromium, clerk):
    """First sync: the pack, one response. After a revocation: the index and the changed parts. Unchanged: one 304."""
    url, _ = scan_server
    cert = issue(url, clerk)
    context = chromium.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    seen = v1_requests(page)
    page.goto(f"{url}/scan/")
    page.wait_for_selector("body[data-sync='ok']")
    assert seen == [("index/pack", "200")]
    first_bytes = int(page.get_attribute("body", "data-sync-bytes"))
    assert first_bytes > 1000 and page.get_attribute("body", "data-sync-responses") == "1"
    assert type_in(page, cert["qr_text"]) == ("true", "ok")
    version = shown_version(page)
    named = index_payload(httpx.get(f"{url}/v1/index").text)
    revoke(url, clerk, cert)
    after = index_payload(httpx.get(f"{url}/v1/index").text)
    changed = set(after["shards"]) - set(named["shards"])
    assert changed and after["rules"] == named["rules"]
    seen.clear()
    page.reload()
    page.wait_for_selector("body[data-sync='ok']")
    assert shown_version(page) == after["version"] > version
    paths = [path for path, _ in seen]
    assert paths[0] == "index" and seen[0][1] == "200" and "index/pack" not in paths and "bundle" not in paths
    fetched = {path.split("/", 1)[1] for path in paths[1:]}
    assert all(path.startswith("parts/") for path in paths[1:]), paths
    # The changed shard manifests and the status list the revocation changed; not the trust list, rules or others.
    assert changed <= fetched and after["trust_list"]["sha256"] not in fetched
    assert len(fetched) == len(changed) + 1, (fetched, changed)
    assert 0 < int(page.get_attribute("body", "data-sync-bytes")) < first_bytes
    assert type_in(page, cert["qr_text"]) == ("false", "revoked")
    # The device holds exactly the parts the index in force names: the replaced ones are gone.
    assert set(page.evaluate(HELD_PARTS)) == named_parts(url)
    # Nothing changed since: one conditional GET of the index, answered 304.
    seen.clear()
    page.reload()
    page.wait_for_selector("body[data-sync='ok']")
    assert seen == [("index", "304")] and page.get_attribute("body", "data-sync-responses") == "1"
    assert shown_version(page) == after["version"]
    context.close()


def test_a_part_that_does_not_match_its_address_is_refused(scan_server, chromium, clerk):
    """A server (or a cache in between) answers a part with other bytes: part_mismatch, the last good material kept."""
    cert, context, page, good = synced_then_revoked(scan_server, chromium, clerk)

    def swapped(route):
        real = route.fetch()
        body = real.body()
        route.fulfill(response=real, body=body[:-1] + (b"B" if body.endswith(b"A") else b"A"))

    assert failed_sync(page, "**/v1/parts/*", swapped).startswith("part_mismatch:")
    assert shown_version(page) == good
    assert type_in(page, cert["qr_text"]) == ("true", "ok")  # the revocation has not reached this device yet
    page.reload()
    page.wait_for_selector("body[data-sync='ok']")
    assert shown_version(page) > good
    assert type_in(page, cert["qr_text"]) == ("false", "revoked")
    context.close()


def test_a_device_that_took_bundles_keeps_its_index_offline(scan_server, chromium, clerk):
    """A device that accepted bundle N, then an index of a lower version (their counters are apart), reopens offline."""
    url, _ = scan_server
    cert = issue(url, clerk)
    bundle_version = lambda: bundle_payload(httpx.get(f"{url}/v1/bundle").text)["version"]  # noqa: E731
    index_version = index_payload(httpx.get(f"{url}/v1/index").text)["version"]
    while bundle_version() <= index_version + 1:  # bundles made after changes the index has not seen yet
        revoke(url, clerk, issue(url, clerk))
    context = chromium.new_context(viewport={"width": 360, "height": 740})
    context.route("**/v1/index**", lambda route: route.fulfill(status=404, body=""))
    page = context.new_page()
    page.goto(f"{url}/scan/")
    page.wait_for_selector("body[data-sync='ok']")
    by_bundle = shown_version(page)
    # Installed before the reload: a reload while the service worker is still installing races its first claim.
    wait_until(page, "() => navigator.serviceWorker.controller !== null")
    context.unroute("**/v1/index**")
    page.reload()
    page.wait_for_selector("body[data-sync='ok']")
    by_index = shown_version(page)
    assert by_index < by_bundle
    wait_until(page, "() => navigator.serviceWorker.controller !== null")  # installed: it opens the page offline
    context.set_offline(True)
    page.reload()
    page.wait_for_selector("body[data-sync='failed']")
    assert page.get_attribute("#trust", "data-state") == "fresh" and shown_version(page) == by_index
    assert type_in(page, cert["qr_text"]) == ("true", "ok")
    context.close()


def test_a_network_failure_while_fetching_parts_is_not_called_bad_material(scan_server, chromium, clerk):
    """A part the server fails to send: sync_failed (try later), not bundle_invalid; the last good material stays."""
    cert, context, page, good = synced_then_revoked(scan_server, chromium, clerk)
    assert failed_sync(page, "**/v1/parts/*", lambda r: r.abort()) == "sync_failed: cannot reach the server"
    message = failed_sync(page, "**/v1/parts/*", lambda r: r.fulfill(status=500, body="busy"))
    assert message.startswith("sync_failed: the server answered 500 for part")
    assert shown_version(page) == good and type_in(page, cert["qr_text"]) == ("true", "ok")
    context.close()


@pytest.fixture(scope="module")
def bomb_url():
    """A loopback server answering every GET with a real gzipped body of 64 MiB + 1 of zeros (65 KB on the wire)."""
    import gzip

    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024 + 1), 9)
    assert len(bomb) < 100_000

    class Bomb(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(bomb)))
            self.end_headers()
            try:
                self.wfile.write(bomb)
            except OSError:
                pass  # the page gave up reading: what it should do

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Bomb)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/bomb"
    server.shutdown()
    server.server_close()


def test_a_part_larger_than_any_part_is_refused(scan_server, chromium, clerk, bomb_url):
    """Over 8 MiB: refused from its Content-Length, or, gzipped (65 KB that inflate to 64 MiB), as it inflates."""
    _, context, page, good = synced_then_revoked(scan_server, chromium, clerk)
    for route, says in (
        (lambda r: r.fulfill(status=200, body=b"A" * (8 * 1024 * 1024 + 1)), "sends"),  # its Content-Length says so
        (lambda r: r.continue_(url=bomb_url), "sent"),  # a real gzipped answer, inflated by the browser
    ):
        message = failed_sync(page, "**/v1/parts/*", route)
        assert message == f"sync_failed: the server {says} more than 8388608 bytes for parts"
        assert shown_version(page) == good
    context.close()


def test_a_bundle_larger_than_any_bundle_is_refused(scan_server, chromium, bomb_url):
    """A new device synced by the bundle (no index on the server): the bundle is held to 64 MiB as it inflates."""
    url, _ = scan_server
    context = chromium.new_context(viewport={"width": 360, "height": 740})
    context.route("**/v1/index**", lambda route: route.fulfill(status=404, body=""))
    context.route("**/v1/bundle", lambda route: route.continue_(url=bomb_url))
    page = context.new_page()
    page.goto(f"{url}/scan/")
    page.wait_for_selector("body[data-sync='failed']")
    assert (
        page.get_attribute("body", "data-sync-message")
        == "sync_failed: the server sent more than 67108864 bytes for bundle"
    )
    assert page.get_attribute("#trust", "data-state") == "none"
    context.close()


def test_a_failed_part_stops_the_fetches_still_under_way(scan_server, chromium, clerk):
    """A new device fetching parts one by one: one answered 500 ends the sync at once; the one held is aborted."""
    url, _ = scan_server
    issue(url, clerk)
    trust_list = json.loads(httpx.get(f"{url}/v1/index").text)["trust_list"]
    context = chromium.new_context(viewport={"width": 360, "height": 740})
    context.route("**/v1/index/pack", lambda route: route.fulfill(status=404, body=""))
    held = []

    def parts(route):
        if route.request.url.endswith(trust_list):
            route.continue_()
        elif not held:
            held.append(route)  # never answered
        else:
            route.fulfill(status=500, body="busy")

    context.route("**/v1/parts/*", parts)
    page = context.new_page()
    failed = []
    page.on("requestfailed", lambda request: failed.append((request.url, request.failure)))
    page.goto(f"{url}/scan/")
    page.wait_for_selector("body[data-sync='failed']")
    assert page.get_attribute("body", "data-sync-message").startswith("sync_failed: the server answered 500 for part")
    assert len(held) == 1 and (held[0].request.url, "net::ERR_ABORTED") in failed
    context.close()


def test_a_sync_with_no_answer_is_given_up_after_60_seconds(scan_server, chromium):
    """A stalled server does not hold the device's syncs forever (the next start, the timer, going online)."""
    url, _ = scan_server
    context, page = open_page(chromium, url)
    good = shown_version(page)
    held = []
    page.clock.install()
    page.route("**/v1/index", lambda route: held.append(route))
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    wait_until(page, "() => document.body.dataset.sync === undefined")
    page.clock.run_for(61_000)
    page.wait_for_selector("body[data-sync='failed']")
    assert page.get_attribute("body", "data-sync-message") == "sync_failed: no answer within 60 s"
    assert held and shown_version(page) == good
    context.close()


def test_a_device_that_accepted_an_index_does_not_fall_back_to_the_bundle(scan_server, chromium, clerk):
    """Once an index is in force, a 404 for the index is a failed sync, not a switch to bundles."""
    url, _ = scan_server
    context, page = open_page(chromium, url)
    good = shown_version(page)
    seen = v1_requests(page)
    message = failed_sync(page, "**/v1/index", lambda r: r.fulfill(status=404, body=""))
    assert message == "sync_failed: the server answered 404 for its index"
    assert [path for path, _ in seen] == ["index"] and shown_version(page) == good
    context.close()


def test_a_damaged_stored_part_is_fetched_again(scan_server, chromium, clerk):
    """A part in the device's storage that no longer matches its address is not a dead end: it is fetched again."""
    url, _ = scan_server
    cert = issue(url, clerk)
    context, page = open_page(chromium, url)
    trust_list = json.loads(httpx.get(f"{url}/v1/index").text)["trust_list"]
    page.evaluate(DAMAGE_PART, trust_list)
    revoke(url, clerk, cert)
    seen = v1_requests(page)
    page.reload()
    page.wait_for_selector("body[data-sync='ok']")
    assert (f"parts/{trust_list}", "200") in seen
    assert type_in(page, cert["qr_text"]) == ("false", "revoked")
    context.close()


def test_a_server_without_an_index_is_synced_by_its_bundle(scan_server, chromium, clerk):
    """A server that answers 404 for the pack and the index (one without parts): the page takes /v1/bundle."""
    url, _ = scan_server
    cert = issue(url, clerk)
    context = chromium.new_context(viewport={"width": 360, "height": 740})
    context.route("**/v1/index**", lambda route: route.fulfill(status=404, body=""))
    page = context.new_page()
    seen = v1_requests(page)
    page.goto(f"{url}/scan/")
    page.wait_for_selector("body[data-sync='ok']")
    assert [path for path, _ in seen] == ["index/pack", "index", "bundle"]
    assert shown_version(page) == bundle_payload(httpx.get(f"{url}/v1/bundle").text)["version"]
    assert type_in(page, cert["qr_text"]) == ("true", "ok")
    context.close()


def test_the_first_open_says_syncing_until_the_bundle_is_in(scan_server, chromium):
    """A new device: while the first sync runs the bundle line says so (not "no bundle"), then shows the bundle."""
    url, _ = scan_server
    context = chromium.new_context(viewport={"width": 360, "height": 740})
    held = []
    context.route("**/v1/index/pack", lambda route: held.append(route))  # answered when the test lets it through
    page = context.new_page()
    page.goto(f"{url}/scan/")
    page.wait_for_selector("body[data-ready='1']")
    wait_until(page, "() => document.getElementById('trust').dataset.state === 'syncing'")
    assert "正在同步信任包" in page.inner_text("#trust")
    assert "尚未同步" not in page.inner_text("#trust")
    assert len(held) == 1
    held[0].continue_()
    page.wait_for_selector("body[data-sync='ok']")
    assert page.get_attribute("#trust", "data-state") == "fresh"
    context.close()


def test_the_first_open_offline_says_there_is_no_bundle(scan_server, chromium):
    """With the server out of reach and nothing stored, the line says there is no bundle yet (no endless "syncing")."""
    url, _ = scan_server
    context = chromium.new_context(viewport={"width": 360, "height": 740})
    context.route("**/v1/**", lambda route: route.abort())
    page = context.new_page()
    page.goto(f"{url}/scan/")
    page.wait_for_selector("body[data-sync='failed']")
    assert page.get_attribute("#trust", "data-state") == "none"
    assert "尚未同步信任包" in page.inner_text("#trust")
    context.close()


def test_a_refused_text_after_a_certificate_shows_no_details_of_it(scan_server, chromium, clerk):
    """A guard scans a good certificate, then garbage: the refusal shows nobody's name, kind, issuer or validity."""
    url, _ = scan_server
    cert = issue(url, clerk)
    context, page = open_page(chromium, url)
    assert type_in(page, cert["qr_text"]) == ("true", "ok")
    assert page.locator("#verdict .v-details").is_visible() and page.inner_text("#v-issuer")
    assert type_in(page, "CNHC:/1234")[0] == "false"
    assert not page.locator("#verdict .v-details").is_visible()
    for field in ("#v-name", "#v-id", "#v-kind", "#v-issuer", "#v-validity"):
        assert page.inner_text(field) == "", field
    context.close()
