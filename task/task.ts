/**
 * Tasks, as Elixir's `Task`: run a function in a new process and await its
 * result. `Task.async` links the task to the caller (a crash takes the
 * caller down with the reason); `Task.await` waits for the result, failing
 * with a {@linkcode TimeoutError} after the timeout (default 5000 ms) and
 * leaving nothing behind; `Task.yield` peeks without giving up; and
 * `Task.shutdown` stops a task.
 *
 * @example
 * ```ts
 * import { startRegistry } from "../node/registry.ts";
 * import { startNode } from "../node/node.ts";
 * import { Task } from "./task.ts";
 * import assert from "node:assert/strict";
 *
 * const registry = await startRegistry({ port: 0 });
 * const node = await startNode({ name: "tasks@localhost", cookie: "c", registryPort: registry.port });
 * const task = Task.async(async () => 6 * 7);
 * assert.equal(await Task.await(task), 42);
 * const slow = Task.async(() => new Promise(() => {})); // never replies
 * await assert.rejects(Task.await(slow, 50), { name: "TimeoutError" });
 * await node.stop();
 * await registry.close();
 * ```
 *
 * @module
 */
import type { Node } from "../node/node.ts";
import type { Process } from "../node/process.ts";
import { ExitError, NoConnectionError, TimeoutError } from "../node/errors.ts";
import { currentNode } from "../node/process_api.ts";
import { Atom, Pid, type Ref, Tuple } from "../node/terms.ts";
import { A, type Hub, hubFor, type Outcome, type TaskEntry } from "./_hub.ts";

/** Options of {@linkcode Task.async}. */
export interface TaskOptions {
  /**
   * The node to run on. Default: the calling process's node, else the
   * default node (the first started in this OS process that still runs).
   */
  node?: Node;
}

/**
 * What {@linkcode Task.yield} and {@linkcode Task.shutdown} give back:
 * `{ ok: value }` when the task replied, `{ exit: reason }` when it ended
 * without replying. (They give `undefined` when there is no result yet.)
 */
export type TaskResult<T> = { ok: T } | { exit: unknown };

/** How {@linkcode Task.shutdown} stops a task: wait this many ms, or kill at once. */
export type ShutdownMode = number | "brutal_kill";

interface Internal {
  hub: Hub;
  entry: TaskEntry;
  owner: Process;
  /** Resolves once the pid is known or the start failed. */
  started: Promise<void>;
  markStarted: () => void;
  /** Turns a start failure reported in a DOWN into an error, if it is one. */
  startFailure?: (reason: unknown) => Error | undefined;
}

const internals = new WeakMap<Task<unknown>, Internal>();
/** `$callers` of the task processes noderl started. */
const callersOf = new WeakMap<Process, Pid[]>();

/**
 * A running task: what {@linkcode Task.async} and `TaskSupervisor.async`
 * return. Pass it to {@linkcode Task.await}, {@linkcode Task.yield} or
 * {@linkcode Task.shutdown}.
 */
export class Task<T = unknown> {
  /** The process that started the task (it is linked to the task unless started with `asyncNolink`). */
  readonly owner: Pid;
  /** The reference replies are tagged with. */
  readonly ref: Ref;
  /** The node the task runs on. */
  readonly node: string;
  /** What runs: `Mod.fun/arity`, or the function's name. */
  readonly label: string;
  /** Whether the task is linked to its owner. */
  readonly linked: boolean;
  declare private readonly phantom?: T;

  /** @internal Tasks come from {@linkcode Task.async} and `TaskSupervisor`. */
  constructor(
    init: {
      owner: Process;
      node: string;
      label: string;
      linked: boolean;
      hub: Hub;
      entry: TaskEntry;
    },
  ) {
    this.owner = init.owner.pid;
    this.ref = init.entry.tag;
    this.node = init.node;
    this.label = init.label;
    this.linked = init.linked;
    let markStarted!: () => void;
    const started = new Promise<void>((r) => (markStarted = r));
    internals.set(this, {
      hub: init.hub,
      entry: init.entry,
      owner: init.owner,
      started,
      markStarted,
    });
    init.entry.settled.then(() => markStarted());
  }

  /** The task's pid; `undefined` while a remote start is on its way. */
  get pid(): Pid | undefined {
    return internals.get(this)!.entry.pid;
  }

