"""The page's own fast paths for a national bundle, held to the Python verifier in headless Chromium.

Status lists are inflated by ``web/scanner/src/verifier/inflate.ts`` (plain
TypeScript: a national bundle has 3,000 of them). Every stream here, well formed
or damaged, must give what zlib gives the Python verifier: the same bytes, or a
refusal (``decompression_failed``; ``payload_too_large`` past the limit).
Base64url is decoded in one native pass; every text, canonical or not, must give
the bytes or the ``bad_base64`` of ``hcert_verifier.b64url_decode``.
"""

from __future__ import annotations

import base64
import random
import zlib

import pytest

pytestmark = pytest.mark.browser

LIMIT = 40_000


def python_inflate(data: bytes, limit: int) -> bytes | str:
    """What the Python verifier accepts: exactly one zlib stream, nothing after it, at most ``limit`` bytes."""
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, limit)
    except zlib.error:
        return "decompression_failed"
    if d.unconsumed_tail:
        return "payload_too_large"
    if not d.eof or d.unused_data:
        return "decompression_failed"
    return out


def status_bits(rng: random.Random, size: int, revoked: float) -> bytes:
    data = bytearray(size)
    for _ in range(int(size * 4 * revoked)):
        i = rng.randrange(size * 4)
        data[i // 4] |= rng.choice((1, 2)) << (2 * (i % 4))
    return bytes(data)


def compress(data: bytes, level: int = 9, strategy: int = zlib.Z_DEFAULT_STRATEGY, **kw) -> bytes:
    c = zlib.compressobj(level, zlib.DEFLATED, 15, 9, strategy, **kw)
    return c.compress(data) + c.flush()


def streams() -> dict[str, bytes]:
    rng = random.Random(5)
    bits = status_bits(rng, 32768, 0.005)
    text = ("荣县卫生健康局 Rong County " * 300).encode()
    noise = rng.randbytes(5000)
    out = {
        "empty": zlib.compress(b""),
        "status-list": zlib.compress(bits, 9),
        "status-list-level-1": zlib.compress(bits, 1),
        "zeros": zlib.compress(bytes(32768)),
        "stored": zlib.compress(noise, 0),
        "stored-empty": zlib.compress(b"", 0),
        "random": zlib.compress(noise, 6),
        "text": zlib.compress(text, 9),
        "fixed-huffman": compress(text, strategy=zlib.Z_FIXED),
        "huffman-only": compress(text, strategy=zlib.Z_HUFFMAN_ONLY),
        "rle": compress(bits, strategy=zlib.Z_RLE),
        "one-byte": zlib.compress(b"\x01"),
        "exactly-the-limit": zlib.compress(bytes(LIMIT)),
        "past-the-limit": zlib.compress(bytes(LIMIT + 1)),
        "bomb": zlib.compress(bytes(4 * 1024 * 1024)),
        "preset-dictionary": compress(text, zdict=b"Rong County"),
        "gzip-not-zlib": compress(text)[:0] + __import__("gzip").compress(text),
        "raw-deflate-not-zlib": compress(text)[2:-4],
        "not-deflate-method": bytes([0x79, 0x9C]) + zlib.compress(text)[2:],
        "header-check-bits": bytes([0x78, 0x9D]) + zlib.compress(text)[2:],
        "nothing": b"",
        "header-only": zlib.compress(text)[:2],
    }
    good = zlib.compress(text, 9)
    out["truncated-checksum"] = good[:-1]
    out["no-checksum"] = good[:-4]
    out["truncated-data"] = good[: len(good) // 2]
    out["bad-checksum"] = good[:-1] + bytes([good[-1] ^ 1])
    out["trailing-byte"] = good + b"\x00"
    out["two-streams"] = good + good
    # Damaged streams: whatever zlib makes of a flipped bit, the page must make too.
    for name, base in (("status-list", out["status-list"]), ("text", good), ("fixed", out["fixed-huffman"])):
        for i in range(60):
            data = bytearray(base)
            pos = rng.randrange(2, len(data))
            data[pos] ^= 1 << rng.randrange(8)
            out[f"flip-{name}-{i}"] = bytes(data)
    return out


def test_the_page_inflates_every_stream_as_zlib_does(scan_server, chromium):
    url, _ = scan_server
    cases = streams()
    page = chromium.new_page()
    page.goto(f"{url}/scan/")
    page.wait_for_selector("body[data-ready='1']")
    got = page.evaluate(
        """([cases, limit]) => {
            const out = {};
            for (const [name, b64] of Object.entries(cases)) {
                const data = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
                try {
                    const bytes = window.hcert.inflateZlib(data, limit);
                    out[name] = btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
                } catch (e) {
                    out[name] = e instanceof window.hcert.VerificationError ? "!" + e.code : "threw " + String(e);
                }
            }
            return out;
        }""",
        [{name: base64.b64encode(data).decode() for name, data in cases.items()}, LIMIT],
    )
    page.close()
    disagreements = {}
    for name, data in cases.items():
        want = python_inflate(data, LIMIT)
        expected = want if isinstance(want, str) else base64.b64encode(want).decode()
        seen = got[name][1:] if got[name].startswith("!") else got[name]
        if seen != expected:
            disagreements[name] = (expected[:40], got[name][:80])
    assert not disagreements
    # The cases cover what they claim to: well formed, refused, and past the limit.
    outcomes = [python_inflate(d, LIMIT) for d in cases.values()]
    assert sum(isinstance(o, bytes) for o in outcomes) >= 12
    assert outcomes.count("decompression_failed") >= 20
    assert python_inflate(cases["past-the-limit"], LIMIT) == "payload_too_large"


def base64_texts() -> list[str]:
    rng = random.Random(11)
    texts = ["", "AA", "AAA", "AAAA", "A", "AAAAA", "_-_-", "AB==", "AB=C", "A B", "AQ", "AR", "AAE", "AAF"]
    for n in range(1, 40):
        good = base64.urlsafe_b64encode(rng.randbytes(n)).rstrip(b"=").decode()
        texts.append(good)
        for bad in (" ", "\t", "\n", "=", "+", "/", "é", "\u3000", "."):
            i = rng.randrange(len(good) + 1)
            texts.append(good[:i] + bad + good[i:])
        # Stray bits in the last character.
        last = good[-1]
        texts.append(good[:-1] + ("B" if last == "A" else chr(ord(last) ^ 1)))
    return texts


def test_the_page_decodes_base64url_as_the_python_verifier_does(scan_server, chromium):
    from hcert_verifier import HcertError, b64url_decode

    url, _ = scan_server
    texts = base64_texts()
    page = chromium.new_page()
    page.goto(f"{url}/scan/")
    page.wait_for_selector("body[data-ready='1']")
    got = page.evaluate(
        """(texts) => texts.map((t) => {
            try {
                return Array.from(window.hcert.b64urlDecode(t, "segment"));
            } catch (e) {
                return e instanceof window.hcert.VerificationError ? e.code : "threw " + String(e);
            }
        })""",
        texts,
    )
    page.close()
    expected = []
    for text in texts:
        try:
            expected.append(list(b64url_decode(text, "segment")))
        except HcertError as e:
            expected.append(e.code)
    assert {t: g for t, g, e in zip(texts, got, expected, strict=True) if g != e} == {}
    assert sum(e == "bad_base64" for e in expected) > 300
