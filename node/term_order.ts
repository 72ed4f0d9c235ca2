/**
 * The BEAM's term order, for JavaScript values read as the terms they
 * encode to: `number < atom < reference < fun < port < pid < tuple < map <
 * nil < list < bitstring`, and within each type as the BEAM orders it.
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

/** Options for {@linkcode compareTerms}. */
export interface CompareOptions {
  /**
   * Order as map keys are ordered (and compared by `=:=`): every integer
   * before every float, so `1` and `new Float(1)` differ, and `-0.0` comes
   * before `0.0`. Without it numbers compare by value (`1 == 1.0`), as
   * `<` and `==` do. Default false.
   */
  exact?: boolean;
}

const enum Kind {
  Number,
  Atom,
  Ref,
  Fun,
  Port,
  Pid,
  Tuple,
  Map,
  Nil,
  List,
  Bits,
}

function kindOf(t: unknown): Kind {
  switch (typeof t) {
    case "number":
    case "bigint":
      return Kind.Number;
    case "string":
      return Kind.Bits;
    case "boolean":
    case "undefined":
      return Kind.Atom;
    case "function":
      return Kind.Fun;
  }
  if (t === null || t instanceof Atom) return Kind.Atom;
  if (Array.isArray(t)) {
    if (t instanceof Tuple) return Kind.Tuple;
    return t.length === 0 ? Kind.Nil : Kind.List;
  }
  if (t instanceof Float) return Kind.Number;
  if (
    t instanceof Uint8Array || t instanceof BitBinary ||
    ArrayBuffer.isView(t) || t instanceof ArrayBuffer
  ) return Kind.Bits;
  if (t instanceof Map) return Kind.Map;
  if (t instanceof ImproperList) {
    return t.items.length === 0 ? kindOf(t.tail) : Kind.List;
  }
  if (t instanceof Pid) return Kind.Pid;
  if (t instanceof Ref) return Kind.Ref;
  if (t instanceof Port) return Kind.Port;
  if (t instanceof Fun || t instanceof ExportFun) return Kind.Fun;
  return Kind.Map; // a plain object: a map with binary keys
}

const sign = (d: number): -1 | 0 | 1 => (d < 0 ? -1 : d > 0 ? 1 : 0);
const flip = (c: -1 | 0 | 1): -1 | 0 | 1 => (c === 0 ? 0 : c === 1 ? -1 : 1);

function atomText(t: unknown): string {
  if (t instanceof Atom) return t.name;
  if (t === null) return "nil";
  return String(t); // true, false, undefined
}

/** Compares two strings by code point (the order of their UTF-8 bytes). */
function compareText(a: string, b: string): -1 | 0 | 1 {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i), y = b.charCodeAt(i);
    if (x === y) continue;
    // UTF-16 order differs from code point order only for surrogates
    // against U+E000..U+FFFF.
    const xs = x >= 0xd800 && x <= 0xdfff, ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x < y ? -1 : 1;
  }
  return sign(a.length - b.length);
}

// ------------------------------------------------------------ numbers

/** An integer as a bigint, or a float as a number. */
function numberOf(t: unknown): { int: true; v: bigint } | {
  int: false;
  v: number;
} {
  if (typeof t === "bigint") return { int: true, v: t };
  if (t instanceof Float) return { int: false, v: t.value };
  const n = t as number;
  // As the codec: safe integers travel as integers, everything else as floats.
  return Number.isSafeInteger(n)
    ? { int: true, v: BigInt(n) }
    : { int: false, v: n };
}

