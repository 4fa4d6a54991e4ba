/**
 * Destination acceptance rules: declarative data, evaluated offline
 * (hcert_verifier.rules, FORMAT.md section 7). Nothing in a rule is executed.
 */

import { isInt, isObject, type Int, type Json, type JsonObject } from "./codec";
import { KINDS, type Certificate } from "./claims";
import { TrustError } from "./errors";

export const PASS = "PASS";
export const FAIL = "FAIL";
export const OPEN = "OPEN";
export type Outcome = typeof PASS | typeof FAIL | typeof OPEN;
export const MAX_RULES = 200;

/** One rule's result and why. */
export interface RuleOutcome {
  readonly id: string;
  readonly outcome: Outcome;
  readonly reason: string;
  readonly description: { zh?: string; en?: string } | null;
}

interface CompiledRule {
  readonly id: string;
  readonly type: string;
  readonly hours: number;
  readonly values: readonly string[];
  readonly areas: readonly [string, number, number][];
  readonly whenKinds: readonly string[];
  readonly whenPrefixes: readonly string[];
  readonly openAccepts: boolean;
  readonly description: { zh?: string; en?: string } | null;
}

/** Days since 1970-01-01 of an ISO date YYYY-MM-DD, or null. */
function isoDay(value: unknown): number | null {
  if (typeof value !== "string" || !/^[0-9]{4}-[0-9]{2}-[0-9]{2}$/.test(value)) return null;
  const [y, m, d] = value.split("-").map(Number) as [number, number, number];
  const t = Date.UTC(y, m - 1, d);
  const back = new Date(t);
  if (y < 1 || back.getUTCFullYear() !== y || back.getUTCMonth() !== m - 1 || back.getUTCDate() !== d) return null;
  return t / 86400000;
}

function strings(value: Json | undefined): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

function compile(rule: JsonObject): CompiledRule {
  // Only the members of the rule's own type are read: a rule of a type this
  // verifier does not know may carry anything else (it evaluates OPEN).
  const kind = rule["type"] as string;
  const when = isObject(rule["when"]) ? rule["when"] : ({} as JsonObject);
  const desc = rule["description"];
  return {
    id: rule["id"] as string,
    type: kind,
    hours: kind === "max_age_hours" || kind === "test_within_hours" ? (rule["hours"] as number) : 0,
    values: kind === "accept_kinds" ? strings(rule["kinds"]) : kind === "health_code_in" ? strings(rule["values"]) : [],
    areas:
      kind === "not_from_key_area"
        ? (rule["areas"] as JsonObject[]).map(
            (area) => [area["prefix"] as string, isoDay(area["from"])!, isoDay(area["to"])!] as [string, number, number],
          )
        : [],
    whenKinds: strings(when["kinds"]),
    whenPrefixes: strings(when["origin_prefixes"]),
    openAccepts: rule["open"] === "accept",
    description: isObject(desc) ? (desc as { zh?: string; en?: string }) : null,
  };
}

function checkRule(rule: Json, where: string): void {
  if (!isObject(rule) || typeof rule["id"] !== "string" || typeof rule["type"] !== "string") {
    throw new TrustError(`${where}: a rule is an object with string id and type`);
  }
  const kind = rule["type"];
  const id = rule["id"];
  if (kind === "max_age_hours" || kind === "test_within_hours") {
    const hours = rule["hours"];
    if (typeof hours !== "number" || !(hours > 0 && hours <= 24 * 365)) {
      throw new TrustError(`${where} ${id}: hours must be a positive integer`);
    }
  } else if (kind === "accept_kinds" || kind === "health_code_in") {
    const key = kind === "accept_kinds" ? "kinds" : "values";
    const values = rule[key];
    if (!Array.isArray(values) || !values.every((v) => typeof v === "string")) {
      throw new TrustError(`${where} ${id}: ${key} must be a list of strings`);
    }
  } else if (kind === "not_from_key_area") {
    const areas = rule["areas"];
    if (!Array.isArray(areas)) throw new TrustError(`${where} ${id}: areas must be a list`);
    for (const area of areas) {
      if (!isObject(area) || typeof area["prefix"] !== "string" || !/^[0-9]+$/.test(area["prefix"])) {
        throw new TrustError(`${where} ${id}: an area has a digit prefix`);
      }
      const from = isoDay(area["from"]);
      const to = isoDay(area["to"]);
      if (from === null || to === null) throw new TrustError(`${where}: dates are YYYY-MM-DD`);
      if (from > to) throw new TrustError(`${where} ${id}: an area's from is after its to`);
    }
  }
  // The members every rule may have are checked whatever its type.
  const when = rule["when"] ?? {};
  const stringList = (v: Json | undefined): boolean =>
    v === undefined || (Array.isArray(v) && v.every((x) => typeof x === "string"));
  if (!isObject(when) || !stringList(when["kinds"]) || !stringList(when["origin_prefixes"])) {
    throw new TrustError(`${where} ${id}: when has lists of strings kinds and origin_prefixes`);
  }
  const open = rule["open"] ?? "reject";
  if (open !== "reject" && open !== "accept") throw new TrustError(`${where} ${id}: open is reject or accept`);
  const description = rule["description"] ?? {};
  if (!isObject(description) || !Object.values(description).every((v) => typeof v === "string")) {
    throw new TrustError(`${where} ${id}: description maps a language to a string`);
  }
}

/** A province's verified rules: checkpoint kind -> rule list. */
export class RuleSet {
  private readonly compiledRules = new Map<string, CompiledRule[]>();

