/**
 * The task supervisor process, as the `DynamicSupervisor` behind Elixir's
 * `Task.Supervisor`: started with no children, it starts tasks on request
 * — `{start_task, Args, Restart, Shutdown}` calls (Elixir's protocol, see
 * `_supervised.ts`), the one-round-trip start (`_one_round_trip.ts`) and
 * starts from this node — up to `maxChildren` at once; restarts
 * `transient` and `permanent` tasks within its restart intensity; answers
 * `which_children`, `count_children`, `terminate_child` and `sys`'s
 * `terminate`; and stops all its tasks at once when it stops. It is a
 * handler process (no mailbox loop). Internal.
 *
 * @module
 */
import {
  childRestarted,
  childTerminated,
  intensityReached,
} from "./_child_reports.ts";
import type { Node } from "../node/node.ts";
import type { Process } from "../node/process.ts";
import { A, isTuple } from "../node/_atoms.ts";
import { Atom, Pid, Tuple, tuple } from "../node/terms.ts";
import {
  checkRestart,
  type Restart,
  RestartIntensity,
  restarts,
} from "./_restart_intensity.ts";
import {
  DownWaiters,
  type Shutdown,
  shutdownChild,
  shutdownOfTerm,
} from "./_shutdown.ts";
import { noreply, replyTask, runMfa } from "./_supervised.ts";

interface ChildRec {
  pid: Pid;
  restart: Restart;
  shutdown: Shutdown;
  /** Starts the same task again (for restarts). */
  respawn: () => Process;
}

/** How {@linkcode TaskSupervisorServer.start} starts one. @internal */
export interface ServerOptions {
  /** Registered under this name, if given. */
  name: string | undefined;
  maxChildren: number;
  maxRestarts: number;
  maxSeconds: number;
  /** The restart of tasks started without one. */
  restart: Restart;
  /** Linked to the caller, which is then its parent. */
  link: boolean;
}

const servers = new WeakMap<Process, TaskSupervisorServer>();

/**
 * The task supervisor behind `sup` (a pid or a registered name) if it is
 * one of `node`'s. @internal
 */
export function serverOf(
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

/** A task supervisor process and its children. @internal */
export class TaskSupervisorServer {
  readonly children: Map<string, ChildRec> = new Map();
  private readonly intensity: RestartIntensity;
  private stopping = false;
  private readonly downs = new DownWaiters();

  private constructor(
    readonly node: Node,
    readonly proc: Process,
    readonly maxChildren: number,
    maxRestarts: number,
    maxSeconds: number,
    /** The restart of tasks started without one. */
    readonly defaultRestart: Restart,
    readonly parent: Pid | undefined,
  ) {
    this.intensity = new RestartIntensity(maxRestarts, maxSeconds);
  }

  /** Starts a task supervisor process on `node`, spawned by `caller`. */
  static start(
    node: Node,
    caller: Process,
    o: ServerOptions,
  ): TaskSupervisorServer {
    const proc = node.spawnLocal(
      caller,
      () => new Promise<void>(() => {}),
      { link: o.link, label: o.name ?? "task supervisor" },
    );
    proc.trapExit = true;
    const server = new TaskSupervisorServer(
      node,
      proc,
      o.maxChildren,
      o.maxRestarts,
      o.maxSeconds,
      o.restart,
      o.link ? caller.pid : undefined,
    );
    proc.handler = (m) => server.handle(m);
    servers.set(proc, server);
    if (o.name !== undefined) node.register(o.name, proc.pid);
    return server;
  }

  /** Why a new task cannot start now (`shutdown`, `max_children`), or undefined. */
  refusal(): Atom | undefined {
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

  /** Starts a child running `body`, started again as `restart` says. */
  startChild(
    label: string,
    body: () => unknown,
    restart: Restart,
    shutdown: Shutdown,
  ): Process {
    const respawn = (): Process => {
      const p = this.spawn(label, body);
      this.add(p, restart, shutdown, respawn);
      return p;
    };
    return respawn();
  }

  private handle(m: unknown): void {
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
    if (this.downs.take(m)) return;
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
      this.reply(from, tuple(A.error, tuple(A.bad_call, req)));
    }
  }

  /** `{start_task, Args, Restart, Shutdown}`, as Elixir's `DynamicSupervisor` takes it. */
  private startTask(
    args: unknown,
    restart: unknown,
    shutdown: unknown,
  ): unknown {
    const unset = restart === null || restart === undefined;
    // Elixir 1.18's start_child first asks with no restart and `[Owner,
    // monitor]`; a supervisor whose default is not temporary answers
    // {restart, Default} and the caller asks again with it.
    if (
      unset && this.defaultRestart !== "temporary" && Array.isArray(args) &&
      args.length === 2
    ) return tuple(A.restart, Atom.of(this.defaultRestart));
    const no = this.refusal();
    if (no !== undefined) return tuple(A.error, no);
    if (!Array.isArray(args)) return tuple(A.error, A.badarg);
    let r: Restart, s: Shutdown;
    try {
      r = unset
        ? this.defaultRestart
        : checkRestart(String(restart), "task", "temporary");
      s = shutdownOfTerm(shutdown, "task");
    } catch {
      return tuple(A.error, A.badarg);
    }
    const node = this.node;
    // async: [Owner, monitor | nomonitor] (Task.Supervised.reply/2)
    if (args.length === 2 && args[0] instanceof Tuple) {
      const owner = args[0], monitor = args[1] === A.monitor;
      const p = this.spawn(
        "Elixir.Task.Supervised.reply/2",
        () => replyTask(node, owner, monitor),
      );
      this.add(p, r, s, () => p);
      return tuple(A.ok, p.pid);
    }
    // start_child: [Owner, Callers, {M, F, A}] (Task.Supervised.noreply)
    if (args.length === 3) {
      const [, callers, mfa] = args;
      const p = this.startChild(
        mfa instanceof Tuple ? `${String(mfa[0])}.${String(mfa[1])}` : "task",
        noreply(node, callers, () => runMfa(node, mfa)),
        r,
        s,
      );
      return tuple(A.ok, p.pid);
    }
    return tuple(A.error, A.badarg);
  }

  private childExited(c: ChildRec, reason: unknown): void {
    this.children.delete(c.pid.key);
    const label = this.proc.registeredName ?? String(this.proc.pid);
    childTerminated(this.node, label, "a task", c.pid, reason, c.restart);
    if (this.stopping || !restarts(c.restart, reason)) return;
    if (!this.intensity.add()) {
      intensityReached(
        this.node,
        label,
        this.intensity.maxRestarts,
        this.intensity.maxSeconds,
      );
      this.stop(A.shutdown);
      return;
    }
    childRestarted(this.node, label, "a task", c.respawn().pid);
  }

  /** Stops children as their shutdown says, all at once; resolves when all are gone. */
  private terminate(list: ChildRec[]): Promise<void> {
    return Promise.all(
      list.map((c) =>
        shutdownChild(this.node, this.proc, c.pid, c.shutdown, this.downs.wait)
      ),
    ).then(() => {});
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
