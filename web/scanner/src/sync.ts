/**
 * Keep the device's trust material fresh (hcert_verifier.sync, in the browser):
 * by parts (`syncParts`: the signed index, then only the parts the device
 * lacks, FORMAT.md section 7.4), or a whole bundle (`sync`: /v1/bundle, for a
 * server without an index). Everything is verified from the pinned roots and
 * refused if older than the highest versions accepted, then stored in
 * IndexedDB. On any failure the last good material stays.
 */

import { Bundle, BundleError } from "./verifier";
import {
  INDEX_FORMAT,
  MAX_BUNDLE,
  MAX_INDEX,
  MAX_PART,
  PACK_FORMAT,
  isAddress,
  measured,
  partAddress,
  sha256Text,
  type BundleSnapshot,
} from "./verifier/bundle";
import { check, emptyState, record, type StoredState } from "./verifier/state";
import type { JsonObject } from "./verifier/codec";
import { commitParts, countParts, getParts, getValue, putValues } from "./store";

/** Parts fetched at once (a phone's browser opens up to 6 connections to one server). */
const PARALLEL_FETCHES = 4;

/** The digest the bundle would have (of its bundle JWS), read without verifying anything. */
async function quickDigest(text: string): Promise<string | null> {
  try {
    const trimmed = text.trim();
    const token: unknown = trimmed.startsWith("{") ? (JSON.parse(trimmed) as { bundle?: unknown }).bundle : trimmed;
    return typeof token === "string" ? await sha256Text(token) : null;
  } catch {
    return null;
  }
}

export interface DeviceState {
  bundle: Bundle | null;
  roots: JsonObject[] | null;
}

/** The pinned roots: from IndexedDB, or on first use from this app's /scan/roots.json. */
export async function pinnedRoots(): Promise<JsonObject[] | null> {
  const stored = await getValue<JsonObject[]>("roots");
  if (stored) return stored;
  try {
    const response = await fetch("roots.json", { cache: "no-store" });
    if (!response.ok) return null;
    const body = (await response.json()) as { roots?: JsonObject[] };
    if (!Array.isArray(body.roots) || !body.roots.length) return null;
    await putValues({ roots: body.roots });
    return body.roots;
  } catch {
    return null;
  }
}

/**
 * The bundle this device verified and stored. IndexedDB is written only by
 * this page after a full verification, so the snapshot is rebuilt without
 * checking 3,000 signatures again on every start; it must still be no older
 * than the highest version accepted.
 */
export async function loadStored(): Promise<Bundle | null> {
  try {
    let t = performance.now();
    const stored = await getValue<BundleSnapshot>("bundle");
    t = measured("stored-read", t);
    const bundle = Bundle.fromSnapshot(stored);
    t = measured("stored-rebuild", t);
    const state = await getValue<StoredState>("state");
    if (bundle === null || (state?.bundle && bundle.version < state.bundle.version)) return null;
    return bundle;
  } catch {
    return null;
  }
}

/** A sync failed; `code` says why (sync_failed, bundle_invalid, bundle_rollback, ...). The last good bundle stays. */
export class SyncError extends Error {
  constructor(
    message: string,
    readonly code: string = "sync_failed",
  ) {
    super(`${code}: ${message}`);
  }
}

