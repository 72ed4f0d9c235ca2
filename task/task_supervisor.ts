/**
 * Task supervisors, as Elixir's `Task.Supervisor`: a supervisor of tasks,
 * started with none, that starts tasks on request — on this node, or on
 * another one given as `[name, node]`. It speaks Elixir's protocol (1.14's
 * and 1.18's shapes) on the wire both ways, so an Elixir node can run
 * `Task.Supervisor.async({Chat.TaskSupervisor, :"ts@localhost"}, Chat, :receive_message, ["hi"])`
 * against a noderl node, and noderl can run tasks under an Elixir node's
 * `Task.Supervisor`:
 *
 * - start: `GenServer.call(Sup, {start_task, [{Node, NameOrPid, OwnerPid}, monitor], temporary, nil})`
 *   → `{ok, TaskPid}` (or `{error, max_children}`);
 * - the owner links to and monitors the task, and sends it
 *   `{OwnerPid, Ref, ReplyTo, Callers, {M, F, A}}`;
 * - the task answers `{Ref, Result}` to `ReplyTo` and exits `normal` — or
 *   exits with the reason (`{undef, …}`, `{Exception, Stack}` …).
 *
 * Between two noderl nodes a task starts with one SPAWN_REQUEST instead
 * (one round trip, as erpc does); the supervisor, limits and replies are
 * the same.
 *
 * Where each part lives: this file is the API (as Elixir's
 * `Task.Supervisor`); the supervisor process is `_task_supervisor_server.ts`
 * (as `DynamicSupervisor`); the task side of Elixir's protocol and its
 * client half are `_supervised.ts` (as `Task.Supervised`); noderl's
 * one-round-trip start, both halves and its wire format, is
 * `_one_round_trip.ts`.
 *
 * @example
 * ```ts
 * import { startRegistry } from "../node/registry.ts";
 * import { startNode } from "../node/node.ts";
 * import { Task } from "./task.ts";
 * import { TaskSupervisor } from "./task_supervisor.ts";
 * import assert from "node:assert/strict";
 *
 * const registry = await startRegistry({ port: 0 });
 * const alex = await startNode({ name: "alex@localhost", cookie: "c", registryPort: registry.port });
 * const kate = await startNode({ name: "kate@localhost", cookie: "c", registryPort: registry.port });
 * kate.defineModule("Elixir.Chat", { receive_message: (m: string) => `kate got ${m}` });
 * await TaskSupervisor.start(kate, { name: "Elixir.Chat.TaskSupervisor" });
 *
 * // From alex: a task under kate's supervisor, module/function/args.
 * const task = TaskSupervisor.async(
 *   ["Elixir.Chat.TaskSupervisor", "kate@localhost"], "Elixir.Chat", "receive_message", ["hi"],
 * );
 * assert.equal(await Task.await(task), "kate got hi");
 * // Locally, closures are fine too.
 * const local = TaskSupervisor.async("Elixir.Chat.TaskSupervisor", () => 1 + 1, { node: kate });
 * assert.equal(await Task.await(local), 2);
 * await alex.stop();
 * await kate.stop();
 * await registry.close();
 * ```
 *
 * @module
 */
import type { Node } from "../node/node.ts";
import { A, isTuple } from "../node/_atoms.ts";
import { describeDest } from "../node/_dest.ts";
import { ExitError } from "../node/errors.ts";
import { formatTerm } from "../node/format.ts";
import { currentNode } from "../node/process_api.ts";
import { Atom, Pid, type Tuple, tuple } from "../node/terms.ts";
import { hubFor } from "./_hub.ts";
import {
  notStartedError,
  serveOneRoundTrip,
  startFast,
} from "./_one_round_trip.ts";
import {
  checkIntensity,
  checkRestart,
  type Restart,
} from "./_restart_intensity.ts";
import { checkShutdown, DEFAULT_SHUTDOWN, type Shutdown } from "./_shutdown.ts";
import {
  callersFor,
  noreply,
  startByCall,
  startChildByCall,
  type Starting,
} from "./_supervised.ts";
import { serverOf, TaskSupervisorServer } from "./_task_supervisor_server.ts";
import { MaxChildrenError, nameTaken, noSupervisor } from "./errors.ts";
import {
  type ChildCounts,
  type ChildSpec,
  countsFrom,
  stopProcess,
  type SupervisorRef,
} from "./supervisor.ts";
import {
  checkMfa,
  pendingTask,
  startLocalTask,
  type Task,
  taskStarted,
} from "./task.ts";

