/** IETF Token Status Lists on the device (hcert_verifier.status, FORMAT.md section 4). */

import { b64urlDecode, isInt, isNonNegativeInt, isObject, jsonObject, type Int } from "./codec";
import { TrustError, VerificationError } from "./errors";
import { inflateZlib } from "./inflate";
import { checkHeader, splitToken, verifyEs256 } from "./jws";
import type { TrustSource } from "./trust";

export const STATUS_VALID = 0;
export const STATUS_REVOKED = 1;
export const STATUS_SUSPENDED = 2;
export const STATUS_LIST_TYP = "statuslist+jwt";
/** Largest inflated list accepted: 2**24 entries of 2 bits. */
export const MAX_LIST_BYTES = 2 ** 24 / 4;
export const MAX_LIST_TOKEN = 4 * 1024 * 1024;
const HEADER = ["alg", "kid", "typ"];

/** What a verified status list is made of (kept in IndexedDB; the bits stay compressed). */
export interface StatusListParts {
  readonly iss: string;
  readonly lst: number;
  readonly bits: number;
  /** The zlib-compressed bit array, checked to inflate when the list was verified. */
  readonly compressed: Uint8Array;
  readonly issuedAt: number;
  readonly expires: number | null;
  /** The list's sub: where its authority publishes it (<base URL>/v1/status/<iss>/<lst>). */
  readonly uri: string;
  /** The hcert content version (null for a list from an issuer that does not carry one). */
  readonly version: Int | null;
  /** The `expires` of a freshness statement of its province covering it in an index (FORMAT.md 7.5). */
  readonly freshUntil?: number | null;
}

/** One verified status list. The bits are inflated on first use (a national bundle has 3,000 lists). */
export class StatusList implements StatusListParts {
  readonly iss: string;
  readonly lst: number;
  readonly bits: number;
  readonly compressed: Uint8Array;
  readonly issuedAt: number;
  readonly expires: number | null;
  readonly uri: string;
  readonly version: Int | null;
  /** The `expires` of a freshness statement covering it in an index (FORMAT.md 7.5), or null. */
  freshUntil: number | null;
  /** SHA-256 (hex) of the bit width and the bits, set when the list was verified from its token. */
  contentDigest = "";
  private data: Promise<Uint8Array> | null;

  constructor(parts: StatusListParts, data: Uint8Array | null = null) {
    this.iss = parts.iss;
    this.lst = parts.lst;
    this.bits = parts.bits;
    this.compressed = parts.compressed;
    this.issuedAt = parts.issuedAt;
    this.expires = parts.expires;
    this.uri = parts.uri;
    this.version = parts.version ?? null;
    this.freshUntil = parts.freshUntil ?? null;
    this.data = data !== null ? Promise.resolve(data) : null;
  }

  /** Whether the list may be used at `at`: its exp, or a statement covering it, is not yet past (with leeway). */
  isCurrent(at: number, leeway = 300): boolean {
    return [this.expires, this.freshUntil].some((until) => until !== null && at < until + leeway);
  }

  private entries(): Promise<Uint8Array> {
    this.data ??= Promise.resolve().then(() => inflateZlib(this.compressed, MAX_LIST_BYTES));
    return this.data;
  }

  /** Return the status value of entry `idx`; an index past the end rejects with RangeError. */
  async status(idx: number): Promise<number> {
    const data = await this.entries();
    const bit = idx * this.bits;
    const byte = Math.floor(bit / 8);
    if (byte >= data.length) throw new RangeError(String(idx));
    return (data[byte]! >> (bit % 8)) & ((1 << this.bits) - 1);
  }

  /** The parts to store. */
  parts(): StatusListParts {
    const { iss, lst, bits, compressed, issuedAt, expires, uri, version, freshUntil } = this;
    return { iss, lst, bits, compressed, issuedAt, expires, uri, version, freshUntil };
  }

