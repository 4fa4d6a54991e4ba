/**
 * The offline trust bundle (hcert_verifier.bundle, FORMAT.md section 7):
 * trust list by a pinned root, bundle by a bundle signer the trust list names,
 * rules by each province's rule key, status lists by their authority's keys.
 * Anything that fails refuses the whole bundle.
 */

import {
  b64urlDecode,
  b64urlEncode,
  inflate,
  intDiff,
  isInt,
  isNonNegativeInt,
  isObject,
  jsonObject,
  jsonObjectText,
  utf8,
  type Int,
  type Json,
  type JsonObject,
} from "./codec";
import { BundleError, TrustError, VerificationError } from "./errors";
import { KID_LENGTH, kidFor, PublicKey, publicKeyFromJwk, publicKeyOnCurve } from "./jwk";
import { checkHeader, splitToken, verifyEs256 } from "./jws";
import { RuleSet } from "./rules";
import { StatusList, type StatusListParts, type StatusSource } from "./status";
import { indexKeys, type TrustedKey, type TrustSource } from "./trust";
import { type BundleView, CLOCK_LEEWAY } from "./verify";

export const BUNDLE_TYP = "hcert-bundle";
export const TRUST_LIST_TYP = "hcert-trustlist";
export const RULES_TYP = "hcert-rules";
export const MAX_BUNDLE = 64 * 1024 * 1024;
/** Largest trust list token, and its largest inflated payload. */
export const MAX_TRUST_LIST = 8 * 1024 * 1024;
/** The format of the bundle envelope and of the bundle payload. */
export const BUNDLE_FORMAT = "hcert-bundle/2";
/** Longest a bundle may be valid (expires - issued_at, seconds). */
export const MAX_BUNDLE_VALIDITY = 7 * 86400;
/** Longest a trust list may be valid (expires - issued_at, seconds: 92 days). */
export const MAX_TRUST_LIST_VALIDITY = 92 * 86400;
const HEADER = ["alg", "kid", "typ", "zip"];
/** The index of parts (FORMAT.md section 7.4): envelope and payload format, JWS typ, shard manifest and pack formats. */
export const INDEX_FORMAT = "hcert-index/1";
export const INDEX_TYP = "hcert-index";
export const SHARD_FORMAT = "hcert-shard/1";
export const PACK_FORMAT = "hcert-pack/1";
/** A province's freshness statement (FORMAT.md section 7.5): its format, typ, longest validity, most per index. */
export const FRESH_FORMAT = "hcert-fresh/1";
export const FRESH_TYP = "hcert-fresh";
export const MAX_FRESH_VALIDITY = 7 * 86400;
export const MAX_FRESH = 256;
const FRESH_MEMBERS = "expires,format,issued_at,lists,province,version";
/** Largest index envelope, and largest part (a trust list is the largest kind). */
export const MAX_INDEX = 1024 * 1024;
export const MAX_PART = MAX_TRUST_LIST;
/** Most parts one index may name (rules, shards and status lists together). */
export const MAX_PARTS = 65536;
const ADDRESS = /^[A-Za-z0-9_-]{43}$/;

/** Whether `text` is a part address: 43 base64url characters (the unpadded SHA-256 of the part). */
export function isAddress(text: unknown): text is string {
  return typeof text === "string" && ADDRESS.test(text);
}

/** A part's address: the unpadded base64url SHA-256 of its bytes. */
export async function partAddress(data: Uint8Array): Promise<string> {
  return b64urlEncode(new Uint8Array(await crypto.subtle.digest("SHA-256", data as BufferSource)));
}

/**
 * Gives the bytes of each part asked for, by address (all at once, so that they
 * can be fetched in parallel); a part not at hand is left out of the answer.
 */
export type PartSource = (addresses: string[]) => Promise<Map<string, Uint8Array>>;

