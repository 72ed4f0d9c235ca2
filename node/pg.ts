/**
 * Process groups, as OTP's `pg` module (kernel `pg.erl`, OTP 23+) has them
 * and speaking its protocol: a scope is a process registered under the
 * scope's name (`pg` by default) on each node that runs it; scopes of the
 * same name on connected visible nodes find each other (`{discover, Scope}`)
 * and keep each other told of the local members of every group (`sync`,
 * `join`, `leave`). A group's members are every node's members; they leave
 * when they end or their node goes down. BEAM nodes that run the same
 * scope (`pg:start(Scope)`, or kernel's `start_pg`) take part alike.
 *
 * @example
 * ```ts
 * import { startRegistry } from "./registry.ts";
 * import { startNode } from "./node.ts";
 * import { startPg } from "./pg.ts";
 * import assert from "node:assert/strict";
 *
 * const registry = await startRegistry({ port: 0 });
 * const alex = await startNode({ name: "pgalex@localhost", cookie: "c", registryPort: registry.port });
 * const kate = await startNode({ name: "pgkate@localhost", cookie: "c", registryPort: registry.port });
 * const onAlex = startPg(alex), onKate = startPg(kate);
 * await alex.connect("pgkate@localhost");
 * const worker = kate.spawn(() => new Promise(() => {}));
 * onKate.join("workers", worker);
 * for (let i = 0; i < 100 && onAlex.getMembers("workers").length === 0; i++) {
 *   await new Promise((r) => setTimeout(r, 10));
 * }
 * assert.equal(onAlex.getMembers("workers")[0].equals(worker), true);
 * assert.deepEqual(onAlex.getLocalMembers("workers"), []);
 * await alex.stop();
 * await kate.stop();
 * await registry.close();
 * ```
 *
 * @module
 */
import { A } from "./_atoms.ts";
import {
  brief,
  hooksOf,
  peerLine,
  serialHandler,
  visibleNodes,
} from "./_cluster_hooks.ts";
import { processContext, runningNodes } from "./_context.ts";
import { termKey } from "./_term_key.ts";
import { ExitError } from "./errors.ts";
import type { Node } from "./node.ts";
import type { Process } from "./process.ts";
import { Atom, Pid, Ref, Tuple, tuple } from "./terms.ts";

const P = {
  discover: Atom.of("discover"),
  sync: Atom.of("sync"),
  join: Atom.of("join"),
  leave: Atom.of("leave"),
  nolocal: Atom.of("nolocal"),
} as const;

/** What {@linkcode PgScope.monitorScope} gives: the reference and every group. */
export interface PgScopeMonitor {
  /** Notifications come as `{Ref, join | leave, Group, [Pid]}` messages. */
  ref: Ref;
  /** Every group and its members, when the monitor was set. */
  groups: Map<unknown, Pid[]>;
}

/** What {@linkcode PgScope.monitor} gives: the reference and the members. */
export interface PgGroupMonitor {
  /** Notifications come as `{Ref, join | leave, Group, [Pid]}` messages. */
  ref: Ref;
  /** The group's members when the monitor was set. */
  members: Pid[];
}

interface GroupRow {
  group: unknown;
  all: Pid[];
  local: Pid[];
}

interface RemoteScope {
  peer: Pid;
  ref: Ref;
  groups: Map<string, { group: unknown; pids: Pid[] }>;
}

class Malformed extends Error {}

const isList = (x: unknown): x is unknown[] =>
  Array.isArray(x) && !(x instanceof Tuple);

/** `A -- B`: removes the first occurrence of each of `b` from `a`. */
function subtract(a: readonly Pid[], b: readonly Pid[]): Pid[] {
  const out = [...a];
  for (const p of b) {
    const i = out.findIndex((q) => q.equals(p));
    if (i >= 0) out.splice(i, 1);
  }
  return out;
}

function samePids(a: readonly Pid[], b: readonly Pid[]): boolean {
  return a.length === b.length && a.every((p, i) => p.equals(b[i]));
}

const scopes = new WeakMap<Node, Map<string, PgScope>>();

/**
 * A `pg` scope running on a node. Start one with {@linkcode startPg}; find
 * a running one with {@linkcode pgScope}.
 */
export class PgScope {
  /** The scope's name (the registered name, an atom on the wire). */
  readonly name: string;
  /** The node it runs on. */
  readonly node: Node;
  /** The scope process. */
  readonly proc: Process;
  private readonly groups = new Map<string, GroupRow>();
  private readonly local = new Map<
    string,
    { pid: Pid; ref: Ref; groups: unknown[] }
  >();
  private readonly remote = new Map<string, RemoteScope>();
  private readonly scopeMonitors = new Map<string, { ref: Ref; pid: Pid }>();
  private readonly groupMonitors = new Map<
    string,
    { ref: Ref; pid: Pid; group: unknown }
  >();
  private readonly log: (m: string) => void;
  private readonly onNodeup: (n: string) => void;

