/**
 * Task supervisors, as Elixir's `Task.Supervisor`: a supervisor of tasks,
 * started with none, that starts tasks on request — on this node, or on
 * another one given as `[name, node]`. It speaks Elixir 1.14's protocol on
 * the wire both ways, so an Elixir node can run
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
import type { Process } from "../node/process.ts";
import { ExitError } from "../node/errors.ts";
import { formatTerm } from "../node/format.ts";
import { currentNode } from "../node/process_api.ts";
import { Atom, Fun, Pid, Ref, Tuple, tuple } from "../node/terms.ts";
import { A, hubFor } from "./_hub.ts";
import {
  checkShutdown,
  type ChildCounts,
  type ChildSpec,
  countsFrom,
  isNormalExit,
  type Restart,
  type Shutdown,
  stopProcess,
  type SupervisorRef,
} from "./supervisor.ts";
import {
  callersFor,
  checkMfa,
  notStartedReason,
  ownerTuple,
  pendingTask,
  setCallers,
  startLocalTask,
  type Task,
  taskStarted,
  type TaskState,
} from "./task.ts";

/** Options of {@linkcode TaskSupervisor.start}. */
export interface TaskSupervisorOptions {
  /** Registers the supervisor under this name (exact atom text, e.g. `"Elixir.Chat.TaskSupervisor"`). */
  name?: string | Atom;
  /** How many tasks may run at once. Default: no limit. */
  maxChildren?: number;
  /** Restarts (of `permanent`/`transient` children) allowed in `maxSeconds`. Default 3. */
  maxRestarts?: number;
  /** Default 5. */
  maxSeconds?: number;
  /**
   * The restart of tasks started without one (`startChild` with no
   * `restart`, Elixir's `start_child` with none), as the `restart:` option
   * of Elixir's `Task.Supervisor.start_link`. Default `"temporary"`.
   */
  restart?: Restart;
  /**
   * Link the supervisor to the calling process. Default: true inside a
   * process (a parent supervisor), false outside any.
   */
  link?: boolean;
}

/** Options of {@linkcode TaskSupervisor.async} and `asyncNolink`. */
export interface AsyncOptions {
  /** The node to start from. Default: the calling process's, else the default node. */
  node?: Node;
  /** How the supervisor stops the task when it shuts down. Default 5000 ms. */
  shutdown?: Shutdown;
}

/** Options of {@linkcode TaskSupervisor.startChild}. */
export interface StartChildOptions extends AsyncOptions {
  /** Default `"temporary"`. */
  restart?: Restart;
}

/** Options of the calls that only ask a supervisor. */
export interface TaskSupervisorCallOptions {
  /** The node to call from. Default: the calling process's, else the default node. */
  node?: Node;
}

/**
 * A task supervisor could not start a task: it runs its `maxChildren`
 * tasks already.
 */
export class MaxChildrenError extends Error {
  /** The supervisor, as given. */
  readonly supervisor: string;
  /** Its limit, when known (noderl supervisors tell). */
  readonly maxChildren: number | undefined;
  /** `supervisor` as the caller gave it; `maxChildren` if known. */
  constructor(supervisor: string, maxChildren?: number) {
    super(
      `task supervisor ${supervisor} already runs its maximum of ${
        maxChildren ?? "max_children"
      } tasks: wait for some to finish, or start it with a larger maxChildren`,
    );
    this.name = "MaxChildrenError";
    this.supervisor = supervisor;
    this.maxChildren = maxChildren;
  }
}

interface ChildRec {
  pid: Pid;
  restart: Restart;
  shutdown: Shutdown;
  /** Starts the same task again (for restarts). */
  respawn: () => Process;
}

const servers = new WeakMap<Process, TaskSupervisorServer>();
const withModule = new WeakSet<Node>();

const RESTART = Atom.of("restart");

const isTuple = (m: unknown, tag: unknown, size: number): m is Tuple =>
  m instanceof Tuple && m.length === size && m[0] === tag;

