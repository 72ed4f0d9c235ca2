/**
 * A benchmark peer: a noderl node in its own OS process whose `Bench`
 * module runs the same workloads as tests/beam/noderl_bench.erl.
 *
 *   node --import tsx tests/bench_peer.ts --name a@localhost --cookie c --registry-port P
 *   deno run -A tests/bench_peer.ts …
 *   … --tls-cert F --tls-key F --tls-ca F   (TLS distribution)
 *
 * @module
 */
import { createConnection, createServer } from "node:net";
import process from "node:process";
import { parseArgs } from "node:util";
import {
  atom,
  currentNode,
  receive,
  self,
  send,
  startNode,
  Tuple,
  tuple,
} from "../node/mod.ts";
import type { Atom, Pid } from "../node/mod.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    name: { type: "string" },
    cookie: { type: "string", default: "bench" },
    "registry-port": { type: "string" },
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
    "tls-ca": { type: "string" },
  },
});
if (!values.name || !values["registry-port"]) {
  console.error(
    "usage: bench_peer.ts --name NAME@HOST --registry-port P [--cookie C]",
  );
  process.exit(2);
}

const node = await startNode({
  name: values.name,
  cookie: values.cookie,
  registryPort: Number(values["registry-port"]),
  tls: values["tls-cert"]
    ? {
      cert: values["tls-cert"],
      key: values["tls-key"]!,
      ca: values["tls-ca"],
    }
    : undefined,
});

const DONE = atom("done"),
  PONG = atom("pong"),
  STOP = atom("stop"),
  MSG = atom("msg");
const yieldNow = () => new Promise((r) => setImmediate(r));

node.defineModule("Bench", {
  async throughput(peer: Atom, n: number, size: Atom | number) {
    const me = self();
    const sink = await currentNode().spawnRemote(
      String(peer),
      "Bench",
      "sink",
      [n, me],
    );
    const payload = size === atom("small")
      ? tuple(MSG, 1)
      : tuple(MSG, "x".repeat(size as number));
    // Yield to the event loop after about 256 KB of messages, as a
    // preemptive scheduler would let the connection write meanwhile (on
    // Deno a socket write completes only once the loop turns).
    const batch = Math.min(
      20_000,
      Math.ceil(256 * 1024 / (size === atom("small") ? 14 : size as number)),
    );
    const t0 = performance.now();
    for (let i = 0; i < n;) {
      const end = Math.min(n, i + batch);
      for (; i < end; i++) send(sink, payload);
      await yieldNow();
    }
    await receive((m) => m instanceof Tuple && m[0] === DONE);
    return n / ((performance.now() - t0) / 1000);
  },
  async sink(n: number, reply: Pid) {
    for (let k = 0; k < n; k++) await receive();
    send(reply, tuple(DONE, n));
  },
  async pingpong(peer: Atom, n: number) {
    const me = self();
    const echo = await currentNode().spawnRemote(
      String(peer),
      "Bench",
      "echo",
      [],
    );
    send(echo, tuple(me, -1));
    await receive();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      send(echo, tuple(me, i));
      await receive();
    }
    const us = ((performance.now() - t0) * 1000) / n;
    send(echo, STOP);
    return us;
  },
  async echo() {
    for (;;) {
      const m = await receive();
      if (m === STOP) return;
      const t = m as Tuple;
      send(t[0] as Pid, tuple(PONG, t[1]));
    }
  },
  // The floor: the same round trip over a bare socket in this runtime.
  bare_server() {
    return new Promise<number>((resolve) => {
      const server = createServer((s) => {
        s.setNoDelay(true);
        s.on("data", (d) => s.write(d));
      });
      server.listen(
        0,
        "127.0.0.1",
        () => resolve((server.address() as { port: number }).port),
      );
      server.unref();
    });
  },
  // A message of `size` bytes to a sink on `peer` while another process
  // pings an echo there: [ping p50 µs, ping p99 µs, pings, ms to deliver,
  // ms send blocked the caller].
  async big_ping(peer: Atom, size: number) {
    const me = self();
    const node = currentNode();
    const sink = await node.spawnRemote(String(peer), "Bench", "sink", [1, me]);
    const echo = await node.spawnRemote(String(peer), "Bench", "echo", []);
    const times: number[] = [];
    let done = false;
    const pinger = node.spawn(async () => {
      const p = self();
      while (!done) {
        const t = performance.now();
        send(echo, tuple(p, times.length));
        await receive();
        times.push((performance.now() - t) * 1000);
      }
      send(me, STOP);
    });
    while (times.length < 20) await yieldNow(); // the pinger is going
    times.length = 0;
    const big = new Uint8Array(size).fill(255);
    const t0 = performance.now();
    send(sink, tuple(MSG, big));
    const blocked = performance.now() - t0;
    await receive((m) => m instanceof Tuple && m[0] === DONE);
    const total = performance.now() - t0;
    done = true;
    await receive((m) => m === STOP);
    send(echo, STOP);
    const sorted = [...times].sort((a, b) => a - b);
    const at = (q: number) =>
      sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? 0;
    void pinger;
    return [at(0.5), at(0.99), sorted.length, total, blocked];
  },
  bare_pingpong(port: number, n: number) {
    return new Promise<number>((resolve) => {
      const s = createConnection({ port, host: "127.0.0.1" });
      s.setNoDelay(true);
      const msg = new Uint8Array(16);
      let left = n + 1, got = 0, t0 = 0;
      s.on("connect", () => s.write(msg));
      s.on("data", (d) => {
        got += d.length;
        if (got < msg.length) return;
        got = 0;
        if (left === n + 1) t0 = performance.now();
        if (--left === 0) {
          s.destroy();
          resolve(((performance.now() - t0) * 1000) / n);
        } else {
          s.write(msg);
        }
      });
    });
  },
});

console.log(`ready ${node.name}`);
const stop = async () => {
  await node.stop();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
