/**
 * What a device remembers between bundles, so that trust material never goes
 * backwards (hcert_verifier.state): the highest accepted version of every signed
 * object, with a digest of its content, and the withdrawals bundles announced.
 */

import { intMax, type Int } from "./codec";
import { BundleError } from "./errors";
import { INDEX_FORMAT, type Bundle, type Versioned } from "./bundle";

/**
 * What the device remembers between bundles (hcert_verifier.state): the highest
 * accepted version of the bundle, the trust list, each province's rules and
 * each status list (by URI), each with a digest of that version's content, and
 * the keys bundles withdrew (with the trust list version then in force).
 */
export interface StoredState {
  bundle: { version: Int; issuedAt: number; digest: string } | null;
  /** The accepted index of parts (hcert-index/1): its own version counter, like `bundle` (absent in states stored before). */
  index?: { version: Int; issuedAt: number; digest: string } | null;
  trustList: Versioned | null;
  rules: Record<string, Versioned>;
  statusLists: Record<string, Versioned>;
  withdrawn: Record<string, Int>;
  /** Each province's freshness statement (FORMAT.md section 7.5; absent in states stored before). */
  fresh?: Record<string, Versioned>;
}

const CLOCK_LEEWAY = 300;

/** The state of a device that has accepted nothing yet. */
export function emptyState(): StoredState {
  return { bundle: null, index: null, trustList: null, rules: {}, statusLists: {}, withdrawn: {}, fresh: {} };
}

function compare(what: string, next: Versioned, old: Versioned | null | undefined, rollback: string): void {
  if (!old) return;
  if (next.version < old.version) {
    throw new BundleError(`${what} version ${next.version} is older than version ${old.version} the device accepted`, rollback);
  }
  if (next.version === old.version && next.digest !== old.digest) {
    throw new BundleError(`${what} version ${next.version} differs from the one the device accepted`, "version_reused");
  }
}

/**
 * Refuse a bundle that is not fresh at the device time `now`, or would take the
 * device backwards; throw BundleError with the specific code (FORMAT.md 7.2).
 */
export function check(state: StoredState, bundle: Bundle, now: number): void {
  if (bundle.issuedAt > now + CLOCK_LEEWAY) {
    throw new BundleError(`the bundle is issued at ${bundle.issuedAt}, after the device time ${now}`, "bundle_issued_in_future");
  }
  if (now >= bundle.expires) throw new BundleError(`the bundle expired at ${bundle.expires}`, "bundle_expired");
  if (now >= bundle.trustListExpires) {
    throw new BundleError(
      `the trust list (version ${bundle.trustListVersion}) expired at ${bundle.trustListExpires}`,
      "trust_list_expired",
    );
  }
  // A bundle and an index each have their own version counter (FORMAT.md section 7.4).
  const [what, held] = bundle.format === INDEX_FORMAT ? ["index", state.index ?? null] : ["bundle", state.bundle];
  compare(what, { version: bundle.version, digest: bundle.digest }, held, "bundle_rollback");
  if (held !== null && bundle.issuedAt < held.issuedAt) {
    throw new BundleError(`the ${what} is issued before the ${what} the device accepted`, "bundle_rollback");
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
  for (const [province, v] of bundle.freshVersions) {
    compare(`freshness statement of province ${province}`, v, state.fresh?.[province], "freshness_rollback");
  }
  for (const [kid, trustVersion] of Object.entries(state.withdrawn).sort()) {
    if (trustVersion < bundle.trustListVersion) continue; // a newer root-signed trust list has the last word
    const key = bundle.key(kid);
    if (key !== undefined && key.state !== "withdrawn") {
      throw new BundleError(`key ${kid} was withdrawn by an earlier bundle; this one trusts it again`, "withdrawal_dropped");
    }
  }
}

/** The state after accepting `bundle` (call check first). */
export function record(state: StoredState, bundle: Bundle): StoredState {
  const withdrawn: Record<string, Int> = {};
  for (const [kid, v] of Object.entries(state.withdrawn)) if (v >= bundle.trustListVersion) withdrawn[kid] = v;
  for (const kid of bundle.withdrawn) withdrawn[kid] = intMax(withdrawn[kid] ?? 0, bundle.trustListVersion);
  const rules = { ...state.rules };
  for (const [province, v] of bundle.ruleVersions) rules[province] = v;
  const statusLists = { ...state.statusLists };
  for (const [uri, v] of bundle.statusVersions) statusLists[uri] = v;
  const fresh = { ...(state.fresh ?? {}) };
  for (const [province, v] of bundle.freshVersions) fresh[province] = v;
  const accepted = { version: bundle.version, issuedAt: bundle.issuedAt, digest: bundle.digest };
  const byIndex = bundle.format === INDEX_FORMAT;
  return {
    bundle: byIndex ? state.bundle : accepted,
    index: byIndex ? accepted : (state.index ?? null),
    trustList: { version: bundle.trustListVersion, digest: bundle.trustListDigest },
    rules,
    statusLists,
    withdrawn,
    fresh,
  };
}

