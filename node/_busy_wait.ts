/**
 * Busy waiting, as the BEAM's schedulers do (`+sbwt`): after distribution
 * traffic the event loop keeps polling (a chain of `setImmediate`) for a
 * short while instead of sleeping, so the next packet is read as soon as it
 * arrives rather than after the OS wakes the process (on an idle virtual
 * machine that wake-up dominates a round trip: measured here, a bare-socket
 * ping-pong takes ~70 µs idle and ~16 µs busy). Bounded: the spin stops
 * `ms` after the last traffic. Default 1 ms on Node.js; 0 (off) on Deno,
 * whose event loop polls sockets less often while immediates are pending.
 * `NODERL_BUSY_WAIT_MS` sets the default.
 *
 * @module
 */
import process from "node:process";

let busyWaitMs = (() => {
  const raw = process.env.NODERL_BUSY_WAIT_MS ??
    process.env.NODERL_TASK_BUSY_WAIT_MS;
  const v = raw === undefined || raw === "" ? NaN : Number(raw);
  if (Number.isFinite(v) && v >= 0) return v;
  return "Deno" in globalThis ? 0 : 1;
})();
let spinUntil = 0;
let spinning = false;

function spin(): void {
  if (performance.now() < spinUntil) setImmediate(spin);
  else spinning = false;
}

/** Traffic happened: keep the event loop polling for a while. @internal */
export function keepPolling(): void {
  if (busyWaitMs <= 0) return;
  spinUntil = performance.now() + busyWaitMs;
  if (!spinning) {
    spinning = true;
    setImmediate(spin);
  }
}

/**
 * Sets how long (ms) the event loop keeps polling after distribution
 * traffic, as the BEAM's scheduler busy wait; 0 turns it off. Returns the
 * previous value.
 *
 * @example
 * ```ts
 * import { setBusyWait } from "./_busy_wait.ts";
 * const before = setBusyWait(0); // never spin
 * setBusyWait(before);
 * ```
 */
export function setBusyWait(ms: number): number {
  if (typeof ms !== "number" || !(ms >= 0) || !Number.isFinite(ms)) {
    throw new TypeError(
      `the busy wait is a number of ms ≥ 0 (0 turns it off), got ${String(ms)}`,
    );
  }
  const old = busyWaitMs;
  busyWaitMs = ms;
  return old;
}