/** Get parts and check each against its address; return them as text, in order (`spent` holds all parts to MAX_BUNDLE). */
async function partTexts(parts: PartSource, addresses: Json[], what: string, spent: { bytes: number }): Promise<string[]> {
  for (const address of addresses) {
    if (!isAddress(address)) throw new BundleError(`${what} is not named by a 43-character SHA-256 address`);
  }
  if (addresses.length > MAX_PARTS) throw new BundleError(`an index names more than ${MAX_PARTS} parts`);
  const wanted = addresses as string[];
  const got = await parts([...new Set(wanted)]);
  const out: string[] = [];
  for (const address of wanted) {
    const data = got.get(address);
    if (data === undefined) throw new BundleError(`${what} ${address} is not at hand`, "part_missing");
    if (data.length > MAX_PART) throw new BundleError(`${what} (${address}) is larger than ${MAX_PART} bytes`, "part_mismatch");
    spent.bytes += data.length;
    if (spent.bytes > MAX_BUNDLE) throw new BundleError(`the parts of an index hold more than ${MAX_BUNDLE} bytes`);
    if ((await partAddress(data)) !== address) throw new BundleError(`${what} does not match its address ${address}`, "part_mismatch");
    if (data.some((b) => b > 127)) throw new BundleError(`${what} (${address}) is not ASCII`);
    out.push(ASCII.decode(data)); // checked ASCII above, so UTF-8 decoding is exact
  }
  return out;
}

const ASCII = new TextDecoder();

/** A bundle's or an index's envelope: JSON with exactly `format` (this one), `trust_list` and `bundle` or `index`. */
function envelopeOf(text: string, kind: "bundle" | "index", format: string): JsonObject {
  const a = kind === "index" ? "an" : "a";
  let envelope: JsonObject;
  try {
    envelope = jsonObjectText(text, `${kind} envelope`);
  } catch {
    throw new BundleError(`${a} ${kind} is a JSON ${format} envelope`);
  }
  if (Object.keys(envelope).sort().join(",") !== [kind, "format", "trust_list"].sort().join(",") || envelope["format"] !== format) {
    throw new BundleError(`${a} ${kind} envelope has exactly format ('${format}'), trust_list and ${kind}`);
  }
  return envelope;
}

/** How long the last run of each step of loading and storing a bundle took (ms), for the benchmark. */
export const stepMs: Record<string, number> = {};

/** Record that `step` ran from `since` until now; return now. */
export function measured(step: string, since: number): number {
  const now = performance.now();
  stepMs[step] = now - since;
  return now;
}

async function keysByKid(jwks: Json | undefined, what: string): Promise<Map<string, PublicKey>> {
  const out = new Map<string, PublicKey>();
  for (const jwk of Array.isArray(jwks) ? jwks : []) {
    const key = await publicKeyFromJwk(jwk);
    const kid = kidFor(key);
    const named = (jwk as JsonObject)["kid"];
    if (named !== undefined && named !== kid) throw new BundleError(`${what}: kid ${String(named)} is not its key's`);
    out.set(kid, key);
  }
  return out;
}

/** Verify an hcert signed object (ES256, zip DEF, this typ) with one of `keys`; return its payload. */
export async function openSigned(
  token: unknown,
  keys: Map<string, PublicKey>,
  typ: string,
  what: string,
  limit: number = MAX_BUNDLE,
): Promise<JsonObject> {
  try {
    if (typeof token !== "string" || token.length > limit) {
      throw new BundleError(`${what} is not a compact JWS of at most ${limit} characters`);
    }
    const jws = splitToken(token, limit);
    const header = checkHeader(jws.headerSegment, { typ, allowed: HEADER, kidLength: KID_LENGTH });
    const key = keys.get(header.kid);
    if (key === undefined) throw new BundleError(`${what} is signed by key ${header.kid}, which is not trusted for it`);
    await verifyEs256(await key.key(), jws.signingInput, jws.signature, false);
    // The signature is checked above, before the payload is inflated or parsed.
    return jsonObject(await inflate(b64urlDecode(jws.payloadSegment, what), limit), what);
  } catch (e) {
    if (e instanceof VerificationError) throw new BundleError(`${what}: ${e.code}: ${e.reason}`);
    if (e instanceof BundleError) throw e;
    if (e instanceof TrustError) throw new BundleError(`${what}: ${e.reason}`);
    throw e;
  }
}

/** An issuing authority as the trust list describes it. */
export interface Authority {
  readonly id: string;
  readonly nameZh: string;
  readonly nameEn: string;
  readonly regions: readonly string[];
  readonly kinds: readonly string[];
  /** Where the authority's server publishes its status lists (https, or http to a loopback host). */
  readonly baseUrl: string;
}

const LOOPBACK = ["127.0.0.1", "localhost", "[::1]"];