function compareIntFloat(i: bigint, f: number): -1 | 0 | 1 {
  if (Number.isNaN(f)) return -1;
  if (f === Infinity) return -1;
  if (f === -Infinity) return 1;
  const whole = BigInt(Math.trunc(f));
  if (i !== whole) return i < whole ? -1 : 1;
  const frac = f - Math.trunc(f);
  return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

function compareNumbers(a: unknown, b: unknown, exact: boolean): -1 | 0 | 1 {
  if (typeof a === "number" && typeof b === "number" && !exact) {
    return a < b ? -1 : a > b ? 1 : 0;
  }
  const x = numberOf(a), y = numberOf(b);
  if (x.int && y.int) return x.v < y.v ? -1 : x.v > y.v ? 1 : 0;
  if (exact && x.int !== y.int) return x.int ? -1 : 1;
  if (x.int) return compareIntFloat(x.v as bigint, y.v as number);
  if (y.int) return flip(compareIntFloat(y.v as bigint, x.v as number));
  const p = x.v as number, q = y.v as number;
  if (p !== q) return p < q ? -1 : 1;
  if (exact && p === 0) {
    const pn = Object.is(p, -0), qn = Object.is(q, -0);
    if (pn !== qn) return pn ? -1 : 1;
  }
  return 0;
}

// ------------------------------------------------------------ bitstrings

const utf8 = new TextEncoder();

function bitsOf(t: unknown): [Uint8Array, number] {
  if (typeof t === "string") {
    const b = utf8.encode(t);
    return [b, b.length * 8];
  }
  if (t instanceof BitBinary) {
    return [t.bytes, (t.bytes.length - 1) * 8 + t.bits];
  }
  if (t instanceof ArrayBuffer) {
    return [new Uint8Array(t), t.byteLength * 8];
  }
  const v = t as ArrayBufferView;
  return [
    new Uint8Array(v.buffer, v.byteOffset, v.byteLength),
    v.byteLength * 8,
  ];
}

function compareBits(a: unknown, b: unknown): -1 | 0 | 1 {
  if (typeof a === "string" && typeof b === "string") {
    return compareText(a, b);
  }
  const [x, xn] = bitsOf(a), [y, yn] = bitsOf(b);
  const n = Math.min(xn, yn), whole = n >> 3;
  for (let i = 0; i < whole; i++) {
    if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  }
  const rest = n & 7;
  if (rest > 0) {
    const p = x[whole] >> (8 - rest), q = y[whole] >> (8 - rest);
    if (p !== q) return p < q ? -1 : 1;
  }
  return sign(xn - yn);
}

// ------------------------------------------------------------ maps

function entriesOf(t: unknown): [unknown, unknown][] {
  if (t instanceof Map) return [...t];
  return Object.entries(t as Record<string, unknown>);
}

/** A map's entries in map-key order (as `maps:iterator(M, ordered)`). */
function sortedEntries(t: unknown): [unknown, unknown][] {
  return entriesOf(t).sort((p, q) => compare(p[0], q[0], true));
}

function compareMaps(a: unknown, b: unknown, exact: boolean): -1 | 0 | 1 {
  const x = sortedEntries(a), y = sortedEntries(b);
  if (x.length !== y.length) return sign(x.length - y.length);
  for (let i = 0; i < x.length; i++) {
    const c = compare(x[i][0], y[i][0], true);
    if (c !== 0) return c;
  }
  for (let i = 0; i < x.length; i++) {
    const c = compare(x[i][1], y[i][1], exact);
    if (c !== 0) return c;
  }
  return 0;
}

// ------------------------------------------------------------ lists

function cells(t: unknown): [readonly unknown[], unknown] {
  if (t instanceof ImproperList) return [t.items, t.tail];
  return [t as unknown[], []];
}

function compareLists(a: unknown, b: unknown, exact: boolean): -1 | 0 | 1 {
  const [xs, xt] = cells(a), [ys, yt] = cells(b);
  const n = Math.min(xs.length, ys.length);
  for (let i = 0; i < n; i++) {
    const c = compare(xs[i], ys[i], exact);
    if (c !== 0) return c;
  }
  // What follows the common part: the rest of the longer list, or a tail.
  const restX = xs.length > n
    ? (xt === undefined || (Array.isArray(xt) && xt.length === 0)
      ? xs.slice(n)
      : new ImproperList(xs.slice(n), xt))
    : xt;
  const restY = ys.length > n
    ? (Array.isArray(yt) && yt.length === 0
      ? ys.slice(n)
      : new ImproperList(ys.slice(n), yt))
    : yt;
  return compare(restX, restY, exact);
}

// ------------------------------------------------------------ identifiers

function compareWords(
  a: readonly number[],
  b: readonly number[],
): -1 | 0 | 1 {
  // The most significant word is the last one.
  for (let i = Math.max(a.length, b.length) - 1; i >= 0; i--) {
    const x = a[i] ?? 0, y = b[i] ?? 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return sign(a.length - b.length);
}

function compareNode(
  a: { node: string; creation: number },
  b: { node: string; creation: number },
): -1 | 0 | 1 {
  return compareText(a.node, b.node) || sign(a.creation - b.creation);
}

function compareFuns(a: unknown, b: unknown, exact: boolean): -1 | 0 | 1 {
  // Closures before external funs (`fun M:F/A`); JavaScript functions,
  // which only exist locally, last.
  const rank = (f: unknown) =>
    f instanceof Fun ? 0 : f instanceof ExportFun ? 1 : 2;
  const r = sign(rank(a) - rank(b));
  if (r !== 0) return r;
  if (a instanceof ExportFun && b instanceof ExportFun) {
    return compareText(a.module.name, b.module.name) ||
      compareText(a.function.name, b.function.name) ||
      sign(a.arity - b.arity);
  }
  if (a instanceof Fun && b instanceof Fun) {
    // The creator pid is not part of a fun's identity.
    const c = compareText(a.module.name, b.module.name) ||
      sign(a.oldIndex - b.oldIndex) || sign(a.oldUniq - b.oldUniq) ||
      sign(a.index - b.index) || compareBits(a.uniq, b.uniq) ||
      sign(a.arity - b.arity) || sign(a.freeVars.length - b.freeVars.length);
    if (c !== 0) return c;
    for (let i = 0; i < a.freeVars.length; i++) {
      const d = compare(a.freeVars[i], b.freeVars[i], exact);
      if (d !== 0) return d;
    }
  }
  return 0;
}

function compare(a: unknown, b: unknown, exact: boolean): -1 | 0 | 1 {
  if (a === b) {
    // Still tell -0.0 from 0.0 and NaN from itself… both are the same object here.
    return 0;
  }
  const ka = kindOf(a), kb = kindOf(b);
  if (ka !== kb) return ka < kb ? -1 : 1;
  switch (ka) {
    case Kind.Number:
      return compareNumbers(a, b, exact);
    case Kind.Atom:
      return compareText(atomText(a), atomText(b));
    case Kind.Ref: {
      const x = a as Ref, y = b as Ref;
      return compareNode(x, y) || compareWords(x.ids, y.ids);
    }
    case Kind.Fun:
      return compareFuns(a, b, exact);
    case Kind.Port: {
      const x = a as Port, y = b as Port;
      return compareNode(x, y) || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0);
    }
    case Kind.Pid: {
      // Serial, then number, then node: as the BEAM compares pid data.
      const x = a as Pid, y = b as Pid;
      return sign(x.serial - y.serial) || sign(x.id - y.id) ||
        compareNode(x, y);
    }
    case Kind.Tuple: {
      const x = a as Tuple, y = b as Tuple;
      if (x.length !== y.length) return sign(x.length - y.length);
      for (let i = 0; i < x.length; i++) {
        const c = compare(x[i], y[i], exact);
        if (c !== 0) return c;
      }
      return 0;
    }
    case Kind.Map:
      return compareMaps(a, b, exact);
    case Kind.Nil:
      return 0;
    case Kind.List:
      return compareLists(a, b, exact);
    case Kind.Bits:
      return compareBits(a, b);
  }
}

/**
 * Compares two terms in the BEAM's term order: negative when `a` sorts
 * first, 0 when they are equal (`==`; with `exact`, `=:=`), positive
 * otherwise. JavaScript values count as the terms they encode to: `true`,
 * `false`, `null` and `undefined` are atoms, a string is a binary, an
 * empty array is `[]`, a plain object is a map. A closure's creator pid
 * is not part of its identity, as on the BEAM.
 *
 * @example
 * ```ts
 * import { compareTerms } from "./term_order.ts";
 * import { atom, Float, tuple } from "./terms.ts";
 * import assert from "node:assert/strict";
 *
 * // number < atom < tuple < nil < list < binary
 * const sorted = ["b", [1], [], tuple(), atom("a"), 2].sort(compareTerms);
 * assert.deepEqual(sorted, [2, atom("a"), tuple(), [], [1], "b"]);
 * assert.equal(compareTerms(1, new Float(1)), 0); // 1 == 1.0
 * assert.equal(compareTerms(2, new Float(1), { exact: true }), -1); // as map keys
 * ```
 */
export function compareTerms(
  a: unknown,
  b: unknown,
  options: CompareOptions = {},
): -1 | 0 | 1 {
  return compare(a, b, options.exact ?? false);
}
