/**
 * A process: a pid, a mailbox with selective receive, links, monitors, a
 * group leader. Processes are created by a {@linkcode Node}; user code talks
 * to them through the functions in `process_api.ts`.
 *
 * @module
 */
import { ExitError, TimeoutError } from "./errors.ts";
import type { Pid, Ref } from "./terms.ts";

/**
 * The messages of a process, oldest first from `head`: made when the first
 * message has to wait (most idle processes never need one).
 */
class Mailbox {
  items: unknown[];
  head = 0;
  constructor(first: unknown) {
    this.items = [first];
  }

  /** Messages waiting. */
  get size(): number {
    return this.items.length - this.head;
  }

  /** Takes message `i` out. */
  take(i: number): void {
    if (i === this.head) {
      this.items[i] = undefined;
      this.head++;
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      } else if (this.head === this.items.length) {
        this.items.length = 0;
        this.head = 0;
      }
    } else {
      this.items.splice(i, 1);
    }
  }
}

/** The resolve function of the promise last made by `capture`. */
let capturedResolve: (m: unknown) => void = () => {};
/**
 * A promise executor that makes no closure per promise. Only `resolve` is
 * kept: a receive fails by being resolved with a rejected promise, so its
 * `reject` function is garbage at once (56 bytes less per waiting receive).
 */
function capture(resolve: (m: unknown) => void): void {
  capturedResolve = resolve;
}

/** A waiting receive with a matcher or a timeout. */
interface Waiter {
  matcher: ((m: unknown) => boolean) | undefined;
  resolve: (m: unknown) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * A waiting receive: its promise's resolve function when it takes any
 * message and waits forever (the idle process: no object made for it).
 */
type Pending = Waiter | ((m: unknown) => void);

/** Fails the receive `w` with `error` (clearing its timer). */
function fail(w: Pending, error: unknown): void {
  if (typeof w === "function") {
    w(Promise.reject(error));
    return;
  }
  if (w.timer !== undefined) clearTimeout(w.timer);
  w.resolve(Promise.reject(error));
}

/**
 * A monitor someone holds on this process.
 *
 * @internal
 */
export interface MonitorEntry {
  ref: Ref;
  /** The watching process. */
  watcher: Pid;
  /** When the monitor was set up by name: the name, reported in DOWN. */
  name?: string;
}

/**
 * A monitor this process holds on another process or a node.
 *
 * @internal
 */
export interface MonitoringEntry {
  ref: Ref;
  target: Pid;
  /** Monitored by registered name `[name, node]`. */
  byName?: [string, string];
}

/** What {@linkcode Process.takeFirst} returns from an empty mailbox. */
export const EMPTY: unique symbol = Symbol("empty mailbox");

/**
 * How a handler process (a native one, no mailbox loop) takes messages.
 *
 * @internal
 */
export type MessageHandler = (message: unknown, process: Process) => void;

/** The exit reason of a process still running. */
const RUNNING: unique symbol = Symbol("running");

/** The fields of a process that most processes never use. */
class Rare {
  handler: MessageHandler | undefined = undefined;
  trapExit = false;
  system = false;
  registeredName: string | undefined = undefined;
  ioRefs: Set<string> | undefined = undefined;
  initialCall: unknown = undefined;
  dictionary: Map<unknown, unknown> | undefined = undefined;
  links: Map<string, Pid> | undefined = undefined;
  monitoredBy: Map<string, MonitorEntry> | undefined = undefined;
  monitoring: Map<string, MonitoringEntry> | undefined = undefined;
  aliases: Set<string> | undefined = undefined;
  /** Further concurrent receives (JS code may await several at once). */
  moreWaiters: Pending[] | null = null;
  suspended: Promise<void> | undefined = undefined;
  exitedPromise: Promise<unknown> | undefined = undefined;
  resolveExited: ((reason: unknown) => void) | undefined = undefined;
}

/**
 * One process. Its mailbox keeps messages in arrival order; `receive` takes
 * the first one that matches, waiting for it if needed.
 */
export class Process {
  /** The process identifier. */
  readonly pid: Pid;
  /**
   * The node that runs this process: kept on the prototype of its node's
   * process class (see {@linkcode Process.ofOwner}), not in each process.
   */
  declare readonly owner: object | undefined;
  /** Where this process's I/O goes. */
  groupLeader: Pid;
  /** A label for error messages, e.g. the function's name. */
  label: string | undefined;
  /** Messages delivered to it: reported as its reductions. */
  reductions = 0;

