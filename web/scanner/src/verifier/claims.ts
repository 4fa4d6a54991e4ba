/**
 * The hcert claim set: every claim checked for presence, type and range
 * (hcert_verifier._claims, FORMAT.md section 2).
 */

import { codePoints, isInt, type Json, type JsonObject } from "./codec";
import { VerificationError } from "./errors";

export const KIND_RETURN_TO_WORK = "w";
export const KIND_FREIGHT_TEST = "f";
export const KINDS: Record<string, string> = { w: "return-to-work", f: "freight-test" };
export const MIN_RESIDENCY_DAYS = 14;

const REGION = /^[1-8][0-9]{5}$/;
const AUTHORITY = /^[1-8][0-9]{5}(?:[0-9]{3}(?:[0-9]{3})?)?$/;
const PROVINCE = /^[1-8][0-9]$/;
const MASKED_ID = /^[1-8][0-9]{5}[0-9]{3}[0-9X]$/;
const JTI = /^[A-Za-z0-9_-]{12}$/;
/** Mainland plate: province abbreviation, office letter, 5 or 6 letters/digits; no I or O. */
export const PLATE =
  /^[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-HJ-NP-Z][A-HJ-NP-Z0-9]{4,5}[A-HJ-NP-Z0-9挂学警港澳]$/u;
const MAX_TEXT = 64;
const TIME_MIN = 1_577_836_800;
const TIME_MAX = 4_102_444_800;
const CST_OFFSET = 8 * 3600;
// Python's str.isprintable(): no "Other" or "Separator" character except the ASCII space.
const NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

const COMMON = ["iss", "nbf", "exp", "jti", "iat", "st", "k", "n", "id"];
const ALLOWED: Record<string, Set<string>> = {
  w: new Set([...COMMON, "o", "rs", "sy", "q", "hc", "dp", "em", "vp"]),
  f: new Set([...COMMON, "r", "vp", "tk", "tr", "ts", "lab", "ro", "rd", "nk"]),
};

/** Where a certificate's revocation bit lives: list `lst` of issuer `iss`, index `idx`. */
export interface StatusReference {
  readonly iss: string;
  readonly lst: number;
  readonly idx: number;
}

/** A verified certificate: what a guard needs, plus every claim. Times are Unix seconds. */
export interface Certificate {
  readonly kind: string;
  readonly issuer: string;
  readonly jti: string;
  readonly name: string;
  readonly maskedId: string;
  readonly iat: number;
  readonly nbf: number;
  readonly exp: number;
  readonly status: StatusReference | null;
  readonly claims: JsonObject;
}

/** Return the display form `510321********123X` of a masked ID. */
export function unmaskDisplay(masked: string): string {
  return masked.slice(0, 6) + "*".repeat(8) + masked.slice(6);
}

function fail(claim: string, why: string): VerificationError {
  return new VerificationError("bad_claims", `claim '${claim}' ${why}`);
}

function has(claims: JsonObject, name: string): boolean {
  return Object.prototype.hasOwnProperty.call(claims, name);
}

function get(claims: JsonObject, name: string): Json | undefined {
  return has(claims, name) ? claims[name] : undefined;
}

function int(claims: JsonObject, name: string, lo: number, hi: number): number {
  const value = get(claims, name);
  if (!isInt(value)) throw fail(name, "must be an integer");
  if (typeof value === "bigint" || value < lo || value > hi) throw fail(name, `must be between ${lo} and ${hi}`);
  return value;
}

function isPrintable(value: string): boolean {
  for (const ch of value) {
    if (ch !== " " && NOT_PRINTABLE.test(ch)) return false;
  }
  return true;
}

function text(claims: JsonObject, name: string): string {
  const value = get(claims, name);
  if (typeof value !== "string" || !value || codePoints(value) > MAX_TEXT || !isPrintable(value)) {
    throw fail(name, `must be printable text of 1 to ${MAX_TEXT} characters`);
  }
  return value;
}

function choice(claims: JsonObject, name: string, choices: readonly (string | number)[]): void {
  const value = get(claims, name);
  if (!(typeof value === "string" || typeof value === "number") || !choices.includes(value)) {
    throw fail(name, `must be one of ${choices.map((c) => JSON.stringify(c)).join(", ")}`);
  }
}