function baseUrl(value: Json | undefined): string {
  // https, or http to this machine (tests, development): a base URL names the
  // server whose status lists devices accept for that authority.
  if (typeof value !== "string" || value.length > 200 || value !== value.trim() || value.endsWith("/")) {
    throw new BundleError("authority base_url is not a URL without a trailing slash");
  }
  const sep = value.indexOf("://");
  const scheme = sep >= 0 ? value.slice(0, sep) : value;
  const rest = sep >= 0 ? value.slice(sep + 3) : "";
  const host = rest.split("/", 1)[0] ?? "";
  const hostname = host.endsWith("]") ? host : host.includes(":") ? host.slice(0, host.lastIndexOf(":")) : host;
  if (sep < 0 || !host || /[?#@ \\]/.test(value) || (scheme !== "https" && scheme !== "http")) {
    throw new BundleError("authority base_url is not an https URL");
  }
  if (scheme === "http" && !LOOPBACK.includes(hostname)) {
    throw new BundleError("authority base_url is plain http to a host other than this machine");
  }
  return value;
}

/**
 * Check a trust list payload's version, issued_at and expires; return [version, expires].
 * expires must be later than issued_at and at most MAX_TRUST_LIST_VALIDITY after it.
 */
export function checkTrustListTimes(trust: JsonObject): [Int, number] {
  for (const name of ["version", "issued_at", "expires"]) {
    if (!isNonNegativeInt(trust[name])) throw new BundleError(`trust list ${name} must be a non-negative integer`);
  }
  const issuedAt = trust["issued_at"] as Int;
  const expires = trust["expires"] as Int;
  // Exactly, in case either is beyond 2**53; then kept as a number (the same order: far future).
  const validity = intDiff(expires, issuedAt);
  if (validity <= 0n) throw new BundleError("trust list expires before it is issued");
  if (validity > BigInt(MAX_TRUST_LIST_VALIDITY)) {
    throw new BundleError(
      `trust list is valid ${validity} s; at most ${MAX_TRUST_LIST_VALIDITY} s`,
      "trust_list_validity_too_long",
    );
  }
  return [trust["version"] as Int, Number(expires)];
}

/** Return the base64url SHA-256 of a token (how a device tells one bundle from another). */
export async function sha256Text(text: string): Promise<string> {
  return b64urlEncode(new Uint8Array(await crypto.subtle.digest("SHA-256", utf8(text) as BufferSource)));
}

/**
 * A verified bundle as the device stores it in IndexedDB: everything the
 * verifier needs, already checked, with the status bits still compressed.
 * Only this origin's code can write it, so it is rebuilt without checking
 * every signature again on each start.
 */
export interface BundleSnapshot {
  readonly format: "hcert-scanner-bundle/1";
  readonly digest: string;
  readonly version: Int;
  readonly issuedAt: number;
  readonly expires: number;
  readonly trustListVersion: Int;
  readonly trustListExpires: number;
  readonly roots: JsonObject[];
  readonly authorities: Authority[];
  readonly keys: (Omit<TrustedKey, "publicKey"> & { x: string; y: string })[];
  readonly rules: JsonObject[];
  readonly lists: StatusListParts[];
  /** The format it came in (absent: a bundle, as stored before devices synced by parts). */
  readonly source?: string;
}

/** The version of one signed object and a digest of its content (what the device remembers). */
export interface Versioned {
  readonly version: Int;
  readonly digest: string;
}

/** A verified bundle: trust source, status source and rule book of the device. */
export class Bundle implements TrustSource, StatusSource, BundleView {
  private constructor(
    readonly version: Int,
    readonly issuedAt: number,
    readonly expires: number,
    readonly trustListVersion: Int,
    /** When the root-signed trust list stops being usable (Unix seconds). */
    readonly trustListExpires: number,
    readonly roots: JsonObject[],
    readonly authorities: Map<string, Authority>,
    private readonly byKid: Map<string, TrustedKey>,
    private readonly rules: Map<string, RuleSet>,
    private readonly lists: Map<string, StatusList>,
    /** Base64url SHA-256 of the bundle token. */
    readonly digest: string,
  ) {}

  /** Base64url SHA-256 of the trust list token (what the device remembers of it). */
  trustListDigest = "";
  /** Version and content digest of each province's rules (device state). */
  readonly ruleVersions = new Map<string, Versioned>();
  /** Version and content digest of each status list, by its URI (device state). */
  readonly statusVersions = new Map<string, Versioned>();
  /** The kids the bundle signer withdrew. */
  withdrawn: ReadonlySet<string> = new Set();
  /** `hcert-bundle/2` (one file) or `hcert-index/1` (an index of parts); each has its own version counter. */
  format: string = BUNDLE_FORMAT;
  /** The addresses of the parts an index named (trust list, rules, shard manifests, status lists). */
  parts: ReadonlySet<string> = new Set();
  /** Version and digest of each province's freshness statement in an index (device state). */
  readonly freshVersions = new Map<string, Versioned>();

  /** What the device stores. */
  snapshot(): BundleSnapshot {
    return {
      format: "hcert-scanner-bundle/1",
      digest: this.digest,
      version: this.version,
      issuedAt: this.issuedAt,
      expires: this.expires,
      trustListVersion: this.trustListVersion,
      trustListExpires: this.trustListExpires,
      roots: this.roots,
      authorities: [...this.authorities.values()],
      keys: [...this.byKid.values()].map(({ publicKey, ...rest }) => ({ ...rest, x: publicKey.x, y: publicKey.y })),
      rules: [...this.rules.values()].map((r) => r.payload),
      lists: [...this.lists.values()].map((l) => l.parts()),
      source: this.format,
    };
  }

  /** Rebuild a bundle this device verified and stored; null if the snapshot is not one. */
  static fromSnapshot(s: BundleSnapshot | undefined): Bundle | null {
    if (s === undefined || s === null || s.format !== "hcert-scanner-bundle/1") return null;
    if (typeof s.trustListExpires !== "number") return null; // stored before trust lists expired: sync again
    const byKid = new Map<string, TrustedKey>();
    for (const { x, y, ...rest } of s.keys) byKid.set(rest.kid, { ...rest, publicKey: new PublicKey(x, y) });
    const rules = new Map<string, RuleSet>();
    for (const payload of s.rules) {
      const ruleset = RuleSet.fromPayload(payload);
      rules.set(ruleset.province, ruleset);
    }
    const lists = new Map<string, StatusList>();
    for (const parts of s.lists) lists.set(`${parts.iss}/${parts.lst}`, new StatusList(parts));
    const bundle = new Bundle(
      s.version,
      s.issuedAt,
      s.expires,
      s.trustListVersion,
      s.trustListExpires,
      s.roots,
      new Map(s.authorities.map((a) => [a.id, a])),
      byKid,
      rules,
      lists,
      s.digest,
    );
    bundle.format = s.source === INDEX_FORMAT ? INDEX_FORMAT : BUNDLE_FORMAT;
    return bundle;
  }

  /**
   * Verify an hcert-bundle/2 envelope against pinned roots; raise BundleError.
   * Nothing else is a bundle: a bare token (the bundle/1 format) is refused.
   */
  static async load(text: string, roots: readonly JsonObject[]): Promise<Bundle> {
    if (typeof text !== "string" || text.length > MAX_BUNDLE) {
      throw new BundleError("a bundle is at most 64 MB");
    }
    text = text.trim();
    try {
      return await Bundle.loadEnvelope(text, roots);
    } catch (e) {
      if (e instanceof BundleError) throw e;
      if (e instanceof TrustError || e instanceof VerificationError) throw new BundleError(`${e.code}: ${e.reason}`);
      throw new BundleError(`the bundle is malformed (${e instanceof Error ? e.name : String(e)})`);
    }
  }

  /**
   * An hcert-bundle/2 envelope (FORMAT.md section 7.1), in the spec's order:
   * envelope shape; trust list signature by a pinned root, then its payload;
   * bundle signature by a bundle signer of that trust list, then its payload;
   * the pairing of the two; each rules object and status list.
   */
  private static async loadEnvelope(text: string, roots: readonly JsonObject[]): Promise<Bundle> {
    const envelope = envelopeOf(text, "bundle", BUNDLE_FORMAT);
    const trustToken = envelope["trust_list"];
    const token = envelope["bundle"];
    if (typeof trustToken !== "string" || typeof token !== "string") {
      throw new BundleError("the envelope's trust_list and bundle are compact JWS strings");
    }
    return Bundle.verified(trustToken, token, roots, BUNDLE_TYP, BUNDLE_FORMAT, async (payload) => {
      const ruleItems = payload["rules"] ?? [];
      const statusItems = payload["status_lists"] ?? [];
      if (!Array.isArray(ruleItems)) throw new BundleError("bundle rules must be a list");
      if (!Array.isArray(statusItems)) throw new BundleError("bundle status_lists must be a list");
      return [ruleItems, statusItems];
    });
  }

  /**
   * Verify an hcert-index/1 envelope and the parts it names (FORMAT.md section
   * 7.4), in the spec's order: envelope shape; the trust list part by its
   * address, signed by a pinned root; the index signature by a bundle signer
   * of it, then its payload; the pairing; rules and shard manifests by
   * address; each status list by address; then each rules object and status
   * list as in a bundle. Raise BundleError (`part_missing` and
   * `part_mismatch` for a part not at hand or not matching its address).
   */
  static async fromIndex(text: string, parts: PartSource, roots: readonly JsonObject[]): Promise<Bundle> {
    if (typeof text !== "string" || text.length > MAX_INDEX) {
      throw new BundleError("an index is an hcert-index/1 envelope of at most 1 MB");
    }
    try {
      return await Bundle.loadIndex(text, parts, roots);
    } catch (e) {
      if (e instanceof BundleError) throw e;
      if (e instanceof TrustError || e instanceof VerificationError) throw new BundleError(`${e.code}: ${e.reason}`);
      throw new BundleError(`the index is malformed (${e instanceof Error ? e.name : String(e)})`);
    }
  }

  private static async loadIndex(text: string, parts: PartSource, roots: readonly JsonObject[]): Promise<Bundle> {
    const envelope = envelopeOf(text, "index", INDEX_FORMAT);
    const token = envelope["index"];
    if (typeof token !== "string") throw new BundleError("the envelope's index is a compact JWS string");
    // The trust list by its address (checked), then as in a bundle.
    const spent = { bytes: 0 };
    const trustAddress = envelope["trust_list"] as Json;
    const [trustToken] = await partTexts(parts, [trustAddress], "the trust list", spent);
    const named = new Set<string>([trustAddress as string]);
    const bundle = await Bundle.verified(trustToken!, token, roots, INDEX_TYP, INDEX_FORMAT, async (payload) => {
      const ruleAddresses = payload["rules"];
      const shardAddresses = payload["shards"];
      if (!Array.isArray(ruleAddresses) || !Array.isArray(shardAddresses)) {
        throw new BundleError("index rules and shards are lists of addresses");
      }
      const texts = await partTexts(parts, [...ruleAddresses, ...shardAddresses], "a rules or shard part", spent);
      const ruleItems = texts.slice(0, ruleAddresses.length);
      const manifests = texts.slice(ruleAddresses.length);
      const listAddresses: Json[] = [];
      manifests.forEach((manifestText, i) => {
        let manifest: JsonObject;
        try {
          manifest = jsonObjectText(manifestText, "shard");
        } catch {
          throw new BundleError(`shard ${String(shardAddresses[i])} is not JSON`);
        }
        if (Object.keys(manifest).sort().join(",") !== "format,status_lists" || manifest["format"] !== SHARD_FORMAT) {
          throw new BundleError(`shard ${String(shardAddresses[i])} is not an ${SHARD_FORMAT} manifest`);
        }
        const lists = manifest["status_lists"];
        if (!Array.isArray(lists)) throw new BundleError(`shard ${String(shardAddresses[i])} status_lists is not a list`);
        listAddresses.push(...lists);
      });
      const statusItems = await partTexts(parts, listAddresses, "a status list part", spent);
      for (const address of [...ruleAddresses, ...shardAddresses, ...listAddresses]) named.add(address as string);
      return [ruleItems, statusItems];
    });
    bundle.parts = named;
    return bundle;
  }

  /** Steps 2 to 7 of FORMAT.md section 7.1, for a bundle or an index (`items` gives its rules and status lists). */
  private static async verified(
    trustToken: string,
    token: string,
    roots: readonly JsonObject[],
    typ: string,
    format: string,
    items: (payload: JsonObject) => Promise<[Json[], Json[]]>,
  ): Promise<Bundle> {
    let t = performance.now();
    const what = typ === BUNDLE_TYP ? "bundle" : "index";
    // 1. The trust list, by a pinned root.
    const trust = await openSigned(
      trustToken,
      await keysByKid(roots as Json, "pinned roots"),
      TRUST_LIST_TYP,
      "trust list",
      MAX_TRUST_LIST,
    );
    const [trustVersion, trustExpires] = checkTrustListTimes(trust);
    t = measured("trust-list", t);
    // 2. The bundle, by a bundle signer the trust list names; only now is it inflated.
    const payload = await openSigned(token, await keysByKid(trust["bundle_signers"], "bundle signers"), typ, what);
    t = measured("bundle-payload", t);
    if (payload["format"] !== format) throw new BundleError(`the ${what} payload's format is not '${format}'`);
    for (const name of ["version", "issued_at", "expires"]) {
      if (!isNonNegativeInt(payload[name])) throw new BundleError(`bundle ${name} must be a non-negative integer`);
    }
    // Exactly, in case either is beyond 2**53; then kept as numbers (the same order: far future).
    const validity = intDiff(payload["expires"] as Int, payload["issued_at"] as Int);
    if (validity <= 0n) throw new BundleError("bundle expires before it is issued");
    if (validity > BigInt(MAX_BUNDLE_VALIDITY)) {
      throw new BundleError(`bundle is valid ${validity} s; at most ${MAX_BUNDLE_VALIDITY} s`, "bundle_validity_too_long");
    }
    const issuedAt = Number(payload["issued_at"]);
    const expires = Number(payload["expires"]);
    // The bundle names the trust list it was made with, so a trust list cannot be swapped beside it.
    const pairing = payload["trust_list"];
    const trustDigest = await sha256Text(trustToken);
    if (
      !isObject(pairing) ||
      Object.keys(pairing).sort().join(",") !== "sha256,version" ||
      pairing["version"] !== trustVersion ||
      pairing["sha256"] !== trustDigest
    ) {
      throw new BundleError("the bundle does not name the trust list beside it (version and sha256)");
    }
    const withdrawnEntries = payload["withdrawn"] ?? [];
    if (!Array.isArray(withdrawnEntries)) throw new BundleError("bundle withdrawn must be a list");
    const withdrawn = new Set(
      withdrawnEntries.flatMap((w) => (isObject(w) && typeof w["kid"] === "string" ? [w["kid"]] : [])),
    );
    const ruleSigners = trust["rule_signers"] ?? {};
    if (!isObject(ruleSigners)) throw new BundleError("rule_signers is an object");
    const [ruleItems, statusItems] = await items(payload);
    const bundle = await Bundle.assemble({
      version: payload["version"] as Int,
      issuedAt,
      expires,
      trustVersion,
      trustExpires,
      trust,
      roots,
      withdrawn,
      ruleSigners,
      ruleItems,
      statusItems,
      digest: await sha256Text(token),
    });
    bundle.trustListDigest = trustDigest;
    bundle.format = format;
    // 5. Freshness statements (an index only), each by its province's rule key.
    if (format === INDEX_FORMAT) await bundle.vouch(payload["fresh"] ?? [], ruleSigners);
    return bundle;
  }

  /** Check each freshness statement; extend the lists a statement covers exactly (FORMAT.md 7.5). */
  private async vouch(statements: Json, ruleSigners: JsonObject): Promise<void> {
    if (!Array.isArray(statements) || statements.length > MAX_FRESH) {
      throw new BundleError(`index fresh is a list of at most ${MAX_FRESH} freshness statements`);
    }
    for (const item of statements) {
      const province = await unverifiedProvince(item, "freshness statement");
      const opened = await openSigned(
        item,
        await keysByKid(ruleSigners[province], `rule signers of ${province}`),
        FRESH_TYP,
        `freshness statement of province ${province}`,
      );
      if (Object.keys(opened).sort().join(",") !== FRESH_MEMBERS || opened["format"] !== FRESH_FORMAT) {
        throw new BundleError(`a freshness statement has exactly the members ${FRESH_MEMBERS}`);
      }
      for (const name of ["version", "issued_at", "expires"]) {
        if (!isNonNegativeInt(opened[name])) throw new BundleError(`freshness statement ${name} must be a non-negative integer`);
      }
      const validity = intDiff(opened["expires"] as Int, opened["issued_at"] as Int);
      if (validity <= 0n || validity > BigInt(MAX_FRESH_VALIDITY)) {
        throw new BundleError(`a freshness statement is valid for more than 0 and at most ${MAX_FRESH_VALIDITY} s`);
      }
      if (!isAddress(opened["lists"])) {
        throw new BundleError("a freshness statement's lists is a digest (43 base64url characters)");
      }
      if (typeof opened["province"] !== "string" || !/^[1-8][0-9]$/.test(opened["province"])) {
        throw new BundleError("a freshness statement's province is a two-digit province code");
      }
      if (intDiff(opened["issued_at"] as Int, this.issuedAt) > BigInt(CLOCK_LEEWAY)) {
        // Dated ahead, it would stretch the 7-day bound from the index that carries it.
        throw new BundleError(`the freshness statement of province ${province} is issued after the index`);
      }
      if (this.freshVersions.has(province)) {
        throw new BundleError(`the index carries two freshness statements of province ${province}`);
      }
      this.freshVersions.set(province, { version: opened["version"] as Int, digest: await sha256Text(item as string) });
      const mine = [...this.lists.values()].filter((l) => l.iss.startsWith(province));
      if ((await freshnessDigest(mine.map((l) => [l.uri, l.version ?? 0]))) !== opened["lists"]) {
        continue; // it speaks of other lists than these: they stand on their own exp
      }
      for (const l of mine) l.freshUntil = Number(opened["expires"]);
    }
  }

  /** The trust list's authorities and keys, rules and status lists: the same for both formats. */
  private static async assemble(p: {
    version: Int;
    issuedAt: number;
    expires: number;
    trustVersion: Int;
    trustExpires: number;
    trust: JsonObject;
    roots: readonly JsonObject[];
    withdrawn: Set<string>;
    ruleSigners: JsonObject;
    ruleItems: Json[];
    statusItems: Json[];
    digest: string;
  }): Promise<Bundle> {
    let t = performance.now();
    const [authorities, keyList] = Bundle.authoritiesOf(p.trust);
    t = measured("key-import", t);
    let byKid: Map<string, TrustedKey>;
    try {
      byKid = await indexKeys(keyList.map((k) => (p.withdrawn.has(k.kid) ? { ...k, state: "withdrawn" } : k)));
    } catch (e) {
      if (e instanceof TrustError) throw new BundleError(e.reason);
      throw e;
    }
    t = measured("key-index", t);
    const trustRoots = Array.isArray(p.trust["roots"]) ? (p.trust["roots"] as JsonObject[]) : [...p.roots];
    const rules = new Map<string, RuleSet>();
    const lists = new Map<string, StatusList>();
    const bundle = new Bundle(
      p.version,
      p.issuedAt,
      p.expires,
      p.trustVersion,
      p.trustExpires,
      trustRoots,
      authorities,
      byKid,
      rules,
      lists,
      p.digest,
    );
    bundle.withdrawn = p.withdrawn;
    // 3. Rules, each by its province's rule key.
    for (const item of p.ruleItems) {
      const province = await unverifiedProvince(item);
      const signed = await openSigned(
        item,
        await keysByKid(p.ruleSigners[province], `rule signers of ${province}`),
        RULES_TYP,
        `rules of province ${province}`,
      );
      let ruleset: RuleSet;
      try {
        ruleset = RuleSet.fromPayload(signed);
      } catch (e) {
        if (e instanceof TrustError) throw new BundleError(`rules of province ${province}: ${e.reason}`);
        throw e;
      }
      if (rules.has(province)) throw new BundleError(`the bundle carries rules of province ${province} twice`);
      rules.set(province, ruleset);
      bundle.ruleVersions.set(province, { version: ruleset.version, digest: await sha256Text(item as string) });
    }
    t = measured("rules", t);
    // 4. Status lists, each by a non-withdrawn key of its own authority, verified
    // concurrently (WebCrypto and DecompressionStream work off the main thread), checked in order.
    const usable: TrustSource = {
      key: (kid) => byKid.get(kid),
      keys: () => byKid.values(),
    };
    const settled = await Promise.allSettled(p.statusItems.map((item) => StatusList.fromToken(item as string, usable, null, false)));
    for (const outcome of settled) {
      if (outcome.status === "rejected") {
        const e: unknown = outcome.reason;
        if (e instanceof TrustError) throw new BundleError(`a status list in the bundle does not verify: ${e.reason}`);
        throw e;
      }
      const lst = outcome.value;
      if (lst.version === null) throw new BundleError(`status list ${lst.uri} carries no version`);
      if (lists.has(`${lst.iss}/${lst.lst}`) || bundle.statusVersions.has(lst.uri)) {
        throw new BundleError(`the bundle carries status list ${lst.uri} twice`);
      }
      const owner = authorities.get(lst.iss);
      const expected = owner ? `${owner.baseUrl}/v1/status/${lst.iss}/${lst.lst}` : "";
      if (!owner || lst.uri !== expected) {
        throw new BundleError(`a status list in the bundle has sub ${lst.uri}, not ${expected}`);
      }
      lists.set(`${lst.iss}/${lst.lst}`, lst);
      if (lst.version !== null) bundle.statusVersions.set(lst.uri, { version: lst.version, digest: lst.contentDigest });
    }
    measured("status-lists", t);
    return bundle;
  }

  private static authoritiesOf(trust: JsonObject): [Map<string, Authority>, TrustedKey[]] {
    const authorities = new Map<string, Authority>();
    const keys: TrustedKey[] = [];
    const entries = trust["authorities"];
    if (!Array.isArray(entries)) throw new BundleError("trust list authorities must be a list");
    for (const entry of entries) {
      if (!isObject(entry) || !isObject(entry["scope"]) || !Array.isArray(entry["keys"])) {
        throw new BundleError("a trust list entry is malformed");
      }
      const scope = entry["scope"];
      const regions = scope["regions"];
      const kinds = scope["kinds"];
      if (!Array.isArray(regions) || !Array.isArray(kinds) || entry["id"] === undefined) {
        throw new BundleError("a trust list entry is malformed");
      }
      const authority: Authority = {
        id: String(entry["id"]),
        nameZh: String(entry["name_zh"]),
        nameEn: String(entry["name_en"]),
        regions: regions.map(String),
        kinds: kinds.map(String),
        baseUrl: baseUrl(entry["base_url"]),
      };
      for (const k of entry["keys"]) {
        let publicKey: PublicKey;
        try {
          // Every point is checked on the curve here; keys are imported into WebCrypto on first use.
          publicKey = publicKeyOnCurve(k);
        } catch (e) {
          if (e instanceof TrustError) throw new BundleError(`trust list authority ${authority.id}: ${e.reason}`);
          throw e;
        }
        const jwk = k as JsonObject;
        if (jwk["kid"] === undefined || jwk["state"] === undefined) throw new BundleError("a trust list key is malformed");
        const nb = keyTime(jwk["not_before"], authority.id, "not_before");
        const na = keyTime(jwk["not_after"], authority.id, "not_after");
        keys.push({
          kid: String(jwk["kid"]),
          publicKey,
          issuer: authority.id,
          kinds: authority.kinds,
          regions: authority.regions,
          state: String(jwk["state"]),
          notBefore: nb,
          notAfter: na,
        });
      }
      if (authorities.has(authority.id)) throw new BundleError(`authority ${authority.id} is listed twice`);
      authorities.set(authority.id, authority);
    }
    return [authorities, keys];
  }

  key(kid: string): TrustedKey | undefined {
    return this.byKid.get(kid);
  }

  keys(): Iterable<TrustedKey> {
    return this.byKid.values();
  }

  statusList(iss: string, lst: number): StatusList | undefined {
    return this.lists.get(`${iss}/${lst}`);
  }

  rulesFor(province: string): RuleSet | undefined {
    return this.rules.get(province);
  }

  /** The provinces that publish rules in this bundle. */
  get provinces(): string[] {
    return [...this.rules.keys()].sort();
  }

  get statusListCount(): number {
    return this.lists.size;
  }
}

/** A key's not_before or not_after: absent or null (no limit), else an integer (Unix seconds). */
function keyTime(value: Json | undefined, authority: string, name: string): number | null {
  if (value === undefined || value === null) return null;
  if (!isInt(value)) throw new BundleError(`trust list authority ${authority}: key ${name} must be an integer`);
  return Number(value);
}

async function unverifiedProvince(token: Json, what = "rules object"): Promise<string> {
  // Only to pick the rule keys to try; the signature check that follows is what counts.
  let payload: JsonObject;
  try {
    if (typeof token !== "string") throw new BundleError(`a ${what} is malformed`);
    payload = jsonObject(await inflate(b64urlDecode(token.split(".")[1] ?? "", what), MAX_BUNDLE), what);
  } catch (e) {
    if (e instanceof VerificationError) throw new BundleError(`a ${what} is malformed`);
    throw e;
  }
  const province = payload["province"];
  if (typeof province !== "string") throw new BundleError(`a ${what} names no province`);
  return province;
}

/**
 * What a freshness statement's `lists` says of a province's status lists (FORMAT.md 7.5):
 * the unpadded base64url SHA-256 of one line "<sub> <version>\n" per list, sorted by sub.
 */
export async function freshnessDigest(lists: [string, Int][]): Promise<string> {
  const sorted = [...lists].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return sha256Text(sorted.map(([sub, version]) => `${sub} ${version}\n`).join(""));
}
