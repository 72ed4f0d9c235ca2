/**
 * Looking inside a node from another one, as BEAM tools do it: the BIFs
 * `erlang:processes/0`, `process_info/1,2`, `memory/0,1`, `system_info/1`,
 * `statistics/1`, `registered/0`, `whereis/1`, `is_process_alive/1`,
 * `nodes/0,1`, and Elixir's `Process.info/1,2`, `Process.list/0`,
 * `Process.alive?/1`, `Process.whereis/1`, `Process.registered/0` and
 * `Node.list/0,1`, callable over rpc with the BEAM's shapes. The node
 * installs them at start, beside its other built-in modules. Internal.
 *
 * What JavaScript cannot know is estimated or fixed, and said so in the
 * README: a process's `memory` is an estimate (1 KB plus its mailbox and
 * links), `reductions` counts the messages delivered to it, heap and stack
 * sizes are fixed figures, and node `memory` maps the runtime's
 * `process.memoryUsage()` onto the BEAM's categories.
 *
 * @module
 */
import os from "node:os";
import process from "node:process";
import { withArity } from "./arity.ts";
import { ExitError } from "./errors.ts";
import type { Process } from "./process.ts";
import { Atom, Pid, Tuple, tuple } from "./terms.ts";
import { VERSION } from "./_version.ts";

/** What introspection needs of the node. */
interface IntrospectedNode {
  readonly name: string;
  readonly creation: number;
  current(): Process;
  nodes(which?: "visible" | "all"): string[];
  liveProcesses(): Process[];
  processOf(pid: Pid): Process | undefined;
  registered(): string[];
  whereis(name: string): Pid | undefined;
  defineModule(
    name: string,
    functions: Record<string, (...args: never[]) => unknown>,
  ): void;
}

const a = Atom.of;
const A = {
  undefined: a("undefined"),
  badarg: a("badarg"),
  process: a("process"),
  waiting: a("waiting"),
  running: a("running"),
  runnable: a("runnable"),
  normal: a("normal"),
  error_handler: a("error_handler"),
  noderl: a("noderl"),
  erlang: a("erlang"),
  apply: a("apply"),
  receive: a("receive"),
  js: a("js"),
  initial_call: a("$initial_call"),
  ancestors: a("$ancestors"),
} as const;

/** The items `process_info/1` lists, in the BEAM's order (registered_name comes first when there is one). */
const INFO_ITEMS = [
  "current_function",
  "initial_call",
  "status",
  "message_queue_len",
  "links",
  "dictionary",
  "trap_exit",
  "error_handler",
  "priority",
  "group_leader",
  "total_heap_size",
  "heap_size",
  "stack_size",
  "reductions",
  "garbage_collection",
  "suspending",
] as const;

const started = performance.now();

/** An estimate of a process's memory in bytes (JavaScript has no per-process heap). */
export function processMemory(p: Process): number {
  return 1024 + 128 * p.messageCount +
    48 * (p.links.size + p.monitoredBy.size + p.monitoring.size);
}

function badarg(what: string): never {
  throw new ExitError(A.badarg, what);
}

function charlist(s: string): number[] {
  return Array.from(s, (c) => c.codePointAt(0)!);
}

