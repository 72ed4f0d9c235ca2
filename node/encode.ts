/**
 * Encoding to the Erlang External Term Format.
 *
 * @module
 */
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
import { TermEncodeError } from "./term_errors.ts";
import { termKey } from "./_term_key.ts";

/** Options for {@linkcode encode}. */
export interface EncodeOptions {
  /** Deepest nesting accepted (guards against cycles). Default `2_000`. */
  maxDepth?: number;
}

const utf8 = new TextEncoder();
const TRUE = Atom.of("true");
const FALSE = Atom.of("false");
const NIL = Atom.of("nil");
const UNDEFINED = Atom.of("undefined");

const SPECIAL_ATOMS = new Set(["true", "false", "nil", "undefined"]);

/**
 * Two keys of a JS `Map` can be one Erlang term (`1` and `1n`, `[1]` and
 * another `[1]`, `"a"` and the bytes of `"a"`, `true` and `atom("true")`):
 * the BEAM rejects such a map as a corrupted term and drops the whole
 * connection, so refuse it here. Keys that are all strings, numbers and
 * atoms other than true/false/nil/undefined are distinct already.
 */
function checkDistinctKeys(m: Map<unknown, unknown>): void {
  let plain = true;
  for (const k of m.keys()) {
    const t = typeof k;
    if (t === "string" || t === "number") continue;
    if (k instanceof Atom && !SPECIAL_ATOMS.has(k.name)) continue;
    plain = false;
    break;
  }
  if (plain) return;
  const seen = new Set<string>();
  for (const k of m.keys()) {
    const key = termKey(k);
    if (seen.has(key)) {
      throw new TermEncodeError(
        `a Map has two keys that are the same Erlang term (${
          String(k).slice(0, 80)
        }): the BEAM rejects such a map; keep one of them`,
      );
    }
    seen.add(key);
  }
}

// Floats are written through this scratch pair.
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// Each atom's UTF-8 bytes, kept on the atom under a hidden symbol (faster
// to reach than a WeakMap), or in a WeakMap for a frozen atom.
const ATOM_BYTES = Symbol("noderl.atomBytes");
const frozenAtomBytes = new WeakMap<Atom, Uint8Array>();

function bytesOfAtom(a: Atom): Uint8Array {
  return (a as { [ATOM_BYTES]?: Uint8Array })[ATOM_BYTES] ??
    frozenAtomBytes.get(a) ?? atomBytesOnce(a);
}

function atomBytesOnce(a: Atom): Uint8Array {
  if ([...a.name].length > 255) {
    throw new TermEncodeError(
      `atom ${
        JSON.stringify(a.name.slice(0, 40))
      }… has more than 255 characters`,
    );
  }
  const b = utf8.encode(a.name);
  if (Object.isExtensible(a)) {
    Object.defineProperty(a, ATOM_BYTES, { value: b });
  } else {
    frozenAtomBytes.set(a, b);
  }
  return b;
}

/** The value of a lowercase hex digit's character code. */
function hexDigit(c: number): number {
  return c <= 57 ? c - 48 : c - 87;
}

// The node name of the last pid, reference or port written, and its bytes.
let lastNode = "";
let lastNodeBytes: Uint8Array = new Uint8Array(0);

function nodeBytes(node: string): Uint8Array {
  if (node === lastNode) return lastNodeBytes;
  const b = bytesOfAtom(Atom.of(node));
  lastNode = node;
  lastNodeBytes = b;
  return b;
}

/**
 * A growable output buffer that terms are written into. The distribution
 * layer writes whole packets with it; {@linkcode encode} writes into a
 * shared slab through a subclass. Internal.
 */
export class TermWriter {
  buf: Uint8Array;
  pos = 0;
  private depth = 0;
  private readonly maxDepth: number;

  constructor(initialSize = 1024, options?: EncodeOptions) {
    this.buf = new Uint8Array(initialSize);
    this.maxDepth = options?.maxDepth ?? 2_000;
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    const need = this.pos + n;
    if (need > this.buf.length) this.grow(need);
  }

