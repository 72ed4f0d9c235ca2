/**
 * Task bench: remote `Task.Supervisor.async` + `Task.await` between two
 * nodes in separate OS processes — noderl peers (tests/_task_peer.ts, this
 * runtime) against Elixir nodes (tests/beam/noderl_tasks.ex), measured in
 * the same run: one task at a time, and 1,000 in flight. Then the mixed
 * pairs, noderl and Elixir speaking Elixir's protocol to each other.
 *
 *   deno run -A tests/bench.ts --only tasks
 *   node --import ./tests/_ts_register.mjs tests/bench.ts --only tasks
 *
 * @module
 */
import { atom } from "../node/mod.ts";
import type { BenchResult } from "./_bench.ts";
import { startBenchCluster } from "./_bench_cluster.ts";

const COOKIE = "taskbench";
const TS_SUP = "Elixir.Bench.TaskSupervisor";
const EX_SUP = "Elixir.Chat.TaskSupervisor";

/** Runs the task bench; returns the figures (tasks per second). */
export async function benchTasks(): Promise<BenchResult[]> {
  const cluster = await startBenchCluster({
    cookie: COOKIE,
    ctl: "taskbenchctl@localhost",
    peers: ["tba@localhost", "tbb@localhost"],
    modules: new URL("./_task_peer.ts", import.meta.url),
    elixir: {
      names: ["eba@localhost", "ebb@localhost"],
      helper: "noderl_tasks.ex",
      start: "NoderlTasks.start()",
    },
  });
  const results: BenchResult[] = [];
  try {
    const haveElixir = cluster.haveElixir;
    const call = (node: string, mod: string, fun: string, args: unknown[]) =>
      cluster.call(node, mod, fun, args, 300_000);
    // noderl caller on tba, supervisor on tbb.
    const ts = {
      seq: (n: number) =>
        call("tba@localhost", "TaskBench", "seq", [
          atom(TS_SUP),
          atom("tbb@localhost"),
          n,
        ]),
      flight: (n: number) =>
        call("tba@localhost", "TaskBench", "flight", [
          atom(TS_SUP),
          atom("tbb@localhost"),
          n,
          1000,
        ]),
    };
    // Elixir caller on `from`, supervisor on `to`.
    const ex = (from: string, to: string, sup: string) => ({
      seq: (n: number) =>
        haveElixir
          ? call(from, "Elixir.NoderlTasks", "bench_seq", [
            atom(sup),
            atom(to),
            n,
          ])
          : Promise.resolve(undefined),
      flight: (n: number) =>
        haveElixir
          ? call(from, "Elixir.NoderlTasks", "bench_flight", [
            atom(sup),
            atom(to),
            n,
            1000,
          ])
          : Promise.resolve(undefined),
    });
    const beam = ex("eba@localhost", "ebb@localhost", EX_SUP);
    /** Best of `runs` rounds, noderl and Elixir taking turns. */
    const interleaved = async (
      a: () => Promise<number | undefined>,
      b: () => Promise<number | undefined>,
      runs = 3,
    ): Promise<[number, number | undefined]> => {
      let ba = 0, bb: number | undefined;
      for (let i = 0; i < runs; i++) {
        ba = Math.max(ba, (await a()) ?? 0);
        const v = await b();
        if (v !== undefined) bb = Math.max(bb ?? 0, v);
      }
      return [ba, bb];
    };
    // Warm up (connections, JIT, the protocol probe).
    await ts.seq(2_000);
    await ts.flight(2_000);
    await beam.seq(2_000);
    await beam.flight(2_000);

    const SEQ = 5_000, FLIGHT = 20_000;
    const [tsSeq, exSeq] = await interleaved(
      () => ts.seq(SEQ),
      () => beam.seq(SEQ),
    );
    results.push({
      name: "remote async + await, one at a time",
      unit: "tasks/s",
      higherIsBetter: true,
      ts: tsSeq,
      beam: exSeq,
      note: "noderl↔noderl (one SPAWN_REQUEST) vs Elixir↔Elixir",
    });
    const [tsFlight, exFlight] = await interleaved(
      () => ts.flight(FLIGHT),
      () => beam.flight(FLIGHT),
    );
    results.push({
      name: "remote async + await, 1,000 in flight",
      unit: "tasks/s",
      higherIsBetter: true,
      ts: tsFlight,
      beam: exFlight,
      note: "noderl↔noderl vs Elixir↔Elixir",
    });
    if (haveElixir) {
      // The mixed pairs speak Elixir's protocol (two round trips a task).
      const tsToEx = {
        seq: (n: number) =>
          call("tba@localhost", "TaskBench", "seq", [
            atom(EX_SUP),
            atom("ebb@localhost"),
            n,
          ]),
      };
      const exToTs = ex("eba@localhost", "tbb@localhost", TS_SUP);
      await tsToEx.seq(1_000);
      await exToTs.seq(1_000);
      const [mixed1, ref1] = await interleaved(
        () => tsToEx.seq(SEQ),
        () => beam.seq(SEQ),
      );
      results.push({
        name: "noderl caller → Elixir Task.Supervisor, one at a time",
        unit: "tasks/s",
        higherIsBetter: true,
        ts: mixed1,
        beam: ref1,
        note: "Elixir's protocol; BEAM = Elixir↔Elixir",
      });
      const [mixed2, ref2] = await interleaved(
        () => exToTs.seq(SEQ),
        () => beam.seq(SEQ),
      );
      results.push({
        name: "Elixir caller → noderl TaskSupervisor, one at a time",
        unit: "tasks/s",
        higherIsBetter: true,
        ts: mixed2,
        beam: ref2,
        note: "Elixir's protocol; BEAM = Elixir↔Elixir",
      });
    }
  } finally {
    await cluster.stop();
  }
  return results;
}
