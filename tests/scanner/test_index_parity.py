"""The index of parts: the same verdict from the Python verifier and from the scanner's TypeScript one.

A real `hcert serve` gives its index and parts; each case offers them (or a damaged copy) to
both `Bundle.from_index` and the page's `Bundle.fromIndex`, then checks the result against a
prior device state (`DeviceState.check` / `checkDeviceState`). Both must accept the same cases
and refuse the others with the same code: envelope shape and size, an address that is not one,
a part missing or not matching its address, and the index's own version counter (apart from
the bundle's) for rollback and reuse.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from app.trust import make_index
from hcert_verifier import Bundle, BundleError, b64url_decode, inflate, json_compact, json_object
from hcert_verifier.bundle import FRESH_TYP, INDEX_TYP, PartMissing, sha256_text
from hcert_verifier.state import DeviceState
from keys import KeyRing, sign_compact
from tests.conftest import operator_credential
from tests.scanner.test_bundle import index_payload
from tests.scanner.test_camera import issue

pytestmark = pytest.mark.browser

BROWSER_INDEX_RUN = """
async (cases) => {
  const h = window.hcert;
  const out = {};
  const bytes = (text) => new TextEncoder().encode(text);
  for (const c of cases) {
    try {
      const source = async (addresses) => {
        const got = new Map();
        for (const a of addresses) if (a in c.parts) got.set(a, bytes(c.parts[a]));
        return got;
      };
      const bundle = await h.Bundle.fromIndex(c.envelope, source, c.roots);
      const p = c.prior;
      const state = p === null ? h.emptyState() : {
        bundle: p.bundle && { version: p.bundle.version, issuedAt: p.bundle.issued_at, digest: p.bundle.digest },
        index: p.index && { version: p.index.version, issuedAt: p.index.issued_at, digest: p.index.digest },
        trustList: null, rules: {}, statusLists: {}, withdrawn: {}, fresh: p.fresh,
      };
      h.checkDeviceState(state, bundle, c.now);
      const fresh = [...bundle.lists.values()].map((l) => l.freshUntil).filter((u) => u !== null).sort();
      const statements = [...bundle.freshVersions].map(([p, v]) => [p, Number(v.version)]).sort();
      out[c.name] = ["ok", bundle.version, bundle.parts.size, bundle.statusListCount, fresh, statements];
    } catch (e) {
      out[c.name] = e instanceof h.BundleError ? [e.code, e.reason] : ["threw", String(e && e.stack || e)];
    }
  }
  return out;
}
"""


def python_index_verdict(case: dict[str, Any]) -> list[Any]:
    def source(addresses):
        out = {a: case["parts"][a].encode("ascii") for a in addresses if a in case["parts"]}
        if len(out) < len(set(addresses)):
            missing = next(a for a in addresses if a not in out)
            raise PartMissing(f"part {missing} is not at hand")
        return out

    try:
        bundle = Bundle.from_index(case["envelope"], source, case["roots"])
        prior = case["prior"]
        if prior is not None:
            DeviceState(bundle=prior["bundle"], index=prior["index"], fresh=prior.get("fresh") or {}).check(bundle)
    except BundleError as e:
        return [e.code, e.reason]
    fresh = sorted(lst.fresh_until for lst in bundle._status.values() if lst.fresh_until is not None)
    statements = sorted([p, v.version] for p, v in bundle.fresh_versions.items())
    return ["ok", bundle.version, len(bundle.parts), bundle.status_list_count, fresh, statements]


def _claims(token: str) -> dict[str, Any]:
    return json_object(inflate(b64url_decode(token.split(".")[1], "t"), 1 << 20), "t")


def cases(url: str, data) -> list[dict[str, Any]]:
    envelope_text = httpx.get(f"{url}/v1/index").text
    envelope = json.loads(envelope_text)
    payload = index_payload(envelope_text)
    roots = json.loads((data / "root" / "roots.json").read_text())["roots"]
    addresses = [envelope["trust_list"], *payload["rules"], *payload["shards"]]
    parts = {a: httpx.get(f"{url}/v1/parts/{a}").text for a in addresses}
    for shard in payload["shards"]:
        for a in json.loads(parts[shard])["status_lists"]:
            parts[a] = httpx.get(f"{url}/v1/parts/{a}").text
    status_list = next(a for a in parts if a not in addresses)
    digest = Bundle.from_index(envelope_text, lambda ask: {a: parts[a].encode() for a in ask}, roots).digest
    held = {"version": payload["version"], "issued_at": payload["issued_at"], "digest": digest}
    now = int(time.time())

    def case(name, *, env=envelope_text, parts=parts, prior=None):
        return {"name": name, "envelope": env, "parts": parts, "roots": roots, "prior": prior, "now": now}

    def without(address):
        return {a: t for a, t in parts.items() if a != address}

    def changed(address):
        text = parts[address]
        return {**parts, address: text[:-1] + ("B" if text.endswith("A") else "A")}

    higher = {**held, "version": payload["version"] + 1, "digest": "x" * 43}
    statement = payload["fresh"][0]  # the province of the server's authority vouches for its lists
    said = _claims(statement)
    rule_key = KeyRing(data / "keys" / "_rules" / said["province"]).active()
    bundle_key = KeyRing(data / "keys" / "_bundle").active()

    def vouched(*statements, name, prior=None):
        """An index re-signed with the server's bundle key over the same parts, with these statements."""
        lists = [parts[a] for shard in payload["shards"] for a in json.loads(parts[shard])["status_lists"]]
        env, made = make_index(
            parts[envelope["trust_list"]],
            [parts[a] for a in payload["rules"]],
            lists,
            payload["withdrawn"],
            key=bundle_key,
            version=payload["version"] + 1,
            issued_at=payload["issued_at"],
            expires=payload["expires"],
            fresh=list(statements),
        )
        return case(name, env=env, parts={a: b.decode() for a, b in made.items()}, prior=prior)

    def reindexed(name, **changes):
        """The index re-signed with the server's bundle key, its payload members changed."""
        env = {
            **envelope,
            "index": sign_compact(bundle_key, typ=INDEX_TYP, payload=json_compact({**payload, **changes})),
        }
        return case(name, env=json.dumps(env), prior=None)

    def restated(key=rule_key, **changes):
        return sign_compact(key, typ=FRESH_TYP, payload=json_compact({**said, **changes}))

    fresh_held = {said["province"]: {"version": said["version"], "digest": sha256_text(statement)}}
    fresh_cases = [
        vouched(statement, name="fresh: the province's statement"),
        vouched(name="fresh: none"),
        vouched(restated(lists="A" * 43), name="fresh: of other lists"),
        vouched(restated(version=said["version"] + 1), name="fresh: a newer one"),
        vouched(statement, name="fresh: the same one held", prior={"bundle": None, "index": None, "fresh": fresh_held}),
        vouched(
            statement,
            name="fresh: rolled back",
            prior={
                "bundle": None,
                "index": None,
                "fresh": {said["province"]: {"version": said["version"] + 1, "digest": "x" * 43}},
            },
        ),
        vouched(
            statement,
            name="fresh: version reused",
            prior={
                "bundle": None,
                "index": None,
                "fresh": {said["province"]: {"version": said["version"], "digest": "y" * 43}},
            },
        ),
        vouched(restated(bundle_key), name="fresh: signed by the bundle key"),
        vouched(restated(expires=said["issued_at"] + 7 * 86400 + 1), name="fresh: valid too long"),
        vouched(restated(expires=said["issued_at"]), name="fresh: expires when issued"),
        vouched(restated(note="x"), name="fresh: an extra member"),
        vouched(restated(version=1.5), name="fresh: a version that is not an integer"),
        vouched(restated(lists="not a digest"), name="fresh: lists not a digest"),
        vouched(restated(province="99"), name="fresh: a province without a rule key"),
        vouched(statement, statement, name="fresh: twice"),
        vouched(statement[:-5], name="fresh: a truncated signature"),
        vouched(
            restated(issued_at=payload["issued_at"] + 300, expires=payload["issued_at"] + 300 + 86400),
            name="fresh: issued within the leeway after the index",
        ),
        vouched(
            restated(issued_at=payload["issued_at"] + 301, expires=payload["issued_at"] + 301 + 86400),
            name="fresh: issued after the index",
        ),
        reindexed("fresh: null", fresh=None),
        reindexed("fresh: not a list", fresh=statement),
        reindexed("fresh: not a string", fresh=[7]),
        reindexed("fresh: more than 256", fresh=[statement] * 257),
    ]
    return [
        *fresh_cases,
        case("good"),
        case("good, same index held", prior={"bundle": None, "index": held}),
        # A bundle and an index each have their own counter: a higher bundle version does not refuse an index.
        case("good, a higher bundle held", prior={"bundle": higher, "index": None}),
        case("extra envelope member", env=json.dumps({**envelope, "extra": 1})),
        case("envelope of a bundle", env=json.dumps({**envelope, "format": "hcert-bundle/2"})),
        case("not JSON", env=envelope_text[:-1]),
        case("too large", env=envelope_text + " " * (1024 * 1024)),
        case("trust list not an address", env=json.dumps({**envelope, "trust_list": "../trust.jwt"})),
        case("index not a string", env=json.dumps({**envelope, "index": 7})),
        case("trust list missing", parts=without(envelope["trust_list"])),
        case("trust list changed", parts=changed(envelope["trust_list"])),
        case("shard missing", parts=without(payload["shards"][0])),
        case("shard changed", parts=changed(payload["shards"][0])),
        case("rules changed", parts=changed(payload["rules"][0])),
        case("status list missing", parts=without(status_list)),
        case("status list changed", parts=changed(status_list)),
        case("rolled back", prior={"bundle": None, "index": higher}),
        case("version reused", prior={"bundle": None, "index": {**held, "digest": "y" * 43}}),
        case("issued before the one held", prior={"bundle": None, "index": {**held, "issued_at": now + 60}}),
    ]


