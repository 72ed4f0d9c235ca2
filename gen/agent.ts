/**
 * `Agent`, as Elixir's: a process that holds a state, read and changed by
 * functions. Local agents take JavaScript functions; agents on other nodes
 * — noderl's or Elixir's — take module/function/args, as Elixir's
 * `Agent.get(agent, Mod, :fun, args)` does (the function gets the state
 * first, then `args`). It speaks Elixir's `Agent.Server` protocol, so an
 * Elixir node can use a noderl agent with module/function/args (functions
 * defined with `defineModule`), and noderl can use Elixir agents.
 *
 * An Elixir closure (`Agent.get(agent, fn s -> s end)`) cannot run in
 * JavaScript: a noderl agent answers it with
 * `{:error, {:noderl_cannot_run_closure, Explanation}}` (and logs a
 * warning) instead of crashing.
 *
 * @example
 * ```ts
 * import { startRegistry } from "../node/registry.ts";
 * import { startNode } from "../node/node.ts";
 * import { Agent } from "./agent.ts";
 * import assert from "node:assert/strict";
 *
 * const registry = await startRegistry({ port: 0 });
 * const node = await startNode({ name: "agent@localhost", cookie: "c", registryPort: registry.port });
 * const counter = await Agent.start(node, () => 0, { name: "counter" });
 * await Agent.update(counter, (n: number) => n + 1);
 * assert.equal(await Agent.get("counter", (n: number) => n), 1);
 * assert.equal(await Agent.getAndUpdate(counter, (n: number) => [n, n * 10]), 1);
 * // Module/function/args, as a remote caller uses it: Counter.add(state, 5).
 * node.defineModule("Counter", { add: (n: number, k: number) => n + k });
 * await Agent.update(counter, "Counter", "add", [5]);
 * assert.equal(await Agent.get(counter, (n: number) => n), 15);
 * await Agent.stop(counter);
 * await node.stop();
 * await registry.close();
 * ```
 *
 * @module
 */
import type { Node } from "../node/node.ts";
import { currentNode } from "../node/process_api.ts";
import { Atom, ExportFun, Fun, Pid, Tuple, tuple } from "../node/terms.ts";
import { formatTerm } from "../node/format.ts";
import type { ChildSpec } from "../task/mod.ts";
import {
  type CallResult,
  type From,
  GenServer,
  type GenServerChildOptions,
  type GenServerImpl,
  type InitResult,
  type NoReplyResult,
  type StartOptions,
} from "./gen_server.ts";
import { globalName, type ServerRef } from "./_names.ts";

/** A module/function/args triple: `mod.fun(state, ...args)` runs on the agent's node. */
export type AgentMfa = readonly [
  mod: string | Atom,
  fun: string | Atom,
  args: readonly unknown[],
];

const A = {
  get: Atom.of("get"),
  get_and_update: Atom.of("get_and_update"),
  update: Atom.of("update"),
  cast: Atom.of("cast"),
  ok: Atom.of("ok"),
  error: Atom.of("error"),
  closure: Atom.of("noderl_cannot_run_closure"),
  bad_return_value: Atom.of("bad_return_value"),
} as const;

const CLOSURE_TEXT =
  "an Elixir or Erlang closure cannot run in JavaScript: use the module/function/args form, Agent.get(agent, Module, :function, args), with a function the noderl node defines (defineModule)";

/** What an agent runs: a local function or a `{M, F, A}` term. */
type Runnable = ((...args: unknown[]) => unknown) | Tuple;

function mfaTerm(mod: string | Atom, fun: string | Atom, args: unknown): Tuple {
  if (!Array.isArray(args)) {
    throw new TypeError(`Agent: args must be an array, got ${String(args)}`);
  }
  return tuple(
    mod instanceof Atom ? mod : Atom.of(String(mod)),
    fun instanceof Atom ? fun : Atom.of(String(fun)),
    [...args],
  );
}