  /** The exit reason once ended; {@linkcode RUNNING} until then. */
  private exit: unknown = RUNNING;
  /** The mailbox: the shared empty array until a message waits. */
  private box: Mailbox | undefined = undefined;
  private waiter: Pending | null = null;
  // What most processes never use (links, monitors, a name, a handler,
  // trapping exits, a second receive …) lives in one object made on first
  // use, the mailbox too; the node is on the prototype: an idle process is
  // 8 fields, not 26 (~140 bytes less for each).
  private rare: Rare | undefined;

  /**
   * A process of pid `pid` run by `owner`; nodes make them.
   *
   * @internal
   */
  constructor(pid: Pid, groupLeader: Pid) {
    this.pid = pid;
    this.groupLeader = groupLeader;
  }

  /**
   * The class of the processes `owner` runs: they find their node on its
   * prototype.
   *
   * @internal
   */
  static ofOwner(
    owner: object,
  ): new (pid: Pid, groupLeader: Pid) => Process {
    class OwnedProcess extends Process {
      constructor(pid: Pid, groupLeader: Pid) {
        super(pid, groupLeader);
      }
    }
    Object.defineProperty(OwnedProcess.prototype, "owner", { value: owner });
    return OwnedProcess;
  }

  /** Whether the process is still running. */
  get alive(): boolean {
    return this.exit === RUNNING;
  }

  /** The exit reason once the process has ended. */
  get exitReason(): unknown {
    return this.exit === RUNNING ? undefined : this.exit;
  }

  /**
   * A native handler instead of a mailbox, for system processes.
   *
   * @internal
   */
  get handler(): MessageHandler | undefined {
    return this.rare?.handler;
  }
  /** @internal */
  set handler(h: MessageHandler | undefined) {
    if (h !== undefined || this.rare !== undefined) this.more().handler = h;
  }

  /** Further concurrent receives (JS code may await several at once). */
  private get moreWaiters(): Pending[] | null {
    return this.rare === undefined ? null : this.rare.moreWaiters;
  }
  private set moreWaiters(ws: Pending[] | null) {
    if (ws !== null || this.rare !== undefined) this.more().moreWaiters = ws;
  }

  /** The rarely used fields, made on first use. */
  private more(): Rare {
    return this.rare ??= new Rare();
  }

  /**
   * Set while the process is suspended because it sent on a busy
   * connection: its next `receive` (and `sleep`, call) waits for this.
   */
  get suspended(): Promise<void> | undefined {
    return this.rare?.suspended;
  }
  set suspended(until: Promise<void> | undefined) {
    if (until !== undefined || this.rare !== undefined) {
      this.more().suspended = until;
    }
  }

  /** Whether exit signals become `{EXIT, From, Reason}` messages. */
  get trapExit(): boolean {
    return this.rare !== undefined && this.rare.trapExit;
  }
  set trapExit(on: boolean) {
    if (on || this.rare !== undefined) this.more().trapExit = on;
  }

  /**
   * A system process (net_kernel, rex, the I/O server …): a message its
   * handler fails on is logged and dropped; the process keeps running.
   */
  get system(): boolean {
    return this.rare !== undefined && this.rare.system;
  }
  set system(on: boolean) {
    if (on || this.rare !== undefined) this.more().system = on;
  }

  /** Registered name, if any. */
  get registeredName(): string | undefined {
    return this.rare?.registeredName;
  }
  set registeredName(name: string | undefined) {
    if (name !== undefined || this.rare !== undefined) {
      this.more().registeredName = name;
    }
  }

  /** Replies to io requests we made and do not wait for (dropped on arrival). */
  get ioRefs(): Set<string> | undefined {
    return this.rare?.ioRefs;
  }
  set ioRefs(refs: Set<string> | undefined) {
    if (refs !== undefined || this.rare !== undefined) {
      this.more().ioRefs = refs;
    }
  }

  /** `{Module, Function, Arity}` it started with (`process_info(P, initial_call)`). */
  get initialCall(): unknown {
    return this.rare?.initialCall;
  }
  set initialCall(mfa: unknown) {
    if (mfa !== undefined || this.rare !== undefined) {
      this.more().initialCall = mfa;
    }
  }

  /** Its process dictionary, as far as noderl keeps one (`$initial_call`, `$ancestors`). */
  get dictionary(): Map<unknown, unknown> | undefined {
    return this.rare?.dictionary;
  }
  set dictionary(d: Map<unknown, unknown> | undefined) {
    if (d !== undefined || this.rare !== undefined) {
      this.more().dictionary = d;
    }
  }

