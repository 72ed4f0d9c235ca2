/**
 * Reads the BEAM's TLS distribution option file (`erl -proto_dist inet_tls
 * -ssl_dist_optfile FILE`) into {@linkcode TlsOptions}, so noderl and BEAM
 * nodes of a cluster can share one file. Internal.
 *
 * The file holds one Erlang term, `[{server, Opts}, {client, Opts}].`;
 * read from `Opts`: `certfile`, `keyfile` (default: the key is in
 * `certfile`), `cacertfile`, `password`, `verify` (`verify_peer` |
 * `verify_none`) and `versions` (only TLS 1.3 listed: TLS 1.3 only). Other
 * options (`fail_if_no_peer_cert`, `secure_renegotiate`, `depth`, …) are
 * accepted and have no effect: noderl always asks for and checks the
 * client's certificate when `verify` is on. noderl presents one
 * certificate in both directions, so `server` and `client` must name the
 * same `certfile` when both name one.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import type { TlsOptions } from "./_tls.ts";

/** An Erlang term as read here: atoms and tuples are tagged. */
type Term =
  | { atom: string }
  | { tuple: Term[] }
  | Term[]
  | string
  | number;

const MAX_OPTFILE = 64 * 1024;

/** Reads the text of one Erlang term ending in `.`. */
export function parseTerm(text: string, file: string): Term {
  let i = 0;
  const fail = (what: string): never => {
    const line = text.slice(0, i).split("\n").length;
    throw new TypeError(`${file}:${line}: ${what}`);
  };
  const skip = () => {
    for (;;) {
      while (i < text.length && /\s/.test(text[i])) i++;
      if (text[i] === "%") {
        while (i < text.length && text[i] !== "\n") i++;
      } else return;
    }
  };
  const quoted = (q: string): string => {
    let out = "";
    i++;
    while (i < text.length && text[i] !== q) {
      if (text[i] === "\\") {
        i++;
        const c = text[i];
        out += c === "n" ? "\n" : c === "t" ? "\t" : c;
      } else out += text[i];
      i++;
    }
    if (i >= text.length) fail(`unterminated ${q === '"' ? "string" : "atom"}`);
    i++;
    return out;
  };
  const term = (depth: number): Term => {
    if (depth > 32) fail("nested too deeply");
    skip();
    const c = text[i];
    if (c === "[" || c === "{") {
      const close = c === "[" ? "]" : "}";
      i++;
      const items: Term[] = [];
      skip();
      if (text[i] === close) {
        i++;
        return c === "[" ? items : { tuple: items };
      }
      for (;;) {
        items.push(term(depth + 1));
        skip();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === close) {
          i++;
          return c === "[" ? items : { tuple: items };
        }
        fail(`expected , or ${close}`);
      }
    }
    if (c === '"') return quoted('"');
    if (c === "'") return { atom: quoted("'") };
    if (c === "<" && text.startsWith("<<", i)) {
      i += 2;
      skip();
      const s = text[i] === '"' ? quoted('"') : fail('expected <<"…">>');
      skip();
      if (!text.startsWith(">>", i)) fail("expected >>");
      i += 2;
      return s;
    }
    const m = /^(-?[0-9]+)|^([a-z][A-Za-z0-9_@]*)/.exec(text.slice(i, i + 256));
    if (m) {
      i += m[0].length;
      return m[1] !== undefined ? Number(m[1]) : { atom: m[2] };
    }
    return fail(
      i >= text.length
        ? "unexpected end of file"
        : `unexpected ${JSON.stringify(text[i])}`,
    );
  };
  const t = term(0);
  skip();
  if (text[i] !== ".") fail("expected . after the term");
  i++;
  skip();
  if (i < text.length) fail("expected one term only");
  return t;
}

const isAtom = (t: Term | undefined, name?: string): t is { atom: string } =>
  typeof t === "object" && t !== null && "atom" in t &&
  (name === undefined || t.atom === name);