function restartOf(x: unknown): Restart {
  const s = x === null || x === undefined ? "temporary" : String(x);
  if (s !== "temporary" && s !== "transient" && s !== "permanent") {
    throw new TypeError(
      `restart must be "temporary", "transient" or "permanent", got ${s}`,
    );
  }
  return s;
}

function shutdownOf(x: unknown): Shutdown {
  if (x === null || x === undefined) return 5000;
  if (x instanceof Atom) return checkShutdown(x.name, "task");
  return checkShutdown(x, "task");
}

/** Runs `{M, F, A}` (or a local closure as `{erlang, apply, [Fn, Args]}`). */
function runMfa(node: Node, mfa: unknown): unknown {
  if (!(mfa instanceof Tuple) || mfa.length !== 3 || !Array.isArray(mfa[2])) {
    throw new ExitError(
      tuple(Atom.of("badarg"), mfa),
      "a task needs {Module, Function, Args}",
    );
  }
  const [m, f, a] = mfa;
  if (m === A.erlang && f === A.apply && a.length === 2) {
    if (typeof a[0] === "function") {
      return (a[0] as (...x: unknown[]) => unknown)(
        ...(Array.isArray(a[1]) ? a[1] : []),
      );
    }
    if (a[0] instanceof Fun) {
      throw new ExitError(
        tuple(A.badfun, a[0]),
        "a BEAM closure cannot run on a noderl node: give module, function and args (defined with defineModule)",
      );
    }
  }
  return node.apply(String(m), String(f), a);
}

class TaskSupervisorServer {
  readonly children = new Map<string, ChildRec>();
  private restarts: number[] = [];
  /** The restart of tasks started without one. */
  defaultRestart: Restart = "temporary";
  private stopping = false;
  private readonly downs = new Map<string, (reason: unknown) => void>();

  constructor(
    readonly node: Node,
    readonly proc: Process,
    readonly display: string,
    readonly maxChildren: number,
    readonly maxRestarts: number,
    readonly maxSeconds: number,
    readonly parent: Pid | undefined,
  ) {}

  /** Why a new task cannot start now, or undefined. */
  refusal(): unknown {
    if (this.stopping || !this.proc.alive) return A.shutdown;
    if (this.children.size >= this.maxChildren) return A.max_children;
    return undefined;
  }

  /** Records a started child process. */
  add(
    p: Process,
    restart: Restart,
    shutdown: Shutdown,
    respawn: () => Process,
  ): void {
    this.children.set(p.pid.key, { pid: p.pid, restart, shutdown, respawn });
  }

  /** Takes a process spawned elsewhere (the one-round-trip start) as a child. */
  adopt(p: Process, shutdown: Shutdown): void {
    this.node.linkFrom(this.proc, p.pid);
    p.groupLeader = this.proc.groupLeader;
    this.add(p, "temporary", shutdown, () => p);
  }

  /** Spawns a task process linked to the supervisor. */
  spawn(label: string, fn: () => unknown): Process {
    return this.node.spawnLocal(this.proc, fn, { link: true, label });
  }

  handle(m: unknown): void {
    if (!(m instanceof Tuple)) return;
    if (isTuple(m, A.EXIT, 3) && m[1] instanceof Pid) {
      const [, from, reason] = m;
      if (this.parent !== undefined && this.parent.equals(from)) {
        this.stop(reason);
        return;
      }
      const c = this.children.get(from.key);
      if (c !== undefined) this.childExited(c, reason);
      return;
    }
    if (isTuple(m, A.DOWN, 5) && m[1] instanceof Ref) {
      const w = this.downs.get(m[1].key);
      if (w !== undefined) {
        this.downs.delete(m[1].key);
        w(m[4]);
      }
      return;
    }
    if (isTuple(m, A.gen_call, 3)) {
      this.call(m[1], m[2]);
      return;
    }
    if (isTuple(m, A.system, 3) && isTuple(m[2], A.terminate, 2)) {
      this.reply(m[1], A.ok); // as sys does; the caller waits for the DOWN
      this.stop(m[2][1]);
    }
  }

  private reply(from: unknown, value: unknown): void {
    try {
      this.node.replyFrom(this.proc, from, value);
    } catch {
      // A malformed From: nobody to answer.
    }
  }

