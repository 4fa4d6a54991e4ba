"""Benchmark: what an unsigned bundle costs a device before it is refused.

An attacker serves an envelope whose bundle token names a real bundle signer but
carries a forged signature over a small DEFLATE bomb (about 64 MiB of JSON
squeezed into tens of kilobytes). Measured on one core, in this run:

- ``refuse_s``, ``refuse_peak_mib``: ``Bundle.load`` refusing it (the trust list is
  checked, then the bundle signature fails before anything is inflated);
- ``inflate_s``, ``inflate_peak_mib``: the baseline, inflating and parsing that
  payload, which is what loading did first before the hcert-bundle/2 format;
- ``ratio``: baseline time over refusal time.

Peak memory is Python's allocation peak (``tracemalloc``). The last line is one JSON object.
"""

from __future__ import annotations

import json
import time
import tracemalloc
import zlib

from _common import NOW, pin_one_core


def build() -> tuple[str, list[dict], str]:
    from app.trust import sign_trust_list
    from hcert_verifier import BUNDLE_FORMAT, BUNDLE_TYP, b64url_encode, json_compact, jwk_from_public_key
    from keys import KeyRing, generate_signing_key

    ts = int(NOW.timestamp())
    import tempfile
    from pathlib import Path

    root = KeyRing(Path(tempfile.mkdtemp()) / "root")
    root.ensure(now=ts)
    bundle_key = generate_signing_key()
    signer = {**jwk_from_public_key(bundle_key.public_key), "kid": bundle_key.kid}
    trust = sign_trust_list(root, [], [signer], version=1, now=NOW)
    # A JSON array 64 MiB deep in '[' compresses to about 64 KB of raw DEFLATE.
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = c.compress(b"[" * (64 * 1024 * 1024 - 16)) + c.flush()
    header = b64url_encode(json_compact({"alg": "ES256", "kid": bundle_key.kid, "typ": BUNDLE_TYP, "zip": "DEF"}))
    token = f"{header}.{b64url_encode(bomb)}.{'A' * 86}"
    envelope = json_compact({"format": BUNDLE_FORMAT, "trust_list": trust, "bundle": token}).decode()
    roots = [{"kty": "EC", "crv": "P-256", "x": r.x, "y": r.y, "kid": r.kid} for r in root.records]
    return envelope, roots, token


def measure(fn) -> tuple[float, float]:
    tracemalloc.start()
    t = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return elapsed, peak


def main() -> None:
    from hcert_verifier import Bundle, BundleError, HcertError, b64url_decode, inflate, json_object

    pin_one_core()
    envelope, roots, token = build()

    def refuse() -> None:
        try:
            Bundle.load(envelope, roots)
        except BundleError as e:
            assert "bad_signature" in e.reason, e.reason
        else:  # pragma: no cover
            raise AssertionError("the forged bundle was accepted")

    def baseline() -> None:
        # What loading did before: inflate and parse the unsigned payload first.
        try:
            json_object(inflate(b64url_decode(token.split(".")[1], "bundle"), 64 * 1024 * 1024), "bundle")
        except HcertError:
            pass

    refuse_s, refuse_peak = min(measure(refuse) for _ in range(3))
    inflate_s, inflate_peak = min(measure(baseline) for _ in range(3))
    print(f"envelope            {len(envelope):,} bytes (bundle token {len(token):,})")
    print(f"refused unsigned    {refuse_s * 1000:.1f} ms, peak {refuse_peak:.1f} MiB")
    print(f"baseline inflate    {inflate_s * 1000:.1f} ms, peak {inflate_peak:.1f} MiB")
    print(f"ratio               {inflate_s / refuse_s:.0f}x time, {inflate_peak / max(refuse_peak, 0.01):.0f}x memory")
    print(
        json.dumps(
            {
                "envelope_bytes": len(envelope),
                "refuse_s": round(refuse_s, 4),
                "refuse_peak_mib": round(refuse_peak, 1),
                "inflate_s": round(inflate_s, 4),
                "inflate_peak_mib": round(inflate_peak, 1),
                "ratio": round(inflate_s / refuse_s, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
