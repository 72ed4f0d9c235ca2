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
  /** `reason` is the exit reason; `context`, if given, starts the message. */
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
  /** `message` says what did not complete, and within how long. */
  constructor(message: string) {
    super(message);
    this.name = "TimeoutError";
  }
}

/**
 * The connection to a node could not be made or was lost: the exit reason
 * `noconnection`. The message says why when that is known — a refused
 * connection, a wrong cookie, a timeout: `no connection to kate@localhost:
 * handshake with kate@localhost failed: … the cookies differ …`.
 */
export class NoConnectionError extends ExitError {
  /** The node that could not be reached. */
  readonly node: string;
  /** Why, or where it happened, when known. */
  readonly detail: string | undefined;
  /** `node` could not be reached; `detail` says why, when known. */
  constructor(node: string, detail?: string) {
    super(Atom.of("noconnection"), `no connection to ${node}`);
    this.name = "NoConnectionError";
    this.node = node;
    this.detail = detail || undefined;
    this.message = `no connection to ${node}${
      detail ? `: ${detail}` : " (noconnection)"
    }`;
  }
}

/**
 * A remote call raised. `message` is the original message — a JavaScript
 * error's own message, an Elixir exception's message, else the reason in
 * Erlang syntax (`badarg`) — and `stack` shows the remote frames (in the
 * remote node's source files) above the frames of the local call. `kind`
 * says how it raised (`"throw"`, `"exit"` or `"error"`, as the BEAM's
 * exception classes), `reason` is the term, `remoteStack` the stack trace
 * term the remote node sent, if any.
 *
 * @example
 * ```ts
 * import { RemoteError } from "./errors.ts";
 * import { atom } from "./terms.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new RemoteError("error", atom("badarg"), [], "call erlang.hd/1 on foo@localhost");
 * assert.equal(e.message, "badarg");
 * assert.match(e.stack!, /raised in call erlang\.hd\/1 on foo@localhost/);
 * ```
 */
export class RemoteError extends Error {
  /** The exception class on the remote side. */
  readonly kind: "throw" | "exit" | "error";
  /** The exception reason, as a term. */
  readonly reason: unknown;
  /** The remote stack trace term (a list), when sent. */
  readonly remoteStack: unknown;
  /**
   * The remote error's name, when it has one: a JavaScript error's
   * (`"TypeError"`, `"Error"`) or an Elixir exception's (`"ArgumentError"`).
   */
  readonly remoteName: string | undefined;
  /** Where it was raised, e.g. `call Kate.boom/1 on kate@localhost`. */
  readonly context: string | undefined;
  /**
   * `kind`, `reason` and `remoteStack` as the remote node sent them;
   * `context` says where (shown in the stack, not the message).
   */
  constructor(
    kind: "throw" | "exit" | "error",
    reason: unknown,
    remoteStack?: unknown,
    context?: string,
  ) {
    const { name, message } = remoteMessage(reason, remoteStack);
    super(message);
    this.name = "RemoteError";
    this.kind = kind;
    this.reason = reason;
    this.remoteStack = remoteStack;
    this.remoteName = name;
    this.context = context;
    const local = (this.stack ?? "").split("\n").slice(1).join("\n");
    const frames = stackFrames(remoteStack ?? stackOf(reason));
    this.stack = `RemoteError: ${message}\n    ${
      kind === "error" && name ? name : kind
    } raised${context ? ` in ${context}` : ""}${
      frames.length ? ", at:" : ""
    }\n${frames.map((f) => `    at ${f}\n`).join("")}    called:\n${local}`;
  }
}

/** The stack of a `{Exception, Stack}` exit reason. */
function stackOf(reason: unknown): unknown {
  return reason instanceof Tuple && reason.length === 2 &&
      isException(reason[0])
    ? reason[1]
    : undefined;
}

