/**
 * Printing terms in Erlang syntax, as `io:format("~p")` and `~w` do.
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
import { compareTerms } from "./term_order.ts";

const EXACT = { exact: true } as const;

const PLAIN_ATOM = /^[a-z][a-zA-Z0-9_@]*$/;
const RESERVED = new Set([
  "after",
  "and",
  "andalso",
  "band",
  "begin",
  "bnot",
  "bor",
  "bsl",
  "bsr",
  "bxor",
  "case",
  "catch",
  "cond",
  "div",
  "end",
  "fun",
  "if",
  "let",
  "not",
  "of",
  "or",
  "orelse",
  "receive",
  "rem",
  "try",
  "when",
  "xor",
  "maybe",
  "else",
]);

function quoteAtom(name: string): string {
  if (PLAIN_ATOM.test(name) && !RESERVED.has(name)) return name;
  return `'${name.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

function escapeString(s: string): string {
  let out = "";
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\r") out += "\\r";
    else if (c < 32 || c === 127) out += `\\${c.toString(8).padStart(3, "0")}`;
    else out += ch;
  }
  return out;
}

function isPrintableList(xs: readonly unknown[]): boolean {
  if (xs.length === 0) return false;
  for (const x of xs) {
    if (typeof x !== "number" || !Number.isInteger(x)) return false;
    if (!(x >= 32 && x < 127) && x !== 10 && x !== 9 && x !== 13) {
      if (!(x >= 160 && x < 0x110000)) return false;
    }
  }
  return true;
}

/** Options for {@linkcode formatTerm}. */
export interface FormatOptions {
  /** Print lists of character codes as strings (`~p`); default true. */
  strings?: boolean;
  /** This node's name: its pids print as `<0.N.S>`, others as `<node.N.S>`. */
  localNode?: string;
}

/**
 * Returns the Erlang text of a term: `{ok,<<"hi">>}`, `[1,2|t]`, `#{a => 1}`.
 * Map keys print in the BEAM's term order (as `io:format("~kp")` prints
 * them), whatever order the map arrived in.
 *
 * @example
 * ```ts
 * import { formatTerm } from "./format.ts";
 * import { atom, tuple } from "./terms.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(formatTerm(tuple(atom("ok"), "hi", [104, 105])), '{ok,<<"hi">>,"hi"}');
 * assert.equal(formatTerm(atom("Elixir.Kate")), "'Elixir.Kate'");
 * assert.equal(
 *   formatTerm(new Map<unknown, unknown>([[atom("b"), 1], ["k", 2], [atom("a"), 3], [1, 4]])),
 *   '#{1 => 4,a => 3,b => 1,<<"k">> => 2}',
 * );
 * ```
 */
export function formatTerm(term: unknown, options: FormatOptions = {}): string {
  const strings = options.strings ?? true;
  const local = options.localNode;
  const go = (t: unknown): string => {
    switch (typeof t) {
      case "number":
        return Number.isInteger(t) ? String(t) : floatText(t);
      case "bigint":
        return String(t);
      case "string":
        return t === "" ? "<<>>" : `<<"${escapeString(t)}">>`;
      case "boolean":
        return String(t);
      case "undefined":
        return "undefined";
    }
    if (t === null) return "nil";
    if (t instanceof Atom) return quoteAtom(t.name);
    if (t instanceof Tuple) return `{${t.map(go).join(",")}}`;
    if (Array.isArray(t)) {
      if (strings && isPrintableList(t)) {
        return `"${escapeString(String.fromCodePoint(...(t as number[])))}"`;
      }
      return `[${t.map(go).join(",")}]`;
    }
    if (t instanceof Float) return floatText(t.value);
    if (t instanceof Uint8Array) return `<<${Array.from(t).join(",")}>>`;
    if (t instanceof Map) return formatMap([...t]);
    if (t instanceof Pid) {
      return `<${t.node === local ? "0" : t.node}.${t.id}.${t.serial}>`;
    }
    if (t instanceof Ref) return String(t);
    if (t instanceof Port) return String(t);
    if (t instanceof ExportFun) {
      return `fun ${quoteAtom(t.module.name)}:${
        quoteAtom(t.function.name)
      }/${t.arity}`;
    }
    if (t instanceof Fun) return String(t);
    if (t instanceof ImproperList) {
      return `[${t.items.map(go).join(",")}|${go(t.tail)}]`;
    }
    if (t instanceof BitBinary) {
      const whole = Array.from(t.bytes.subarray(0, t.bytes.length - 1));
      const last = t.bytes[t.bytes.length - 1] >> (8 - t.bits);
      return `<<${[...whole.map(String), `${last}:${t.bits}`].join(",")}>>`;
    }
    if (t instanceof Error) return `<<"${escapeString(t.message)}">>`;
    if (typeof t === "object") {
      return formatMap(Object.entries(t as Record<string, unknown>));
    }
    return String(t);
  };
  // Keys in the BEAM's term order (map-key order: integers before floats),
  // as `io:format("~kp")` prints them: the order a map arrives in is
  // the sender's internal one, which OTP 26+ no longer sorts.
  const formatMap = (entries: [unknown, unknown][]): string =>
    `#{${
      entries.sort((p, q) => compareTerms(p[0], q[0], EXACT)).map(([k, v]) =>
        `${go(k)} => ${go(v)}`
      ).join(",")
    }}`;
  return go(term);
}

function floatText(v: number): string {
  if (Object.is(v, -0)) return "-0.0";
  const s = String(v);
  if (/e/.test(s)) {
    const [m, e] = s.split("e");
    return `${m.includes(".") ? m : `${m}.0`}e${e.replace("+", "")}`;
  }
  return s.includes(".") ? s : `${s}.0`;
}
