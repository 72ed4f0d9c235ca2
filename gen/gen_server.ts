/**
 * `GenServer`, as Elixir's: a process that keeps a state and answers calls
 * (`handleCall`), casts (`handleCast`) and other messages (`handleInfo`)
 * one at a time through callbacks that return what to do next — typed
 * objects instead of Elixir's tuples:
 *
 * | Elixir                               | noderl                                   |
 * | ------------------------------------ | ---------------------------------------- |
 * | `{:ok, state}`                       | `{ ok: true, state }`                    |
 * | `:ignore` / `{:stop, reason}` (init) | `{ ignore: true }` / `{ stop: reason }`  |
 * | `{:reply, reply, state}`             | `{ reply, state }`                       |
 * | `{:noreply, state}`                  | `{ noreply: true, state }`               |
 * | `{:stop, reason, reply, state}`      | `{ stop: reason, reply, state }`         |
 * | `{:stop, reason, state}`             | `{ stop: reason, state }`                |
 * | 4th element `{:continue, arg}`       | `continue: arg` (then `handleContinue`)  |
 * | 4th element `timeout`                | `timeout: ms` (then `handleInfo(:timeout)`) |
 * | 4th element `:hibernate`             | `hibernate: true` (accepted; no effect)  |
 *
 * It speaks OTP's protocols, so it is a GenServer to the BEAM too:
 * Elixir's `GenServer.call/cast` reach it (by pid, name or `{name, node}`),
 * `:sys.get_state/1`, `:sys.replace_state/2`, `:sys.suspend/1`,
 * `:sys.resume/1`, `:sys.get_status/1` and `GenServer.stop/3` work on it,
 * and `GenServer.call` here calls Elixir servers alike. It runs under
 * `Supervisor` through {@linkcode GenServer.childSpec}.
 *
 * @example
 * ```ts
 * import { startRegistry } from "../node/registry.ts";
 * import { startNode } from "../node/node.ts";
 * import { atom } from "../node/terms.ts";
 * import { GenServer, type GenServerImpl } from "./gen_server.ts";
 * import assert from "node:assert/strict";
 *
 * // The Stack of Elixir's GenServer guide.
 * const Stack: GenServerImpl<string[], string> = {
 *   module: "Elixir.Stack",
 *   init: (elements) => ({ ok: true, state: elements.split(",") }),
 *   handleCall: (request, _from, [head, ...tail]) =>
 *     request === atom("pop") ? { reply: head, state: tail } : { reply: atom("error"), state: [head, ...tail] },
 *   handleCast: (request, state) => ({ noreply: true, state: [request as string, ...state] }),
 * };
 *
 * const registry = await startRegistry({ port: 0 });
 * const node = await startNode({ name: "stack@localhost", cookie: "c", registryPort: registry.port });
 * const pid = await GenServer.start(node, Stack, "hello,world", { name: "Elixir.Stack" });
 * assert.equal(await GenServer.call(pid, atom("pop")), "hello");
 * GenServer.cast("Elixir.Stack", "elixir");
 * assert.equal(await GenServer.call("Elixir.Stack", atom("pop")), "elixir");
 * await GenServer.stop(pid);
 * await assert.rejects(GenServer.call(pid, atom("pop")), /no process/);
 * await node.stop();
 * await registry.close();
 * ```
 *
 * @module
 */
import { processContext } from "../node/_context.ts";
import { ExitError, NoConnectionError, TimeoutError } from "../node/errors.ts";
import { formatTerm } from "../node/format.ts";
import type { Node } from "../node/node.ts";
import { errorReason } from "../node/_reason.ts";
import type { Process } from "../node/process.ts";
import { currentNode } from "../node/process_api.ts";
import {
  Atom,
  ImproperList,
  Pid,
  type Ref,
  Tuple,
  tuple,
} from "../node/terms.ts";
import { errorText, reportCrash } from "../node/_crash_report.ts";
import type { ChildSpec, Restart, Shutdown } from "../task/mod.ts";
import { GenServerCallError, GenServerStartError } from "./errors.ts";
import {
  globalName,
  globalRegistry,
  resolveServer,
  type ServerRef,
  serverTerm,
} from "./_names.ts";
import { G, isNormalReason, NO_REPLY, Server, servers } from "./_server.ts";