/** Fetch, verify, check against the highest accepted versions, store. Returns the bundle now in force. */
export async function sync(roots: JsonObject[], current: Bundle | null): Promise<Bundle> {
  let t = performance.now();
  let text: string;
  try {
    const response = await fetch("../v1/bundle", {
      cache: "no-store",
      headers: { Accept: "application/json, application/jwt" },
    });
    if (!response.ok) throw new SyncError(`the server answered ${response.status}`);
    text = await response.text();
  } catch (e) {
    if (e instanceof SyncError) throw e;
    throw new SyncError("cannot reach the server");
  }
  t = measured("fetch", t);
  // The same bundle again: nothing to verify or store.
  if (current !== null && (await quickDigest(text)) === current.digest) return current;
  let bundle: Bundle;
  try {
    bundle = await Bundle.load(text, roots);
  } catch (e) {
    if (e instanceof BundleError) throw new SyncError(`the new bundle does not verify (${e.reason})`, e.code);
    throw new SyncError(`the new bundle does not verify (${String(e)})`, "bundle_invalid");
  }
  t = measured("verify", t);
  if (current !== null && bundle.digest === current.digest) return current;
  const state = (await getValue<StoredState>("state")) ?? emptyState();
  try {
    check(state, bundle, Math.floor(Date.now() / 1000));
  } catch (e) {
    if (e instanceof BundleError) throw new SyncError(e.reason, e.code);
    throw e;
  }
  t = measured("state-check", t);
  await putValues({ bundle: bundle.snapshot(), state: record(state, bundle), roots: bundle.roots });
  measured("store", t);
  return bundle;
}

/** What the last sync by parts received: bytes on the wire (headers included, as the browser counts them) and responses. */
export const lastSync = { bytes: 0, responses: 0 };

if (typeof performance.setResourceTimingBufferSize === "function") performance.setResourceTimingBufferSize(100_000);

/** Bytes the browser received for this page's /v1/ requests since `since` (PerformanceResourceTiming). */
function received(since: number): { bytes: number; responses: number } {
  let bytes = 0;
  let responses = 0;
  for (const entry of performance.getEntriesByType("resource") as PerformanceResourceTiming[]) {
    if (entry.startTime < since || !new URL(entry.name).pathname.includes("/v1/")) continue;
    bytes += entry.transferSize;
    responses += 1;
  }
  performance.clearResourceTimings();
  return { bytes, responses };
}

/** GET a /v1/ path as bytes; `null` for a 404; a SyncError for anything else that is not 200 (or 304 when `etag`). */
async function get(
  path: string,
  limit: number,
  etag?: string,
): Promise<{ status: number; data: Uint8Array; headers: Headers } | null> {
  let response: Response;
  try {
    response = await fetch(`../v1/${path}`, {
      cache: "no-store",
      headers: etag ? { "If-None-Match": etag } : {},
    });
  } catch {
    throw new SyncError("cannot reach the server");
  }
  // The body is read to its end in every case, so that the browser has counted the response (lastSync).
  if (response.status === 404) {
    await response.arrayBuffer().catch(() => undefined);
    return null;
  }
  if (response.status === 304 && etag) {
    await response.arrayBuffer().catch(() => undefined);
    return { status: 304, data: new Uint8Array(), headers: response.headers };
  }
  if (response.status !== 200) throw new SyncError(`the server answered ${response.status} for ${path.split("/")[0]}`);
  const data = new Uint8Array(await response.arrayBuffer());
  if (data.length > limit) throw new SyncError(`the server sent more than ${limit} bytes for ${path.split("/")[0]}`);
  return { status: 200, data, headers: response.headers };
}

const TEXT = new TextDecoder();

/** Read a pack (hcert-pack/1): its parts go to `seeded` by address (only candidates, checked like fetched ones); return its index. */
async function unpack(data: Uint8Array, seeded: Map<string, Uint8Array>): Promise<string> {
  let pack: unknown;
  try {
    pack = JSON.parse(TEXT.decode(data));
  } catch {
    throw new SyncError("the server's pack is not an hcert-pack/1 document");
  }
  const body = pack as { format?: unknown; index?: unknown; parts?: unknown };
  if (typeof pack !== "object" || pack === null || body.format !== PACK_FORMAT || typeof body.index !== "string") {
    throw new SyncError("the server's pack is not an hcert-pack/1 document");
  }
  const encoder = new TextEncoder();
  for (const text of Array.isArray(body.parts) ? body.parts : []) {
    if (typeof text !== "string") continue;
    const bytes = encoder.encode(text);
    seeded.set(await partAddress(bytes), bytes);
  }
  return body.index;
}

