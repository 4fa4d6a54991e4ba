/** P-256 public keys as JWK, RFC 7638 thumbprints and hcert key ids (hcert_verifier._jwk). */

import { b64urlDecode, b64urlEncode, isObject, utf8 } from "./codec";
import { TrustError, VerificationError } from "./errors";

/** Characters of the RFC 7638 thumbprint kept as the key id. */
export const KID_LENGTH = 11;

/** A P-256 public key: the WebCrypto key and its coordinates (for the thumbprint). */
export interface PublicKey {
  readonly key: CryptoKey;
  readonly x: string;
  readonly y: string;
}

/** Load a P-256 public key from a JWK, refusing private members and other curves. */
export async function publicKeyFromJwk(jwk: unknown): Promise<PublicKey> {
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
  try {
    const key = await crypto.subtle.importKey(
      "jwk",
      { kty: "EC", crv: "P-256", x: x as string, y: y as string, ext: true },
      { name: "ECDSA", namedCurve: "P-256" },
      false,
      ["verify"],
    );
    return { key, x: x as string, y: y as string };
  } catch {
    throw new TrustError("JWK point is not on the P-256 curve");
  }
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
