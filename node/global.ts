/**
 * Global names and locks, as OTP's `global` module (and Elixir's
 * `:global`) has them, speaking its protocol with BEAM nodes: every visible
 * node runs a `global_name_server` that syncs with the others when they
 * connect, so `global:sync()`, `global:trans/2` and `global:register_name/2`
 * on BEAM nodes work with noderl nodes in the cluster, and noderl code
 * registers and finds names across it.
 *
 * Names are any terms; a name is released everywhere when its process
 * ends or its node goes down. When two partitions that registered the same
 * name connect, the clash is resolved as `global` resolves it (by default
 * `random_exit_name`: the pid on the node with the greater name is killed).
 *
 * @example
 * ```ts
 * import { startRegistry } from "./registry.ts";
 * import { startNode } from "./node.ts";
 * import { registerGlobal, syncGlobal, unregisterGlobal, whereisGlobal } from "./global.ts";
 * import assert from "node:assert/strict";
 *
 * const registry = await startRegistry({ port: 0 });
 * const alex = await startNode({ name: "galex@localhost", cookie: "c", registryPort: registry.port });
 * const kate = await startNode({ name: "gkate@localhost", cookie: "c", registryPort: registry.port });
 * await alex.connect("gkate@localhost");
 * await syncGlobal();
 * const pid = alex.spawn(() => new Promise(() => {}));
 * assert.equal(await registerGlobal("service", pid), true);
 * assert.equal(whereisGlobal("service", kate)?.equals(pid), true); // known on kate too
 * await unregisterGlobal("service");
 * assert.equal(whereisGlobal("service"), undefined);
 * await alex.stop();
 * await kate.stop();
 * await registry.close();
 * ```
 *
 * @module
 */
import { A } from "./_atoms.ts";
import {
  attachHooks,
  type ClusterHooks,
  serialHandler,
  visibleNodes,
} from "./_cluster_hooks.ts";
import { processContext, runningNodes } from "./_context.ts";
import { multiCall } from "./_gen.ts";
import { G } from "./_global_atoms.ts";
import {
  deleteGlobalLock,
  delLockFrom,
  Locker,
  randomSleep,
  setLockFrom,
  setLockOnNodes,
} from "./_global_locker.ts";
import { brief, GlobalServer } from "./_global_server.ts";
import { maxNode } from "./_term_key.ts";
import { ExitError } from "./errors.ts";
import type { Node } from "./node.ts";
import type { Process } from "./process.ts";
import { Atom, ExportFun, Fun, Pid, Tuple, tuple } from "./terms.ts";

/** How a name clash between two partitions is resolved (OTP's predefined resolvers). */
export type GlobalResolver =
  | "random_exit_name"
  | "random_notify_name"
  | "notify_all_name";

/** Options of {@linkcode registerGlobal}. */
export interface RegisterGlobalOptions {
  /**
   * The resolve function global calls if another partition registered the
   * same name: `random_exit_name` kills one of the two (the one on the node
   * with the greater name), `random_notify_name` sends it
   * `{global_name_conflict, Name}` instead, `notify_all_name` unregisters
   * the name and tells both. Default `"random_exit_name"`.
   */
  resolve?: GlobalResolver;
  /** The node to act on. Default: the calling process's node. */
  node?: Node;
}

/** A lock id: `[ResourceId, LockRequesterId]` (Erlang's `{ResourceId, LockRequesterId}`). */
export type LockId = readonly [resource: unknown, requester: unknown] | Tuple;

/** Options of {@linkcode setLock}, {@linkcode delLock} and {@linkcode trans}. */
export interface LockOptions {
  /** The nodes to lock on. Default: this node and every visible node. */
  nodes?: readonly string[];
  /**
   * How many more times to try when the lock is taken (sleeping a random,
   * growing time in between, as global does). Default `Infinity`.
   */
  retries?: number;
  /** The node to act on. Default: the calling process's node. */
  node?: Node;
}

interface Global {
  server: GlobalServer;
  registrar: Process;
}

const globals = new WeakMap<Node, Global>();

