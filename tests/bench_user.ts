/**
 * User-style bench: the work of the other suites written as users write it
 * (registered names, `[name, node]` sends, pids from replies, no warm-up,
 * senders that yield rarely), on fresh nodes in separate OS processes —
 * noderl peers of this runtime (tests/_user_bench_peer.ts) against BEAM
 * nodes (tests/beam/noderl_user_bench.erl) doing the same, in the same run:
 *
 * 1. cold round trip: a fresh process on a fresh node sends `{self(), i}` to
 *    `["echo", node]` and awaits `{pong, i}`, 20,000 times (the first send
 *    connects); µs per round trip over all of them and over the last 5,000;
 * 2. one-way `{msg, i}` and `{msg, <1 KB>}` to a sink on the other node, the
 *    noderl sender yielding once per 64 MB of payload, the BEAM's never;
 * 3. local spawn of 100,000 idle processes (each waits in `receive`);
 * 4. heap per idle process after a full GC, vs `erlang:memory(processes)`;
 * 5. node start, from spawning the OS process to the registry accepting the
 *    node's registration: noderl on Node.js and on Deno vs `erl`, `elixir`.
 *
 *   deno task bench --only user
 *   npm run bench -- --only user
 *
 * @module
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { atom, type Node, startNode } from "../node/mod.ts";
import { type Peer, startPeer } from "../node/peer.ts";
import { type Registry, startRegistry } from "../node/registry.ts";
import {
  beamCommand,
  type BeamNode,
  elixirPath,
  erlPath,
  startBeamNode,
} from "./_beam.ts";
import type { BenchResult } from "./_bench.ts";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const isDeno = "Deno" in globalThis;
/**
 * Two clusters, so that neither kind's nodes connect to the other's (a
 * visible node meshes with every node its peers know, as `global` does):
 * each has its own cookie and a control node in this process.
 */
const TS_COOKIE = "userbench-ts";
const BEAM_COOKIE = "userbench-beam";
const MODULES = new URL("./_user_bench_peer.ts", import.meta.url);

/** Round trips per cold run, timed by blocks of WARM: the last is "warm". */
const ROUND_TRIPS = 20_000;
const WARM = 5_000;
/** One-way messages per run (three runs each, the median reported). */
const SMALL_N = 500_000;
const KB_N = 200_000;
const ONEWAY_RUNS = 3;
/** Idle processes spawned. */
const IDLE = 100_000;
/** Starts of each kind of node (the median reported). */
const STARTS = 5;
const CALL_MS = 180_000;
const START_MS = 30_000;

