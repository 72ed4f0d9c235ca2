/**
 * Registry bench: lookups per second (PORT_PLEASE2_REQ, one TCP connection
 * each, as nodes make them) against noderl's registry daemon and against the
 * real `epmd`, each in its own process, started on free ports in the same
 * run and stopped after it.
 *
 * @module
 */
import {
  lookupNode,
  registerNode,
  type Registration,
} from "../node/registry_client.ts";
import { tcpLayer } from "../node/_registry_net.ts";
import type { BenchResult } from "./_bench.ts";
import { erlPath, runErl } from "./_beam.ts";
import {
  type Child,
  freePort,
  startEpmd,
  startRegistryScript,
} from "./_registry.ts";

const NAMES = 100;
const CONCURRENCY = 16;
const ROUND_MS = 300;
const ROUNDS = 20;

/** Lookups per second against the registry on `port`, for `ms` milliseconds. */
async function lookups(port: number, ms: number): Promise<number> {
  let done = 0;
  const deadline = performance.now() + ms;
  const worker = async (w: number) => {
    for (let i = w; performance.now() < deadline; i += CONCURRENCY) {
      const name = `bench${i % NAMES}`;
      const found = await lookupNode(name, { port });
      if (found?.port !== 20_000 + (i % NAMES)) {
        throw new Error(`lookup of ${name} answered ${JSON.stringify(found)}`);
      }
      done++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)));
  return done / ((performance.now() - t0) / 1000);
}

async function register(port: number): Promise<Registration[]> {
  return await Promise.all(
    Array.from(
      { length: NAMES },
      (_, i) => registerNode(`bench${i}`, 20_000 + i, { port }),
    ),
  );
}

/** Runs the registry bench; returns the figures. */
export async function benchRegistry(): Promise<BenchResult[]> {
  const regs: Registration[] = [];
  let ours: Child | undefined;
  let epmd: { port: number; child: Child } | undefined;
  try {
    const port = await freePort();
    ours = startRegistryScript(["--port", String(port)]);
    await ours.waitForOutput("listening");
    regs.push(...await register(port));
    let epmdPort: number | undefined;
    try {
      epmd = await startEpmd();
      epmdPort = epmd.port;
      regs.push(...await register(epmdPort));
    } catch {
      epmd = undefined; // epmd not installed: report ours alone
    }
    // Warm up both, then interleave short rounds (alternating which goes
    // first) so background load and drift hit both alike; compare totals.
    await lookups(port, 1000);
    if (epmdPort !== undefined) await lookups(epmdPort, 1000);
    let tsSum = 0, epmdSum = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const ours = () => lookups(port, ROUND_MS).then((v) => (tsSum += v));
      const theirs = () =>
        epmdPort === undefined
          ? 0
          : lookups(epmdPort, ROUND_MS).then((v) => (epmdSum += v));
      if (r % 2 === 0) {
        await ours();
        await theirs();
      } else {
        await theirs();
        await ours();
      }
    }
    const tsRate = tsSum / ROUNDS, epmdRate = epmdSum / ROUNDS;
    const results: BenchResult[] = [];
    if (epmdPort !== undefined && erlPath) {
      // The same comparison with a BEAM client, which spends less of the
      // machine's two cores on itself than a Node client does.
      const r = await runErl(
        `noderl_bench:epmd_compare(${port}, ${epmdPort}, ${ROUNDS}, ${ROUND_MS}, ${CONCURRENCY}), halt().`,
        { timeoutMs: 120_000 },
      );
      const [a, b] = r.stdout.trim().split(/\s+/).map(Number);
      if (a > 0 && b > 0) {
        results.push({
          name: "registry: PORT_PLEASE2 lookups from a BEAM client, vs epmd",
          unit: "lookups/s",
          ts: a,
          beam: b,
          higherIsBetter: true,
          note:
            `gen_tcp client, ${CONCURRENCY} concurrent, ${ROUNDS} interleaved ${ROUND_MS} ms rounds; daemon on ${tcpLayer()}`,
        });
      }
    }
    return [...results, {
      name: "registry: PORT_PLEASE2 lookups, a new connection each, vs epmd",
      unit: "lookups/s",
      ts: tsRate,
      beam: epmdPort === undefined ? undefined : epmdRate,
      higherIsBetter: true,
      note:
        `${NAMES} names registered, ${CONCURRENCY} concurrent clients, mean of ${ROUNDS} interleaved ${ROUND_MS} ms rounds; daemon on ${tcpLayer()}` +
        (epmdPort === undefined ? "; epmd not found" : ""),
    }];
  } finally {
    await Promise.all(regs.map((r) => r.close()));
    await ours?.kill("SIGTERM");
    await epmd?.child.kill();
  }
}
