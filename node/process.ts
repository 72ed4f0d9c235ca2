/**
 * A process: a pid, a mailbox with selective receive, links, monitors, a
 * group leader. Processes are created by a {@linkcode Node}; user code talks
 * to them through the functions in `process_api.ts`.
 *
 * @module
 */
import { ExitError, TimeoutError } from "./errors.ts";
import type { Pid, Ref } from "./terms.ts";

/** The mailbox of every process that has no message waiting (never written). */
const NO_MESSAGES: unknown[] = [];

/** The resolving functions of the promise last made by `capture`. */
let capturedResolve: (m: unknown) => void = () => {};
let capturedReject: (e: unknown) => void = () => {};
/** A promise executor that makes no closure per promise. */
function capture(
  resolve: (m: unknown) => void,
  reject: (e: unknown) => void,
): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

interface Waiter {
  matcher: ((m: unknown) => boolean) | undefined;
  resolve: (m: unknown) => void;
  reject: (e: unknown) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
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

/**
 * One process. Its mailbox keeps messages in arrival order; `receive` takes
 * the first one that matches, waiting for it if needed.
 */
export class Process {
  /** The process identifier. */
  readonly pid: Pid;
  /** Whether the process is still running. */
  alive = true;
  /** Whether exit signals become `{EXIT, From, Reason}` messages. */
  trapExit = false;
  /** Where this process's I/O goes. */
  groupLeader: Pid;
  // Links, monitors and aliases: most processes have none, so the tables
  // are made on first use (an idle process costs a few hundred bytes, not
  // a few kilobytes). Code that only reads them uses the `…IfAny` fields.
  /** The link table, if it was ever used. @internal */
  linksIfAny: Map<string, Pid> | undefined;
  /** The monitored-by table, if it was ever used. @internal */
  monitoredByIfAny: Map<string, MonitorEntry> | undefined;
  /** The monitoring table, if it was ever used. @internal */
  monitoringIfAny: Map<string, MonitoringEntry> | undefined;
  /** The alias set, if it was ever used. @internal */
  aliasesIfAny: Set<string> | undefined;
  /** Registered name, if any. */
  registeredName: string | undefined;
  /** The exit reason once the process has ended. */
  exitReason: unknown;
  /**
   * A native handler instead of a mailbox, for system processes.
   *
   * @internal
   */
  handler: MessageHandler | undefined;
  /**
   * A system process (net_kernel, rex, the I/O server …): a message its
   * handler fails on is logged and dropped; the process keeps running.
   */
  system = false;
  /** Replies to io requests we made and do not wait for (dropped on arrival). */
  ioRefs: Set<string> | undefined;
  /** The node that runs this process (set by the node). */
  owner: object | undefined;
  /** A label for error messages, e.g. the function's name. */
  label: string | undefined;
  /**
   * Set while the process is suspended because it sent on a busy
   * connection: its next `receive` (and `sleep`, call) waits for this.
   */
  suspended: Promise<void> | undefined;
  /** `{Module, Function, Arity}` it started with (`process_info(P, initial_call)`). */
  initialCall: unknown;
  /** Its process dictionary, as far as noderl keeps one (`$initial_call`, `$ancestors`). */
  dictionary: Map<unknown, unknown> | undefined;
  /** Messages delivered to it: reported as its reductions. */
  reductions = 0;

  /** The mailbox: the shared empty array until a message waits. */
  private queue: unknown[] = NO_MESSAGES;
  private head = 0;
  private waiter: Waiter | null = null;
  /** Further concurrent receives (JS code may await several at once). */
  private moreWaiters: Waiter[] | null = null;
  private exitedPromise: Promise<unknown> | undefined;
  private resolveExited: ((reason: unknown) => void) | undefined;

  /**
   * A process of pid `pid`; nodes make them.
   *
   * @internal
   */
  constructor(pid: Pid, groupLeader: Pid) {
    this.pid = pid;
    this.groupLeader = groupLeader;
  }

  /** Linked processes, by pid key. */
  get links(): Map<string, Pid> {
    return this.linksIfAny ??= new Map();
  }

  /**
   * Monitors on this process, by reference key.
   *
   * @internal
   */
  get monitoredBy(): Map<string, MonitorEntry> {
    return this.monitoredByIfAny ??= new Map();
  }

  /**
   * Monitors this process holds, by reference key.
   *
   * @internal
   */
  get monitoring(): Map<string, MonitoringEntry> {
    return this.monitoringIfAny ??= new Map();
  }

  /** Active aliases of this process (reference keys). */
  get aliases(): Set<string> {
    return this.aliasesIfAny ??= new Set();
  }