  /** @internal Use {@linkcode startPg}. */
  constructor(node: Node, name: string) {
    this.node = node;
    this.name = name;
    this.log = (m) => hooksOf(node).log(m);
    if (node.whereis(name) !== undefined) {
      throw new Error(
        `cannot start pg scope ${name} on ${node.name}: the name is taken by ${
          node.whereis(name)
        } (stop it, or pick another scope name)`,
      );
    }
    this.proc = node.handlerProcess(
      `pg scope ${name}`,
      serialHandler(
        (m) => this.handle(m),
        (e, m) =>
          this.log(
            `pg scope ${name} dropped a message it failed on (${
              (e as Error)?.message ?? e
            }): ${brief(m)}`,
          ),
      ),
    );
    node.register(name, this.proc.pid);
    this.onNodeup = (n: string) => {
      if (visibleNodes(node).includes(n)) this.discover(n);
    };
    node.on("nodeup", this.onNodeup);
    this.proc.exited.then(() => {
      node.off("nodeup", this.onNodeup);
      scopes.get(node)?.delete(name);
    });
    for (const n of visibleNodes(node)) this.discover(n);
  }

  /** Asks the scope of the same name on node `n` for its members. */
  private discover(n: string): void {
    // Two elements: OTP 25's pg crashes on the three-element form.
    this.sendNoconnect(
      [Atom.of(this.name), n],
      tuple(P.discover, this.proc.pid),
    );
  }

  /** `erlang:send(Dest, Msg, [noconnect])`: never brings up a connection. */
  private sendNoconnect(dest: Pid | [Atom, string], msg: unknown): void {
    const n = dest instanceof Pid ? dest.node : dest[1];
    if (n !== this.node.name && !this.node.nodes("all").includes(n)) return;
    this.node.sendFrom(this.proc, dest, msg);
  }

  /** Sends `msg` to every known peer scope. */
  private broadcast(msg: unknown): void {
    for (const r of this.remote.values()) this.sendNoconnect(r.peer, msg);
  }

  // ------------------------------------------------------------ the API

  /**
   * Joins `pids` (local processes; a pid may join a group more than once
   * and then leaves it as many times) to `group`.
   */
  join(group: unknown, pids: Pid | readonly Pid[]): void {
    const list = this.ensureLocal(pids);
    for (const p of list) {
      const k = p.key;
      const e = this.local.get(k);
      if (e !== undefined) e.groups.unshift(group);
      else {
        const ref = this.node.monitorFrom(this.proc, p);
        this.local.set(k, { pid: p, ref, groups: [group] });
      }
    }
    this.joinLocalRows(group, list);
    this.broadcast(
      tuple(
        P.join,
        this.proc.pid,
        group,
        pids instanceof Pid ? pids : [...list],
      ),
    );
  }

  /**
   * Makes `pids` leave `group` once each. Returns `false` (OTP's
   * `not_joined`) when none of them was a member.
   */
  leave(group: unknown, pids: Pid | readonly Pid[]): boolean {
    const list = this.ensureLocal(pids);
    const gk = termKey(group);
    let changed = false;
    for (const p of list) {
      const e = this.local.get(p.key);
      if (e === undefined) continue;
      const i = e.groups.findIndex((g) => termKey(g) === gk);
      if (i < 0) continue;
      changed = true;
      e.groups.splice(i, 1);
      if (e.groups.length === 0) {
        this.node.demonitorFrom(this.proc, e.ref);
        this.local.delete(p.key);
      }
    }
    if (!changed) return false;
    this.leaveLocalRows(group, list);
    this.broadcast(
      tuple(
        P.leave,
        this.proc.pid,
        pids instanceof Pid ? pids : [...list],
        [group],
      ),
    );
    return true;
  }

  /** Every member of `group`, on every node (`pg:get_members/2`). */
  getMembers(group: unknown): Pid[] {
    return [...(this.groups.get(termKey(group))?.all ?? [])];
  }

  /**
   * The members of the group whose term key is `key`, not copied (the scope
   * replaces, never changes, the array it gives). For hot paths. @internal
   */
  membersByKey(key: string): readonly Pid[] {
    return this.groups.get(key)?.all ?? [];
  }

