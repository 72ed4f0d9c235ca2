/**
 * The task hub: one handler process per node that every task, task
 * supervisor and supervisor call of that node goes through. It owns the
 * aliases replies come to and the monitors DOWN messages come to, so many
 * tasks and calls can be awaited at once without touching the caller's
 * mailbox, and a timed-out await can drop everything it made. Internal.
 *
 * @module
 */
import type { Node } from "../node/node.ts";
import type { Process } from "../node/process.ts";
import { A } from "../node/_atoms.ts";
import { ExitError } from "../node/errors.ts";
import { type Atom, type Pid, Ref, Tuple } from "../node/terms.ts";
import type { CallTarget } from "../node/_gen_call.ts";
import { askProtocol } from "./_one_round_trip.ts";

// The busy wait lives in the node layer: every connection keeps polling
// after traffic, which covers task requests and replies.
import { setBusyWait } from "../node/_busy_wait.ts";
export { setBusyWait };

/** How a task ended, as the hub saw it. @internal */
export type Outcome =
  | { kind: "ok"; value: unknown }
  | { kind: "exit"; reason: unknown }
  | { kind: "error"; error: Error };

/** The hub's record of one task. @internal */
export interface TaskEntry {
  /** The reply tag: replies `{Tag, Result}` come to the hub's pid. */
  tag: Ref;
  tagKey: string;
  /** The monitor on the task process, once there is one (may be `tag`). */
  mref: Ref | undefined;
  mrefKey: string | undefined;
  /** The task's pid once known. */
  pid: Pid | undefined;
  /** How it ended, once known. */
  outcome: Outcome | undefined;
  /** Called once with the outcome. */
  listeners: Array<(o: Outcome) => void> | undefined;
  /** An await gave up on it or it was shut down: ignore what comes. */
  abandoned: boolean;
  /** The JS error a local task threw, kept as the await error's cause. */
  cause?: unknown;
}

/** Calls `cb` with the entry's outcome: now if known, else once it is. @internal */
export function onSettled(e: TaskEntry, cb: (o: Outcome) => void): void {
  if (e.outcome !== undefined) cb(e.outcome);
  else (e.listeners ??= []).push(cb);
}

/**
 * The outcome, or `undefined` after `ms` (no timer for `Infinity`): one
 * promise and one timer, nothing else. @internal
 */
export function outcomeWithin(
  e: TaskEntry,
  ms: number,
): Promise<Outcome | undefined> {
  if (e.outcome !== undefined) return Promise.resolve(e.outcome);
  return new Promise((resolve) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (Number.isFinite(ms)) timer = setTimeout(() => resolve(undefined), ms);
    onSettled(e, (o) => {
      if (timer !== undefined) clearTimeout(timer);
      resolve(o);
    });
  });
}

/** Where a call can go: a pid, a local name, or `[name, node]`. */
export type { CallTarget };

const hubs = new WeakMap<Node, Hub>();

/** The hub of `node`, started on first use. @internal */
export function hubFor(node: Node): Hub {
  let h = hubs.get(node);
  if (h === undefined || !h.process.alive) {
    if (!node.shell.alive) {
      throw new Error(
        `node ${node.name} is stopped: start a node to run tasks on`,
      );
    }
    h = new Hub(node);
    hubs.set(node, h);
  }
  return h;
}

/** Counts of what the hub of `node` holds (for tests). @internal */
export function hubStats(
  node: Node,
): { entries: number; aliases: number; monitors: number; calls: number } {
  const h = hubs.get(node);
  if (!h) return { entries: 0, aliases: 0, monitors: 0, calls: 0 };
  return {
    entries: h.taskCount(),
    aliases: h.process.aliases.size,
    monitors: h.process.monitoring.size,
    calls: node.calls.size,
  };
}

/** The per-node hub. @internal */
export class Hub {
  readonly node: Node;
  readonly process: Process;
  /** Task entries by reply-tag key and by monitor key. */
  private readonly tasks = new Map<string, TaskEntry>();
  /** Peers known to speak noderl's one-round-trip task protocol. */
  private readonly fastPeers = new Map<string, Promise<boolean>>();
  /** The same, once answered. */
  private readonly fastKnown = new Map<string, boolean>();
  private readonly onNodedown = (peer: string) => {
    this.fastPeers.delete(peer);
    this.fastKnown.delete(peer);
  };

  constructor(node: Node) {
    this.node = node;
    const p = node.spawnLocal(
      node.shell,
      () => new Promise<void>(() => {}),
      { label: "task hub" },
    );
    this.process = p;
    p.handler = (m) => this.handle(m);
    node.on("nodedown", this.onNodedown);
    p.exited.then((reason) => this.died(reason));
  }

  taskCount(): number {
    return new Set(this.tasks.values()).size;
  }

  // ------------------------------------------------------------ messages

  private handle(m: unknown): void {
    if (!(m instanceof Tuple)) return;
    if (m.length === 2) {
      const tag = m[0];
      if (tag instanceof Ref) {
        const e = this.tasks.get(tag.key);
        if (e !== undefined) this.reply(e, m[1]);
        return;
      }
      return;
    }
    if (m.length === 5 && m[0] === A.DOWN && m[1] instanceof Ref) {
      const key = m[1].key;
      const e = this.tasks.get(key);
      if (e !== undefined) {
        this.down(e, m[4]);
        return;
      }
    }
  }