/** Installs the introspection functions on `node`. @internal */
export function installIntrospection(node: IntrospectedNode): void {
  const local = (pid: unknown, fn: string): Process | undefined => {
    if (!(pid instanceof Pid)) badarg(`erlang:${fn}: not a pid`);
    if (pid.node !== node.name) {
      badarg(`erlang:${fn}: ${pid} is not a process of ${node.name}`);
    }
    const p = node.processOf(pid);
    return p !== undefined && p.alive ? p : undefined;
  };

  const status = (p: Process): Atom => {
    if (p === node.current()) return A.running;
    if (p.handler !== undefined || p.waiting) return A.waiting;
    return p.messageCount > 0 ? A.runnable : A.waiting;
  };

  const initialCall = (p: Process): unknown => {
    if (p.initialCall instanceof Tuple) return p.initialCall;
    return tuple(A.js, a(p.label ?? "anonymous"), 0);
  };

  const item = (p: Process, name: string): unknown => {
    switch (name) {
      case "registered_name":
        return p.registeredName !== undefined ? a(p.registeredName) : [];
      case "current_function":
        return p === node.current()
          ? initialCall(p)
          : p.handler !== undefined || p.waiting
          ? tuple(A.noderl, A.receive, 2)
          : initialCall(p);
      case "current_location":
        return tuple(A.noderl, A.receive, 2, []);
      case "current_stacktrace":
        return [];
      case "initial_call":
        return initialCall(p);
      case "status":
        return status(p);
      case "message_queue_len":
        return p.messageCount;
      case "messages":
        return p.messages();
      case "links":
        return [...p.links.values()];
      case "monitors":
        return [...p.monitoring.values()].map((m) =>
          tuple(
            A.process,
            m.byName !== undefined
              ? tuple(a(m.byName[0]), a(m.byName[1]))
              : m.target,
          )
        );
      case "monitored_by":
        return [...p.monitoredBy.values()].map((m) => m.watcher);
      case "dictionary":
        return p.dictionary === undefined
          ? []
          : [...p.dictionary].map(([k, v]) => tuple(k, v));
      case "trap_exit":
        return p.trapExit;
      case "error_handler":
        return A.error_handler;
      case "priority":
        return A.normal;
      case "group_leader":
        return p.groupLeader;
      case "total_heap_size":
      case "heap_size":
        return Math.ceil(processMemory(p) / 8);
      case "stack_size":
        return 0;
      case "reductions":
        return p.reductions;
      case "memory":
        return processMemory(p);
      case "garbage_collection":
        return [
          tuple(
            a("max_heap_size"),
            new Map<unknown, unknown>([[a("error_logger"), true], [
              a("kill"),
              true,
            ], [a("size"), 0]]),
          ),
          tuple(a("min_bin_vheap_size"), 46422),
          tuple(a("min_heap_size"), 233),
          tuple(a("fullsweep_after"), 65535),
          tuple(a("minor_gcs"), 0),
        ];
      case "suspending":
        return [];
      case "message_queue_data":
        return a("on_heap");
      case "parent": {
        const anc = p.dictionary?.get(A.ancestors);
        return Array.isArray(anc) && anc[0] instanceof Pid
          ? anc[0]
          : A.undefined;
      }
      default:
        return badarg(
          `erlang:process_info: ${name} is not an item noderl reports`,
        );
    }
  };

  const processInfo = (pid: unknown, spec?: unknown): unknown => {
    const p = local(pid, "process_info");
    if (spec === undefined) {
      if (p === undefined) return A.undefined;
      const out: unknown[] = [];
      if (p.registeredName !== undefined) {
        out.push(tuple(a("registered_name"), a(p.registeredName)));
      }
      for (const k of INFO_ITEMS) out.push(tuple(a(k), item(p, k)));
      return out;
    }
    const one = (s: unknown): Tuple => {
      if (!(s instanceof Atom)) {
        badarg("erlang:process_info: an item is an atom");
      }
      return tuple(s, item(p!, s.name));
    };
    if (Array.isArray(spec)) {
      for (const s of spec) {
        if (!(s instanceof Atom)) {
          badarg("erlang:process_info: an item is an atom");
        }
      }
      if (p === undefined) return A.undefined;
      return spec.map(one);
    }
    if (!(spec instanceof Atom)) {
      badarg("erlang:process_info: an item is an atom");
    }
    if (p === undefined) return A.undefined;
    if (spec.name === "registered_name" && p.registeredName === undefined) {
      return [];
    }
    return one(spec);
  };

  const live = (): Process[] => node.liveProcesses();

  const memoryList = (): Array<[string, number]> => {
    const m = process.memoryUsage();
    const procs = live().reduce((s, p) => s + processMemory(p), 0);
    const total = Math.max(m.rss, procs);
    const binary = m.arrayBuffers ?? 0;
    return [
      ["total", total],
      ["processes", procs],
      ["processes_used", procs],
      ["system", total - procs],
      ["atom", 0],
      ["atom_used", 0],
      ["binary", binary],
      ["code", 0],
      ["ets", 0],
    ];
  };

  const memory = (spec?: unknown): unknown => {
    const all = memoryList();
    if (spec === undefined) return all.map(([k, v]) => tuple(a(k), v));
    const get = (s: unknown): number => {
      const hit = all.find(([k]) => s instanceof Atom && k === s.name);
      if (hit === undefined) {
        badarg(`erlang:memory: ${String(s)} is not a memory type`);
      }
      return hit[1];
    };
    if (Array.isArray(spec)) return spec.map((s) => tuple(s, get(s)));
    return get(spec);
  };

  const cpus = () => {
    try {
      return os.availableParallelism?.() ?? os.cpus().length;
    } catch {
      return 1;
    }
  };

  const runtimeName = "Deno" in globalThis
    ? `Deno ${
      (globalThis as { Deno?: { version?: { deno?: string } } }).Deno
        ?.version?.deno
    }`
    : `Node.js ${process.version}`;

  const systemInfo = (what: unknown): unknown => {
    const k = what instanceof Atom ? what.name : "";
    switch (k) {
      case "process_count":
        return live().length;
      case "process_limit":
        return 134217727;
      case "port_count":
        return 0;
      case "port_limit":
        return 65536;
      case "atom_limit":
        return 1048576;
      case "ets_count":
        return 0;
      case "otp_release":
        return charlist("25");
      case "version":
        return charlist(VERSION);
      case "system_version":
        return charlist(
          `noderl ${VERSION} on ${runtimeName} [${process.arch}] (Erlang distribution, OTP 25 protocol)\n`,
        );
      case "machine":
        return charlist("noderl");
      case "schedulers":
      case "schedulers_online":
      case "dirty_cpu_schedulers":
        return 1;
      case "logical_processors":
      case "logical_processors_online":
      case "logical_processors_available":
        return cpus();
      case "wordsize":
        return 8;
      case "system_architecture":
        return charlist(`${process.arch}-${process.platform}`);
      case "threads":
        return true;
      case "thread_pool_size":
        return 4;
      case "kernel_poll":
        return true;
      case "build_type":
        return a("opt");
      case "heap_type":
        return a("private");
      case "creation":
        return node.creation;
      default:
        return badarg(
          `erlang:system_info: ${
            String(what)
          } is not an item noderl reports (see the README's introspection section)`,
        );
    }
  };

  let lastRuntime = 0, lastWall = 0, lastReductions = 0;
  const statistics = (what: unknown): unknown => {
    const k = what instanceof Atom ? what.name : "";
    switch (k) {
      case "runtime": {
        const u = process.cpuUsage();
        const ms = Math.round((u.user + u.system) / 1000);
        const since = ms - lastRuntime;
        lastRuntime = ms;
        return tuple(ms, since);
      }
      case "wall_clock": {
        const ms = Math.round(performance.now() - started);
        const since = ms - lastWall;
        lastWall = ms;
        return tuple(ms, since);
      }
      case "reductions":
      case "exact_reductions": {
        const total = live().reduce((s, p) => s + p.reductions, 0);
        const since = Math.max(0, total - lastReductions);
        lastReductions = total;
        return tuple(total, since);
      }
      case "run_queue":
      case "total_run_queue_lengths":
      case "total_run_queue_lengths_all":
        return live().filter((p) => status(p) === A.runnable).length;
      case "run_queue_lengths":
      case "run_queue_lengths_all":
        return [live().filter((p) => status(p) === A.runnable).length];
      case "total_active_tasks":
      case "total_active_tasks_all":
        return live().filter((p) => status(p) !== A.waiting).length;
      case "active_tasks":
      case "active_tasks_all":
        return [live().filter((p) => status(p) !== A.waiting).length];
      case "context_switches":
        return tuple(live().reduce((s, p) => s + p.reductions, 0), 0);
      case "garbage_collection":
        return tuple(0, 0, 0);
      default:
        return badarg(
          `erlang:statistics: ${
            String(what)
          } is not an item noderl reports (see the README's introspection section)`,
        );
    }
  };

  const registered = () =>
    node.registered().filter((n) => node.whereis(n) !== undefined).map(a);
  const whereis = (name: unknown): Pid | undefined => {
    if (!(name instanceof Atom)) badarg("erlang:whereis: a name is an atom");
    return node.whereis(name.name);
  };
  const nodes = (which?: unknown): Atom[] => {
    const kinds = which === undefined
      ? ["visible"]
      : (Array.isArray(which) ? which : [which]).map(String);
    const visible = node.nodes("visible");
    const all = node.nodes("all");
    const out: string[] = [];
    for (const k of kinds) {
      if (k === "this") out.push(node.name);
      else if (k === "visible") out.push(...visible);
      else if (k === "hidden") {
        out.push(...all.filter((n) => !visible.includes(n)));
      } else if (k === "connected") out.push(...all);
      else if (k === "known") out.push(node.name, ...all);
      else {
        badarg(
          `erlang:nodes: ${k} is not visible, hidden, connected, this or known`,
        );
      }
    }
    return [...new Set(out)].map(a);
  };

  node.defineModule("erlang", {
    processes: () => live().map((p) => p.pid),
    process_info: withArity([1, 2], processInfo),
    memory: withArity([0, 1], memory),
    system_info: systemInfo,
    statistics,
    registered,
    whereis: (name: unknown) => whereis(name) ?? A.undefined,
    is_process_alive: (pid: unknown) =>
      local(pid, "is_process_alive") !== undefined,
    nodes: withArity([0, 1], nodes),
  } as Record<string, (...args: never[]) => unknown>);
  node.defineModule("Elixir.Process", {
    list: () => live().map((p) => p.pid),
    info: withArity([1, 2], (pid: unknown, spec?: unknown) => {
      const r = processInfo(pid, spec);
      return r === A.undefined ? null : r;
    }),
    "alive?": (pid: unknown) => local(pid, "is_process_alive") !== undefined,
    whereis: (name: unknown) => whereis(name) ?? null,
    registered,
  } as Record<string, (...args: never[]) => unknown>);
  node.defineModule("Elixir.Node", {
    list: withArity([0, 1], (which?: unknown) => nodes(which)),
    self: () => a(node.name),
    "alive?": () => true,
  } as Record<string, (...args: never[]) => unknown>);
}
