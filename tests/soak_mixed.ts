/**
 * A chaos/soak run of noderl in a mixed BEAM cluster (a script, not a unit
 * test): a registry, noderl nodes in their own OS processes (peers, with
 * tests/_soak_peer.ts) and real `erl` nodes (with tests/beam/noderl_soak.erl),
 * fully connected; then, for `--seconds`, a seeded random schedule of what an
 * Erlang/Elixir app does on day one, in every direction — sends by pid and
 * by `{name, node}` checked for exactly-once in-order delivery, rpc/erpc
 * calls and multicalls, remote spawn + link + monitor and kills with various
 * reasons, `global` and `pg`, GenServer calls — and, every `--kill-every`
 * seconds, a node killed with SIGKILL (every other node must see `nodedown`
 * and `noconnection` EXIT/DOWN) and restarted (the cluster must heal). At the
 * end: process counts back to baseline, memory, crash lines in the nodes'
 * output, a summary table of operations and violations. Exit code 1 when a
 * violation was found.
 *
 * ```sh
 * node --import tsx tests/soak_mixed.ts --seconds 120 --seed 7
 * ./node_modules/.bin/deno run -A tests/soak_mixed.ts --seconds 60 --seed 7
 * NODERL_BEAM_ROOT=/work/otp27 node --import tsx tests/soak_mixed.ts   # OTP 27 (root)
 * ```
 *
 * @module
 */
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  type Atom,
  atom,
  Float,
  formatTerm,
  ImproperList,
  type Node,
  type Peer,
  Pid,
  startNode,
  startPeer,
  startRegistry,
  type Tuple,
  tuple,
} from "../node/mod.ts";
import type { Registry } from "../node/registry.ts";
import { type BeamNode, otpRelease, startBeamNode } from "./_beam.ts";

