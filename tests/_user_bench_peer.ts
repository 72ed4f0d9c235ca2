/**
 * The `UserBench` module of the user-style bench's peer nodes (loaded by
 * node/peer.ts's `startPeer`; driven by tests/bench_user.ts): the same work
 * as tests/beam/noderl_user_bench.erl, written as the README teaches —
 * registered names, `[name, node]` sends, pids from replies, no warm-up,
 * senders that yield rarely. Each function the bench calls runs in a fresh
 * process (the one the remote call spawns).
 *
 * @module
 */
import process from "node:process";
import {
  atom,
  isAlive,
  type Node,
  type Pid,
  receive,
  register,
  self,
  send,
  sleep,
  spawn,
  Tuple,
  tuple,
} from "../node/mod.ts";

const PONG = atom("pong"),
  MSG = atom("msg"),
  SINK = atom("sink"),
  DONE = atom("done"),
  STOP = atom("stop");

/** The sender yields to the event loop once per this much payload. */
const YIELD_BYTES = 64 * 1024 * 1024;
/** What a small message `{msg, I}` counts for that: about its encoded size. */
const SMALL_BYTES = 16;

/** A registered process `echo`: `{from, i}` → `from ! {pong, i}`. */
function startEcho(): Pid {
  const pid = spawn(async () => {
    for (;;) {
      const [from, i] = await receive() as Tuple;
      send(from as Pid, tuple(PONG, i));
    }
  });
  register("echo", pid);
  return pid;
}

/**
 * A registered process `sink`: on `{count, from, n}` it answers
 * `{sink, self()}`, takes `n` messages and answers `{done, n}`.
 */
function startSink(): Pid {
  const pid = spawn(async () => {
    for (;;) {
      const [, from, n] = await receive() as Tuple;
      send(from as Pid, tuple(SINK, self()));
      for (let k = 0; k < (n as number); k++) await receive();
      send(from as Pid, tuple(DONE, n));
    }
  });
  register("sink", pid);
  return pid;
}

/**
 * `n` round trips to `["echo", node]`, the first connecting to `node`,
 * timed by blocks of `block` (`n` a multiple of it): [µs per round trip over
 * all `n`, µs of the first, µs per round trip in each block].
 */
async function roundtrip(
  node: unknown,
  n: number,
  block: number,
): Promise<number[]> {
  if (n % block !== 0) {
    throw new RangeError(`roundtrip: ${n} is not a multiple of ${block}`);
  }
  const echo = ["echo", String(node)] as const;
  const t0 = performance.now();
  send(echo, tuple(self(), 0));
  await receive((m) => m instanceof Tuple && m[0] === PONG && m[1] === 0);
  const first = (performance.now() - t0) * 1000;
  const marks = [t0];
  for (let i = 1; i < n; i++) {
    if (i % block === 0) marks.push(performance.now());
    send(echo, tuple(self(), i));
    await receive((m) => m instanceof Tuple && m[0] === PONG && m[1] === i);
  }
  marks.push(performance.now());
  const blocks = marks.slice(1).map((t, k) => ((t - marks[k]) * 1000) / block);
  return [((marks[marks.length - 1] - t0) * 1000) / n, first, ...blocks];
}

/**
 * `n` messages (`{msg, i}`, or `{msg, <size bytes>}`) to the sink on `node`,
 * yielding (`await sleep(0)`) only once per 64 MB of payload; msgs/s until
 * the sink's answer.
 */
async function oneway(
  node: unknown,
  n: number,
  size: unknown,
): Promise<number> {
  send(["sink", String(node)], tuple(atom("count"), self(), n));
  const [, sink] = await receive((m) =>
    m instanceof Tuple && m[0] === SINK
  ) as Tuple;
  const small = size === atom("small");
  const bytes = small ? SMALL_BYTES : size as number;
  const payload = small ? "" : "x".repeat(size as number);
  let sent = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    send(sink as Pid, tuple(MSG, small ? i : payload));
    sent += bytes;
    if (sent >= YIELD_BYTES) {
      sent = 0;
      await sleep(0);
    }
  }
  await receive((m) => m instanceof Tuple && m[0] === DONE);
  return n / ((performance.now() - t0) / 1000);
}

/**
 * Spawns `n` idle processes (each waits in `receive`), ends them all and
 * checks they are gone: [spawns/s until every one has run to its receive,
 * bytes of V8 heap per idle process after a full GC, bytes of RSS per
 * idle process, spawns/s of the loop alone]. Needs `--expose-gc` (Deno:
 * `--v8-flags=--expose-gc`).
 */
async function spawnIdle(n: number): Promise<number[]> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== "function") {
    throw new Error(
      "spawn_idle needs a full GC: start this peer with --expose-gc (Deno: --v8-flags=--expose-gc)",
    );
  }
  gc();
  const m0 = process.memoryUsage();
  const t0 = performance.now();
  const pids: Pid[] = [];
  for (let i = 0; i < n; i++) {
    pids.push(spawn(async () => {
      await receive();
    }));
  }
  const tLoop = performance.now();
  await sleep(0); // each has started and waits in receive
  const t1 = performance.now();
  gc();
  const m1 = process.memoryUsage();
  for (const pid of pids) send(pid, STOP);
  const deadline = performance.now() + 30_000;
  for (;;) {
    const alive = pids.filter((p) => isAlive(p)).length;
    if (alive === 0) break;
    if (performance.now() > deadline) {
      throw new Error(`${alive} of ${n} idle processes still alive after 30 s`);
    }
    await sleep(10);
  }
  return [
    n / ((t1 - t0) / 1000),
    (m1.heapUsed - m0.heapUsed) / n,
    (m1.rss - m0.rss) / n,
    n / ((tLoop - t0) / 1000),
  ];
}

/** Defines the `UserBench` module on a peer node. */
export default function setup(node: Node): void {
  node.defineModule("UserBench", {
    start_echo: startEcho,
    start_sink: startSink,
    roundtrip,
    oneway,
    spawn_idle: spawnIdle,
  });
}
