/**
 * zlib (RFC 1950) around DEFLATE (RFC 1951), inflated synchronously in plain
 * TypeScript, for status lists (hcert_verifier.status uses zlib.decompressobj).
 *
 * A national bundle carries 3,000 status lists of about 1 KB each; through
 * DecompressionStream each costs a stream, a round of promises and a thread
 * hop, several times the work of inflating it here. The decoder follows
 * zlib's reference decoder (puff): canonical Huffman codes decoded bit by bit,
 * the same refusals as zlib for malformed streams (over-subscribed or
 * incomplete codes, distances too far back, missing end-of-block code), the
 * zlib header and the Adler-32 checksum checked, and nothing allowed after it.
 */

import { VerificationError } from "./errors";

const MAXBITS = 15;
const LENGTH_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [
  1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193,
  12289, 16385, 24577,
];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const CODE_LENGTH_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

class Bad extends Error {}

/** Codes of up to FAST bits are decoded by one table lookup; longer ones bit by bit. */
const FAST = 9;

/**
 * A canonical Huffman code: how many codes of each length, the symbols in code
 * order, and `fast`: for the next FAST bits of input (least significant first),
 * symbol << 4 | code length, or 0 where the code is longer (or unused).
 */
interface Huffman {
  count: Int16Array;
  symbol: Int16Array;
  fast: Int32Array;
}

/** Build a code from code lengths; return how many codes are left unused (0: complete; < 0: over-subscribed). */
function construct(h: Huffman, lengths: ArrayLike<number>, offset: number, n: number): number {
  h.count.fill(0);
  for (let s = 0; s < n; s++) h.count[lengths[offset + s]!]!++;
  if (h.count[0] === n) return 0; // no codes: complete, but decoding any symbol fails
  let left = 1;
  for (let len = 1; len <= MAXBITS; len++) {
    left <<= 1;
    left -= h.count[len]!;
    if (left < 0) return left;
  }
  const offs = new Int16Array(MAXBITS + 1);
  for (let len = 1; len < MAXBITS; len++) offs[len + 1] = offs[len]! + h.count[len]!;
  for (let s = 0; s < n; s++) {
    const len = lengths[offset + s]!;
    if (len !== 0) h.symbol[offs[len]!++] = s;
  }
  // The lookup table: codes in canonical order, each bit-reversed (DEFLATE sends a code's top bit first).
  h.fast.fill(0);
  let codeValue = 0;
  let index = 0;
  for (let len = 1; len <= FAST; len++) {
    for (let i = 0; i < h.count[len]!; i++) {
      let reversed = 0;
      for (let b = 0; b < len; b++) reversed |= ((codeValue >> b) & 1) << (len - 1 - b);
      const entry = (h.symbol[index]! << 4) | len;
      for (let j = reversed; j < 1 << FAST; j += 1 << len) h.fast[j] = entry;
      codeValue++;
      index++;
    }
    codeValue <<= 1;
  }
  return left;
}

function code(symbols: number): Huffman {
  return { count: new Int16Array(MAXBITS + 1), symbol: new Int16Array(symbols), fast: new Int32Array(1 << FAST) };
}

let FIXED: [Huffman, Huffman] | null = null;

function fixedCodes(): [Huffman, Huffman] {
  const lengths = new Uint8Array(288 + 30);
  lengths.fill(8, 0, 144);
  lengths.fill(9, 144, 256);
  lengths.fill(7, 256, 280);
  lengths.fill(8, 280, 288);
  lengths.fill(5, 288);
  const lencode = code(288);
  const distcode = code(30);
  construct(lencode, lengths, 0, 288);
  construct(distcode, lengths, 288, 30);
  return [lencode, distcode];
}

class Inflater {
  private pos: number;
  private bitbuf = 0;
  private bitcnt = 0;
  out: Uint8Array;
  outcnt: number;
  /** Adler-32 of the output so far, kept as it is written (a run of one byte in closed form). */
  a = 1;
  b = 0;

  constructor(
    private readonly data: Uint8Array,
    start: number,
    private readonly limit: number,
    /** Bytes left free before the output (the caller's prefix). */
    private readonly base: number,
  ) {
    this.pos = start;
    this.outcnt = base;
    this.out = new Uint8Array(base + Math.min(limit, Math.max(32768, data.length * 4)));
  }