  /**
   * Runs `fn` in a new process linked to the caller and returns the task.
   * If `fn` throws (or the process exits abnormally) the caller is taken
   * down with the reason — outside any process the awaiting promise rejects
   * with it instead.
   */
  static async<R>(
    fn: () => R | Promise<R>,
    options?: TaskOptions,
  ): Task<Awaited<R>>;
  /** Runs `mod.fun(...args)` (defined with `defineModule`) in a new linked process. */
  static async(
    mod: string | Atom,
    fun: string | Atom,
    args: unknown[],
    options?: TaskOptions,
  ): Task<unknown>;
  static async(
    a: unknown,
    b?: unknown,
    c?: unknown,
    d?: unknown,
  ): Task<unknown> {
    const options = (typeof a === "function" ? b : d) as
      | TaskOptions
      | undefined;
    const node = options?.node ?? currentNode();
    const owner = node.current();
    if (typeof a === "function") {
      return startLocalTask(node, owner, owner, a as () => unknown, {
        label: a.name || "anonymous fn",
        link: true,
      });
    }
    const [mod, fun, args] = checkMfa(a, b, c, "Task.async");
    return startLocalTask(
      node,
      owner,
      owner,
      () => node.apply(mod, fun, args),
      { label: `${mod}.${fun}/${args.length}`, link: true },
    );
  }

  /**
   * Waits for the task's result, up to `timeoutMs` (default 5000;
   * `Infinity` waits forever). Rejects with:
   * - a {@linkcode TimeoutError} when the time is up — the task's monitor,
   *   alias and any late reply are dropped, and a linked task is killed (in
   *   Elixir the caller would exit and the link would take the task along);
   * - a {@linkcode NoConnectionError} when the task's node goes down;
   * - an {@linkcode ExitError} with the task's exit reason when it crashed
   *   (for a JS error: its message and stack; the error is the `cause`);
   * - the start error (`noproc`, {@linkcode MaxChildrenError} …) when a
   *   supervisor could not start it.
   */
  static await<T>(task: Task<T>, timeoutMs = 5000): Promise<T> {
    return awaitTask(task, timeoutMs);
  }

  /**
   * Waits up to `timeoutMs` (default 5000) for the task: `{ ok: value }`
   * when it replied, `{ exit: reason }` when it ended without a reply, and
   * `undefined` when it is still running (it keeps running, and can be
   * awaited or yielded again). Rejects with a {@linkcode NoConnectionError}
   * if its node went down, or the start error.
   */
  static yield<T>(
    task: Task<T>,
    timeoutMs = 5000,
  ): Promise<TaskResult<T> | undefined> {
    return yieldTask(task, timeoutMs);
  }

  /**
   * Stops the task: unlinks it, sends it a `shutdown` exit signal and waits
   * up to `mode` ms (default 5000) before killing it — or kills it at once
   * with `"brutal_kill"`. Resolves with `{ ok: value }` if it replied
   * meanwhile, `{ exit: reason }` if it had ended for another reason, or
   * `undefined` once it is shut down.
   */
  static shutdown<T>(
    task: Task<T>,
    mode: ShutdownMode = 5000,
  ): Promise<TaskResult<T> | undefined> {
    return shutdownTask(task, mode);
  }

  /**
   * Awaits several tasks with one deadline (Elixir's `Task.await_many`):
   * the results in order, or the first failure; on a timeout or failure the
   * tasks still running are dropped as {@linkcode Task.await} does.
   */
  static awaitMany<T>(
    tasks: readonly Task<T>[],
    timeoutMs = 5000,
  ): Promise<T[]> {
    return awaitMany(tasks, timeoutMs);
  }
}

function internal(task: Task<unknown>): Internal {
  const i = internals.get(task);
  if (i === undefined) {
    throw new TypeError(
      "not a task: pass what Task.async or TaskSupervisor.async returned",
    );
  }
  return i;
}

function checkTimeout(ms: unknown, what: string): number {
  if (typeof ms !== "number" || Number.isNaN(ms) || ms < 0) {
    throw new TypeError(
      `${what}: the timeout must be a number of milliseconds ≥ 0 or Infinity, got ${
        String(ms)
      }`,
    );
  }
  return ms;
}

