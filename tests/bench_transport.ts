/**
 * Transport bench: two noderl nodes (separate OS processes, this runtime)
 * against two BEAM nodes, measured in the same run: one-way small and 1 KB
 * message throughput, ping-pong round trip, and a bare-socket ping-pong as
 * the floor.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { atom, type Node, startNode } from "../node/mod.ts";
import { startRegistry } from "../node/registry.ts";
import { type BeamNode, erlPath, startBeamNode } from "./_beam.ts";
import type { BenchResult } from "./_bench.ts";

const here = dirname(fileURLToPath(import.meta.url));
const isDeno = "Deno" in globalThis;

/** Starts a bench peer in a child process of this runtime. */
export async function startTsPeer(
  name: string,
  registryPort: number,
  extra: string[] = [],
): Promise<() => Promise<void>> {
  const script = join(here, "bench_peer.ts");
  const args = isDeno
    ? [
      "run",
      "-A",
      script,
      "--name",
      name,
      "--registry-port",
      String(registryPort),
      ...extra,
    ]
    : [
      "--import",
      join(here, "_ts_register.mjs"),
      script,
      "--name",
      name,
      "--registry-port",
      String(registryPort),
      ...extra,
    ];
  const child = spawn(process.execPath, args, {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d) => {
      out += d;
      if (out.includes("ready")) resolve();
    });
    child.on(
      "exit",
      (code) => reject(new Error(`bench peer ${name} exited with ${code}`)),
    );
  });
  return () =>
    new Promise<void>((resolve) => {
      child.on("exit", () => resolve());
      child.kill("SIGTERM");
    });
}

/** Runs the transport bench; returns the figures. */
export async function benchTransport(): Promise<BenchResult[]> {
  const registry = await startRegistry({ port: 0 });
  const ctl: Node = await startNode({
    name: "benchctl@localhost",
    cookie: "bench",
    registryPort: registry.port,
  });
  const stops: Array<() => Promise<void>> = [];
  const beams: BeamNode[] = [];
  const results: BenchResult[] = [];
  try {
    stops.push(await startTsPeer("tsa@localhost", registry.port));
    stops.push(await startTsPeer("tsb@localhost", registry.port));
    const haveBeam = erlPath !== undefined;
    if (haveBeam) {
      beams.push(
        await startBeamNode({
          name: "ea@localhost",
          cookie: "bench",
          registryPort: registry.port,
        }),
      );
      beams.push(
        await startBeamNode({
          name: "eb@localhost",
          cookie: "bench",
          registryPort: registry.port,
        }),
      );
    }
    const ts = (fn: string, args: unknown[]) =>
      ctl.call("tsa@localhost", "Bench", fn, args, 120_000) as Promise<number>;
    const beam = (fn: string, args: unknown[]) =>
      haveBeam
        ? ctl.call(
          "ea@localhost",
          "noderl_bench",
          fn,
          args,
          120_000,
        ) as Promise<number>
        : Promise.resolve(undefined);

    // Warm up both sides once.
    await ts("throughput", [atom("tsb@localhost"), 50_000, atom("small")]);
    await beam("throughput", [atom("eb@localhost"), 50_000, atom("small")]);

    const best = async (
      f: () => Promise<number | undefined>,
      runs: number,
      max = true,
    ) => {
      let b: number | undefined;
      for (let i = 0; i < runs; i++) {
        const v = await f();
        if (v !== undefined && (b === undefined || (max ? v > b : v < b))) {
          b = v;
        }
      }
      return b;
    };
    const N = 300_000;
    results.push({
      name: "one-way small messages, node to node",
      unit: "msgs/s",
      higherIsBetter: true,
      ts: (await best(() =>
        ts("throughput", [atom("tsb@localhost"), N, atom("small")]), 3))!,
      beam: await best(() =>
        beam("throughput", [atom("eb@localhost"), N, atom("small")]), 3),
    });
    results.push({
      name: "one-way 1 KB messages, node to node",
      unit: "msgs/s",
      higherIsBetter: true,
      ts: (await best(() =>
        ts("throughput", [atom("tsb@localhost"), 100_000, 1024]), 3))!,
      beam: await best(() =>
        beam("throughput", [atom("eb@localhost"), 100_000, 1024]), 3),
    });
    const R = 10_000;
    const port = await ctl.call(
      "tsb@localhost",
      "Bench",
      "bare_server",
      [],
    ) as number;
    const bare = (await best(
      () =>
        ctl.call("tsa@localhost", "Bench", "bare_pingpong", [
          port,
          R,
        ]) as Promise<number>,
      3,
      false,
    ))!;
    results.push({
      name: "ping-pong round trip, node to node",
      unit: "µs",
      higherIsBetter: false,
      ts: (await best(
        () => ts("pingpong", [atom("tsb@localhost"), R]),
        3,
        false,
      ))!,
      beam: await best(
        () => beam("pingpong", [atom("eb@localhost"), R]),
        3,
        false,
      ),
      ref: { label: "bare socket", value: bare },
    });
  } finally {
    for (const b of beams) await b.stop();
    for (const s of stops) await s();
    await ctl.stop();
    await registry.close();
  }
  return results;
}