/** Why `f` cannot run here, or undefined when it can. */
function cannotRun(node: Node, f: unknown): string | undefined {
  if (typeof f === "function") return undefined;
  if (f instanceof Tuple && f.length === 3) {
    if (!Array.isArray(f[2])) return "the args of {M, F, A} must be a list";
    return undefined;
  }
  if (f instanceof ExportFun) {
    return node.functionOf(f.module.name, f.function.name) !== undefined
      ? undefined
      : `${f.module.name}.${f.function.name}/${f.arity} is not defined on ${node.name} (defineModule)`;
  }
  if (f instanceof Fun) return CLOSURE_TEXT;
  return `not a function: ${formatTerm(f)}`;
}

/** Runs `f` with `extra` (the state) first, as Agent.Server's run/2. */
function run(node: Node, f: unknown, extra: unknown[]): unknown {
  if (typeof f === "function") return f(...extra);
  if (f instanceof Tuple) {
    return node.apply(String(f[0]), String(f[1]), [
      ...extra,
      ...(f[2] as unknown[]),
    ]);
  }
  if (f instanceof ExportFun) {
    return node.apply(f.module.name, f.function.name, extra);
  }
  throw new TypeError(CLOSURE_TEXT);
}

function then<T, R>(v: T | Promise<T>, fn: (v: T) => R): R | Promise<R> {
  return v instanceof Promise ? v.then(fn) : fn(v);
}

const isTuple = (m: unknown, tag: Atom, size: number): m is Tuple =>
  m instanceof Tuple && m.length === size && m[0] === tag;

/** The server behind every noderl agent (Elixir's `Agent.Server`). */
const AgentServer: GenServerImpl<unknown, unknown> = {
  module: "Elixir.Agent.Server",
  init(f: unknown): InitResult<unknown> | Promise<InitResult<unknown>> {
    const node = currentNode();
    const why = cannotRun(node, f);
    if (why !== undefined) return { stop: tuple(A.closure, why) };
    return then(run(node, f, []), (state) => ({ ok: true, state }));
  },
  handleCall(
    req: unknown,
    _from: From,
    state: unknown,
  ): CallResult<unknown> | Promise<CallResult<unknown>> {
    const node = currentNode();
    if (req instanceof Tuple && req.length === 2) {
      const [kind, f] = req;
      if (kind === A.get || kind === A.update || kind === A.get_and_update) {
        const why = cannotRun(node, f);
        if (why !== undefined) {
          node.logger.warning(
            `Agent ${String(node.current().pid)} refused ${
              String(kind)
            }: ${why}`,
          );
          return { reply: tuple(A.error, tuple(A.closure, why)), state };
        }
      }
      if (kind === A.get) {
        return then(run(node, f, [state]), (v) => ({ reply: v, state }));
      }
      if (kind === A.update) {
        return then(
          run(node, f, [state]),
          (s) => ({ reply: A.ok, state: s }),
        );
      }
      if (kind === A.get_and_update) {
        return then(run(node, f, [state]), (r): CallResult<unknown> => {
          if (Array.isArray(r) && r.length === 2) {
            return { reply: r[0], state: r[1] };
          }
          return { stop: tuple(A.bad_return_value, r), state };
        });
      }
    }
    throw new Error(
      `attempted to call Agent ${String(node.current().pid)} with ${
        formatTerm(req)
      }: an agent takes {get|update|get_and_update, fun}`,
    );
  },
  handleCast(
    req: unknown,
    state: unknown,
  ): NoReplyResult<unknown> | Promise<NoReplyResult<unknown>> {
    const node = currentNode();
    if (isTuple(req, A.cast, 2)) {
      const why = cannotRun(node, req[1]);
      if (why !== undefined) {
        node.logger.warning(
          `Agent ${String(node.current().pid)} ignored a cast: ${why}`,
        );
        return { noreply: true, state };
      }
      return then(run(node, req[1], [state]), (s) => ({
        noreply: true,
        state: s,
      }));
    }
    throw new Error(
      `attempted to cast Agent ${String(node.current().pid)} with ${
        formatTerm(req)
      }: an agent takes {cast, fun}`,
    );
  },
};