/** `[mod, fun, args]` as strings and an array, or a TypeError. @internal */
export function checkMfa(
  mod: unknown,
  fun: unknown,
  args: unknown,
  what: string,
): [string, string, unknown[]] {
  const isName = (x: unknown) => typeof x === "string" || x instanceof Atom;
  if (!isName(mod) || !isName(fun) || !Array.isArray(args)) {
    throw new TypeError(
      `${what} takes a function, or a module name, a function name and an array of arguments (e.g. "Elixir.Chat", "receive_message", ["hi"])`,
    );
  }
  return [String(mod), String(fun), args];
}

function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  if (!Number.isFinite(ms)) return p;
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    p.then((v) => {
      clearTimeout(timer);
      resolve(v);
    });
  });
}

function describeTask(task: Task<unknown>): string {
  const pid = task.pid;
  return `task ${task.label}${pid ? ` ${pid}` : ""} on ${task.node}`;
}

/** The error an await gives for an outcome that is not a result. */
function failure(task: Task<unknown>, i: Internal, o: Outcome): Error {
  if (o.kind === "error") return o.error;
  const reason = o.kind === "exit" ? o.reason : undefined;
  const start = i.startFailure?.(reason);
  if (start) return start;
  if (reason === A.noconnection) {
    return new NoConnectionError(task.node, describeTask(task));
  }
  const err = new ExitError(reason, describeTask(task));
  if (i.entry.cause !== undefined) {
    Object.defineProperty(err, "cause", {
      value: i.entry.cause,
      configurable: true,
      writable: true,
    });
  }
  return err;
}

/** Drops a task after an await gave up on it; kills it if linked. */
function abandon(task: Task<unknown>, i: Internal): void {
  i.hub.forget(
    i.entry,
    new Error(
      `${
        describeTask(task)
      } was given up on when an earlier await timed out; its result is gone`,
    ),
  );
  if (task.linked) {
    if (i.entry.pid !== undefined) killLinked(i, i.entry.pid);
    // else: killed when its pid comes (see taskStarted).
  }
}

function killLinked(i: Internal, pid: Pid): void {
  const node = i.hub.node;
  node.unlinkFrom(i.owner, pid);
  node.exitFrom(i.owner, pid, A.kill);
}

async function awaitTask<T>(task: Task<T>, timeoutMs: number): Promise<T> {
  const i = internal(task);
  checkTimeout(timeoutMs, "Task.await");
  const o = i.entry.outcome ?? await within(i.entry.settled, timeoutMs);
  if (o === undefined) {
    abandon(task, i);
    throw new TimeoutError(
      `${describeTask(task)} did not reply within ${timeoutMs} ms${
        task.linked ? "; it was killed" : ""
      } (give Task.await a larger timeout, or use Task.yield to keep waiting)`,
    );
  }
  if (o.kind === "ok") return o.value as T;
  throw failure(task, i, o);
}

async function yieldTask<T>(
  task: Task<T>,
  timeoutMs: number,
): Promise<TaskResult<T> | undefined> {
  const i = internal(task);
  checkTimeout(timeoutMs, "Task.yield");
  const o = i.entry.outcome ?? await within(i.entry.settled, timeoutMs);
  if (o === undefined) return undefined;
  return resultOf(task, i, o);
}

function resultOf<T>(
  task: Task<T>,
  i: Internal,
  o: Outcome,
): TaskResult<T> {
  if (o.kind === "ok") return { ok: o.value as T };
  if (o.kind === "exit" && o.reason !== A.noconnection) {
    const start = i.startFailure?.(o.reason);
    if (start) throw start;
    return { exit: o.reason };
  }
  throw failure(task, i, o);
}

async function shutdownTask<T>(
  task: Task<T>,
  mode: ShutdownMode,
): Promise<TaskResult<T> | undefined> {
  const i = internal(task);
  if (mode !== "brutal_kill") checkTimeout(mode, "Task.shutdown");
  if (i.entry.outcome === undefined) await i.started;
  const e = i.entry;
  if (e.outcome === undefined && e.pid !== undefined) {
    const node = i.hub.node, pid = e.pid;
    if (task.linked) node.unlinkFrom(i.owner, pid);
    node.exitFrom(
      i.owner,
      pid,
      mode === "brutal_kill" ? A.kill : A.shutdown,
    );
    let o = await within(
      e.settled,
      mode === "brutal_kill" ? Infinity : mode,
    );
    if (o === undefined) {
      node.exitFrom(i.owner, pid, A.kill);
      o = await e.settled;
    }
  }
  const o = e.outcome!;
  e.abandoned = true;
  if (
    o.kind === "exit" && (o.reason === A.shutdown || o.reason === A.killed)
  ) return undefined;
  return resultOf(task, i, o);
}