class RegistrarJob {
  constructor(
    readonly fn: (nodes: string[]) => Promise<unknown>,
    readonly resolve: (v: unknown) => void,
    readonly reject: (e: unknown) => void,
  ) {}
}

/** What the node tells its global. @internal */
export interface GlobalHandle {
  /**
   * This node is disconnecting from `node` (`Node.disconnect`): global takes
   * it as down at once (once the connection's end has gone out), as OTP's
   * global gets its nodedown when `erlang:disconnect_node/1` returns —
   * before what the peer and the others do about it, not after the peer's
   * answer to the close.
   */
  disconnecting(node: string): void;
}

/**
 * Starts `global` on a node: its `global_name_server`, locker and
 * registrar, and the `global` module BEAM nodes call (`resolve_it` for name
 * clashes). Called by the node as it starts. @internal
 */
export function startGlobal(node: Node, hooks: ClusterHooks): GlobalHandle {
  attachHooks(node, hooks);
  // deno-lint-ignore prefer-const
  let server: GlobalServer;
  const handler = serialHandler(
    (m) => server.handle(m),
    (e, m) =>
      hooks.log(
        `global_name_server: a message failed and was dropped (${
          (e as Error)?.message ?? e
        }): ${brief(m)}`,
      ),
  );
  const proc = hooks.systemProcess("global_name_server", handler);
  server = new GlobalServer(node, hooks, proc);
  const holder: { locker?: Locker } = {};
  const lp = node.spawnLocal(node.shell, () => holder.locker!.run(), {
    label: "global locker",
  });
  holder.locker = new Locker(server, lp);
  server.locker = lp;
  const registrar = node.spawnLocal(node.shell, () => registrarLoop(node), {
    label: "global registrar",
  });
  for (const p of [lp, registrar]) {
    p.exited.then((reason) => {
      if (proc.alive && !node.isStopped) {
        hooks.log(`global's ${p.label} ended: ${brief(reason)}`);
      }
    });
  }
  globals.set(node, { server, registrar });
  node.on("nodeup", (n: string) => server.nodeup(n));
  node.on("nodedown", (n: string) => server.nodedown(n));
  // After a turn of the event loop: the connection's end goes out first.
  const handle: GlobalHandle = {
    disconnecting: (n) => void setImmediate(() => server.nodedown(n)),
  };
  node.defineModule("global", {
    resolve_it: (method: unknown, name: unknown, p1: unknown, p2: unknown) =>
      resolveIt(node, method, name, p1, p2),
    random_exit_name: (name: unknown, p1: unknown, p2: unknown) =>
      builtinResolver(node, "random_exit_name", name, p1, p2),
    random_notify_name: (name: unknown, p1: unknown, p2: unknown) =>
      builtinResolver(node, "random_notify_name", name, p1, p2),
    notify_all_name: (name: unknown, p1: unknown, p2: unknown) =>
      builtinResolver(node, "notify_all_name", name, p1, p2),
    whereis_name: (name: unknown) => server.where(name) ?? A.undefined,
    registered_names: () => [...server.names.values()].map((e) => e.name),
  });
  return handle;
}

/** The registrar's life: one name transaction at a time (`trans_all_known`). */
async function registrarLoop(node: Node): Promise<void> {
  const g = globals.get(node)!;
  const p = g.registrar;
  for (;;) {
    const m = await p.receive();
    if (!(m instanceof RegistrarJob)) continue; // stray replies and the like
    try {
      m.resolve(await transAllKnown(g.server, p, m.fn));
    } catch (e) {
      m.reject(e);
    }
  }
}

