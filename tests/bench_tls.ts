/**
 * TLS bench: two noderl nodes (separate OS processes, this runtime) with TLS
 * distribution against two BEAM nodes with `-proto_dist inet_tls`, measured
 * in the same run: ping-pong round trip, one-way 1 KB and small message
 * throughput. Certificates are made with `openssl` for the run; both sides
 * use the same ones (EC P-256), mutual TLS, verification on.
 *
 * @module
 */
import { join } from "node:path";
import { atom, type Node, startNode } from "../node/mod.ts";
import { startRegistry } from "../node/registry.ts";
import { type BeamNode, erlPath, startBeamNode } from "./_beam.ts";
import type { BenchResult } from "./_bench.ts";
import { makePki, noOpenssl, writeOptfile } from "./_certs.ts";
import { startTsPeer } from "./bench_transport.ts";

/** Runs the TLS bench; returns the figures. */
export async function benchTls(): Promise<BenchResult[]> {
  if (noOpenssl) {
    console.log(`tls bench skipped: ${noOpenssl}`);
    return [];
  }
  const pki = makePki();
  const files = pki.issue("bench", ["localhost"]);
  const tls = { cert: files.cert, key: files.key, ca: pki.ca };
  const registry = await startRegistry({ port: 0 });
  const ctl: Node = await startNode({
    name: "tlsbenchctl@localhost",
    cookie: "bench",
    registryPort: registry.port,
    tls,
  });
  const stops: Array<() => Promise<void>> = [];
  const beams: BeamNode[] = [];
  const results: BenchResult[] = [];
  try {
    const flags = [
      "--tls-cert",
      files.cert,
      "--tls-key",
      files.key,
      "--tls-ca",
      pki.ca,
    ];
    stops.push(await startTsPeer("tlsa@localhost", registry.port, flags));
    stops.push(await startTsPeer("tlsb@localhost", registry.port, flags));
    const haveBeam = erlPath !== undefined;
    if (haveBeam) {
      const optfile = writeOptfile(
        join(pki.dir, "bench.conf"),
        files,
        pki.ca,
        pki.beamPath,
      );
      const args = [
        "-proto_dist",
        "inet_tls",
        "-ssl_dist_optfile",
        pki.beamPath(optfile),
      ];
      for (const name of ["tlsea@localhost", "tlseb@localhost"]) {
        beams.push(
          await startBeamNode({
            name,
            cookie: "bench",
            registryPort: registry.port,
            args,
          }),
        );
      }
    }
    const ts = (fn: string, args: unknown[]) =>
      ctl.call("tlsa@localhost", "Bench", fn, args, 120_000) as Promise<
        number
      >;
    const beam = (fn: string, args: unknown[]) =>
      haveBeam
        ? ctl.call(
          "tlsea@localhost",
          "noderl_bench",
          fn,
          args,
          120_000,
        ) as Promise<number>
        : Promise.resolve(undefined);
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
    // Warm up both sides (and open the TLS connections) once.
    await ts("throughput", [atom("tlsb@localhost"), 20_000, 1024]);
    await beam("throughput", [atom("tlseb@localhost"), 20_000, 1024]);
    await ts("pingpong", [atom("tlsb@localhost"), 1000]);
    await beam("pingpong", [atom("tlseb@localhost"), 1000]);

    const R = 10_000;
    results.push({
      name: "TLS: ping-pong round trip, node to node",
      unit: "µs",
      higherIsBetter: false,
      ts: (await best(
        () => ts("pingpong", [atom("tlsb@localhost"), R]),
        3,
        false,
      ))!,
      beam: await best(
        () => beam("pingpong", [atom("tlseb@localhost"), R]),
        3,
        false,
      ),
    });
    results.push({
      name: "TLS: one-way 1 KB messages, node to node",
      unit: "msgs/s",
      higherIsBetter: true,
      ts: (await best(
        () => ts("throughput", [atom("tlsb@localhost"), 100_000, 1024]),
        3,
      ))!,
      beam: await best(
        () => beam("throughput", [atom("tlseb@localhost"), 100_000, 1024]),
        3,
      ),
    });
    results.push({
      name: "TLS: one-way small messages, node to node",
      unit: "msgs/s",
      higherIsBetter: true,
      ts: (await best(
        () =>
          ts("throughput", [atom("tlsb@localhost"), 300_000, atom("small")]),
        3,
      ))!,
      beam: await best(
        () =>
          beam("throughput", [atom("tlseb@localhost"), 300_000, atom("small")]),
        3,
      ),
    });
  } finally {
    for (const b of beams) await b.stop();
    for (const s of stops) await s();
    await ctl.stop();
    await registry.close();
    pki.remove();
  }
  return results;
}