  /** The members of `group` on this node (`pg:get_local_members/2`). */
  getLocalMembers(group: unknown): Pid[] {
    return [...(this.groups.get(termKey(group))?.local ?? [])];
  }

  /** Every group with a member anywhere (`pg:which_groups/1`). */
  whichGroups(): unknown[] {
    return [...this.groups.values()].map((r) => r.group);
  }

  /** The groups with a member on this node (`pg:which_local_groups/1`). */
  whichLocalGroups(): unknown[] {
    return [...this.groups.values()].filter((r) => r.local.length > 0).map((
      r,
    ) => r.group);
  }

  /**
   * Subscribes the calling process to every membership change in the scope
   * (`pg:monitor_scope/1`): it gets `{Ref, join, Group, Pids}` and `{Ref,
   * leave, Group, Pids}` messages until {@linkcode PgScope.demonitor} or its
   * end.
   */
  monitorScope(): PgScopeMonitor {
    const caller = this.node.current();
    const ref = this.node.monitorFrom(this.proc, caller.pid);
    this.scopeMonitors.set(ref.key, { ref, pid: caller.pid });
    const groups = new Map<unknown, Pid[]>();
    for (const r of this.groups.values()) groups.set(r.group, [...r.all]);
    return { ref, groups };
  }

  /** Subscribes the calling process to the changes of one group (`pg:monitor/2`). */
  monitor(group: unknown): PgGroupMonitor {
    const caller = this.node.current();
    const ref = this.node.monitorFrom(this.proc, caller.pid);
    this.groupMonitors.set(ref.key, { ref, pid: caller.pid, group });
    return { ref, members: this.getMembers(group) };
  }

  /**
   * Ends a scope or group subscription and drops its notifications still in
   * the calling process's mailbox. Returns `false` for an unknown reference.
   */
  demonitor(ref: Ref): boolean {
    const m = this.scopeMonitors.get(ref.key) ??
      this.groupMonitors.get(ref.key);
    if (m === undefined) return false;
    this.scopeMonitors.delete(ref.key);
    this.groupMonitors.delete(ref.key);
    this.node.demonitorFrom(this.proc, ref);
    this.node.current().drain((x) =>
      x instanceof Tuple && x.length === 4 && ref.equals(x[0]) &&
      (x[1] === P.join || x[1] === P.leave)
    );
    return true;
  }

  /** Stops the scope: its members leave it on every node. */
  stop(): void {
    this.node.terminate(this.proc, A.shutdown);
  }

  // ------------------------------------------------------------ tables

  /** The pids as a list, each a live process of this node, or a throw. */
  private ensureLocal(pids: Pid | readonly Pid[]): Pid[] {
    const list = pids instanceof Pid
      ? [pids]
      : Array.isArray(pids)
      ? [...pids]
      : undefined;
    if (list === undefined) {
      throw new ExitError(
        tuple(P.nolocal, pids),
        "pg: give a pid or a list of pids",
      );
    }
    for (const p of list) {
      if (!(p instanceof Pid) || p.node !== this.node.name) {
        throw new ExitError(
          tuple(P.nolocal, p),
          `pg: only processes of ${this.node.name} can join or leave here, not ${
            String(p)
          }`,
        );
      }
    }
    return list;
  }

  /** Tells the scope's monitors that `pids` joined or left `group`. */
  private notify(action: Atom, group: unknown, pids: Pid[]): void {
    for (const { ref, pid } of this.scopeMonitors.values()) {
      this.node.sendFrom(this.proc, pid, tuple(ref, action, group, pids));
    }
    const gk = termKey(group);
    for (const { ref, pid, group: g } of this.groupMonitors.values()) {
      if (termKey(g) === gk) {
        this.node.sendFrom(this.proc, pid, tuple(ref, action, group, pids));
      }
    }
  }

  /** Adds local members to `group`'s rows. */
  private joinLocalRows(group: unknown, pids: Pid[]): void {
    const k = termKey(group);
    const r = this.groups.get(k);
    if (r !== undefined) {
      r.all = [...pids, ...r.all];
      r.local = [...pids, ...r.local];
    } else this.groups.set(k, { group, all: [...pids], local: [...pids] });
    this.notify(P.join, group, pids);
  }

  /** Takes local members out of `group`'s rows. */
  private leaveLocalRows(group: unknown, pids: Pid[]): void {
    const k = termKey(group);
    const r = this.groups.get(k);
    if (r === undefined) return;
    const all = subtract(r.all, pids);
    if (all.length === 0) this.groups.delete(k);
    else {
      r.all = all;
      r.local = subtract(r.local, pids);
    }
    this.notify(P.leave, group, pids);
  }

