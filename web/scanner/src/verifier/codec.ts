/**
 * Byte-level codecs: numeric QR text, base64url, strict JSON, capped DEFLATE.
 *
 * Mirrors hcert_verifier._codec; every refusal raises the same failure code.
 */

import { VerificationError } from "./errors";

/** Scheme prefix of an hcert QR code. */
export const QR_PREFIX = "CNHC:/";
/** Longest QR text accepted. */
export const MAX_QR_TEXT = 3400;
/** Longest compact token accepted. */
export const MAX_TOKEN = Math.floor(MAX_QR_TEXT / 2);
/** Largest inflated payload accepted. */
export const MAX_PAYLOAD = 4096;

const OFFSET = 45;
const MAX_PAIR = 77;

/** Return the compact token carried by numeric QR text with `prefix`. */
export function qrDecode(qrText: string, prefix: string = QR_PREFIX, limit: number = MAX_QR_TEXT): string {
  if (codePoints(qrText) > limit) {
    throw new VerificationError("input_too_large", `QR text is longer than ${limit} characters`);
  }
  if (!qrText.startsWith(prefix)) {
    throw new VerificationError("bad_qr_prefix", `QR text must start with ${JSON.stringify(prefix)}`);
  }
  const digits = qrText.slice(prefix.length);
  if (!digits || digits.length % 2 || !/^[0-9]*$/.test(digits)) {
    throw new VerificationError(
      "bad_qr_digits",
      "QR text after the prefix must be a non-empty even run of ASCII digits",
    );
  }
  const chars: string[] = [];
  for (let i = 0; i < digits.length; i += 2) {
    const value = (digits.charCodeAt(i) - 48) * 10 + (digits.charCodeAt(i + 1) - 48);
    if (value > MAX_PAIR) {
      throw new VerificationError("bad_qr_digits", "QR text has a digit pair above 77, which encodes no token character");
    }
    chars.push(String.fromCharCode(value + OFFSET));
  }
  return chars.join("");
}

/** Return the QR text for a compact token. */
export function qrEncode(token: string): string {
  let out = QR_PREFIX;
  for (let i = 0; i < token.length; i++) {
    out += String(token.charCodeAt(i) - OFFSET).padStart(2, "0");
  }
  return out;
}

/** Number of code points, as Python's len() counts a str. */
export function codePoints(text: string): number {
  // Without surrogates every UTF-16 unit is one code point (the common case, checked natively).
  if (!SURROGATE.test(text)) return text.length;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // A high surrogate followed by a low one is one code point.
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

const SURROGATE = /[\ud800-\udfff]/;

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const B64_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < B64URL.length; i++) B64_INDEX[B64URL.charCodeAt(i)] = i;

const B64URL_TEXT = /^[A-Za-z0-9_-]*$/;

/**
 * Check that `segment` is canonical unpadded base64url (alphabet, length, no
 * stray bits in the last character) without decoding it; raise `bad_base64`.
 */
export function b64urlCheck(segment: string, what: string): void {
  if (typeof segment !== "string" || segment.length % 4 === 1 || !B64URL_TEXT.test(segment)) {
    throw new VerificationError("bad_base64", `${what} is not unpadded base64url`);
  }
  // Stray bits in the last character: one byte string has exactly one textual form.
  const n = segment.length;
  const spare = n % 4 === 2 ? 0x0f : n % 4 === 3 ? 0x03 : 0;
  if (spare && B64_INDEX[segment.charCodeAt(n - 1)]! & spare) {
    throw new VerificationError("bad_base64", `${what} is not canonical base64url`);
  }
}

const NATIVE_B64 = (Uint8Array as unknown as { fromBase64?: (text: string, options: object) => Uint8Array }).fromBase64;

