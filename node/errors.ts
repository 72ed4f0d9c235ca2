/**
 * Errors raised by nodes and processes.
 *
 * @module
 */
import { formatTerm } from "./format.ts";
import { Atom, Tuple } from "./terms.ts";

/**
 * A process ended (or a call failed) with an Erlang exit reason. `reason` is
 * the term itself: `atom("noproc")`, `atom("noconnection")`, `{undef, …}`, ….
 *
 * @example
 * ```ts
 * import { ExitError } from "./errors.ts";
 * import { atom } from "./terms.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new ExitError(atom("noproc"));
 * assert.equal(e.reason, atom("noproc"));
 * assert.match(e.message, /noproc/);
 * ```
 */
export class ExitError extends Error {
  /** The exit reason, as a term. */
  readonly reason: unknown;
  constructor(reason: unknown, context?: string) {
    super(
      `${context ? `${context}: ` : ""}exited with reason ${
        describeReason(reason)
      }`,
    );
    this.name = "ExitError";
    this.reason = reason;
  }
}

/** A `receive`, call or await did not complete in time. */
export class TimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TimeoutError";
  }
}

/** The connection to a node could not be made or was lost. */
export class NoConnectionError extends ExitError {
  /** The node that could not be reached. */
  readonly node: string;
  constructor(node: string, detail?: string) {
    super(Atom.of("noconnection"), `no connection to ${node}`);
    this.name = "NoConnectionError";
    this.node = node;
    if (detail) this.message += ` (${detail})`;
  }
}

/**
 * A remote call raised: `kind` is how (`"throw"`, `"exit"` or `"error"`, as
 * the BEAM's exception classes), `reason` the term, `remoteStack` the
 * stack trace term the remote node sent, if any.
 */
export class RemoteError extends Error {
  /** The exception class on the remote side. */
  readonly kind: "throw" | "exit" | "error";
  /** The exception reason, as a term. */
  readonly reason: unknown;
  /** The remote stack trace term (a list), when sent. */
  readonly remoteStack: unknown;
  constructor(
    kind: "throw" | "exit" | "error",
    reason: unknown,
    remoteStack?: unknown,
    context?: string,
  ) {
    super(
      `${context ? `${context}: ` : ""}remote ${kind}: ${
        describeReason(reason)
      }${stackText(remoteStack)}`,
    );
    this.name = "RemoteError";
    this.kind = kind;
    this.reason = reason;
    this.remoteStack = remoteStack;
  }
}

/**
 * A name is already taken: a registered name on a node, a global name, or a
 * supervisor's or server's name. Erlang says `{error, {already_started,
 * Pid}}` or raises `badarg`; noderl throws this, naming the holder.
 *
 * @example
 * ```ts
 * import { NameTakenError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new NameTakenError("kv", "<0.42.0>");
 * assert.equal(e.takenName, "kv");
 * assert.match(e.message, /kv.*taken by <0.42.0>/);
 * ```
 */
export class NameTakenError extends Error {
  /** The name that is taken. */
  readonly takenName: string;
  /** Who holds it (a pid, as text), when known. */
  readonly holder: string | undefined;
  constructor(name: string, holder?: string, context?: string) {
    super(
      `${context ? `${context}: ` : ""}the name ${name} is taken${
        holder ? ` by ${holder}` : ""
      }: unregister it first or choose another name`,
    );
    this.name = "NameTakenError";
    this.takenName = name;
    this.holder = holder;
  }
}

/** The handshake with a peer failed (wrong cookie, refused, …). */
export class HandshakeError extends Error {
  /** The peer's node name (or its address, when the name is not known). */
  readonly peer: string;
  constructor(peer: string, message: string) {
    super(`handshake with ${peer} failed: ${message}`);
    this.name = "HandshakeError";
    this.peer = peer;
  }
}

function stackText(stack: unknown): string {
  if (!Array.isArray(stack) || stack.length === 0) return "";
  const lines = stack.slice(0, 12).map((f) => {
    if (f instanceof Tuple && f.length >= 3) {
      const [m, fn, a] = f;
      const arity = Array.isArray(a) ? a.length : a;
      const loc = f[3];
      let where = "";
      if (Array.isArray(loc)) {
        const file = loc.find((x) =>
          x instanceof Tuple && x[0] === Atom.of("file")
        );
        const line = loc.find((x) =>
          x instanceof Tuple && x[0] === Atom.of("line")
        );
        if (file) {
          where += ` (${formatChars(file[1])}${line ? `:${line[1]}` : ""})`;
        }
      }
      return `    ${String(m)}.${String(fn)}/${arity}${where}`;
    }
    return `    ${formatTerm(f)}`;
  });
  return `\n${lines.join("\n")}`;
}

function formatChars(x: unknown): string {
  if (typeof x === "string") return x;
  if (Array.isArray(x) && x.every((c) => typeof c === "number")) {
    return String.fromCodePoint(...(x as number[]));
  }
  return formatTerm(x);
}

/**
 * A readable one-line description of an exit reason: JS errors carried in
 * an exception map show their message, other terms print in Erlang syntax.
 */
export function describeReason(reason: unknown): string {
  // {#{__exception__ => true, message => M, …}, Stack} from a JS throw or an Elixir raise
  if (reason instanceof Tuple && reason.length === 2) {
    const ex = reason[0];
    if (ex instanceof Map && ex.get(Atom.of("__exception__")) === true) {
      const struct = ex.get(Atom.of("__struct__"));
      const msg = ex.get(Atom.of("message"));
      const name = struct instanceof Atom
        ? struct.name.replace(/^Elixir\./, "")
        : "error";
      return `** (${name}) ${typeof msg === "string" ? msg : formatTerm(msg)}${
        stackText(reason[1])
      }`;
    }
  }
  if (typeof reason === "string") return reason;
  return formatTerm(reason);
}