  /** Adds a peer's members to `group`'s rows. */
  private joinRemoteRows(group: unknown, pids: Pid[]): void {
    const k = termKey(group);
    const r = this.groups.get(k);
    if (r !== undefined) r.all = [...pids, ...r.all];
    else this.groups.set(k, { group, all: [...pids], local: [] });
    this.notify(P.join, group, pids);
  }

  /** Takes a peer's members out of the rows of `groups`. */
  private leaveRemoteRows(pids: Pid[], groups: unknown[]): void {
    for (const group of groups) {
      const k = termKey(group);
      const r = this.groups.get(k);
      if (r === undefined) continue;
      const all = subtract(r.all, pids);
      if (all.length === 0 && r.local.length === 0) this.groups.delete(k);
      else r.all = all;
      this.notify(P.leave, group, pids);
    }
  }

  // ------------------------------------------------------------ messages

  /** Takes one message; a malformed one is logged and dropped. */
  private handle(m: unknown): void {
    try {
      this.dispatch(m);
    } catch (e) {
      if (!(e instanceof Malformed)) throw e;
      peerLine(
        this.node,
        `malformed messages to pg scope ${this.name}`,
        `pg scope ${this.name} dropped a malformed message (${e.message} expected): ${
          brief(m)
        }`,
      );
    }
  }

  /** `x` as the scope pid of another node, or a throw. */
  private peerOf(x: unknown): Pid {
    if (!(x instanceof Pid) || x.node === this.node.name) {
      throw new Malformed("a scope pid of another node");
    }
    return x;
  }

  /** `x` (a pid or a list of pids) as a list, or a throw. */
  private pidsOf(x: unknown): Pid[] {
    if (x instanceof Pid) return [x];
    if (isList(x) && x.every((p) => p instanceof Pid)) return x as Pid[];
    throw new Malformed("a pid or a list of pids");
  }

  /** Acts on one pg message: discover, join, leave, a sync cast, a DOWN. */
  private dispatch(m: unknown): void {
    if (!(m instanceof Tuple) || m.length === 0) throw new Malformed("a tuple");
    const tag = m[0];
    if (tag === P.discover && (m.length === 2 || m.length === 3)) {
      this.handleDiscover(this.peerOf(m[1]));
      return;
    }
    if (tag === P.join && m.length === 4) {
      const peer = this.peerOf(m[1]);
      const pids = this.pidsOf(m[3]);
      const r = this.remote.get(peer.key);
      if (r === undefined) return; // not (or no longer) a known peer
      this.joinRemoteRows(m[2], pids);
      const k = termKey(m[2]);
      const g = r.groups.get(k);
      if (g !== undefined) g.pids = [...pids, ...g.pids];
      else r.groups.set(k, { group: m[2], pids: [...pids] });
      return;
    }
    if (tag === P.leave && m.length === 4) {
      const peer = this.peerOf(m[1]);
      const pids = this.pidsOf(m[2]);
      if (!isList(m[3])) throw new Malformed("a list of groups");
      const r = this.remote.get(peer.key);
      if (r === undefined) return;
      this.leaveRemoteRows(pids, m[3]);
      for (const group of m[3]) {
        const k = termKey(group);
        const g = r.groups.get(k);
        if (g === undefined) continue;
        g.pids = subtract(g.pids, pids);
        if (g.pids.length === 0) r.groups.delete(k);
      }
      return;
    }
    if (tag === A.gen_cast && m.length === 2) {
      const c = m[1];
      if (c instanceof Tuple && c.length === 3 && c[0] === P.sync) {
        const peer = this.peerOf(c[1]);
        if (!isList(c[2])) throw new Malformed("a list of {Group, [Pid]}");
        const groups = c[2].map((e) => {
          if (!(e instanceof Tuple) || e.length !== 2) {
            throw new Malformed("a {Group, [Pid]}");
          }
          const pids = this.pidsOf(e[1]);
          if (!isList(e[1])) throw new Malformed("a list of pids");
          return { group: e[0], pids };
        });
        this.handleSync(peer, groups);
        return;
      }
      throw new Malformed("{sync, Peer, Groups}");
    }
    if (tag === A.DOWN && m.length === 5 && m[1] instanceof Ref) {
      this.handleDown(m[1], m[3]);
      return;
    }
    throw new Malformed("a pg message");
  }