/**
 * Sync by parts: GET the index (conditional on the last one's ETag; a device
 * holding no parts asks for the pack instead), fetch the parts it names that
 * the device lacks, verify everything (Bundle.fromIndex) and check it against
 * the highest versions accepted, then store the new parts, the index and the
 * state in one IndexedDB transaction, deleting the parts no longer named.
 * Returns the material now in force; `lastSync` says what it cost. A server
 * with no index (404) is synced by its bundle instead.
 */
export async function syncParts(roots: JsonObject[], current: Bundle | null): Promise<Bundle> {
  const started = performance.now();
  let t = started;
  try {
    return await syncIndex(roots, current, () => (t = measured("fetch", t)));
  } finally {
    Object.assign(lastSync, received(started));
  }
}

async function syncIndex(roots: JsonObject[], current: Bundle | null, fetched: () => void): Promise<Bundle> {
  const seeded = new Map<string, Uint8Array>();
  const added = new Map<string, Uint8Array>();
  let envelope: string | null = null;
  let etag: string | null = null;
  if ((await countParts()) === 0) {
    // Nothing in hand: the index and every part in one gzipped body; it names the index's ETag for the next sync.
    const pack = await get("index/pack", MAX_BUNDLE);
    if (pack !== null) {
      envelope = await unpack(pack.data, seeded);
      etag = pack.headers.get("Index-ETag");
    }
  }
  if (envelope === null) {
    const held = current?.format === INDEX_FORMAT ? ((await getValue<string>("indexEtag")) ?? undefined) : undefined;
    const answer = await get("index", MAX_INDEX, held);
    if (answer === null) return sync(roots, current);
    if (answer.status === 304 && current !== null) return current;
    envelope = TEXT.decode(answer.data);
    etag = answer.headers.get("ETag");
  }
  const source = async (addresses: string[]): Promise<Map<string, Uint8Array>> => {
    const out = await getParts(addresses);
    for (const address of addresses) {
      const candidate = seeded.get(address);
      if (!out.has(address) && candidate !== undefined) {
        out.set(address, candidate);
        added.set(address, candidate);
      }
    }
    const lacking = addresses.filter((a) => !out.has(a) && isAddress(a));
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < lacking.length) {
        const address = lacking[next++]!;
        const answer = await get(`parts/${address}`, MAX_PART);
        if (answer === null) continue; // Bundle.fromIndex says part_missing
        out.set(address, answer.data);
        added.set(address, answer.data);
      }
    };
    await Promise.all(Array.from({ length: PARALLEL_FETCHES }, worker));
    return out;
  };
  let bundle: Bundle;
  try {
    bundle = await Bundle.fromIndex(envelope, source, roots);
  } catch (e) {
    if (e instanceof SyncError) throw e; // the network, not the material
    if (e instanceof BundleError) throw new SyncError(`the new index does not verify (${e.reason})`, e.code);
    throw new SyncError(`the new index does not verify (${String(e)})`, "bundle_invalid");
  }
  fetched();
  let t = performance.now();
  if (current !== null && current.format === INDEX_FORMAT && bundle.digest === current.digest) {
    if (etag) await putValues({ indexEtag: etag });
    return current;
  }
  const state = (await getValue<StoredState>("state")) ?? emptyState();
  try {
    check(state, bundle, Math.floor(Date.now() / 1000));
  } catch (e) {
    if (e instanceof BundleError) throw new SyncError(e.reason, e.code);
    throw e;
  }
  t = measured("state-check", t);
  for (const address of added.keys()) if (!bundle.parts.has(address)) added.delete(address);
  await commitParts(
    { bundle: bundle.snapshot(), state: record(state, bundle), roots: bundle.roots, indexEtag: etag ?? "" },
    added,
    bundle.parts,
  );
  measured("store", t);
  return bundle;
}