  /** Add out[from..to) to the checksum. */
  private sum(from: number, to: number): void {
    const out = this.out;
    let a = this.a;
    let b = this.b;
    for (let i = from; i < to; ) {
      const end = Math.min(to, i + 4096);
      for (; i < end; i++) {
        a += out[i]!;
        b += a;
      }
      a %= 65521;
      b %= 65521;
    }
    this.a = a;
    this.b = b;
  }

  /** The first byte after what was consumed (whole bytes read ahead are given back). */
  get next(): number {
    return this.pos - (this.bitcnt >>> 3);
  }

  private bits(need: number): number {
    let val = this.bitbuf;
    while (this.bitcnt < need) {
      if (this.pos >= this.data.length) throw new Bad("truncated");
      val |= this.data[this.pos++]! << this.bitcnt;
      this.bitcnt += 8;
    }
    this.bitbuf = val >>> need;
    this.bitcnt -= need;
    return val & ((1 << need) - 1);
  }

  private room(n: number): void {
    const want = this.outcnt + n;
    if (want <= this.out.length) return;
    const cap = this.base + this.limit;
    if (want > cap) throw new VerificationError("payload_too_large", `payload inflates beyond ${this.limit} bytes`);
    const grown = new Uint8Array(Math.min(cap, Math.max(want, this.out.length * 2)));
    grown.set(this.out.subarray(0, this.outcnt));
    this.out = grown;
  }

  private decode(h: Huffman): number {
    // Read ahead to FAST bits where the input has them; a short code is then one lookup.
    while (this.bitcnt < FAST && this.pos < this.data.length) {
      this.bitbuf |= this.data[this.pos++]! << this.bitcnt;
      this.bitcnt += 8;
    }
    const entry = h.fast[this.bitbuf & ((1 << FAST) - 1)]!;
    const len = entry & 15;
    if (entry !== 0 && len <= this.bitcnt) {
      this.bitbuf >>>= len;
      this.bitcnt -= len;
      return entry >> 4;
    }
    // A longer code (or the end of the input): bit by bit, as puff does.
    let codeValue = 0;
    let first = 0;
    let index = 0;
    for (let l = 1; l <= MAXBITS; l++) {
      codeValue |= this.bits(1);
      const count = h.count[l]!;
      if (codeValue - count < first) return h.symbol[index + (codeValue - first)]!;
      index += count;
      first += count;
      first <<= 1;
      codeValue <<= 1;
    }
    throw new Bad("ran out of codes");
  }

  private stored(): void {
    // To the next byte boundary; whole bytes read ahead are given back.
    this.pos -= this.bitcnt >>> 3;
    this.bitbuf = 0;
    this.bitcnt = 0;
    if (this.pos + 4 > this.data.length) throw new Bad("truncated");
    const d = this.data;
    const len = d[this.pos]! | (d[this.pos + 1]! << 8);
    const nlen = d[this.pos + 2]! | (d[this.pos + 3]! << 8);
    this.pos += 4;
    if (len !== (~nlen & 0xffff)) throw new Bad("stored block length does not match its complement");
    if (this.pos + len > d.length) throw new Bad("truncated");
    this.room(len);
    this.out.set(d.subarray(this.pos, this.pos + len), this.outcnt);
    this.sum(this.outcnt, this.outcnt + len);
    this.outcnt += len;
    this.pos += len;
  }

  private codes(lencode: Huffman, distcode: Huffman): void {
    for (;;) {
      let symbol = this.decode(lencode);
      if (symbol < 256) {
        if (this.outcnt === this.out.length) this.room(1);
        this.out[this.outcnt++] = symbol;
        this.a = (this.a + symbol) % 65521;
        this.b = (this.b + this.a) % 65521;
      } else if (symbol === 256) {
        return;
      } else {
        symbol -= 257;
        if (symbol >= 29) throw new Bad("invalid length code");
        const len = LENGTH_BASE[symbol]! + this.bits(LENGTH_EXTRA[symbol]!);
        symbol = this.decode(distcode);
        if (symbol >= 30) throw new Bad("invalid distance code");
        const dist = DIST_BASE[symbol]! + this.bits(DIST_EXTRA[symbol]!);
        if (dist > this.outcnt - this.base) throw new Bad("distance too far back");
        this.room(len);
        const out = this.out;
        let o = this.outcnt;
        const end = o + len;
        if (dist === 1) {
          // A run of one byte (most of a status list); its checksum in closed form.
          const v = out[o - 1]!;
          out.fill(v, o, end);
          this.b = (this.b + len * this.a + (v * len * (len + 1)) / 2) % 65521;
          this.a = (this.a + len * v) % 65521;
        } else {
          // Overlapping copies repeat the last `dist` bytes: byte by byte, summed on the way.
          let a = this.a;
          let b = this.b;
          for (; o < end; o++) {
            const v = out[o - dist]!;
            out[o] = v;
            a += v;
            b += a;
          }
          this.a = a % 65521;
          this.b = b % 65521;
        }
        this.outcnt = end;
      }
    }
  }

