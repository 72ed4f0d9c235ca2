/**
 * Decoding of the Erlang External Term Format (what `term_to_binary/1`
 * produces and what nodes send each other).
 *
 * (Over 800 lines on purpose: it is one reader, one `switch` over the tags
 * with every term type's few lines in it — the hot path of every received
 * message; splitting it would put a module boundary in that switch.)
 *
 * @module
 */
import * as nodeBuffer from "node:buffer";
import { inflateSync } from "node:zlib";
import {
  Atom,
  BitBinary,
  ExportFun,
  Float,
  Fun,
  ImproperList,
  Pid,
  Port,
  Ref,
  Tuple,
} from "./terms.ts";
import { TermDecodeError } from "./term_errors.ts";

/** Options for {@linkcode decode}. */
export interface DecodeOptions {
  /** Deepest nesting of tuples, lists and maps accepted. Default `2_000`. */
  maxDepth?: number;
  /**
   * Largest size a compressed term (`term_to_binary(T, [compressed])`) may
   * declare for its uncompressed form. Default 64 MiB.
   */
  maxUncompressedSize?: number;
}

const VERSION = 131;
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8Lenient = new TextDecoder("utf-8", { ignoreBOM: true });
const fromCharCode = String.fromCharCode;

// The native validator (simdutf in Node, Rust in Deno) when the runtime has
// it: strict UTF-8 like the fallback below.
const validUtf8: (b: Uint8Array) => boolean =
  (nodeBuffer as { isUtf8?: (b: Uint8Array) => boolean }).isUtf8 ?? isUtf8;

// ASCII text, the common case, becomes a one-byte string by a copy: the
// runtime's native ASCII check and Latin-1 slice (Node and Deno both have
// them; elsewhere TextDecoder does it all).
const isAsciiNative = (nodeBuffer as { isAscii?: (b: Uint8Array) => boolean })
  .isAscii;
const latin1Slice = (nodeBuffer.Buffer?.prototype as unknown as {
  latin1Slice?: (this: Uint8Array, start: number, end: number) => string;
} | undefined)?.latin1Slice;

// Up to this many bytes, text is built in JS; beyond, TextDecoder is faster.
const SHORT_TEXT = 24;
/**
 * Binaries longer than this always decode to a Uint8Array: V8's strings
 * hold at most 2^29 - 24 UTF-16 units.
 */
const MAX_TEXT = (1 << 29) - 24;

// Floats are read through this scratch pair (a DataView on the input would
// force small on-heap buffers to materialize an ArrayBuffer).
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// Decoded ASCII atoms by a hash of their bytes: a hit (verified byte by byte)
// gives the interned Atom with no string built and no table lookup.
const ATOM_CACHE_BITS = 10;
const atomCache = new Array<Atom | undefined>(1 << ATOM_CACHE_BITS).fill(
  undefined,
);
const atomKeys = new Uint8Array(64 << ATOM_CACHE_BITS);
// The node name last read in a pid, reference or port, and its bytes.
let lastNode = "";
let lastNodeLen = -1;
const lastNodeKey = new Uint8Array(255);
const TRUE = Atom.of("true");
const FALSE = Atom.of("false");
const NIL = Atom.of("nil");

/** Builds the string of `n` ASCII bytes at `p`. */
function asciiText(b: Uint8Array, p: number, n: number): string {
  let s = "", i = 0;
  for (; i + 8 <= n; i += 8) {
    s += fromCharCode(
      b[p + i],
      b[p + i + 1],
      b[p + i + 2],
      b[p + i + 3],
      b[p + i + 4],
      b[p + i + 5],
      b[p + i + 6],
      b[p + i + 7],
    );
  }
  if (i + 4 <= n) {
    s += fromCharCode(b[p + i], b[p + i + 1], b[p + i + 2], b[p + i + 3]);
    i += 4;
  }
  for (; i < n; i++) s += fromCharCode(b[p + i]);
  return s;
}

