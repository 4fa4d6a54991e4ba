"""Benchmark: the offline verify pipeline (QR text -> verdict) against raw ECDSA.

Measures on one core, interleaved, best of several rounds, over distinct
certificates (no result is cached anywhere):

- ``verify_per_s``: ``Verifier.verify(qr_text)``: numeric decode, JWS split,
  header rules, key lookup, ES256, inflate, strict JSON, every claim, time,
  status-list lookup;
- ``raw_verify_per_s``: ``cryptography``'s ECDSA P-256 verify of the very same
  signatures and signing inputs (DER prepared in advance): the floor;
- ``pyjwt_per_s``: a naive ``jwt.api_jws.decode`` + inflate + ``json.loads``
  of the same tokens, with no claim checks.

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import zlib

from _common import NOW, interleave, pin_one_core, worker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--certs", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args()
    pin_one_core()

    import jwt
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    from hcert_verifier import JwksTrust, StatusLists, TrustedKey, Verifier, b64url_decode
    from issuer import Issuer, StatusBits, parse_application, sign_status_list
    from keys import generate_signing_key

    key = generate_signing_key()
    issuer = Issuer(authority="510321", signing_key=key)
    certs = [issuer.issue(parse_application(worker(i)), now=NOW, status=(0, i)) for i in range(args.certs)]
    trust = JwksTrust([TrustedKey(key.kid, key.public_key, issuer="510321")])
    from hcert_verifier import StatusList

    status = StatusList.from_token(
        sign_status_list(key, StatusBits(), uri="https://h.example/v1/status/510321/0", iat=0, exp=2**31, ttl=1),
        trust,
    )
    verifier = Verifier(trust, status=StatusLists([status]))
    at = int(NOW.timestamp()) + 3600
    qr_texts = [c.qr_text for c in certs]
    tokens = [c.token for c in certs]
    assert all(verifier.verify(q, at=at).valid for q in qr_texts)

    ecdsa = ec.ECDSA(hashes.SHA256())
    raw = []
    for token in tokens:
        signing_input, sig = token.rsplit(".", 1)
        s = b64url_decode(sig, "sig")
        raw.append((signing_input.encode(), encode_dss_signature(int.from_bytes(s[:32]), int.from_bytes(s[32:]))))
    public_key = key.public_key

    def pipeline() -> int:
        for q in qr_texts:
            verifier.verify(q, at=at)
        return len(qr_texts)

    def raw_verify() -> int:
        for data, der in raw:
            public_key.verify(der, data, ecdsa)
        return len(raw)

    def pyjwt_decode() -> int:
        for token in tokens:
            payload = jwt.api_jws.decode(token, key=public_key, algorithms=["ES256"])
            json.loads(zlib.decompress(payload, -15))
        return len(tokens)

    best = interleave({"pipeline": pipeline, "raw": raw_verify, "pyjwt": pyjwt_decode}, rounds=args.rounds)
    print(f"certificates          {len(certs)} distinct, QR text {len(qr_texts[0])} chars")
    print(f"raw ECDSA verify/s    {best['raw']:10.0f}")
    print(f"hcert verify/s        {best['pipeline']:10.0f}   ratio {best['pipeline/raw']:.3f}")
    print(f"pyjwt decode/s        {best['pyjwt']:10.0f}   ratio {best['pyjwt/raw']:.3f}")
    print("(ratio: median over rounds of back-to-back measurements; rates: best round)")
    print(
        json.dumps(
            {
                "verify_per_s": round(best["pipeline"]),
                "raw_verify_per_s": round(best["raw"]),
                "pyjwt_per_s": round(best["pyjwt"]),
                "ratio": round(best["pipeline/raw"], 3),
                "pyjwt_ratio": round(best["pyjwt/raw"], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