async function awaitMany<T>(
  tasks: readonly Task<T>[],
  timeoutMs: number,
): Promise<T[]> {
  checkTimeout(timeoutMs, "Task.awaitMany");
  const list = tasks.map((t) => [t, internal(t)] as const);
  const dropRest = () => {
    for (const [t, i] of list) if (i.entry.outcome === undefined) abandon(t, i);
  };
  const all = Promise.all(list.map(async ([t, i]) => {
    const o = await i.entry.settled;
    if (o.kind === "ok") return o.value as T;
    throw failure(t, i, o);
  }));
  all.catch(() => {});
  const r = await within(all.then((v) => ({ v }), (e) => ({ e })), timeoutMs);
  if (r === undefined) {
    dropRest();
    throw new TimeoutError(
      `Task.awaitMany: ${
        list.filter(([, i]) => i.entry.outcome === undefined).length
      } of ${list.length} tasks did not reply within ${timeoutMs} ms`,
    );
  }
  if ("e" in r) {
    dropRest();
    throw r.e;
  }
  return r.v;
}

// ---------------------------------------------------------------- internals for TaskSupervisor

/** The `$callers` to send with a task started by `owner`. @internal */
export function callersFor(owner: Process): Pid[] {
  const up = callersOf.get(owner);
  return up ? [owner.pid, ...up] : [owner.pid];
}

/** Records the `$callers` of a task process. @internal */
export function setCallers(p: Process, callers: unknown): void {
  if (Array.isArray(callers)) {
    callersOf.set(p, callers.filter((c) => c instanceof Pid) as Pid[]);
  }
}

/**
 * Starts a local task: `run` in a new process spawned by `spawner` (the
 * owner, or a task supervisor), linked to the owner when `link`. @internal
 */
export function startLocalTask<T>(
  node: Node,
  owner: Process,
  spawner: Process,
  run: () => T | Promise<T>,
  options: {
    label: string;
    link: boolean;
    onSpawn?: (p: Process) => void;
  },
): Task<Awaited<T>> {
  const hub = hubFor(node);
  const entry = hub.newTask(false);
  const callers = callersFor(owner);
  const proc: Process = node.spawnLocal(spawner, async () => {
    callersOf.set(proc, callers);
    let v: unknown;
    try {
      v = await run();
    } catch (err) {
      entry.cause = err;
      throw err;
    }
    if (proc.alive) hub.reply(entry, v);
  }, {
    link: spawner === owner ? options.link : true,
    label: options.label,
  });
  if (spawner !== owner && options.link) node.linkFrom(owner, proc.pid);
  options.onSpawn?.(proc);
  const task = new Task<Awaited<T>>({
    owner,
    node: node.name,
    label: options.label,
    linked: options.link,
    hub,
    entry,
  });
  hub.watch(entry, proc.pid);
  internals.get(task)!.markStarted();
  return task;
}

/** A task whose start is on its way (remote). @internal */
export function pendingTask(
  node: Node,
  owner: Process,
  where: string,
  label: string,
  link: boolean,
  alias: boolean,
  startFailure?: (reason: unknown) => Error | undefined,
): { task: Task<unknown>; hub: Hub; entry: TaskEntry } {
  const hub = hubFor(node);
  const entry = hub.newTask(alias);
  const task = new Task<unknown>({
    owner,
    node: where,
    label,
    linked: link,
    hub,
    entry,
  });
  internals.get(task)!.startFailure = startFailure;
  return { task, hub, entry };
}

/** The remote task's pid is known. @internal */
export function taskStarted(task: Task<unknown>, pid: Pid): void {
  const i = internal(task);
  i.entry.pid = pid;
  if (i.entry.abandoned && task.linked) killLinked(i, pid);
  i.markStarted();
}

/** The owner process of a task (for linking on start). @internal */
export function taskOwner(task: Task<unknown>): Process {
  return internal(task).owner;
}

/** Is `x` a 2-tuple `{noderl_task_not_started, Why, …}`? @internal */
export function notStartedReason(x: unknown): Tuple | undefined {
  return x instanceof Tuple && x.length >= 2 && x[0] === A.not_started
    ? x
    : undefined;
}