/**
 * Decodes one term from a buffer that starts with the version byte 131 and
 * holds exactly one term.
 *
 * Binaries that are valid UTF-8 decode to strings, others to `Uint8Array`;
 * integers to `number` when they are safe integers, else `bigint`; floats to
 * `number`, or to {@linkcode Float} when the value has no fraction; maps to
 * `Map`; the atoms `true`, `false` and `nil` to `true`, `false` and `null`.
 *
 * @throws {TermDecodeError} when the bytes are not one valid term; the
 * error names the byte offset and what was expected there.
 *
 * @example
 * ```ts
 * import { decode } from "./decode.ts";
 * import { atom, tuple } from "./terms.ts";
 * import assert from "node:assert/strict";
 *
 * // term_to_binary({ok, <<"hi">>})
 * const bytes = new Uint8Array([131, 104, 2, 100, 0, 2, 111, 107, 109, 0, 0, 0, 2, 104, 105]);
 * assert.deepEqual(decode(bytes), tuple(atom("ok"), "hi"));
 * ```
 */
export function decode(bytes: Uint8Array, options?: DecodeOptions): unknown {
  const reader = new TermReader(bytes, 0, bytes.length, options);
  const term = reader.readVersioned();
  if (reader.pos !== bytes.length) {
    throw new TermDecodeError(
      `${bytes.length - reader.pos} bytes left over after the term`,
      reader.pos,
    );
  }
  return term;
}

/**
 * A cursor over a buffer holding terms; used by the distribution layer to
 * read a control message and a payload from one packet. Internal.
 */
export class TermReader {
  buf: Uint8Array;
  pos: number;
  end: number;
  /**
   * Set when `buf` belongs to the decoded term alone (a reassembled
   * message): large binaries are then views into it, not copies.
   */
  owned = false;
  private depth = 0;
  private readonly maxDepth: number;
  private readonly maxUncompressed: number;