  /** Replaces the buffer with one of at least `need` bytes. */
  protected grow(need: number): void {
    let size = Math.max(this.buf.length * 2, 64);
    while (size < need) size *= 2;
    // A large need (a big binary, a long string) gets what it needs and an
    // eighth more, not the next power of two: no 128 MB for 65 MB.
    if (need > 8 * 1024 * 1024) {
      size = Math.min(size, need + (need >>> 3));
    }
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  /** Writes one byte (room must have been ensured). */
  u8(v: number): void {
    this.buf[this.pos++] = v;
  }

  /** Writes a 16-bit big-endian value (room must have been ensured). */
  u16(v: number): void {
    const b = this.buf, p = this.pos;
    b[p] = v >>> 8;
    b[p + 1] = v;
    this.pos = p + 2;
  }

  /** Writes a 32-bit big-endian value (room must have been ensured). */
  u32(v: number): void {
    const b = this.buf, p = this.pos;
    b[p] = v >>> 24;
    b[p + 1] = v >>> 16;
    b[p + 2] = v >>> 8;
    b[p + 3] = v;
    this.pos = p + 4;
  }

  /** Writes a 32-bit big-endian value at `at` without moving. */
  u32At(at: number, v: number): void {
    const b = this.buf;
    b[at] = v >>> 24;
    b[at + 1] = v >>> 16;
    b[at + 2] = v >>> 8;
    b[at + 3] = v;
  }

  /** Writes raw bytes. */
  bytes(src: Uint8Array): void {
    this.ensure(src.length);
    this.buf.set(src, this.pos);
    this.pos += src.length;
  }

  /** Writes the version byte and one term. */
  writeVersioned(term: unknown): void {
    this.ensure(1);
    this.buf[this.pos++] = 131;
    this.writeBare(term);
  }

  /**
   * Writes one term with no version byte, as terms follow a distribution
   * header; stack exhaustion becomes a TermEncodeError.
   */
  writeBare(term: unknown): void {
    try {
      this.writeTerm(term);
    } catch (e) {
      if (e instanceof RangeError && !(e instanceof TermEncodeError)) {
        this.depth = 0;
        throw new TermEncodeError(
          "value nested too deeply for this runtime's stack",
        );
      }
      throw e;
    }
  }

  /** Writes one term (no version byte). */
  writeTerm(term: unknown): void {
    switch (typeof term) {
      case "number":
        return this.writeNumber(term);
      case "string":
        return this.writeString(term);
      case "object":
        return this.writeObject(term);
      case "boolean":
        return this.writeAtom(term ? TRUE : FALSE);
      case "bigint":
        return this.writeBigInt(term);
      case "undefined":
        return this.writeAtom(UNDEFINED);
      default:
        throw new TermEncodeError(`a ${typeof term} has no Erlang term`);
    }
  }

  /** Writes an atom. */
  writeAtom(a: Atom): void {
    this.atomBytes(bytesOfAtom(a));
  }

  /** Writes an atom given its UTF-8 bytes. */
  private atomBytes(b: Uint8Array): void {
    const n = b.length;
    this.ensure(3 + n);
    if (n < 256) {
      this.buf[this.pos++] = 119; // SMALL_ATOM_UTF8_EXT
      this.buf[this.pos++] = n;
    } else {
      this.buf[this.pos++] = 118; // ATOM_UTF8_EXT
      this.u16(n);
    }
    if (n <= 32) {
      for (let i = 0; i < n; i++) this.buf[this.pos + i] = b[i];
    } else {
      this.buf.set(b, this.pos);
    }
    this.pos += n;
  }

  private writeNumber(n: number): void {
    if (Number.isSafeInteger(n)) {
      if (n >= 0 && n < 256) {
        this.ensure(2);
        this.buf[this.pos++] = 97;
        this.buf[this.pos++] = n;
      } else if (n >= -2147483648 && n <= 2147483647) {
        this.ensure(5);
        this.buf[this.pos++] = 98;
        this.u32(n);
      } else {
        // 33..53 bits: SMALL_BIG_EXT with up to 7 digit bytes.
        this.ensure(10);
        this.buf[this.pos++] = 110;
        const lenAt = this.pos++;
        this.buf[this.pos++] = n < 0 ? 1 : 0;
        let v = Math.abs(n), len = 0;
        while (v > 0) {
          this.buf[this.pos++] = v % 256;
          v = Math.floor(v / 256);
          len++;
        }
        this.buf[lenAt] = len;
      }
    } else if (Number.isFinite(n)) {
      this.writeFloat(n);
    } else {
      throw new TermEncodeError(
        `${n} is not a finite number; Erlang floats are finite`,
      );
    }
  }

  private writeFloat(n: number): void {
    if (!Number.isFinite(n)) {
      throw new TermEncodeError(
        `${n} is not a finite number; Erlang floats are finite`,
      );
    }
    this.ensure(9);
    this.buf[this.pos++] = 70;
    f64[0] = n;
    const b = this.buf, p = this.pos;
    if (littleEndian) {
      b[p] = f64Bytes[7];
      b[p + 1] = f64Bytes[6];
      b[p + 2] = f64Bytes[5];
      b[p + 3] = f64Bytes[4];
      b[p + 4] = f64Bytes[3];
      b[p + 5] = f64Bytes[2];
      b[p + 6] = f64Bytes[1];
      b[p + 7] = f64Bytes[0];
    } else {
      for (let i = 0; i < 8; i++) b[p + i] = f64Bytes[i];
    }
    this.pos = p + 8;
  }

  private writeBigInt(v: bigint): void {
    if (v >= -2147483648n && v <= 2147483647n) {
      return this.writeNumber(Number(v));
    }
    const neg = v < 0n;
    // The digits from the hex text (one conversion, no bigint arithmetic
    // per digit), least significant byte first.
    const hex = (neg ? -v : v).toString(16);
    const len = (hex.length + 1) >> 1;
    this.ensure(6 + len);
    const b = this.buf;
    let p = this.pos;
    if (len < 256) {
      b[p++] = 110; // SMALL_BIG_EXT
      b[p++] = len;
    } else {
      b[p++] = 111; // LARGE_BIG_EXT
      this.u32At(p, len);
      p += 4;
    }
    b[p++] = neg ? 1 : 0;
    let i = hex.length;
    for (; i >= 2; i -= 2) {
      b[p++] = (hexDigit(hex.charCodeAt(i - 2)) << 4) |
        hexDigit(hex.charCodeAt(i - 1));
    }
    if (i === 1) b[p++] = hexDigit(hex.charCodeAt(0));
    this.pos = p;
  }

  private writeString(s: string): void {
    const n = s.length;
    if (n < 64) {
      this.ensure(5 + n * 3);
      const b = this.buf;
      const lenAt = this.pos + 1;
      let p = lenAt + 4;
      b[lenAt - 1] = 109;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[p++] = c;
      }
      if (i < n) {
        p += utf8.encodeInto(s.slice(i), b.subarray(p)).written;
      }
      this.u32At(lenAt, p - lenAt - 4);
      this.pos = p;
      return;
    }
    // Room for the text if it is ASCII (one byte per UTF-16 unit) and more
    // only when it is not: reserving 3 bytes per unit up front would grow
    // the buffer needlessly for long ASCII strings.
    this.ensure(5 + n);
    const start = this.pos;
    this.buf[start] = 109;
    this.pos = start + 5;
    let r = utf8.encodeInto(s, this.buf.subarray(this.pos));
    this.pos += r.written;
    let read = r.read;
    while (read < n) {
      this.ensure((n - read) * 3);
      r = utf8.encodeInto(s.slice(read), this.buf.subarray(this.pos));
      this.pos += r.written;
      read += r.read;
    }
    this.u32At(start + 1, this.pos - start - 5);
  }

