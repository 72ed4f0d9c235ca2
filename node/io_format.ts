/**
 * The text side of the BEAM's io protocol: flattening iodata/chardata and
 * formatting `io_lib:format/2` control strings, so a noderl group leader can
 * print what `io:format` and Elixir's `IO.puts` send it.
 *
 * @module
 */
import { formatTerm } from "./format.ts";
import { Atom, Float, ImproperList } from "./terms.ts";

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder("utf-8");

/**
 * Turns chardata (strings, binaries, lists of code points and nested lists
 * of those) into a string. With `encoding` `"latin1"`, integers are bytes and
 * binaries are read as Latin-1.
 *
 * @example
 * ```ts
 * import { chardataToString } from "./io_format.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(chardataToString(["Hi, ", [109, 121], " name\n"]), "Hi, my name\n");
 * ```
 */
export function chardataToString(
  data: unknown,
  encoding: "unicode" | "latin1" = "unicode",
): string {
  let out = "";
  const walk = (d: unknown, depth: number): void => {
    if (depth > 10_000) throw new TypeError("chardata nested too deeply");
    if (typeof d === "string") out += d;
    else if (typeof d === "number") {
      if (!Number.isInteger(d) || d < 0 || d > 0x10ffff) {
        throw new TypeError(`not a character: ${d}`);
      }
      out += String.fromCodePoint(d);
    } else if (d instanceof Uint8Array) {
      out += encoding === "latin1" ? latin1.decode(d) : utf8.decode(d);
    } else if (Array.isArray(d)) {
      for (const x of d) walk(x, depth + 1);
    } else if (d instanceof ImproperList) {
      for (const x of d.items) walk(x, depth + 1);
      walk(d.tail, depth + 1);
    } else if (d instanceof Atom && encoding === "latin1") {
      throw new TypeError("an atom is not chardata");
    } else {
      throw new TypeError(`not chardata: ${formatTerm(d)}`);
    }
  };
  walk(data, 0);
  return out;
}

function asText(arg: unknown): string {
  if (arg instanceof Atom) return arg.name;
  if (typeof arg === "boolean") return String(arg);
  if (arg === null) return "nil";
  return chardataToString(arg);
}

function asNumber(arg: unknown): number | bigint {
  if (typeof arg === "number" || typeof arg === "bigint") return arg;
  if (arg instanceof Float) return arg.value;
  throw new TypeError(`not a number: ${formatTerm(arg)}`);
}

/**
 * Formats like `io_lib:format(Format, Args)` for the common directives:
 * `~s ~ts ~p ~tp ~P ~w ~W ~n ~c ~i ~B ~b ~e ~f ~g ~~`, with field widths
 * ignored. Throws a `TypeError` for a directive it does not know or an
 * argument of the wrong kind (the io server then answers `{error, format}`).
 *
 * @example
 * ```ts
 * import { ioLibFormat } from "./io_format.ts";
 * import { atom, tuple } from "./terms.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(ioLibFormat("~s is ~p~n", ["Kate", tuple(atom("ok"), 1)]), "Kate is {ok,1}\n");
 * ```
 */
export function ioLibFormat(
  format: unknown,
  args: unknown,
  localNode?: string,
): string {
  const fmt = format instanceof Atom ? format.name : chardataToString(format);
  const list = Array.isArray(args) ? args : [];
  let i = 0, out = "";
  const next = () => {
    if (i >= list.length) throw new TypeError("too few arguments for format");
    return list[i++];
  };
  for (let p = 0; p < fmt.length; p++) {
    const ch = fmt[p];
    if (ch !== "~") {
      out += ch;
      continue;
    }
    // ~[width][.precision[.pad]][t|l]control — widths are parsed and ignored.
    p++;
    while (p < fmt.length && /[0-9.*-]/.test(fmt[p])) {
      if (fmt[p] === "*") next();
      p++;
    }
    while (p < fmt.length && (fmt[p] === "t" || fmt[p] === "l")) p++;
    const c = fmt[p];
    switch (c) {
      case "~":
        out += "~";
        break;
      case "n":
        out += "\n";
        break;
      case "s":
        out += asText(next());
        break;
      case "p":
      case "w":
        out += formatTerm(next(), { strings: c === "p", localNode });
        break;
      case "P":
      case "W": {
        const t = next();
        next(); // depth
        out += formatTerm(t, { strings: c === "P", localNode });
        break;
      }
      case "c": {
        const v = next();
        if (typeof v !== "number") throw new TypeError("~c needs a character");
        out += String.fromCodePoint(v);
        break;
      }
      case "i":
        next();
        break;
      case "B":
      case "b":
      case "d": {
        const v = asNumber(next());
        out += typeof v === "bigint" ? String(v) : String(Math.trunc(v));
        break;
      }
      case "e":
        out += Number(asNumber(next())).toExponential(5).replace(
          /e([+-])(\d)$/,
          "e$10$2",
        );
        break;
      case "f":
        out += Number(asNumber(next())).toFixed(6);
        break;
      case "g":
        out += String(Number(asNumber(next())));
        break;
      default:
        throw new TypeError(`unsupported format directive ~${c ?? ""}`);
    }
  }
  if (i !== list.length) throw new TypeError("too many arguments for format");
  return out;
}
