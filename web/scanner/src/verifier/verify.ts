/**
 * The offline verifier: QR text or compact token in, a verdict out
 * (hcert_verifier._verify). The numbered steps match FORMAT.md section 6.
 */

import { type Certificate, parseClaims } from "./claims";
import { b64urlDecode, inflate, jsonObject, QR_PREFIX, qrDecode } from "./codec";
import { type FailureCode, VerificationError } from "./errors";
import { KID_LENGTH } from "./jwk";
import { checkHeader, splitToken, verifyEs256 } from "./jws";
import { evaluate, type RuleOutcome, type RuleSet } from "./rules";
import { STATUS_REVOKED, STATUS_SUSPENDED, type StatusSource } from "./status";
import type { TrustedKey, TrustSource } from "./trust";

/** Certificate type in the JWS header. */
export const TYP = "hc1";
/** Seconds of clock difference tolerated between issuer and device, both ways. */
export const CLOCK_LEEWAY = 300;
/** Past this age (seconds) a verdict carries the warning bundle_stale. */
export const STALE_AFTER = 48 * 3600;

const HEADER_PARAMS = ["alg", "kid", "typ", "zip"];

/** What step 0 and step 9 need of a bundle. */
export interface BundleView {
  readonly issuedAt: number;
  readonly expires: number;
  /** When the root-signed trust list inside stops being usable. */
  readonly trustListExpires: number;
  rulesFor(province: string): RuleSet | undefined;
}

/** The verdict on one certificate; `certificate` is set once steps 1-5 passed. */
export interface Result {
  readonly valid: boolean;
  readonly code: "ok" | FailureCode;
  readonly reason: string;
  readonly certificate: Certificate | null;
  readonly kid: string | null;
  readonly statusChecked: boolean;
  readonly warnings: readonly string[];
  readonly rules: readonly RuleOutcome[];
  readonly destination: string | null;
}

function result(valid: boolean, code: "ok" | FailureCode, reason: string, more: Partial<Result> = {}): Result {
  return {
    valid,
    code,
    reason,
    certificate: null,
    kid: null,
    statusChecked: false,
    warnings: [],
    rules: [],
    destination: null,
    ...more,
  };
}

function toToken(text: string): string {
  // The text is taken exactly as scanned: nothing is trimmed, so a certificate
  // has exactly one QR text and one token that verify.
  if (text.startsWith(QR_PREFIX)) return qrDecode(text);
  if (text.split(".").length === 3) return text;
  throw new VerificationError(
    "bad_qr_prefix",
    `input is neither hcert QR text (starting '${QR_PREFIX}') nor a compact JWS`,
  );
}

export interface VerifierOptions {
  status?: StatusSource | null;
  requireStatus?: boolean;
  bundle?: BundleView | null;
}

export interface VerifyOptions {
  /**
   * Verification time, Unix seconds: the operator's word. Without it the
   * device clock is used, and with a bundle a clock earlier than the bundle's
   * signed issue time is refused (clock_before_bundle).
   */
  at?: number;
  destination?: string | null;
  checkpoint?: string;
}

/** Verify hcert certificates offline against a trust source. */
export class Verifier {
  private readonly status: StatusSource | null;
  private readonly requireStatus: boolean;
  private readonly bundle: BundleView | null;

  constructor(
    private readonly trust: TrustSource,
    options: VerifierOptions = {},
  ) {
    this.status = options.status ?? null;
    this.requireStatus = options.requireStatus ?? false;
    this.bundle = options.bundle ?? null;
  }

  /** Verify against an offline bundle; a missing status list is refused by default. */
  static fromBundle(bundle: BundleView & TrustSource & StatusSource, requireStatus = true): Verifier {
    return new Verifier(bundle, { status: bundle, requireStatus, bundle });
  }

  /** Verify QR text or a compact token at time `at`. Never throws for a bad certificate. */
  async verify(qrTextOrToken: string, options: VerifyOptions): Promise<Result> {
    const explicit = options.at !== undefined;
    const now = Math.trunc(options.at ?? Date.now() / 1000);
    const destination = options.destination ?? null;
    const checkpoint = options.checkpoint ?? "gate";
    const warnings: string[] = [];
    const bundle = this.bundle;
    if (bundle !== null) {
      // Step 0: the bundle's own age, against the device clock.
      if (now >= bundle.expires) {
        return result(false, "bundle_expired", "the trust bundle has expired; sync before verifying", { destination });
      }
      if (now >= bundle.trustListExpires) {
        // A bundle whose root-signed trust list has expired verifies nothing.
        return result(
          false,
          "trust_list_expired",
          "the trust list in the bundle has expired; the national root must re-sign it",
          { destination },
        );
      }
      if (now < bundle.issuedAt - CLOCK_LEEWAY) {
        if (!explicit) {
          return result(
            false,
            "clock_before_bundle",
            "the device clock is earlier than the trust bundle's issue time; set the clock",
            { destination },
          );
        }
        warnings.push("clock_before_bundle");
      } else if (now - bundle.issuedAt > STALE_AFTER) warnings.push("bundle_stale");
    }
    let cert: Certificate;
    let key: TrustedKey;
    try {
      [cert, key] = await this.authenticate(qrTextOrToken);
    } catch (e) {
      if (!(e instanceof VerificationError)) throw e;
      return result(false, e.code, e.reason, { warnings, destination });
    }
    let checked: boolean;
    try {
      checked = await this.judge(cert, key, now, warnings);
    } catch (e) {
      if (!(e instanceof VerificationError)) throw e;
      return result(false, e.code, e.reason, { certificate: cert, kid: key.kid, warnings, destination });
    }
    const base = { certificate: cert, kid: key.kid, statusChecked: checked, warnings };
    if (destination === null) return result(true, "ok", "valid", base);
    // Step 9: the destination's acceptance rules.
    const ruleset = bundle !== null ? bundle.rulesFor(destination) : undefined;
    const rules = ruleset !== undefined ? ruleset.compiled(checkpoint) : null;
    if (rules === null) {
      return result(false, "rules_unavailable", `no rules for province ${destination}, checkpoint ${checkpoint}`, {
        ...base,
        destination,
      });
    }
    const [accepted, outcomes] = evaluate(rules, cert, now, destination);
    if (accepted) return result(true, "ok", "valid", { ...base, rules: outcomes, destination });
    const failed = outcomes
      .filter((o) => o.outcome !== "PASS")
      .map((o) => `${o.id}: ${o.reason}`)
      .join("; ");
    return result(false, "rejected_by_rules", failed, { ...base, rules: outcomes, destination });
  }