  private call(from: unknown, req: unknown): void {
    if (isTuple(req, A.start_task, 4)) {
      this.reply(from, this.startTask(req[1], req[2], req[3]));
    } else if (req === A.which_children) {
      this.reply(
        from,
        [...this.children.values()].map((c) =>
          tuple(A.undefined, c.pid, A.worker, [A.TaskSupervised])
        ),
      );
    } else if (req === A.count_children) {
      const n = this.children.size;
      this.reply(from, [
        tuple(A.specs, n),
        tuple(A.active, n),
        tuple(A.supervisors, 0),
        tuple(A.workers, n),
      ]);
    } else if (isTuple(req, A.terminate_child, 2)) {
      const pid = req[1];
      const c = pid instanceof Pid ? this.children.get(pid.key) : undefined;
      if (c === undefined) {
        this.reply(from, tuple(A.error, A.not_found));
        return;
      }
      this.children.delete(c.pid.key);
      this.terminate([c]).then(() => this.reply(from, A.ok));
    } else {
      this.reply(from, tuple(A.error, tuple(Atom.of("bad_call"), req)));
    }
  }

  /** `{start_task, Args, Restart, Shutdown}` as Elixir's DynamicSupervisor. */
  private startTask(
    args: unknown,
    restart: unknown,
    shutdown: unknown,
  ): unknown {
    const unset = restart === null || restart === undefined;
    // Elixir 1.18's start_child first asks with no restart and `[Owner,
    // monitor]`; a supervisor whose default is not temporary answers
    // {restart, Default} and the caller asks again with it.
    if (unset && this.defaultRestart !== "temporary") {
      if (Array.isArray(args) && args.length === 2) {
        return tuple(RESTART, Atom.of(this.defaultRestart));
      }
    }
    const no = this.refusal();
    if (no !== undefined) return tuple(A.error, no);
    if (!Array.isArray(args)) return tuple(A.error, Atom.of("badarg"));
    let r: Restart, s: Shutdown;
    try {
      r = unset ? this.defaultRestart : restartOf(restart);
      s = shutdownOf(shutdown);
    } catch {
      return tuple(A.error, Atom.of("badarg"));
    }
    // async: [Owner, monitor | nomonitor] (Task.Supervised.reply/2)
    if (args.length === 2 && args[0] instanceof Tuple) {
      const owner = args[0], mode = args[1];
      const p = this.spawn(
        "Elixir.Task.Supervised.reply/2",
        () => this.replyTask(owner, mode === A.monitor),
      );
      this.add(p, r, s, () => p);
      return tuple(A.ok, p.pid);
    }
    // start_child: [Owner, Callers, {M, F, A}] (Task.Supervised.start_link/3)
    if (args.length === 3) {
      const [, callers, mfa] = args;
      const respawn = (): Process => {
        const p = this.spawn(
          mfa instanceof Tuple ? `${String(mfa[0])}.${String(mfa[1])}` : "task",
          () => {
            setCallers(this.node.current(), callers);
            return runMfa(this.node, mfa);
          },
        );
        this.add(p, r, s, respawn);
        return p;
      };
      return tuple(A.ok, respawn().pid);
    }
    return tuple(A.error, Atom.of("badarg"));
  }

  /**
   * The task side of `async` (Elixir's `Task.Supervised.reply/2`): wait up
   * to 5 s for `{OwnerPid, Ref, ReplyTo, Callers, MFA}` while monitoring the
   * owner, run MFA, send `{Ref, Result}` to `ReplyTo`.
   */
  private async replyTask(owner: Tuple, monitor: boolean): Promise<void> {
    const node = this.node, p = node.current();
    const ownerPid = owner[2];
    if (!(ownerPid instanceof Pid)) throw new ExitError(Atom.of("badarg"));
    const mref = monitor ? node.monitorFrom(p, ownerPid) : undefined;
    let m: Tuple;
    try {
      m = await p.receive(
        (x) =>
          x instanceof Tuple &&
          ((x.length === 5 && ownerPid.equals(x[0])) ||
            (mref !== undefined && isTuple(x, A.DOWN, 5) && mref.equals(x[1]))),
        monitor ? 5000 : undefined,
      ) as Tuple;
    } catch (e) {
      if (e instanceof ExitError) throw e;
      throw new ExitError(A.timeout);
    }
    if (m[0] === A.DOWN) throw new ExitError(tuple(A.shutdown, m[4]));
    if (mref !== undefined) node.demonitorFrom(p, mref, true);
    const [, ref, replyTo, callers, mfa] = m;
    setCallers(p, callers);
    const v = await runMfa(node, mfa);
    node.sendFrom(
      p,
      replyTo as Pid,
      tuple(ref, v === undefined ? A.ok : v),
    );
  }