/** Decode canonical unpadded base64url, or raise `bad_base64` naming `what`. */
export function b64urlDecode(segment: string, what: string): Uint8Array {
  if (NATIVE_B64 !== undefined && typeof segment === "string" && segment.length % 4 !== 1) {
    // One native pass: the base64url alphabet only, with the padding a canonical text
    // implies, stray bits refused ("strict"); whitespace, which the native decoder
    // skips, would leave fewer bytes than the text's length implies.
    let out: Uint8Array | null = null;
    try {
      const pad = segment.length % 4;
      out = NATIVE_B64(pad === 0 ? segment : pad === 2 ? `${segment}==` : `${segment}=`, {
        alphabet: "base64url",
        lastChunkHandling: "strict",
      });
    } catch {
      out = null;
    }
    if (out !== null && out.length === Math.floor((segment.length * 3) / 4)) return out;
  }
  b64urlCheck(segment, what);
  const binary = atob(segment.replace(/-/g, "+").replace(/_/g, "/") + "==".slice(0, (4 - (segment.length % 4)) % 4));
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** Return unpadded base64url text for `data`. */
export function b64urlEncode(data: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 3 <= data.length; i += 3) {
    const v = (data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!;
    out += B64URL[v >> 18]! + B64URL[(v >> 12) & 63]! + B64URL[(v >> 6) & 63]! + B64URL[v & 63]!;
  }
  if (data.length - i === 1) {
    const v = data[i]! << 16;
    out += B64URL[v >> 18]! + B64URL[(v >> 12) & 63]!;
  } else if (data.length - i === 2) {
    const v = (data[i]! << 16) | (data[i + 1]! << 8);
    out += B64URL[v >> 18]! + B64URL[(v >> 12) & 63]! + B64URL[(v >> 6) & 63]!;
  }
  return out;
}

// ---- strict JSON ------------------------------------------------------------------

/**
 * A JSON number with a fraction or an exponent: Python's float, never equal to
 * an integer claim (`type(x) is int` refuses it there; `isInt` refuses it here).
 */
export class JsonFloat {
  constructor(readonly value: number) {}
  toJSON(): number {
    return this.value;
  }
}

/** A parsed JSON value. Integers are numbers (bigint beyond 2**53), objects have no prototype. */
export type Json = null | boolean | number | bigint | string | JsonFloat | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

/** A JSON integer: a number within 2**53, a bigint beyond (the format sets no upper bound). */
export type Int = number | bigint;

/** True for a non-negative JSON integer (`-0` is the integer 0). */
export function isNonNegativeInt(value: unknown): value is Int {
  return (typeof value === "number" && value >= 0) || (typeof value === "bigint" && value >= 0n);
}

/** `a - b`, exactly. */
export function intDiff(a: Int, b: Int): bigint {
  return BigInt(a) - BigInt(b);
}

/** The larger of two integers. */
export function intMax(a: Int, b: Int): Int {
  return a > b ? a : b;
}

/** True for a JSON integer (Python `type(x) is int`): not a float, not a boolean. */
export function isInt(value: unknown): value is number | bigint {
  return typeof value === "number" || typeof value === "bigint";
}

/** True for a JSON object. */
export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof JsonFloat);
}

