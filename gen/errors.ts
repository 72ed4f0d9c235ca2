/**
 * The errors of `GenServer` and `Agent`, shaped as Elixir's exits: a failed
 * `GenServer.call(server, request, 5000)` exits with
 * `{Reason, {GenServer, call, [Server, Request, 5000]}}`, where Reason is
 * `noproc`, `timeout`, `{nodedown, Node}`, `calling_self` or the server's
 * exit reason.
 *
 * @example
 * ```ts
 * import { GenServerCallError } from "./errors.ts";
 * import { ExitError } from "../node/errors.ts";
 * import { atom, tuple } from "../node/terms.ts";
 * import { formatTerm } from "../node/format.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new GenServerCallError(atom("noproc"), "call", [atom("stack"), atom("pop"), 5000]);
 * assert.ok(e instanceof ExitError);
 * assert.equal(e.callReason, atom("noproc"));
 * assert.equal(formatTerm(e.reason), "{noproc,{'Elixir.GenServer',call,[stack,pop,5000]}}");
 * assert.match(e.message, /no process/);
 * ```
 *
 * @module
 */
import { describeReason, ExitError } from "../node/errors.ts";
import { formatTerm } from "../node/format.ts";
import { Atom, Tuple, tuple } from "../node/terms.ts";

const GEN_SERVER = Atom.of("Elixir.GenServer");

function why(callReason: unknown, args: readonly unknown[]): string {
  if (callReason === Atom.of("noproc")) {
    return "no process: the server is not running (or no process is registered under that name)";
  }
  if (callReason === Atom.of("timeout")) {
    const t = args[args.length - 1];
    return `the server did not reply within ${
      typeof t === "number" ? `${t} ms` : String(t)
    }`;
  }
  if (callReason === Atom.of("calling_self")) {
    return "a process cannot call itself";
  }
  if (
    callReason instanceof Tuple && callReason.length === 2 &&
    callReason[0] === Atom.of("nodedown")
  ) {
    return `node ${String(callReason[1])} is down or cannot be reached`;
  }
  return `the server exited: ${describeReason(callReason)}`;
}

function argText(args: readonly unknown[]): string {
  return args.map((a) => {
    try {
      const t = formatTerm(a);
      return t.length > 200 ? `${t.slice(0, 200)}…` : t;
    } catch {
      return String(a);
    }
  }).join(", ");
}

/**
 * A `GenServer.call` (or `stop`, or an `Agent` function) failed. `reason`
 * is Elixir's exit reason `{callReason, {Module, Function, Args}}`;
 * `callReason` is why.
 */
export class GenServerCallError extends ExitError {
  /** Why: `noproc`, `timeout`, `{nodedown, Node}`, `calling_self`, or the server's exit reason. */
  readonly callReason: unknown;
  /** A call failure: `callReason`, in the call `{Module, Function, Args}`. */
  constructor(
    callReason: unknown,
    fn: string,
    args: readonly unknown[],
    module: Atom = GEN_SERVER,
  ) {
    super(tuple(callReason, tuple(module, Atom.of(fn), [...args])));
    const mod = module.name.replace(/^Elixir\./, "");
    this.message = `${mod}.${fn}(${argText(args)}) failed: ${
      why(callReason, args)
    }`;
    this.name = "GenServerCallError";
    this.callReason = callReason;
  }
}

/**
 * A server did not start: its `init` threw or returned `{ stop: reason }`
 * or `{ ignore: true }` (reason `ignore`), the name was taken (reason
 * `{already_started, Pid}`), or `init` took longer than the start timeout
 * (reason `timeout`).
 */
export class GenServerStartError extends ExitError {
  /** A start failure for `reason`, described by `what`. */
  constructor(reason: unknown, what: string) {
    super(reason, what);
    this.name = "GenServerStartError";
  }
}