function which(cmd: string): string | undefined {
  try {
    return execFileSync("sh", ["-c", `command -v ${cmd}`], {
      encoding: "utf8",
    }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const num = (x: unknown): number => Number(x); // a Float too
const nums = (x: unknown): number[] => (x as unknown[]).map(num);
const fmt = (v: number) =>
  v >= 100 ? Math.round(v).toLocaleString("en") : v.toPrecision(3);

/** The ratio `report()` prints: above 1 means noderl is ahead. */
function ratioOf(r: BenchResult): number | undefined {
  if (r.beam === undefined) return undefined;
  return r.higherIsBetter ? r.ts / r.beam : r.beam / r.ts;
}

/** Appends the issue's goal for `r` (a same-run ratio at least `min`) to its note. */
function goal(r: BenchResult, min: number, text: string): BenchResult {
  const ratio = ratioOf(r);
  const verdict = ratio === undefined
    ? "not measured"
    : ratio >= min
    ? "met"
    : "missed";
  r.note = [r.note, `goal ${text}: ${verdict}`].filter(Boolean).join("; ");
  return r;
}

/** Runs the user-style bench; returns the figures. */
export async function benchUser(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const registry = await startRegistry({ port: 0 });
  const ctls: Node[] = [];
  const ctlTs = await startNode({
    name: "ubctl@localhost",
    cookie: TS_COOKIE,
    registryPort: registry.port,
  });
  ctls.push(ctlTs);
  const peers: Peer[] = [];
  const beams: BeamNode[] = [];
  const haveBeam = erlPath !== undefined;
  const stopNodes = async () => {
    await Promise.all(peers.splice(0).map((p) => p.stop().catch(() => {})));
    await Promise.all(beams.splice(0).map((b) => b.stop().catch(() => {})));
  };
  const startTs = async (name: string, runtimeArgs?: string[]) => {
    const p = await startPeer({
      name,
      modules: MODULES,
      registryPort: registry.port,
      cookie: TS_COOKIE,
      runtimeArgs,
      startTimeoutMs: START_MS,
    });
    peers.push(p);
    return p.name;
  };
  const startBeam = async (name: string) => {
    if (!haveBeam) return undefined;
    const b = await startBeamNode({
      name,
      cookie: BEAM_COOKIE,
      registryPort: registry.port,
      timeoutMs: START_MS,
    });
    beams.push(b);
    return b.name;
  };
  const ts = (node: string, fun: string, args: unknown[]) =>
    ctlTs.call(node, "UserBench", fun, args, CALL_MS);
  let ctlBeam: Node | undefined;
  const beam = (node: string | undefined, fun: string, args: unknown[]) =>
    node === undefined || ctlBeam === undefined
      ? Promise.resolve(undefined)
      : ctlBeam.call(node, "noderl_user_bench", fun, args, CALL_MS);

  try {
    if (haveBeam) {
      ctlBeam = await startNode({
        name: "uectl@localhost",
        cookie: BEAM_COOKIE,
        registryPort: registry.port,
      });
      ctls.push(ctlBeam);
    }
    // 1 and 2: a client node and an echo/sink node of each kind, fresh.
    const [tsA, tsB, beA, beB] = await Promise.all([
      startTs("uba@localhost"),
      startTs("ubb@localhost"),
      startBeam("uea@localhost"),
      startBeam("ueb@localhost"),
    ]);
    for (const f of ["start_echo", "start_sink"]) {
      await ts(tsB, f, []);
      await beam(beB, f, []);
    }
    const tsRt = nums(
      await ts(tsA, "roundtrip", [atom(tsB), ROUND_TRIPS, WARM]),
    );
    const beRt = beB === undefined ? undefined : nums(
      await beam(beA, "roundtrip", [atom(beB), ROUND_TRIPS, WARM]),
    );
    const blocks = (r: number[] | undefined, who: string) =>
      r ? `${who} ${r.slice(2).map(fmt).join(", ")}` : "";
    results.push(goal(
      {
        name: `user: cold round trip, ${
          ROUND_TRIPS.toLocaleString("en")
        } from a fresh process on fresh nodes`,
        unit: "µs",
        higherIsBetter: false,
        ts: tsRt[0],
        beam: beRt?.[0],
        note: `first round trip (connects): noderl ${fmt(tsRt[1])} µs` +
          (beRt ? `, BEAM ${fmt(beRt[1])} µs` : "") +
          `; µs by ${WARM.toLocaleString("en")}: ${blocks(tsRt, "noderl")}` +
          (beRt ? `; ${blocks(beRt, "BEAM")}` : ""),
      },
      1,
      "≤ 1.0× the BEAM's time",
    ));
    results.push({
      name: `user: round trip, the last ${
        WARM.toLocaleString("en")
      } of those (warm)`,
      unit: "µs",
      higherIsBetter: false,
      ts: tsRt[tsRt.length - 1],
      beam: beRt?.[beRt.length - 1],
    });

    for (
      const [label, n, size, min] of [
        ["small messages {msg, I}", SMALL_N, atom("small"), 3],
        ["1 KB messages", KB_N, 1024, 2],
      ] as const
    ) {
      const t: number[] = [], b: number[] = [];
      for (let r = 0; r < ONEWAY_RUNS; r++) {
        t.push(num(await ts(tsA, "oneway", [atom(tsB), n, size])));
        if (beB !== undefined) {
          b.push(num(await beam(beA, "oneway", [atom(beB), n, size])));
        }
      }
      results.push(goal(
        {
          name:
            `user: one-way ${label}, sender yields every 64 MB (BEAM: never)`,
          unit: "msgs/s",
          higherIsBetter: true,
          ts: median(t),
          beam: b.length ? median(b) : undefined,
          note: `median of ${ONEWAY_RUNS}: noderl ${t.map(fmt).join(", ")}` +
            (b.length ? `; BEAM ${b.map(fmt).join(", ")}` : ""),
        },
        min,
        `≥ ${min}×`,
      ));
    }
    await stopNodes();

    // 3 and 4: a fresh node of each kind spawns idle processes.
    const [tsM, beM] = await Promise.all([
      startTs(
        "ubm@localhost",
        isDeno
          ? ["--v8-flags=--expose-gc"]
          : [...process.execArgv, "--expose-gc"],
      ),
      startBeam("uem@localhost"),
    ]);
    const tsIdle = nums(await ts(tsM, "spawn_idle", [IDLE]));
    const beIdle = beM === undefined
      ? undefined
      : nums(await beam(beM, "spawn_idle", [IDLE]));
    await stopNodes();
    results.push(goal(
      {
        name: `user: local spawn of ${
          IDLE.toLocaleString("en")
        } idle processes (spawn(async () => { await receive(); }))`,
        unit: "spawns/s",
        higherIsBetter: true,
        ts: tsIdle[0],
        beam: beIdle?.[0],
        note: `until each waits in receive (the spawn loop alone: noderl ${
          fmt(tsIdle[3])
        }/s${
          beIdle ? `, BEAM ${fmt(beIdle[2])}/s` : ""
        }); then all ended, checked gone`,
      },
      1,
      "≥ 1×",
    ));
    const mem: BenchResult = {
      name:
        "user: memory per idle process (noderl: heap after full GC; BEAM: erlang:memory(processes))",
      unit: "bytes",
      higherIsBetter: false,
      ts: tsIdle[1],
      beam: beIdle?.[1],
      note: `noderl RSS +${fmt(tsIdle[2])} bytes/process; goal ≤ 1,000 bytes: ${
        tsIdle[1] <= 1000 ? "met" : "missed"
      }`,
    };
    results.push(mem);

    // 5: node start to registered.
    results.push(...await benchStarts());
  } finally {
    await stopNodes();
    for (const c of ctls) await c.stop();
    await registry.close();
  }
  return results;
}

/** A kind of node whose start is timed. */
interface Starter {
  label: string;
  /** The command line that starts a node registered as `name` with the registry on `port`. */
  command(name: string, port: number): [string, string[]];
  env?: Record<string, string>;
}

const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

/**
 * Spawns `command` and resolves with the ms from the spawn to the registry
 * accepting `name` (`registered` is told the time by the registry's log);
 * the process is then killed and awaited.
 */
async function timeStart(
  [cmd, args]: [string, string[]],
  env: Record<string, string>,
  name: string,
  registered: Map<string, (t: number) => void>,
): Promise<number> {
  let child: ChildProcess | undefined;
  let out = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  let exited: Promise<void> = Promise.resolve();
  try {
    const at = new Promise<number>((r) => registered.set(name, r));
    const t0 = performance.now();
    child = spawn(cmd, args, {
      env: { ...process.env, ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    children.add(child);
    const c = child;
    const onData = (d: Uint8Array) => {
      if (out.length < 64 * 1024) out += new TextDecoder().decode(d);
    };
    c.stdout!.on("data", onData);
    c.stderr!.on("data", onData);
    c.stdin!.on("error", () => {});
    exited = new Promise<void>((r) => c.on("close", () => r()));
    const t1 = await Promise.race([
      at,
      new Promise<never>((_, reject) => c.on("error", reject)),
      exited.then(() => {
        throw new Error(
          `${cmd} ${args.join(" ")} exited before registering ${name}:\n${out}`,
        );
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `${cmd} ${
                  args.join(" ")
                } did not register ${name} within ${START_MS} ms:\n${out}`,
              ),
            ),
          START_MS,
        );
      }),
    ]);
    return t1 - t0;
  } finally {
    clearTimeout(timer);
    registered.delete(name);
    if (child) {
      child.kill("SIGKILL");
      await exited;
      children.delete(child);
    }
  }
}

/** Node start to registered: the median of {@linkcode STARTS} of each kind. */
async function benchStarts(): Promise<BenchResult[]> {
  const nodePath = isDeno ? which("node") : process.execPath;
  const denoPath = isDeno
    ? process.execPath
    : [join(root, "node_modules", "deno", "deno"), which("deno")].find((p) =>
      p !== undefined && existsSync(p)
    );
  const peerMain = join(root, "node", "peer_main.ts");
  const esbuild = join(root, "node_modules", "esbuild", "bin", "esbuild");
  const tmp = mkdtempSync(join(tmpdir(), "noderl-userbench-"));
  const registered = new Map<string, (t: number) => void>();
  const registry: Registry = await startRegistry({
    port: 0,
    debug: true,
    log: (line) => {
      const m = /ALIVE2_REQ "([^"]+)" port/.exec(line);
      if (m) registered.get(m[1])?.(performance.now());
    },
  });
  try {
    const starters: Starter[] = [];
    const peerArgs = (name: string, port: number) => [
      "--name",
      `${name}@localhost`,
      "--registry-port",
      String(port),
      "--cookie",
      TS_COOKIE,
    ];
    const node: Starter | undefined = nodePath && existsSync(esbuild)
      ? (() => {
        // What a Node.js user runs: built JavaScript (here node/peer_main.ts
        // bundled by esbuild, as the npm build does), not a TS loader.
        const bundle = join(tmp, "peer_main.mjs");
        execFileSync(esbuild, [
          peerMain,
          "--bundle",
          "--platform=node",
          "--format=esm",
          "--target=node20",
          `--outfile=${bundle}`,
          "--log-level=error",
        ]);
        return {
          label: "noderl on Node.js (bundled JS)",
          command: (
            name,
            port,
          ) => [nodePath, [bundle, ...peerArgs(name, port)]],
        };
      })()
      : undefined;
    const deno: Starter | undefined = denoPath
      ? {
        label: "noderl on Deno (deno run of the source)",
        command: (name, port) => [denoPath, [
          "run",
          "-A",
          peerMain,
          ...peerArgs(name, port),
        ]],
      }
      : undefined;
    // The runtime that runs the bench first.
    for (const s of isDeno ? [deno, node] : [node, deno]) {
      if (s) starters.push(s);
    }
    const erl: Starter | undefined = erlPath
      ? {
        label: "erl",
        command: (name) =>
          beamCommand("erl", [
            "-noshell",
            "-sname",
            name,
            "-setcookie",
            BEAM_COOKIE,
            "-start_epmd",
            "false",
          ]),
      }
      : undefined;
    const elixir: Starter | undefined = elixirPath
      ? {
        label: "elixir",
        command: (name) =>
          beamCommand("elixir", [
            "--sname",
            name,
            "--cookie",
            BEAM_COOKIE,
            "--erl",
            "-start_epmd false",
            "-e",
            "Process.sleep(:infinity)",
          ]),
      }
      : undefined;
    const all = [...starters, erl, elixir].filter((s): s is Starter => !!s);
    const times = new Map<Starter, number[]>(all.map((s) => [s, []]));
    const env = { ERL_EPMD_PORT: String(registry.port) };
    let k = 0;
    // Rounds, each starting every kind once, so drift hits all alike.
    for (let r = 0; r < STARTS; r++) {
      for (const s of all) {
        const name = `ubstart${++k}`;
        times.get(s)!.push(
          await timeStart(
            s.command(name, registry.port),
            env,
            name,
            registered,
          ),
        );
      }
    }
    const med = (s: Starter | undefined) =>
      s ? median(times.get(s)!) : undefined;
    const spread = (s: Starter | undefined) =>
      s
        ? `${s.label} ${times.get(s)!.map((v) => v.toFixed(0)).join(", ")} ms`
        : "";
    return starters.map((s) =>
      goal(
        {
          name: `user: node start to registered, ${s.label} vs erl`,
          unit: "ms",
          higherIsBetter: false,
          ts: med(s)!,
          beam: med(erl),
          ref: elixir ? { label: "elixir", value: med(elixir)! } : undefined,
          note: `median of ${STARTS}: ${
            [s, erl, elixir].map(spread).filter(Boolean).join("; ")
          }`,
        },
        1,
        "≤ 1× erl's time",
      )
    );
  } finally {
    await registry.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}