export { MaxChildrenError };

/** Options of {@linkcode TaskSupervisor.start}. */
export interface TaskSupervisorOptions {
  /** Registers the supervisor under this name (exact atom text, e.g. `"Elixir.Chat.TaskSupervisor"`). */
  name?: string | Atom;
  /**
   * How many tasks may run at once (an integer ≥ 0, or `Infinity`).
   * @default Infinity (no limit)
   */
  maxChildren?: number;
  /**
   * Restarts (of `permanent`/`transient` children) allowed in `maxSeconds`
   * (an integer ≥ 0).
   * @default 3
   */
  maxRestarts?: number;
  /**
   * The window of `maxRestarts`, in seconds (> 0).
   * @default 5
   */
  maxSeconds?: number;
  /**
   * The restart of tasks started without one (`startChild` with no
   * `restart`, Elixir's `start_child` with none), as the `restart:` option
   * of Elixir's `Task.Supervisor.start_link`.
   * @default "temporary"
   */
  restart?: Restart;
  /**
   * Link the supervisor to the calling process.
   * @default true inside a process (a parent supervisor), false outside any
   */
  link?: boolean;
}

/** Options of {@linkcode TaskSupervisor.async} and `asyncNolink`. */
export interface AsyncOptions {
  /**
   * The node to start from.
   * @default the calling process's node, else the default node
   */
  node?: Node;
  /**
   * How the supervisor stops the task when it shuts down: ms before it is
   * killed, `"infinity"`, or `"brutal_kill"`.
   * @default 5000
   */
  shutdown?: Shutdown;
}

/** Options of {@linkcode TaskSupervisor.startChild}. */
export interface StartChildOptions extends AsyncOptions {
  /**
   * Whether the supervisor starts the task again when it exits.
   * @default the supervisor's `restart` ("temporary" unless it was started with another)
   */
  restart?: Restart;
}

/** Options of the calls that only ask a supervisor. */
export interface TaskSupervisorCallOptions {
  /**
   * The node to call from.
   * @default the calling process's node, else the default node
   */
  node?: Node;
}

/** Where a task supervisor is, for a start. */
type Resolved =
  | { kind: "local"; server: TaskSupervisorServer }
  | { kind: "call"; target: SupervisorRef; peer: string; remoteSup: Pid | Atom }
  | { kind: "noproc" };

function resolve(node: Node, sup: SupervisorRef): Resolved {
  let name: string | undefined, pid: Pid | undefined, where = node.name;
  if (sup instanceof Pid) {
    pid = sup;
    where = sup.node;
  } else if (Array.isArray(sup)) {
    if (sup.length !== 2) throw badSupervisor(sup);
    name = String(sup[0]);
    where = String(sup[1]);
  } else if (typeof sup === "string" || sup instanceof Atom) {
    name = String(sup);
  } else {
    throw badSupervisor(sup);
  }
  if (where === node.name) {
    const local = pid ?? node.whereis(name!);
    if (local === undefined || !node.isAlive(local)) return { kind: "noproc" };
    const server = serverOf(node, local);
    if (server) return { kind: "local", server };
    return {
      kind: "call",
      target: local,
      peer: node.name,
      remoteSup: local,
    };
  }
  return {
    kind: "call",
    target: pid ?? [name!, where] as const,
    peer: where,
    remoteSup: pid ?? Atom.of(name!),
  };
}

function badSupervisor(sup: unknown): TypeError {
  return new TypeError(
    `a task supervisor is a Pid, a registered name, or [name, node]; got ${
      formatTerm(sup)
    }`,
  );
}

/** Why a local supervisor refuses a task, as an error. */
function refusalError(
  no: Atom,
  display: string,
  server: TaskSupervisorServer,
): Error {
  return no === A.max_children
    ? new MaxChildrenError(display, server.maxChildren)
    : new ExitError(no, `task supervisor ${display} is shutting down`);
}