  /** A peer scope discovered this one: sync it our members and monitor it. */
  private handleDiscover(peer: Pid): void {
    const groups = new Map<string, { group: unknown; pids: Pid[] }>();
    for (const { pid, groups: gs } of this.local.values()) {
      for (const g of gs) {
        const k = termKey(g);
        const e = groups.get(k);
        if (e !== undefined) e.pids.unshift(pid);
        else groups.set(k, { group: g, pids: [pid] });
      }
    }
    const list = [...groups.values()].map((e) => tuple(e.group, e.pids));
    this.node.sendFrom(
      this.proc,
      peer,
      tuple(A.gen_cast, tuple(P.sync, this.proc.pid, list)),
    );
    if (this.remote.has(peer.key)) return;
    const ref = this.node.monitorFrom(this.proc, peer);
    this.sendNoconnect(peer, tuple(P.discover, this.proc.pid));
    this.remote.set(peer.key, { peer, ref, groups: new Map() });
  }

  /** A peer scope's full list of its members replaces what we had of it. */
  private handleSync(
    peer: Pid,
    list: Array<{ group: unknown; pids: Pid[] }>,
  ): void {
    let r = this.remote.get(peer.key);
    if (r === undefined) {
      r = {
        peer,
        ref: this.node.monitorFrom(this.proc, peer),
        groups: new Map(),
      };
    }
    const old = new Map(r.groups);
    for (const { group, pids } of list) {
      const k = termKey(group);
      const was = old.get(k);
      if (was !== undefined) {
        old.delete(k);
        if (samePids(was.pids, pids)) continue;
        const row = this.groups.get(k);
        if (row !== undefined) {
          row.all = [...pids, ...subtract(row.all, was.pids)];
        }
      } else this.joinRemoteRows(group, pids);
    }
    for (const { group, pids } of old.values()) {
      this.leaveRemoteRows(pids, [group]);
    }
    const groups = new Map<string, { group: unknown; pids: Pid[] }>();
    for (const { group, pids } of list) {
      groups.set(termKey(group), { group, pids: [...pids] });
    }
    this.remote.set(peer.key, { peer, ref: r.ref, groups });
  }

  /** A member or a peer scope went down: its rows go. */
  private handleDown(ref: Ref, pid: unknown): void {
    if (pid instanceof Pid && pid.node === this.node.name) {
      const e = this.local.get(pid.key);
      if (e !== undefined && e.ref.equals(ref)) {
        this.local.delete(pid.key);
        for (const g of e.groups) this.leaveLocalRows(g, [pid]);
        this.broadcast(tuple(P.leave, this.proc.pid, pid, e.groups));
        return;
      }
    } else if (pid instanceof Pid) {
      const r = this.remote.get(pid.key);
      if (r !== undefined && r.ref.equals(ref)) {
        this.remote.delete(pid.key);
        for (const { group, pids } of r.groups.values()) {
          this.leaveRemoteRows(pids, [group]);
        }
        return;
      }
    }
    this.scopeMonitors.delete(ref.key);
    this.groupMonitors.delete(ref.key);
  }
}

/**
 * Starts the `pg` scope `scope` on `node` (`pg:start/1`): it registers
 * under that name and finds the scopes of the same name on the node's
 * visible peers. Throws if the name is taken on the node.
 */
export function startPg(node: Node, scope: string | Atom = "pg"): PgScope {
  const name = String(scope);
  const existing = scopes.get(node)?.get(name);
  if (existing !== undefined && existing.proc.alive) {
    throw new Error(
      `pg scope ${name} already runs on ${node.name}: use pgScope(${
        JSON.stringify(name)
      }) to get it`,
    );
  }
  const s = new PgScope(node, name);
  let m = scopes.get(node);
  if (m === undefined) scopes.set(node, m = new Map());
  m.set(name, s);
  return s;
}

/**
 * The running scope `scope` of `node` (default: the calling process's
 * node), started on demand when `start` is true. Throws when it does not
 * run and `start` is false.
 */
export function pgScope(
  scope: string | Atom = "pg",
  options: { node?: Node; start?: boolean } = {},
): PgScope {
  const node = options.node ?? currentNodeOf();
  const name = String(scope);
  const s = scopes.get(node)?.get(name);
  if (s !== undefined && s.proc.alive) return s;
  if (options.start) return startPg(node, name);
  throw new Error(
    `no pg scope ${name} runs on ${node.name}: start it with startPg(node, ${
      JSON.stringify(name)
    })`,
  );
}

function currentNodeOf(): Node {
  const p = processContext.getStore();
  if (p?.owner !== undefined && p.alive) return p.owner as Node;
  const n = runningNodes[0] as Node | undefined;
  if (n === undefined) {
    throw new Error(
      "no node is running in this process: start one with startNode({ name }) first",
    );
  }
  return n;
}