  private childExited(c: ChildRec, reason: unknown): void {
    this.children.delete(c.pid.key);
    if (this.stopping) return;
    if (
      c.restart === "temporary" ||
      (c.restart === "transient" && isNormalExit(reason))
    ) return;
    const now = performance.now();
    this.restarts = this.restarts.filter((t) =>
      t > now - this.maxSeconds * 1000
    );
    this.restarts.push(now);
    if (this.restarts.length > this.maxRestarts) {
      this.stop(A.shutdown);
      return;
    }
    c.respawn();
  }

  /** Stops children as their shutdown says; resolves when all are gone. */
  private terminate(list: ChildRec[]): Promise<void> {
    const node = this.node, p = this.proc;
    return Promise.all(list.map((c) => {
      node.unlinkFrom(p, c.pid);
      if (!node.isAlive(c.pid)) return;
      return new Promise<void>((resolve) => {
        const mref = node.monitorFrom(p, c.pid);
        let timer: ReturnType<typeof setTimeout> | undefined;
        this.downs.set(mref.key, () => {
          if (timer !== undefined) clearTimeout(timer);
          resolve();
        });
        node.exitFrom(
          p,
          c.pid,
          c.shutdown === "brutal_kill" ? A.kill : A.shutdown,
        );
        if (typeof c.shutdown === "number") {
          timer = setTimeout(() => node.exitFrom(p, c.pid, A.kill), c.shutdown);
        }
      });
    })).then(() => {});
  }

  /** Stops every task, then the supervisor, with `reason`. */
  stop(reason: unknown): void {
    if (this.stopping) return;
    this.stopping = true;
    const all = [...this.children.values()];
    this.children.clear();
    this.terminate(all).then(() => this.node.terminate(this.proc, reason));
  }
}

/** Makes `noderl_task` (the one-round-trip start) callable on `node`. */
function ensureTaskModule(node: Node): void {
  if (withModule.has(node)) return;
  withModule.add(node);
  node.defineModule("noderl_task", {
    protocol: () => 1,
    /**
     * Runs in the process the caller's SPAWN_REQUEST made: joins the
     * supervisor (or exits `{noderl_task_not_started, Why}`), links to the
     * owner if asked, runs M:F(A) and sends `{Tag, Result}` to `ReplyTo`.
     */
    run(
      sup: unknown,
      owner: unknown,
      tag: unknown,
      replyTo: unknown,
      callers: unknown,
      m: unknown,
      f: unknown,
      args: unknown,
      link: unknown,
      shutdown: unknown,
    ): unknown {
      const p = node.current();
      const server = findServer(node, sup);
      if (server === undefined) {
        throw new ExitError(tuple(A.not_started, A.noproc));
      }
      const no = server.refusal();
      if (no !== undefined) {
        throw new ExitError(
          tuple(
            A.not_started,
            no,
            Number.isFinite(server.maxChildren)
              ? server.maxChildren
              : A.infinity,
          ),
        );
      }
      server.adopt(p, shutdownOf(shutdown));
      const ownerPid = owner instanceof Tuple ? owner[2] : undefined;
      if (link === true && ownerPid instanceof Pid) node.linkFrom(p, ownerPid);
      setCallers(p, callers);
      const reply = (v: unknown) =>
        node.sendFrom(
          p,
          replyTo as Pid,
          tuple(tag, v === undefined ? A.ok : v),
        );
      const v = node.apply(
        String(m),
        String(f),
        Array.isArray(args) ? args : [],
      );
      if (v instanceof Promise) return v.then(reply);
      reply(v);
    },
  });
}