/** Whether `agent` lives on another node (a JS function cannot go there). */
function isRemote(agent: ServerRef): boolean {
  if (globalName(agent) !== undefined) return true;
  const node = currentNode();
  if (agent instanceof Pid) return agent.node !== node.name;
  if (Array.isArray(agent) && !(agent instanceof Tuple)) {
    return String(agent[1]) !== node.name;
  }
  return false;
}

/** The function term to send: a local function, or `{M, F, A}`. */
function runnable(
  what: string,
  agent: ServerRef,
  f: unknown,
  fun: unknown,
  args: unknown,
): Runnable {
  if (typeof f === "function") {
    if (isRemote(agent)) {
      throw new TypeError(
        `${what}: a JavaScript function cannot be sent to another node; use ${what}(agent, module, function, args) with a function that node defines`,
      );
    }
    return f as Runnable;
  }
  if (typeof f === "string" || f instanceof Atom) {
    return mfaTerm(f, fun as string | Atom, args);
  }
  throw new TypeError(
    `${what}: give a function, or module, function and args`,
  );
}

/** How a start function is given: a function, or module/function/args. */
function initial(
  f: (() => unknown) | string | Atom,
  fun: unknown,
  args: unknown,
): Runnable {
  if (typeof f === "function") return f as Runnable;
  return mfaTerm(f, fun as string | Atom, args ?? []);
}

/**
 * Agents: {@linkcode Agent.start} one with a function that makes the
 * state; {@linkcode Agent.get}, {@linkcode Agent.update},
 * {@linkcode Agent.getAndUpdate} and {@linkcode Agent.cast} with functions
 * of the state; {@linkcode Agent.stop} it.
 */
export class Agent {
  private constructor() {}

  /** Starts an agent whose state is `fn()` (or `mod.fun(...args)`), not linked. */
  static start<S>(
    node: Node,
    fn: () => S | Promise<S>,
    options?: StartOptions,
  ): Promise<Pid>;
  /** Starts an agent whose state is `mod.fun(...args)` (Elixir's `Agent.start(M, F, A)`), not linked. */
  static start(
    node: Node,
    mod: string | Atom,
    fun: string | Atom,
    args: readonly unknown[],
    options?: StartOptions,
  ): Promise<Pid>;
  static start(
    node: Node,
    f: (() => unknown) | string | Atom,
    a?: unknown,
    b?: unknown,
    c?: StartOptions,
  ): Promise<Pid> {
    const options = typeof f === "function" ? a as StartOptions : c;
    return GenServer.start(node, AgentServer, initial(f, a, b), options);
  }

  /** As {@linkcode Agent.start}, linked to the calling process. */
  static startLink<S>(
    node: Node,
    fn: () => S | Promise<S>,
    options?: StartOptions,
  ): Promise<Pid>;
  /** As the module/function/args {@linkcode Agent.start}, linked to the calling process. */
  static startLink(
    node: Node,
    mod: string | Atom,
    fun: string | Atom,
    args: readonly unknown[],
    options?: StartOptions,
  ): Promise<Pid>;
  static startLink(
    node: Node,
    f: (() => unknown) | string | Atom,
    a?: unknown,
    b?: unknown,
    c?: StartOptions,
  ): Promise<Pid> {
    const options = typeof f === "function" ? a as StartOptions : c;
    return GenServer.startLink(node, AgentServer, initial(f, a, b), options);
  }

  /** `fn(state)` — or `mod.fun(state, ...args)` — computed in the agent. */
  static get<S, R>(
    agent: ServerRef,
    fn: (state: S) => R,
    timeout?: number,
  ): Promise<Awaited<R>>;
  /** By module/function/args: `mod.fun(state, ...args)`, run on the agent's node (Elixir's `Agent.get(agent, M, F, A)`). */
  static get(
    agent: ServerRef,
    mod: string | Atom,
    fun: string | Atom,
    args: readonly unknown[],
    timeout?: number,
  ): Promise<unknown>;
  static get(
    agent: ServerRef,
    f: unknown,
    a?: unknown,
    b?: unknown,
    c?: number,
  ): Promise<unknown> {
    return call(agent, A.get, "Agent.get", f, a, b, c);
  }