/** `{Key, Value}` pairs of an option list. */
function pairs(list: Term, file: string, what: string): Map<string, Term> {
  if (!Array.isArray(list)) {
    throw new TypeError(`${file}: ${what} must be a list of options`);
  }
  const out = new Map<string, Term>();
  for (const o of list) {
    if (
      typeof o === "object" && o !== null && "tuple" in o &&
      o.tuple.length === 2 && isAtom(o.tuple[0])
    ) {
      out.set(o.tuple[0].atom, o.tuple[1]);
    } else if (!isAtom(o)) {
      throw new TypeError(`${file}: ${what} holds a non-option entry`);
    }
  }
  return out;
}

/**
 * The {@linkcode TlsOptions} of an `-ssl_dist_optfile` file, for
 * `startNode({ tls })`. Relative paths in it are taken from the file's
 * directory. Throws a TypeError that names the file and what is wrong.
 *
 * @example
 * ```ts
 * import { tlsOptionsFromOptfile } from "./_tls_optfile.ts";
 * import { mkdtempSync, writeFileSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import assert from "node:assert/strict";
 *
 * const dir = mkdtempSync(join(tmpdir(), "optfile-"));
 * const file = join(dir, "tls.conf");
 * writeFileSync(file, `[{server, [{certfile, "node.pem"}, {keyfile, "node.key"},
 *   {cacertfile, "/etc/ca.pem"}, {verify, verify_peer}]}].`);
 * assert.deepEqual(tlsOptionsFromOptfile(file), {
 *   cert: join(dir, "node.pem"),
 *   key: join(dir, "node.key"),
 *   ca: "/etc/ca.pem",
 *   verify: true,
 * });
 * ```
 */
export function tlsOptionsFromOptfile(path: string): TlsOptions {
  let text: string;
  try {
    const bytes = readFileSync(path);
    if (bytes.length > MAX_OPTFILE) throw new Error("too large");
    text = new TextDecoder().decode(bytes);
  } catch (e) {
    throw new TypeError(
      `cannot read the TLS option file ${path}: ${(e as Error).message}`,
    );
  }
  const top = pairs(parseTerm(text, path), path, "the file");
  const server = top.has("server")
    ? pairs(top.get("server")!, path, "server")
    : undefined;
  const client = top.has("client")
    ? pairs(top.get("client")!, path, "client")
    : undefined;
  if (!server && !client) {
    throw new TypeError(
      `${path} has neither {server, [...]} nor {client, [...]}: it is not an -ssl_dist_optfile`,
    );
  }
  const str = (m: Map<string, Term> | undefined, k: string) => {
    const v = m?.get(k);
    if (v === undefined) return undefined;
    if (typeof v !== "string") {
      throw new TypeError(`${path}: ${k} must be a string`);
    }
    return isAbsolute(v) ? v : resolve(dirname(path), v);
  };
  const pick = (k: string) => {
    const s = str(server, k), c = str(client, k);
    if (s !== undefined && c !== undefined && s !== c) {
      throw new TypeError(
        `${path}: server and client name different ${k}s (${s}, ${c}); noderl uses one for both directions`,
      );
    }
    return s ?? c;
  };
  const cert = pick("certfile");
  if (cert === undefined) {
    throw new TypeError(`${path}: no certfile`);
  }
  const verifyTerm = server?.get("verify") ?? client?.get("verify");
  let verify = true;
  if (verifyTerm !== undefined) {
    if (isAtom(verifyTerm, "verify_none")) verify = false;
    else if (!isAtom(verifyTerm, "verify_peer")) {
      throw new TypeError(
        `${path}: verify must be verify_peer or verify_none`,
      );
    }
  }
  const versions = server?.get("versions") ?? client?.get("versions");
  const only13 = Array.isArray(versions) && versions.length > 0 &&
    versions.every((v) => isAtom(v, "tlsv1.3"));
  const password = server?.get("password") ?? client?.get("password");
  return {
    cert,
    key: pick("keyfile") ?? cert,
    ca: pick("cacertfile"),
    verify,
    ...(typeof password === "string" ? { passphrase: password } : {}),
    ...(only13 ? { minVersion: "TLSv1.3" as const } : {}),
  };
}