export type { ServerRef };

/** The `{Pid, Tag}` a call came with: answer it with {@linkcode GenServer.reply}. */
export type From = Tuple;

/** What may follow a result: Elixir's 4th element. */
export interface ResultExtras {
  /** Call `handleContinue(continue, state)` before the next message. */
  continue?: unknown;
  /** Call `handleInfo(atom("timeout"), state)` if no message comes within this many ms. */
  timeout?: number;
  /** Accepted for Elixir's sake; JavaScript has nothing to hibernate. */
  hibernate?: boolean;
}

/** What `init` returns. */
export type InitResult<S> =
  | ({ ok: true; state: S } & ResultExtras)
  | { ignore: true }
  | { stop: unknown };

/** What `handleCall` returns. */
export type CallResult<S, R = unknown> =
  | ({ reply: R; state: S; noreply?: never; stop?: never } & ResultExtras)
  | ({ noreply: true; state: S; reply?: never; stop?: never } & ResultExtras)
  | { stop: unknown; reply?: R; state: S; noreply?: never };

/** What `handleCast`, `handleInfo` and `handleContinue` return. */
export type NoReplyResult<S> =
  | ({ noreply: true; state: S; stop?: never } & ResultExtras)
  | { stop: unknown; state: S; noreply?: never };

/** A value or a promise of it: every callback may be async. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * A server's callbacks (Elixir's `use GenServer` module). Only `init` is
 * required; without `handleCall`/`handleCast` a call/cast crashes the
 * server (as Elixir's defaults do), without `handleInfo` other messages
 * are logged and dropped.
 */
export interface GenServerImpl<S, A = unknown> {
  /**
   * The module name reported for this server (`$initial_call`, crash
   * reports, `which_children`), e.g. `"Elixir.Stack"`.
   * @default "GenServer"
   */
  module?: string;
  /** Makes the initial state from the start argument. */
  init(arg: A): MaybePromise<InitResult<S>>;
  /** A `call`: reply now (`{ reply, state }`) or later with {@linkcode GenServer.reply}. */
  handleCall?(
    request: unknown,
    from: From,
    state: S,
  ): MaybePromise<CallResult<S>>;
  /** A `cast`. */
  handleCast?(request: unknown, state: S): MaybePromise<NoReplyResult<S>>;
  /** Any other message (including `atom("timeout")` after a `timeout`). */
  handleInfo?(message: unknown, state: S): MaybePromise<NoReplyResult<S>>;
  /** Runs after a result that said `continue`. */
  handleContinue?(arg: unknown, state: S): MaybePromise<NoReplyResult<S>>;
  /** Runs when the server stops (not when it is killed by an exit signal). */
  terminate?(reason: unknown, state: S): unknown;
}

/** Options of {@linkcode GenServer.start} and {@linkcode GenServer.startLink}. */
export interface StartOptions {
  /**
   * Registers the server: a local name (exact atom text, e.g.
   * `"Elixir.Stack"`) or `tuple(atom("global"), name)`.
   */
  name?: string | Atom | Tuple;
  /**
   * Give up (killing the server) if `init` takes longer than this, in ms.
   * @default Infinity
   */
  timeout?: number;
}

/** Options of {@linkcode GenServer.childSpec}. */
export interface GenServerChildOptions extends StartOptions {
  /** The child id. @default the name, else the module */
  id?: string;
  /**
   * When the supervisor restarts it.
   * @default "permanent"
   */
  restart?: Restart;
  /**
   * How long the supervisor waits for it to stop, in ms.
   * @default 5000
   */
  shutdown?: Shutdown;
}

const INFINITY = Atom.of("infinity");

/** A timeout as Elixir's exits show it: ms, or `infinity`. */
function timeoutTerm(t: number): unknown {
  return t === Infinity ? INFINITY : t;
}

function checkTimeout(what: string, t: unknown): number {
  if (t === Infinity || t === "infinity" || t === INFINITY) return Infinity;
  if (typeof t !== "number" || !(t >= 0) || t > 0xffffffff) {
    throw new RangeError(
      `${what}: the timeout must be a number of ms from 0 to 4294967295, or Infinity; got ${
        String(t)
      }`,
    );
  }
  return t;
}

