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
import { A } from "../node/_atoms.ts";
import { ExitError, NoConnectionError, TimeoutError } from "../node/errors.ts";
import { currentNode } from "../node/process_api.ts";
import { Atom, type Pid, type Ref } from "../node/terms.ts";
import {
  type Hub,
  hubFor,
  onSettled,
  type Outcome,
  outcomeWithin,
  setBusyWait,
  type TaskEntry,
} from "./_hub.ts";
import { callersFor, runLocalTask } from "./_supervised.ts";

/** Options of {@linkcode Task.async}. */
export interface TaskOptions {
  /**
   * The node to run on.
   * @default the calling process's node, else the default node (the first started in this OS process that still runs)
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

/** What a task runs, for its label: a function's name, or module/function/arity. */
type What = string | readonly [string, string, number];

/** A task's private state. @internal */
export interface TaskState {
  hub: Hub;
  entry: TaskEntry;
  owner: Process;
  what: What;
  /** Waiting for the pid (Task.shutdown during a remote start). */
  startWaiters: Array<() => void> | undefined;
  /** Turns a start failure reported in a DOWN into an error, if it is one. */
  startFailure: ((reason: unknown) => Error | undefined) | undefined;
}

let stateOf: (t: Task<unknown>) => TaskState;
let isTask: (t: unknown) => boolean;

/**
 * A running task: what {@linkcode Task.async} and `TaskSupervisor.async`
 * return. Pass it to {@linkcode Task.await}, {@linkcode Task.yield} or
 * {@linkcode Task.shutdown}.
 */
export class Task<T = unknown> {
  /** The process that started the task (it is linked to the task unless started with `asyncNolink`). */
  readonly owner: Pid;
  /** The reference the task's reply is tagged with. */
  readonly ref: Ref;
  /** The node the task runs on. */
  readonly node: string;
  /** Whether the task is linked to its owner. */
  readonly linked: boolean;
  readonly #state: TaskState;
  declare private readonly phantom?: T;

  /** @internal Tasks come from {@linkcode Task.async} and `TaskSupervisor`. */
  constructor(state: TaskState, node: string, linked: boolean) {
    this.owner = state.owner.pid;
    this.ref = state.entry.tag;
    this.node = node;
    this.linked = linked;
    this.#state = state;
  }

  static {
    stateOf = (t) => t.#state;
    isTask = (t) => typeof t === "object" && t !== null && #state in t;
  }

  /** The task's pid; `undefined` while a remote start is on its way. */
  get pid(): Pid | undefined {
    return this.#state.entry.pid;
  }

  /** What runs: `Mod.fun/arity`, or the function's name. */
  get label(): string {
    const w = this.#state.what;
    return typeof w === "string" ? w : `${w[0]}.${w[1]}/${w[2]}`;
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
        what: a.name || "anonymous fn",
        link: true,
      });
    }
    const [mod, fun, args] = checkMfa(a, b, c, "Task.async");
    return startLocalTask(
      node,
      owner,
      owner,
      () => node.apply(mod, fun, args),
      { what: [mod, fun, args.length], link: true },
    );
  }

  /**
   * Waits for the task's result, up to `timeoutMs` (default 5000;
   * `Infinity` waits forever). Rejects with:
   * - a {@linkcode TimeoutError} when the time is up — the task's monitor
   *   and any late reply are dropped, and a linked task is killed (in
   *   Elixir the caller would exit and the link would take the task along);
   * - a {@linkcode NoConnectionError} when the task's node goes down;
   * - an {@linkcode ExitError} with the task's exit reason when it crashed
   *   (for a JS error: its message and stack; the error is the `cause`);
   * - the start error (`noproc`, `MaxChildrenError` …) when a supervisor
   *   could not start it.
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

function state(task: unknown, what: string): TaskState {
  if (!isTask(task)) {
    throw new TypeError(
      `${what}: not a task; pass what Task.async or TaskSupervisor.async returned`,
    );
  }
  return stateOf(task as Task<unknown>);
}

function checkTimeout(ms: unknown, what: string): number {
  if (typeof ms !== "number" || Number.isNaN(ms) || ms < 0) {
    throw new RangeError(
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

function describeTask(task: Task<unknown>): string {
  const pid = task.pid;
  return `task ${task.label}${pid ? ` ${pid}` : ""} on ${task.node}`;
}

/** The error an await gives for an outcome that is not a result. */
function failure(task: Task<unknown>, s: TaskState, o: Outcome): Error {
  if (o.kind === "error") return o.error;
  const reason = o.kind === "exit" ? o.reason : undefined;
  const start = s.startFailure?.(reason);
  if (start) return start;
  if (reason === A.noconnection) {
    return new NoConnectionError(task.node, describeTask(task));
  }
  const err = new ExitError(reason, describeTask(task));
  if (s.entry.cause !== undefined) {
    Object.defineProperty(err, "cause", {
      value: s.entry.cause,
      configurable: true,
      writable: true,
    });
  }
  return err;
}

