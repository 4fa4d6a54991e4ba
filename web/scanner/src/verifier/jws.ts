/**
 * Compact JWS with ES256 on P-256: parsing, header rules and signature checks
 * (hcert_verifier._jws). The algorithm is pinned; keys come only from the trust source.
 */

import { b64urlCheck, b64urlDecode, codePoints, isObject, jsonObject, MAX_TOKEN, type JsonObject } from "./codec";
import { VerificationError } from "./errors";

export const ALGORITHM = "ES256";
/** Order n of the P-256 group. */
export const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const HALF_ORDER = P256_ORDER / 2n;
/** Header parameters that would let a token choose its own key; never honoured. */
export const FORBIDDEN_HEADERS = ["jku", "x5u", "jwk", "x5c", "x5t", "x5t#S256"];
const KID_CHARS = /^[A-Za-z0-9_-]+$/;
const ASCII = new TextEncoder();

/** A compact JWS split into its parts; nothing in it is trusted yet. */
export interface UnverifiedJws {
  readonly headerSegment: string;
  readonly payloadSegment: string;
  readonly signature: Uint8Array;
  readonly signingInput: Uint8Array;
}

/** Split a compact JWS into its segments and decode the signature. */
export function splitToken(token: string, limit: number = MAX_TOKEN): UnverifiedJws {
  if (codePoints(token) > limit) {
    throw new VerificationError("input_too_large", `token is longer than ${limit} characters`);
  }
  const parts = token.split(".");
  if (parts.length !== 3 || !parts.every((p) => p.length > 0)) {
    throw new VerificationError("malformed_token", "a compact JWS has exactly three non-empty dot-separated segments");
  }
  const [headerSegment, payloadSegment, signatureSegment] = parts as [string, string, string];
  // Every segment is canonical base64url before any is used (FORMAT.md step 2.2),
  // so the signing input is ASCII.
  b64urlCheck(headerSegment, "header");
  b64urlCheck(payloadSegment, "payload");
  const signature = b64urlDecode(signatureSegment, "signature");
  const signingInput = ASCII.encode(token.slice(0, headerSegment.length + 1 + payloadSegment.length));
  return { headerSegment, payloadSegment, signature, signingInput };
}

export interface HeaderRules {
  /** Required typ (null: not checked, for foreign profiles). */
  typ: string | null;
  /** Parameters permitted. */
  allowed: readonly string[];
  /** Exact kid length, or null. */
  kidLength: number | null;
  /** zip must be DEF (true) or absent (false). */
  deflated?: boolean;
}

/** Decode a protected header and apply the hcert header rules, most dangerous defect first. */
export function checkHeader(headerSegment: string, rules: HeaderRules): JsonObject & { kid: string } {
  const header = jsonObject(b64urlDecode(headerSegment, "header"), "header");
  const forbidden = FORBIDDEN_HEADERS.filter((name) => name in header).sort();
  if (forbidden.length) {
    throw new VerificationError(
      "forbidden_header",
      `header parameter '${forbidden[0]}' is refused: keys come only from the trust list`,
    );
  }
  if (header["alg"] !== ALGORITHM) throw new VerificationError("alg_not_allowed", `alg must be ${ALGORITHM}`);
  if ("crit" in header) {
    throw new VerificationError("crit_unsupported", "crit is not supported: hcert defines no critical header parameters");
  }
  const unknown = Object.keys(header)
    .filter((name) => !rules.allowed.includes(name))
    .sort();
  if (unknown.length) {
    throw new VerificationError("unknown_header", `header parameter '${unknown[0]}' is not part of the format`);
  }
  if (rules.typ !== null && header["typ"] !== rules.typ) {
    throw new VerificationError("bad_typ", `typ must be '${rules.typ}'`);
  }
  const deflated = rules.deflated ?? true;
  if (deflated && header["zip"] !== "DEF") throw new VerificationError("bad_zip", "zip must be 'DEF' (raw DEFLATE)");
  if (!deflated && "zip" in header) throw new VerificationError("bad_zip", "zip is not allowed in this object");
  const kid = header["kid"];
  if (
    typeof kid !== "string" ||
    (rules.kidLength !== null && codePoints(kid) !== rules.kidLength) ||
    !kid ||
    kid.length > 64 ||
    !KID_CHARS.test(kid)
  ) {
    throw new VerificationError(
      "bad_kid",
      "kid must be a base64url key id" + (rules.kidLength ? ` of ${rules.kidLength} characters` : ""),
    );
  }
  return header as JsonObject & { kid: string };
}

function bigFrom(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

/**
 * Verify a raw r||s ES256 signature (RFC 7518 section 3.4) with WebCrypto.
 *
 * DER, short, long or out-of-range signatures are refused before any curve
 * arithmetic; with `allowHighS` false an s above n/2 is refused too.
 */
export async function verifyEs256(
  key: CryptoKey,
  signingInput: Uint8Array,
  signature: Uint8Array,
  allowHighS: boolean,
): Promise<void> {
  if (signature.length !== 64) {
    throw new VerificationError(
      "bad_signature",
      `ES256 signature must be 64 bytes r||s, not ${signature.length} (DER is not JWS)`,
    );
  }
  const r = bigFrom(signature.subarray(0, 32));
  const s = bigFrom(signature.subarray(32));
  if (!(r > 0n && r < P256_ORDER && s > 0n && s < P256_ORDER)) {
    throw new VerificationError("bad_signature", "signature r or s is out of range");
  }
  if (s > HALF_ORDER && !allowHighS) {
    throw new VerificationError("signature_not_canonical", "signature s is above n/2; hcert signatures are low-s");
  }
  const ok = await crypto.subtle.verify(
    { name: "ECDSA", hash: "SHA-256" },
    key,
    signature as BufferSource,
    signingInput as BufferSource,
  );
  if (!ok) throw new VerificationError("bad_signature", "signature does not verify with the trusted key");
}

export { isObject };