  private async authenticate(text: unknown): Promise<[Certificate, TrustedKey]> {
    if (typeof text !== "string") throw new VerificationError("bad_qr_prefix", "input must be text");
    // Steps 1-2: transport and JWS structure.
    const jws = splitToken(toToken(text));
    // Step 3: the protected header.
    const header = checkHeader(jws.headerSegment, { typ: TYP, allowed: HEADER_PARAMS, kidLength: KID_LENGTH });
    // Step 4.1: the key, from the trust source only.
    const key = this.trust.key(header.kid);
    if (key === undefined) throw new VerificationError("unknown_key", `no trusted key has kid '${header.kid}'`);
    // Step 4.2-4.3: the signature, before anything in the payload is looked at.
    await verifyEs256(await key.publicKey.key(), jws.signingInput, jws.signature, false);
    // Step 5: payload and claims.
    const claims = jsonObject(await inflate(b64urlDecode(jws.payloadSegment, "payload")), "payload");
    return [parseClaims(claims), key];
  }

  /** Steps 6-8; return whether the status was checked, or throw the failure. */
  private async judge(cert: Certificate, key: TrustedKey, now: number, warnings: string[]): Promise<boolean> {
    const claims = cert.claims;
    // Step 6: key state and binding.
    if (key.state === "withdrawn") {
      throw new VerificationError("key_withdrawn", `key ${key.kid} was withdrawn; the certificate must be re-issued`);
    }
    if (key.issuer !== null && key.issuer !== cert.issuer) {
      throw new VerificationError("unknown_issuer", `key ${key.kid} belongs to authority ${key.issuer}, not ${cert.issuer}`);
    }
    const iat = cert.iat;
    if ((key.notBefore !== null && iat < key.notBefore) || (key.notAfter !== null && iat > key.notAfter)) {
      throw new VerificationError(
        "key_not_valid_at_issue",
        `key ${key.kid} was not valid for signing at the certificate's issue time`,
      );
    }
    if (key.kinds !== null && !key.kinds.includes(cert.kind)) {
      throw new VerificationError("out_of_scope", `authority ${cert.issuer} may not issue ${cert.kind} certificates`);
    }
    if (key.regions !== null && cert.kind === "w") {
      const origin = claims["o"] as string;
      if (!key.regions.some((r) => origin.startsWith(r))) {
        throw new VerificationError("out_of_scope", `authority ${cert.issuer} may not certify residents of region ${origin}`);
      }
    }
    // Step 7: time, with CLOCK_LEEWAY either way.
    if (iat > now + CLOCK_LEEWAY) throw new VerificationError("issued_in_future", "issued after the verification time");
    if (cert.nbf > now + CLOCK_LEEWAY) throw new VerificationError("not_yet_valid", "not yet valid");
    if (cert.exp <= now - CLOCK_LEEWAY) throw new VerificationError("expired", "expired");
    // Step 8: status.
    if (cert.status === null) return false;
    const lst = this.status !== null ? this.status.statusList(cert.issuer, cert.status.lst) : undefined;
    if (lst === undefined) {
      if (this.requireStatus) {
        throw new VerificationError("status_unavailable", `no status list ${cert.issuer}/${cert.status.lst} at hand`);
      }
      warnings.push("status_not_checked");
      return false;
    }
    let value: number;
    try {
      value = await lst.status(cert.status.idx);
    } catch {
      throw new VerificationError("status_unavailable", "the certificate's status index is past the end of its list");
    }
    // Revocation is final, so even a list past its exp proves it.
    if (value === STATUS_REVOKED) throw new VerificationError("revoked", `revoked by authority ${cert.issuer}`);
    if (!lst.isCurrent(now, CLOCK_LEEWAY)) {
      // Otherwise a list past its exp says nothing about today.
      if (this.requireStatus) {
        throw new VerificationError("status_list_expired", `status list ${cert.issuer}/${cert.status.lst} is past its exp`);
      }
      warnings.push("status_list_expired");
      return false;
    }
    if (value === STATUS_SUSPENDED) throw new VerificationError("suspended", `suspended by authority ${cert.issuer}`);
    return true;
  }
}