/** Locks `{global, Registrar}` on every known node, runs `fn(nodes)`, unlocks. */
async function transAllKnown(
  server: GlobalServer,
  p: Process,
  fn: (nodes: string[]) => Promise<unknown>,
): Promise<unknown> {
  const id = tuple(G.global, p.pid);
  let nodes: string[];
  for (let times = 0;; times++) {
    const known = server.knownNodes();
    nodes = [server.node.name, ...known];
    const boss = maxNode(nodes);
    if (await setLockOnNodes(server, p, id, [boss])) {
      if (
        await setLockOnNodes(server, p, id, nodes) &&
        server.knownNodes().every((n) => known.includes(n))
      ) break;
      await delLockFrom(server, p, id, [boss]);
    }
    await randomSleep(p, times);
  }
  try {
    return await fn(nodes);
  } finally {
    await deleteGlobalLock(server, p, id, nodes);
  }
}

function globalOf(node: Node): Global {
  const g = globals.get(node);
  if (g === undefined) {
    throw new Error(`global is not running on ${node.name}`);
  }
  return g;
}

/** The node and process the calling code acts for. */
function caller(explicit?: Node): [Node, Process] {
  const p = processContext.getStore();
  if (explicit !== undefined) {
    return [
      explicit,
      p !== undefined && p.owner === explicit ? p : explicit.shell,
    ];
  }
  if (p !== undefined && p.owner !== undefined && p.alive) {
    return [p.owner as Node, p];
  }
  const n = runningNodes[0] as Node | undefined;
  if (n === undefined) {
    throw new Error(
      "no node is running in this process: start one with startNode({ name }) first",
    );
  }
  return [n, n.shell];
}

function runRegistrar<T>(
  node: Node,
  fn: (nodes: string[], registrar: Process) => Promise<T>,
): Promise<T> {
  const g = globalOf(node);
  return new Promise<T>((resolve, reject) => {
    if (!g.registrar.alive) {
      reject(new Error(`global's registrar on ${node.name} is not running`));
      return;
    }
    g.registrar.deliver(
      new RegistrarJob(
        (nodes) => fn(nodes, g.registrar),
        resolve as (v: unknown) => void,
        reject,
      ),
    );
  });
}

const RESOLVERS = new Set([
  "random_exit_name",
  "random_notify_name",
  "notify_all_name",
]);

function methodOf(resolve: string | undefined): ExportFun {
  const r = resolve ?? "random_exit_name";
  if (!RESOLVERS.has(r)) {
    throw new TypeError(
      `resolve must be "random_exit_name", "random_notify_name" or "notify_all_name", got ${
        JSON.stringify(r)
      }`,
    );
  }
  return new ExportFun(G.global, Atom.of(r), 3);
}

/**
 * Registers `pid` under the global `name` on every node of the cluster
 * (`:global.register_name/2,3`). Resolves with `true`, or `false` when the
 * name is taken or `pid` already has a global name.
 */
export function registerGlobal(
  name: unknown,
  pid: Pid,
  options: RegisterGlobalOptions = {},
): Promise<boolean> {
  if (!(pid instanceof Pid)) {
    return Promise.reject(new TypeError("registerGlobal needs a Pid"));
  }
  let method: ExportFun;
  try {
    method = methodOf(options.resolve);
  } catch (e) {
    return Promise.reject(e);
  }
  const [node] = caller(options.node);
  const { server } = globalOf(node);
  return runRegistrar(node, async (nodes, reg) => {
    if (server.where(name) !== undefined || !server.checkDupname(name, pid)) {
      return false;
    }
    await multiCall(
      node,
      reg,
      nodes,
      "global_name_server",
      tuple(G.register, name, pid, method),
    );
    return true;
  });
}

/**
 * Registers `pid` under `name` whether or not the name is taken
 * (`:global.re_register_name/2,3`).
 */
export function reRegisterGlobal(
  name: unknown,
  pid: Pid,
  options: RegisterGlobalOptions = {},
): Promise<void> {
  if (!(pid instanceof Pid)) {
    return Promise.reject(new TypeError("reRegisterGlobal needs a Pid"));
  }
  let method: ExportFun;
  try {
    method = methodOf(options.resolve);
  } catch (e) {
    return Promise.reject(e);
  }
  const [node] = caller(options.node);
  return runRegistrar(node, async (nodes, reg) => {
    await multiCall(
      node,
      reg,
      nodes,
      "global_name_server",
      tuple(G.register, name, pid, method),
    );
  });
}