@pytest.fixture(scope="module")
def verdicts(scan_server, chromium):
    url, data = scan_server
    issue(url, {"Authorization": f"Bearer {operator_credential(data, 'parity-clerk')}"})  # so that a status list exists
    offered = cases(url, data)
    page = chromium.new_page()
    page.goto(f"{url}/scan/")
    page.wait_for_selector("body[data-ready='1']")
    browser = page.evaluate(BROWSER_INDEX_RUN, offered)
    page.close()
    return [(c["name"], python_index_verdict(c), browser[c["name"]]) for c in offered]


def test_the_same_index_verdict_in_python_and_in_the_browser(verdicts):
    expected = {
        "good": "ok",
        "good, same index held": "ok",
        "good, a higher bundle held": "ok",
        "trust list missing": "part_missing",
        "trust list changed": "part_mismatch",
        "shard missing": "part_missing",
        "shard changed": "part_mismatch",
        "rules changed": "part_mismatch",
        "status list missing": "part_missing",
        "status list changed": "part_mismatch",
        "rolled back": "bundle_rollback",
        "version reused": "version_reused",
        "issued before the one held": "bundle_rollback",
        "fresh: the province's statement": "ok",
        "fresh: none": "ok",
        "fresh: of other lists": "ok",
        "fresh: a newer one": "ok",
        "fresh: the same one held": "ok",
        "fresh: null": "ok",
        "fresh: issued within the leeway after the index": "ok",
        "fresh: rolled back": "freshness_rollback",
        "fresh: version reused": "version_reused",
    }
    for name, python, browser in verdicts:
        assert browser[0] == python[0] == expected.get(name, "bundle_invalid"), (name, python, browser)
        if python[0] == "ok":
            # the same version, parts named, status lists, lists a statement keeps current, statements
            assert browser[1:] == python[1:], name
    verdict = {name: python for name, python, _ in verdicts}
    assert verdict["fresh: the province's statement"][4] and verdict["fresh: a newer one"][4]
    assert verdict["fresh: none"][4] == verdict["fresh: of other lists"][4] == []
