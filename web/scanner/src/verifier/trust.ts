/**
 * Trust sources: where a verifier gets the keys it may trust (hcert_verifier.trust).
 * Nothing here touches the network.
 */

import { isObject } from "./codec";
import { TrustError } from "./errors";
import { KID_LENGTH, kidFor, publicKeyFromJwk, type PublicKey } from "./jwk";

export const KEY_STATES = ["active", "retired", "withdrawn"];

/** A public key a verifier trusts, with what it may sign (null: no limit). */
export interface TrustedKey {
  readonly kid: string;
  readonly publicKey: PublicKey;
  readonly issuer: string | null;
  readonly kinds: readonly string[] | null;
  readonly regions: readonly string[] | null;
  readonly state: string;
  readonly notBefore: number | null;
  readonly notAfter: number | null;
}

/** Anything that resolves a kid to a trusted key. */
export interface TrustSource {
  key(kid: string): TrustedKey | undefined;
  keys(): Iterable<TrustedKey>;
}

/** Index keys by kid, refusing duplicates and kids that are not their key's. */
export async function indexKeys(keys: Iterable<TrustedKey>): Promise<Map<string, TrustedKey>> {
  const byKid = new Map<string, TrustedKey>();
  for (const key of keys) {
    if (key.kid !== kidFor(key.publicKey)) throw new TrustError(`kid '${key.kid}' is not the thumbprint of its key`);
    if (byKid.has(key.kid)) throw new TrustError(`two trusted keys share the kid '${key.kid}'`);
    if (!KEY_STATES.includes(key.state)) throw new TrustError(`key '${key.kid}' has unknown state '${key.state}'`);
    byKid.set(key.kid, key);
  }
  return byKid;
}

/** Trust every P-256 key of a JWKS document (members iss and hcert_state honoured). */
export class JwksTrust implements TrustSource {
  private constructor(private readonly byKid: Map<string, TrustedKey>) {}

  /** Build from a parsed JWKS; raise TrustError if any key is unusable. */
  static async fromJwks(jwks: unknown): Promise<JwksTrust> {
    const entries = isObject(jwks) ? jwks["keys"] : undefined;
    if (!Array.isArray(entries)) throw new TrustError("a JWKS is an object with a 'keys' array");
    const keys: TrustedKey[] = [];
    for (const jwk of entries) {
      const publicKey = await publicKeyFromJwk(jwk);
      const o = jwk as Record<string, unknown>;
      const kid = "kid" in o ? o["kid"] : kidFor(publicKey);
      if (typeof kid !== "string" || kid.length !== KID_LENGTH) throw new TrustError(`JWK kid is not an hcert key id`);
      const issuer = o["iss"] ?? null;
      if (issuer !== null && typeof issuer !== "string") throw new TrustError("JWK iss must be a string");
      // hcert_retired: a certificate issued after the key's retirement was not signed in service.
      const retired = o["hcert_retired"] ?? null;
      if (retired !== null && (typeof retired !== "number" || retired < 0)) {
        throw new TrustError(`JWK ${kid} hcert_retired must be Unix seconds`);
      }
      keys.push({
        kid,
        publicKey,
        issuer,
        kinds: null,
        regions: null,
        state: String(o["hcert_state"] ?? "active"),
        notBefore: null,
        notAfter: retired,
      });
    }
    return new JwksTrust(await indexKeys(keys));
  }

  key(kid: string): TrustedKey | undefined {
    return this.byKid.get(kid);
  }

  keys(): Iterable<TrustedKey> {
    return this.byKid.values();
  }
}
