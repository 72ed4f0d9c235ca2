/**
 * The generic server loop behind `GenServer`: it takes messages — calls,
 * casts, system messages (`sys`), timeouts, anything else — one at a time
 * and applies the callbacks' results. Internal.
 *
 * While it is idle the server is a handler process: a message that
 * arrives is handled at once, in the sender's turn of the event loop,
 * with no promise in between (a local call costs one round of the
 * caller's await). While a callback runs — and for as long as an async
 * callback is pending — messages wait in the mailbox, where a callback's
 * own `receive` can find them; they are taken in order once it is done.
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { processContext } from "../node/_context.ts";
import { ExitError } from "../node/errors.ts";
import { formatTerm } from "../node/format.ts";
import type { Node } from "../node/node.ts";
import { errorReason } from "../node/_reason.ts";
import { EMPTY, type Process } from "../node/process.ts";
import { errorText, reportCrash } from "../node/_crash_report.ts";
import { Atom, ExportFun, Fun, Pid, Tuple, tuple } from "../node/terms.ts";
import type { From, GenServerImpl } from "./gen_server.ts";

/** Atoms of the generic server protocols. @internal */
export const G = {
  gen_call: Atom.of("$gen_call"),
  gen_cast: Atom.of("$gen_cast"),
  system: Atom.of("system"),
  EXIT: Atom.of("EXIT"),
  ok: Atom.of("ok"),
  error: Atom.of("error"),
  normal: Atom.of("normal"),
  shutdown: Atom.of("shutdown"),
  timeout: Atom.of("timeout"),
  get_state: Atom.of("get_state"),
  replace_state: Atom.of("replace_state"),
  suspend: Atom.of("suspend"),
  resume: Atom.of("resume"),
  get_status: Atom.of("get_status"),
  terminate: Atom.of("terminate"),
  debug: Atom.of("debug"),
  no_debug: Atom.of("no_debug"),
  log: Atom.of("log"),
  get: Atom.of("get"),
  status: Atom.of("status"),
  module: Atom.of("module"),
  gen_server: Atom.of("gen_server"),
  running: Atom.of("running"),
  suspended: Atom.of("suspended"),
  header: Atom.of("header"),
  data: Atom.of("data"),
  unknown_system_msg: Atom.of("unknown_system_msg"),
  callback_failed: Atom.of("callback_failed"),
  bad_return_value: Atom.of("bad_return_value"),
  bad_call: Atom.of("bad_call"),
  bad_cast: Atom.of("bad_cast"),
  alias: Atom.of("alias"),
  throw: Atom.of("throw"),
  exit: Atom.of("exit"),
  erlang: Atom.of("erlang"),
  apply: Atom.of("apply"),
  initial_call: Atom.of("$initial_call"),
  ancestors: Atom.of("$ancestors"),
} as const;

/** What {@linkcode Server.callDirect} gives when the reply is not there yet. */
export const NO_REPLY: unique symbol = Symbol("no reply yet");

/** The servers of this OS process, by their process. @internal */
export const servers: WeakMap<Process, Server<unknown>> = new WeakMap();

/** The servers serving a call directly, innermost last. */
const direct: Server<unknown>[] = [];

/** `lastMessage` of a call served directly (see `lastRequest`). */
const DIRECT_CALL: unique symbol = Symbol("direct call");

/** Ends a pump. */
const STOP: unique symbol = Symbol("stop the pump");

/** The message a `timeout` result sends itself when nothing came. */
const TIMEOUT: unique symbol = Symbol("gen_server timeout");

/** Whether an exit reason is a normal stop (no crash report). @internal */
export function isNormalReason(reason: unknown): boolean {
  return reason === G.normal || reason === G.shutdown ||
    (reason instanceof Tuple && reason.length === 2 &&
      reason[0] === G.shutdown);
}

const isTuple = (m: unknown, tag: Atom, size: number): m is Tuple =>
  m instanceof Tuple && m.length === size && m[0] === tag;