/** Removes a global name on every node (`:global.unregister_name/1`). */
export async function unregisterGlobal(
  name: unknown,
  options: { node?: Node } = {},
): Promise<void> {
  const [node] = caller(options.node);
  const { server } = globalOf(node);
  if (server.where(name) === undefined) return;
  await runRegistrar(node, async (nodes, reg) => {
    await multiCall(
      node,
      reg,
      nodes,
      "global_name_server",
      tuple(G.unregister, name),
    );
  });
}

/**
 * The pid registered under the global `name`, if any
 * (`:global.whereis_name/1`); looked up in this node's table.
 */
export function whereisGlobal(name: unknown, node?: Node): Pid | undefined {
  const [n] = caller(node);
  return globalOf(n).server.where(name);
}

/** Every global name this node knows (`:global.registered_names/0`). */
export function globalNames(node?: Node): unknown[] {
  const [n] = caller(node);
  return [...globalOf(n).server.names.values()].map((e) => e.name);
}

/**
 * Sends `message` to the process registered under the global `name` and
 * returns its pid (`:global.send/2`); throws an `ExitError` with reason
 * `{badarg, {Name, Message}}` if there is none.
 */
export function sendGlobal(name: unknown, message: unknown, node?: Node): Pid {
  const [n, p] = caller(node);
  const pid = globalOf(n).server.where(name);
  if (pid === undefined) {
    throw new ExitError(
      tuple(G.badarg, tuple(name, message)),
      `no process is registered under the global name ${brief(name)}`,
    );
  }
  n.sendFrom(p, pid, message);
  return pid;
}

/**
 * Sends to `{global, Name}` from `from`, as a `Destination` (dropped when
 * the name is unknown, as sends never fail). @internal
 */
export function sendGlobalFrom(
  node: Node,
  from: Process,
  name: unknown,
  message: unknown,
): void {
  const pid = globals.get(node)?.server.where(name);
  if (pid !== undefined) node.sendFrom(from, pid, message);
}

function lockTuple(id: LockId): Tuple {
  if (id instanceof Tuple && id.length === 2) return id;
  if (Array.isArray(id) && id.length === 2) return tuple(id[0], id[1]);
  throw new TypeError(
    "a lock id is [ResourceId, LockRequesterId] (Erlang's {ResourceId, LockRequesterId})",
  );
}

function lockNodes(node: Node, nodes: readonly string[] | undefined): string[] {
  return nodes === undefined
    ? [node.name, ...visibleNodes(node)]
    : nodes.map(String);
}

function checkRetries(retries: number | undefined): number {
  const r = retries ?? Infinity;
  if (!(r === Infinity || (Number.isInteger(r) && r >= 0))) {
    throw new RangeError(
      `retries must be an integer ≥ 0 or Infinity, got ${String(retries)}`,
    );
  }
  return r;
}

/**
 * Sets the lock `id` on `nodes` for the calling process
 * (`:global.set_lock/1,2,3`): resolves with `true` once every reachable
 * node granted it, or `false` after `retries` more tries. The lock goes
 * when the process ends or calls {@linkcode delLock}.
 */
export function setLock(
  id: LockId,
  options: LockOptions = {},
): Promise<boolean> {
  let t: Tuple, retries: number;
  try {
    t = lockTuple(id);
    retries = checkRetries(options.retries);
  } catch (e) {
    return Promise.reject(e);
  }
  const [node, p] = caller(options.node);
  return setLockFrom(
    globalOf(node).server,
    p,
    t,
    lockNodes(node, options.nodes),
    retries,
  );
}

/** Deletes the calling process's lock `id` on `nodes` (`:global.del_lock/1,2`). */
export async function delLock(
  id: LockId,
  options: Omit<LockOptions, "retries"> = {},
): Promise<void> {
  const t = lockTuple(id);
  const [node, p] = caller(options.node);
  await delLockFrom(
    globalOf(node).server,
    p,
    t,
    lockNodes(node, options.nodes),
  );
}