function closureElsewhere(what: string, peer: string): TypeError {
  return new TypeError(
    `${what}: a closure cannot run on another node (${peer}); give module, function and args defined there with defineModule`,
  );
}

function startAsync(
  sup: SupervisorRef,
  a: unknown,
  b: unknown,
  c: unknown,
  d: unknown,
  link: boolean,
  what: string,
): Task<unknown> {
  const closure = typeof a === "function";
  const options = ((closure ? b : d) ?? {}) as AsyncOptions;
  const shutdown = options.shutdown === undefined
    ? DEFAULT_SHUTDOWN
    : checkShutdown(options.shutdown, what);
  const node = options.node ?? currentNode();
  const owner = node.current();
  const r = resolve(node, sup);
  let mfa: [string, string, unknown[]] | undefined;
  if (!closure) mfa = checkMfa(a, b, c, what);
  const label: string | [string, string, number] = closure
    ? (a as () => unknown).name || "anonymous fn"
    : [mfa![0], mfa![1], mfa![2].length];
  const display = describeDest(sup);

  if (r.kind === "local") {
    const server = r.server;
    const no = server.refusal();
    if (no !== undefined) {
      const { task, state } = pendingTask(node, owner, node.name, label, link);
      state.hub.fail(state.entry, refusalError(no, display, server));
      return task;
    }
    const run = closure
      ? a as () => unknown
      : () => node.apply(mfa![0], mfa![1], mfa![2]);
    return startLocalTask(node, owner, server.proc, run, {
      what: label,
      link,
      onSpawn: (p) => server.add(p, "temporary", shutdown, () => p),
    });
  }
  if (r.kind === "noproc") {
    const { task, state } = pendingTask(node, owner, node.name, label, link);
    state.hub.fail(state.entry, noSupervisor(display, node.name));
    return task;
  }
  if (closure && r.peer !== node.name) throw closureElsewhere(what, r.peer);
  const { task, state } = pendingTask(node, owner, r.peer, label, link);
  state.startFailure = (reason) => notStartedError(reason, display, r.peer);
  const m = closure ? A.erlang : Atom.of(mfa![0]);
  const f = closure ? A.apply : Atom.of(mfa![1]);
  const args = closure ? [a, []] : mfa![2];
  const starting: Starting = {
    hub: state.hub,
    entry: state.entry,
    owner,
    started: (pid) => taskStarted(task, pid),
  };
  const start = (fast: boolean) => {
    if (state.entry.abandoned) return; // an await gave up before the start began
    if (fast) {
      startFast(starting, r.peer, r.remoteSup, m, f, args, link, shutdown);
    } else {
      startByCall(
        starting,
        r.target,
        r.peer,
        tuple(m, f, args),
        link,
        shutdown,
      );
    }
  };
  if (r.peer === node.name) start(false);
  else {
    const hub = state.hub;
    const known = hub.knownFast(r.peer);
    if (known !== undefined) start(known);
    else {
      hub.fastPeer(r.peer).then(
        start,
        (e) =>
          hub.fail(state.entry, e instanceof Error ? e : new Error(String(e))),
      );
    }
  }
  return task;
}

/**
 * Task supervisors: {@linkcode TaskSupervisor.start} one, then start tasks
 * under it with {@linkcode TaskSupervisor.async} (linked to the caller),
 * {@linkcode TaskSupervisor.asyncNolink} or {@linkcode TaskSupervisor.startChild}.
 * The supervisor is a pid, a registered name, or `[name, node]` for one on
 * another node (noderl or Elixir).
 */
export class TaskSupervisor {
  private constructor() {}