const isObject = (r: unknown): r is Record<string, unknown> =>
  typeof r === "object" && r !== null;

function charlist(s: string): number[] {
  return Array.from(s, (c) => c.codePointAt(0)!);
}

function termText(x: unknown): string {
  try {
    const t = formatTerm(x);
    return t.length > 2000 ? `${t.slice(0, 2000)}…` : t;
  } catch {
    return String(x);
  }
}

type Step = void | Promise<void>;

/**
 * How callbacks get the server's process context. With promise hooks
 * (Node 20/22) entering a context costs nothing: an idle server handles a
 * message at once, in the sender's turn, under `processContext.run`. With
 * AsyncLocalStorage (Deno, Node ≥ 24) entering one costs ~1 µs, but
 * continuing an await does not: there the server is a pump — an async loop
 * in its own context that each message wakes.
 */
const PUMP = processContext instanceof AsyncLocalStorage;

/** A call handed to a pump by {@linkcode Server.callDirect}. */
class DirectItem {
  constructor(
    readonly request: unknown,
    readonly from: Tuple,
    readonly resolve: (reply: unknown) => void,
  ) {}
}

/** One running generic server. @internal */
export class Server<S> {
  state!: S;
  /** What the process is doing: idle (a handler), busy, suspended, stopping. */
  private mode: "init" | "idle" | "busy" | "suspended" | "stopping" = "init";
  private readonly onMessage = (m: unknown): void =>
    PUMP ? this.wakeWith(m) : this.enter(m);
  /** A pump's wake-up, while it waits for a message. */
  private wake: ((m: unknown) => void) | undefined;
  /** What came while the pump was not waiting (it should always be). */
  private early: unknown[] | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** The `timeout` of the last result, armed once the mailbox is empty. */
  private timeoutMs: number | undefined;
  private lastMessage: unknown;
  /** A call served directly: its request and from (no message was made). */
  private lastRequest: unknown;
  private lastFrom: unknown;
  private finish: ((e: ExitError) => void) | undefined;
  /** Replies a `{ stop, reply }` result sends once `terminate` has run. */
  private pendingReply: { from: unknown; value: unknown } | undefined;
  /** The `from` of the call being served directly, and its reply once made. */
  private directFrom: unknown;
  private directReply: unknown = NO_REPLY;

  constructor(
    readonly node: Node,
    readonly proc: Process,
    readonly impl: GenServerImpl<S>,
    readonly module: Atom,
    readonly parent: Pid | undefined,
  ) {
    servers.set(proc, this as Server<unknown>);
    proc.exited.then((reason) => {
      // Ended from outside (an exit signal, the node stopping).
      this.mode = "stopping";
      this.cancelTimer();
      this.wake?.(STOP);
      this.finish?.(new ExitError(reason));
    });
  }

  /** The server's name for reports: its registered name, else its pid. */
  private get label(): string {
    return this.proc.registeredName ?? String(this.proc.pid);
  }

  /**
   * Runs after a successful `init`: applies its extras, then serves until
   * the server stops. Resolves never; rejects with the exit.
   */
  serve(extras: Record<string, unknown>): Promise<never> {
    const done = new Promise<never>((_, reject) => (this.finish = reject));
    this.mode = "busy";
    if (PUMP) this.pump();
    const r = this.extras(extras);
    if (r !== undefined) {
      r.then(() => this.next()).catch((e) => this.fail(e));
    } else this.next();
    return done;
  }

  /** The pump: runs in the server's context, woken by each message. */
  private async pump(): Promise<void> {
    for (;;) {
      const m = this.early?.length
        ? this.early.shift()
        : await new Promise<unknown>((r) => (this.wake = r));
      if (m === STOP || this.mode === "stopping" || !this.proc.alive) {
        // A call handed over meanwhile gets no reply from here: its caller
        // waits for the server's DOWN.
        if (m instanceof DirectItem) m.resolve(NO_REPLY);
        for (const e of this.early?.splice(0) ?? []) {
          if (e instanceof DirectItem) e.resolve(NO_REPLY);
        }
        return;
      }
      try {
        if (m instanceof DirectItem) {
          m.resolve(this.serveDirect(m.request, m.from));
        } else {
          this.timeoutMs = undefined;
          this.drive(this.handle(m));
        }
      } catch (e) {
        this.fail(e);
      }
    }
  }

