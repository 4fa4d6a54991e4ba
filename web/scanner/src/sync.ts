/**
 * Keep the device's bundle fresh (hcert_verifier.sync, in the browser): fetch
 * /v1/bundle, verify it from the pinned roots, refuse one older than the
 * highest version accepted, and store it with that version in IndexedDB.
 * On any failure the last good bundle stays.
 */

import { Bundle, BundleError } from "./verifier";
import { sha256Text, type BundleSnapshot, type Versioned } from "./verifier/bundle";
import type { JsonObject } from "./verifier/codec";
import { getValue, putValues } from "./store";

/**
 * What the device remembers between bundles (hcert_verifier.state): the highest
 * accepted version of the bundle, the trust list, each province's rules and
 * each status list (by URI), each with a digest of that version's content, and
 * the keys bundles withdrew (with the trust list version then in force).
 */
export interface StoredState {
  bundle: { version: number; issuedAt: number; digest: string } | null;
  trustList: Versioned | null;
  rules: Record<string, Versioned>;
  statusLists: Record<string, Versioned>;
  withdrawn: Record<string, number>;
}

const CLOCK_LEEWAY = 300;

function emptyState(): StoredState {
  return { bundle: null, trustList: null, rules: {}, statusLists: {}, withdrawn: {} };
}

function compare(what: string, next: Versioned, old: Versioned | null | undefined, rollback: string): void {
  if (!old) return;
  if (next.version < old.version) {
    throw new SyncError(`${what} version ${next.version} is older than version ${old.version} the device accepted`, rollback);
  }
  if (next.version === old.version && next.digest !== old.digest) {
    throw new SyncError(`${what} version ${next.version} differs from the one the device accepted`, "version_reused");
  }
}

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

/** Refuse a bundle that is not fresh at the device time, or would take the device backwards. */
export function check(state: StoredState, bundle: Bundle, now: number): void {
  if (bundle.issuedAt > now + CLOCK_LEEWAY) {
    throw new SyncError(`the bundle is issued at ${bundle.issuedAt}, after the device time ${now}`, "bundle_issued_in_future");
  }
  if (now >= bundle.expires) throw new SyncError(`the bundle expired at ${bundle.expires}`, "bundle_expired");
  compare("bundle", { version: bundle.version, digest: bundle.digest }, state.bundle, "bundle_rollback");
  if (state.bundle !== null && bundle.issuedAt < state.bundle.issuedAt) {
    throw new SyncError("the bundle is issued before the bundle the device accepted", "bundle_rollback");
  }
  compare(
    "trust list",
    { version: bundle.trustListVersion, digest: bundle.trustListDigest },
    state.trustList,
    "trust_list_rollback",
  );
  for (const [province, v] of bundle.ruleVersions) {
    compare(`rules of province ${province}`, v, state.rules[province], "rules_rollback");
  }
  for (const [uri, v] of bundle.statusVersions) {
    compare(`status list ${uri}`, v, state.statusLists[uri], "status_list_rollback");
  }
  for (const [kid, trustVersion] of Object.entries(state.withdrawn).sort()) {
    if (trustVersion < bundle.trustListVersion) continue; // a newer root-signed trust list has the last word
    const key = bundle.key(kid);
    if (key !== undefined && key.state !== "withdrawn") {
      throw new SyncError(`key ${kid} was withdrawn by an earlier bundle; this one trusts it again`, "withdrawal_dropped");
    }
  }
}

/** The state after accepting `bundle` (call check first). */
export function record(state: StoredState, bundle: Bundle): StoredState {
  const withdrawn: Record<string, number> = {};
  for (const [kid, v] of Object.entries(state.withdrawn)) if (v >= bundle.trustListVersion) withdrawn[kid] = v;
  for (const kid of bundle.withdrawn) withdrawn[kid] = Math.max(withdrawn[kid] ?? 0, bundle.trustListVersion);
  const rules = { ...state.rules };
  for (const [province, v] of bundle.ruleVersions) rules[province] = v;
  const statusLists = { ...state.statusLists };
  for (const [uri, v] of bundle.statusVersions) statusLists[uri] = v;
  return {
    bundle: { version: bundle.version, issuedAt: bundle.issuedAt, digest: bundle.digest },
    trustList: { version: bundle.trustListVersion, digest: bundle.trustListDigest },
    rules,
    statusLists,
    withdrawn,
  };
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
  // The same bundle again: nothing to verify or store.
  if (current !== null && (await quickDigest(text)) === current.digest) return current;
  let bundle: Bundle;
  try {
    bundle = await Bundle.load(text, roots);
  } catch (e) {
    if (e instanceof BundleError) throw new SyncError(`the new bundle does not verify (${e.reason})`, e.code);
    throw new SyncError(`the new bundle does not verify (${String(e)})`, "bundle_invalid");
  }
  if (current !== null && bundle.digest === current.digest) return current;
  const state = (await getValue<StoredState>("state")) ?? emptyState();
  check(state, bundle, Math.floor(Date.now() / 1000));
  await putValues({ bundle: bundle.snapshot(), state: record(state, bundle), roots: bundle.roots });
  return bundle;
}
