/**
 * Exit reasons from JavaScript errors: what a throw in a process, a remote
 * call or a task becomes on the wire, shaped as an Elixir exception with an
 * Erlang stack trace so BEAM peers print it. Internal.
 *
 * @module
 */
import { A } from "./_atoms.ts";
import { ExitError } from "./errors.ts";
import { Atom, tuple } from "./terms.ts";

/**
 * The exit reason for an error thrown in a process: an `ExitError`'s
 * reason, else `{%RuntimeError{message: M}, Stacktrace}`.
 */
export function errorReason(e: unknown): unknown {
  if (e instanceof ExitError) return e.reason;
  const err = e instanceof Error ? e : new Error(String(e));
  const message = err.name && err.name !== "Error"
    ? `${err.name}: ${err.message}`
    : err.message;
  const ex = new Map<unknown, unknown>([
    [A.__struct__, A.RuntimeError],
    [A.__exception__, true],
    [A.message, message],
  ]);
  return tuple(ex, jsStack(err));
}

const JS_ERROR = Atom.of("js_error");

/**
 * A JS stack as an Erlang stack trace: `[{js, Fn, 0, [{file, F}, {line,
 * L}]}]`. The first frame also carries `{js_error, Name}` (the error's
 * name, e.g. `<<"TypeError">>`), which BEAM peers ignore and a noderl
 * caller uses to give back the original message (`RemoteError`).
 */
function jsStack(err: Error): unknown[] {
  const out: unknown[] = [];
  const name = typeof err.name === "string" && err.name !== ""
    ? err.name.slice(0, 200)
    : "Error";
  for (const line of (err.stack ?? "").split("\n").slice(1, 16)) {
    const m = /^\s*at (?:(.+?) \()?(.*?):(\d+):\d+\)?$/.exec(line);
    if (!m) continue;
    const fn = m[1] ?? "anonymous";
    const file = m[2].replace(/^file:\/\//, "");
    const loc: unknown[] = [
      tuple(A.file, Array.from(file.slice(-200), (c) => c.codePointAt(0)!)),
      tuple(A.line, Number(m[3])),
    ];
    if (out.length === 0) loc.push(tuple(JS_ERROR, name));
    out.push(tuple(A.js, Atom.of(fn.slice(0, 200)), 0, loc));
  }
  if (out.length === 0) {
    out.push(tuple(A.js, Atom.of("anonymous"), 0, [tuple(JS_ERROR, name)]));
  }
  return out;
}
