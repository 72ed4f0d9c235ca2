/**
 * What `noderl-top` shows, and how it gets it: a snapshot of a node —
 * noderl's or the BEAM's — through the BIFs every node answers over rpc
 * (`erlang:processes/0`, `process_info/2`, `memory/0`, `nodes/1`,
 * `statistics/1`, `system_info/1`), and its rendering as a table.
 * Internal.
 *
 * A BEAM node is asked for all its processes' details in one rpc,
 * `lists:zipwith(fun erlang:process_info/2, Pids, Items)`, and their real
 * initial calls with `lists:map(fun proc_lib:translate_initial_call/1, Pids)`
 * (as `observer` shows them); a noderl node, which defines only the BIFs,
 * gets one `process_info/2` call per process, 32 at a time.
 *
 * @module
 */
import { formatTerm } from "./format.ts";
import type { Node } from "./node.ts";
import { Atom, ExportFun, type Pid, Tuple } from "./terms.ts";

/** One process in the table. */
export interface TopRow {
  pid: Pid;
  /** Registered name, else the initial call. */
  name: string;
  /** Messages waiting. */
  queue: number;
  /** Reductions (cumulative; noderl counts messages delivered). */
  reductions: number;
  /** Reductions since the previous snapshot (= cumulative on the first). */
  reductionsDelta: number;
  /** Bytes (noderl: an estimate). */
  memory: number;
  /** Where it is: `M:F/A`. */
  current: string;
}

/** A node as `noderl-top` shows it. */
export interface TopSnapshot {
  node: string;
  /** `"BEAM"` or `"noderl"`. */
  machine: string;
  /** `system_version`, first line. */
  version: string;
  processCount: number;
  runQueue: number;
  uptimeMs: number;
  memory: Array<[string, number]>;
  visible: string[];
  hidden: string[];
  rows: TopRow[];
}

/** How to sort the table. */
export type TopSort = "queue" | "reductions" | "memory";

const a = Atom.of;
const ITEMS = [
  "registered_name",
  "message_queue_len",
  "reductions",
  "memory",
  "current_function",
  "initial_call",
].map(a);

function text(x: unknown): string {
  if (typeof x === "string") return x;
  if (Array.isArray(x) && x.every((c) => typeof c === "number")) {
    return String.fromCodePoint(...(x as number[]));
  }
  return formatTerm(x);
}

function mfa(x: unknown): string {
  if (x instanceof Tuple && x.length === 3) {
    return `${String(x[0])}:${String(x[1])}/${String(x[2])}`;
  }
  return formatTerm(x);
}

function items(info: unknown): Map<string, unknown> | undefined {
  if (!Array.isArray(info)) return undefined;
  const m = new Map<string, unknown>();
  for (const kv of info) {
    if (kv instanceof Tuple && kv.length === 2) m.set(String(kv[0]), kv[1]);
  }
  return m;
}

