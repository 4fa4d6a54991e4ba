/** P-256 public keys as JWK, RFC 7638 thumbprints and hcert key ids (hcert_verifier._jwk). */

import { b64urlDecode, b64urlEncode, isObject, utf8 } from "./codec";
import { TrustError, VerificationError } from "./errors";

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
    this.imported ??= crypto.subtle
      .importKey("jwk", { kty: "EC", crv: "P-256", x: this.x, y: this.y, ext: true }, { name: "ECDSA", namedCurve: "P-256" }, false, [
        "verify",
      ])
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
  return new PublicKey(x as string, y as string);
}

/** Load a P-256 public key from a JWK, refusing private members, other curves and points off the curve. */
export async function publicKeyFromJwk(jwk: unknown): Promise<PublicKey> {
  const key = publicKeyMembers(jwk);
  await key.key();
  return key;
}

/** Return the RFC 7638 SHA-256 thumbprint (43 base64url characters). */
export async function jwkThumbprint(key: PublicKey): Promise<string> {
  const canonical = `{"crv":"P-256","kty":"EC","x":"${key.x}","y":"${key.y}"}`;
  const digest = await crypto.subtle.digest("SHA-256", utf8(canonical) as BufferSource);
  return b64urlEncode(new Uint8Array(digest));
}

/** Return the hcert key id: the first 11 characters of the thumbprint. */
export async function kidFor(key: PublicKey): Promise<string> {
  return (await jwkThumbprint(key)).slice(0, KID_LENGTH);
}