function isException(x: unknown): x is Map<unknown, unknown> {
  return x instanceof Map && x.get(Atom.of("__exception__")) === true;
}

/**
 * The original message and name of a remote exception: a JavaScript
 * throw's (its frames carry `{js_error, Name}`, see `_reason.ts`), an
 * Elixir exception's, else the reason in Erlang syntax.
 */
function remoteMessage(
  reason: unknown,
  stack: unknown,
): { name: string | undefined; message: string } {
  let ex = reason;
  if (
    reason instanceof Tuple && reason.length === 2 && isException(reason[0])
  ) {
    ex = reason[0];
    stack ??= reason[1];
  }
  if (!isException(ex)) {
    return { name: undefined, message: describeReason(reason) };
  }
  const struct = ex.get(Atom.of("__struct__"));
  const msg = ex.get(Atom.of("message"));
  let message = typeof msg === "string"
    ? msg
    : msg === undefined
    ? formatTerm(ex)
    : formatTerm(msg);
  let name = struct instanceof Atom
    ? struct.name.replace(/^Elixir\./, "")
    : undefined;
  const jsName = jsErrorName(stack);
  if (jsName !== undefined) {
    name = jsName;
    if (message.startsWith(`${jsName}: `)) {
      message = message.slice(jsName.length + 2);
    }
  }
  return { name, message };
}

/** The `{js_error, Name}` a JavaScript throw's first frame carries. */
function jsErrorName(stack: unknown): string | undefined {
  if (!Array.isArray(stack) || !(stack[0] instanceof Tuple)) return undefined;
  const loc = stack[0][3];
  if (!Array.isArray(loc)) return undefined;
  const e = loc.find((x) => x instanceof Tuple && x[0] === Atom.of("js_error"));
  return e !== undefined && typeof e[1] === "string" ? e[1] : undefined;
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
  /** `name` is held by `holder`; `context`, if given, starts the message. */
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
  /**
   * True when the peer closed or reset the connection without breaking the
   * protocol: a node going down mid-handshake, a TCP health check. A node
   * logs only the other failures (as the BEAM, which is silent about these).
   */
  readonly peerClosed: boolean;
  /** The handshake with `peer` failed; `message` says why. */
  constructor(peer: string, message: string, peerClosed = false) {
    super(`handshake with ${peer} failed: ${message}`);
    this.name = "HandshakeError";
    this.peer = peer;
    this.peerClosed = peerClosed;
  }
}

function stackText(stack: unknown): string {
  const frames = stackFrames(stack);
  return frames.length ? `\n${frames.map((f) => `    ${f}`).join("\n")}` : "";
}

/**
 * An Erlang stack trace as lines: `fn (file:line)` for JavaScript frames,
 * `lists:nth/2 (lists.erl:170)` and `KV.Bucket.get/2 (lib/kv.ex:9)` for
 * the BEAM's.
 */
function stackFrames(stack: unknown): string[] {
  if (!Array.isArray(stack)) return [];
  return stack.slice(0, 20).map((f) => {
    if (!(f instanceof Tuple) || f.length < 3) return formatTerm(f);
    const [m, fn, a] = f;
    const arity = Array.isArray(a) ? a.length : a;
    const loc = f[3];
    let file: unknown, line: unknown;
    if (Array.isArray(loc)) {
      for (const x of loc) {
        if (x instanceof Tuple && x[0] === Atom.of("file")) file = x[1];
        if (x instanceof Tuple && x[0] === Atom.of("line")) line = x[1];
      }
    }
    const where = file === undefined
      ? ""
      : ` (${formatChars(file)}${line === undefined ? "" : `:${line}`})`;
    const mod = String(m);
    if (mod === "js") return `${String(fn)}${where}`;
    const fun = mod.startsWith("Elixir.")
      ? `${mod.slice(7)}.${String(fn)}/${arity}`
      : `${mod}:${String(fn)}/${arity}`;
    return `${fun}${where}`;
  });
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
