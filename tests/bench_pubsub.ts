/**
 * PubSub bench: broadcast throughput over Phoenix.PubSub's pg adapter
 * protocol — a noderl sender to Elixir subscribers, an Elixir sender to
 * noderl subscribers, and the reference, an Elixir sender to Elixir
 * subscribers — in one run. Three nodes run the same PubSub: a noderl peer
 * (its own OS process, this runtime; tests/_pubsub_peer.ts) and two Elixir
 * nodes (tests/beam/noderl_pubsub.ex); every sender's broadcast goes to the
 * adapter servers of the two other nodes, and four subscribers on the
 * receiving node count the messages.
 *
 *   deno run -A tests/bench.ts --only pubsub
 *   node --import ./tests/_ts_register.mjs tests/bench.ts --only pubsub
 *
 * @module
 */
import { atom, type Node, startNode } from "../node/mod.ts";
import { type Peer, startPeer } from "../node/peer.ts";
import { startRegistry } from "../node/registry.ts";
import {
  beamHelper,
  type BeamNode,
  elixirPath,
  startBeamNode,
} from "./_beam.ts";
import type { BenchResult } from "./_bench.ts";

/** The Elixir side, as the BEAM under test reads it (compiled on first use). */
const exHelper = () => beamHelper("noderl_pubsub.ex");
const COOKIE = "pubsubbench";
const NAME = "Elixir.Bench.PubSub";
const TS = "pbts@localhost", EX1 = "pbex1@localhost", EX2 = "pbex2@localhost";

/** Runs the PubSub bench; returns the figures (broadcasts per second). */
export async function benchPubsub(): Promise<BenchResult[]> {
  if (elixirPath === undefined) {
    console.log("pubsub bench skipped: elixir not found");
    return [];
  }
  const registry = await startRegistry({ port: 0 });
  const ctl: Node = await startNode({
    name: "pbctl@localhost",
    cookie: COOKIE,
    registryPort: registry.port,
    hidden: true,
  });
  let peer: Peer | undefined;
  const beams: BeamNode[] = [];
  const results: BenchResult[] = [];
  try {
    const code = `Code.require_file(${
      JSON.stringify(exHelper())
    })\nNoderlPubSub.start(Bench.PubSub)`;
    for (const name of [EX1, EX2]) {
      beams.push(
        await startBeamNode({
          name,
          cookie: COOKIE,
          registryPort: registry.port,
          elixir: code,
          timeoutMs: 60_000,
        }),
      );
    }
    peer = await startPeer({
      name: TS,
      modules: new URL("./_pubsub_peer.ts", import.meta.url),
      registryPort: registry.port,
      cookie: COOKIE,
    });
    const ts = (fun: string, args: unknown[]) =>
      ctl.call(TS, "PubSubBench", fun, args, 300_000);
    const ex = (node: string, fun: string, args: unknown[]) =>
      ctl.call(node, "Elixir.NoderlPubSub", fun, args, 300_000);
    await ts("start", [atom(NAME)]);
    for (const n of [EX1, EX2]) await ts("connect", [n]);
    await ctl.call(EX1, "net_kernel", "connect_node", [atom(EX2)]);
    for (const n of [EX1, EX2]) await ts("wait_adapter", [atom(NAME), n]);
    for (const n of [EX1, EX2]) {
      for (let i = 0; i < 500; i++) {
        const a = await ex(n, "adapters", [atom(NAME)]) as { node: string }[];
        if (a.length === 3) break;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    const K = 4;
    await ex(EX2, "start_counters", [atom(NAME), "ts_to_ex", K]);
    await ts("start_counters", [atom(NAME), "ex_to_ts", K]);
    await ex(EX2, "start_counters", [atom(NAME), "ex_to_ex", K]);
    const tsToEx = (n: number) =>
      ts("bench", [atom(NAME), "ts_to_ex", n, K]) as Promise<number>;
    const exToTs = (n: number) =>
      ex(EX1, "bench", [atom(NAME), "ex_to_ts", n, K]) as Promise<number>;
    const exToEx = (n: number) =>
      ex(EX1, "bench", [atom(NAME), "ex_to_ex", n, K]) as Promise<number>;
    // Warm up.
    await tsToEx(10_000);
    await exToTs(10_000);
    await exToEx(10_000);
    const N = 50_000;
    let a = 0, b = 0, ref = 0;
    for (let round = 0; round < 3; round++) {
      a = Math.max(a, await tsToEx(N));
      b = Math.max(b, await exToTs(N));
      ref = Math.max(ref, await exToEx(N));
    }
    results.push({
      name: "PubSub broadcast, noderl sender → Elixir subscribers",
      unit: "broadcasts/s",
      higherIsBetter: true,
      ts: a,
      beam: ref,
      note:
        `${K} subscribers, 2 remote adapters; BEAM = Elixir sender → Elixir subscribers`,
    });
    results.push({
      name: "PubSub broadcast, Elixir sender → noderl subscribers",
      unit: "broadcasts/s",
      higherIsBetter: true,
      ts: b,
      beam: ref,
      note:
        `${K} subscribers, 2 remote adapters; BEAM = Elixir sender → Elixir subscribers`,
    });
  } finally {
    for (const b of beams) await b.stop();
    await peer?.stop().catch(() => {});
    await ctl.stop();
    await registry.close();
  }
  return results;
}