  private constructor(
    readonly province: string,
    readonly version: Int,
    readonly issuedAt: Int,
    readonly checkpoints: JsonObject,
    /** The signed payload, as the device stores it. */
    readonly payload: JsonObject,
  ) {}

  /** Return the checkpoint's rules ready to evaluate, or null if it has none. */
  compiled(checkpoint: string): readonly CompiledRule[] | null {
    let rules = this.compiledRules.get(checkpoint);
    if (rules === undefined && Object.prototype.hasOwnProperty.call(this.checkpoints, checkpoint)) {
      rules = (this.checkpoints[checkpoint] as JsonObject[]).map(compile);
      this.compiledRules.set(checkpoint, rules);
    }
    return rules ?? null;
  }

  /** Validate a rules payload; raise TrustError naming the defect. */
  static fromPayload(payload: JsonObject): RuleSet {
    const province = payload["province"];
    if (typeof province !== "string" || !/^[0-9]{2}$/.test(province)) {
      throw new TrustError("rules: province is a 2-digit code");
    }
    const version = payload["version"];
    const issuedAt = payload["issued_at"];
    if (!isInt(version) || !isInt(issuedAt)) {
      throw new TrustError("rules: version and issued_at are integers");
    }
    const checkpoints = payload["checkpoints"];
    if (!isObject(checkpoints) || !Object.keys(checkpoints).length) {
      throw new TrustError("rules: checkpoints maps a checkpoint kind to its rules");
    }
    for (const [name, rules] of Object.entries(checkpoints)) {
      if (!Array.isArray(rules) || rules.length > MAX_RULES) {
        throw new TrustError(`rules ${province}/${name}: a list of at most ${MAX_RULES} rules`);
      }
      for (const rule of rules) checkRule(rule, `rules ${province}/${name}`);
    }
    return new RuleSet(province, version, issuedAt, checkpoints, payload);
  }
}

function origin(claims: JsonObject): string | null {
  const value = claims["o"] || claims["ro"];
  return typeof value === "string" ? value : null;
}

function hoursText(value: number): string {
  // Python's "{:.0f}": round half to even.
  const r = Math.round(value);
  return String(Math.abs(value % 1) === 0.5 && r % 2 ? r - 1 : r);
}

function one(rule: CompiledRule, cert: Certificate, at: number, today: number, province: string): RuleOutcome {
  const claims = cert.claims;
  const out = (outcome: Outcome, reason: string): RuleOutcome => ({
    id: rule.id,
    outcome,
    reason,
    description: rule.description,
  });
  switch (rule.type) {
    case "accept_kinds":
      return rule.values.includes(cert.kind)
        ? out(PASS, "kind accepted")
        : out(FAIL, `${KINDS[cert.kind]} certificates are not accepted here`);
    case "max_age_hours": {
      const age = (at - cert.iat) / 3600;
      return age <= rule.hours
        ? out(PASS, `issued ${hoursText(age)} h ago`)
        : out(FAIL, `issued ${hoursText(age)} h ago; at most ${rule.hours} h accepted`);
    }
    case "test_within_hours": {
      const ts = claims["ts"];
      if (typeof ts !== "number") return out(OPEN, "the certificate carries no test sampling time");
      const age = (at - ts) / 3600;
      return age <= rule.hours
        ? out(PASS, `sampled ${hoursText(age)} h ago`)
        : out(FAIL, `sampled ${hoursText(age)} h ago; a test within ${rule.hours} h is required`);
    }
    case "not_from_key_area": {
      const o = origin(claims);
      if (o === null) return out(OPEN, "the certificate names no origin");
      for (const [prefix, first, last] of rule.areas) {
        if (first <= today && today <= last && o.startsWith(prefix)) {
          return out(FAIL, `origin ${o} is in key epidemic area ${prefix}`);
        }
      }
      return out(PASS, `origin ${o} is not a designated key epidemic area`);
    }
    case "health_code_in": {
      const code = claims["hc"];
      if (code === undefined || code === null) return out(OPEN, "the certificate carries no health code");
      return typeof code === "string" && rule.values.includes(code)
        ? out(PASS, `health code ${code}`)
        : out(FAIL, `health code ${String(code)} is not accepted`);
    }
    case "destination_is_here": {
      const dest = claims["dp"];
      if (dest === undefined || dest === null) return out(OPEN, "the certificate names no destination province");
      return dest === province
        ? out(PASS, "destination matches")
        : out(FAIL, `the certificate is for province ${String(dest)}, not ${province}`);
    }
    default:
      return out(OPEN, `rule type '${rule.type}' is not known to this verifier (update it)`);
  }
}

/** Evaluate every applicable rule; accepted when no rule FAILs and every OPEN one accepts. */
export function evaluate(
  rules: readonly CompiledRule[],
  cert: Certificate,
  at: number,
  province: string,
): [boolean, RuleOutcome[]] {
  const outcomes: RuleOutcome[] = [];
  let accepted = true;
  const today = Math.floor((at + 8 * 3600) / 86400);
  for (const rule of rules) {
    if (rule.whenKinds.length && !rule.whenKinds.includes(cert.kind)) continue;
    if (rule.whenPrefixes.length) {
      const o = origin(cert.claims);
      if (!(o && rule.whenPrefixes.some((p) => o.startsWith(p)))) continue;
    }
    const outcome = one(rule, cert, at, today, province);
    if (outcome.outcome === FAIL || (outcome.outcome === OPEN && !rule.openAccepts)) accepted = false;
    outcomes.push(outcome);
  }
  return [accepted, outcomes];
}