  constructor(
    buf: Uint8Array,
    pos: number,
    end: number,
    options?: DecodeOptions,
  ) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    this.maxDepth = options?.maxDepth ?? 2_000;
    this.maxUncompressed = options?.maxUncompressedSize ?? 64 * 1024 * 1024;
  }

  /** Reads the version byte 131 and then one term. */
  readVersioned(): unknown {
    if (this.pos >= this.end) this.fail("the version byte 131, got no data");
    const v = this.buf[this.pos];
    if (v !== VERSION) {
      this.fail(`the version byte 131, got ${v}`);
    }
    this.pos++;
    if (this.pos < this.end && this.buf[this.pos] === 80) {
      return this.readCompressed();
    }
    return this.readBare();
  }

  /**
   * Reads one term with no version byte, as terms follow a distribution
   * header; stack exhaustion becomes a TermDecodeError.
   */
  readBare(): unknown {
    try {
      return this.readTerm();
    } catch (e) {
      if (e instanceof RangeError) {
        // The engine's stack ran out before maxDepth: report it the same way.
        throw new TermDecodeError(
          "terms nested too deeply for this runtime's stack",
          this.pos,
        );
      }
      throw e;
    }
  }

  private fail(expected: string, at = this.pos): never {
    throw new TermDecodeError(`expected ${expected}`, at);
  }

  private need(n: number, what: string): void {
    if (n > this.end - this.pos) {
      this.fail(
        `${what}: ${n} bytes, but only ${this.end - this.pos} remain`,
      );
    }
  }

  /** Reads a big-endian float64 (room must have been checked). */
  private f64(): number {
    const b = this.buf, p = this.pos;
    this.pos = p + 8;
    if (littleEndian) {
      f64Bytes[0] = b[p + 7];
      f64Bytes[1] = b[p + 6];
      f64Bytes[2] = b[p + 5];
      f64Bytes[3] = b[p + 4];
      f64Bytes[4] = b[p + 3];
      f64Bytes[5] = b[p + 2];
      f64Bytes[6] = b[p + 1];
      f64Bytes[7] = b[p];
    } else {
      for (let i = 0; i < 8; i++) f64Bytes[i] = b[p + i];
    }
    return f64[0];
  }

  private u8(): number {
    return this.buf[this.pos++];
  }

  private u16(): number {
    const b = this.buf, p = this.pos;
    this.pos = p + 2;
    return (b[p] << 8) | b[p + 1];
  }

  private u32(): number {
    const b = this.buf, p = this.pos;
    this.pos = p + 4;
    return ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>>
      0;
  }

  private readCompressed(): unknown {
    const start = this.pos;
    this.pos++;
    this.need(4, "the uncompressed size of a compressed term");
    const size = this.u32();
    if (size > this.maxUncompressed) {
      this.fail(
        `a compressed term of at most ${this.maxUncompressed} bytes (maxUncompressedSize), it declares ${size}`,
        start,
      );
    }
    let inflated: Uint8Array;
    try {
      inflated = inflateSync(this.buf.subarray(this.pos, this.end), {
        maxOutputLength: Math.max(size, 1),
      });
    } catch (e) {
      this.fail(
        `zlib data of ${size} bytes (${(e as Error).message})`,
        this.pos,
      );
    }
    if (inflated.length !== size) {
      this.fail(
        `${size} bytes after decompression, got ${inflated.length}`,
        this.pos,
      );
    }
    const inner = new TermReader(inflated, 0, inflated.length, {
      maxDepth: this.maxDepth,
      maxUncompressedSize: this.maxUncompressed,
    });
    let term: unknown;
    try {
      term = inner.readTerm();
    } catch (e) {
      if (e instanceof TermDecodeError) {
        throw new TermDecodeError(
          `${e.message} (offset within the decompressed term)`,
          start,
        );
      }
      if (e instanceof RangeError) {
        throw new TermDecodeError(
          "terms nested too deeply for this runtime's stack",
          start,
        );
      }
      throw e;
    }
    if (inner.pos !== inflated.length) {
      this.fail("a compressed term with no bytes left over", start);
    }
    this.pos = this.end;
    return term;
  }

  /** Reads one term (no version byte). */
  readTerm(): unknown {
    if (this.pos >= this.end) this.fail("a term tag, got the end of the data");
    const tagAt = this.pos;
    const tag = this.buf[this.pos++];
    switch (tag) {
      case 97: // SMALL_INTEGER_EXT
        this.need(1, "a small integer");
        return this.buf[this.pos++];
      case 98: { // INTEGER_EXT
        this.need(4, "a 32-bit integer");
        return this.u32() | 0;
      }
      case 100: // ATOM_EXT (latin-1, 16-bit length)
      case 118: // ATOM_UTF8_EXT
      case 115: // SMALL_ATOM_EXT (latin-1)
      case 119: // SMALL_ATOM_UTF8_EXT
        return this.atomValue(this.atomBody(tag, tagAt));
      case 104: // SMALL_TUPLE_EXT
        this.need(1, "a tuple arity");
        return this.tupleBody(this.u8());
      case 105: // LARGE_TUPLE_EXT
        this.need(4, "a tuple arity");
        return this.tupleBody(this.u32());
      case 106: // NIL_EXT
        return [];
      case 107: { // STRING_EXT: a list of bytes
        this.need(2, "a string length");
        const n = this.u16();
        this.need(n, "the bytes of a string");
        const out = new Array<number>(n);
        const b = this.buf, p = this.pos;
        for (let i = 0; i < n; i++) out[i] = b[p + i];
        this.pos = p + n;
        return out;
      }
      case 108: // LIST_EXT
        return this.listBody();
      case 109: { // BINARY_EXT
        this.need(4, "a binary length");
        const n = this.u32();
        this.need(n, "the bytes of a binary");
        return this.binaryValue(n);
      }
      case 116: // MAP_EXT
        return this.mapBody();
      case 88: // NEW_PID_EXT
        return this.newPid();
      case 90: // NEWER_REFERENCE_EXT
        return this.newerRef(tagAt);
      default:
        return this.readRare(tag, tagAt);
    }
  }

  /** The tags seldom seen, kept apart so readTerm's stack frame stays small. */
  private readRare(tag: number, tagAt: number): unknown {
    switch (tag) {
      case 77: { // BIT_BINARY_EXT
        this.need(5, "a bitstring header");
        const n = this.u32();
        const bits = this.u8();
        if (n === 0 ? bits !== 0 : bits < 1 || bits > 8) {
          this.fail(
            n === 0
              ? "0 trailing bits for an empty bitstring"
              : `1..8 trailing bits in a bitstring, got ${bits}`,
            this.pos - 1,
          );
        }
        this.need(n, "the bytes of a bitstring");
        if (bits === 8 || n === 0) return this.binaryValue(n);
        const bytes = copyBytes(this.buf, this.pos, this.pos + n);
        this.pos += n;
        return new BitBinary(bytes, bits);
      }
      case 70: { // NEW_FLOAT_EXT
        this.need(8, "an 8-byte float");
        const v = this.f64();
        if (!Number.isFinite(v)) this.fail("a finite float", tagAt);
        return Number.isSafeInteger(v) ? new Float(v) : v;
      }
      case 99: { // FLOAT_EXT (31-byte text)
        this.need(31, "a 31-byte float text");
        let s = "";
        for (let i = 0; i < 31; i++) {
          const c = this.buf[this.pos + i];
          if (c === 0) break;
          s += String.fromCharCode(c);
        }
        this.pos += 31;
        const v = Number.parseFloat(s);
        if (!Number.isFinite(v)) this.fail("a float in text form", tagAt);
        return Number.isSafeInteger(v) ? new Float(v) : v;
      }
      case 110: { // SMALL_BIG_EXT
        this.need(2, "a big integer header");
        const n = this.u8();
        return this.bigBody(n);
      }
      case 111: { // LARGE_BIG_EXT
        this.need(5, "a big integer header");
        const n = this.u32();
        return this.bigBody(n);
      }
      case 103: { // PID_EXT
        const node = this.nodeName();
        this.need(9, "pid id, serial and creation");
        return new Pid(node, this.u32(), this.u32(), this.u8());
      }
      case 114: { // NEW_REFERENCE_EXT
        this.need(2, "a reference length");
        const len = this.u16();
        if (len > 5) this.fail(`at most 5 reference words, got ${len}`, tagAt);
        const node = this.nodeName();
        this.need(1 + 4 * len, "reference creation and words");
        const creation = this.u8();
        const ids = new Array<number>(len);
        for (let i = 0; i < len; i++) ids[i] = this.u32();
        return new Ref(node, creation, ids);
      }
      case 101: { // REFERENCE_EXT
        const node = this.nodeName();
        this.need(5, "reference id and creation");
        const id = this.u32();
        return new Ref(node, this.u8(), [id]);
      }
      case 89: { // NEW_PORT_EXT
        const node = this.nodeName();
        this.need(8, "port id and creation");
        return new Port(node, BigInt(this.u32()), this.u32());
      }
      case 120: { // V4_PORT_EXT
        const node = this.nodeName();
        this.need(12, "port id and creation");
        const hi = this.u32(), lo = this.u32();
        return new Port(
          node,
          (BigInt(hi) << 32n) | BigInt(lo),
          this.u32(),
        );
      }
      case 102: { // PORT_EXT
        const node = this.nodeName();
        this.need(5, "port id and creation");
        return new Port(node, BigInt(this.u32()), this.u8());
      }
      case 113: { // EXPORT_EXT
        const mod = this.atomTerm("the module of an external fun");
        const fun = this.atomTerm("the function of an external fun");
        if (this.pos >= this.end || this.buf[this.pos] !== 97) {
          this.fail("a small integer arity for an external fun");
        }
        this.pos++;
        this.need(1, "an arity");
        return new ExportFun(mod, fun, this.u8());
      }
      case 112: // NEW_FUN_EXT
        return this.funBody(tagAt);
      case 82: // ATOM_CACHE_REF
        this.fail(
          "no atom cache reference (noderl does not negotiate the atom cache)",
          tagAt,
        );
        break;
      case 80:
        this.fail("a compressed term only at the top level", tagAt);
        break;
      default:
        this.fail(`a known term tag, got ${tag}`, tagAt);
    }
  }

  private newPid(): Pid {
    const node = this.nodeName();
    this.need(12, "pid id, serial and creation");
    return new Pid(node, this.u32(), this.u32(), this.u32());
  }

  private newerRef(tagAt: number): Ref {
    this.need(2, "a reference length");
    const len = this.u16();
    if (len > 5) this.fail(`at most 5 reference words, got ${len}`, tagAt);
    const node = this.nodeName();
    this.need(4 + 4 * len, "reference creation and words");
    const creation = this.u32();
    const ids = new Array<number>(len);
    for (let i = 0; i < len; i++) ids[i] = this.u32();
    return new Ref(node, creation, ids);
  }

  private enter(): void {
    if (++this.depth > this.maxDepth) {
      this.fail(`nesting no deeper than ${this.maxDepth} (maxDepth)`);
    }
  }

  private tupleBody(arity: number): Tuple {
    if (arity > this.end - this.pos) {
      this.fail(
        `${arity} tuple elements, but only ${this.end - this.pos} bytes remain`,
      );
    }
    this.enter();
    const t = new Tuple(arity);
    for (let i = 0; i < arity; i++) t[i] = this.readTerm();
    this.depth--;
    return t;
  }

  private listBody(): unknown {
    this.need(4, "a list length");
    const n = this.u32();
    if (n + 1 > this.end - this.pos) {
      this.fail(
        `${n} list elements and a tail, but only ${
          this.end - this.pos
        } bytes remain`,
      );
    }
    this.enter();
    const items = new Array<unknown>(n);
    for (let i = 0; i < n; i++) items[i] = this.readTerm();
    let result: unknown;
    if (this.pos < this.end && this.buf[this.pos] === 106) {
      this.pos++;
      result = items;
    } else {
      const tail = this.readTerm();
      if (Array.isArray(tail) && !(tail instanceof Tuple)) {
        result = n === 0 ? tail : items.concat(tail);
      } else if (tail instanceof ImproperList) {
        result = new ImproperList(items.concat(tail.items), tail.tail);
      } else if (n === 0) {
        // [ | T] with no elements is just T.
        result = tail;
      } else {
        result = new ImproperList(items, tail);
      }
    }
    this.depth--;
    return result;
  }

  private mapBody(): Map<unknown, unknown> {
    this.need(4, "a map arity");
    const n = this.u32();
    if (2 * n > this.end - this.pos) {
      this.fail(
        `${n} map pairs, but only ${this.end - this.pos} bytes remain`,
      );
    }
    this.enter();
    const m = new Map<unknown, unknown>();
    for (let i = 0; i < n; i++) {
      const k = this.readTerm();
      m.set(k, this.readTerm());
    }
    this.depth--;
    return m;
  }

  private bigBody(n: number): number | bigint {
    this.need(1 + n, "the sign and digits of a big integer");
    const sign = this.u8();
    if (sign > 1) {
      this.fail(`a big integer sign 0 or 1, got ${sign}`, this.pos - 1);
    }
    const b = this.buf, p = this.pos;
    this.pos = p + n;
    if (n <= 6) {
      let v = 0;
      for (let i = n - 1; i >= 0; i--) v = v * 256 + b[p + i];
      return sign ? -v : v;
    }
    let v = 0n;
    // Read 4 bytes at a time from the most significant end.
    let i = n - 1;
    for (; i >= 3; i -= 4) {
      v = (v << 32n) |
        BigInt(
          ((b[p + i] << 24) | (b[p + i - 1] << 16) | (b[p + i - 2] << 8) |
            b[p + i - 3]) >>> 0,
        );
    }
    for (; i >= 0; i--) v = (v << 8n) | BigInt(b[p + i]);
    if (sign) v = -v;
    if (v >= -9007199254740991n && v <= 9007199254740991n) return Number(v);
    return v;
  }

  private binaryValue(n: number): string | Uint8Array {
    const b = this.buf, p = this.pos;
    this.pos = p + n;
    if (n > MAX_TEXT) {
      // Longer than a JavaScript string can be: bytes, whatever they hold.
      return this.owned ? b.subarray(p, p + n) : copyBytes(b, p, p + n);
    }
    if (n <= SHORT_TEXT) {
      let or = 0;
      for (let i = 0; i < n; i++) or |= b[p + i];
      if (or < 0x80) return n === 0 ? "" : asciiText(b, p, n);
    }
    const sub = b.subarray(p, p + n);
    if (
      isAsciiNative !== undefined && latin1Slice !== undefined &&
      isAsciiNative(sub)
    ) {
      return latin1Slice.call(b, p, p + n);
    }
    if (validUtf8(sub)) return utf8Lenient.decode(sub);
    // An exact copy: decoded data is often kept, and a view into a shared
    // slab would keep the whole slab alive — unless the buffer is this
    // message's own and the binary is large.
    if (this.owned && n >= 65536) return sub;
    return copyBytes(b, p, p + n);
  }

  /** Reads the length and text of an atom whose tag has been read. */
  private atomBody(tag: number, tagAt: number): Atom {
    let n: number;
    if (tag === 100 || tag === 118) {
      this.need(2, "an atom length");
      n = this.u16();
    } else {
      this.need(1, "an atom length");
      n = this.u8();
    }
    this.need(n, "the text of an atom");
    const b = this.buf, p = this.pos;
    this.pos = p + n;
    // Hash the bytes (FNV-1a) and see whether they are all ASCII.
    let h = 0x811c9dc5 ^ n, or = 0;
    for (let i = 0; i < n; i++) {
      const c = b[p + i];
      or |= c;
      h = Math.imul(h ^ c, 0x01000193);
    }
    if (or < 0x80) {
      const slot = (h ^ (h >>> ATOM_CACHE_BITS)) & ((1 << ATOM_CACHE_BITS) - 1);
      const hit = atomCache[slot];
      if (hit !== undefined) {
        const name = hit.name;
        if (name.length === n) {
          const k = slot << 6;
          let i = 0;
          while (i < n && atomKeys[k + i] === b[p + i]) i++;
          if (i === n) return hit;
        }
      }
      const a = Atom.of(asciiText(b, p, n));
      if (n <= 64) {
        atomCache[slot] = a;
        const k = slot << 6;
        for (let i = 0; i < n; i++) atomKeys[k + i] = b[p + i];
      }
      return a;
    }
    let s: string;
    if (tag === 100 || tag === 115) {
      // Latin-1: each byte is one code point.
      s = "";
      for (let i = 0; i < n; i++) s += fromCharCode(b[p + i]);
      return Atom.of(s);
    }
    try {
      s = utf8.decode(b.subarray(p, p + n));
    } catch {
      this.fail("UTF-8 text in a UTF-8 atom", tagAt);
    }
    return Atom.of(s);
  }

  /** The JavaScript value of an atom: true/false/null for three of them. */
  private atomValue(a: Atom): unknown {
    if (a === TRUE) return true;
    if (a === FALSE) return false;
    if (a === NIL) return null;
    return a;
  }

  /** Reads an atom term and returns it as an Atom (never true/false/null). */
  private atomTerm(what: string): Atom {
    const at = this.pos;
    if (at >= this.end) this.fail(`${what}, got the end of the data`);
    const tag = this.buf[this.pos++];
    if (tag !== 100 && tag !== 118 && tag !== 115 && tag !== 119) {
      this.fail(`${what} (an atom), got tag ${tag}`, at);
    }
    return this.atomBody(tag, at);
  }

  private nodeName(): string {
    // Pids and references in a stream mostly name one node: compare the
    // bytes with the last node name before hashing them.
    const b = this.buf, p = this.pos;
    const small = p + 2 <= this.end && b[p] === 119; // SMALL_ATOM_UTF8_EXT
    if (small) {
      const n = b[p + 1];
      if (n === lastNodeLen && n <= this.end - p - 2) {
        let i = 0;
        while (i < n && lastNodeKey[i] === b[p + 2 + i]) i++;
        if (i === n) {
          this.pos = p + 2 + n;
          return lastNode;
        }
      }
    }
    const name = this.atomTerm("a node name").name;
    const n = this.pos - p - 2;
    if (small && name.length === n) {
      // (Equal lengths in bytes and UTF-16 units: ASCII.)
      for (let i = 0; i < n; i++) lastNodeKey[i] = b[p + 2 + i];
      lastNodeLen = n;
      lastNode = name;
    }
    return name;
  }

  private funBody(tagAt: number): Fun {
    this.need(4 + 1 + 16 + 4 + 4, "the header of a fun");
    const size = this.u32();
    if (size - 4 > this.end - this.pos || size < 29) {
      this.fail(`a fun of ${size} bytes within the data`, tagAt);
    }
    const arity = this.u8();
    const uniq = copyBytes(this.buf, this.pos, this.pos + 16);
    this.pos += 16;
    const index = this.u32();
    const numFree = this.u32();
    if (numFree > this.end - this.pos) {
      this.fail(`${numFree} free variables within the data`, tagAt);
    }
    const module = this.atomTerm("the module of a fun");
    const oldIndex = this.readTerm();
    const oldUniq = this.readTerm();
    if (typeof oldIndex !== "number" || typeof oldUniq !== "number") {
      this.fail("integers for a fun's old index and uniq", tagAt);
    }
    const pid = this.readTerm();
    if (!(pid instanceof Pid)) this.fail("a pid in a fun", tagAt);
    this.enter();
    const free = new Array<unknown>(numFree);
    for (let i = 0; i < numFree; i++) free[i] = this.readTerm();
    this.depth--;
    if (this.pos - tagAt - 1 !== size) {
      this.fail(`a fun of exactly ${size} bytes`, tagAt);
    }
    return new Fun(arity, uniq, index, module, oldIndex, oldUniq, pid, free);
  }
}