/** Python's str.strip() whitespace (str.isspace), not JavaScript's \s. */
const PY_SPACE = /^[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$/;
// Python's recursion limit stops deeper nesting with RecursionError (bad_json).
const MAX_DEPTH = 900;
// Python refuses integer literals of more than 4,300 digits (int_max_str_digits).
const MAX_INT_DIGITS = 4300;

/** What ends a run of plain characters inside a JSON string. */
const SPECIAL = /["\\\x00-\x1f]/g;

class Parser {
  i = 0;

  constructor(
    private readonly s: string,
    private readonly what: string,
  ) {}

  fail(why: string = "is not valid UTF-8 JSON"): never {
    throw new VerificationError("bad_json", `${this.what} ${why}`);
  }

  ws(): void {
    const s = this.s;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.i++;
      else break;
    }
  }

  value(depth: number): Json {
    if (depth > MAX_DEPTH) this.fail();
    const s = this.s;
    const c = s[this.i];
    if (c === "{") return this.object(depth + 1);
    if (c === "[") return this.array(depth + 1);
    if (c === '"') return this.string();
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return this.number();
    if (s.startsWith("null", this.i)) {
      this.i += 4;
      return null;
    }
    if (s.startsWith("true", this.i)) {
      this.i += 4;
      return true;
    }
    if (s.startsWith("false", this.i)) {
      this.i += 5;
      return false;
    }
    for (const name of ["NaN", "Infinity", "-Infinity"]) {
      if (s.startsWith(name, this.i)) this.fail(`has the JSON constant ${name}, which is not allowed`);
    }
    return this.fail();
  }

  object(depth: number): JsonObject {
    this.i++; // {
    const pairs: [string, Json][] = [];
    this.ws();
    if (this.s[this.i] === "}") {
      this.i++;
      return Object.create(null) as JsonObject;
    }
    for (;;) {
      if (this.s[this.i] !== '"') this.fail();
      const key = this.string();
      this.ws();
      if (this.s[this.i] !== ":") this.fail();
      this.i++;
      this.ws();
      pairs.push([key, this.value(depth)]);
      this.ws();
      const c = this.s[this.i++];
      if (c === "}") break;
      if (c !== ",") this.fail();
      this.ws();
    }
    // As Python's object_pairs_hook: repeats are found when the object closes.
    const out = Object.create(null) as JsonObject;
    for (const [key, value] of pairs) {
      if (Object.prototype.hasOwnProperty.call(out, key)) {
        throw new VerificationError("duplicate_json_key", `JSON member ${JSON.stringify(key)} appears more than once`);
      }
      out[key] = value;
    }
    return out;
  }

  array(depth: number): Json[] {
    this.i++; // [
    const out: Json[] = [];
    this.ws();
    if (this.s[this.i] === "]") {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      out.push(this.value(depth));
      this.ws();
      const c = this.s[this.i++];
      if (c === "]") return out;
      if (c !== ",") this.fail();
    }
  }

  string(): string {
    const s = this.s;
    this.i++; // "
    let out = "";
    let start = this.i;
    for (;;) {
      // Jump to the next quote, backslash or control character (long runs of plain text are common).
      SPECIAL.lastIndex = this.i;
      if (SPECIAL.exec(s) === null) this.fail();
      this.i = SPECIAL.lastIndex - 1;
      const c = s.charCodeAt(this.i);
      if (c === 0x22) {
        out += s.slice(start, this.i);
        this.i++;
        return out;
      }
      if (c < 0x20) this.fail();
      out += s.slice(start, this.i);
      const e = s[this.i + 1];
      this.i += 2;
      switch (e) {
        case '"':
          out += '"';
          break;
        case "\\":
          out += "\\";
          break;
        case "/":
          out += "/";
          break;
        case "b":
          out += "\b";
          break;
        case "f":
          out += "\f";
          break;
        case "n":
          out += "\n";
          break;
        case "r":
          out += "\r";
          break;
        case "t":
          out += "\t";
          break;
        case "u": {
          let code = this.hex4();
          // A high surrogate escape followed by a low one is one character.
          if (code >= 0xd800 && code <= 0xdbff && s[this.i] === "\\" && s[this.i + 1] === "u") {
            const save = this.i;
            this.i += 2;
            const low = this.hex4();
            if (low >= 0xdc00 && low <= 0xdfff) {
              code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
            } else {
              this.i = save;
            }
          }
          out += String.fromCodePoint(code);
          break;
        }
        default:
          this.fail();
      }
      start = this.i;
    }
  }

  hex4(): number {
    const h = this.s.slice(this.i, this.i + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(h)) this.fail();
    this.i += 4;
    return parseInt(h, 16);
  }

  number(): number | bigint | JsonFloat {
    const m = /^-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/.exec(this.s.slice(this.i, this.i + 5000));
    if (!m) {
      // "-" alone, or "-Infinity"
      if (this.s.startsWith("-Infinity", this.i)) this.fail("has the JSON constant -Infinity, which is not allowed");
      return this.fail();
    }
    const text = m[0];
    this.i += text.length;
    if (m[1] !== undefined || m[2] !== undefined) return new JsonFloat(Number(text));
    if (text.replace("-", "").length > MAX_INT_DIGITS) this.fail();
    const n = Number(text);
    return Number.isSafeInteger(n) ? n : BigInt(text);
  }
}

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Parse UTF-8 JSON text that must be an object with no repeated member names. */
export function jsonObject(data: Uint8Array, what: string): JsonObject {
  let text: string;
  try {
    text = UTF8.decode(data);
  } catch {
    throw new VerificationError("bad_json", `${what} is not valid UTF-8 JSON`);
  }
  return jsonObjectText(text, what);
}

/** `jsonObject` of text already decoded. */
export function jsonObjectText(text: string, what: string): JsonObject {
  const parser = new Parser(text, what);
  // Python's raw_decode: no leading whitespace; anything but whitespace after the value is refused.
  const value = parser.value(0);
  const rest = text.slice(parser.i);
  if (!PY_SPACE.test(rest)) throw new VerificationError("bad_json", `${what} has trailing data after the JSON value`);
  if (!isObject(value)) throw new VerificationError("bad_json", `${what} is not a JSON object`);
  return value;
}

// ---- DEFLATE ------------------------------------------------------------------

/**
 * Inflate with DecompressionStream, never keeping more than `limit` bytes.
 *
 * `format` is "deflate-raw" for certificates (zip: DEF) and "deflate" (zlib)
 * for status lists. Raises `payload_too_large` past the limit and
 * `decompression_failed` for anything that is not exactly one complete stream.
 */
export async function inflate(
  data: Uint8Array,
  limit: number = MAX_PAYLOAD,
  format: CompressionFormat = "deflate-raw",
): Promise<Uint8Array> {
  // Write the bytes straight into the stream (a Blob per call costs a round trip to the blob registry).
  const ds = new DecompressionStream(format);
  const writer = ds.writable.getWriter();
  writer.write(data as BufferSource).catch(() => undefined);
  writer.close().catch(() => undefined);
  const reader = ds.readable.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > limit) {
        await reader.cancel().catch(() => undefined);
        throw new VerificationError("payload_too_large", `payload inflates beyond ${limit} bytes`);
      }
      chunks.push(value);
    }
  } catch (e) {
    if (e instanceof VerificationError) throw e;
    throw new VerificationError("decompression_failed", "payload is not exactly one raw DEFLATE stream");
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

const ENCODER = new TextEncoder();

/** UTF-8 bytes of `text`. */
export function utf8(text: string): Uint8Array {
  return ENCODER.encode(text);
}