  /** Wakes the pump with `m`: the server is busy from now. */
  private wakeWith(m: unknown): void {
    this.cancelTimer();
    this.proc.handler = undefined;
    this.mode = "busy";
    const wake = this.wake;
    if (wake !== undefined) {
      this.wake = undefined;
      wake(m);
    } else (this.early ??= []).push(m);
  }

  // ------------------------------------------------------------ the loop

  /** Whether the server waits for a message (it can serve a call at once). */
  get isIdle(): boolean {
    return this.mode === "idle";
  }

  /**
   * Serves a call from a process of this node at once, as if its message
   * had just arrived (the server must be {@linkcode Server.isIdle}): returns
   * the reply, or {@linkcode NO_REPLY} when the server replies later (or
   * not at all); that reply then comes as a message to `from`'s tag.
   */
  callDirect(request: unknown, from: Tuple): unknown {
    if (PUMP) {
      return new Promise((resolve) =>
        this.wakeWith(new DirectItem(request, from, resolve))
      );
    }
    this.cancelTimer();
    this.proc.handler = undefined;
    this.mode = "busy";
    return this.serveDirect(request, from);
  }

  /** The call's reply, or {@linkcode NO_REPLY} (it comes to `from` later). */
  private serveDirect(request: unknown, from: Tuple): unknown {
    this.proc.reductions++;
    this.timeoutMs = undefined;
    this.lastMessage = DIRECT_CALL;
    this.lastRequest = request;
    this.lastFrom = from;
    this.directFrom = from;
    this.directReply = NO_REPLY;
    direct.push(this as Server<unknown>);
    try {
      this.drive(this.callback("call", request, from));
    } finally {
      direct.pop();
      this.directFrom = undefined;
    }
    const r = this.directReply;
    this.directReply = NO_REPLY;
    return r;
  }

  /** Sends a call's reply (kept, when the call is served directly). */
  private replyTo(from: unknown, value: unknown): void {
    if (from === this.directFrom && this.directFrom !== undefined) {
      this.directReply = value;
    } else this.node.replyFrom(this.proc, from, value);
  }

  /** Keeps `value` as the reply if `from` is a call being served directly. @internal */
  static captureReply(from: unknown, value: unknown): boolean {
    for (let i = direct.length - 1; i >= 0; i--) {
      const s = direct[i];
      if (s.directFrom === from) {
        s.directReply = value;
        return true;
      }
    }
    return false;
  }

  /** A message came while idle. */
  private enter(m: unknown): void {
    this.cancelTimer();
    this.proc.handler = undefined;
    this.mode = "busy";
    this.timeoutMs = undefined;
    this.drive(this.handle(m));
  }

  /**
   * Goes on after a message was handled (`r`): once an async callback is
   * done, or at once, with the mailbox's messages in order, then idles.
   */
  private drive(first: Step): void {
    let r = first;
    for (;;) {
      if (r !== undefined) {
        r.then(() => this.next()).catch((e) => this.fail(e));
        return;
      }
      if (this.mode !== "busy") {
        if (this.mode === "suspended") this.suspendedLoop();
        return;
      }
      if (this.proc.suspended !== undefined) {
        // It sent on a busy connection: the next message waits for the drain.
        this.proc.suspended.then(() => this.next()).catch((e) => this.fail(e));
        return;
      }
      const m = this.proc.takeFirst();
      if (m === EMPTY) break;
      this.timeoutMs = undefined;
      r = this.handle(m);
    }
    this.idle();
  }

