/**
 * The functions code runs inside a process — `self()`, `send()`,
 * `receive()`, `puts()` … — as Elixir's `Kernel` and `Process` have them.
 * Outside any process (a script's top level) they act through the default
 * node's shell process: the first node started in this OS process that is
 * still running.
 *
 * @example
 * ```ts
 * import { startRegistry } from "./registry.ts";
 * import { startNode } from "./node.ts";
 * import { atom, tuple, Tuple } from "./terms.ts";
 * import { receive, self, send, spawn } from "./process_api.ts";
 * import assert from "node:assert/strict";
 *
 * const registry = await startRegistry({ port: 0 });
 * const node = await startNode({ name: "doc@localhost", cookie: "c", registryPort: registry.port });
 * const pid = spawn(async () => {
 *   const [, from] = await receive((m) => m instanceof Tuple && m[0] === atom("hi")) as Tuple;
 *   send(from as never, atom("sup?"));
 * });
 * send(pid, tuple(atom("hi"), self()));
 * assert.equal(await receive(undefined, 1000), atom("sup?"));
 * await node.stop();
 * await registry.close();
 * ```
 *
 * @module
 */
import { processContext, runningNodes } from "./_context.ts";
import { ExitError } from "./errors.ts";
import { type Destination, Node, type SpawnOptions } from "./node.ts";
import type { Process } from "./process.ts";
import type { Atom, Pid, Ref } from "./terms.ts";

/** The default node: the first started in this OS process that still runs. */
export function defaultNode(): Node {
  const n = runningNodes[0] as Node | undefined;
  if (n === undefined) {
    throw new Error(
      "no node is running in this process: start one with startNode({ name }) first",
    );
  }
  return n;
}

function here(): [Node, Process] {
  const p = processContext.getStore();
  if (p !== undefined) {
    const n = Node.ownerOf(p);
    if (n !== undefined) return [n, p];
  }
  const n = defaultNode();
  return [n, n.shell];
}

/** The node the calling code runs on. */
export function currentNode(): Node {
  return here()[0];
}

/** The pid of the calling process (the shell's outside any process). */
export function self(): Pid {
  return here()[1].pid;
}

/**
 * Sends `message` to a pid, a registered name, `[name, node]` or an alias.
 * Like Erlang's `send`, it never fails for a dead or unreachable target.
 */
export function send(dest: Destination, message: unknown): void {
  const [n, p] = here();
  if (!p.alive) throw new ExitError(p.exitReason, `${p.pid} cannot send`);
  n.sendFrom(p, dest, message);
}

/**
 * Takes the first message in the calling process's mailbox that `matcher`
 * accepts (any, without one), waiting for it. Rejects with a
 * `TimeoutError` after `timeoutMs` (default: wait forever), and with an
 * `ExitError` if the process is killed while waiting.
 */
export function receive(
  matcher?: (message: unknown) => boolean,
  timeoutMs?: number,
): Promise<unknown> {
  return here()[1].receive(matcher, timeoutMs);
}

/** Removes and returns every message in the calling process's mailbox (`flush()`). */
export function flush(): unknown[] {
  return here()[1].drain(() => true);
}

/** Writes `text` and a newline to the calling process's group leader. */
export function puts(text: string): void {
  const [n, p] = here();
  n.putChars(p, `${text}\n`);
}

/** Ends the calling process with `reason` (Erlang's `exit/1`): it throws. */
export function exit(reason: unknown): never;
/** Sends an exit signal to `pid` (Erlang's `exit/2`, Elixir's `Process.exit/2`). */
export function exit(pid: Pid, reason: unknown): void;
export function exit(a: unknown, reason?: unknown): void {
  if (arguments.length < 2) throw new ExitError(a);
  const [n, p] = here();
  n.exitFrom(p, a as Pid, reason);
}

/** Links the calling process to `pid`. */
export function link(pid: Pid): void {
  const [n, p] = here();
  n.linkFrom(p, pid);
}