  // Links, monitors and aliases: most processes have none, so the tables
  // are made on first use. Code that only reads them uses the `…IfAny`
  // getters.
  /** The link table, if it was ever used. @internal */
  get linksIfAny(): Map<string, Pid> | undefined {
    return this.rare?.links;
  }
  /** The monitored-by table, if it was ever used. @internal */
  get monitoredByIfAny(): Map<string, MonitorEntry> | undefined {
    return this.rare?.monitoredBy;
  }
  /** The monitoring table, if it was ever used. @internal */
  get monitoringIfAny(): Map<string, MonitoringEntry> | undefined {
    return this.rare?.monitoring;
  }
  /** The alias set, if it was ever used. @internal */
  get aliasesIfAny(): Set<string> | undefined {
    return this.rare?.aliases;
  }

  /** Linked processes, by pid key. */
  get links(): Map<string, Pid> {
    return this.more().links ??= new Map();
  }

  /**
   * Monitors on this process, by reference key.
   *
   * @internal
   */
  get monitoredBy(): Map<string, MonitorEntry> {
    return this.more().monitoredBy ??= new Map();
  }

  /**
   * Monitors this process holds, by reference key.
   *
   * @internal
   */
  get monitoring(): Map<string, MonitoringEntry> {
    return this.more().monitoring ??= new Map();
  }

  /** Active aliases of this process (reference keys). */
  get aliases(): Set<string> {
    return this.more().aliases ??= new Set();
  }

  /** Resolves with the exit reason when the process ends. */
  get exited(): Promise<unknown> {
    const r = this.more();
    if (r.exitedPromise === undefined) {
      r.exitedPromise = this.alive
        ? new Promise((resolve) => (r.resolveExited = resolve))
        : Promise.resolve(this.exitReason);
    }
    return r.exitedPromise;
  }

  /** Number of messages waiting in the mailbox. */
  get messageCount(): number {
    return this.box === undefined ? 0 : this.box.size;
  }

  /** A copy of the messages waiting in the mailbox, oldest first. */
  messages(): unknown[] {
    return this.box === undefined ? [] : this.box.items.slice(this.box.head);
  }

  /** Whether a receive is waiting (the process is idle). */
  get waiting(): boolean {
    return this.waiter !== null;
  }

  /** Puts a message in the mailbox (or hands it to a waiting receive). */
  deliver(message: unknown): void {
    if (!this.alive) return;
    this.reductions++;
    const r = this.rare;
    if (r !== undefined && r.handler !== undefined) {
      r.handler(message, this);
      return;
    }
    const w = this.waiter;
    if (w !== null) {
      // The common case: one receive waiting.
      if (this.moreWaiters === null) {
        if (typeof w === "function") {
          this.waiter = null;
          w(message);
          return;
        }
        if (this.offer(w, message)) {
          this.waiter = null;
          return;
        }
      } else if (this.offerAll(message)) {
        return;
      }
    }
    if (this.box === undefined) this.box = new Mailbox(message);
    else this.box.items.push(message);
  }

  /**
   * Hands `message` to waiter `w` if its matcher accepts it; a matcher that
   * throws fails that receive (and the message stays in the mailbox).
   */
  private offer(w: Pending, message: unknown): boolean {
    if (typeof w === "function") {
      w(message);
      return true;
    }
    let take = true;
    if (w.matcher !== undefined) {
      try {
        take = w.matcher(message);
      } catch (e) {
        this.removeWaiter(w);
        fail(w, e);
        return false;
      }
    }
    if (!take) return false;
    if (w.timer !== undefined) clearTimeout(w.timer);
    w.resolve(message);
    return true;
  }

  /** Offers `message` to each waiting receive in the order they started. */
  private offerAll(message: unknown): boolean {
    const all = [this.waiter!, ...this.moreWaiters!];
    for (const w of all) {
      if (this.offer(w, message)) {
        this.removeWaiter(w);
        return true;
      }
    }
    return false;
  }

  /** Adds a waiting receive. */
  private addWaiter(w: Pending): void {
    if (this.waiter === null) this.waiter = w;
    else (this.moreWaiters ??= []).push(w);
  }