/** Drops a task after an await gave up on it; kills it if linked. */
function abandon(task: Task<unknown>, s: TaskState): void {
  s.hub.forget(
    s.entry,
    new Error(
      `${
        describeTask(task)
      } was given up on when an earlier await timed out; its result is gone`,
    ),
  );
  // Without a pid yet, it is killed when its pid comes (see taskStarted).
  if (task.linked && s.entry.pid !== undefined) killLinked(s, s.entry.pid);
}

function killLinked(s: TaskState, pid: Pid): void {
  const node = s.hub.node;
  node.unlinkFrom(s.owner, pid);
  node.exitFrom(s.owner, pid, A.kill);
}

async function awaitTask<T>(task: Task<T>, timeoutMs: number): Promise<T> {
  const s = state(task, "Task.await");
  checkTimeout(timeoutMs, "Task.await");
  const o = await outcomeWithin(s.entry, timeoutMs);
  if (o === undefined) {
    abandon(task, s);
    throw new TimeoutError(
      `${describeTask(task)} did not reply within ${timeoutMs} ms${
        task.linked ? "; it was killed" : ""
      } (give Task.await a larger timeout, or use Task.yield to keep waiting)`,
    );
  }
  if (o.kind === "ok") return o.value as T;
  throw failure(task, s, o);
}

async function yieldTask<T>(
  task: Task<T>,
  timeoutMs: number,
): Promise<TaskResult<T> | undefined> {
  const s = state(task, "Task.yield");
  checkTimeout(timeoutMs, "Task.yield");
  const o = await outcomeWithin(s.entry, timeoutMs);
  if (o === undefined) return undefined;
  return resultOf(task, s, o);
}

function resultOf<T>(
  task: Task<T>,
  s: TaskState,
  o: Outcome,
): TaskResult<T> {
  if (o.kind === "ok") return { ok: o.value as T };
  if (o.kind === "exit" && o.reason !== A.noconnection) {
    const start = s.startFailure?.(o.reason);
    if (start) throw start;
    return { exit: o.reason };
  }
  throw failure(task, s, o);
}

function whenStarted(s: TaskState): Promise<void> {
  if (s.entry.pid !== undefined || s.entry.outcome !== undefined) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    (s.startWaiters ??= []).push(resolve);
    onSettled(s.entry, () => resolve());
  });
}

async function shutdownTask<T>(
  task: Task<T>,
  mode: ShutdownMode,
): Promise<TaskResult<T> | undefined> {
  const s = state(task, "Task.shutdown");
  if (mode !== "brutal_kill") checkTimeout(mode, "Task.shutdown");
  await whenStarted(s);
  const e = s.entry;
  if (e.outcome === undefined && e.pid !== undefined) {
    const node = s.hub.node, pid = e.pid;
    if (task.linked) node.unlinkFrom(s.owner, pid);
    node.exitFrom(s.owner, pid, mode === "brutal_kill" ? A.kill : A.shutdown);
    const o = await outcomeWithin(e, mode === "brutal_kill" ? Infinity : mode);
    if (o === undefined) {
      node.exitFrom(s.owner, pid, A.kill);
      await outcomeWithin(e, Infinity);
    }
  }
  const o = e.outcome!;
  e.abandoned = true;
  if (
    o.kind === "exit" && (o.reason === A.shutdown || o.reason === A.killed)
  ) return undefined;
  return resultOf(task, s, o);
}