  /** Takes the next message from the mailbox, or goes idle. */
  private next(): void {
    if (this.mode === "suspended") {
      this.suspendedLoop();
      return;
    }
    if (this.mode !== "busy") return;
    this.drive(undefined);
  }

  private idle(): void {
    if (!this.proc.alive) return;
    this.mode = "idle";
    this.proc.handler = this.onMessage;
    const ms = this.timeoutMs;
    if (ms !== undefined && ms !== Infinity) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        if (this.mode === "idle") this.onMessage(TIMEOUT);
      }, ms);
    }
  }

  private cancelTimer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  /** Suspended by `sys:suspend`: only system messages, until `resume`. */
  private async suspendedLoop(): Promise<void> {
    while (this.mode === "suspended" && this.proc.alive) {
      let m: unknown;
      try {
        m = await this.proc.receive((m) => isTuple(m, G.system, 3));
      } catch {
        return; // the process ended
      }
      await this.handle(m);
    }
    this.next();
  }

  // ------------------------------------------------------------ messages

  /** Handles one message; a promise while an async callback runs. */
  private handle(m: unknown): Step {
    if (m === TIMEOUT) {
      return this.callback("info", G.timeout, undefined);
    }
    this.lastMessage = m;
    if (m instanceof Tuple) {
      if (m.length === 3 && m[0] === G.gen_call) {
        if (!isFrom(m[1])) return this.malformed(m);
        return this.callback("call", m[2], m[1]);
      }
      if (m.length === 2 && m[0] === G.gen_cast) {
        return this.callback("cast", m[1], undefined);
      }
      if (m.length === 3 && m[0] === G.system) {
        if (!isFrom(m[1])) return this.malformed(m);
        return this.system(m[1], m[2]);
      }
      if (
        m.length === 3 && m[0] === G.EXIT && this.parent !== undefined &&
        this.parent.equals(m[1]) && this.proc.trapExit
      ) {
        // The parent (the supervisor) went away: stop as it did.
        return this.stop(m[2], undefined);
      }
    }
    return this.callback("info", m, undefined);
  }

  /** A call or system message without a `{Pid, Tag}` to answer: dropped. */
  private malformed(m: Tuple): void {
    this.node.logger.warning(
      `GenServer ${this.label} dropped a ${
        String(m[0])
      } message whose sender is not {Pid, Tag}: ${termText(m)}`,
    );
  }

  /** Runs a callback and applies its result. */
  private callback(
    kind: "call" | "cast" | "info" | "continue",
    arg: unknown,
    from: unknown,
  ): Step {
    let r: unknown;
    try {
      r = PUMP
        ? this.invoke(kind, arg, from)
        : processContext.run(this.proc, () => this.invoke(kind, arg, from));
    } catch (e) {
      return this.crash(e);
    }
    if (r instanceof Promise) {
      return r.then(
        (v) => this.apply(kind, v, from),
        (e) => this.crash(e),
      );
    }
    return this.apply(kind, r, from);
  }

  private invoke(
    kind: "call" | "cast" | "info" | "continue",
    arg: unknown,
    from: unknown,
  ): unknown {
    const impl = this.impl;
    switch (kind) {
      case "call":
        if (impl.handleCall === undefined) {
          throw new Error(
            `attempted to call GenServer ${this.label} but no handleCall was provided (request: ${
              termText(arg)
            })`,
          );
        }
        return impl.handleCall(arg, from as From, this.state);
      case "cast":
        if (impl.handleCast === undefined) {
          throw new Error(
            `attempted to cast GenServer ${this.label} but no handleCast was provided (request: ${
              termText(arg)
            })`,
          );
        }
        return impl.handleCast(arg, this.state);
      case "info":
        if (impl.handleInfo === undefined) {
          this.node.logger.error(
            `${this.module.name} ${this.proc.pid} received unexpected message in handleInfo: ${
              termText(arg)
            }`,
          );
          return { noreply: true, state: this.state };
        }
        return impl.handleInfo(arg, this.state);
      case "continue":
        if (impl.handleContinue === undefined) {
          throw new Error(
            `GenServer ${this.label} returned continue but no handleContinue was provided`,
          );
        }
        return impl.handleContinue(arg, this.state);
    }
  }

  /** Applies a callback's result: reply, new state, extras, or stop. */
  private apply(
    kind: "call" | "cast" | "info" | "continue",
    r: unknown,
    from: unknown,
  ): Step {
    if (this.mode === "stopping") return;
    if (!isObject(r)) return this.badReturn(r, kind);
    if ("stop" in r) {
      if ("state" in r) this.state = r.state as S;
      return this.stop(
        r.stop,
        kind === "call" && "reply" in r ? { from, value: r.reply } : undefined,
      );
    }
    if (kind === "call" && "reply" in r) {
      if (!("state" in r)) return this.badReturn(r, kind);
      this.state = r.state as S;
      this.replyTo(from, r.reply);
      return this.extras(r);
    }
    if ("noreply" in r) {
      if (!("state" in r)) return this.badReturn(r, kind);
      this.state = r.state as S;
      return this.extras(r);
    }
    return this.badReturn(r, kind);
  }

  /** `continue`, `timeout`, `hibernate` of a result. */
  private extras(r: Record<string, unknown>): Step {
    if (r.timeout !== undefined) {
      const t = r.timeout;
      if (typeof t !== "number" || !(t >= 0)) {
        return this.badReturn(r, "timeout");
      }
      this.timeoutMs = t;
    }
    if (r.continue !== undefined) {
      return this.callback("continue", r.continue, undefined);
    }
  }

  private badReturn(r: unknown, kind: string): Step {
    const what = kind === "call"
      ? "{ reply, state }, { noreply: true, state } or { stop, state }"
      : "{ noreply: true, state } or { stop, state }";
    return this.crash(
      new Error(
        `GenServer ${this.label}: bad return value from ${
          kind === "timeout"
            ? "a callback (timeout must be a number ≥ 0)"
            : `handle${kind[0].toUpperCase()}${kind.slice(1)}`
        }: ${termText(r)}; expected ${what}`,
      ),
    );
  }

  // ------------------------------------------------------------ stopping

  /** The loop itself failed (a bug, or a hostile value): stop with it. */
  private fail(e: unknown): void {
    if (this.mode === "stopping") return;
    const r = this.crash(e);
    if (r !== undefined) r.catch(() => {});
  }

  /** A callback threw: terminate with its error as the reason. */
  private crash(e: unknown): Step {
    return this.stop(errorReason(e), undefined, e);
  }

  /**
   * Stops: runs `terminate`, sends a pending reply, reports an abnormal
   * stop, and ends the process with `reason`.
   */
  stop(
    reason: unknown,
    reply: { from: unknown; value: unknown } | undefined,
    error?: unknown,
  ): Step {
    if (this.mode === "stopping") return;
    this.mode = "stopping";
    this.cancelTimer();
    this.proc.handler = undefined;
    this.pendingReply = reply;
    const impl = this.impl;
    if (impl.terminate === undefined) return this.end(reason, error);
    let r: unknown;
    try {
      r = PUMP ? impl.terminate(reason, this.state) : processContext.run(
        this.proc,
        () => impl.terminate!(reason, this.state),
      );
    } catch (e) {
      return this.end(errorReason(e), e);
    }
    if (r instanceof Promise) {
      return r.then(
        () => this.end(reason, error),
        (e) => this.end(errorReason(e), e),
      );
    }
    return this.end(reason, error);
  }

  private end(reason: unknown, error: unknown): void {
    if (this.pendingReply !== undefined && this.proc.alive) {
      this.replyTo(this.pendingReply.from, this.pendingReply.value);
    }
    if (!isNormalReason(reason) && this.proc.alive) {
      this.report(reason, error);
    }
    this.wake?.(STOP);
    this.finish?.(new ExitError(reason));
  }

  /** The crash report, as Elixir's GenServer writes it. */
  private report(reason: unknown, error: unknown): void {
    const p = this.proc;
    reportCrash(this.node, p, reason, error, () => {
      const lines = [
        `GenServer ${this.label} (${this.module.name}) terminating on node ${this.node.name}`,
        errorText(error, reason),
      ];
      const m = this.lastMessage === DIRECT_CALL
        ? tuple(G.gen_call, this.lastFrom, this.lastRequest)
        : this.lastMessage;
      if (m !== undefined) {
        if (isTuple(m, G.gen_call, 3)) {
          const from = m[1];
          const client = from instanceof Tuple ? from[0] : undefined;
          lines.push(
            `Last message${client ? ` (from ${client})` : ""}: ${
              termText(m[2])
            }`,
          );
        } else if (isTuple(m, G.gen_cast, 2)) {
          lines.push(`Last message: {'$gen_cast', ${termText(m[1])}}`);
        } else lines.push(`Last message: ${termText(m)}`);
      }
      lines.push(`State: ${termText(this.state)}`);
      return lines.join("\n");
    });
  }

  // ------------------------------------------------------------ sys

  private sysReply(from: unknown, value: unknown): void {
    this.node.replyFrom(this.proc, from, value);
  }

  /** A `{system, From, Request}` message, as `sys` sends them. */
  private system(from: unknown, req: unknown): Step {
    if (req === G.get_state) {
      const send = (ok: boolean) =>
        this.sysReply(from, ok ? tuple(G.ok, this.state) : this.state);
      const ok = okStyle(this.node, this.proc, from);
      return ok instanceof Promise ? ok.then(send) : send(ok);
    }
    if (req === G.suspend) {
      this.mode = "suspended";
      return this.sysReply(from, G.ok);
    }
    if (req === G.resume) {
      if (this.mode === "suspended") this.mode = "busy";
      return this.sysReply(from, G.ok);
    }
    if (req === G.get_status) return this.sysReply(from, this.status());
    if (isTuple(req, G.terminate, 2)) {
      this.sysReply(from, G.ok);
      return this.stop(req[1], undefined);
    }
    if (isTuple(req, G.replace_state, 2)) {
      return this.replaceState(from, req[1]);
    }
    if (isTuple(req, G.debug, 2)) {
      if (req[1] === G.no_debug) return this.sysReply(from, G.ok);
      if (isTuple(req[1], G.log, 2) && req[1][1] === G.get) {
        return this.sysReply(from, tuple(G.ok, []));
      }
    }
    this.sysReply(from, tuple(G.error, tuple(G.unknown_system_msg, req)));
  }

  /** `{status, Pid, {module, gen_server}, [PDict, SysState, Parent, Debug, Misc]}`. */
  private status(): unknown {
    const p = this.proc;
    const dict = p.dictionary === undefined
      ? []
      : [...p.dictionary].map(([k, v]) => tuple(k, v));
    const header = `Status for generic server ${
      p.registeredName ?? formatTerm(p.pid, { localNode: this.node.name })
    }`;
    const sysState = this.mode === "suspended" ? G.suspended : G.running;
    const parent = this.parent ?? p.pid;
    return tuple(G.status, p.pid, tuple(G.module, G.gen_server), [
      dict,
      sysState,
      parent,
      [],
      [
        tuple(G.header, charlist(header)),
        tuple(G.data, [
          tuple(charlist("Status"), sysState),
          tuple(charlist("Parent"), parent),
          tuple(charlist("Logged events"), []),
        ]),
        tuple(G.data, [tuple(charlist("State"), this.state)]),
      ],
    ]);
  }

  /**
   * `sys:replace_state(Server, Fun)`: a JavaScript function runs here; a
   * `fun M:F/1` runs here when this node defines `M.F`; anything else — an
   * Elixir or Erlang closure — runs on the node it came from, by rpc
   * (`erlang:apply(Fun, [State])`), since its code lives there.
   */
  private replaceState(from: unknown, fun: unknown): Step {
    const failed = (cls: Atom, why: unknown) =>
      this.sysReply(
        from,
        tuple(
          G.error,
          tuple(G.callback_failed, fun, tuple(cls, why)),
        ),
      );
    const done = (v: unknown): Step => {
      this.state = v as S;
      const send = (ok: boolean) =>
        this.sysReply(from, ok ? tuple(G.ok, v) : v);
      const ok = okStyle(this.node, this.proc, from);
      return ok instanceof Promise ? ok.then(send) : send(ok);
    };
    const local = typeof fun === "function"
      ? fun as (s: S) => unknown
      : fun instanceof ExportFun && fun.arity === 1
      ? this.node.functionOf(fun.module.name, fun.function.name)
      : undefined;
    if (local !== undefined) {
      let v: unknown;
      try {
        v = PUMP
          ? local(this.state)
          : processContext.run(this.proc, () => local(this.state));
      } catch (e) {
        return failed(G.error, errorReason(e));
      }
      if (v instanceof Promise) {
        return v.then(done, (e) => failed(G.error, errorReason(e)));
      }
      return done(v);
    }
    const home = fun instanceof Fun
      ? fun.pid.node
      : fun instanceof ExportFun
      ? (from instanceof Tuple && from[0] instanceof Pid
        ? from[0].node
        : undefined)
      : undefined;
    if (home === undefined || home === this.node.name) {
      return failed(
        G.error,
        fun instanceof ExportFun
          ? tuple(Atom.of("undef"), [
            tuple(fun.module, fun.function, [this.state], []),
          ])
          : Atom.of("badfun"),
      );
    }
    return this.node.callFrom(
      this.proc,
      home,
      "erlang",
      "apply",
      [fun, [this.state]],
      30_000,
    ).then(done, (e) => failed(G.error, errorReason(e)));
  }
}

