/** P-256 public keys as JWK, RFC 7638 thumbprints and hcert key ids (hcert_verifier._jwk). */

import { b64urlDecode, b64urlEncode, isObject, utf8 } from "./codec";
import { TrustError, VerificationError } from "./errors";
import { onCurve, sha256 } from "./p256";

/** Characters of the RFC 7638 thumbprint kept as the key id. */
export const KID_LENGTH = 11;

/**
 * A P-256 public key: its coordinates (for the thumbprint) and the WebCrypto
 * key, imported on first use (a national trust list has 6,000 keys; a scan
 * needs one).
 */
export class PublicKey {
  private imported: Promise<CryptoKey> | null = null;

  constructor(
    readonly x: string,
    readonly y: string,
  ) {}

  /** The WebCrypto key; rejects with TrustError if the point is not on the curve. */
  key(): Promise<CryptoKey> {
    // The uncompressed point (0x04 || x || y): the same check as a JWK import, at a quarter of its cost.
    this.imported ??= Promise.resolve()
      .then(() => {
        const point = new Uint8Array(65);
        point[0] = 4;
        point.set(b64urlDecode(this.x, "JWK x"), 1);
        point.set(b64urlDecode(this.y, "JWK y"), 33);
        return crypto.subtle.importKey("raw", point, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
      })
      .catch(() => {
        throw new TrustError("JWK point is not on the P-256 curve");
      });
    return this.imported;
  }
}

/**
 * Check a JWK's members and return the key without importing it yet
 * (`publicKeyFromJwk` also imports it, which checks the point).
 */
export function publicKeyMembers(jwk: unknown): PublicKey {
  return publicKeyParts(jwk)[0];
}

/** `publicKeyMembers`, with the decoded coordinates. */
function publicKeyParts(jwk: unknown): [PublicKey, Uint8Array, Uint8Array] {
  if (!isObject(jwk)) throw new TrustError("a JWK must be a JSON object");
  if (jwk["kty"] !== "EC" || jwk["crv"] !== "P-256") throw new TrustError("only EC P-256 keys are trusted");
  if ("d" in jwk) throw new TrustError("a trust source must not contain private keys");
  const x = jwk["x"];
  const y = jwk["y"];
  let xb: Uint8Array;
  let yb: Uint8Array;
  try {
    if (typeof x !== "string" || typeof y !== "string") throw new TrustError("");
    xb = b64urlDecode(x, "JWK x");
    yb = b64urlDecode(y, "JWK y");
  } catch (e) {
    if (e instanceof TrustError || e instanceof VerificationError) {
      throw new TrustError("JWK x and y must be base64url strings");
    }
    throw e;
  }
  if (xb.length !== 32 || yb.length !== 32) throw new TrustError("JWK x and y must be 32 bytes each");
  return [new PublicKey(x as string, y as string), xb, yb];
}

/**
 * `publicKeyMembers`, and the point checked on the curve in place, without
 * importing the key (the import, on first use, then cannot fail).
 */
export function publicKeyOnCurve(jwk: unknown): PublicKey {
  const [key, x, y] = publicKeyParts(jwk);
  if (!onCurve(x, y)) {
    throw new TrustError("JWK point is not on the P-256 curve");
  }
  return key;
}

/** Load a P-256 public key from a JWK, refusing private members, other curves and points off the curve. */
export async function publicKeyFromJwk(jwk: unknown): Promise<PublicKey> {
  const key = publicKeyMembers(jwk);
  await key.key();
  return key;
}

/** Return the RFC 7638 SHA-256 thumbprint (43 base64url characters). */
export function jwkThumbprint(key: PublicKey): string {
  return b64urlEncode(sha256(utf8(`{"crv":"P-256","kty":"EC","x":"${key.x}","y":"${key.y}"}`)));
}

/** Return the hcert key id: the first 11 characters of the thumbprint. */
export function kidFor(key: PublicKey): string {
  return jwkThumbprint(key).slice(0, KID_LENGTH);
}