/** True when `b` is well-formed UTF-8 (no overlongs, surrogates or >U+10FFFF). */
function isUtf8(b: Uint8Array): boolean {
  const n = b.length;
  let i = 0;
  while (i < n) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf) {
      if (i + 1 >= n || (b[i + 1] & 0xc0) !== 0x80) return false;
      i += 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      if (i + 2 >= n) return false;
      const c1 = b[i + 1];
      if ((c1 & 0xc0) !== 0x80 || (b[i + 2] & 0xc0) !== 0x80) return false;
      if (c === 0xe0 && c1 < 0xa0) return false; // overlong
      if (c === 0xed && c1 >= 0xa0) return false; // surrogate
      i += 3;
    } else if (c >= 0xf0 && c <= 0xf4) {
      if (i + 3 >= n) return false;
      const c1 = b[i + 1];
      if (
        (c1 & 0xc0) !== 0x80 || (b[i + 2] & 0xc0) !== 0x80 ||
        (b[i + 3] & 0xc0) !== 0x80
      ) return false;
      if (c === 0xf0 && c1 < 0x90) return false; // overlong
      if (c === 0xf4 && c1 >= 0x90) return false; // > U+10FFFF
      i += 4;
    } else {
      return false;
    }
  }
  return true;
}

/**
 * A plain `Uint8Array` copy of `b[start..end)`. (`Buffer#slice` would give
 * a Buffer view of the input, sharing its memory.)
 */
function copyBytes(b: Uint8Array, start: number, end: number): Uint8Array {
  return new Uint8Array(b.subarray(start, end));
}