const { values: opts } = parseArgs({
  options: {
    seconds: { type: "string", default: "60" },
    seed: { type: "string" },
    ts: { type: "string", default: "3" },
    beam: { type: "string", default: "2" },
    "kill-every": { type: "string", default: "25" },
    workers: { type: "string", default: "4" },
    verbose: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (opts.help) {
  console.log(
    "usage: soak_mixed.ts [--seconds 60] [--seed S] [--ts 3] [--beam 2] " +
      "[--kill-every 25 (0: never)] [--workers 4] [--verbose]",
  );
  process.exit(0);
}
const SECONDS = Number(opts.seconds);
const SEED = Number(opts.seed ?? Date.now() % 100000);
const N_TS = Number(opts.ts), N_BEAM = Number(opts.beam);
const KILL_EVERY = Number(opts["kill-every"]);
const WORKERS = Number(opts.workers);
const isDeno = "Deno" in globalThis;
const COOKIE = "soakcookie";
const OP_TIMEOUT = 40_000;
/** No operation takes this long, even when a node it uses dies. */
const STUCK_MS = 30_000;

// ------------------------------------------------------------------ PRNG

function mulberry32(a: number): () => number {
  return () => {
    a |= 0;
    a = (a + 0x6D2B79F5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rnd = mulberry32(SEED);
const int = (n: number) => Math.floor(rnd() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];

/** A random term of depth ≤ `d`, of every type the wire carries. */
function term(d: number): unknown {
  const leaf = [
    () => int(300) - 100,
    () => (int(2) ? 1 : -1) * 2 ** (30 + int(22)),
    () => 2n ** BigInt(64 + int(80)) * (int(2) ? 1n : -1n),
    () => new Float(pick([1, -0.5, 1e300, 0, 3.25, 2 ** 53])),
    () => atom(pick(["a", "ok", "nil", "true", "soak_x", "héllo", "ÿ"])),
    () => pick(["", "text", "héllo wörld ✓", "x".repeat(300), "🙂"]),
    () => new Uint8Array([0, 255, int(256)]),
    () => int(40) === 0 ? "y".repeat(100_000 + int(2_000_000)) : "z",
    () => [],
    () => tuple(),
  ];
  if (d <= 0 || int(3) === 0) return pick(leaf)();
  const kids = () => Array.from({ length: int(4) }, () => term(d - 1));
  return pick([
    () => tuple(...kids()),
    () => kids(),
    () => new ImproperList([term(d - 1)], term(0)),
    () => {
      // keys that are the same term twice make a map the BEAM rejects
      const m = new Map<unknown, number>(), seen = new Set<string>();
      for (const k of kids()) {
        if (seen.has(fmt(k))) continue;
        seen.add(fmt(k));
        m.set(k, m.size);
      }
      return m;
    },
    () => [104, 105], // a charlist
  ])();
}

// ------------------------------------------------------------------ cluster

type Kind = "ts" | "beam";
interface Member {
  name: string;
  kind: Kind;
  alive: boolean;
  incarnation: number;
  bootedAt: number;
  peer?: Peer;
  beam?: BeamNode;
  /** Output of earlier incarnations. */
  pastOutput: string;
  baseline?: number[];
  samples: { t: number; stats: number[] }[];
}

let registry: Registry | undefined;
let ctl: Node | undefined;
const members: Member[] = [];
let stopping = false;

const peerModules = fileURLToPath(new URL("./_soak_peer.ts", import.meta.url));
const runtimeArgs = isDeno ? ["--v8-flags=--expose-gc"] : [
  ...process.execArgv.filter((a) =>
    !a.startsWith("--test") && !a.startsWith("--inspect") &&
    !a.startsWith("--watch")
  ),
  "--expose-gc",
];

function soak(m: Member | string, fun: string, args: unknown[], ms = 15_000) {
  const name = typeof m === "string" ? m : m.name;
  return ctl!.call(name, "noderl_soak", fun, args, ms);
}

async function boot(m: Member): Promise<void> {
  if (m.kind === "ts") {
    m.peer = await startPeer({
      name: m.name,
      modules: peerModules,
      registryPort: registry!.port,
      cookie: COOKIE,
      runtimeArgs,
    });
  } else {
    m.beam = await startBeamNode({
      name: m.name,
      cookie: COOKIE,
      registryPort: registry!.port,
    });
  }
  m.incarnation++;
  m.bootedAt = performance.now();
  await soak(m, "setup", []);
}

function output(m: Member): string {
  return m.pastOutput + (m.peer?.output() ?? m.beam?.output() ?? "");
}

async function cleanup(): Promise<void> {
  for (const m of members) {
    try {
      if (m.peer?.running) await m.peer.kill();
      if (m.beam) await m.beam.kill();
    } catch { /* gone */ }
  }
  try {
    await ctl?.stop();
  } catch { /* gone */ }
  try {
    await registry?.close();
  } catch { /* gone */ }
}

process.on("SIGINT", () => {
  console.error("SIGINT: cleaning up");
  stopping = true;
  cleanup().finally(() => process.exit(130));
});

// ------------------------------------------------------------------ accounting

interface Tally {
  ok: number;
  excused: number;
  bad: number;
  ms: number;
}
const tallies = new Map<string, Tally>();
const violations: string[] = [];
let epoch = 0; // bumped when a node dies or comes back
const down = new Set<string>(); // nodes down or restarting now

function tally(key: string): Tally {
  let t = tallies.get(key);
  if (!t) tallies.set(key, t = { ok: 0, excused: 0, bad: 0, ms: 0 });
  return t;
}

function violation(text: string): void {
  const line = `[${((performance.now() - t0) / 1000).toFixed(1)}s] ${text}`;
  violations.push(line);
  console.log(`VIOLATION ${line}`);
}

const fmt = (t: unknown) => {
  try {
    return formatTerm(t).slice(0, 600);
  } catch {
    return String(t).slice(0, 600);
  }
};

const t0 = performance.now();
let tagSeq = SEED * 1000;

/** One operation from `src` (to `dst`), checked. */
async function op(
  kind: string,
  src: Member,
  dst: Member | "mixed",
  args: unknown[],
): Promise<void> {
  const dir = `${src.kind}→${dst === "mixed" ? "mixed" : dst.kind}`;
  const t = tally(`${kind.padEnd(9)} ${dir}`);
  const startEpoch = epoch;
  const involved = dst === "mixed"
    ? (args[0] as Atom[]).map(String).concat(src.name)
    : [src.name, dst.name];
  const t1 = performance.now();
  let result: unknown;
  let threw: unknown;
  inFlight++;
  try {
    result = await soak(src, kind, args, OP_TIMEOUT);
  } catch (e) {
    threw = e;
  } finally {
    inFlight--;
  }
  const took = performance.now() - t1;
  t.ms += took;
  if (took > STUCK_MS) {
    violation(
      `${kind} ${src.name} → ${dst === "mixed" ? "…" : dst.name} took ${
        (took / 1000).toFixed(1)
      } s (stuck?)`,
    );
  }
  if (threw === undefined && result === atom("ok")) {
    t.ok++;
    return;
  }
  if (
    stopping || epoch !== startEpoch || involved.some((n) => down.has(n))
  ) {
    t.excused++;
    return;
  }
  t.bad++;
  violation(
    `${kind} ${src.name} → ${dst === "mixed" ? involved.join(",") : dst.name} ${
      fmt(args).slice(0, 200)
    }: ${
      threw !== undefined
        ? `${(threw as Error).name}: ${(threw as Error).message}`
        : fmt(result)
    }`,
  );
}

const WEIGHTS: [string, number][] = [
  ["seq", 25],
  ["rpc", 15],
  ["multicall", 6],
  ["link", 20],
  ["global", 8],
  ["pg", 8],
  ["gen", 18],
];

async function worker(until: number): Promise<void> {
  const total = WEIGHTS.reduce((s, [, w]) => s + w, 0);
  while (!stopping && performance.now() < until) {
    const live = members.filter((m) => m.alive);
    if (live.length < 2 || paused) {
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    let r = int(total);
    const kind = WEIGHTS.find(([, w]) => (r -= w) < 0)![0];
    const src = pick(live);
    const others = live.filter((m) => m !== src);
    const dst = pick(others);
    const tag = tagSeq++;
    switch (kind) {
      case "seq":
        await op(kind, src, dst, [
          atom(dst.name),
          1 + int(200),
          int(65536),
          int(3) === 0 ? 1 + int(20) : 0, // every Nth message is large
          50_000 + int(250_000),
        ]);
        break;
      case "rpc":
        await op(kind, src, dst, [atom(dst.name), term(3)]);
        break;
      case "multicall": {
        const ts = live.filter(() => int(3) > 0);
        if (ts.length === 0) ts.push(dst);
        await op(kind, src, "mixed", [ts.map((m) => atom(m.name)), term(2)]);
        break;
      }
      case "link":
        await op(kind, src, dst, [atom(dst.name), int(5), tag]);
        break;
      case "global":
      case "pg":
        await op(kind, src, dst, [atom(dst.name), tag]);
        break;
      case "gen": {
        const how = int(10);
        await op(kind, src, dst, [
          atom(dst.name),
          how < 7 ? 0 : how < 9 ? 1 : 2,
          term(2),
        ]);
        break;
      }
    }
  }
}

// ------------------------------------------------------------------ chaos

let kills = 0;
const killLog: { name: string; at: number }[] = [];

async function connectAll(): Promise<void> {
  const live = members.filter((m) => m.alive || down.has(m.name));
  for (const a of live) {
    for (const b of live) {
      if (a !== b) await soak(a, "connect", [atom(b.name)]);
    }
  }
}

async function checkMesh(label: string): Promise<void> {
  const live = members.filter((m) => m.alive);
  for (let attempt = 0;; attempt++) {
    const bad: string[] = [];
    for (const m of live) {
      const peers = (await soak(m, "peers", []) as Atom[]).map(String);
      const missing = live.filter((o) => o !== m && !peers.includes(o.name))
        .map((o) => o.name);
      if (missing.length) bad.push(`${m.name} misses ${missing.join(",")}`);
    }
    if (bad.length === 0) return;
    if (attempt >= 20) {
      violation(`${label}: cluster not fully connected: ${bad.join("; ")}`);
      return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

type Events = Map<string, [number, number]>;
async function nodeEvents(m: Member): Promise<Events> {
  const list = await soak(m, "node_events", []) as Tuple[];
  return new Map(
    list.map((t) => [String(t[0]), [t[1] as number, t[2] as number]]),
  );
}

async function killAndRestart(victim: Member): Promise<void> {
  kills++;
  const label = `kill #${kills} of ${victim.name} (${victim.kind})`;
  console.log(`${label}`);
  victim.alive = false;
  down.add(victim.name);
  epoch++;
  const watchers = members.filter((m) => m.alive);
  const before = new Map<Member, Events>();
  const watches = new Map<Member, Pid>();
  for (const w of watchers) {
    before.set(w, await nodeEvents(w));
    const r = await soak(w, "watch", [atom(victim.name)]);
    if (r instanceof Pid) watches.set(w, r);
    else violation(`${label}: watch on ${w.name}: ${fmt(r)}`);
  }
  const heldTag = tagSeq++;
  const held = await soak(victim, "hold", [heldTag]);
  if (!(held instanceof Pid)) {
    violation(`${label}: hold on ${victim.name}: ${fmt(held)}`);
  }
  const heldName = tuple(atom("soak_held"), atom(victim.name), heldTag);
  victim.pastOutput = output(victim);
  killLog.push({ name: victim.name, at: performance.now() });
  if (victim.peer) await victim.peer.kill();
  else await victim.beam!.kill();
  // Every watcher must see nodedown, and EXIT + DOWN noconnection.
  const want = [
    "nodedown",
    "{down,noconnection}",
    "{down_name,noconnection}",
    "{exit,noconnection}",
  ].join(" ");
  const deadline = performance.now() + 15_000;
  for (const w of watchers) {
    for (;;) {
      const ev = await nodeEvents(w);
      const d0 = before.get(w)!.get(victim.name)?.[1] ?? 0;
      const d1 = ev.get(victim.name)?.[1] ?? 0;
      if (d1 === d0 + 1) break;
      if (d1 > d0 + 1 || performance.now() > deadline) {
        violation(`${label}: ${w.name} saw ${d1 - d0} nodedown events`);
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const pid = watches.get(w);
    if (!pid) continue;
    let got = "";
    for (;;) {
      // the watcher answers once: ask only when the three are due
      await new Promise((r) => setTimeout(r, 300));
      const evs = await soak(w, "watch_result", [pid]);
      got = Array.isArray(evs)
        ? evs.map((e) => fmt(e).replace(/\s/g, "")).sort().join(" ")
        : fmt(evs);
      break;
    }
    if (got !== want) {
      violation(
        `${label}: watcher on ${w.name} saw [${got}], wanted [${want}]`,
      );
    }
    // The dead node's global name and pg member are gone everywhere.
    for (
      const [what, fun, gone] of [
        ["global name", "gwhere", atom("undefined")],
        ["pg member", "pg_members", []],
      ] as const
    ) {
      let last: unknown;
      for (let k = 0;; k++) {
        last = await soak(w, fun, [heldName]);
        if (fmt(last) === fmt(gone)) break;
        if (k >= 50) {
          violation(
            `${label}: ${w.name} still has the dead node's ${what}: ${
              fmt(last)
            }`,
          );
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
  // Restart under the same name; every node reconnects.
  await new Promise((r) => setTimeout(r, 500));
  const before2 = victim.incarnation;
  for (let attempt = 0;; attempt++) {
    try {
      await boot(victim);
      break;
    } catch (e) {
      if (attempt >= 3) {
        violation(`${label}: restart failed: ${(e as Error).message}`);
        down.delete(victim.name);
        return;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  if (victim.incarnation === before2) return;
  try {
    await connectAll();
  } catch (e) {
    violation(`${label}: reconnect: ${(e as Error).message}`);
  }
  victim.alive = true;
  down.delete(victim.name);
  epoch++;
  await checkMesh(`after ${label}`);
  victim.baseline = undefined;
  await baseline(victim);
}

let disconnects = 0;
let paused = false;
let inFlight = 0;
let conflicts = 0;

async function checkConflict(
  label: string,
  name: unknown,
  holders: [Member, Pid][],
): Promise<void> {
  let detail = "";
  for (let k = 0; k < 50; k++) {
    await new Promise((r) => setTimeout(r, 200));
    const alive: Pid[] = [];
    for (const [m, h] of holders) {
      if (await soak(m, "alive", [h]) === true) alive.push(h);
    }
    const seen: string[] = [];
    for (const m of members.filter((m) => m.alive)) {
      seen.push(fmt(await soak(m, "gwhere", [name])));
    }
    detail = `holders alive: ${alive.map(fmt).join(",") || "none"}; ` +
      `whereis on each node: ${seen.join(" ")}`;
    if (
      alive.length === 1 && seen.every((s) => s === fmt(alive[0]))
    ) return;
  }
  violation(`${label}: name conflict not resolved: ${detail}`);
}

/**
 * One node drops its connection to another (`erlang:disconnect_node`,
 * `node.disconnect`); global's prevent_overlapping_partitions may cut more.
 * Then everyone reconnects: the mesh must heal, the cluster work again.
 */
async function disconnectAndHeal(): Promise<void> {
  const live = members.filter((m) => m.alive);
  if (live.length < 3) return;
  const a = pick(live), b = pick(live.filter((m) => m !== a));
  disconnects++;
  const label = `disconnect #${disconnects}: ${a.name} drops ${b.name}`;
  console.log(label);
  // Every op is excused meanwhile: global may partition anyone; and the
  // workers pause, or their traffic would reconnect the two at once.
  for (const m of live) down.add(m.name);
  epoch++;
  paused = true;
  while (inFlight > 0) await new Promise((r) => setTimeout(r, 50));
  try {
    const r = await soak(a, "disconnect", [atom(b.name)]);
    if (r !== true) violation(`${label}: disconnect answered ${fmt(r)}`);
    await new Promise((r) => setTimeout(r, 1500));
    // The same global name on both sides of the cut: when the partitions
    // merge, global keeps one (random_exit_name kills the other's holder)
    // and every node agrees.
    const name = tuple(atom("soak_conflict"), disconnects, SEED);
    const ha = await soak(a, "conflict_reg", [name]);
    const hb = await soak(b, "conflict_reg", [name]);
    await connectAll();
    if (ha instanceof Pid && hb instanceof Pid) {
      conflicts++;
      await checkConflict(label, name, [[a, ha], [b, hb]]);
    }
    for (const h of [ha, hb]) if (h instanceof Pid) ctl!.send(h, atom("stop"));
  } catch (e) {
    violation(`${label}: ${(e as Error).message}`);
  }
  paused = false;
  await checkMesh(`after ${label}`);
  for (const m of live) down.delete(m.name);
  epoch++;
}

async function chaos(until: number): Promise<void> {
  if (KILL_EVERY <= 0) return;
  let k = 0;
  for (;;) {
    const wait = KILL_EVERY * 1000 * (0.6 + rnd() * 0.8);
    if (performance.now() + wait > until - 5000 || stopping) return;
    await new Promise((r) => setTimeout(r, wait));
    if (int(3) === 0) {
      await disconnectAndHeal();
      continue;
    }
    const kind: Kind = k++ % 2 === 0 ? "ts" : "beam";
    const pool = members.filter((m) => m.kind === kind && m.alive);
    if (pool.length < 2) continue; // keep one of each kind standing
    await killAndRestart(pick(pool));
  }
}

// ------------------------------------------------------------------ health

async function stats(m: Member): Promise<number[]> {
  return await soak(m, "stats", []) as number[];
}

async function baseline(m: Member): Promise<void> {
  m.baseline = await stats(m);
}

async function sampler(until: number): Promise<void> {
  while (!stopping && performance.now() < until) {
    await new Promise((r) => setTimeout(r, 10_000));
    for (const m of members.filter((m) => m.alive)) {
      try {
        m.samples.push({
          t: Math.round((performance.now() - t0) / 1000),
          stats: await stats(m),
        });
      } catch { /* dying */ }
    }
  }
}

const CRASH =
  /uncaught|unhandled|CRASH REPORT|ERROR REPORT|WARNING REPORT|corrupted|Error in process|SUPERVISOR REPORT|\bcrash|TypeError|RangeError|ReferenceError/i;

let partitionWarnings = 0;

function crashLines(m: Member): string[] {
  const lines = output(m).split("\n");
  const hits: string[] = [];
  lines.forEach((l, i) => {
    if (!CRASH.test(l)) return;
    // a BEAM report's text is on the lines after its header
    const hit = /REPORT/.test(l) ? lines.slice(i, i + 2).join(" | ") : l;
    // OTP 25+ global's prevent_overlapping_partitions logs this when a
    // node dies (it learns of the loss from a peer before its own nodedown):
    // expected; a real partition shows as a mesh violation.
    if (/overlapping partitions/.test(hit)) partitionWarnings++;
    else hits.push(hit);
  });
  return hits;
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  console.log(
    `soak: seed ${SEED}, ${SECONDS} s, ${N_TS} noderl + ${N_BEAM} erl (OTP ${otpRelease}), runtime ${
      isDeno ? "deno" : `node ${process.version}`
    }, kill every ~${KILL_EVERY} s, ${WORKERS} workers`,
  );
  registry = await startRegistry({ port: 0 });
  ctl = await startNode({
    name: "soakctl@localhost",
    cookie: COOKIE,
    registryPort: registry.port,
    hidden: true,
  });
  for (let i = 1; i <= N_TS; i++) {
    members.push({
      name: `ts${i}@localhost`,
      kind: "ts",
      alive: false,
      incarnation: 0,
      bootedAt: 0,
      pastOutput: "",
      samples: [],
    });
  }
  for (let i = 1; i <= N_BEAM; i++) {
    members.push({
      name: `erl${i}@localhost`,
      kind: "beam",
      alive: false,
      incarnation: 0,
      bootedAt: 0,
      pastOutput: "",
      samples: [],
    });
  }
  await Promise.all(members.map((m) => boot(m)));
  for (const m of members) m.alive = true;
  await connectAll();
  await checkMesh("start");
  await new Promise((r) => setTimeout(r, 1000));
  for (const m of members) await baseline(m);
  console.log("cluster up:", members.map((m) => m.name).join(" "));

  const until = performance.now() + SECONDS * 1000;
  const progress = setInterval(() => {
    const ok = [...tallies.values()].reduce((s, t) => s + t.ok, 0);
    console.log(
      `  ${
        ((performance.now() - t0) / 1000).toFixed(0)
      }s: ${ok} ops ok, ${violations.length} violations`,
    );
  }, 15_000);
  try {
    await Promise.all([
      ...Array.from({ length: WORKERS }, () => worker(until)),
      chaos(until),
      sampler(until),
    ]);
  } finally {
    clearInterval(progress);
  }

  // Load is off: let stragglers (holders, victims) end, then compare.
  console.log("load stopped; settling");
  await checkMesh("end");
  await new Promise((r) => setTimeout(r, 5000));
  const rows: string[] = [];
  for (const m of members.filter((m) => m.alive)) {
    const end = await stats(m);
    const b = m.baseline!;
    const series = m.samples.map((s) =>
      m.kind === "ts"
        ? `${s.t}s:${(s.stats[1] / 1e6).toFixed(0)}/${
          (s.stats[2] / 1e6).toFixed(0)
        }/${(s.stats[4] / 1e6).toFixed(0)}`
        : `${s.t}s:${s.stats[0]}p`
    ).join(" ");
    if (m.kind === "ts") {
      rows.push(
        `${m.name.padEnd(16)} procs ${b[0]}→${end[0]}  rss ${
          (b[1] / 1e6).toFixed(0)
        }→${(end[1] / 1e6).toFixed(0)} MB  heap ${(b[2] / 1e6).toFixed(1)}→${
          (end[2] / 1e6).toFixed(1)
        } MB  arrayBuffers ${(b[4] / 1e6).toFixed(1)}→${
          (end[4] / 1e6).toFixed(1)
        } MB  [rss/heap/arrayBuffers MB: ${series}]`,
      );
      if (end[0] > b[0] + 2) {
        violation(
          `${m.name}: ${end[0]} processes after the load, ${b[0]} before`,
        );
      }
      if (end[2] > 2 * b[2] + 20e6) {
        violation(
          `${m.name}: heap ${(end[2] / 1e6).toFixed(1)} MB after the load, ${
            (b[2] / 1e6).toFixed(1)
          } MB before`,
        );
      }
    } else {
      rows.push(
        `${m.name.padEnd(16)} procs ${b[0]}→${end[0]}  mem ${
          (b[1] / 1e6).toFixed(1)
        }→${(end[1] / 1e6).toFixed(1)} MB  [${series}]`,
      );
      if (end[0] > b[0] + 2) {
        violation(
          `${m.name}: ${end[0]} processes after the load, ${b[0]} before`,
        );
      }
    }
  }
  // Each node saw each other node go down once per kill, and up once more.
  for (const m of members.filter((m) => m.alive)) {
    const ev = await nodeEvents(m);
    for (const o of members.filter((o) => o !== m)) {
      const k = killLog.filter((k) => k.name === o.name && k.at > m.bootedAt)
        .length;
      const [u, d] = ev.get(o.name) ?? [0, 0];
      // Disconnects add down/up pairs; the last of each pair is an up.
      if (u !== d + 1 || d < k || (disconnects === 0 && d !== k)) {
        violation(
          `${m.name} saw ${o.name} up ${u} and down ${d} times, wanted ${
            k + 1
          } and ${k}`,
        );
      }
    }
  }
  for (const m of members) {
    const lines = crashLines(m);
    if (lines.length) {
      violation(
        `${m.name} printed ${lines.length} crash lines, e.g.:\n    ${
          lines.slice(0, 5).join("\n    ")
        }`,
      );
    }
    if (opts.verbose) console.log(`--- ${m.name} output\n${output(m)}`);
  }

  console.log("\n=== summary (seed %d, %d s, %d kills)", SEED, SECONDS, kills);
  console.log(
    "operation  direction       ok  excused  bad   avg ms",
  );
  for (const [k, t] of [...tallies].sort()) {
    const n = t.ok + t.excused + t.bad;
    console.log(
      `${k.padEnd(20)} ${String(t.ok).padStart(7)} ${
        String(t.excused).padStart(8)
      } ${String(t.bad).padStart(4)} ${(t.ms / n).toFixed(1).padStart(8)}`,
    );
  }
  console.log("\nnodes:");
  for (const r of rows) console.log("  " + r);
  console.log(
    `\n${disconnects} disconnects, ${conflicts} global name conflicts on merge`,
  );
  console.log(
    `${partitionWarnings} global "prevent overlapping partitions" warnings (expected after kills)`,
  );
  console.log(`${violations.length} violations`);
  for (const v of violations) console.log("  " + v);
  process.exitCode = violations.length ? 1 : 0;
}

try {
  await main();
} catch (e) {
  console.error("soak failed:", e);
  process.exitCode = 2;
} finally {
  stopping = true;
  await cleanup();
}
// Peers' stdin pipes and timers must not keep us alive.
process.exit(process.exitCode ?? 0);
