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
    // A bundle and an index each have their own version counter: compare with the snapshot's own.
    const held = bundle?.format === INDEX_FORMAT ? state?.index : state?.bundle;
    if (bundle === null || (held && bundle.version < held.version)) return null;
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

/**
 * Sync by the whole bundle (a server without an index): fetch, verify, check
 * against the highest accepted versions, store. Returns the bundle now in force.
 */
export async function sync(roots: JsonObject[], current: Bundle | null, fetches: Fetches = new Fetches()): Promise<Bundle> {
  let t = performance.now();
  let text: string;
  try {
    const answer = await fetches.get("bundle", MAX_BUNDLE, { accept: "application/json, application/jwt" });
    if (answer.status !== 200) throw new SyncError(`the server answered ${answer.status} for its bundle`);
    text = TEXT.decode(answer.data);
  } finally {
    fetches.finish();
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
  await commitChecked(bundle, {}, new Map(), null);
  measured("store", t);
  return bundle;
}

/**
 * Store a verified bundle or index: in one IndexedDB transaction, read the
 * device state, check `bundle` against it (a sync in another tab may have
 * moved it since this one began) and record it, write the snapshot and
 * `values`, add the `added` parts and, with `keep`, delete the parts it does
 * not name. A refusal aborts the transaction: nothing is written.
 */
async function commitChecked(
  bundle: Bundle,
  values: Record<string, unknown>,
  added: Map<string, Uint8Array>,
  keep: ReadonlySet<string> | null,
): Promise<void> {
  try {
    await commitParts(
      (stored) => {
        const state = (stored as StoredState | undefined) ?? emptyState();
        check(state, bundle, Math.floor(Date.now() / 1000));
        return { ...values, bundle: bundle.snapshot(), state: record(state, bundle), roots: bundle.roots };
      },
      added,
      keep,
    );
  } catch (e) {
    if (e instanceof BundleError) throw new SyncError(e.reason, e.code);
    throw e;
  }
}

/** What the last sync by parts received: bytes on the wire (as Chromium counts them) and responses. */
export const lastSync = { bytes: 0, responses: 0 };

const TIMING_BUFFER = 20_000;
if (typeof performance.setResourceTimingBufferSize === "function") performance.setResourceTimingBufferSize(TIMING_BUFFER);

/** Bytes the browser received for this page's /v1/ requests since `since` (PerformanceResourceTiming). */
function received(since: number): { bytes: number; responses: number } {
  let bytes = 0;
  let responses = 0;
  const entries = performance.getEntriesByType("resource") as PerformanceResourceTiming[];
  for (const entry of entries) {
    if (entry.startTime < since || !new URL(entry.name).pathname.includes("/v1/")) continue;
    bytes += entry.transferSize;
    responses += 1;
  }
  // Room for the next sync's entries (a full buffer would drop them); the page keeps no other use of them.
  if (entries.length > TIMING_BUFFER / 2) performance.clearResourceTimings();
  return { bytes, responses };
}

/** How long one sync may take, fetches and all, before it is given up (`hcert_verifier.sync.SYNC_DEADLINE`). */
const SYNC_DEADLINE_MS = 60_000;

/** One sync's fetches: a byte budget shared by all of them, one deadline, and one abort for all once any fails. */
export class Fetches {
  spent = 0;
  failure: SyncError | null = null;
  readonly abort = new AbortController();
  private readonly timer: number;

  /** A sync is given up after `deadline` ms (as hcert-verify's 60 s), so a stalled answer never holds the next one back. */
  constructor(deadline = SYNC_DEADLINE_MS) {
    this.timer = window.setTimeout(() => this.fail(new SyncError(`no answer within ${deadline / 1000} s`)), deadline);
  }

  fail(e: SyncError): SyncError {
    if (this.failure === null) {
      this.failure = e;
      this.abort.abort();
    }
    return this.failure;
  }

  /** The fetches are over: the deadline no longer applies. */
  finish(): void {
    window.clearTimeout(this.timer);
  }

  /**
   * GET a /v1/ path: its status, body and headers. The body is read as a stream
   * and given up past `limit` bytes (or past MAX_BUNDLE for the whole sync), as
   * it arrives, whatever Content-Length says and however well it was gzipped.
   * A network failure is a SyncError.
   */
  async get(
    path: string,
    limit: number,
    { etag, accept }: { etag?: string | undefined; accept?: string } = {},
  ): Promise<{ status: number; data: Uint8Array; headers: Headers }> {
    const what = path.split("/")[0];
    if (this.failure !== null) throw this.failure;
    const headers: Record<string, string> = {};
    if (etag) headers["If-None-Match"] = etag;
    if (accept) headers["Accept"] = accept;
    let response: Response;
    try {
      response = await fetch(`../v1/${path}`, { cache: "no-store", headers, signal: this.abort.signal });
    } catch {
      throw this.fail(new SyncError("cannot reach the server"));
    }
    const declared = Number(response.headers.get("Content-Length") ?? "0");
    if (response.status === 200 && declared > limit && response.headers.get("Content-Encoding") === null) {
      response.body?.cancel().catch(() => undefined);
      throw this.fail(new SyncError(`the server sends more than ${limit} bytes for ${what}`));
    }
    // Read to the end even when the status is not used, so that the browser has counted the response (lastSync).
    const chunks: Uint8Array[] = [];
    let size = 0;
    try {
      const reader = response.body?.getReader();
      if (reader === undefined) await response.arrayBuffer(); // no body (a 304): wait for the response's end
      for (;;) {
        if (reader === undefined) break;
        const { done, value } = await reader.read();
        if (done) break;
        size += value.length;
        this.spent += value.length;
        if (size > limit || this.spent > MAX_BUNDLE) {
          reader.cancel().catch(() => undefined);
          throw this.fail(new SyncError(`the server sent more than ${size > limit ? limit : MAX_BUNDLE} bytes for ${what}`));
        }
        chunks.push(value);
      }
    } catch (e) {
      if (e instanceof SyncError) throw e;
      throw this.fail(new SyncError("the connection broke off"));
    }
    const data = new Uint8Array(size);
    let at = 0;
    for (const chunk of chunks) {
      data.set(chunk, at);
      at += chunk.length;
    }
    return { status: response.status, data, headers: response.headers };
  }
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
 * holding no parts asks for the pack first), fetch the parts it names that
 * the device lacks, verify everything (Bundle.fromIndex) and check it against
 * the highest versions accepted, then store the new parts, the index's
 * content and the state in one IndexedDB transaction, deleting the parts no
 * longer named. Returns the material now in force; `lastSync` says what it
 * cost. A server with no index (404) is synced by its bundle, but only by a
 * device that never accepted an index.
 */
export async function syncParts(roots: JsonObject[], current: Bundle | null): Promise<Bundle> {
  const started = performance.now();
  const fetches = new Fetches();
  try {
    return await syncIndex(roots, current, fetches, started);
  } finally {
    fetches.finish();
    await new Promise((resolve) => setTimeout(resolve, 0)); // the browser files a response's timing as a task
    Object.assign(lastSync, received(started));
  }
}

async function syncIndex(roots: JsonObject[], current: Bundle | null, fetches: Fetches, started: number): Promise<Bundle> {
  const seeded = new Map<string, Uint8Array>();
  const added = new Map<string, Uint8Array>();
  let envelope: string | null = null;
  let etag: string | null = null;
  const state = (await getValue<StoredState>("state")) ?? emptyState();
  if ((await countParts()) === 0) {
    // Nothing in hand: the index and every part in one gzipped body; it names the index's ETag for the
    // next sync. Any answer but 200 (a server without the pack) leaves the index and parts one by one.
    const pack = await fetches.get("index/pack", MAX_BUNDLE);
    if (pack.status === 200) {
      envelope = await unpack(pack.data, seeded);
      etag = pack.headers.get("Index-ETag");
    }
  }
  if (envelope === null) {
    const held = current?.format === INDEX_FORMAT ? (await getValue<string>("indexEtag")) || undefined : undefined;
    const answer = await fetches.get("index", MAX_INDEX, { etag: held });
    if (answer.status === 404 && !state.index) return sync(roots, current, fetches);
    if (answer.status === 304 && held !== undefined && current !== null) return current;
    if (answer.status !== 200) throw new SyncError(`the server answered ${answer.status} for its index`);
    envelope = TEXT.decode(answer.data);
    etag = answer.headers.get("ETag");
  }
  const source = async (addresses: string[]): Promise<Map<string, Uint8Array>> => {
    const out = new Map<string, Uint8Array>();
    // A stored part that no longer matches its address (damaged storage) is fetched again, not a dead end.
    for (const [address, data] of await getParts(addresses)) if ((await partAddress(data)) === address) out.set(address, data);
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
      while (next < lacking.length && fetches.failure === null) {
        const address = lacking[next++]!;
        const answer = await fetches.get(`parts/${address}`, MAX_PART);
        if (answer.status === 404) continue; // Bundle.fromIndex says part_missing
        if (answer.status !== 200) throw fetches.fail(new SyncError(`the server answered ${answer.status} for part ${address}`));
        out.set(address, answer.data);
        added.set(address, answer.data);
      }
    };
    await Promise.allSettled(Array.from({ length: PARALLEL_FETCHES }, worker));
    if (fetches.failure !== null) throw fetches.failure;
    return out;
  };
  let bundle: Bundle;
  try {
    bundle = await Bundle.fromIndex(envelope, source, roots);
  } catch (e) {
    if (fetches.failure !== null) throw fetches.failure; // the network, not the material
    if (e instanceof BundleError) throw new SyncError(`the new index does not verify (${e.reason})`, e.code);
    throw new SyncError(`the new index does not verify (${String(e)})`, "bundle_invalid");
  }
  fetches.finish(); // fetched: the deadline is for the network, not for verifying on a slow phone
  const t = measured("fetch", started);
  for (const address of added.keys()) if (!bundle.parts.has(address)) added.delete(address);
  if (current !== null && current.format === INDEX_FORMAT && bundle.digest === current.digest) {
    // The same index again (for instance another ETag): keep its ETag, and any of its parts that were missing.
    await commitParts({ indexEtag: etag ?? "" }, added, bundle.parts);
    return current;
  }
  // Checked against the state as it is when stored (the fetches took time; another tab may have synced).
  await commitChecked(bundle, { indexEtag: etag ?? "" }, added, bundle.parts);
  measured("store", t);
  return bundle;
}