  /**
   * Starts a task supervisor on `node`, registered as `options.name` if
   * given. Rejects with a `NameTakenError` if the name is taken, and a
   * RangeError for an option out of range.
   */
  static start(
    node: Node,
    options: TaskSupervisorOptions = {},
  ): Promise<Pid> {
    const name = options.name === undefined ? undefined : String(options.name);
    const maxChildren = options.maxChildren ?? Infinity;
    if (
      maxChildren !== Infinity &&
      (!Number.isInteger(maxChildren) || maxChildren < 0)
    ) {
      return Promise.reject(
        new RangeError(
          `maxChildren must be an integer ≥ 0 or Infinity, got ${
            String(maxChildren)
          }`,
        ),
      );
    }
    let intensity: { maxRestarts: number; maxSeconds: number };
    let restart: Restart;
    try {
      intensity = checkIntensity(options);
      restart = checkRestart(
        options.restart,
        "TaskSupervisor.start",
        "temporary",
      );
    } catch (e) {
      return Promise.reject(e);
    }
    const taken = nameTaken(node, name, "task supervisor");
    if (taken !== undefined) return Promise.reject(taken);
    const caller = node.current();
    const server = TaskSupervisorServer.start(node, caller, {
      name,
      maxChildren,
      ...intensity,
      restart,
      link: options.link ?? caller !== node.shell,
    });
    serveOneRoundTrip(node);
    return Promise.resolve(server.proc.pid);
  }

  /**
   * Starts `fn` (on the supervisor's node, which must be this one) as a
   * task under `supervisor`, linked to the caller; await it with
   * {@linkcode Task.await}. Errors starting it (`noproc` for an unknown
   * supervisor, {@linkcode MaxChildrenError}, `noconnection`) come from the
   * await.
   */
  static async<R>(
    supervisor: SupervisorRef,
    fn: () => R | Promise<R>,
    options?: AsyncOptions,
  ): Task<Awaited<R>>;
  /**
   * Starts `mod.fun(...args)` as a task under `supervisor` — on another
   * node with `[name, node]` — linked to the caller.
   */
  static async(
    supervisor: SupervisorRef,
    mod: string | Atom,
    fun: string | Atom,
    args: unknown[],
    options?: AsyncOptions,
  ): Task<unknown>;
  static async(
    supervisor: SupervisorRef,
    a: unknown,
    b?: unknown,
    c?: unknown,
    d?: unknown,
  ): Task<unknown> {
    return startAsync(supervisor, a, b, c, d, true, "TaskSupervisor.async");
  }

  /** As {@linkcode TaskSupervisor.async}, without linking the task to the caller. */
  static asyncNolink<R>(
    supervisor: SupervisorRef,
    fn: () => R | Promise<R>,
    options?: AsyncOptions,
  ): Task<Awaited<R>>;
  /** As {@linkcode TaskSupervisor.async}, without linking the task to the caller. */
  static asyncNolink(
    supervisor: SupervisorRef,
    mod: string | Atom,
    fun: string | Atom,
    args: unknown[],
    options?: AsyncOptions,
  ): Task<unknown>;
  static asyncNolink(
    supervisor: SupervisorRef,
    a: unknown,
    b?: unknown,
    c?: unknown,
    d?: unknown,
  ): Task<unknown> {
    return startAsync(
      supervisor,
      a,
      b,
      c,
      d,
      false,
      "TaskSupervisor.asyncNolink",
    );
  }

  /**
   * Starts a child task that nobody awaits (fire and forget); resolves
   * with its pid. `options.restart` (default: the supervisor's) can make
   * the supervisor restart it.
   */
  static startChild(
    supervisor: SupervisorRef,
    fn: () => unknown,
    options?: StartChildOptions,
  ): Promise<Pid>;
  /** Starts `mod.fun(...args)` as a child task; resolves with its pid. */
  static startChild(
    supervisor: SupervisorRef,
    mod: string | Atom,
    fun: string | Atom,
    args: unknown[],
    options?: StartChildOptions,
  ): Promise<Pid>;
  static async startChild(
    supervisor: SupervisorRef,
    a: unknown,
    b?: unknown,
    c?: unknown,
    d?: unknown,
  ): Promise<Pid> {
    const what = "TaskSupervisor.startChild";
    const closure = typeof a === "function";
    const options = ((closure ? b : d) ?? {}) as StartChildOptions;
    const node = options.node ?? currentNode();
    const asked = options.restart === undefined
      ? undefined
      : checkRestart(options.restart, what, "temporary");
    const shutdown = options.shutdown === undefined
      ? DEFAULT_SHUTDOWN
      : checkShutdown(options.shutdown, what);
    const mfa = closure ? undefined : checkMfa(a, b, c, what);
    const owner = node.current();
    const display = describeDest(supervisor);
    const r = resolve(node, supervisor);
    if (r.kind === "noproc") throw noSupervisor(display, node.name);
    if (r.kind === "local") {
      const server = r.server;
      const no = server.refusal();
      if (no !== undefined) throw refusalError(no, display, server);
      const restart = asked ?? server.defaultRestart;
      const run = closure
        ? a as () => unknown
        : () => node.apply(mfa![0], mfa![1], mfa![2]);
      const label = closure
        ? (a as () => unknown).name || "anonymous fn"
        : `${mfa![0]}.${mfa![1]}/${mfa![2].length}`;
      return server.startChild(
        label,
        noreply(node, callersFor(owner), run),
        restart,
        shutdown,
      ).pid;
    }
    if (closure && r.peer !== node.name) throw closureElsewhere(what, r.peer);
    return await startChildByCall(
      hubFor(node),
      owner,
      r.target,
      display,
      r.peer,
      closure
        ? tuple(A.erlang, A.apply, [a, []])
        : tuple(Atom.of(mfa![0]), Atom.of(mfa![1]), mfa![2]),
      asked,
      shutdown,
    );
  }

