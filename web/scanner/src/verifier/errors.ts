/**
 * Failure codes, the same stable strings as hcert_verifier._errors.
 *
 * One class with a code instead of a class per failure: the code is what the
 * Python verifier, the CLI, the API and this page all show.
 */

export type FailureCode =
  | "input_too_large"
  | "bad_qr_prefix"
  | "bad_qr_digits"
  | "malformed_token"
  | "bad_base64"
  | "bad_json"
  | "duplicate_json_key"
  | "forbidden_header"
  | "alg_not_allowed"
  | "crit_unsupported"
  | "unknown_header"
  | "bad_typ"
  | "bad_zip"
  | "bad_kid"
  | "unknown_key"
  | "bad_signature"
  | "signature_not_canonical"
  | "decompression_failed"
  | "payload_too_large"
  | "bad_claims"
  | "key_withdrawn"
  | "unknown_issuer"
  | "key_not_valid_at_issue"
  | "out_of_scope"
  | "issued_in_future"
  | "not_yet_valid"
  | "expired"
  | "revoked"
  | "suspended"
  | "status_unavailable"
  | "bundle_expired"
  | "trust_list_expired"
  | "clock_before_bundle"
  | "status_list_expired"
  | "rules_unavailable"
  | "rejected_by_rules";

/** A certificate failed a verification step; `code` is the step's failure code. */
export class VerificationError extends Error {
  readonly code: FailureCode;
  readonly reason: string;

  constructor(code: FailureCode, reason: string) {
    super(`${code}: ${reason}`);
    this.code = code;
    this.reason = reason;
  }
}

/** Trust material (a JWKS, a status list, a bundle) is unusable. */
export class TrustError extends Error {
  readonly code: string = "trust_error";
  readonly reason: string;

  constructor(reason: string) {
    super(reason);
    this.reason = reason;
  }
}

/**
 * A bundle is refused; the device keeps its last good one. `code` is
 * `bundle_invalid` or the specific refusal (`bundle_rollback`,
 * `version_reused`, `bundle_validity_too_long` ...), as in hcert_verifier.
 */
export class BundleError extends TrustError {
  override readonly code: string;

  constructor(reason: string, code = "bundle_invalid") {
    super(reason);
    this.code = code;
  }
}
