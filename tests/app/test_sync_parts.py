"""`hcert-verify sync --parts` against a running server: the index, then only the parts the
device lacks; and what it keeps when a server answers with a wrong or missing part."""

from __future__ import annotations

import json
import re
import urllib.request
from datetime import date

import httpx
import pytest

from hcert_verifier import load_roots
from hcert_verifier.sync import load_synced
from tests.app.test_sync import hv
from tests.conftest import WORKER, LoopbackServer, operator_credential


def _fetched(stdout: str) -> tuple[int, int]:
    m = re.search(r"fetched (\d+) bytes in (\d+) responses", stdout)
    assert m, stdout
    return int(m.group(1)), int(m.group(2))


def test_a_device_fetches_only_what_changed(server, tmp_path):
    url, data, _ = server
    device = tmp_path / "device"
    h = {"Authorization": f"Bearer {operator_credential(data, 'clerk')}"}
    worker = {**WORKER, "resident_since": date.fromordinal(date.today().toordinal() - 30).isoformat()}
    certs = [httpx.post(f"{url}/v1/certificates", json=worker, headers=h).json() for _ in range(2)]

    first = hv("sync", url, "--parts", "--roots", str(data / "root" / "roots.json"), "--data-dir", str(device))
    assert first.returncode == 0 and first.stdout.startswith("index ") and "updated" in first.stdout, first.stderr
    full_bytes, full_responses = _fetched(first.stdout)
    bundle = load_synced(device, load_roots(device / "roots.json"))
    assert bundle is not None and bundle.format == "hcert-index/1"
    assert {p.name for p in (device / "parts").iterdir()} == set(bundle.parts)
    assert full_responses == 1  # nothing in hand: the pack, the index and every part in one body
    pack = httpx.get(f"{url}/v1/index/pack", headers={"Accept-Encoding": "gzip"})
    assert pack.headers["content-encoding"] == "gzip" and pack.json()["format"] == "hcert-pack/1"
    assert len(pack.json()["parts"]) == len(bundle.parts)
    assert not (device / "bundle.json").exists()

    # The pack's answer carries the index's ETag: the next sync is a conditional GET answered 304.
    index = httpx.get(f"{url}/v1/index")
    assert (device / "index.etag").read_text() == index.headers["etag"]
    assert httpx.get(f"{url}/v1/index", headers={"If-None-Match": index.headers["etag"]}).status_code == 304
    again = hv("sync", url, "--parts", "--data-dir", str(device))
    assert again.returncode == 0 and "unchanged" in again.stdout
    again_bytes, again_responses = _fetched(again.stdout)
    assert again_responses == 1 and again_bytes < len(index.content)  # 304 Not Modified: headers, no index

    ok = hv("verify", "--data-dir", str(device), "--destination", "44", "--json", certs[0]["qr_text"])
    assert ok.returncode == 0 and json.loads(ok.stdout)["status_checked"], ok.stdout + ok.stderr

    httpx.post(f"{url}/v1/certificates/{certs[0]['id']}/revoke", json={"reason": "fever"}, headers=h)
    # A part no index names any more is deleted at the next sync; a file that is not a part
    # (another sync's write in flight) is left alone.
    (device / "parts" / ("A" * 43)).write_bytes(b"an old part")
    (device / "parts" / ".tmp-in-flight").write_bytes(b"being written")
    resync = hv("sync", url, "--parts", "--data-dir", str(device))
    assert resync.returncode == 0 and "updated" in resync.stdout, resync.stderr
    assert not (device / "parts" / ("A" * 43)).exists() and (device / "parts" / ".tmp-in-flight").exists()
    (device / "parts" / ".tmp-in-flight").unlink()
    day_bytes, day_responses = _fetched(resync.stdout)
    assert day_responses == 3  # the index, the changed status list, the manifest of its shard
    assert day_bytes < full_bytes
    revoked = hv("verify", "--data-dir", str(device), "--json", certs[0]["qr_text"])
    assert revoked.returncode == 1 and json.loads(revoked.stdout)["code"] == "revoked"
    assert json.loads(revoked.stdout)["status_checked"] is True  # the verdict came from the status list
    assert hv("verify", "--data-dir", str(device), certs[1]["qr_text"]).returncode == 0

    # A held part damaged on the device's disk is not a dead end: the next sync fetches it again.
    trust_list = json.loads((device / "index.json").read_text())["trust_list"]
    (device / "parts" / trust_list).write_bytes(b"damaged")
    healed = hv("sync", url, "--parts", "--data-dir", str(device))
    assert healed.returncode == 0, healed.stdout + healed.stderr
    assert load_synced(device, load_roots(device / "roots.json")) is not None
    assert hv("verify", "--data-dir", str(device), certs[1]["qr_text"]).returncode == 0

    # The whole bundle again replaces the index (and the other way round).
    assert hv("sync", url, "--data-dir", str(device)).returncode == 0
    assert (device / "bundle.json").exists() and not (device / "index.json").exists()
    assert hv("verify", "--data-dir", str(device), certs[0]["qr_text"]).returncode == 1