/** Takes a snapshot of `target` through `node` (connected to it). */
export async function snapshot(
  node: Node,
  target: string,
  previous: TopSnapshot | undefined,
  timeoutMs = 10_000,
): Promise<TopSnapshot> {
  const call = (m: string, f: string, args: unknown[]) =>
    node.call(target, m, f, args, timeoutMs);
  const machine = previous?.machine ??
    text(await call("erlang", "system_info", [a("machine")]));
  const version = previous?.version ??
    text(await call("erlang", "system_info", [a("system_version")])).split(
      "\n",
    )[0];
  const [pids, memory, visible, hidden, runQueue, wall] = await Promise.all([
    call("erlang", "processes", []) as Promise<Pid[]>,
    call("erlang", "memory", []) as Promise<Tuple[]>,
    call("erlang", "nodes", [a("visible")]) as Promise<Atom[]>,
    call("erlang", "nodes", [a("hidden")]) as Promise<Atom[]>,
    call("erlang", "statistics", [a("run_queue")]) as Promise<number>,
    call("erlang", "statistics", [a("wall_clock")]) as Promise<Tuple>,
  ]);
  let infos: unknown[];
  let initial: unknown[] | undefined;
  if (machine === "BEAM") {
    [infos, initial] = await Promise.all([
      call("lists", "zipwith", [
        new ExportFun(a("erlang"), a("process_info"), 2),
        pids,
        pids.map(() => ITEMS),
      ]) as Promise<unknown[]>,
      call("lists", "map", [
        new ExportFun(a("proc_lib"), a("translate_initial_call"), 1),
        pids,
      ]) as Promise<unknown[]>,
    ]);
  } else {
    infos = new Array(pids.length);
    let next = 0;
    const worker = async () => {
      while (next < pids.length) {
        const i = next++;
        infos[i] = await call("erlang", "process_info", [
          pids[i],
          [...ITEMS, a("dictionary")],
        ]).catch(() => a("undefined"));
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
  }
  const before = new Map(
    (previous?.rows ?? []).map((r) => [r.pid.key, r.reductions]),
  );
  const rows: TopRow[] = [];
  infos.forEach((info, i) => {
    const m = items(info);
    if (m === undefined) return; // ended meanwhile
    const pid = pids[i];
    const reg = m.get("registered_name");
    let start = m.get("initial_call");
    const dict = items(m.get("dictionary"));
    const translated = initial?.[i];
    if (
      translated instanceof Tuple &&
      mfa(translated) !== "proc_lib:init_p/5"
    ) start = translated;
    else if (dict?.get("$initial_call") instanceof Tuple) {
      start = dict.get("$initial_call");
    }
    const reductions = Number(m.get("reductions") ?? 0);
    const prev = before.get(pid.key);
    rows.push({
      pid,
      name: reg instanceof Atom ? reg.name : mfa(start),
      queue: Number(m.get("message_queue_len") ?? 0),
      reductions,
      reductionsDelta: prev === undefined
        ? reductions
        : Math.max(0, reductions - prev),
      memory: Number(m.get("memory") ?? 0),
      current: mfa(m.get("current_function")),
    });
  });
  return {
    node: target,
    machine,
    version,
    processCount: pids.length,
    runQueue: Number(runQueue),
    uptimeMs: Number(wall instanceof Tuple ? wall[0] : 0),
    memory: (memory ?? []).map((t) => [String(t[0]), Number(t[1])]),
    visible: visible.map(String),
    hidden: hidden.map(String).filter((n) => n !== node.name),
    rows,
  };
}

/** Bytes as `12.3 MB`. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n / 1024, u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

function uptime(ms: number): string {
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400),
    h = Math.floor(s / 3600) % 24,
    m = Math.floor(s / 60) % 60;
  return `${d ? `${d}d ` : ""}${h ? `${h}h ` : ""}${m}m ${
    String(s % 60).padStart(2, "0")
  }s`;
}

/** The snapshot as text: a header, memory, nodes, then the process table. */
export function render(
  s: TopSnapshot,
  options: { sort: TopSort; limit: number; width?: number },
): string {
  const key = (r: TopRow) =>
    options.sort === "memory"
      ? [r.memory, r.queue]
      : options.sort === "reductions"
      ? [r.reductionsDelta, r.queue]
      : [r.queue, r.reductionsDelta];
  const rows = [...s.rows].sort((x, y) => {
    const [a1, a2] = key(x), [b1, b2] = key(y);
    return b1 - a1 || b2 - a2;
  }).slice(0, options.limit);
  const width = options.width ?? 120;
  const cut = (t: string, n: number) =>
    t.length > n ? `${t.slice(0, n - 1)}…` : t;
  const lines = [
    `noderl-top ${s.node} (${s.machine}: ${s.version}) — ${s.processCount} processes, run queue ${s.runQueue}, uptime ${
      uptime(s.uptimeMs)
    }`,
    `memory: ${
      s.memory.filter(([k]) =>
        ["total", "processes", "system", "binary", "code", "ets"].includes(k)
      ).map(([k, v]) => `${k} ${bytes(v)}`).join("  ")
    }`,
    `nodes: visible [${s.visible.join(", ")}]  hidden [${s.hidden.join(", ")}]`,
    "",
    `${"PID".padEnd(16)} ${"NAME OR INITIAL CALL".padEnd(38)} ${
      "MSGQ".padStart(7)
    } ${"REDS".padStart(10)} ${"MEMORY".padStart(9)}  CURRENT FUNCTION`,
  ];
  for (const r of rows) {
    const pid = formatTerm(r.pid, { localNode: s.node });
    lines.push(
      cut(
        `${pid.padEnd(16)} ${cut(r.name, 38).padEnd(38)} ${
          String(r.queue).padStart(7)
        } ${String(r.reductionsDelta).padStart(10)} ${
          bytes(r.memory).padStart(9)
        }  ${r.current}`,
        width,
      ),
    );
  }
  if (s.rows.length > rows.length) {
    lines.push(
      `… ${
        s.rows.length - rows.length
      } more (sorted by ${options.sort}; --limit N shows more)`,
    );
  }
  return lines.join("\n");
}