/** Per node: which peers' `sys` wants `{ok, State}` (see {@linkcode okStyle}). */
const sysStyles = new WeakMap<Node, Map<string, boolean | Promise<boolean>>>();

/**
 * Whether the `sys` of the node `from` calls from expects `{ok, State}`
 * from `get_state` and `replace_state` — OTP 26.1 and later (stdlib 5.1+)
 * do, earlier ones take the bare state. Asked once per peer connection
 * (`application:get_key(stdlib, vsn)` over rpc); callers on this node get
 * `{ok, State}`.
 */
function okStyle(
  node: Node,
  proc: Process,
  from: unknown,
): boolean | Promise<boolean> {
  const peer = from instanceof Tuple && from[0] instanceof Pid
    ? from[0].node
    : node.name;
  if (peer === node.name) return true;
  let styles = sysStyles.get(node);
  if (styles === undefined) {
    const m = styles = new Map();
    sysStyles.set(node, m);
    node.on("nodedown", (n: string) => m.delete(n));
  }
  const known = styles.get(peer);
  if (known !== undefined) return known;
  const m = styles;
  const asking = node.callFrom(proc, peer, "application", "get_key", [
    Atom.of("stdlib"),
    Atom.of("vsn"),
  ], 5000).then((r) => {
    const vsn = r instanceof Tuple && r[0] === G.ok ? charText(r[1]) : "";
    const [major, minor] = vsn.split(".").map(Number);
    const ok = major > 5 || (major === 5 && minor >= 1);
    m.set(peer, ok);
    return ok;
  }, () => {
    m.delete(peer);
    return false;
  });
  m.set(peer, asking);
  return asking;
}

function charText(x: unknown): string {
  if (typeof x === "string") return x;
  return Array.isArray(x) ? String.fromCodePoint(...(x as number[])) : "";
}

/** Whether `from` is the `{Pid, Tag}` a call carries. @internal */
export function isFrom(from: unknown): from is From {
  return from instanceof Tuple && from.length === 2 && from[0] instanceof Pid;
}
