"""Benchmark: a national-scale offline bundle on a device.

Builds a bundle as the national network would have it: 3,000 county authorities
with 2 keys each (one active, one retired), rules of all 34 provinces, and one
131,072-entry status list per authority with 1% of its issued half revoked.
Then measures, on one core:

- ``bundle_bytes`` (and gzip on the wire),
- ``load_s``: verifying and indexing it on the device (``Bundle.load``),
- ``sync_s``: ``hcert_verifier.sync.sync`` from a loopback HTTP server
  (fetch, verify, atomic write),
- ``verify_per_s`` with that bundle loaded (QR text to verdict, status checked,
  Guangdong's gate rules applied) against raw ECDSA verify of the same
  signatures in the same run (``ratio``).

The device side (sync, load, verify) runs in a fresh process, as a phone would
after a sync, not in the process that built 6,000 keys.

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import gzip
import http.server
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import NOW, interleave, national_authority, pin_one_core, public_jwk, worker


def build(n_authorities: int) -> tuple[str, list[dict], dict, list]:
    from app.trust import SAMPLE_RULES, sign_trust_list
    from hcert_verifier import BUNDLE_FORMAT, BUNDLE_TYP, RULES_TYP, json_compact
    from hcert_verifier.bundle import sha256_text
    from issuer import STATUS_LIST_SIZE, StatusBits, sign_status_list
    from keys import KeyRing, generate_signing_key, sign_compact

    ts = int(NOW.timestamp())
    tmp = Path(tempfile.mkdtemp())
    root = KeyRing(tmp / "root")
    root.ensure(now=ts)
    bundle_key = generate_signing_key()

    rng = random.Random(7)
    subs: dict[str, dict] = {}
    rule_tokens = []
    status_tokens = []
    signing = {}
    for p in range(34):
        province = f"{11 + p:02d}"
        rule_key = generate_signing_key()
        subs[province] = {"province": province, "authorities": [], "rule_signers": [public_jwk(rule_key)]}
        body = {**SAMPLE_RULES, "province": province, "version": 1, "issued_at": ts}
        rule_tokens.append(sign_compact(rule_key, typ=RULES_TYP, payload=json_compact(body)))
    for i in range(n_authorities):
        province, code, entry, signing[code] = national_authority(i, at=ts)
        subs[province]["authorities"].append(entry)
        bits = StatusBits(STATUS_LIST_SIZE, 2)
        # Revoked entries at even indexes; the benchmark certificates use odd ones.
        for idx in rng.sample(range(0, STATUS_LIST_SIZE, 2), STATUS_LIST_SIZE // 2 // 100):
            bits.set(idx, 1)
        status_tokens.append(
            sign_status_list(
                signing[code],
                bits,
                uri=f"https://hcert.example/v1/status/{code}/0",
                iat=ts,
                exp=ts + 7 * 86400,
                ttl=3600,
                version=1,
            )
        )
    trust = sign_trust_list(root, list(subs.values()), [public_jwk(bundle_key)], version=1, now=NOW)
    payload = {
        "format": BUNDLE_FORMAT,
        "version": 1,
        "issued_at": ts,
        "expires": ts + 7 * 86400,
        "trust_list": {"version": 1, "sha256": sha256_text(trust)},
        "rules": rule_tokens,
        "status_lists": status_tokens,
        "withdrawn": [],
    }
    bundle = sign_compact(bundle_key, typ=BUNDLE_TYP, payload=json_compact(payload))
    token = json_compact({"format": BUNDLE_FORMAT, "trust_list": trust, "bundle": bundle}).decode()
    roots = [{"kty": "EC", "crv": "P-256", "x": r.x, "y": r.y, "kid": r.kid} for r in root.records]
    return token, roots, signing, [(code, key) for code, key in list(signing.items())[:8]]


def prepare(n_authorities: int, n_certs: int, out: Path) -> float:
    """Build the bundle and sign the benchmark certificates; save them for the device process."""
    from hcert_verifier import qr_encode
    from issuer import Issuer, parse_application

    t = time.perf_counter()
    token, roots, _, issuers = build(n_authorities)
    build_s = time.perf_counter() - t
    certs = []
    # Certificates of 8 authorities, each inside its authority's scope, at odd (unrevoked) status indexes.
    for n, (code, key) in enumerate(issuers):
        iss = Issuer(authority=code, signing_key=key)
        for i in range(n_certs // len(issuers)):
            app = parse_application(worker(i + n * 1000))
            claims = iss.claims(app, now=NOW, jti=f"{n:02d}{i:010d}"[:12], status=(0, 2 * i + 1))
            claims["o"] = code
            certs.append(iss.sign(claims)[1])
    (out / "bundle.json").write_text(token)
    (out / "roots.json").write_text(json.dumps({"roots": roots}))
    (out / "certs.json").write_text(json.dumps({"tokens": certs, "qr": [qr_encode(c) for c in certs]}))
    return build_s


def device(folder: Path, rounds: int) -> dict[str, float]:
    """What a checkpoint device does, in a fresh process: sync the bundle, load it, verify."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    from hcert_verifier import Bundle, Verifier, b64url_decode, load_roots
    from hcert_verifier.sync import sync

    token = (folder / "bundle.json").read_text()
    roots = load_roots(folder / "roots.json")
    body = token.encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", '"b1"')
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    dev = Path(tempfile.mkdtemp())
    (dev / "roots.json").write_text(json.dumps({"roots": roots}))
    t = time.perf_counter()
    sync(f"http://127.0.0.1:{httpd.server_address[1]}", data_dir=dev, at=NOW)
    sync_s = time.perf_counter() - t
    httpd.shutdown()
    httpd.server_close()
    loads = []
    for _ in range(3):
        t = time.perf_counter()
        bundle = Bundle.from_file(dev / "bundle.json", roots)
        loads.append(time.perf_counter() - t)
    certs = json.loads((folder / "certs.json").read_text())
    qr_texts, tokens = certs["qr"], certs["tokens"]
    verifier = Verifier.from_bundle(bundle)
    at = int(NOW.timestamp()) + 3600
    results = [verifier.verify(q, at=at, destination="44") for q in qr_texts]
    assert all(r.valid for r in results), {r.code for r in results}
    ecdsa = ec.ECDSA(hashes.SHA256())
    raw = []
    for tok in tokens:
        signing_input, sig = tok.rsplit(".", 1)
        s = b64url_decode(sig, "sig")
        kid = json.loads(b64url_decode(tok.split(".")[0], "h"))["kid"]
        raw.append(
            (
                bundle.key(kid).public_key,
                signing_input.encode(),
                encode_dss_signature(int.from_bytes(s[:32]), int.from_bytes(s[32:])),
            )
        )

    def with_rules() -> int:
        for q in qr_texts:
            verifier.verify(q, at=at, destination="44")
        return len(qr_texts)

    def without_rules() -> int:
        for q in qr_texts:
            verifier.verify(q, at=at)
        return len(qr_texts)

    def raw_verify() -> int:
        for pub, data, der in raw:
            pub.verify(der, data, ecdsa)
        return len(raw)

    best = interleave({"rules": with_rules, "plain": without_rules, "raw": raw_verify}, rounds=rounds)
    return {
        "sync_s": sync_s,
        "load_s": min(loads),
        "authorities": len(bundle.authorities),
        "status_lists": bundle.status_list_count,
        **best,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--authorities", type=int, default=3000)
    parser.add_argument("--certs", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--device", help=argparse.SUPPRESS)
    args = parser.parse_args()
    pin_one_core()
    if args.device:
        print(json.dumps(device(Path(args.device), args.rounds)))
        return
    folder = Path(tempfile.mkdtemp())
    build_s = prepare(args.authorities, args.certs, folder)
    size = (folder / "bundle.json").stat().st_size
    wire = len(gzip.compress((folder / "bundle.json").read_bytes(), 6))
    # The device side runs in a fresh process, as on a phone after a sync.
    out = subprocess.run(
        [sys.executable, __file__, "--device", str(folder), "--rounds", str(args.rounds)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    d = json.loads(out.strip().splitlines()[-1])
    print(
        f"authorities {d['authorities']} x 2 keys, 34 provinces' rules, {d['status_lists']} status lists"
        f" (built in {build_s:.1f} s)"
    )
    print(f"bundle size        {size:,} bytes; {wire:,} gzip on the wire")
    print(f"sync (loopback)    {d['sync_s']:.2f} s (fetch, verify every signature, atomic write)")
    print(f"device load        {d['load_s']:.2f} s (read, verify every signature, index keys)")
    print(f"raw ECDSA verify/s {d['raw']:9.0f}")
    print(f"verify/s           {d['plain']:9.0f}   ratio {d['plain/raw']:.3f}  (status checked)")
    print(f"verify/s + rules   {d['rules']:9.0f}   ratio {d['rules/raw']:.3f}  (Guangdong gate rules)")
    print("(ratio: median over rounds of back-to-back measurements; rates: best round)")
    print(
        json.dumps(
            {
                "bundle_bytes": size,
                "bundle_wire_bytes": wire,
                "load_s": round(d["load_s"], 3),
                "sync_s": round(d["sync_s"], 3),
                "verify_per_s": round(d["plain"]),
                "verify_rules_per_s": round(d["rules"]),
                "raw_verify_per_s": round(d["raw"]),
                "ratio": round(d["plain/raw"], 3),
                "ratio_with_rules": round(d["rules/raw"], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
