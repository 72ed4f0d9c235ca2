/**
 * Terms as map keys and in Erlang's order, for the tables of `global` and
 * `pg` (names, groups and lock ids are any terms). Internal.
 *
 * @module
 */
import { encode } from "./encode.ts";
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

const utf8 = new TextEncoder();

function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return s;
}

/** A float's key: -0.0 and 0.0 are two terms (OTP 27's `=:=`, map keys). */
function floatKey(v: number): string {
  return Object.is(v, -0) ? "f-0" : `f${v}`;
}

/**
 * A string that is the same for two terms exactly when Erlang's `=:=`
 * holds between them (maps compare whatever their insertion order; a JS
 * string and a `Uint8Array` of the same bytes are the same binary).
 * @internal
 */
export function termKey(t: unknown): string {
  switch (typeof t) {
    case "number":
      // As encode() writes them: a safe integer is an integer, any other
      // number a float (2 ** 53 is the float 9007199254740992.0).
      if (Number.isSafeInteger(t)) return `i${t}`;
      return floatKey(t);
    case "bigint":
      return `i${t}`;
    case "string": {
      const b = latin1(utf8.encode(t));
      return `b${b.length}:${b}`;
    }
    case "boolean":
      return t ? "a4:true" : "a5:false";
    case "undefined":
      return "a9:undefined";
  }
  if (t === null) return "a3:nil";
  if (t instanceof Atom) return `a${t.name.length}:${t.name}`;
  if (t instanceof Tuple) return `t${t.length}(${t.map(termKey).join(",")})`;
  if (Array.isArray(t)) return `l${t.length}[${t.map(termKey).join(",")}]`;
  if (t instanceof Pid) return `p${t.key}`;
  if (t instanceof Ref) return `r${t.key}`;
  if (t instanceof Float) return floatKey(t.value);
  if (t instanceof Uint8Array) {
    const b = latin1(t);
    return `b${b.length}:${b}`;
  }
  if (t instanceof Map) {
    const entries = Array.from(t, ([k, v]) => [termKey(k), termKey(v)]);
    entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return `m${entries.length}{${entries.map(([k, v]) => `${k}=>${v}`)}}`;
  }
  if (t instanceof ImproperList) {
    return `L${t.items.length}[${t.items.map(termKey).join(",")}|${
      termKey(t.tail)
    }]`;
  }
  if (
    t instanceof Port || t instanceof ExportFun || t instanceof Fun ||
    t instanceof BitBinary
  ) {
    return `x${latin1(encode(t))}`;
  }
  if (typeof t === "object") {
    // A plain object encodes as a map with binary keys.
    return termKey(new Map(Object.entries(t as Record<string, unknown>)));
  }
  return `?${String(t)}`;
}

/** Whether two terms are exactly equal (`=:=`). @internal */
export function sameTerm(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === "number" || typeof a === "bigint") {
    if (typeof b !== "number" && typeof b !== "bigint") return false;
    if (typeof a === "number" && !Number.isSafeInteger(a)) return a === b;
    if (typeof b === "number" && !Number.isSafeInteger(b)) return false;
    return BigInt(a) === BigInt(b);
  }
  if (a instanceof Pid) return a.equals(b);
  if (a instanceof Ref) return a.equals(b);
  if (a instanceof Atom || b instanceof Atom) return false;
  if (a === undefined || b === undefined) return false;
  return termKey(a) === termKey(b);
}

function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const x = Array.from(a), y = Array.from(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const d = x[i].codePointAt(0)! - y[i].codePointAt(0)!;
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return x.length - y.length < 0 ? -1 : x.length === y.length ? 0 : 1;
}

/** The greatest node name in Erlang's order (`lists:max/1`). @internal */
export function maxNode(nodes: readonly string[]): string {
  let best = nodes[0];
  for (const n of nodes) if (compareCodePoints(n, best) > 0) best = n;
  return best;
}