/** Why a call failed, as Elixir's exit reason. */
function callReasonOf(e: unknown, node: Node): unknown | undefined {
  if (e instanceof GenServerCallError) return e.callReason;
  if (e instanceof NoConnectionError) {
    return tuple(Atom.of("nodedown"), Atom.of(e.node));
  }
  if (e instanceof ExitError) {
    if (e.reason === Atom.of("noconnection")) {
      return tuple(Atom.of("nodedown"), Atom.of(node.name));
    }
    return e.reason;
  }
  if (e instanceof TimeoutError) return G.timeout;
  return undefined;
}

/**
 * Generic servers: {@linkcode GenServer.start}/{@linkcode GenServer.startLink}
 * one, then {@linkcode GenServer.call}, {@linkcode GenServer.cast} and
 * {@linkcode GenServer.stop} it — or any Elixir GenServer.
 */
export class GenServer {
  private constructor() {}

  /**
   * Starts a server on `node` (not linked to the caller) and resolves with
   * its pid once `init` has returned `{ ok: true, state }`. Rejects with a
   * {@linkcode GenServerStartError} when `init` throws or returns
   * `{ stop }` / `{ ignore }`, when the name is taken
   * (`{already_started, Pid}`) or `init` outlasts `options.timeout`.
   */
  static start<S, A>(
    node: Node,
    impl: GenServerImpl<S, A>,
    arg: A,
    options: StartOptions = {},
  ): Promise<Pid> {
    return start(node, impl, arg, options, false);
  }

  /**
   * As {@linkcode GenServer.start}, linked to the calling process (a
   * supervisor, when it starts its children). A failed start rejects and
   * does not take the caller down.
   */
  static startLink<S, A>(
    node: Node,
    impl: GenServerImpl<S, A>,
    arg: A,
    options: StartOptions = {},
  ): Promise<Pid> {
    return start(node, impl, arg, options, true);
  }

  /**
   * Calls `server` with `request` and resolves with its reply. Rejects
   * with a {@linkcode GenServerCallError} as Elixir's `GenServer.call`
   * exits: `noproc` (not running), `timeout` (no reply in `timeout` ms),
   * `{nodedown, Node}`, `calling_self`, or the server's exit reason if it
   * dies first.
   */
  static call(
    server: ServerRef,
    request: unknown,
    timeout: number = 5000,
  ): Promise<unknown> {
    const node = currentNode();
    const from = node.current();
    if (typeof timeout === "number" && timeout >= 0) {
      // An idle server of this node: served at once.
      const s = idleLocal(node, server);
      if (s !== undefined && s.proc !== from) {
        // The tag is an alias from the start: a reply made by any means —
        // also the node's reply() — during the callback reaches the caller.
        const tag = node.aliasFor(from);
        const reply = s.callDirect(
          request,
          tuple(from.pid, new ImproperList([G.alias], tag)),
        );
        const got = (r: unknown) => {
          if (r === NO_REPLY) {
            return awaitReply(node, from, s.proc.pid, tag, timeout).catch((
              e,
            ) => callFailed(e, node, server, request, timeout));
          }
          node.unalias(tag);
          return r;
        };
        if (reply instanceof Promise) return reply.then(got);
        return reply === NO_REPLY ? got(reply) as Promise<unknown> : (
          node.unalias(tag), Promise.resolve(reply)
        );
      }
    }
    let t: number;
    let dest: ReturnType<typeof resolveServer>;
    try {
      t = checkTimeout("GenServer.call", timeout);
      dest = resolveServer(node, server, "GenServer.call");
    } catch (e) {
      return Promise.reject(e);
    }
    const fail = (e: unknown): never => callFailed(e, node, server, request, t);
    if (dest instanceof Promise) {
      return dest.then((pid) =>
        pid === undefined
          ? fail(new ExitError(Atom.of("noproc")))
          : callPid(node, from, pid, request, t).catch(fail)
      );
    }
    if (dest === undefined) {
      return Promise.reject(
        new GenServerCallError(Atom.of("noproc"), "call", [
          serverTerm(server),
          request,
          timeoutTerm(t),
        ]),
      );
    }
    return callPid(node, from, dest, request, t).catch(fail);
  }