  /** Resolves with the exit reason when the process ends. */
  get exited(): Promise<unknown> {
    if (this.exitedPromise === undefined) {
      this.exitedPromise = this.alive
        ? new Promise((r) => (this.resolveExited = r))
        : Promise.resolve(this.exitReason);
    }
    return this.exitedPromise;
  }

  /** Number of messages waiting in the mailbox. */
  get messageCount(): number {
    return this.queue.length - this.head;
  }

  /** A copy of the messages waiting in the mailbox, oldest first. */
  messages(): unknown[] {
    return this.queue.slice(this.head);
  }

  /** Whether a receive is waiting (the process is idle). */
  get waiting(): boolean {
    return this.waiter !== null;
  }

  /** Puts a message in the mailbox (or hands it to a waiting receive). */
  deliver(message: unknown): void {
    if (!this.alive) return;
    this.reductions++;
    if (this.handler !== undefined) {
      this.handler(message, this);
      return;
    }
    const w = this.waiter;
    if (w !== null) {
      // The common case: one receive waiting.
      if (this.moreWaiters === null) {
        if (this.offer(w, message)) {
          this.waiter = null;
          return;
        }
      } else if (this.offerAll(message)) {
        return;
      }
    }
    if (this.queue === NO_MESSAGES) this.queue = [message];
    else this.queue.push(message);
  }

  /**
   * Hands `message` to waiter `w` if its matcher accepts it; a matcher that
   * throws fails that receive (and the message stays in the mailbox).
   */
  private offer(w: Waiter, message: unknown): boolean {
    let take = true;
    if (w.matcher !== undefined) {
      try {
        take = w.matcher(message);
      } catch (e) {
        this.removeWaiter(w);
        if (w.timer !== undefined) clearTimeout(w.timer);
        w.reject(e);
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
  private addWaiter(w: Waiter): void {
    if (this.waiter === null) this.waiter = w;
    else (this.moreWaiters ??= []).push(w);
  }

  /** Removes a waiting receive. */
  private removeWaiter(w: Waiter): void {
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
    const q = this.queue;
    for (let i = this.head; i < q.length; i++) {
      const m = q[i];
      let ok: boolean;
      try {
        ok = matcher === undefined || matcher(m);
      } catch (e) {
        return Promise.reject(e);
      }
      if (ok) {
        this.take(i);
        return Promise.resolve(m);
      }
    }
    if (timeoutMs !== undefined && timeoutMs <= 0) {
      return Promise.reject(this.timeoutError(0));
    }
    const promise = new Promise(capture);
    const w: Waiter = {
      matcher,
      resolve: capturedResolve,
      reject: capturedReject,
      timer: undefined,
    };
    if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
      w.timer = setTimeout(() => {
        this.removeWaiter(w);
        w.reject(this.timeoutError(timeoutMs));
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

  /** Takes message `i` out of the mailbox. */
  private take(i: number): void {
    if (i === this.head) {
      this.queue[i] = undefined;
      this.head++;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      } else if (this.head === this.queue.length) {
        this.queue.length = 0;
        this.head = 0;
      }
    } else {
      this.queue.splice(i, 1);
    }
  }

  /** Takes the oldest message without waiting; {@linkcode EMPTY} if there is none. */
  takeFirst(): unknown {
    if (this.head >= this.queue.length) return EMPTY;
    const m = this.queue[this.head];
    this.take(this.head);
    return m;
  }

  /** Removes every message `matcher` accepts; returns them. */
  drain(matcher: (m: unknown) => boolean): unknown[] {
    if (this.head === this.queue.length) return [];
    const kept: unknown[] = [], taken: unknown[] = [];
    for (let i = this.head; i < this.queue.length; i++) {
      const m = this.queue[i];
      (matcher(m) ? taken : kept).push(m);
    }
    this.queue = kept;
    this.head = 0;
    return taken;
  }

  /** Marks the process dead; fails a pending receive. Called by the node. */
  markExited(reason: unknown): void {
    this.alive = false;
    this.exitReason = reason;
    const waiting = this.waiter === null
      ? []
      : [this.waiter, ...(this.moreWaiters ?? [])];
    this.waiter = null;
    this.moreWaiters = null;
    this.queue = NO_MESSAGES;
    this.head = 0;
    if (waiting.length > 0) {
      // One error for the receives this process was waiting in, made
      // without a stack trace: its stack would be the node's, not the
      // process's, and capturing it was most of the cost of ending a
      // waiting process (a supervisor stopping thousands of them).
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 0;
      const error = new ExitError(reason, `${this.pid}`);
      Error.stackTraceLimit = limit;
      for (const w of waiting) {
        if (w.timer !== undefined) clearTimeout(w.timer);
        w.reject(error);
      }
    }
    this.resolveExited?.(reason);
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
    for (const w of waiting) {
      if (w.timer !== undefined) clearTimeout(w.timer);
      w.reject(error);
    }
  }
}
