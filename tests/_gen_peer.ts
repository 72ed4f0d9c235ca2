/**
 * Modules for the GenServer bench's peer nodes (tests/bench_gen.ts): an
 * echo server registered as `Elixir.GenBench.Echo`, and the `GenBench`
 * workloads — calls one at a time, to a local server or to `{name, node}`
 * — answering microseconds per call.
 *
 * @module
 */
import { atom, type Node, tuple } from "../node/mod.ts";
import { GenServer, type GenServerImpl } from "../gen/mod.ts";

const ECHO = "Elixir.GenBench.Echo";

/** As NoderlGen.Counter in tests/beam/noderl_gen.ex: `{echo, X}` → X. */
const Echo: GenServerImpl<number, number> = {
  module: "Elixir.GenBench.Echo",
  init: (n) => ({ ok: true, state: n }),
  handleCall: (req, _from, n) => ({
    reply: Array.isArray(req) ? req[1] : req,
    state: n,
  }),
};

/** `n` calls one at a time to `server`; microseconds per call. */
async function calls(server: unknown, n: number): Promise<number> {
  for (let i = 0; i < n / 10; i++) {
    await GenServer.call(server as never, tuple(atom("echo"), 1));
  }
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    await GenServer.call(server as never, tuple(atom("echo"), i));
  }
  return ((performance.now() - t0) * 1000) / n;
}

export default async function setup(node: Node): Promise<void> {
  await GenServer.start(node, Echo, 0, { name: ECHO });
  node.defineModule("GenBench", {
    /** Calls to `{Elixir.GenBench.Echo, peer}` (or an Elixir server named `name`). */
    remote: (name: unknown, peer: unknown, n: number) =>
      calls([String(name), String(peer)], n),
    /** Calls to a server of this node, from a process of this node. */
    local: async (n: number) => {
      const pid = await GenServer.start(node, Echo, 0);
      try {
        return await calls(pid, n);
      } finally {
        await GenServer.stop(pid);
      }
    },
  });
}
