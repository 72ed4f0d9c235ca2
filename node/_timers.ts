/**
 * A node's timers: `erlang:send_after/3`, `cancel_timer/1`, `read_timer/1`.
 * Each timer is keyed by its reference; a node's stop clears them all.
 *
 * @module
 */
import { A } from "./_atoms.ts";
import { describeDest, type Destination, isDestination } from "./_dest.ts";
import { ExitError } from "./errors.ts";
import type { Process } from "./process.ts";
import type { Ref } from "./terms.ts";

/** What the timers need of their node. */
export interface TimerHost {
  makeRef(): Ref;
  readonly shell: Process;
  readonly isStopped: boolean;
  sendFrom(from: Process, dest: Destination, message: unknown): void;
  log(message: string): void;
}

/** The pending `sendAfter` timers of one node. */
export class Timers {
  private readonly pending = new Map<
    string,
    { timer: ReturnType<typeof setTimeout>; due: number }
  >();

  constructor(private readonly node: TimerHost) {}

  /**
   * Sends `message` to `dest` in `ms` milliseconds, from `from` (or the
   * node's shell, if `from` has ended by then); returns the timer's ref.
   */
  sendAfter(
    from: Process,
    dest: Destination,
    message: unknown,
    ms: number,
  ): Ref {
    if (typeof ms !== "number" || !(ms >= 0) || ms > 0x7fffffff) {
      throw new RangeError(
        `sendAfter: the delay must be a number of milliseconds from 0 to 2147483647, got ${
          String(ms)
        }`,
      );
    }
    if (!isDestination(dest)) {
      throw new TypeError(
        `sendAfter: cannot send to ${
          String(dest)
        }: a destination is a Pid, a registered name, [name, node] or an alias Ref`,
      );
    }
    const node = this.node;
    const ref = node.makeRef();
    const timer = setTimeout(() => {
      this.pending.delete(ref.key);
      if (node.isStopped) return;
      try {
        node.sendFrom(from.alive ? from : node.shell, dest, message);
      } catch (e) {
        // A name nobody holds when the timer fires: dropped, as the BEAM does.
        if (e instanceof ExitError && e.reason === A.badarg) return;
        node.log(
          `sendAfter to ${describeDest(dest)} dropped its message: ${
            (e as Error).message
          }`,
        );
      }
    }, ms);
    this.pending.set(ref.key, { timer, due: performance.now() + ms });
    return ref;
  }

  /** Cancels a timer: the milliseconds it had left, or false. */
  cancel(ref: Ref): number | false {
    const t = this.pending.get(ref.key);
    if (t === undefined) return false;
    clearTimeout(t.timer);
    this.pending.delete(ref.key);
    return Math.max(0, Math.round(t.due - performance.now()));
  }

  /** The milliseconds left on a timer, or false if it is not pending. */
  read(ref: Ref): number | false {
    const t = this.pending.get(ref.key);
    return t === undefined
      ? false
      : Math.max(0, Math.round(t.due - performance.now()));
  }

  /** Cancels every timer (the node stops). */
  clear(): void {
    for (const t of this.pending.values()) clearTimeout(t.timer);
    this.pending.clear();
  }
}