  /** The pids of the running tasks of `supervisor`. */
  static async children(
    supervisor: SupervisorRef,
    options: TaskSupervisorCallOptions = {},
  ): Promise<Pid[]> {
    const node = options.node ?? currentNode();
    const r = await callSup(node, supervisor, A.which_children);
    if (!Array.isArray(r)) {
      throw new Error(
        `which_children on ${describeDest(supervisor)} got ${formatTerm(r)}`,
      );
    }
    return r.map((t) => (t as Tuple)[1]).filter((p) =>
      p instanceof Pid
    ) as Pid[];
  }

  /** How many tasks run, as `Supervisor.countChildren`. */
  static async countChildren(
    supervisor: SupervisorRef,
    options: TaskSupervisorCallOptions = {},
  ): Promise<ChildCounts> {
    const node = options.node ?? currentNode();
    return countsFrom(
      await callSup(node, supervisor, A.count_children),
      supervisor,
    );
  }

  /**
   * Stops the task `pid` of `supervisor` (as its shutdown says); resolves
   * with true once it is gone, false if it is not a child of `supervisor`.
   */
  static async terminateChild(
    supervisor: SupervisorRef,
    pid: Pid,
    options: TaskSupervisorCallOptions = {},
  ): Promise<boolean> {
    if (!(pid instanceof Pid)) {
      throw new TypeError(`terminateChild takes the task's Pid`);
    }
    const node = options.node ?? currentNode();
    const r = await callSup(node, supervisor, tuple(A.terminate_child, pid));
    if (r === A.ok) return true;
    if (isTuple(r, A.error, 2) && r[1] === A.not_found) return false;
    throw new Error(
      `terminate_child on ${describeDest(supervisor)} got ${formatTerm(r)}`,
    );
  }

  /** Stops the supervisor and its tasks (reason default `"normal"`). */
  static stop(
    supervisor: SupervisorRef,
    reason: unknown = "normal",
    options: TaskSupervisorCallOptions = {},
  ): Promise<void> {
    return stopProcess(supervisor, reason, options);
  }

  /**
   * A child spec that starts a task supervisor under a {@linkcode Supervisor}:
   * `[TaskSupervisor, { name: "Elixir.Chat.TaskSupervisor" }]` in a children
   * list means `TaskSupervisor.childSpec({ name: … })`. The id is the name
   * (default `"Elixir.Task.Supervisor"`).
   */
  static childSpec(options: TaskSupervisorOptions = {}): ChildSpec {
    return {
      id: options.name === undefined
        ? "Elixir.Task.Supervisor"
        : String(options.name),
      start: () => TaskSupervisor.start(currentNode(), options),
      type: "supervisor",
      shutdown: "infinity",
      restart: "permanent",
      modules: ["Elixir.Task.Supervisor"],
    };
  }
}

async function callSup(
  node: Node,
  supervisor: SupervisorRef,
  request: unknown,
): Promise<unknown> {
  try {
    return await hubFor(node).call(supervisor, request);
  } catch (e) {
    if (e instanceof ExitError && e.reason === A.noproc) {
      const r = resolve(node, supervisor);
      throw noSupervisor(
        describeDest(supervisor),
        r.kind === "call" ? r.peer : node.name,
      );
    }
    throw e;
  }
}