  /** Replaces the state with `fn(state)` (or `mod.fun(state, ...args)`). */
  static update<S>(
    agent: ServerRef,
    fn: (state: S) => S | Promise<S>,
    timeout?: number,
  ): Promise<void>;
  /** By module/function/args: the state becomes `mod.fun(state, ...args)`, run on the agent's node. */
  static update(
    agent: ServerRef,
    mod: string | Atom,
    fun: string | Atom,
    args: readonly unknown[],
    timeout?: number,
  ): Promise<void>;
  static async update(
    agent: ServerRef,
    f: unknown,
    a?: unknown,
    b?: unknown,
    c?: number,
  ): Promise<void> {
    const r = await call(agent, A.update, "Agent.update", f, a, b, c);
    if (r !== A.ok) throw refused("Agent.update", r);
  }

  /**
   * `fn(state)` returns `[reply, newState]` (a remote function returns the
   * tuple `{Reply, NewState}`): resolves with the reply.
   */
  static getAndUpdate<S, R>(
    agent: ServerRef,
    fn: (state: S) => readonly [R, S] | Promise<readonly [R, S]>,
    timeout?: number,
  ): Promise<R>;
  /** By module/function/args: `mod.fun(state, ...args)` returns `[reply, newState]`, run on the agent's node. */
  static getAndUpdate(
    agent: ServerRef,
    mod: string | Atom,
    fun: string | Atom,
    args: readonly unknown[],
    timeout?: number,
  ): Promise<unknown>;
  static getAndUpdate(
    agent: ServerRef,
    f: unknown,
    a?: unknown,
    b?: unknown,
    c?: number,
  ): Promise<unknown> {
    return call(agent, A.get_and_update, "Agent.getAndUpdate", f, a, b, c);
  }

  /** Replaces the state with `fn(state)` without waiting. */
  static cast<S>(agent: ServerRef, fn: (state: S) => S): void;
  /** Casts by module/function/args: the agent's state becomes `mod.fun(state, ...args)`, run on its node. */
  static cast(
    agent: ServerRef,
    mod: string | Atom,
    fun: string | Atom,
    args: readonly unknown[],
  ): void;
  static cast(agent: ServerRef, f: unknown, a?: unknown, b?: unknown): void {
    GenServer.cast(
      agent,
      tuple(A.cast, runnable("Agent.cast", agent, f, a, b)),
    );
  }

  /** Stops the agent (default reason `"normal"`). */
  static stop(
    agent: ServerRef,
    reason: unknown = "normal",
    timeout: number = Infinity,
  ): Promise<void> {
    return GenServer.stop(agent, reason, timeout);
  }

  /** A child spec for `Supervisor.start`: an agent whose state is `fn()`. */
  static childSpec(
    fn: (() => unknown) | AgentMfa,
    options: GenServerChildOptions = {},
  ): ChildSpec {
    const f = typeof fn === "function" ? fn : mfaTerm(fn[0], fn[1], fn[2]);
    const spec = GenServer.childSpec(AgentServer, f, options);
    return {
      ...spec,
      id: options.id ?? (options.name ? spec.id : "Elixir.Agent"),
    };
  }
}

function call(
  agent: ServerRef,
  kind: Atom,
  what: string,
  f: unknown,
  a: unknown,
  b: unknown,
  c: unknown,
): Promise<unknown> {
  let fn: Runnable, timeout: unknown;
  try {
    fn = runnable(what, agent, f, a, b);
    timeout = typeof f === "function" ? a : c;
  } catch (e) {
    return Promise.reject(e);
  }
  return GenServer.call(
    agent,
    tuple(kind, fn),
    timeout === undefined ? 5000 : timeout as number,
  ).then((r) => {
    if (
      r instanceof Tuple && r.length === 2 && r[0] === A.error &&
      r[1] instanceof Tuple && r[1][0] === A.closure
    ) throw refused(what, r);
    return r;
  });
}

function refused(what: string, r: unknown): Error {
  if (r instanceof Tuple && r[1] instanceof Tuple && r[1][0] === A.closure) {
    return new TypeError(`${what}: the agent refused: ${String(r[1][1])}`);
  }
  return new Error(`${what}: unexpected reply ${formatTerm(r)}`);
}
