/**
 * GenServer bench: `GenServer.call` round trips, one at a time, measured
 * for noderl and for Elixir in the same run — to a server on the caller's
 * node (noderl peer vs Elixir node), and to a server on another node
 * (noderl peer → noderl peer vs Elixir node → Elixir node, each an OS
 * process of its own) — then the mixed pairs, Elixir calling noderl and
 * noderl calling Elixir.
 *
 *   deno run -A tests/bench.ts --only genserver
 *   node --import ./tests/_ts_register.mjs tests/bench.ts --only genserver
 *
 * @module
 */
import { atom, tuple } from "../node/mod.ts";
import type { BenchResult } from "./_bench.ts";
import { startBenchCluster } from "./_bench_cluster.ts";

const COOKIE = "genbench";
const TS_ECHO = "Elixir.GenBench.Echo";
const EX_ECHO = "Elixir.NoderlGen.Counter";

/** Elixir's `{name, node}`. */
const tupleOf = (name: string, node: string) => tuple(atom(name), atom(node));

/** Runs the GenServer bench; returns the figures (µs per call). */
export async function benchGen(): Promise<BenchResult[]> {
  const cluster = await startBenchCluster({
    cookie: COOKIE,
    ctl: "genbenchctl@localhost",
    peers: ["gba@localhost", "gbb@localhost"],
    modules: new URL("./_gen_peer.ts", import.meta.url),
    elixir: {
      names: ["gea@localhost", "geb@localhost"],
      helper: "noderl_gen.ex",
      start: "NoderlGen.start()",
    },
  });
  const results: BenchResult[] = [];
  try {
    const haveElixir = cluster.haveElixir;
    const call = (node: string, mod: string, fun: string, args: unknown[]) =>
      cluster.call(node, mod, fun, args, 600_000);
    const ex = (fn: () => Promise<number>) =>
      haveElixir ? fn() : Promise.resolve(undefined);
    /** Best (lowest) of `runs` rounds, noderl and Elixir taking turns. */
    const interleaved = async (
      a: () => Promise<number>,
      b: () => Promise<number | undefined>,
      runs = 5,
    ): Promise<[number, number | undefined]> => {
      let ba = Infinity, bb: number | undefined;
      for (let i = 0; i < runs; i++) {
        ba = Math.min(ba, await a());
        const v = await b();
        if (v !== undefined) bb = Math.min(bb ?? Infinity, v);
      }
      return [ba, bb];
    };
    const LOCAL = 200_000, REMOTE = 20_000;

    const tsLocal = () => call("gba@localhost", "GenBench", "local", [LOCAL]);
    const exLocal = () =>
      ex(() =>
        call("gea@localhost", "Elixir.NoderlGen", "bench_local", [LOCAL])
      );
    await tsLocal();
    await exLocal();
    const [l1, l2] = await interleaved(tsLocal, exLocal);
    results.push({
      name: "GenServer.call to a server on the same node, one at a time",
      unit: "µs/call",
      higherIsBetter: false,
      ts: l1,
      beam: l2,
      note: "noderl peer vs Elixir node",
    });

    const tsRemote = () =>
      call("gba@localhost", "GenBench", "remote", [
        TS_ECHO,
        "gbb@localhost",
        REMOTE,
      ]);
    const exRemote = () =>
      ex(() =>
        call("gea@localhost", "Elixir.NoderlGen", "bench_calls", [
          tupleOf(EX_ECHO, "geb@localhost"),
          REMOTE,
        ])
      );
    await tsRemote();
    await exRemote();
    const [r1, r2] = await interleaved(tsRemote, exRemote);
    results.push({
      name: "GenServer.call to a server on another node, one at a time",
      unit: "µs/call",
      higherIsBetter: false,
      ts: r1,
      beam: r2,
      note: "noderl↔noderl vs Elixir↔Elixir (separate OS processes)",
    });

    if (haveElixir) {
      const exToTs = () =>
        call("gea@localhost", "Elixir.NoderlGen", "bench_calls", [
          tupleOf(TS_ECHO, "gbb@localhost"),
          REMOTE,
        ]);
      const tsToEx = () =>
        call("gba@localhost", "GenBench", "remote", [
          EX_ECHO,
          "geb@localhost",
          REMOTE,
        ]);
      await exToTs();
      await tsToEx();
      const [m1, ref1] = await interleaved(exToTs, exRemote, 3);
      results.push({
        name: "Elixir caller → noderl GenServer on another node",
        unit: "µs/call",
        higherIsBetter: false,
        ts: m1,
        beam: ref1,
        note: "BEAM = Elixir↔Elixir",
      });
      const [m2, ref2] = await interleaved(tsToEx, exRemote, 3);
      results.push({
        name: "noderl caller → Elixir GenServer on another node",
        unit: "µs/call",
        higherIsBetter: false,
        ts: m2,
        beam: ref2,
        note: "BEAM = Elixir↔Elixir",
      });
    }
  } finally {
    await cluster.stop();
  }
  return results;
}