  private writeBinary(bytes: Uint8Array): void {
    this.ensure(5 + bytes.length);
    this.buf[this.pos++] = 109;
    this.u32(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  private enter(): void {
    if (++this.depth > this.maxDepth) {
      this.depth = 0;
      throw new TermEncodeError(
        `nesting deeper than ${this.maxDepth} (maxDepth); is the value cyclic?`,
      );
    }
  }

  private writeList(items: readonly unknown[], tail: unknown): void {
    const n = items.length;
    if (n === 0) {
      if (tail === undefined) {
        this.ensure(1);
        this.buf[this.pos++] = 106;
        return;
      }
      return this.writeTerm(tail);
    }
    if (tail === undefined && n < 65536 && this.isByteList(items)) {
      // STRING_EXT, as the BEAM writes lists of small integers.
      this.ensure(3 + n);
      this.buf[this.pos++] = 107;
      this.u16(n);
      for (let i = 0; i < n; i++) this.buf[this.pos++] = items[i] as number;
      return;
    }
    this.enter();
    this.ensure(5);
    this.buf[this.pos++] = 108;
    this.u32(n);
    for (let i = 0; i < n; i++) this.writeTerm(items[i]);
    if (tail === undefined) {
      this.ensure(1);
      this.buf[this.pos++] = 106;
    } else {
      this.writeTerm(tail);
    }
    this.depth--;
  }

  private isByteList(items: readonly unknown[]): boolean {
    for (let i = 0; i < items.length; i++) {
      const v = items[i];
      if (typeof v !== "number" || !(v >= 0 && v < 256) || (v | 0) !== v) {
        return false;
      }
    }
    return true;
  }

  private writeObject(term: object | null): void {
    if (term === null) return this.writeAtom(NIL);
    if (term instanceof Atom) return this.writeAtom(term);
    if (Array.isArray(term)) {
      if (term instanceof Tuple) {
        const n = term.length;
        this.enter();
        this.ensure(5);
        if (n < 256) {
          this.buf[this.pos++] = 104;
          this.buf[this.pos++] = n;
        } else {
          this.buf[this.pos++] = 105;
          this.u32(n);
        }
        for (let i = 0; i < n; i++) this.writeTerm(term[i]);
        this.depth--;
        return;
      }
      return this.writeList(term, undefined);
    }
    if (term instanceof Uint8Array) return this.writeBinary(term);
    if (term instanceof Pid) return this.writePid(term);
    if (term instanceof Ref) return this.writeRef(term);
    if (term instanceof Map) return this.writeMap(term);
    if (term instanceof Float) return this.writeFloat(term.value);
    if (term instanceof ImproperList) {
      if (term.items.length === 0) return this.writeTerm(term.tail);
      return this.writeList(term.items, term.tail);
    }
    if (term instanceof BitBinary) return this.writeBits(term);
    if (term instanceof ExportFun) {
      this.ensure(1);
      this.buf[this.pos++] = 113;
      this.writeAtom(term.module);
      this.writeAtom(term.function);
      this.ensure(2);
      this.buf[this.pos++] = 97;
      this.buf[this.pos++] = term.arity;
      return;
    }
    if (term instanceof Fun) return this.writeFun(term);
    if (term instanceof Port) return this.writePort(term);
    if (ArrayBuffer.isView(term)) {
      return this.writeBinary(
        new Uint8Array(term.buffer, term.byteOffset, term.byteLength),
      );
    }
    if (term instanceof ArrayBuffer) {
      return this.writeBinary(new Uint8Array(term));
    }
    const proto = Object.getPrototypeOf(term);
    if (proto === Object.prototype || proto === null) {
      return this.writePlainObject(term as Record<string, unknown>);
    }
    const name = (term as { constructor?: { name?: string } }).constructor
      ?.name ?? "object";
    throw new TermEncodeError(
      `a ${name} has no Erlang term; convert it to a plain object, array or string first`,
    );
  }

  private writeMap(m: Map<unknown, unknown>): void {
    if (m.size > 1) checkDistinctKeys(m);
    this.enter();
    this.ensure(5);
    this.buf[this.pos++] = 116;
    this.u32(m.size);
    for (const [k, v] of m) {
      this.writeTerm(k);
      this.writeTerm(v);
    }
    this.depth--;
  }

  private writePlainObject(o: Record<string, unknown>): void {
    const keys = Object.keys(o);
    this.enter();
    this.ensure(5);
    this.buf[this.pos++] = 116;
    this.u32(keys.length);
    for (const k of keys) {
      this.writeString(k);
      this.writeTerm(o[k]);
    }
    this.depth--;
  }

  private writeBits(t: BitBinary): void {
    const n = t.bytes.length;
    if (t.bits === 8 || n === 0) return this.writeBinary(t.bytes);
    if (!(t.bits >= 1 && t.bits <= 7)) {
      throw new TermEncodeError(
        `a BitBinary needs 1..8 bits in its last byte, got ${t.bits}`,
      );
    }
    this.ensure(6 + n);
    this.buf[this.pos++] = 77;
    this.u32(n);
    this.buf[this.pos++] = t.bits;
    this.buf.set(t.bytes, this.pos);
    this.pos += n;
  }

  /** Writes a pid (NEW_PID_EXT). */
  writePid(p: Pid): void {
    const node = nodeBytes(p.node);
    this.ensure(16 + node.length);
    this.buf[this.pos++] = 88;
    this.atomBytes(node);
    this.u32(p.id);
    this.u32(p.serial);
    this.u32(p.creation);
  }

  private writeRef(r: Ref): void {
    const n = r.ids.length;
    if (n < 1 || n > 5) {
      throw new TermEncodeError(`a reference has 1..5 words, got ${n}`);
    }
    const node = nodeBytes(r.node);
    this.ensure(10 + node.length + 4 * n);
    this.buf[this.pos++] = 90;
    this.u16(n);
    this.atomBytes(node);
    this.u32(r.creation);
    for (let i = 0; i < n; i++) this.u32(r.ids[i]);
  }

  private writePort(p: Port): void {
    this.ensure(1);
    const big = p.id > 0xffffffffn;
    this.buf[this.pos++] = big ? 120 : 89;
    this.atomBytes(nodeBytes(p.node));
    this.ensure(12);
    if (big) {
      this.u32(Number(p.id >> 32n));
      this.u32(Number(p.id & 0xffffffffn));
    } else {
      this.u32(Number(p.id));
    }
    this.u32(p.creation);
  }

  private writeFun(f: Fun): void {
    const start = this.pos;
    this.ensure(30);
    this.buf[this.pos++] = 112;
    this.pos += 4; // size, filled in below
    this.buf[this.pos++] = f.arity;
    this.buf.set(f.uniq.subarray(0, 16), this.pos);
    this.pos += 16;
    this.u32(f.index);
    this.u32(f.freeVars.length);
    this.writeAtom(f.module);
    this.writeNumber(f.oldIndex);
    this.writeNumber(f.oldUniq);
    this.writePid(f.pid);
    this.enter();
    for (const v of f.freeVars) this.writeTerm(v);
    this.depth--;
    this.u32At(start + 1, this.pos - start - 1);
  }

  /** Replaces the buffer with a smaller, empty one. */
  shrink(size: number): void {
    this.buf = new Uint8Array(size);
    this.pos = 0;
  }

  /** Forgets any partial state after an error. */
  reset(): void {
    this.pos = 0;
    this.depth = 0;
  }
}

// Results are carved out of a shared slab, as Node's Buffer pool does:
// allocating an ArrayBuffer costs far more than encoding a small term (about
// 1 µs for 8 KiB, dearer per byte for small buffers and in Deno, where even a
// 7-byte one costs ~0.7 µs). encode() writes straight into the slab's free
// part; a term that does not fit is encoded again into a reusable scratch
// writer and copied out.
const POOL_SIZE = 64 * 1024;
// A slab with less room than this is replaced before encoding into it.
const POOL_MIN_FREE = 256;
let pool = new Uint8Array(POOL_SIZE);
let poolBuffer = pool.buffer;
let poolPos = 0;

function newPool(): void {
  pool = new Uint8Array(POOL_SIZE);
  poolBuffer = pool.buffer;
  poolPos = 0;
}

/** Thrown inside the slab writer when the term does not fit. */
const FULL = { full: true };

/** A writer over the slab's free part that refuses to grow. */
class SlabWriter extends TermWriter {
  protected override grow(): void {
    throw FULL;
  }
}

const slabWriter = new SlabWriter(0);
const scratch = new TermWriter(4096);
// True while encode() uses the slab or the scratch writer: a nested call
// (from a getter run during encoding) gets a writer of its own.
let busy = false;

/** Copies `src[0, n)` out, into the slab when it is small. */
function copyOut(src: Uint8Array, n: number): Uint8Array {
  if (n > POOL_SIZE >>> 3) return src.slice(0, n);
  let p = poolPos;
  // A detached slab (its buffer transferred away) has length 0.
  if (p + n > pool.length) {
    newPool();
    p = 0;
  }
  const out = new Uint8Array(poolBuffer, p, n);
  poolPos = p + n;
  out.set(src.subarray(0, n));
  return out;
}

function encodeShared(term: unknown): Uint8Array {
  const w = slabWriter;
  let start = poolPos;
  // A detached slab (its buffer transferred away) has length 0.
  if (pool.length - start < POOL_MIN_FREE) {
    newPool();
    start = 0;
  }
  w.buf = pool;
  w.pos = start;
  try {
    w.writeVersioned(term);
    const end = w.pos;
    poolPos = end;
    // (new Uint8Array(buffer, …) is faster than pool.subarray.)
    return new Uint8Array(poolBuffer, start, end - start);
  } catch (e) {
    w.reset();
    if (e !== FULL) throw e;
  }
  try {
    scratch.writeVersioned(term);
    return copyOut(scratch.buf, scratch.pos);
  } finally {
    scratch.reset();
    if (scratch.buf.length > 1 << 20) {
      // Do not keep a huge buffer alive after one large term.
      scratch.shrink(4096);
    }
  }
}

/**
 * Encodes a JavaScript value as an Erlang term, with the version byte 131
 * in front, as `term_to_binary/1` does.
 *
 * Numbers that are safe integers become integers and all other numbers
 * floats (use {@linkcode Float} for a float with no fraction); `bigint`s
 * become integers; strings become UTF-8 binaries; arrays lists;
 * `Uint8Array`s binaries; `Map`s and plain objects maps (object keys become
 * binaries); `true`/`false`/`null`/`undefined` the atoms
 * `true`/`false`/`nil`/`undefined`.
 *
 * Like Node's `Buffer`s, small results are views into a shared 64 KiB slab
 * (`byteOffset` and `byteLength` delimit them within `.buffer`); one kept
 * result keeps its slab alive, so `.slice()` a result you store for long.
 *
 * @throws {TermEncodeError} for a value with no Erlang term.
 *
 * @example
 * ```ts
 * import { encode } from "./encode.ts";
 * import { decode } from "./decode.ts";
 * import { atom, tuple } from "./terms.ts";
 * import assert from "node:assert/strict";
 *
 * const bytes = encode(tuple(atom("ok"), "hi"));
 * assert.equal(bytes[0], 131);
 * assert.deepEqual(decode(bytes), tuple(atom("ok"), "hi"));
 * ```
 */
export function encode(term: unknown, options?: EncodeOptions): Uint8Array {
  if (options?.maxDepth !== undefined || busy) {
    const own = new TermWriter(256, options);
    own.writeVersioned(term);
    return own.buf.slice(0, own.pos);
  }
  busy = true;
  try {
    return encodeShared(term);
  } finally {
    busy = false;
  }
}