  private died(reason: unknown): void {
    this.node.off("nodedown", this.onNodedown);
    for (const e of new Set(this.tasks.values())) {
      this.settle(e, {
        kind: "error",
        error: new ExitError(reason, `${this.node.name} stopped`),
      });
    }
    this.tasks.clear();
  }

  // ------------------------------------------------------------ calls

  /**
   * A GenServer-style call made by the hub: `{Tag, {HubPid, [alias|A]},
   * request}` (Tag `$gen_call`, or `system` for sys messages). Resolves with
   * the reply; rejects with `noproc`, `noconnection`, the server's exit
   * reason, or a TimeoutError. With `untilDown` (a sys `terminate`, as
   * `proc_lib:stop`) it resolves with the exit reason once the process is
   * down.
   */
  call(
    target: CallTarget,
    request: unknown,
    options: { timeoutMs?: number; tag?: Atom; untilDown?: boolean } = {},
  ): Promise<unknown> {
    return this.node.genCallFrom(
      this.process,
      target,
      request,
      options.timeoutMs,
      { tag: options.tag, untilDown: options.untilDown },
    );
  }

  // ------------------------------------------------------------ tasks

  /** A new task entry whose replies are tagged `tag` (default: a new reference). */
  newTask(tag: Ref = this.node.makeRef()): TaskEntry {
    const tagKey = tag.key;
    const e: TaskEntry = {
      tag,
      tagKey,
      mref: undefined,
      mrefKey: undefined,
      pid: undefined,
      outcome: undefined,
      listeners: undefined,
      abandoned: false,
    };
    this.tasks.set(tagKey, e);
    return e;
  }

  /** Monitors the task process `pid` from the hub. */
  watch(e: TaskEntry, pid: Pid): void {
    e.pid = pid;
    if (e.outcome !== undefined && e.outcome.kind !== "ok") return;
    if (pid.node === this.node.name && !this.node.isAlive(pid)) {
      // Gone already: the DOWN would come before we knew its reference.
      this.down(e, A.noproc);
      return;
    }
    this.expectDown(e, this.node.monitorFrom(this.process, pid));
  }

  /** Matches DOWN messages with reference `mref` to the task. */
  expectDown(e: TaskEntry, mref: Ref, mrefKey: string = mref.key): void {
    e.mref = mref;
    e.mrefKey = mrefKey;
    this.tasks.set(mrefKey, e);
  }

  /** The task's result came. */
  reply(e: TaskEntry, value: unknown): void {
    if (e.outcome !== undefined) return;
    // The monitor stays until the DOWN (the task exits right after replying).
    if (e.mrefKey !== e.tagKey) this.tasks.delete(e.tagKey);
    this.settle(e, { kind: "ok", value });
  }

  /** The task process ended (or could not be monitored). */
  down(e: TaskEntry, reason: unknown): void {
    this.drop(e);
    this.settle(e, { kind: "exit", reason });
  }

  /** The task could not be started. */
  fail(e: TaskEntry, error: Error): void {
    this.drop(e, true);
    this.settle(e, { kind: "error", error });
  }

  /**
   * Forgets a task: demonitors (dropping a DOWN already here), ignores
   * whatever comes later, and settles it with `error`.
   */
  forget(e: TaskEntry, error: Error): void {
    e.abandoned = true;
    this.drop(e, true);
    this.settle(e, { kind: "error", error });
  }

  private drop(e: TaskEntry, demonitor = false): void {
    this.tasks.delete(e.tagKey);
    if (e.mrefKey !== undefined) {
      this.tasks.delete(e.mrefKey);
      if (demonitor) this.node.demonitorFrom(this.process, e.mref!, true);
      e.mref = e.mrefKey = undefined;
    }
  }

  private settle(e: TaskEntry, o: Outcome): void {
    if (e.outcome !== undefined) return;
    e.outcome = o;
    const ls = e.listeners;
    if (ls === undefined) return;
    e.listeners = undefined;
    for (const l of ls) {
      try {
        l(o);
      } catch {
        // A listener's failure is its own.
      }
    }
  }

  // ------------------------------------------------------------ peers

  /**
   * Whether `peer` is a noderl node whose task supervisors take the
   * one-round-trip start (`_one_round_trip.ts`), asked once per connection.
   */
  fastPeer(peer: string): Promise<boolean> {
    let p = this.fastPeers.get(peer);
    if (p === undefined) {
      p = askProtocol(this.node, this.process, peer);
      p.then(
        (fast) => {
          if (this.fastPeers.get(peer) === p) this.fastKnown.set(peer, fast);
        },
        () => {
          if (this.fastPeers.get(peer) === p) this.fastPeers.delete(peer);
        },
      );
      this.fastPeers.set(peer, p);
    }
    return p;
  }

  /** Decides whether `peer` gets the one-round-trip start (tests use it to force Elixir's protocol). */
  setFastPeer(peer: string, fast: boolean): void {
    this.fastPeers.set(peer, Promise.resolve(fast));
    this.fastKnown.set(peer, fast);
  }

  /** What {@linkcode Hub.fastPeer} found for `peer`, if it has answered. */
  knownFast(peer: string): boolean | undefined {
    return this.fastKnown.get(peer);
  }
}