  /**
   * Sends `request` to `server` as a cast (`{'$gen_cast', request}`) and
   * returns at once, whether or not the server exists (as Elixir).
   */
  static cast(server: ServerRef, request: unknown): void {
    const node = currentNode();
    const from = node.current();
    const dest = resolveServer(node, server, "GenServer.cast");
    const msg = tuple(G.gen_cast, request);
    if (dest instanceof Promise) {
      dest.then((pid) => {
        if (pid !== undefined) node.sendFrom(from, pid, msg);
      }, () => {});
    } else if (dest !== undefined) node.sendFrom(from, dest, msg);
  }

  /**
   * Answers a call later: `from` is what `handleCall` got (return
   * `{ noreply: true, state }` there, keep `from`, reply from any process).
   */
  static reply(from: From, reply: unknown): void {
    if (Server.captureReply(from, reply)) return;
    const node = currentNode();
    node.replyFrom(node.current(), from, reply);
  }

  /**
   * Stops `server`: it runs `terminate(reason, state)` and exits with
   * `reason` (default `"normal"`; strings are atoms). Resolves once it is
   * down; rejects with a {@linkcode GenServerCallError} (`noproc`,
   * `timeout`, or the exit reason when it ended with another one).
   */
  static async stop(
    server: ServerRef,
    reason: unknown = "normal",
    timeout: number = Infinity,
  ): Promise<void> {
    const node = currentNode();
    const t = checkTimeout("GenServer.stop", timeout);
    const r = typeof reason === "string" ? Atom.of(reason) : reason;
    const args = [serverTerm(server), r, timeoutTerm(t)];
    let dest = resolveServer(node, server, "GenServer.stop");
    if (dest instanceof Promise) dest = await dest;
    if (dest === undefined) {
      throw new GenServerCallError(Atom.of("noproc"), "stop", args);
    }
    if (dest instanceof Pid && dest.equals(node.current().pid)) {
      throw new GenServerCallError(Atom.of("calling_self"), "stop", args);
    }
    let down: unknown;
    try {
      down = await node.genCallFrom(
        node.current(),
        Array.isArray(dest) ? [dest[0], dest[1]] as const : dest,
        tuple(G.terminate, r),
        t === Infinity ? undefined : t,
        { tag: G.system, untilDown: true },
      );
    } catch (e) {
      const why = callReasonOf(e, node);
      if (why === undefined) throw e;
      throw new GenServerCallError(why, "stop", args);
    }
    if (down !== r && !sameTerm(down, r)) {
      throw new GenServerCallError(down, "stop", args);
    }
  }

  /** The pid of `server` (a local or global name), or undefined (Elixir's `GenServer.whereis`). */
  static async whereis(server: ServerRef): Promise<Pid | undefined> {
    const node = currentNode();
    const dest = await resolveServer(node, server, "GenServer.whereis");
    if (dest === undefined || dest instanceof Pid) return dest;
    if (Array.isArray(dest)) {
      return String(dest[1]) === node.name
        ? node.whereis(String(dest[0]))
        : undefined;
    }
    return node.whereis(String(dest));
  }

  /**
   * A child spec for `Supervisor.start`: the server started with
   * `startLink(node, impl, arg, options)` by the supervisor.
   */
  static childSpec<S, A>(
    impl: GenServerImpl<S, A>,
    arg: A,
    options: GenServerChildOptions = {},
  ): ChildSpec {
    const { id, restart, shutdown, ...startOptions } = options;
    const module = impl.module ?? "GenServer";
    const name = startOptions.name;
    return {
      id: id ??
        (typeof name === "string" || name instanceof Atom
          ? String(name)
          : module),
      start: () => GenServer.startLink(currentNode(), impl, arg, startOptions),
      restart: restart ?? "permanent",
      shutdown: shutdown ?? 5000,
      type: "worker",
      modules: [module],
    };
  }
}

function sameTerm(a: unknown, b: unknown): boolean {
  try {
    return formatTerm(a) === formatTerm(b);
  } catch {
    return false;
  }
}