  /**
   * Verify a status list token against the trust source and decode it.
   * The key is looked up by kid in `trust`; ES256 pinned; `sub` ends in
   * /<iss>/<lst>; a key bound to an authority signs only its lists.
   */
  static async fromToken(
    token: string,
    trust: TrustSource,
    at: number | null = null,
    keepBits = true,
  ): Promise<StatusList> {
    if (typeof token !== "string" || token.length > MAX_LIST_TOKEN) {
      throw new TrustError("status list token is not a string of acceptable size");
    }
    let claims;
    let keyIssuer: string | null;
    try {
      const jws = splitToken(token, MAX_LIST_TOKEN);
      const header = checkHeader(jws.headerSegment, {
        typ: STATUS_LIST_TYP,
        allowed: HEADER,
        kidLength: null,
        deflated: false,
      });
      const key = trust.key(header.kid);
      if (key === undefined) throw new TrustError("status list token is signed by an unknown key");
      if (key.state === "withdrawn") throw new TrustError(`status list token is signed by withdrawn key ${key.kid}`);
      keyIssuer = key.issuer;
      // High s is accepted: other Token Status List issuers need not normalise s.
      await verifyEs256(await key.publicKey.key(), jws.signingInput, jws.signature, true);
      claims = jsonObject(b64urlDecode(jws.payloadSegment, "status list"), "status list");
    } catch (e) {
      if (e instanceof VerificationError) throw new TrustError(`status list token does not verify: ${e.code}: ${e.reason}`);
      throw e;
    }
    const iat = claims["iat"];
    const exp = claims["exp"];
    const version = claims["version"] ?? null;
    if (!isInt(iat) || !isInt(exp)) throw new TrustError("status list iat and exp must be integers");
    if (version !== null && !isNonNegativeInt(version)) {
      throw new TrustError("status list version must be a non-negative integer");
    }
    // Times beyond 2**53 become numbers in the same order (far future).
    const issuedAt = Number(iat);
    const expires = Number(exp);
    if (at !== null && expires + 300 <= at) throw new TrustError("status_list_expired: the status list is past its exp");
    const sub = claims["sub"];
    const parts = typeof sub === "string" ? sub.split("/") : [];
    const lstText = parts[parts.length - 1] ?? "";
    if (parts.length < 3 || !/^[0-9]+$/.test(lstText)) {
      throw new TrustError("status list sub must end in /<authority>/<list number>");
    }
    const iss = parts[parts.length - 2]!;
    const lst = Number(lstText);
    if (keyIssuer !== null && keyIssuer !== iss) throw new TrustError("status list is signed by another authority's key");
    const body = claims["status_list"];
    if (!isObject(body) || (body["bits"] !== 1 && body["bits"] !== 2) || typeof body["lst"] !== "string") {
      throw new TrustError("status_list must hold bits (1 or 2) and lst");
    }
    let content: Uint8Array;
    let compressed: Uint8Array;
    try {
      compressed = b64urlDecode(body["lst"], "status list");
      // One byte left before the bits for their width: the content digest covers both.
      content = inflateZlib(compressed, MAX_LIST_BYTES, 1);
    } catch (e) {
      if (e instanceof VerificationError) throw new TrustError("status list lst is not base64url zlib data");
      throw e;
    }
    const bits = body["bits"];
    const listParts = { iss, lst, bits, compressed, issuedAt, expires, uri: sub as string, version };
    const list = new StatusList(listParts, keepBits ? content.subarray(1) : null);
    content[0] = bits;
    list.contentDigest = hex(new Uint8Array(await crypto.subtle.digest("SHA-256", content as BufferSource)));
    return list;
  }
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Anything that holds verified status lists by authority and list number. */
export interface StatusSource {
  statusList(iss: string, lst: number): StatusList | undefined;
}

/** An in-memory set of verified status lists; a newer list replaces an older one. */
export class StatusLists implements StatusSource {
  private readonly lists = new Map<string, StatusList>();

  constructor(lists: Iterable<StatusList> = []) {
    for (const item of lists) this.add(item);
  }

  add(item: StatusList): void {
    const k = `${item.iss}/${item.lst}`;
    const current = this.lists.get(k);
    // Older: a lower version, or the same version (or none) and an earlier iat.
    const newer =
      current === undefined ||
      (current.version ?? 0) < (item.version ?? 0) ||
      ((current.version ?? 0) === (item.version ?? 0) && current.issuedAt <= item.issuedAt);
    if (newer) this.lists.set(k, item);
  }

  statusList(iss: string, lst: number): StatusList | undefined {
    return this.lists.get(`${iss}/${lst}`);
  }

  get size(): number {
    return this.lists.size;
  }
}