  /** Removes a waiting receive. */
  private removeWaiter(w: Pending): void {
    if (this.waiter === w) {
      const more = this.moreWaiters;
      this.waiter = more !== null && more.length > 0 ? more.shift()! : null;
      if (more !== null && more.length === 0) this.moreWaiters = null;
    } else if (this.moreWaiters !== null) {
      const i = this.moreWaiters.indexOf(w);
      if (i >= 0) this.moreWaiters.splice(i, 1);
      if (this.moreWaiters.length === 0) this.moreWaiters = null;
    }
  }

  /**
   * Takes the first message that `matcher` accepts (any message without a
   * matcher), waiting up to `timeoutMs` (default: forever) for one. Several
   * receives may wait at once (JavaScript code can await concurrently): a
   * new message goes to the first of them, in the order they started, whose
   * matcher accepts it.
   */
  receive(
    matcher?: (m: unknown) => boolean,
    timeoutMs?: number,
  ): Promise<unknown> {
    if (this.suspended !== undefined) {
      // Sent on a busy connection: run again once it has drained.
      return this.suspended.then(() => this.receive(matcher, timeoutMs));
    }
    if (!this.alive) {
      return Promise.reject(
        new ExitError(this.exitReason, `${this.pid} cannot receive`),
      );
    }
    const box = this.box;
    if (box !== undefined) {
      const q = box.items;
      for (let i = box.head; i < q.length; i++) {
        const m = q[i];
        let ok: boolean;
        try {
          ok = matcher === undefined || matcher(m);
        } catch (e) {
          return Promise.reject(e);
        }
        if (ok) {
          box.take(i);
          return Promise.resolve(m);
        }
      }
    }
    if (timeoutMs !== undefined && timeoutMs <= 0) {
      return Promise.reject(this.timeoutError(0));
    }
    const promise = new Promise(capture);
    const forever = timeoutMs === undefined || !Number.isFinite(timeoutMs);
    if (matcher === undefined && forever) {
      this.addWaiter(capturedResolve);
      return promise;
    }
    const w: Waiter = { matcher, resolve: capturedResolve, timer: undefined };
    if (!forever) {
      w.timer = setTimeout(() => {
        this.removeWaiter(w);
        fail(w, this.timeoutError(timeoutMs!));
      }, timeoutMs);
    }
    this.addWaiter(w);
    return promise;
  }

  /** The error of a receive that waited `ms` in vain. */
  private timeoutError(ms: number): TimeoutError {
    return new TimeoutError(
      `receive in ${this.pid} timed out after ${ms} ms with ${this.messageCount} other message(s) waiting`,
    );
  }

  /** Takes the oldest message without waiting; {@linkcode EMPTY} if there is none. */
  takeFirst(): unknown {
    const box = this.box;
    if (box === undefined || box.size === 0) return EMPTY;
    const m = box.items[box.head];
    box.take(box.head);
    return m;
  }

  /** Removes every message `matcher` accepts; returns them. */
  drain(matcher: (m: unknown) => boolean): unknown[] {
    const box = this.box;
    if (box === undefined || box.size === 0) return [];
    const kept: unknown[] = [], taken: unknown[] = [];
    for (let i = box.head; i < box.items.length; i++) {
      const m = box.items[i];
      (matcher(m) ? taken : kept).push(m);
    }
    box.items = kept;
    box.head = 0;
    return taken;
  }

  /** Marks the process dead; fails a pending receive. Called by the node. */
  markExited(reason: unknown): void {
    this.exit = reason;
    const waiting = this.waiter === null
      ? []
      : [this.waiter, ...(this.moreWaiters ?? [])];
    this.waiter = null;
    this.moreWaiters = null;
    this.box = undefined;
    if (waiting.length > 0) {
      // One error for the receives this process was waiting in, made
      // without a stack trace: its stack would be the node's, not the
      // process's, and capturing it was most of the cost of ending a
      // waiting process (a supervisor stopping thousands of them).
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 0;
      const error = new ExitError(reason, `${this.pid}`);
      Error.stackTraceLimit = limit;
      for (const w of waiting) fail(w, error);
    }
    this.rare?.resolveExited?.(reason);
  }

  /**
   * Fails the pending receives with `error` without ending the process (the
   * shell process gets exit signals this way).
   */
  interrupt(error: Error): void {
    const waiting = this.waiter === null
      ? []
      : [this.waiter, ...(this.moreWaiters ?? [])];
    this.waiter = null;
    this.moreWaiters = null;
    for (const w of waiting) fail(w, error);
  }
}