function awaitMany<T>(
  tasks: readonly Task<T>[],
  timeoutMs: number,
): Promise<T[]> {
  let list: TaskState[];
  try {
    checkTimeout(timeoutMs, "Task.awaitMany");
    list = tasks.map((t) => state(t, "Task.awaitMany"));
  } catch (e) {
    return Promise.reject(e);
  }
  return new Promise((resolve, reject) => {
    const out = new Array<T>(list.length);
    let left = list.length, over = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = (e?: Error) => {
      over = true;
      if (timer !== undefined) clearTimeout(timer);
      if (e === undefined) return resolve(out);
      list.forEach((s, i) => {
        if (s.entry.outcome === undefined) abandon(tasks[i], s);
      });
      reject(e);
    };
    if (left === 0) return finish();
    if (Number.isFinite(timeoutMs)) {
      timer = setTimeout(() => {
        if (over) return;
        const pending = list.filter((s) => s.entry.outcome === undefined);
        finish(
          new TimeoutError(
            `Task.awaitMany: ${pending.length} of ${list.length} tasks did not reply within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
    }
    list.forEach((s, i) =>
      onSettled(s.entry, (o) => {
        if (over) return;
        if (o.kind !== "ok") return finish(failure(tasks[i], s, o));
        out[i] = o.value as T;
        if (--left === 0) finish();
      })
    );
  });
}

/**
 * Sets how long (ms) a node keeps polling after distribution traffic
 * instead of sleeping — the BEAM's scheduler busy wait (the same setting as
 * `setBusyWait` in `noderl/node`). It trades a little CPU right after
 * traffic for latency: the next reply or request is read as soon as it
 * arrives. Default 1 ms (the `NODERL_BUSY_WAIT_MS` environment variable
 * sets it). Returns the previous value.
 *
 * @example
 * ```ts
 * import { setTaskBusyWait } from "./task.ts";
 * const before = setTaskBusyWait(0); // never spin
 * setTaskBusyWait(before);
 * ```
 */
export function setTaskBusyWait(ms: number): number {
  return setBusyWait(ms);
}

// ---------------------------------------------------------------- internals for TaskSupervisor

function newState(
  hub: Hub,
  entry: TaskEntry,
  owner: Process,
  what: What,
): TaskState {
  return {
    hub,
    entry,
    owner,
    what,
    startWaiters: undefined,
    startFailure: undefined,
  };
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
    what: What;
    link: boolean;
    onSpawn?: (p: Process) => void;
  },
): Task<Awaited<T>> {
  const hub = hubFor(node);
  const entry = hub.newTask();
  const callers = callersFor(owner);
  const proc: Process = node.spawnLocal(
    spawner,
    () => runLocalTask(proc, hub, entry, callers, run),
    {
      link: spawner === owner ? options.link : true,
      label: typeof options.what === "string" ? options.what : undefined,
    },
  );
  if (spawner !== owner && options.link) node.linkFrom(owner, proc.pid);
  options.onSpawn?.(proc);
  hub.watch(entry, proc.pid);
  return new Task<Awaited<T>>(
    newState(hub, entry, owner, options.what),
    node.name,
    options.link,
  );
}

/**
 * A task whose start is on its way (remote). Its replies are tagged `tag`
 * (default: a new reference). @internal
 */
export function pendingTask(
  node: Node,
  owner: Process,
  where: string,
  what: What,
  link: boolean,
  tag?: Ref,
): { task: Task<unknown>; state: TaskState } {
  const hub = hubFor(node);
  const s = newState(hub, hub.newTask(tag), owner, what);
  return { task: new Task<unknown>(s, where, link), state: s };
}

/** The remote task's pid is known. @internal */
export function taskStarted(task: Task<unknown>, pid: Pid): void {
  const s = stateOf(task);
  s.entry.pid = pid;
  if (s.entry.abandoned && task.linked) killLinked(s, pid);
  const w = s.startWaiters;
  if (w !== undefined) {
    s.startWaiters = undefined;
    for (const f of w) f();
  }
}