/** The atom `aborted`, what {@linkcode trans} gives when the lock was not had. */
export const ABORTED: Atom = Atom.of("aborted");

/**
 * Runs `fn` holding the lock `id` on `nodes` (`:global.trans/2,3,4`):
 * resolves with its result, or the atom `aborted` if the lock could not be
 * set within `retries`. The lock is deleted when `fn` ends, however it ends.
 */
export async function trans<R>(
  id: LockId,
  fn: () => R | Promise<R>,
  options: LockOptions = {},
): Promise<R | Atom> {
  const t = lockTuple(id);
  const retries = checkRetries(options.retries);
  const [node, p] = caller(options.node);
  const server = globalOf(node).server;
  const nodes = lockNodes(node, options.nodes);
  if (!(await setLockFrom(server, p, t, nodes, retries))) return ABORTED;
  try {
    return await fn();
  } finally {
    await delLockFrom(server, p, t, nodes);
  }
}

/**
 * Waits until this node's global has synced with `nodes` (default: every
 * visible node), or they went down (`:global.sync/0,1`).
 */
export function syncGlobal(
  nodes?: readonly string[],
  options: { node?: Node } = {},
): Promise<void> {
  const [node] = caller(options.node);
  const { server } = globalOf(node);
  const list = nodes === undefined ? visibleNodes(node) : nodes.map(String);
  return new Promise<void>((resolve) => {
    server.post(() => server.startSync(list, resolve));
  });
}

/** The nodes this node's global has synced with. */
export function globalSyncedNodes(node?: Node): string[] {
  const [n] = caller(node);
  return [...globalOf(n).server.synced];
}

// ------------------------------------------------------------ resolve_it

function minmax(p1: Pid, p2: Pid): [Pid, Pid] {
  return p1.node < p2.node ? [p1, p2] : [p2, p1];
}

function builtinResolver(
  node: Node,
  which: string,
  name: unknown,
  p1: unknown,
  p2: unknown,
): unknown {
  if (!(p1 instanceof Pid) || !(p2 instanceof Pid)) {
    throw new ExitError(G.badarg, "a resolve function takes Name, Pid1, Pid2");
  }
  const me = node.current();
  if (which === "notify_all_name") {
    node.sendFrom(me, p1, tuple(G.global_name_conflict, name, p2));
    node.sendFrom(me, p2, tuple(G.global_name_conflict, name, p1));
    return G.none;
  }
  const [min, max] = minmax(p1, p2);
  if (which === "random_notify_name") {
    node.sendFrom(me, max, tuple(G.global_name_conflict, name));
    return min;
  }
  globals.get(node)?.server.hooks.log(
    `global: Name conflict terminating ${brief(tuple(name, max))}`,
  );
  node.exitFrom(me, max, A.kill);
  return min;
}

/**
 * `global:resolve_it/4`, called by the node that found a clash on the node
 * of the name's current owner: runs `Method(Name, Pid1, Pid2)`, caught.
 */
async function resolveIt(
  node: Node,
  method: unknown,
  name: unknown,
  p1: unknown,
  p2: unknown,
): Promise<unknown> {
  try {
    if (
      method instanceof ExportFun && method.module === G.global &&
      method.arity === 3 && RESOLVERS.has(method.function.name)
    ) {
      return builtinResolver(node, method.function.name, name, p1, p2);
    }
    if (method instanceof Fun && method.module === G.global) {
      // `fun random_exit_name/3` inside global.erl: register_name/2's default.
      return builtinResolver(node, "random_exit_name", name, p1, p2);
    }
    if (
      method instanceof Fun && method.pid.node !== node.name &&
      node.nodes("all").includes(method.pid.node)
    ) {
      // A resolver written in Erlang or Elixir: run it where it was made.
      return await node.call(method.pid.node, "global", "resolve_it", [
        method,
        name,
        p1,
        p2,
      ]);
    }
    return tuple(A.EXIT, tuple(A.badfun, method));
  } catch (e) {
    return tuple(A.EXIT, e instanceof ExitError ? e.reason : String(e));
  }
}
