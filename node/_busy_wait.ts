/**
 * Busy waiting, as the BEAM's schedulers do (`+sbwt`): after distribution
 * traffic the event loop keeps polling (a chain of `setImmediate`) for a
 * short while instead of sleeping, so the next packet is read as soon as it
 * arrives rather than after the OS wakes the process (on an idle virtual
 * machine that wake-up dominates a round trip: measured here, a bare-socket
 * ping-pong takes ~70 µs idle and ~16 µs busy). Bounded: the spin stops
 * `ms` after the last traffic. Default 1 ms; `NODERL_BUSY_WAIT_MS` sets the
 * default, 0 turns it off. On Node.js the event loop spins (a chain of
 * `setImmediate`); on Deno, whose event loop polls sockets less often while
 * immediates are pending, a worker thread spins instead, and only after
 * small exchanges (bulk transfers keep the process busy anyway).
 *
 * @module
 */
import process from "node:process";
import { Worker } from "node:worker_threads";

let busyWaitMs = (() => {
  const raw = process.env.NODERL_BUSY_WAIT_MS ??
    process.env.NODERL_TASK_BUSY_WAIT_MS;
  const v = raw === undefined || raw === "" ? NaN : Number(raw);
  if (Number.isFinite(v) && v >= 0) return v;
  return 1;
})();
const isDeno = "Deno" in globalThis;
let spinUntil = 0;
let spinning = false;

function spin(): void {
  if (performance.now() < spinUntil) setImmediate(spin);
  else spinning = false;
}

// Deno's event loop polls sockets less often while immediates are pending,
// so there a worker thread spins instead, keeping the CPU awake while the
// main thread sleeps in its poll (the wake-up is what costs). It sleeps on a
// futex between bursts and never keeps the process alive.
let spinner: { until: Float64Array; flag: Int32Array } | undefined;
const SPINNER = `
const { parentPort } = require("node:worker_threads");
parentPort.once("message", (sab) => {
  const until = new Float64Array(sab, 0, 1), flag = new Int32Array(sab, 8, 1);
  for (;;) {
    Atomics.wait(flag, 0, 0);
    while (performance.timeOrigin + performance.now() < until[0]) {}
    Atomics.store(flag, 0, 0);
  }
});`;

function spinInWorker(): void {
  if (spinner === undefined) {
    const sab = new SharedArrayBuffer(16);
    spinner = {
      until: new Float64Array(sab, 0, 1),
      flag: new Int32Array(sab, 8, 1),
    };
    const w = new Worker(SPINNER, { eval: true });
    w.postMessage(sab);
    w.unref();
  }
  spinner.until[0] = performance.timeOrigin + performance.now() + busyWaitMs;
  if (Atomics.load(spinner.flag, 0) === 0) {
    Atomics.store(spinner.flag, 0, 1);
    Atomics.notify(spinner.flag, 0);
  }
}

/**
 * Traffic happened: keep the event loop polling for a while. `bytes` is how
 * much moved: bulk transfers keep a process busy anyway, so on Deno, where
 * spinning takes a core from the two here, only small exchanges spin.
 * @internal
 */
export function keepPolling(bytes = 0): void {
  if (busyWaitMs <= 0) return;
  if (isDeno) {
    if (bytes <= 4096) spinInWorker();
    return;
  }
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
