"""Benchmark: bytes on the wire for a device's sync at national size, the whole bundle against the index of parts.

Builds the national trust material as ``bench/bundle.py`` does (3,000 authorities
with 2 keys each, rules of 34 provinces), with status lists from one of two models:

- ``old``: one 131,072-entry list per authority with 655 entries revoked (1% of
  its issued half), as ``bench/bundle.py`` has them;
- ``traffic``: lists sized by measured traffic. ``--per-day`` certificates a day
  nationally over ``--authorities`` authorities (q a day each), ``--revoked``
  of them revoked. A list takes ``--list-days`` days of an authority's
  issuance in its half (size: the next power of two of 2 x q x list-days), and
  leaves the bundle ``--validity`` days after it closes, when all its
  certificates have expired. Each authority's current list opened a random
  number of days ago, so it holds that many days of revocations; the previous
  one is still there when it closed less than ``--validity`` days ago.

Then, over loopback HTTP (one kept-alive connection, gzip as the server sends it:
bodies of 1 KiB or more, with the response headers the hcert server really sends,
measured from it in the same run), the real device code (``hcert_verifier.sync``):

- ``bundle_full``: ``GET /v1/bundle`` without gzip, computed (the body and the headers);
  ``bundle_full_gzip``: ``sync`` on an empty device, which asks for gzip (every sync of
  the whole bundle costs this);
- ``index_full``: ``sync_parts`` on an empty device (``/v1/index/pack``: the index and
  every part in one gzipped body); ``index_full_parts``: the same from a server without
  the pack (every part on its own);
- ``index_day``: ``sync_parts`` after a day in which ``--changed`` of the lists
  changed (each gets 10 more revocations and a new version): the new index, the
  manifests of the touched shards and the changed lists;
- ``index_day_resigned``: the same day when, besides, the lists whose tokens
  reached half of their validity were re-signed (``--status-validity`` days: a
  list is re-signed every half of it, so 2 / validity of the unchanged lists a day);
- ``index_day_vouched``: a day in steady state with freshness statements
  (docs/FORMAT.md section 7.5): ``--changed`` of the lists changed, every province's
  statement re-signed, and no list re-signed for its ``exp``.

Every index carries the 34 provinces' freshness statements, as a server holding the
provinces' rule keys makes it, unless ``--no-fresh`` (no statements, and
``index_day_vouched`` is not measured).

Bytes are what the device received (status lines, headers, bodies) and what it
sent (request lines and headers). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import gzip
import http.server
import json
import random
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import NOW, national_authority, public_jwk

TS = int(NOW.timestamp())


def _status_models(args: argparse.Namespace, rng: random.Random) -> list[list[tuple[int, int]]]:
    """Return, per authority, its lists as (size, revoked entries)."""
    out = []
    for _ in range(args.authorities):
        if args.model == "old":
            out.append([(131_072, 655)])
            continue
        q = args.per_day / args.authorities
        size = 1
        while size < 2 * q * args.list_days:
            size *= 2
        opened = rng.uniform(0, args.list_days)  # days since the current list opened
        lists = [(size, round(args.revoked * q * opened))]
        if opened < args.validity:  # the previous list closed `opened` days ago: still live
            lists.append((size, round(args.revoked * q * args.list_days)))
        out.append(lists)
    return out


class World:
    """The national material: trust list, rules, and every authority's signed status lists."""

    def __init__(self, args: argparse.Namespace) -> None:
        from app.trust import SAMPLE_RULES, sign_trust_list
        from hcert_verifier import RULES_TYP, json_compact
        from keys import KeyRing, generate_signing_key, sign_compact

        self.rng = random.Random(7)
        tmp = Path(tempfile.mkdtemp())
        root = KeyRing(tmp / "root")
        root.ensure(now=TS)
        self.bundle_key = generate_signing_key()

        subs: dict[str, dict] = {}
        self.rules = []
        self.rule_keys = {}
        self.statements: dict[str, tuple[str, str, int, int]] = {}  # province -> (token, digest, version, expires)
        self.fresh = args.fresh
        for p in range(34):
            province = f"{11 + p:02d}"
            rule_key = self.rule_keys[province] = generate_signing_key()
            subs[province] = {"province": province, "authorities": [], "rule_signers": [public_jwk(rule_key)]}
            body = {**SAMPLE_RULES, "province": province, "version": 1, "issued_at": TS}
            self.rules.append(sign_compact(rule_key, typ=RULES_TYP, payload=json_compact(body)))
        self.keys = {}
        self.bits = {}  # (code, lst) -> (StatusBits, version)
        self.revoked = 0
        models = _status_models(args, self.rng)
        from issuer import StatusBits

        for i in range(args.authorities):
            province, code, entry, self.keys[code] = national_authority(i, at=TS)
            subs[province]["authorities"].append(entry)
            for lst, (size, revoked) in enumerate(models[i]):
                bits = StatusBits(size, 2)
                # Revoked entries anywhere in the list (indexes are random; its first half is used).
                for idx in self.rng.sample(range(size), min(revoked, size // 2)):
                    bits.set(idx, 1)
                self.bits[(code, lst)] = [bits, 1]
                self.revoked += min(revoked, size // 2)
        self.trust = sign_trust_list(root, list(subs.values()), [public_jwk(self.bundle_key)], version=1, now=NOW)
        self.roots = [{"kty": "EC", "crv": "P-256", "x": r.x, "y": r.y, "kid": r.kid} for r in root.records]
        self.tokens = {ref: self._sign(ref, iat=TS) for ref in self.bits}

    def _sign(self, ref: tuple[str, int], *, iat: int) -> str:
        from issuer import sign_status_list

        bits, version = self.bits[ref]
        code, lst = ref
        return sign_status_list(
            self.keys[code],
            bits,
            uri=f"https://hcert.example/v1/status/{code}/{lst}",
            iat=iat,
            exp=iat + 7 * 86400,
            ttl=3600,
            version=version,
        )

    def change(self, refs: list[tuple[str, int]], *, at: int) -> None:
        """Revoke 10 more entries in each list and re-sign it with the next version."""
        for ref in refs:
            bits, version = self.bits[ref]
            for _ in range(10):
                bits.set(self.rng.randrange(bits.size), 1)
            self.bits[ref] = [bits, version + 1]
            self.tokens[ref] = self._sign(ref, iat=at)

    def resign(self, refs: list[tuple[str, int]], *, at: int) -> None:
        """Re-sign lists unchanged (a fresh iat and exp), as the server does at half their validity."""
        for ref in refs:
            self.tokens[ref] = self._sign(ref, iat=at)

    def vouch(self, *, at: int, renew: bool = False) -> list[str]:
        """Each province's freshness statement over its lists, kept as the server keeps it
        (same lists and versions, more than three quarters of 7 days left) unless ``renew``."""
        from hcert_verifier import json_compact
        from hcert_verifier.bundle import FRESH_FORMAT, FRESH_TYP, freshness_digest
        from keys import sign_compact

        out = []
        for province, key in sorted(self.rule_keys.items()):
            digest = freshness_digest(
                (f"https://hcert.example/v1/status/{code}/{lst}", version)
                for (code, lst), (_, version) in self.bits.items()
                if code.startswith(province)
            )
            held = self.statements.get(province)
            if held is None or renew or held[1] != digest or held[3] - at <= 7 * 86400 * 3 // 4:
                version = held[2] + 1 if held else 1
                body = {
                    "format": FRESH_FORMAT,
                    "province": province,
                    "version": version,
                    "issued_at": at,
                    "expires": at + 7 * 86400,
                    "lists": digest,
                }
                token = sign_compact(key, typ=FRESH_TYP, payload=json_compact(body))
                held = self.statements[province] = (token, digest, version, at + 7 * 86400)
            out.append(held[0])
        return out

    def bundle(self, *, version: int, at: int) -> str:
        from hcert_verifier import BUNDLE_FORMAT, BUNDLE_TYP, json_compact
        from hcert_verifier.bundle import sha256_text
        from keys import sign_compact

        payload = {
            "format": BUNDLE_FORMAT,
            "version": version,
            "issued_at": at,
            "expires": at + 7 * 86400,
            "trust_list": {"version": 1, "sha256": sha256_text(self.trust)},
            "rules": self.rules,
            "status_lists": list(self.tokens.values()),
            "withdrawn": [],
        }
        token = sign_compact(self.bundle_key, typ=BUNDLE_TYP, payload=json_compact(payload))
        return json_compact({"format": BUNDLE_FORMAT, "trust_list": self.trust, "bundle": token}).decode()

    def index(self, *, version: int, at: int, renew: bool = False) -> tuple[str, dict[str, bytes]]:
        from app.trust import make_index

        fresh = self.vouch(at=at, renew=renew) if self.fresh else []
        return make_index(
            self.trust,
            self.rules,
            list(self.tokens.values()),
            [],
            key=self.bundle_key,
            version=version,
            issued_at=at,
            expires=at + 7 * 86400,
            fresh=fresh,
        )


def real_headers() -> dict[str, list[tuple[str, str]]]:
    """Return the headers the hcert server sends with an index, a part and a bundle (less the per-body ones)."""
    import datetime as dt

    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.settings import Settings

    class Clock:
        def __call__(self) -> dt.datetime:
            return NOW

    data = Path(tempfile.mkdtemp())
    app = create_app(Settings(data_dir=data, dev=True), clock=Clock())
    skip = {"content-length", "etag", "content-encoding", "vary"}
    out = {}
    with TestClient(app) as client:
        index = client.get("/v1/index", headers={"Accept-Encoding": "gzip"})
        address = json.loads(index.text)["trust_list"]
        part = client.get(f"/v1/parts/{address}", headers={"Accept-Encoding": "gzip"})
        bundle = client.get("/v1/bundle", headers={"Accept-Encoding": "gzip"})
        for name, r in (("index", index), ("part", part), ("bundle", bundle)):
            out[name] = [(k, v) for k, v in r.headers.items() if k.lower() not in skip]
    return out


class Server:
    """Serves the bundle, the index and parts as the hcert server would (headers, gzip, 304); counts bytes."""

    def __init__(self, headers: dict[str, list[tuple[str, str]]]) -> None:
        self.bundle = b""
        self.index = b""
        self.pack = b""  # the index with all its parts, or nothing (404)
        self.parts: dict[str, bytes] = {}
        self.gzipped: dict[int, bytes] = {}  # level 9, as the server's GZipMiddleware
        self.received = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server.received += len(self.requestline) + 2 + sum(len(k) + len(v) + 4 for k, v in self.headers.items())
                server.received += 2
                if self.path == "/v1/index/pack":
                    body, kind = (server.pack or None), "index"
                elif self.path == "/v1/bundle":
                    body, kind = server.bundle, "bundle"
                elif self.path == "/v1/index":
                    body, kind = server.index, "index"
                else:
                    body, kind = server.parts.get(self.path.rsplit("/", 1)[-1]), "part"
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                etag = f'"{hash(body) & 0xFFFFFFFF:x}"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                for k, v in headers[kind]:
                    if k.lower() not in ("date", "server"):
                        self.send_header(k, v)
                self.send_header("ETag", etag)
                if len(body) >= 1024 and "gzip" in self.headers.get("Accept-Encoding", ""):
                    key = hash(body)
                    if key not in server.gzipped:
                        server.gzipped[key] = gzip.compress(body, 9)
                    body = server.gzipped[key]
                    self.send_header("Content-Encoding", "gzip")
                    self.send_header("Vary", "Accept-Encoding")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def breakdown(world: World) -> None:
    """Print the gzipped size (level 9, as the server sends) of the trust list, the status lists and the rules.

    Also, per status list on average: its token's pieces, and its bitmap as zlib carries it
    against the information it holds (log2 of the number of ways to place its revoked entries).
    """
    import math

    def gz(text: str) -> int:
        return len(gzip.compress(text.encode(), 9))

    tokens = list(world.tokens.values())
    figures = {
        "trust_list_gzip": gz(world.trust),
        "status_lists_gzip": gz("".join(tokens)),
        "rules_gzip": gz("".join(world.rules)),
    }
    bitmap = bound = 0
    for bits, _ in world.bits.values():
        revoked = int.from_bytes(bytes(bits.data), "big").bit_count()  # a revoked entry is value 1: one bit
        bitmap += len(bits.compressed())
        ways = math.lgamma(bits.size + 1) - math.lgamma(revoked + 1) - math.lgamma(bits.size - revoked + 1)
        bound += ways / math.log(2) / 8
    n = len(tokens)
    header, payload, signature = (sum(len(t.split(".")[i]) for t in tokens) / n for i in range(3))
    figures |= {
        "status_list_gzip_each": round(figures["status_lists_gzip"] / n),
        "token_chars_each": {"header": round(header), "payload": round(payload), "signature": round(signature)},
        "bitmap_zlib_each": round(bitmap / n),
        "bitmap_information_each": round(bound / n),
    }
    for name, value in figures.items():
        print(f"{name}: {value}")
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["old", "traffic"], default="old")
    parser.add_argument("--authorities", type=int, default=3000)
    parser.add_argument("--per-day", type=float, default=3_000_000, help="certificates a day, nationally")
    parser.add_argument("--revoked", type=float, default=0.01, help="share of certificates revoked")
    parser.add_argument("--validity", type=float, default=14, help="certificate validity, days")
    parser.add_argument("--list-days", type=float, default=21, help="days of issuance in one list's half")
    parser.add_argument("--changed", type=float, default=0.01, help="share of lists changed in a day")
    parser.add_argument("--status-validity", type=float, default=7, help="HCERT_STATUS_VALIDITY, days")
    parser.add_argument(
        "--no-fresh", dest="fresh", action="store_false", help="indexes without the provinces' freshness statements"
    )
    parser.add_argument(
        "--breakdown", action="store_true", help="print where a full sync's bytes go (gzip of each part) and stop"
    )
    args = parser.parse_args()

    from hcert_verifier.sync import sync, sync_parts

    world = World(args)
    if args.breakdown:
        breakdown(world)
        return
    refs = sorted(world.bits)
    headers = real_headers()
    server = Server(headers)
    results: dict[str, object] = {
        "model": args.model,
        "authorities": args.authorities,
        "status_lists": len(refs),
        "revoked_entries": world.revoked,
    }
    print(f"{args.model} model: {args.authorities} authorities, {len(refs)} status lists, {world.revoked:,} revoked")
    try:
        device = Path(tempfile.mkdtemp())

        def fresh_device(name: str) -> Path:
            d = device / name
            d.mkdir()
            (d / "roots.json").write_text(json.dumps({"roots": world.roots}))
            return d

        def measure(name: str, fn, *, at: int, extra: int = 0, **kw) -> dict[str, int]:
            server.received = 0
            r = fn(server.url, at=at + 3600, timeout=1200, **kw)
            out = {"down": r.bytes_fetched + extra, "up": server.received, "responses": r.responses}
            results[name] = out
            print(
                f"{name:20s} {out['down']:>10,} bytes down {out['up']:>8,} up  in {out['responses']:>5} responses",
                flush=True,
            )
            return out

        server.bundle = world.bundle(version=1, at=TS).encode()
        # Without gzip (no device asks so): the body and the headers the server sends, computed.
        head = sum(len(k) + len(v) + 4 for k, v in headers["bundle"]) + len("HTTP/1.1 200 OK\r\n") + 2
        results["bundle_full"] = {"down": len(server.bundle) + head, "responses": 1}
        print(f"{'bundle_full':20s} {results['bundle_full']['down']:>10,} bytes down", flush=True)
        measure("bundle_full_gzip", sync, at=TS, data_dir=fresh_device("b"))
        envelope, parts = world.index(version=1, at=TS)
        server.index, server.parts = envelope.encode(), dict(parts)
        measure("index_full_parts", sync_parts, at=TS, data_dir=fresh_device("p"))  # one part at a time
        from hcert_verifier.bundle import PACK_FORMAT

        pack = {"format": PACK_FORMAT, "index": envelope, "parts": [p.decode() for p in parts.values()]}
        server.pack = json.dumps(pack).encode()
        dev = fresh_device("i")
        measure("index_full", sync_parts, at=TS, data_dir=dev)  # the pack
        server.pack = b""
        # A typical day: some lists change.
        day = TS + 86400
        changed = world.rng.sample(refs, max(1, round(len(refs) * args.changed)))
        world.change(changed, at=day)
        envelope, parts = world.index(version=2, at=day)
        server.index, server.parts = envelope.encode(), {**server.parts, **parts}
        measure("index_day", sync_parts, at=day, data_dir=dev)
        # The same day, when the lists that reached half their validity were re-signed too.
        dev2 = fresh_device("j")
        envelope, parts = world.index(version=3, at=day)
        server.index, server.parts = envelope.encode(), {**server.parts, **parts}
        measure("_prime", sync_parts, at=day, data_dir=dev2)
        results.pop("_prime")
        unchanged = [r for r in refs if r not in set(changed)]
        resigned = world.rng.sample(unchanged, round(len(unchanged) * min(1.0, 2 / args.status_validity)))
        changed2 = world.rng.sample(unchanged, max(1, round(len(refs) * args.changed)))
        world.change(changed2, at=day + 86400)
        world.resign([r for r in resigned if r not in set(changed2)], at=day + 86400)
        envelope, parts = world.index(version=4, at=day + 86400)
        server.index, server.parts = envelope.encode(), {**server.parts, **parts}
        measure("index_day_resigned", sync_parts, at=day + 86400, data_dir=dev2)
        results["resigned_lists"] = len(resigned)
        if args.fresh:
            # A day in steady state with freshness statements: the lists that changed are the
            # only new lists; every province's statement is new (the conservative case).
            day3 = day + 2 * 86400
            changed3 = world.rng.sample(refs, max(1, round(len(refs) * args.changed)))
            world.change(changed3, at=day3)
            envelope, parts = world.index(version=5, at=day3, renew=True)
            server.index, server.parts = envelope.encode(), {**server.parts, **parts}
            measure("index_day_vouched", sync_parts, at=day3, data_dir=dev2)
            # The lists a statement keeps current past their own exp, as the device sees them.
            from hcert_verifier import load_roots
            from hcert_verifier.sync import load_synced

            held = load_synced(dev2, load_roots(dev2 / "roots.json"))
            assert held is not None and len(held.fresh_versions) == 34, "every province's statement was accepted"
            results["vouched_lists"] = sum(1 for s in held._status.values() if s.fresh_until is not None)
    finally:
        server.close()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
