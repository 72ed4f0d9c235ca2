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

/** Options for {@linkcode encode}. */
export interface EncodeOptions {
  /** Deepest nesting accepted (guards against cycles). Default `2_000`. */
  maxDepth?: number;
}

const utf8 = new TextEncoder();
const atomBytes = new WeakMap<Atom, Uint8Array>();
const TRUE = Atom.of("true");
const FALSE = Atom.of("false");
const NIL = Atom.of("nil");
const UNDEFINED = Atom.of("undefined");

function bytesOfAtom(a: Atom): Uint8Array {
  let b = atomBytes.get(a);
  if (b === undefined) {
    if ([...a.name].length > 255) {
      throw new TermEncodeError(
        `atom ${
          JSON.stringify(a.name.slice(0, 40))
        }… has more than 255 characters`,
      );
    }
    b = utf8.encode(a.name);
    atomBytes.set(a, b);
  }
  return b;
}

/**
 * A growable output buffer that terms are written into. The distribution
 * layer writes whole packets with it; {@linkcode encode} uses a shared one.
 * Internal.
 */
export class TermWriter {
  buf: Uint8Array;
  pos = 0;
  private view: DataView;
  private depth = 0;
  private readonly maxDepth: number;

  constructor(initialSize = 1024, options?: EncodeOptions) {
    this.buf = new Uint8Array(initialSize);
    this.view = new DataView(this.buf.buffer);
    this.maxDepth = options?.maxDepth ?? 2_000;
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
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
    const b = bytesOfAtom(a);
    const n = b.length;
    this.ensure(3 + n);
    if (n < 256) {
      this.buf[this.pos++] = 119; // SMALL_ATOM_UTF8_EXT
      this.buf[this.pos++] = n;
    } else {
      this.buf[this.pos++] = 118; // ATOM_UTF8_EXT
      this.u16(n);
    }
    if (n < 16) {
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
    this.view.setFloat64(this.pos, n);
    this.pos += 8;
  }

  private writeBigInt(v: bigint): void {
    if (v >= -2147483648n && v <= 2147483647n) {
      return this.writeNumber(Number(v));
    }
    const neg = v < 0n;
    if (neg) v = -v;
    const start = this.pos;
    // Digits, least significant first; written after a 6-byte header slot.
    this.ensure(6);
    this.pos += 6;
    let len = 0;
    while (v > 0n) {
      let chunk = Number(v & 0xffffffffn);
      v >>= 32n;
      this.ensure(4);
      for (let k = 0; k < 4; k++) {
        if (v === 0n && chunk === 0) break;
        this.buf[this.pos++] = chunk & 0xff;
        chunk >>>= 8;
        len++;
      }
    }
    if (len < 256) {
      // SMALL_BIG_EXT: move the digits 3 bytes back.
      this.buf[start] = 110;
      this.buf[start + 1] = len;
      this.buf[start + 2] = neg ? 1 : 0;
      this.buf.copyWithin(start + 3, start + 6, start + 6 + len);
      this.pos = start + 3 + len;
    } else {
      this.buf[start] = 111;
      this.u32At(start + 1, len);
      this.buf[start + 5] = neg ? 1 : 0;
    }
  }

  private writeString(s: string): void {
    const n = s.length;
    this.ensure(5 + n * 3);
    const b = this.buf;
    b[this.pos] = 109;
    const lenAt = this.pos + 1;
    let p = this.pos + 5;
    if (n < 64) {
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[p++] = c;
      }
      if (i < n) {
        p += utf8.encodeInto(s.slice(i), b.subarray(p)).written;
      }
    } else {
      p += utf8.encodeInto(s, b.subarray(p)).written;
    }
    this.u32At(lenAt, p - lenAt - 4);
    this.pos = p;
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
    this.ensure(1);
    this.buf[this.pos++] = 88;
    this.writeAtom(Atom.of(p.node));
    this.ensure(12);
    this.u32(p.id);
    this.u32(p.serial);
    this.u32(p.creation);
  }

  private writeRef(r: Ref): void {
    const n = r.ids.length;
    if (n < 1 || n > 5) {
      throw new TermEncodeError(`a reference has 1..5 words, got ${n}`);
    }
    this.ensure(3);
    this.buf[this.pos++] = 90;
    this.u16(n);
    this.writeAtom(Atom.of(r.node));
    this.ensure(4 + 4 * n);
    this.u32(r.creation);
    for (let i = 0; i < n; i++) this.u32(r.ids[i]);
  }

  private writePort(p: Port): void {
    this.ensure(1);
    const big = p.id > 0xffffffffn;
    this.buf[this.pos++] = big ? 120 : 89;
    this.writeAtom(Atom.of(p.node));
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
    this.view = new DataView(this.buf.buffer);
    this.pos = 0;
  }

  /** Forgets any partial state after an error. */
  reset(): void {
    this.pos = 0;
    this.depth = 0;
  }
}

const shared = new TermWriter(4096);

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
  const w = options?.maxDepth === undefined
    ? shared
    : new TermWriter(256, options);
  w.reset();
  try {
    w.writeVersioned(term);
    return w.buf.slice(0, w.pos);
  } finally {
    w.reset();
    if (w === shared && w.buf.length > 1 << 20) {
      // Do not keep a huge buffer alive after one large term.
      shared.shrink(4096);
    }
  }
}