/** Removes the link between the calling process and `pid`. */
export function unlink(pid: Pid): void {
  const [n, p] = here();
  n.unlinkFrom(p, pid);
}

/** Monitors a pid, a registered name or `[name, node]`; returns the reference. */
export function monitor(
  target: Pid | string | Atom | readonly [string | Atom, string | Atom],
): Ref {
  const [n, p] = here();
  return n.monitorFrom(p, target);
}

/** Removes a monitor (with `flush`, also a DOWN already in the mailbox). */
export function demonitor(ref: Ref, flush = false): boolean {
  const [n, p] = here();
  return n.demonitorFrom(p, ref, flush);
}

/** Reads, and with `flag` sets, whether the calling process traps exits. */
export function trapExit(flag?: boolean): boolean {
  const p = here()[1];
  const old = p.trapExit;
  if (flag !== undefined) p.trapExit = flag;
  return old;
}

/** Spawns a process on the calling process's node. */
export function spawn(fn: () => unknown, options?: SpawnOptions): Pid {
  const [n, p] = here();
  return n.spawnLocal(p, fn, options).pid;
}

/** Spawns a process linked to the calling one. */
export function spawnLink(fn: () => unknown): Pid {
  return spawn(fn, { link: true });
}

/** Spawns a monitored process; returns its pid and the monitor reference. */
export function spawnMonitor(fn: () => unknown): [Pid, Ref] {
  const [n, p] = here();
  const ref = n.makeRef();
  const child = n.spawnLocal(p, fn, { monitor: true, monitorRef: ref });
  return [child.pid, ref];
}

/** Registers `pid` (default: the calling process) under `name`. */
export function register(name: string | Atom, pid?: Pid): void {
  const [n, p] = here();
  n.register(name, pid ?? p.pid);
}

/** The pid registered as `name` on the calling node, if any. */
export function whereis(name: string | Atom): Pid | undefined {
  return here()[0].whereis(name);
}

/** Removes a registered name on the calling node; whether it was registered. */
export function unregister(name: string | Atom): boolean {
  return here()[0].unregister(name);
}

/** The names registered on the calling node (Elixir's `Process.registered/0`). */
export function registered(): string[] {
  return here()[0].registered();
}

/**
 * Whether a process of the calling node is alive (Elixir's
 * `Process.alive?/1`). As on the BEAM it takes local pids only: to learn
 * when a remote process ends, `monitor` it.
 */
export function isAlive(pid: Pid): boolean {
  const n = here()[0];
  if (pid.node !== n.name) {
    throw new TypeError(
      `isAlive takes a pid of this node (${n.name}), got one of ${pid.node}: monitor a remote process to learn when it ends`,
    );
  }
  return n.isAlive(pid);
}

/** A new unique reference. */
export function makeRef(): Ref {
  return here()[0].makeRef();
}

/** GenServer-style call from the calling process; see {@linkcode Node.genCall}. */
export function genCall(
  dest: Destination,
  request: unknown,
  timeoutMs = 5000,
): Promise<unknown> {
  const [n, p] = here();
  return n.genCallFrom(p, dest, request, timeoutMs);
}

/** Answers a `$gen_call` request; `from` is the `{Pid, Tag}` it carried. */
export function reply(from: unknown, value: unknown): void {
  const [n, p] = here();
  n.replyFrom(p, from, value);
}

/** The calling process's group leader. */
export function groupLeader(): Pid {
  return here()[1].groupLeader;
}

