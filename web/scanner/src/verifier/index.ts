/** The hcert verifier in the browser: the same steps and failure codes as the Python `hcert_verifier`. */

export { Bundle, openSigned, type Authority } from "./bundle";
export { KINDS, parseClaims, unmaskDisplay, type Certificate } from "./claims";
export { b64urlDecode, b64urlEncode, inflate, jsonObject, qrDecode, qrEncode, QR_PREFIX } from "./codec";
export { inflateZlib } from "./inflate";
export { BundleError, TrustError, VerificationError, type FailureCode } from "./errors";
export { kidFor, publicKeyFromJwk } from "./jwk";
export { evaluate, RuleSet, type RuleOutcome } from "./rules";
export { check as checkDeviceState, emptyState, record as recordDeviceState, type StoredState } from "./state";
export { StatusList, StatusLists } from "./status";
export { JwksTrust, type TrustedKey, type TrustSource } from "./trust";
export { CLOCK_LEEWAY, STALE_AFTER, Verifier, type Result } from "./verify";
