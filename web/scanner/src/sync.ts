/**
 * Keep the device's bundle fresh (hcert_verifier.sync, in the browser): fetch
 * /v1/bundle, verify it from the pinned roots, refuse one older than the
 * highest version accepted, and store it with that version in IndexedDB.
 * On any failure the last good bundle stays.
 */

import { Bundle, BundleError } from "./verifier";
import { sha256Text, type BundleSnapshot } from "./verifier/bundle";
import type { JsonObject } from "./verifier/codec";
import { getValue, putValues } from "./store";

/** The highest versions this device has accepted (rollback refusal). */
export interface Versions {
  bundle: number;
  trustList: number;
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
    const bundle = Bundle.fromSnapshot(await getValue<BundleSnapshot>("bundle"));
    const seen = await getValue<Versions>("versions");
    if (bundle === null || (seen !== undefined && bundle.version < seen.bundle)) return null;
    return bundle;
  } catch {
    return null;
  }
}

export class SyncError extends Error {}

/** Fetch, verify, check against the highest accepted versions, store. Returns the bundle now in force. */
export async function sync(roots: JsonObject[], current: Bundle | null): Promise<Bundle> {
  let token: string;
  try {
    const response = await fetch("../v1/bundle", { cache: "no-store", headers: { Accept: "application/jwt" } });
    if (!response.ok) throw new SyncError(`the server answered ${response.status}`);
    token = await response.text();
  } catch (e) {
    if (e instanceof SyncError) throw e;
    throw new SyncError("cannot reach the server");
  }
  if (current !== null && (await sha256Text(token.trim())) === current.digest) return current;
  let bundle: Bundle;
  try {
    bundle = await Bundle.load(token, roots);
  } catch (e) {
    throw new SyncError(`the new bundle does not verify (${e instanceof BundleError ? e.reason : String(e)})`);
  }
  const seen = (await getValue<Versions>("versions")) ?? { bundle: -1, trustList: -1 };
  if (bundle.version < seen.bundle) {
    throw new SyncError(`the server sent bundle ${bundle.version}, older than ${seen.bundle} accepted`);
  }
  if (bundle.trustListVersion < seen.trustList) {
    throw new SyncError(`the server sent trust list ${bundle.trustListVersion}, older than ${seen.trustList} accepted`);
  }
  const versions: Versions = {
    bundle: Math.max(seen.bundle, bundle.version),
    trustList: Math.max(seen.trustList, bundle.trustListVersion),
  };
  await putValues({ bundle: bundle.snapshot(), versions, roots: bundle.roots });
  return bundle;
}