function match(claims: JsonObject, name: string, pattern: RegExp): string {
  const value = get(claims, name);
  if (typeof value !== "string" || !pattern.test(value)) throw fail(name, "is missing or not in the required format");
  return value;
}

/** Days since 1970-01-01 of a YYYYMMDD claim (a real calendar date, 2000 to 2099). */
function day(claims: JsonObject, name: string): number {
  const value = int(claims, name, 20000101, 20991231);
  const y = Math.floor(value / 10000);
  const m = Math.floor(value / 100) % 100;
  const d = value % 100;
  const t = Date.UTC(y, m - 1, d);
  const back = new Date(t);
  if (m < 1 || m > 12 || back.getUTCMonth() !== m - 1 || back.getUTCDate() !== d) {
    throw fail(name, "is not a calendar date YYYYMMDD");
  }
  return t / 86400000;
}

/** Check every claim of a signature-verified payload and build a Certificate; raise bad_claims. */
export function parseClaims(claims: JsonObject): Certificate {
  const kind = get(claims, "k");
  const allowed = typeof kind === "string" ? ALLOWED[kind] : undefined;
  if (allowed === undefined) throw fail("k", "must be one of 'w', 'f'");
  const extra = Object.keys(claims)
    .filter((name) => !allowed.has(name))
    .sort();
  if (extra.length) throw fail(extra[0]!, `is not defined for kind '${kind as string}'`);
  const iss = match(claims, "iss", AUTHORITY);
  const nbf = int(claims, "nbf", TIME_MIN, TIME_MAX);
  const exp = int(claims, "exp", TIME_MIN, TIME_MAX);
  const iat = has(claims, "iat") ? int(claims, "iat", TIME_MIN, TIME_MAX) : nbf;
  if (!(iat <= nbf && nbf < exp)) throw fail("exp", "must come after nbf, and nbf not before iat");
  const jti = match(claims, "jti", JTI);
  const name = text(claims, "n");
  const maskedId = match(claims, "id", MASKED_ID);
  let status: StatusReference | null = null;
  const st = get(claims, "st");
  if (st !== undefined && st !== null) {
    if (
      !(
        Array.isArray(st) &&
        st.length === 2 &&
        typeof st[0] === "number" &&
        typeof st[1] === "number" &&
        st[0] >= 0 &&
        st[0] < 2 ** 31 &&
        st[1] >= 0 &&
        st[1] < 2 ** 31
      )
    ) {
      throw fail("st", "must be [index, list number] with two non-negative integers");
    }
    status = { iss, lst: st[1], idx: st[0] };
  }
  const issueDay = Math.floor((iat + CST_OFFSET) / 86400);
  if (kind === KIND_RETURN_TO_WORK) {
    match(claims, "o", REGION);
    if (issueDay - day(claims, "rs") < MIN_RESIDENCY_DAYS) {
      throw fail("rs", `must be at least ${MIN_RESIDENCY_DAYS} days before the issue date`);
    }
    if (get(claims, "sy") !== 0) throw fail("sy", "must be 0 (no symptoms declared)");
    const q = get(claims, "q");
    if (q !== 0 && day(claims, "q") > issueDay) {
      throw fail("q", "quarantine release must be on or before the issue date");
    }
    const hc = get(claims, "hc");
    if (hc !== "g" && hc !== "y") throw fail("hc", "must be 'g' or 'y'");
    if (has(claims, "dp")) match(claims, "dp", PROVINCE);
    if (has(claims, "em")) text(claims, "em");
    if (has(claims, "vp")) match(claims, "vp", PLATE);
  } else {
    choice(claims, "r", ["d", "p"]);
    match(claims, "vp", PLATE);
    choice(claims, "tk", ["n", "a"]);
    choice(claims, "tr", ["n"]);
    const sampled = int(claims, "ts", TIME_MIN, TIME_MAX);
    if (sampled > iat) throw fail("ts", "sampling time must not be after the issue time");
    text(claims, "lab");
    match(claims, "ro", REGION);
    match(claims, "rd", REGION);
    choice(claims, "nk", [1]);
  }
  return { kind: kind as string, issuer: iss, jti, name, maskedId, iat, nbf, exp, status, claims };
}
