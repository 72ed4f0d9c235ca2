/**
 * A program that runs noderl nodes inside a network namespace for
 * tests/netns_test.ts, driven over standard input/output (the test runs
 * outside the namespace, so it cannot reach the nodes itself). Each input
 * line is a JSON request `{id, op, …}`; each answer a JSON line
 * `{id, ok}` or `{id, error}`. Node events are lines
 * `{event: "nodeup"|"nodedown", node, peer, at}` (`at`: `Date.now()`, one
 * clock for every process on the machine). Ends when standard input ends.
 *
 * @module
 */
import { connect as netConnect } from "node:net";
import process from "node:process";
import { createInterface } from "node:readline";
import { type Node, startNode } from "../node/node.ts";
import { monitor, receive, send, sleep } from "../node/process_api.ts";
import { Atom, atom, Pid, Tuple, tuple } from "../node/terms.ts";
import type { TlsOptions } from "../node/_tls.ts";

/** A term as JSON: atoms, pids and tuples tagged. */
type Json =
  | null
  | boolean
  | number
  | string
  | Json[]
  | { atom: string }
  | { pid: [string, number, number, number] }
  | { tuple: Json[] };

function toJson(t: unknown): Json {
  if (t instanceof Atom) return { atom: String(t) };
  if (t instanceof Pid) return { pid: [t.node, t.id, t.serial, t.creation] };
  if (t instanceof Tuple) return { tuple: [...t].map(toJson) };
  if (Array.isArray(t)) return t.map(toJson);
  if (
    t === null || typeof t === "boolean" || typeof t === "number" ||
    typeof t === "string"
  ) return t;
  return String(t);
}

function fromJson(j: Json): unknown {
  if (Array.isArray(j)) return j.map(fromJson);
  if (j !== null && typeof j === "object") {
    if ("atom" in j) return atom(j.atom);
    if ("pid" in j) return new Pid(...j.pid);
    if ("tuple" in j) return tuple(...j.tuple.map(fromJson));
  }
  return j;
}

const nodes = new Map<string, Node>();
const streams = new Map<string, { n: number; stop: boolean }>();
const sinks = new Map<string, number[]>();

function out(o: unknown): void {
  process.stdout.write(JSON.stringify(o) + "\n");
}

function node(name: string): Node {
  const n = nodes.get(name);
  if (!n) throw new Error(`no node ${name} in this agent`);
  return n;
}

// deno-lint-ignore no-explicit-any
const ops: Record<string, (r: any) => unknown> = {
  async start(r: {
    name: string;
    cookie: string;
    tickTime?: number;
    address?: string;
    tls?: TlsOptions;
    connectTimeoutMs?: number;
    registryPort?: number;
  }) {
    const n = await startNode({
      registryPort: r.registryPort,
      name: r.name,
      cookie: r.cookie,
      tickTime: r.tickTime,
      address: r.address,
      tls: r.tls,
      connectTimeoutMs: r.connectTimeoutMs,
      log: (m) => out({ event: "log", node: r.name, message: m }),
      stdout: () => {},
    });
    n.defineModule("Echo", { echo: (x: unknown) => x });
    n.on(
      "nodeup",
      (peer: string) =>
        out({ event: "nodeup", node: r.name, peer, at: Date.now() }),
    );
    n.on(
      "nodedown",
      (peer: string) =>
        out({ event: "nodedown", node: r.name, peer, at: Date.now() }),
    );
    nodes.set(r.name, n);
    return { port: n.port, creation: n.creation };
  },
  async stop(r: { node: string }) {
    await node(r.node).stop();
    nodes.delete(r.node);
    return true;
  },
  async call(r: {
    node: string;
    target: string;
    mod: string;
    fun: string;
    args: Json[];
  }) {
    return toJson(
      await node(r.node).call(r.target, r.mod, r.fun, r.args.map(fromJson)),
    );
  },
  nodes(r: { node: string }) {
    return node(r.node).nodes();
  },
  disconnect(r: { node: string; peer: string }) {
    return node(r.node).disconnect(r.peer);
  },
  /** A process registered as `name` that keeps every `{seq, N}`. */
  sink(r: { node: string; name: string }) {
    const got: number[] = [];
    sinks.set(`${r.node}/${r.name}`, got);
    const pid = node(r.node).spawn(async () => {
      for (;;) {
        const m = await receive();
        if (m instanceof Tuple && m[0] === atom("seq")) {
          got.push(m[1] as number);
        }
      }
    });
    node(r.node).register(r.name, pid);
    return toJson(pid);
  },
  sinkResult(r: { node: string; name: string }) {
    return sinks.get(`${r.node}/${r.name}`) ?? null;
  },
  /** Sends `{seq, 1}`, `{seq, 2}`, … to `[to, toNode]` every `intervalMs`. */
  stream(r: {
    node: string;
    stream: string;
    to: string;
    toNode: string;
    intervalMs: number;
  }) {
    const s = { n: 0, stop: false };
    streams.set(r.stream, s);
    node(r.node).spawn(async () => {
      while (!s.stop) {
        s.n++;
        send([r.to, r.toNode], tuple(atom("seq"), s.n));
        await sleep(r.intervalMs);
      }
    });
    return true;
  },
  streamAt(r: { stream: string }) {
    return streams.get(r.stream)?.n ?? null;
  },
  streamStop(r: { stream: string }) {
    const s = streams.get(r.stream);
    if (s) s.stop = true;
    return s?.n ?? null;
  },
  /** Whether a TCP connection to `host:port` is accepted. */
  probe(r: { host: string; port: number }) {
    return new Promise((resolve) => {
      const s = netConnect({ host: r.host, port: r.port });
      s.on("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
  },
  /** A process that waits forever. */
  keeper(r: { node: string }) {
    return toJson(node(r.node).spawn(() => receive()));
  },
  /** Monitors `pid` from a new process; resolves with the DOWN reason. */
  monitorDown(r: { node: string; pid: Json; timeoutMs: number }) {
    return new Promise((resolve, reject) => {
      node(r.node).spawn(async () => {
        const target = fromJson(r.pid) as Pid;
        const ref = monitor(target);
        try {
          const m = await receive(
            (m) =>
              m instanceof Tuple && m[0] === atom("DOWN") &&
              ref.equals(m[1]),
            r.timeoutMs,
          ) as Tuple;
          resolve(toJson(m[4]));
        } catch (e) {
          reject(e);
        }
      });
    });
  },
};

const lines = createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  let req: { id: number; op: string };
  try {
    req = JSON.parse(line);
  } catch {
    return;
  }
  try {
    const op = ops[req.op];
    if (!op) throw new Error(`unknown op ${req.op}`);
    out({ id: req.id, ok: await op(req as never) ?? null });
  } catch (e) {
    out({ id: req.id, error: (e as Error).message });
  }
});
lines.on("close", async () => {
  await Promise.all([...nodes.values()].map((n) => n.stop()));
  process.exit(0);
});
out({ event: "ready" });