/**
 * Returns `fn` bound to the calling process: wherever it is called later —
 * a timer, an event listener, another library's callback — its code runs as
 * this process (`self()`, `send`, `receive` act for it). Awaits already keep
 * the process; plain callbacks handed to Node do not on Node 20 and 22, so
 * wrap them. If the process has ended, the function still runs, as a
 * process that can no longer send or receive.
 *
 * @example
 * ```ts
 * import { startRegistry } from "./registry.ts";
 * import { startNode } from "./node.ts";
 * import { atom, tuple } from "./terms.ts";
 * import { bindProcess, receive, self, send, spawn } from "./process_api.ts";
 * import assert from "node:assert/strict";
 *
 * const registry = await startRegistry({ port: 0 });
 * const node = await startNode({ name: "bind@localhost", cookie: "c", registryPort: registry.port });
 * const parent = self();
 * const child = spawn(async () => {
 *   // A timer's callback, bound: it sends as the child.
 *   setTimeout(bindProcess(() => send(parent, tuple(atom("tick"), self()))), 10);
 *   await receive(undefined, 1000).catch(() => {});
 * });
 * assert.deepEqual(await receive(undefined, 1000), tuple(atom("tick"), child));
 * await node.stop();
 * await registry.close();
 * ```
 */
export function bindProcess<A extends unknown[], R>(
  fn: (...args: A) => R,
): (...args: A) => R {
  const p = here()[1];
  return (...args: A): R => processContext.run(p, () => fn(...args));
}

/**
 * Sends `message` to `dest` after `ms` milliseconds, as Elixir's
 * `Process.send_after/3`: from the calling process (or the shell, if that
 * has ended by then). Returns the timer's reference for
 * {@linkcode cancelTimer} and {@linkcode readTimer}. Unlike a plain
 * `setTimeout`, it needs no `bindProcess`. Timers end with their node.
 *
 * @example
 * ```ts
 * import { startRegistry } from "./registry.ts";
 * import { startNode } from "./node.ts";
 * import { atom } from "./terms.ts";
 * import { cancelTimer, receive, self, sendAfter } from "./process_api.ts";
 * import assert from "node:assert/strict";
 *
 * const registry = await startRegistry({ port: 0 });
 * const node = await startNode({ name: "timer@localhost", cookie: "c", registryPort: registry.port });
 * sendAfter(self(), atom("tick"), 10);
 * assert.equal(await receive(undefined, 1000), atom("tick"));
 * const ref = sendAfter(self(), atom("never"), 60_000);
 * assert.ok((cancelTimer(ref) as number) > 59_000); // the milliseconds it had left
 * assert.equal(cancelTimer(ref), false); // no longer pending
 * await node.stop();
 * await registry.close();
 * ```
 */
export function sendAfter(
  dest: Destination,
  message: unknown,
  ms: number,
): Ref {
  const [n, p] = here();
  return n.sendAfterFrom(p, dest, message, ms);
}

/**
 * Cancels a `sendAfter` timer: the milliseconds it had left, or `false` if
 * it already fired or was cancelled (Erlang's `cancel_timer/1`).
 */
export function cancelTimer(ref: Ref): number | false {
  return here()[0].cancelTimer(ref);
}

/** The milliseconds left on a `sendAfter` timer, or `false` (Erlang's `read_timer/1`). */
export function readTimer(ref: Ref): number | false {
  return here()[0].readTimer(ref);
}

/**
 * Waits `ms` milliseconds (Elixir's `Process.sleep/1`); `Infinity` waits
 * forever. The calling process stays itself after it, as after any await.
 */
export function sleep(ms: number): Promise<void> {
  if (typeof ms !== "number" || !(ms >= 0)) {
    return Promise.reject(
      new RangeError(
        `sleep: the time must be a number of milliseconds ≥ 0 or Infinity, got ${
          String(ms)
        }`,
      ),
    );
  }
  const p = processContext.getStore();
  if (p?.suspended !== undefined) {
    // Sent on a busy connection: sleep once it has drained.
    return p.suspended.then(() => sleep(ms));
  }
  if (ms === Infinity) return new Promise<void>(() => {});
  // sleep(0) yields to the event loop: setImmediate costs microseconds
  // where a zero timer costs a millisecond (two on Deno).
  if (ms === 0) return new Promise<void>((resolve) => setImmediate(resolve));
  return new Promise<void>((resolve) => setTimeout(resolve, ms));
}