/** A call to a resolved destination, through the node's genCall. */
function callPid(
  node: Node,
  from: Process,
  dest: Pid | string | Atom | readonly [string | Atom, string | Atom],
  request: unknown,
  timeout: number,
): Promise<unknown> {
  if (dest instanceof Pid) {
    if (dest.equals(from.pid)) {
      return Promise.reject(
        new GenServerCallError(Atom.of("calling_self"), "call", []),
      );
    }
  } else if (!Array.isArray(dest) || String(dest[1]) === node.name) {
    const name = String(Array.isArray(dest) ? dest[0] : dest);
    const pid = node.whereis(name);
    if (pid === undefined) {
      return Promise.reject(new ExitError(Atom.of("noproc")));
    }
    if (pid.equals(from.pid)) {
      return Promise.reject(
        new GenServerCallError(Atom.of("calling_self"), "call", []),
      );
    }
    dest = pid;
  }
  return node.genCallFrom(from, dest, request, timeout);
}

/** The idle noderl server `server` names on this node, if any. */
function idleLocal(node: Node, server: ServerRef): Server<unknown> | undefined {
  let pid: Pid | undefined;
  if (server instanceof Pid) {
    if (server.node !== node.name) return undefined;
    pid = server;
  } else if (typeof server === "string" || server instanceof Atom) {
    pid = node.whereis(server);
  } else if (
    Array.isArray(server) && !(server instanceof Tuple) &&
    String(server[1]) === node.name
  ) {
    pid = node.whereis(String(server[0]));
  } else return undefined;
  if (pid === undefined) return undefined;
  const p = node.processOf(pid);
  if (p === undefined) return undefined;
  const s = servers.get(p);
  return s !== undefined && s.isIdle ? s : undefined;
}

/** A failed call as Elixir's exit (other errors as they are). */
function callFailed(
  e: unknown,
  node: Node,
  server: ServerRef,
  request: unknown,
  timeout: number,
): never {
  const why = callReasonOf(e, node);
  if (why === undefined) throw e;
  throw new GenServerCallError(why, "call", [
    serverTerm(server),
    request,
    timeoutTerm(timeout),
  ]);
}

const DOWN = Atom.of("DOWN");

/**
 * Waits for the reply to a call served directly that did not answer at
 * once (a `noreply`, an async callback, a stop): the reply comes to the
 * alias in its tag, or the server's DOWN, as `genCall` waits.
 */
async function awaitReply(
  node: Node,
  from: Process,
  pid: Pid,
  tag: Ref,
  timeout: number,
): Promise<unknown> {
  const mref = node.monitorFrom(from, pid);
  try {
    const m = await from.receive(
      (m) =>
        m instanceof Tuple && m.length >= 2 &&
        ((m[0] instanceof ImproperList && m[0].tail === tag) ||
          (m[0] === DOWN && m[1] === mref)),
      timeout,
    ) as Tuple;
    if (m[0] === DOWN) throw new ExitError(m[4], `call to ${pid}`);
    node.demonitorFrom(from, mref, true);
    return m[1];
  } catch (e) {
    if (e instanceof TimeoutError) node.demonitorFrom(from, mref, true);
    throw e;
  } finally {
    node.unalias(tag);
  }
}

