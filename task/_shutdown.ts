/**
 * How a supervisor stops a child, shared by `Supervisor` (one child after
 * the other, in reverse start order) and `TaskSupervisor` (all at once, as
 * a `DynamicSupervisor`): OTP's `supervisor:shutdown/2` — monitor, unlink,
 * a `shutdown` exit signal (or `kill` for `brutal_kill`), then wait for the
 * DOWN, killing the child when its shutdown time is up. Internal.
 *
 * @module
 */
import type { Node } from "../node/node.ts";
import type { Process } from "../node/process.ts";
import { A, isTuple } from "../node/_atoms.ts";
import { Atom, type Pid, Ref } from "../node/terms.ts";

/**
 * How a child is stopped: a `shutdown` exit signal and this many ms before
 * it is killed, `"infinity"` to wait for it, or `"brutal_kill"`.
 */
export type Shutdown = number | "brutal_kill" | "infinity";

/** A worker's shutdown when its spec or options give none (ms). @internal */
export const DEFAULT_SHUTDOWN = 5000;

/**
 * Checks a shutdown value; a RangeError says what it may be. Atoms (from the
 * wire) count as their names. @internal
 */
export function checkShutdown(s: unknown, what: string): Shutdown {
  const v = s instanceof Atom ? s.name : s;
  if (
    v === "brutal_kill" || v === "infinity" ||
    (typeof v === "number" && v >= 0)
  ) return v;
  throw new RangeError(
    `${what}: shutdown must be a number of ms ≥ 0, "infinity" or "brutal_kill", got ${
      String(s)
    }`,
  );
}

/** A shutdown from the wire: `nil` (or nothing) is the default. @internal */
export function shutdownOfTerm(x: unknown, what: string): Shutdown {
  return x === null || x === undefined
    ? DEFAULT_SHUTDOWN
    : checkShutdown(x, what);
}

/** A shutdown as a term: the number, or the atom. @internal */
export function shutdownTerm(s: Shutdown): number | Atom {
  return typeof s === "number" ? s : Atom.of(s);
}

/**
 * Waits for the DOWN of monitor `mref`. It is called right after the
 * monitor is set up and before the exit signal goes, so a DOWN delivered
 * at once is not missed. @internal
 */
export type AwaitDown = (mref: Ref) => Promise<unknown>;

/** {@linkcode AwaitDown} for a process with a mailbox: a selective receive. @internal */
export function receiveDown(p: Process): AwaitDown {
  return (mref) => p.receive((m) => isTuple(m, A.DOWN, 5) && mref.equals(m[1]));
}

/**
 * {@linkcode AwaitDown} for a handler process (no mailbox): its handler
 * hands every message to {@linkcode DownWaiters.take} first. @internal
 */
export class DownWaiters {
  private readonly waiting = new Map<string, () => void>();

  /** Resolves when the DOWN of `mref` comes to {@linkcode DownWaiters.take}. */
  readonly wait: AwaitDown = (mref) =>
    new Promise<void>((resolve) => this.waiting.set(mref.key, resolve));

  /** Takes `m` if it is a DOWN someone waits for. */
  take(m: unknown): boolean {
    if (!isTuple(m, A.DOWN, 5) || !(m[1] instanceof Ref)) return false;
    const key = m[1].key;
    const w = this.waiting.get(key);
    if (w === undefined) return false;
    this.waiting.delete(key);
    w();
    return true;
  }
}

/**
 * Stops child `pid` of supervisor process `sup` as `shutdown` says, and
 * resolves once it is gone (the supervisor's `EXIT` messages from it, if
 * any came, are dropped). A local child already gone resolves at once.
 * @internal
 */
export async function shutdownChild(
  node: Node,
  sup: Process,
  pid: Pid,
  shutdown: Shutdown,
  awaitDown: AwaitDown,
): Promise<void> {
  try {
    if (pid.node === node.name && !node.isAlive(pid)) {
      node.unlinkFrom(sup, pid);
      return;
    }
    const mref = node.monitorFrom(sup, pid);
    node.unlinkFrom(sup, pid);
    const down = awaitDown(mref);
    node.exitFrom(sup, pid, shutdown === "brutal_kill" ? A.kill : A.shutdown);
    if (typeof shutdown !== "number") {
      await down;
      return;
    }
    const killer = setTimeout(() => node.exitFrom(sup, pid, A.kill), shutdown);
    try {
      await down;
    } finally {
      clearTimeout(killer);
    }
  } finally {
    sup.drain((m) => isTuple(m, A.EXIT, 3) && pid.equals(m[1]));
  }
}