  private fixed(): void {
    FIXED ??= fixedCodes();
    this.codes(FIXED[0], FIXED[1]);
  }

  private dynamic(): void {
    const nlen = this.bits(5) + 257;
    const ndist = this.bits(5) + 1;
    const ncode = this.bits(4) + 4;
    if (nlen > 286 || ndist > 30) throw new Bad("bad counts");
    const lengths = new Uint8Array(320);
    for (let i = 0; i < ncode; i++) lengths[CODE_LENGTH_ORDER[i]!] = this.bits(3);
    const lencode = code(288);
    const distcode = code(30);
    if (construct(lencode, lengths, 0, 19) !== 0) throw new Bad("incomplete code length code");
    lengths.fill(0, 0, 19);
    let index = 0;
    while (index < nlen + ndist) {
      let symbol = this.decode(lencode);
      if (symbol < 16) {
        lengths[index++] = symbol;
        continue;
      }
      let len = 0;
      if (symbol === 16) {
        if (index === 0) throw new Bad("repeat with no first length");
        len = lengths[index - 1]!;
        symbol = 3 + this.bits(2);
      } else if (symbol === 17) {
        symbol = 3 + this.bits(3);
      } else {
        symbol = 11 + this.bits(7);
      }
      if (index + symbol > nlen + ndist) throw new Bad("too many lengths");
      lengths.fill(len, index, index + symbol);
      index += symbol;
    }
    if (lengths[256] === 0) throw new Bad("no end-of-block code");
    // An incomplete code is allowed only when it is a single code of one bit (as zlib).
    let err = construct(lencode, lengths, 0, nlen);
    if (err < 0 || (err > 0 && nlen !== lencode.count[0]! + lencode.count[1]!)) throw new Bad("bad literal/length code");
    err = construct(distcode, lengths, nlen, ndist);
    if (err < 0 || (err > 0 && ndist !== distcode.count[0]! + distcode.count[1]!)) throw new Bad("bad distance code");
    this.codes(lencode, distcode);
  }

  /** Inflate blocks up to and including the last one. */
  run(): void {
    let last = 0;
    do {
      last = this.bits(1);
      const type = this.bits(2);
      if (type === 0) this.stored();
      else if (type === 1) this.fixed();
      else if (type === 2) this.dynamic();
      else throw new Bad("invalid block type");
    } while (!last);
  }
}

/**
 * Inflate exactly one zlib stream (header, DEFLATE data, Adler-32) with nothing
 * after it, never producing more than `limit` bytes. Raises `payload_too_large`
 * past the limit and `decompression_failed` for anything else. With `reserve`,
 * the result starts with that many zero bytes before the inflated ones (room
 * for a prefix the caller hashes with them, without a copy).
 */
export function inflateZlib(data: Uint8Array, limit: number, reserve = 0): Uint8Array {
  try {
    if (data.length < 2) throw new Bad("truncated");
    const cmf = data[0]!;
    const flg = data[1]!;
    if ((cmf & 0x0f) !== 8 || cmf >> 4 > 7 || ((cmf << 8) | flg) % 31 !== 0 || flg & 0x20) {
      throw new Bad("not a zlib header");
    }
    const s = new Inflater(data, 2, limit, reserve);
    s.run();
    const at = s.next;
    if (at + 4 > data.length) throw new Bad("truncated");
    const stored = ((data[at]! << 24) | (data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!) >>> 0;
    if (stored !== ((s.b << 16) | s.a) >>> 0) throw new Bad("Adler-32 does not match");
    if (at + 4 !== data.length) throw new Bad("data after the zlib stream");
    return s.out.subarray(0, s.outcnt);
  } catch (e) {
    if (e instanceof Bad) throw new VerificationError("decompression_failed", `not exactly one zlib stream (${e.message})`);
    throw e;
  }
}
