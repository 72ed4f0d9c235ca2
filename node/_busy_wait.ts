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
import { Worker } from "node:worker_threads";
import { optionalEnv } from "./_env.ts";

let busyWaitMs = (() => {
  const raw = optionalEnv("NODERL_BUSY_WAIT_MS") ??
    optionalEnv("NODERL_TASK_BUSY_WAIT_MS");
  const v = raw === undefined || raw === "" ? NaN : Number(raw);
  if (Number.isFinite(v) && v >= 0) return v;
  return 1;
})();
const isDeno = "Deno" in globalThis;
let spinUntil = 0;
let spinning = false;

// The busy wait adapts: spinning only helps when the answer comes while we
// spin. On a machine whose cores are all taken, the spin itself keeps the
// peer from running (a round trip then waits for time slices: measured here
// at load 10 on 2 cores, 2 ms instead of 30 µs), so a few spins in a row
// that end with nothing received turn it off for a while (see coolMs).
/** Something was received since the current spin began. */
let hit = false;
/** Spins in a row that ended with nothing received. */
let misses = 0;
/** No spinning before this time (ms, performance.now()). */
let coolUntil = 0;
const MISSES_TO_COOL = 3;
// How long spinning stays off backs off: a busy exchange that stalls now
// and then (a peer's garbage collection) loses little, a machine with no
// core to spare turns spinning off for longer and longer. A spin that
// helped starts the back-off over.
const COOL_MIN_MS = 5;
const COOL_MAX_MS = 200;
let coolMs = COOL_MIN_MS;

function spin(): void {
  if (performance.now() < spinUntil) {
    setImmediate(spin);
    return;
  }
  spinning = false;
  ended();
}

/** A spin period ended: count it as a hit or a miss. */
function ended(): void {
  if (hit) {
    misses = 0;
    coolMs = COOL_MIN_MS;
  } else if (++misses >= MISSES_TO_COOL) {
    misses = 0;
    coolUntil = performance.now() + coolMs;
    coolMs = Math.min(COOL_MAX_MS, coolMs * 2);
  }
  hit = false;
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

/** When the worker's current spin window ends (ms, performance.now()). */
let workerUntil = 0;

function spinInWorker(now: number, received: boolean): void {
  if (now < workerUntil) {
    if (received) hit = true;
  } else if (workerUntil > 0) ended();
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
  workerUntil = now + busyWaitMs;
  spinner.until[0] = performance.timeOrigin + workerUntil;
  if (Atomics.load(spinner.flag, 0) === 0) {
    Atomics.store(spinner.flag, 0, 1);
    Atomics.notify(spinner.flag, 0);
  }
}

/**
 * Traffic happened: keep the event loop polling for a while. `bytes` is how
 * much moved: bulk transfers keep a process busy anyway, so on Deno, where
 * spinning takes a core from the two here, only small exchanges spin.
 * `received` says the traffic came in (what spinning waits for), rather
 * than went out.
 * @internal
 */
export function keepPolling(bytes = 0, received = false): void {
  if (busyWaitMs <= 0) return;
  const now = performance.now();
  if (now < coolUntil) return;
  if (isDeno) {
    if (bytes <= 4096) spinInWorker(now, received);
    return;
  }
  if (spinning && received) hit = true;
  spinUntil = now + busyWaitMs;
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
