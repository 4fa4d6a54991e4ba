"""Benchmark: issuance (checks, claims, JWS, QR text) and QR rendering, one core.

- ``issue_per_s``: ``Issuer.issue`` of distinct eligible applications: GB 11643
  checksum, GB/T 2260 region, residency, symptoms, quarantine, claims, DEFLATE,
  ES256 (RFC 6979), QR text. Parsing the JSON application is included.
- ``sign_per_s``: ``cryptography``'s ECDSA P-256 sign alone, the floor.
- ``qr_svg_per_s`` / ``qr_png_per_s``: zxing-cpp encoding (ISO mask selection)
  plus hcert's SVG/PNG writers; and the design card's ``qrcode`` SVG for
  comparison on the same text.
- ``qr_version``: QR version at level M of a typical worker certificate
  (three-character Chinese name, destination province, status entry).

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json

from _common import NOW, interleave, pin_one_core, worker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--certs", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    pin_one_core()

    import qrcode
    import qrcode.image.svg
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from issuer import Issuer, parse_application, qr_version, render_png, render_svg
    from keys import generate_signing_key

    key = generate_signing_key()
    issuer = Issuer(authority="510321", signing_key=key)
    apps = [worker(i) for i in range(args.certs)]
    typical = issuer.issue(parse_application(apps[0]), now=NOW, status=(0, 131071))
    texts = [issuer.issue(parse_application(a), now=NOW, status=(0, i)).qr_text for i, a in enumerate(apps[:100])]
    private = ec.generate_private_key(ec.SECP256R1())
    ecdsa = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
    signing_inputs = [t.encode() for t in texts]

    def issue() -> int:
        for i, a in enumerate(apps):
            issuer.issue(parse_application(a), now=NOW, status=(0, i))
        return len(apps)

    def sign() -> int:
        for data in signing_inputs:
            private.sign(data, ecdsa)
        return len(signing_inputs)

    def svg() -> int:
        for t in texts:
            render_svg(t)
        return len(texts)

    def png() -> int:
        for t in texts:
            render_png(t)
        return len(texts)

    def qrcode_svg() -> int:
        for t in texts[:10]:
            qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
            qr.add_data(t)
            qr.make(fit=True)
            qr.make_image(image_factory=qrcode.image.svg.SvgPathImage).to_string()
        return 10

    best = interleave(
        {"issue": issue, "sign": sign, "svg": svg, "png": png, "qrcode_svg": qrcode_svg}, rounds=args.rounds
    )
    version = qr_version(typical.qr_text)
    print(
        f"typical worker certificate: token {len(typical.token)} chars, QR text {len(typical.qr_text)}, "
        f"QR version {version} at M"
    )
    print(f"ECDSA P-256 sign/s        {best['sign']:9.0f}")
    print(f"issue/s                   {best['issue']:9.0f}   ratio to sign {best['issue'] / best['sign']:.3f}")
    print(f"QR SVG/s (zxing-cpp)      {best['svg']:9.0f}")
    print(f"QR PNG/s (zxing-cpp)      {best['png']:9.0f}")
    print(f"QR SVG/s (qrcode)         {best['qrcode_svg']:9.1f}   hcert is {best['svg'] / best['qrcode_svg']:.0f}x")
    print(
        json.dumps(
            {
                "issue_per_s": round(best["issue"]),
                "sign_per_s": round(best["sign"]),
                "qr_svg_per_s": round(best["svg"]),
                "qr_png_per_s": round(best["png"]),
                "qrcode_svg_per_s": round(best["qrcode_svg"], 1),
                "qr_version": version,
            }
        )
    )


if __name__ == "__main__":
    main()