class _Proxy(LoopbackServer):
    """Forwards to the real server, but can answer one part with other bytes or 404."""

    def __init__(self, upstream: str):
        self.tamper: dict[str, bytes | None] = {}
        self.spoil_pack = False
        self.upstream = upstream
        super().__init__(self._answer)

    def _answer(self, path: str) -> tuple[int, bytes]:
        address = path.rsplit("/", 1)[-1]
        if path.startswith("/v1/parts/") and address in self.tamper:
            body = self.tamper[address]
            return (404, b"") if body is None else (200, body)
        try:
            with urllib.request.urlopen(self.upstream + path, timeout=10) as r:
                status, data = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, data = e.code, e.read()
        if path == "/v1/index/pack" and self.spoil_pack:
            pack = json.loads(data)
            pack["parts"][-1] = pack["parts"][-1].replace("e", "f", 1)  # one part no longer matches
            data = json.dumps(pack).encode()
        return status, data


@pytest.mark.parametrize("fault", ["part_mismatch", "part_missing"])
def test_a_wrong_or_missing_part_keeps_the_last_good_index(server, tmp_path, fault):
    url, data, _ = server
    device = tmp_path / "device"
    h = {"Authorization": f"Bearer {operator_credential(data, 'clerk')}"}
    worker = {**WORKER, "resident_since": date.fromordinal(date.today().toordinal() - 30).isoformat()}
    cert = httpx.post(f"{url}/v1/certificates", json=worker, headers=h).json()
    assert (
        hv("sync", url, "--parts", "--roots", str(data / "root" / "roots.json"), "--data-dir", str(device)).returncode
        == 0
    )
    good = (device / "index.json").read_bytes()
    httpx.post(f"{url}/v1/certificates/{cert['id']}/revoke", json={"reason": "fever"}, headers=h)
    proxy = _Proxy(url)
    try:
        new = json.loads(httpx.get(f"{url}/v1/index").text)
        held = {p.name for p in (device / "parts").iterdir()}
        from hcert_verifier import Bundle

        def upstream(address):
            return httpx.get(f"{url}/v1/parts/{address}").content

        def source(addresses):
            return {a: upstream(a) for a in addresses}

        lacking = sorted(Bundle.from_index(json.dumps(new), source, load_roots(device / "roots.json")).parts - held)
        assert len(lacking) == 2
        for address in lacking:
            proxy.tamper[address] = None if fault == "part_missing" else upstream(address).replace(b"e", b"f", 1)
        bad = hv("sync", proxy.url, "--parts", "--data-dir", str(device))
        assert bad.returncode == 1 and fault in bad.stderr and "last good" in bad.stderr, bad.stderr
        assert (device / "index.json").read_bytes() == good
        assert hv("verify", "--data-dir", str(device), cert["qr_text"]).returncode == 0  # not revoked yet here
    finally:
        proxy.close()


def test_a_spoiled_part_in_the_pack_is_fetched_on_its_own(server, tmp_path):
    url, data, _ = server
    proxy = _Proxy(url)
    proxy.spoil_pack = True
    try:
        device = tmp_path / "device"
        roots = str(data / "root" / "roots.json")
        first = hv("sync", proxy.url, "--parts", "--roots", roots, "--data-dir", str(device))
        assert first.returncode == 0 and "updated" in first.stdout, first.stderr
        assert _fetched(first.stdout)[1] == 2  # the pack, then the one part that did not match its address
        bundle = load_synced(device, load_roots(device / "roots.json"))
        assert {p.name for p in (device / "parts").iterdir()} == set(bundle.parts)
    finally:
        proxy.close()
