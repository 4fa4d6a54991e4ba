/**
 * Keep the device's bundle fresh (hcert_verifier.sync, in the browser): fetch
 * /v1/bundle, verify it from the pinned roots, refuse one older than the
 * highest version accepted, and store it with that version in IndexedDB.
 * On any failure the last good bundle stays.
 */

import { Bundle, BundleError } from "./verifier";
import { measured, sha256Text, type BundleSnapshot } from "./verifier/bundle";
import { check, emptyState, record, type StoredState } from "./verifier/state";
import type { JsonObject } from "./verifier/codec";
import { getValue, putValues } from "./store";

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