function start<S, A>(
  node: Node,
  impl: GenServerImpl<S, A>,
  arg: A,
  options: StartOptions,
  link: boolean,
): Promise<Pid> {
  if (typeof impl?.init !== "function") {
    return Promise.reject(
      new TypeError(
        "a GenServer implementation is an object with at least init(arg)",
      ),
    );
  }
  let initTimeout: number;
  try {
    initTimeout = checkTimeout("GenServer.start", options.timeout ?? Infinity);
  } catch (e) {
    return Promise.reject(e);
  }
  const module = Atom.of(impl.module ?? "GenServer");
  const what = `GenServer.start of ${impl.module ?? "a GenServer"}`;
  const name = options.name;
  const global = globalName(name);
  let localName: string | undefined;
  if (name !== undefined && global === undefined) {
    if (typeof name !== "string" && !(name instanceof Atom)) {
      return Promise.reject(
        new TypeError(
          `${what}: name must be a string, an Atom or {global, name}, got ${
            String(name)
          }`,
        ),
      );
    }
    localName = String(name);
    const holder = node.whereis(localName);
    if (holder !== undefined) {
      return Promise.reject(
        new GenServerStartError(
          tuple(Atom.of("already_started"), holder),
          `${what}: the name ${localName} is taken by ${holder}`,
        ),
      );
    }
  }
  if (global !== undefined) {
    try {
      globalRegistry(what);
    } catch (e) {
      return Promise.reject(e);
    }
  }
  const caller = node.current();
  return new Promise<Pid>((resolve, reject) => {
    let settled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const fail = (reason: unknown, detail: string) => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      reject(new GenServerStartError(reason, `${what}: ${detail}`));
    };
    const proc: Process = node.spawnLocal(caller, async () => {
      if (global !== undefined) {
        const taken = await globalRegistry(what).whereis(node, global.name);
        const ok = taken === undefined &&
          await globalRegistry(what).register(node, global.name, proc.pid);
        if (!ok) {
          const holder = taken ?? await globalRegistry(what).whereis(
            node,
            global.name,
          );
          if (link) node.unlinkFrom(proc, caller.pid);
          fail(
            tuple(Atom.of("already_started"), holder ?? Atom.of("undefined")),
            `the global name ${formatTerm(global.name)} is taken`,
          );
          throw new ExitError(G.normal);
        }
      }
      const server = new Server<S>(
        node,
        proc,
        impl as GenServerImpl<S>,
        module,
        link ? caller.pid : undefined,
      );
      let r: unknown;
      try {
        r = await processContext.run(proc, () => impl.init(arg));
      } catch (e) {
        const reason = errorReason(e);
        initFailed(node, proc, module, reason, e);
        if (link) node.unlinkFrom(proc, caller.pid);
        fail(reason, `init failed: ${errorText(e, reason).split("\n")[0]}`);
        throw new ExitError(reason);
      }
      if (!proc.alive) return;
      const res = (typeof r === "object" && r !== null ? r : {}) as Record<
        string,
        unknown
      >;
      if (res.ok === true && "state" in res) {
        server.state = res.state as S;
        if (settled) {
          // The start timed out meanwhile: the caller has given up.
          throw new ExitError(G.timeout);
        }
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        resolve(proc.pid);
        await server.serve(res);
        return;
      }
      if (link) node.unlinkFrom(proc, caller.pid);
      if (res.ignore === true) {
        fail(Atom.of("ignore"), "init returned { ignore: true }");
        throw new ExitError(G.normal);
      }
      if ("stop" in res) {
        if (!isNormalReason(res.stop)) {
          initFailed(node, proc, module, res.stop, undefined);
        }
        fail(res.stop, "init returned { stop }");
        throw new ExitError(res.stop);
      }
      const reason = tuple(G.bad_return_value, r as never);
      fail(
        reason,
        "init must return { ok: true, state }, { ignore: true } or { stop: reason }",
      );
      throw new ExitError(reason);
    }, { link, label: impl.module ?? "GenServer" });
    proc.initialCall = tuple(Atom.of("proc_lib"), Atom.of("init_p"), 5);
    proc.dictionary = new Map<unknown, unknown>([
      [G.initial_call, tuple(module, Atom.of("init"), 1)],
      [G.ancestors, [caller.pid]],
    ]);
    if (localName !== undefined) node.register(localName, proc.pid);
    proc.exited.then((reason) =>
      fail(reason, `the server exited during init (${String(reason)})`)
    );
    if (initTimeout !== Infinity) {
      timer = setTimeout(() => {
        if (settled) return;
        if (link) node.unlinkFrom(proc, caller.pid);
        fail(G.timeout, `init did not return within ${initTimeout} ms`);
        node.terminate(proc, Atom.of("killed"));
      }, initTimeout);
    }
  });
}

/** A crash report for an `init` that failed (unless a trapping link takes it). */
function initFailed(
  node: Node,
  proc: Process,
  module: Atom,
  reason: unknown,
  error: unknown,
): void {
  reportCrash(
    node,
    proc,
    reason,
    error,
    () =>
      `GenServer ${
        proc.registeredName ?? String(proc.pid)
      } (${module.name}) failed to start on node ${node.name}: init\n${
        errorText(error, reason)
      }`,
  );
}