function findServer(
  node: Node,
  sup: unknown,
): TaskSupervisorServer | undefined {
  const pid = sup instanceof Pid
    ? sup
    : typeof sup === "string" || sup instanceof Atom
    ? node.whereis(sup)
    : undefined;
  if (pid === undefined) return undefined;
  const p = node.processOf(pid);
  return p === undefined ? undefined : servers.get(p);
}

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
    const p = node.processOf(local);
    const server = p && servers.get(p);
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

function displayOf(sup: SupervisorRef): string {
  if (Array.isArray(sup)) return `{${String(sup[0])}, ${String(sup[1])}}`;
  return String(sup);
}

function noSupervisor(display: string, node: string): ExitError {
  return new ExitError(
    A.noproc,
    `no task supervisor ${display} is running on ${node} (start it with TaskSupervisor.start, or check the name: atoms are exact text, e.g. "Elixir.Chat.TaskSupervisor")`,
  );
}

/** Turns `{noderl_task_not_started, Why, Max}` from a remote start into an error. */
function startFailure(reason: unknown, s: TaskState): Error | undefined {
  const t = notStartedReason(reason);
  if (t === undefined) return undefined;
  const [sup, peer] = s.supervisor as [SupervisorRef, string];
  const display = displayOf(sup);
  if (t[1] === A.noproc) return noSupervisor(display, peer);
  if (t[1] === A.max_children) {
    return new MaxChildrenError(
      display,
      typeof t[2] === "number" ? t[2] : undefined,
    );
  }
  return new ExitError(t[1], `task supervisor ${display} on ${peer}`);
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
    ? 5000
    : checkShutdown(options.shutdown, what);
  const node = options.node ?? currentNode();
  const owner = node.current();
  const r = resolve(node, sup);
  let mfa: [string, string, unknown[]] | undefined;
  if (!closure) mfa = checkMfa(a, b, c, what);
  const label: string | [string, string, number] = closure
    ? (a as () => unknown).name || "anonymous fn"
    : [mfa![0], mfa![1], mfa![2].length];

  if (r.kind === "local") {
    const server = r.server;
    const no = server.refusal();
    if (no !== undefined) {
      const { task, state } = pendingTask(node, owner, node.name, label, link);
      state.hub.fail(
        state.entry,
        no === A.max_children
          ? new MaxChildrenError(displayOf(sup), server.maxChildren)
          : new ExitError(
            no,
            `task supervisor ${displayOf(sup)} is shutting down`,
          ),
      );
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
    state.hub.fail(state.entry, noSupervisor(displayOf(sup), node.name));
    return task;
  }
  if (closure && r.peer !== node.name) {
    throw new TypeError(
      `${what}: a closure cannot run on another node (${r.peer}); give module, function and args defined there with defineModule`,
    );
  }
  const { task, state } = pendingTask(node, owner, r.peer, label, link);
  state.startFailure = startFailure;
  state.supervisor = [sup, r.peer];
  const m = closure ? A.erlang : Atom.of(mfa![0]);
  const f = closure ? A.apply : Atom.of(mfa![1]);
  const args = closure ? [a, []] : mfa![2];
  const start = (fast: boolean) => {
    if (state.entry.abandoned) return; // an await gave up before the start began
    if (fast) startFast(task, state, r, m, f, args, link, shutdown);
    else startByCall(task, state, r, m, f, args, link, shutdown);
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

const MONITOR = { monitor: true } as const;

/**
 * The one-round-trip start on a noderl peer: a SPAWN_REQUEST of
 * `noderl_task:run`, whose request id is also the reply tag and the
 * monitor reference.
 */
function startFast(
  task: Task<unknown>,
  s: TaskState,
  r: Extract<Resolved, { kind: "call" }>,
  m: Atom,
  f: Atom,
  args: unknown[],
  link: boolean,
  shutdown: Shutdown,
): void {
  const hub = s.hub, node = hub.node, entry = s.entry;
  hub.expectDown(entry, entry.tag, entry.tagKey);
  node.spawnRequestFrom(
    hub.process,
    r.peer,
    "noderl_task",
    "run",
    [
      r.remoteSup,
      ownerTuple(node, s.owner),
      entry.tag,
      hub.process.pid,
      callersFor(s.owner),
      m,
      f,
      args,
      link,
      typeof shutdown === "number" ? shutdown : Atom.of(shutdown),
    ],
    MONITOR,
    (error, pid) => {
      if (pid !== undefined) taskStarted(task, pid);
      else {
        hub.fail(
          entry,
          error instanceof Error ? error : new Error(String(error)),
        );
      }
    },
    entry.tag,
  );
}

/**
 * Elixir's protocol: the `start_task` call, then link, monitor, and
 * `{OwnerPid, Tag, ReplyTo, Callers, {M, F, A}}` to the task, which
 * answers `{Tag, Result}` to ReplyTo (the hub).
 */
function startByCall(
  task: Task<unknown>,
  s: TaskState,
  r: Extract<Resolved, { kind: "call" }>,
  m: Atom,
  f: Atom,
  args: unknown[],
  link: boolean,
  shutdown: Shutdown,
): void {
  const hub = s.hub, node = hub.node, entry = s.entry, owner = s.owner;
  const display = displayOf(r.target);
  const mfa = () =>
    tuple(
      owner.pid,
      entry.tag,
      hub.process.pid,
      callersFor(owner),
      tuple(m, f, args),
    );
  hub.call(
    r.target,
    tuple(
      A.start_task,
      [ownerTuple(node, owner), A.monitor],
      A.temporary,
      shutdown === 5000
        ? A.nil
        : typeof shutdown === "number"
        ? shutdown
        : Atom.of(shutdown),
    ),
  ).then((reply) => {
    if (isTuple(reply, A.ok, 2) && reply[1] instanceof Pid) {
      const pid = reply[1];
      if (entry.abandoned) {
        // An await gave up before the start came back: a linked task is
        // killed (taskStarted), a nolink one runs, as it would in Elixir.
        if (!link) node.sendFrom(owner, pid, mfa());
        taskStarted(task, pid);
        return;
      }
      if (link) node.linkFrom(owner, pid);
      hub.watch(entry, pid);
      node.sendFrom(owner, pid, mfa());
      taskStarted(task, pid);
    } else if (isTuple(reply, A.error, 2) && reply[1] === A.max_children) {
      hub.fail(entry, new MaxChildrenError(display));
    } else {
      hub.fail(
        entry,
        new Error(
          `task supervisor ${display} did not start the task: ${
            formatTerm(reply)
          }`,
        ),
      );
    }
  }, (e) => {
    if (e instanceof ExitError && e.reason === A.noproc) {
      hub.fail(entry, noSupervisor(display, r.peer));
    } else hub.fail(entry, e instanceof Error ? e : new Error(String(e)));
  });
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
   * given. Rejects if the name is taken.
   */
  static start(
    node: Node,
    options: TaskSupervisorOptions = {},
  ): Promise<Pid> {
    const name = options.name === undefined ? undefined : String(options.name);
    const maxChildren = options.maxChildren ?? Infinity;
    const maxRestarts = options.maxRestarts ?? 3;
    const maxSeconds = options.maxSeconds ?? 5;
    if (
      maxChildren !== Infinity &&
      (!Number.isInteger(maxChildren) || maxChildren < 0)
    ) {
      return Promise.reject(
        new TypeError(`maxChildren must be an integer ≥ 0, got ${maxChildren}`),
      );
    }
    if (
      !Number.isInteger(maxRestarts) || maxRestarts < 0 || !(maxSeconds > 0)
    ) {
      return Promise.reject(
        new TypeError(
          `maxRestarts must be an integer ≥ 0 and maxSeconds a number > 0`,
        ),
      );
    }
    if (name !== undefined && node.whereis(name) !== undefined) {
      return Promise.reject(
        new Error(
          `cannot start task supervisor ${name}: the name is taken by ${
            node.whereis(name)
          } on ${node.name} (stop it first, or pick another name)`,
        ),
      );
    }
    const caller = node.current();
    const link = options.link ?? caller !== node.shell;
    const proc = node.spawnLocal(
      caller,
      () => new Promise<void>(() => {}),
      { link, label: name ?? "task supervisor" },
    );
    proc.trapExit = true;
    const server = new TaskSupervisorServer(
      node,
      proc,
      name ?? String(proc.pid),
      maxChildren,
      maxRestarts,
      maxSeconds,
      link ? caller.pid : undefined,
    );
    server.defaultRestart = restartOf(options.restart);
    proc.handler = (m) => server.handle(m);
    servers.set(proc, server);
    if (name !== undefined) node.register(name, proc.pid);
    ensureTaskModule(node);
    return Promise.resolve(proc.pid);
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
   * with its pid. `restart` (default: the supervisor's, `"temporary"`
   * unless it was started with another) can make the supervisor restart it.
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
      : restartOf(options.restart);
    const shutdown = options.shutdown === undefined
      ? 5000
      : checkShutdown(options.shutdown, what);
    const mfa = closure ? undefined : checkMfa(a, b, c, what);
    const owner = node.current();
    const display = displayOf(supervisor);
    const r = resolve(node, supervisor);
    if (r.kind === "noproc") throw noSupervisor(display, node.name);
    if (r.kind === "local") {
      const server = r.server;
      const restart = asked ?? server.defaultRestart;
      const no = server.refusal();
      if (no === A.max_children) {
        throw new MaxChildrenError(display, server.maxChildren);
      }
      if (no !== undefined) {
        throw new ExitError(no, `task supervisor ${display} is shutting down`);
      }
      const callers = callersFor(owner);
      const run = closure
        ? a as () => unknown
        : () => node.apply(mfa![0], mfa![1], mfa![2]);
      const label = closure
        ? (a as () => unknown).name || "anonymous fn"
        : `${mfa![0]}.${mfa![1]}/${mfa![2].length}`;
      const respawn = (): Process => {
        const p = server.spawn(label, () => {
          setCallers(node.current(), callers);
          return run();
        });
        server.add(p, restart, shutdown, respawn);
        return p;
      };
      return respawn().pid;
    }
    if (closure && r.peer !== node.name) {
      throw new TypeError(
        `${what}: a closure cannot run on another node (${r.peer}); give module, function and args defined there with defineModule`,
      );
    }
    const mfaTerm = closure
      ? tuple(A.erlang, A.apply, [a, []])
      : tuple(Atom.of(mfa![0]), Atom.of(mfa![1]), mfa![2]);
    let reply: unknown;
    // No restart asked: the supervisor's default (nil on the wire); an
    // Elixir 1.18 supervisor may answer {restart, Default}: ask again so.
    const ask = (restart: Atom | null) =>
      hubFor(node).call(
        r.target,
        tuple(
          A.start_task,
          [ownerTuple(node, owner), callersFor(owner), mfaTerm],
          restart,
          typeof shutdown === "number" ? shutdown : Atom.of(shutdown),
        ),
      );
    try {
      reply = await ask(asked === undefined ? A.nil : Atom.of(asked));
      if (isTuple(reply, RESTART, 2) && reply[1] instanceof Atom) {
        reply = await ask(Atom.of(restartOf(reply[1])));
      }
    } catch (e) {
      if (e instanceof ExitError && e.reason === A.noproc) {
        throw noSupervisor(display, r.peer);
      }
      throw e;
    }
    if (isTuple(reply, A.ok, 2) && reply[1] instanceof Pid) return reply[1];
    if (isTuple(reply, A.error, 2) && reply[1] === A.max_children) {
      throw new MaxChildrenError(display);
    }
    throw new Error(
      `task supervisor ${display} did not start the task: ${formatTerm(reply)}`,
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
        `which_children on ${displayOf(supervisor)} got ${formatTerm(r)}`,
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
      `terminate_child on ${displayOf(supervisor)} got ${formatTerm(r)}`,
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
        displayOf(supervisor),
        r.kind === "call" ? r.peer : node.name,
      );
    }
    throw e;
  }
}
