/**
 * Large-message bench: one 64 MB message from node to node while a ping
 * goes back and forth, noderl (two OS processes, this runtime) against two
 * BEAM nodes in the same run: the ping's p50 and p99 during the transfer
 * (fragments let it through), how long the message takes, and how long
 * `send` blocks its caller.
 *
 * @module
 */
import { atom, type Node, startNode } from "../node/mod.ts";
import { startRegistry } from "../node/registry.ts";
import { type BeamNode, erlPath, startBeamNode } from "./_beam.ts";
import type { BenchResult } from "./_bench.ts";
import { startTsPeer } from "./bench_transport.ts";

/** Runs the large-message bench; returns the figures. */
export async function benchLarge(): Promise<BenchResult[]> {
  const registry = await startRegistry({ port: 0 });
  const ctl: Node = await startNode({
    name: "benchctl@localhost",
    cookie: "bench",
    registryPort: registry.port,
  });
  const stops: Array<() => Promise<void>> = [];
  const beams: BeamNode[] = [];
  const size = 64 * 1024 * 1024;
  try {
    stops.push(await startTsPeer("tsa@localhost", registry.port));
    stops.push(await startTsPeer("tsb@localhost", registry.port));
    if (erlPath !== undefined) {
      for (const name of ["ea@localhost", "eb@localhost"]) {
        beams.push(
          await startBeamNode({
            name,
            cookie: "bench",
            registryPort: registry.port,
          }),
        );
      }
    }
    const ts = () =>
      ctl.call("tsa@localhost", "Bench", "big_ping", [
        atom("tsb@localhost"),
        size,
      ], 300_000) as Promise<number[]>;
    const beam = () =>
      beams.length
        ? ctl.call("ea@localhost", "noderl_attack", "big_ping", [
          atom("eb@localhost"),
          size,
        ], 300_000) as Promise<number[]>
        : Promise.resolve(undefined);
    // Three runs each, interleaved; the median run by transfer time.
    const tsRuns: number[][] = [], beamRuns: number[][] = [];
    for (let i = 0; i < 3; i++) {
      tsRuns.push(await ts());
      const b = await beam();
      if (b) beamRuns.push(b);
    }
    const median = (runs: number[][]) =>
      runs.length
        ? [...runs].sort((x, y) => x[3] - y[3])[Math.floor(runs.length / 2)]
        : undefined;
    const t = median(tsRuns)!, b = median(beamRuns);
    const note = `${t[2]} pings vs ${b?.[2] ?? "-"}`;
    return [
      {
        name: "ping p50 during a 64 MB message",
        unit: "µs",
        higherIsBetter: false,
        ts: t[0],
        beam: b?.[0],
        note,
      },
      {
        name: "ping p99 during a 64 MB message",
        unit: "µs",
        higherIsBetter: false,
        ts: t[1],
        beam: b?.[1],
      },
      {
        name: "64 MB message delivered",
        unit: "ms",
        higherIsBetter: false,
        ts: t[3],
        beam: b?.[3],
      },
      {
        name: "send of a 64 MB message blocks the sender",
        unit: "ms",
        higherIsBetter: false,
        ts: t[4],
        beam: b?.[4],
      },
    ];
  } finally {
    for (const b of beams) await b.stop();
    for (const s of stops) await s();
    await ctl.stop();
    await registry.close();
  }
}
