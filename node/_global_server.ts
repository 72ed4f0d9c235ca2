/**
 * noderl's `global_name_server`: the name table, the lock table and the
 * connect protocol of OTP's `global` (kernel `global.erl`, protocol version
 * 8, as OTP 25 and OTP 27 speak it), so a visible noderl node syncs with
 * the BEAM nodes of its cluster and with other noderl nodes. The locker and
 * the registrar are in `_global_locker.ts` and `global.ts`. Internal.
 *
 * What happens when two nodes connect (both run the same steps):
 *
 * 1. on nodeup each server casts `{init_connect, {8, MyTag}, Node,
 *    {locker, no_longer_a_pid, Known, TheLocker}}` to the other and starts
 *    a resolver; on the other's `init_connect` it tells its locker about the
 *    other's locker and answers `{init_connect_ack, Node, HisTag, MyTag}`;
 * 2. the lockers take the lock `{global, [LockerA, LockerB]}` (pids
 *    sorted) on every node of both partitions (`{set_lock, Id}` calls), tell
 *    each other with `{lock_set, Locker, true, Known, Tag}` (cast to the
 *    other's server, which forwards it), and each tells its server
 *    `lock_is_set`;
 * 3. the servers send each other their names (`{exchange, Node, Names, [],
 *    Tag}`), each resolves clashes (the smaller node name calls the
 *    resolve function on the node of the name's current owner) and answers
 *    `{resolved, Node, Ops, Known, unused, [], Tag}`;
 * 4. each applies the operations, tells the nodes of its partition about
 *    the new nodes and names (`{new_nodes, …}`, sent by its locker before
 *    it deletes the lock) and connects to the other partition's nodes
 *    (`{in_sync, Node, true}`).
 *
 * @module
 */
import { A } from "./_atoms.ts";
import { brief, type ClusterHooks, peerLine } from "./_cluster_hooks.ts";

export { brief };
import { cast } from "./_gen.ts";
import {
  G,
  GLOBAL_VSN,
  PGPV_VSN,
  POP_VSN,
  VERIFY_CONNECT_VSN,
} from "./_global_atoms.ts";
import { sameTerm, termKey } from "./_term_key.ts";
import type { Node } from "./node.ts";
import type { Process } from "./process.ts";
import { Atom, ExportFun, Pid, Ref, Tuple, tuple } from "./terms.ts";

/** A registered global name. */
export interface NameEntry {
  name: unknown;
  pid: Pid;
  method: unknown;
  ref: Ref;
}

interface LockHolder {
  pid: Pid;
  ref: Ref;
}

interface LockEntry {
  resourceId: unknown;
  requesterId: unknown;
  holders: LockHolder[];
}

/** Per-node sync state (the BEAM keeps it in the process dictionary). */
interface NodeSync {
  myTag?: unknown;
  hisTag?: unknown;
  waitLock?: "lock_is_set" | { exchange: unknown[] };
  saveOps?:
    | unknown[]
    | { hisKnown: unknown[]; namesExt: unknown; hisResolved: unknown[] };
  preConnect?: Tuple;
  protVsn?: number;
  lockId?: unknown;
}

interface Resolver {
  tag: unknown;
  cancelled: boolean;
  started: boolean;
}

interface Syncer {
  waiting: Set<string>;
  done: () => void;
}

/** What the locker is told by its server (never sent over the wire). */
export type LockerMessage =
  | {
    kind: "his_the_locker";
    locker: Pid;
    vsn: number;
    hisTag: unknown;
    myTag: unknown;
  }
  | {
    kind: "cancel";
    node: string;
    tag: unknown;
    fun: ((sender: Process) => void) | undefined;
  }
  | {
    kind: "lock_set";
    pid: Pid;
    set: boolean;
    tag: unknown;
    tagged: boolean;
  }
  | { kind: "add_to_known"; nodes: string[] }
  | { kind: "remove_from_known"; node: string };

/** A message of the locker, as a class so no remote term can forge it. */
export class LockerMsg {
  constructor(readonly m: LockerMessage) {}
}

/** A message the server sends itself (never sent over the wire). */
class Internal {
  constructor(
    readonly run: () => void,
  ) {}
}

/** Thrown by the validators: the message is dropped and logged. */
class Malformed extends Error {}

function must(ok: unknown, what: string): asserts ok {
  if (!ok) throw new Malformed(what);
}

const isList = (x: unknown): x is unknown[] =>
  Array.isArray(x) && !(x instanceof Tuple);
const isNodeAtom = (x: unknown): x is Atom =>
  x instanceof Atom && x.name.length > 2 && x.name.indexOf("@") > 0 &&
  x.name.length < 1024;
const isInt = (x: unknown): boolean =>
  (typeof x === "number" && Number.isInteger(x)) || typeof x === "bigint";
const isTup = (x: unknown, n: number, tag?: unknown): x is Tuple =>
  x instanceof Tuple && x.length === n && (tag === undefined || x[0] === tag);

/** `[Node | {Node, Vsn}]` → node names with versions (0 when unknown). */
function knownList(x: unknown): Array<[string, number]> {
  must(isList(x), "a known-node list");
  return x.map((e) => {
    if (isNodeAtom(e)) return [e.name, 0];
    must(
      isTup(e, 2) && isNodeAtom(e[0]) && typeof e[1] === "number" &&
        Number.isInteger(e[1]) && e[1] >= 0,
      "a known-node entry {Node, Vsn}",
    );
    return [(e[0] as Atom).name, e[1] as number];
  });
}

/** `[{Name, Pid, Method}]` (the names an exchange carries). */
function nameList(x: unknown): Array<[unknown, Pid, unknown]> {
  must(isList(x), "a name list");
  return x.map((e) => {
    must(isTup(e, 3) && e[1] instanceof Pid, "a name {Name, Pid, Method}");
    return [e[0], e[1] as Pid, e[2]];
  });
}

type Op = { insert: [unknown, Pid, unknown] } | { delete: unknown };

/** `[{insert, {Name, Pid, Method}} | {delete, Name}]`. */
function opList(x: unknown): Op[] {
  must(isList(x), "an operation list");
  return x.map((e): Op => {
    if (isTup(e, 2, G.delete)) return { delete: e[1] };
    must(
      isTup(e, 2, G.insert) && isTup(e[1], 3) && e[1][1] instanceof Pid,
      "an operation {insert, {Name, Pid, Method}} or {delete, Name}",
    );
    const t = e[1] as Tuple;
    return { insert: [t[0], t[1] as Pid, t[2]] };
  });
}

function opTerm(op: Op): Tuple {
  return "insert" in op
    ? tuple(G.insert, tuple(op.insert[0], op.insert[1], op.insert[2]))
    : tuple(G.delete, op.delete);
}

/** The default resolver, as a fun any node can call: `fun global:random_exit_name/3`. */
export const RANDOM_EXIT_NAME: ExportFun = new ExportFun(
  G.global,
  G.random_exit_name,
  3,
);

/** The global name server of one node. @internal */
export class GlobalServer {
  /** The `global_name_server` process. */
  readonly proc: Process;
  /** The locker process (set by `global.ts` once spawned). */
  locker!: Process;
  /** Known nodes (in the same global cluster) and their protocol versions. */
  readonly known: Map<string, number> = new Map();
  /** Nodes whose connect is under way, and their versions. */
  private readonly pending = new Map<string, number>();
  /** Nodes this server has asked to go (no lost_connection for them). */
  private readonly removing = new Set<string>();
  /** Nodes that have the same names as this one. */
  synced: string[] = [];
  private readonly resolvers = new Map<string, Resolver>();
  private readonly syncers = new Set<Syncer>();
  private readonly sync = new Map<string, NodeSync>();
  /** The name table, by the name's term key. */
  readonly names: Map<string, NameEntry> = new Map();
  private readonly pidNames = new Map<string, Set<string>>();
  /** The lock table, by the resource's term key. */
  private readonly locks = new Map<string, LockEntry>();
  private globalLockDown = false;
  private readonly lost = new Map<
    string,
    { xcre: unknown; opId: unknown; timer: ReturnType<typeof setTimeout> }
  >();
  /** Visible nodes seen up (their nodedown counts). */
  private readonly up = new Set<string>();
  private readonly me: Atom;
  private tagCounter = 0;
  private opCounter = 0;
  private readonly creationExtension: bigint;
  private stopped = false;

  constructor(
    readonly node: Node,
    readonly hooks: ClusterHooks,
    proc: Process,
  ) {
    this.proc = proc;
    this.me = Atom.of(node.name);
    // As global.erl: a random 64-bit value with its low 32 bits clear, plus
    // the creation, identifies this incarnation in lost_connection messages.
    const r = BigInt(Math.floor(Math.random() * 2 ** 31)) << 32n;
    this.creationExtension = r;
    proc.exited.then(() => this.shutdown());
  }

  // ------------------------------------------------------------- helpers

  private log(message: string): void {
    this.hooks.log(message);
  }

  private st(node: string): NodeSync {
    let s = this.sync.get(node);
    if (s === undefined) this.sync.set(node, s = {});
    return s;
  }

  private myTag(node: string): unknown {
    return this.sync.get(node)?.myTag;
  }

  private newTag(): number {
    return ++this.tagCounter;
  }

  /** `gen_server:cast({global_name_server, Node}, Msg)` (connects if needed). */
  private cast(to: string, msg: unknown, from: Process = this.proc): void {
    cast(this.node, from, to, G.global_name_server, msg);
  }

  /** A send that never brings up a connection (`[noconnect]`). */
  private volatileSend(to: string, msg: unknown): void {
    if (!this.node.nodes("all").includes(to)) return;
    this.node.sendFrom(this.proc, [G.global_name_server, to], msg);
  }

  private toLocker(m: LockerMessage): void {
    if (this.locker?.alive) this.locker.deliver(new LockerMsg(m));
  }

  /** Queues `fn` behind the messages already waiting (a cast to self). */
  post(fn: () => void): void {
    if (this.proc.alive) this.proc.deliver(new Internal(fn));
  }

  private nodeVsn(node: string): number {
    if (node === this.node.name) return GLOBAL_VSN;
    return this.known.get(node) ?? this.pending.get(node) ?? 0;
  }

  /** `mk_known_list(Vsn)`: the known nodes, with versions from version 7. */
  knownList(vsn: number): unknown[] {
    const out: unknown[] = [];
    for (const [n, v] of this.known) {
      out.push(vsn < PGPV_VSN ? Atom.of(n) : tuple(Atom.of(n), v));
    }
    return out;
  }

  /** The known nodes (`get_known`). */
  knownNodes(): string[] {
    return [...this.known.keys()];
  }

  /** `can_set_lock(Id)`: no lock on the resource, or one by the same requester. */
  canSetLockHere(id: Tuple): boolean {
    const lock = this.locks.get(termKey(id[0]));
    return lock === undefined || sameTerm(lock.requesterId, id[1]);
  }

  /** `{global, Id}` is set on this node. */
  isGlobalLockSet(): boolean {
    return this.locks.has(termKey(G.global));
  }

  // ------------------------------------------------------------- entry

  /** The server's message handler (run one message at a time). */
  handle(m: unknown): void {
    if (m instanceof Internal) {
      m.run();
      return;
    }
    try {
      this.dispatch(m);
    } catch (e) {
      if (e instanceof Malformed) {
        peerLine(
          this.node,
          "malformed messages to global_name_server",
          `global_name_server dropped a malformed message (${e.message} expected): ${
            brief(m)
          }`,
        );
        return;
      }
      throw e;
    }
  }

  private dispatch(m: unknown): void {
    if (!(m instanceof Tuple) || m.length === 0) {
      throw new Malformed("a tuple");
    }
    const tag = m[0];
    if (tag === A.gen_call && m.length === 3) {
      return this.handleCall(m[1], m[2]);
    }
    if (tag === A.gen_cast && m.length === 2) return this.handleCast(m[1]);
    if (tag === A.DOWN && m.length === 5 && m[1] instanceof Ref) {
      return this.handleDown(m[1]);
    }
    if (tag === G.lost_connection && m.length === 5) {
      must(
        isNodeAtom(m[1]) && isInt(m[2]) && isInt(m[3]) && isNodeAtom(m[4]),
        "{lost_connection, NodeA, XCreation, OpId, NodeB}",
      );
      return this.handleLostConnection(m);
    }
    if (tag === G.remove_connection && m.length === 2) {
      must(isNodeAtom(m[1]), "{remove_connection, Node}");
      return this.handleRemoveConnection((m[1] as Atom).name);
    }
    if (tag === G.cancel_connect && m.length === 3) {
      must(isNodeAtom(m[1]), "{cancel_connect, Node, Tag}");
      return this.handleCancelConnect((m[1] as Atom).name, m[2]);
    }
    if (tag === G.init_connect_ack && m.length === 4) {
      must(isNodeAtom(m[1]), "{init_connect_ack, Node, HisMyTag, HisHisTag}");
      return this.handleInitConnectAck((m[1] as Atom).name, m[2], m[3]);
    }
    if (tag === G.whereis && m.length === 3) {
      this.node.replyFrom(this.proc, m[2], this.where(m[1]) ?? A.undefined);
      return;
    }
    throw new Malformed("a global message");
  }

  private handleCall(from: unknown, req: unknown): void {
    must(
      from instanceof Tuple && from.length === 2 && from[0] instanceof Pid,
      "a call's {Pid, Tag}",
    );
    const caller = from[0] as Pid;
    const reply = (v: unknown) => this.node.replyFrom(this.proc, from, v);
    if (isTup(req, 2, G.set_lock)) {
      must(isTup(req[1], 2), "{set_lock, {ResourceId, LockRequesterId}}");
      reply(this.handleSetLock(req[1] as Tuple, caller));
      return;
    }
    if (isTup(req, 2, G.del_lock)) {
      must(isTup(req[1], 2), "{del_lock, {ResourceId, LockRequesterId}}");
      this.handleDelLock(req[1] as Tuple, caller);
      reply(true);
      return;
    }
    if (isTup(req, 4, G.register)) {
      must(req[2] instanceof Pid, "{register, Name, Pid, Method}");
      this.insName(req[1], req[2] as Pid, req[3], caller, []);
      reply(A.yes);
      return;
    }
    if (isTup(req, 6, G.register_ext)) {
      // A C node's name, registered through an Erlang node: kept as a name.
      must(req[2] instanceof Pid, "{register_ext, Name, Pid, Method, RegNode}");
      this.insName(req[1], req[2] as Pid, req[3], caller, []);
      reply(A.yes);
      return;
    }
    if (isTup(req, 2, G.unregister)) {
      this.deleteGlobalName(req[1]);
      reply(A.ok);
      return;
    }
    if (req === G.get_known) return reply(this.knownList(0));
    if (req === G.get_synced) return reply(this.synced.map((n) => Atom.of(n)));
    if (req === G.get_protocol_version) return reply(GLOBAL_VSN);
    if (req === G.get_names_ext) return reply([]);
    if (isTup(req, 2, G.sync)) {
      must(isList(req[1]) && req[1].every(isNodeAtom), "{sync, [Node]}");
      const nodes = (req[1] as Atom[]).map((a) => a.name);
      this.startSync(nodes, () => reply(A.ok));
      return;
    }
    throw new Malformed("a global call");
  }

  private handleCast(msg: unknown): void {
    if (!(msg instanceof Tuple) || msg.length === 0) {
      throw new Malformed("a global cast");
    }
    const tag = msg[0];
    if (tag === G.init_connect && msg.length === 4) {
      must(isNodeAtom(msg[2]), "{init_connect, Vsn, Node, InitMsg}");
      return this.handleInitConnect(msg[1], (msg[2] as Atom).name, msg[3]);
    }
    if (tag === G.exchange && msg.length === 5) {
      must(isNodeAtom(msg[1]), "{exchange, Node, Names, NamesExt, Tag}");
      const names = nameList(msg[2]);
      return this.handleExchange((msg[1] as Atom).name, names, msg[4]);
    }
    if (tag === G.resolved && msg.length === 7) {
      must(
        isNodeAtom(msg[1]),
        "{resolved, Node, Ops, Known, _, NamesExt, Tag}",
      );
      const ops = opList(msg[2]);
      const hisKnown = knownList(msg[3]);
      return this.handleResolved(
        (msg[1] as Atom).name,
        ops,
        hisKnown,
        msg[6],
      );
    }
    if (tag === G.new_nodes && msg.length === 6) {
      must(isNodeAtom(msg[1]), "{new_nodes, Node, Ops, NamesExt, Nodes, Info}");
      const ops = opList(msg[2]);
      const nodes = knownList(msg[4]);
      must(isList(msg[5]), "new_nodes extra info as a list");
      return this.handleNewNodes(
        (msg[1] as Atom).name,
        ops,
        nodes,
        msg[5] as unknown[],
      );
    }
    if (tag === G.in_sync && msg.length === 3) {
      must(isNodeAtom(msg[1]), "{in_sync, Node, IsKnown}");
      return this.handleInSync((msg[1] as Atom).name);
    }
    if (
      (tag === G.async_del_name || tag === G.async_del_lock) &&
      msg.length === 3
    ) return; // pre-R14 messages; the DOWN does the work.
    if (tag === G.lock_set && (msg.length === 5 || msg.length === 4)) {
      must(
        msg[1] instanceof Pid && typeof msg[2] === "boolean",
        "{lock_set, Pid, Bool, Known, Tag}",
      );
      const pid = msg[1] as Pid;
      const tagged = msg.length === 5;
      if (tagged && !sameTerm(this.myTag(pid.node), msg[4])) return;
      this.toLocker({
        kind: "lock_set",
        pid,
        set: msg[2] as boolean,
        tag: tagged ? msg[4] : undefined,
        tagged,
      });
      return;
    }
    throw new Malformed("a global cast");
  }

  // ------------------------------------------------------------- nodes

  /** A connection came up (node.ts's nodeup event). */
  nodeup(node: string): void {
    if (this.hooks.hidden || !this.node.nodes().includes(node)) return;
    this.up.add(node);
    this.post(() => this.handleNodeup(node));
  }

  /** A connection went down (node.ts's nodedown event). */
  nodedown(node: string): void {
    if (!this.up.delete(node)) return;
    this.post(() => {
      this.syncersNodedown(node);
      this.handleNodedown(node, "disconnected");
    });
  }

  private handleNodeup(node: string): void {
    if (this.known.has(node) || this.resolvers.has(node)) return;
    this.resendPreConnect(node);
    const myTag = this.newTag();
    this.st(node).myTag = myTag;
    const knownMap = new Map<unknown, unknown>();
    for (const [n, v] of this.known) knownMap.set(Atom.of(n), v);
    this.cast(
      node,
      tuple(
        G.init_connect,
        tuple(GLOBAL_VSN, myTag),
        this.me,
        tuple(G.locker, G.no_longer_a_pid, knownMap, this.locker.pid),
      ),
    );
    this.resolvers.set(node, { tag: myTag, cancelled: false, started: false });
  }

  private resendPreConnect(node: string): void {
    const s = this.sync.get(node);
    const pre = s?.preConnect;
    if (pre === undefined) return;
    delete s!.preConnect;
    this.post(() => this.handleCast(pre));
  }

  private handleInitConnect(vsnTerm: unknown, node: string, initMsg: unknown) {
    must(
      vsnTerm instanceof Tuple && vsnTerm.length >= 2 &&
        typeof vsnTerm[0] === "number" && Number.isInteger(vsnTerm[0]),
      "a protocol version {Vsn, Tag}",
    );
    must(
      isTup(initMsg, 4, G.locker) && initMsg[3] instanceof Pid &&
        initMsg[3].node === node,
      "{locker, _, Known, TheLocker} from that node",
    );
    const hisVsn = vsnTerm[0] as number;
    const hisTag = vsnTerm[1];
    const vsn = Math.min(hisVsn, GLOBAL_VSN);
    if (hisVsn < 5) {
      this.log(
        `global_name_server ignored init_connect of protocol version ${hisVsn} from ${node}`,
      );
      return;
    }
    if (this.pending.has(node)) {
      if (hisVsn < VERIFY_CONNECT_VSN) {
        this.log(
          `'global' at node ${this.node.name} got an out of sync connection attempt from old version ${hisVsn} node ${node}. Disconnecting from it.`,
        );
        void this.node.disconnect(node);
        return;
      }
      // Cancel this attempt and the ongoing one; start over (as OTP 27).
      this.sendCancelConnectMessage(node, hisTag);
      this.restartConnect(node, this.myTag(node));
      return;
    }
    const s = this.st(node);
    s.protVsn = vsn;
    s.hisTag = hisTag;
    const r = this.resolvers.get(node);
    if (r !== undefined) {
      this.toLocker({
        kind: "his_the_locker",
        locker: (initMsg as Tuple)[3] as Pid,
        vsn,
        hisTag,
        myTag: s.myTag,
      });
      if (hisVsn >= VERIFY_CONNECT_VSN) {
        this.volatileSend(
          node,
          tuple(G.init_connect_ack, this.me, hisTag, s.myTag),
        );
      }
      this.pending.set(node, hisVsn);
    } else {
      s.preConnect = tuple(
        G.init_connect,
        tuple(vsn, hisTag),
        Atom.of(node),
        initMsg,
      );
    }
  }

  private restartConnect(node: string, myTag: unknown): void {
    this.cancelLocker(node, myTag);
    this.resetNodeState(node);
    this.pending.delete(node);
    // Locks the peer set here stay up with the connection: drop them (OTP 27).
    this.deleteNodeResources(node);
    if (isInt(myTag)) this.handleNodeup(node);
  }

  private handleInitConnectAck(
    node: string,
    hisMyTag: unknown,
    hisHis: unknown,
  ) {
    const myMyTag = this.myTag(node);
    const myHisTag = this.sync.get(node)?.hisTag;
    if (sameTerm(myMyTag, hisMyTag) && sameTerm(myHisTag, hisHis)) return;
    this.sendCancelConnectMessage(node, hisHis);
    this.restartConnect(node, myMyTag);
  }

  private handleCancelConnect(node: string, myTag: unknown): void {
    if (!sameTerm(this.myTag(node), myTag)) return;
    this.cancelLocker(node, myTag);
    this.resetNodeState(node);
    this.pending.delete(node);
    this.restartConnect(node, myTag);
  }

  /** From the locker: the lock is set in both partitions. */
  lockIsSet(node: string, tag: unknown, lockId: unknown): void {
    this.post(() => {
      if (!sameTerm(this.myTag(node), tag)) {
        this.cancelLocker(node, tag);
        return;
      }
      const s = this.st(node);
      this.cast(
        node,
        tuple(G.exchange, this.me, this.nameTerms(), [], s.hisTag),
      );
      s.lockId = lockId;
      const w = s.waitLock;
      s.waitLock = "lock_is_set";
      if (w !== undefined && w !== "lock_is_set") {
        this.exchange(node, w.exchange);
      }
    });
  }

  private handleExchange(node: string, names: unknown[], myTag: unknown) {
    if (!sameTerm(this.myTag(node), myTag)) {
      this.cancelLocker(node, myTag);
      return;
    }
    this.exchange(node, names);
  }

  private exchange(node: string, names: unknown[]): void {
    const s = this.st(node);
    const w = s.waitLock;
    delete s.waitLock;
    if (w === "lock_is_set") {
      const r = this.resolvers.get(node);
      if (r !== undefined && !r.started) {
        r.started = true;
        this.resolve(node, r, names as Array<[unknown, Pid, unknown]>);
      }
    } else {
      s.waitLock = { exchange: names };
    }
  }

  /** The resolver: what the other partition's names do to ours. */
  private resolve(
    node: string,
    r: Resolver,
    names: Array<[unknown, Pid, unknown]>,
  ): void {
    // A process of its own, as global's resolver: its calls to resolve_it
    // wait in its own mailbox.
    this.node.spawnLocal(this.node.shell, async () => {
      const p = this.node.current();
      try {
        const [ops, resolved] = await this.exchangeNames(p, names, node);
        if (!r.cancelled) {
          this.post(() => this.handleExchangeOps(node, r.tag, ops, resolved));
        }
      } catch (e) {
        if (!this.stopped) {
          this.log(`global's resolver for ${node} failed: ${e}`);
        }
      }
    }, { label: `global resolver for ${node}` });
  }

  private async exchangeNames(
    p: Process,
    names: Array<[unknown, Pid, unknown]>,
    node: string,
  ): Promise<[Op[], Op[]]> {
    const ops: Op[] = [], res: Op[] = [];
    for (const [name, pid, method] of names) {
      const mine = this.names.get(termKey(name));
      if (mine === undefined) {
        ops.unshift({ insert: [name, pid, method] });
        continue;
      }
      if (mine.pid.equals(pid)) continue;
      if (!(this.node.name < node)) continue; // the other node resolves it
      const pid2 = mine.pid, method2 = mine.method;
      let result: unknown;
      let failed: unknown;
      try {
        result = await this.node.callFrom(
          p,
          pid2.node,
          "global",
          "resolve_it",
          [method2, name, pid, pid2],
        );
      } catch (e) {
        failed = e;
      }
      if (failed !== undefined) {
        this.log(
          `global: badrpc ${
            (failed as Error).message
          } received when conflicting name ${brief(name)} was found`,
        );
        ops.unshift({ insert: [name, pid, method] });
      } else if (result instanceof Pid && result.equals(pid)) {
        ops.unshift({ insert: [name, pid, method] });
      } else if (result instanceof Pid && result.equals(pid2)) {
        res.unshift({ insert: [name, pid2, method2] });
      } else {
        if (result !== G.none) {
          this.log(
            `global: Resolve method ${brief(method)} for conflicting name ${
              brief(name)
            } returned ${brief(result)}`,
          );
        }
        ops.unshift({ delete: name });
        res.unshift({ delete: name });
      }
    }
    return [ops, res];
  }

  private handleExchangeOps(
    node: string,
    myTag: unknown,
    ops: Op[],
    resolved: Op[],
  ): void {
    if (!sameTerm(this.myTag(node), myTag)) {
      this.cancelLocker(node, myTag);
      return;
    }
    const s = this.st(node);
    this.cast(
      node,
      tuple(
        G.resolved,
        this.me,
        resolved.map(opTerm),
        this.knownList(this.nodeVsn(node)),
        G.unused,
        [],
        s.hisTag,
      ),
    );
    const saved = s.saveOps;
    s.saveOps = ops.map(opTerm);
    if (saved !== undefined && !Array.isArray(saved)) {
      this.resolvedDo(node, saved.hisResolved, saved.hisKnown);
    }
  }

  private handleResolved(
    node: string,
    hisResolved: Op[],
    hisKnown: Array<[string, number]>,
    myTag: unknown,
  ): void {
    if (!sameTerm(this.myTag(node), myTag)) {
      this.cancelLocker(node, myTag);
      return;
    }
    const s = this.st(node);
    const his = hisResolved.map(opTerm);
    if (Array.isArray(s.saveOps)) {
      this.resolvedDo(node, his, hisKnown);
    } else {
      s.saveOps = { hisKnown, namesExt: [], hisResolved: his };
    }
  }

  private resolvedDo(
    node: string,
    hisResolved: unknown[],
    hisKnown: unknown[],
  ): void {
    const s = this.st(node);
    const ops = opList([...(s.saveOps as unknown[]), ...hisResolved]);
    delete s.saveOps;
    const knownBefore = [...this.known];
    const his = hisKnown as Array<[string, number]>;
    const start: Array<[string, number]> = [[node, 0], ...his];
    const newNodes = start.map(([n, v]): [string, number] => [
      n,
      v === 0 ? this.nodeVsn(n) : v,
    ]);
    const hisKnownNodes = his.map(([n]) => n);
    this.syncOthers(hisKnownNodes);
    const extraInfo = [
      tuple(G.vsn, s.protVsn ?? GLOBAL_VSN),
      tuple(G.lock, s.lockId ?? A.undefined),
    ];
    this.doOps(ops, this.node.name, extraInfo);
    this.notifySynced(node);
    for (const cncl of hisKnownNodes) {
      this.cancelResolvedLocker(cncl, (tag) => this.cancelLocker(cncl, tag));
    }
    const opTerms = ops.map(opTerm);
    const withVsn = newNodes.map(([n, v]) => tuple(Atom.of(n), v));
    const bare = newNodes.map(([n]) => Atom.of(n));
    const newNodesF = (sender: Process) => {
      for (const [n, v] of knownBefore) {
        const nodesTerm = v >= PGPV_VSN ? withVsn : bare;
        this.cast(
          n,
          tuple(G.new_nodes, this.me, opTerms, [], nodesTerm, extraInfo),
          sender,
        );
      }
    };
    this.cancelResolvedLocker(
      node,
      (tag) => this.cancelLocker(node, tag, newNodesF),
    );
    const added = this.addToKnown(newNodes);
    this.toLocker({ kind: "add_to_known", nodes: added });
    if (!this.synced.includes(node)) this.synced.unshift(node);
  }

  private cancelResolvedLocker(
    node: string,
    cancelFun: (tag: unknown) => void,
  ): void {
    const tag = this.myTag(node);
    this.pending.delete(node);
    cancelFun(tag);
    this.resetNodeState(node);
  }

  private handleNewNodes(
    from: string,
    ops: Op[],
    nodes: Array<[string, number]>,
    extraInfo: unknown[],
  ): void {
    const added = this.addToKnown(nodes);
    this.syncOthers(added);
    this.doOps(ops, from, extraInfo);
    this.toLocker({ kind: "add_to_known", nodes: added });
  }

  private handleInSync(node: string): void {
    this.notifySynced(node);
    if (!this.synced.includes(node)) this.synced.unshift(node);
    this.pending.delete(node);
    this.cancelLocker(node, this.myTag(node));
    this.resetNodeState(node);
  }

  private addToKnown(nodes: Array<[string, number]>): string[] {
    const added: string[] = [];
    for (const [n, v] of nodes) {
      if (n === this.node.name) continue;
      if (!this.known.has(n)) {
        added.unshift(n);
        this.known.set(n, v);
      }
    }
    return added;
  }

  /**
   * Connects to nodes the other partition knows and tells them we are in
   * sync (`sync_other`); a node that cannot be reached is taken as down.
   */
  private syncOthers(nodes: string[]): void {
    for (const n of nodes) {
      if (n === this.node.name) continue;
      this.node.connectTo(n).then(
        () => this.cast(n, tuple(G.in_sync, this.me, true)),
        () => {
          if (this.stopped) return;
          this.log(
            `'global' at ${this.node.name} failed to connect to ${n}`,
          );
          this.post(() => {
            this.syncersNodedown(n);
            this.handleNodedown(n, "disconnected");
          });
        },
      );
    }
  }

  private cancelLocker(
    node: string,
    tag: unknown,
    fun?: (sender: Process) => void,
  ): void {
    this.toLocker({ kind: "cancel", node, tag, fun });
    this.sendCancelConnect(node, tag);
    const r = this.resolvers.get(node);
    if (r !== undefined && sameTerm(r.tag, tag)) {
      r.cancelled = true;
      this.resolvers.delete(node);
    }
  }

  private sendCancelConnect(node: string, myTag: unknown): void {
    const v = this.pending.get(node);
    if (v === undefined || v < VERIFY_CONNECT_VSN) return;
    if (!sameTerm(this.myTag(node), myTag)) return;
    this.sendCancelConnectMessage(node, this.sync.get(node)?.hisTag);
  }

  private sendCancelConnectMessage(node: string, hisTag: unknown): void {
    this.volatileSend(
      node,
      tuple(G.cancel_connect, this.me, hisTag ?? A.undefined),
    );
  }

  private resetNodeState(node: string): void {
    this.sync.delete(node);
  }

  private handleNodedown(
    node: string,
    what: "remove_connection" | "ignore_node" | "disconnected",
  ): void {
    this.cancelLocker(node, this.myTag(node));
    this.toLocker({ kind: "remove_from_known", node });
    this.resetNodeState(node);
    if (what === "remove_connection") this.removing.add(node);
    else if (what === "ignore_node") this.removing.delete(node);
    else if (!this.removing.delete(node)) this.informConnectionLoss(node);
    this.pending.delete(node);
    this.known.delete(node);
    this.synced = this.synced.filter((n) => n !== node);
  }

  /** Prevent overlapping partitions: tell every known node we lost `node`. */
  private informConnectionLoss(node: string): void {
    const xcre = this.creationExtension + BigInt(this.node.creation) +
      (1n << 59n);
    const msg = tuple(
      G.lost_connection,
      this.me,
      xcre,
      ++this.opCounter,
      Atom.of(node),
    );
    this.volatileMulticast(msg, node);
  }

  private volatileMulticast(msg: unknown, ignore: string): void {
    for (const [n, v] of this.known) {
      if (n !== ignore && v >= POP_VSN) this.volatileSend(n, msg);
    }
    for (const [n, v] of this.pending) {
      if (n !== ignore && v >= POP_VSN) this.volatileSend(n, msg);
    }
  }

  private isNodePotentiallyKnown(node: string): boolean {
    return this.known.has(node) || this.pending.has(node);
  }

  private handleLostConnection(m: Tuple): void {
    const nodeA = (m[1] as Atom).name, nodeB = (m[4] as Atom).name;
    const xcre = m[2], opId = m[3];
    const key = `${nodeA}\u0000${nodeB}`;
    const seen = this.lost.get(key);
    if (
      seen !== undefined && sameTerm(seen.xcre, xcre) &&
      BigInt(opId as number) <= BigInt(seen.opId as number)
    ) return;
    this.volatileMulticast(m, nodeA);
    if (seen !== undefined) clearTimeout(seen.timer);
    const timer = setTimeout(() => this.lost.delete(key), 60 * 60 * 1000);
    (timer as { unref?: () => void }).unref?.();
    this.lost.set(key, { xcre, opId, timer });
    const rm = this.node.name !== nodeB ? nodeB : nodeA;
    if (!this.isNodePotentiallyKnown(rm)) return;
    let what: string;
    if (this.nodeVsn(rm) < POP_VSN) {
      void this.node.disconnect(rm);
      what = "disconnected old";
    } else {
      this.volatileSend(rm, tuple(G.remove_connection, this.me));
      what = "requested disconnect from";
    }
    // Our own connection to it already closed (its nodedown is queued
    // behind this message: a node stopping closes its connections one after
    // another): no partition to warn about, as the BEAM, whose own nodedown
    // usually comes first, does not.
    if (this.node.net.connection(rm) !== undefined) {
      this.log(
        `'global' at node ${this.node.name} ${what} node ${rm} in order to prevent overlapping partitions`,
      );
    }
    this.handleNodedown(rm, "remove_connection");
  }

  private handleRemoveConnection(node: string): void {
    if (!this.isNodePotentiallyKnown(node)) return;
    void this.node.disconnect(node);
    this.handleNodedown(node, "remove_connection");
    this.log(
      `'global' at node ${this.node.name} disconnected node ${node} in order to prevent overlapping partitions`,
    );
  }

  // ------------------------------------------------------------- sync

  /** `global:sync(Nodes)`: calls `done` once each is synced or down. */
  startSync(nodes: string[], done: () => void): void {
    const waiting = new Set(
      nodes.filter((n) => n !== this.node.name && !this.synced.includes(n)),
    );
    // A node that is not connected counts as down at once (monitor_node).
    const connected = new Set(this.node.nodes("all"));
    for (const n of [...waiting]) if (!connected.has(n)) waiting.delete(n);
    if (waiting.size === 0) {
      done();
      return;
    }
    this.syncers.add({ waiting, done });
  }

  private notifySynced(node: string): void {
    for (const s of this.syncers) {
      s.waiting.delete(node);
      if (s.waiting.size === 0) {
        this.syncers.delete(s);
        s.done();
      }
    }
  }

  private syncersNodedown(node: string): void {
    this.notifySynced(node);
  }

  // ------------------------------------------------------------- names

  /** `where(Name)`: the pid, unless it is a dead local process. */
  where(name: unknown): Pid | undefined {
    const e = this.names.get(termKey(name));
    if (e === undefined) return undefined;
    if (e.pid.node === this.node.name && !this.node.isAlive(e.pid)) {
      return undefined;
    }
    return e.pid;
  }

  private nameTerms(): Tuple[] {
    return [...this.names.values()].map((e) => tuple(e.name, e.pid, e.method));
  }

  /** Whether `pid` already has a name (`check_dupname`), logged as global does. */
  checkDupname(name: unknown, pid: Pid): boolean {
    const keys = this.pidNames.get(pid.key);
    if (keys === undefined || keys.size === 0) return true;
    const others = [...keys].map((k) => this.names.get(k)?.name);
    this.log(
      `global: ${pid} registered under several names: ${
        brief([name, ...others])
      }`,
    );
    return false;
  }

  private doOps(ops: Op[], from: string | Pid, extraInfo: unknown[]): void {
    for (const op of ops) {
      if ("insert" in op) {
        const [name, pid, method] = op.insert;
        this.insName(name, pid, method, from, extraInfo);
      }
    }
    for (const op of ops) {
      if ("delete" in op) this.deleteGlobalName(op.delete);
    }
  }

  private insName(
    name: unknown,
    pid: Pid,
    method: unknown,
    from: string | Pid,
    extraInfo: unknown[],
  ): void {
    const key = termKey(name);
    const old = this.names.get(key);
    if (old !== undefined) this.forgetEntry(key, old);
    const ref = this.node.monitorFrom(this.proc, pid);
    this.names.set(key, { name, pid, method, ref });
    let set = this.pidNames.get(pid.key);
    if (set === undefined) this.pidNames.set(pid.key, set = new Set());
    set.add(key);
    if (!this.lockStillSet(from, extraInfo)) this.deleteGlobalName(name);
  }

  private lockStillSet(from: string | Pid, extraInfo: unknown[]): boolean {
    const lock = this.locks.get(termKey(G.global));
    if (lock === undefined) return !this.globalLockDown;
    if (from instanceof Pid) {
      return lock.holders.some((h) => h.pid.equals(from));
    }
    let lockId: unknown;
    for (const e of extraInfo) {
      if (isTup(e, 2, G.lock)) lockId = e[1];
    }
    return isTup(lockId, 2, G.global) && sameTerm(lock.requesterId, lockId[1]);
  }

  /** Removes a name everywhere in this node's tables. */
  deleteGlobalName(name: unknown): void {
    const key = termKey(name);
    const e = this.names.get(key);
    if (e === undefined) return;
    this.names.delete(key);
    this.forgetEntry(key, e);
  }

  private forgetEntry(key: string, e: NameEntry): void {
    this.node.demonitorFrom(this.proc, e.ref, true);
    const set = this.pidNames.get(e.pid.key);
    if (set !== undefined) {
      set.delete(key);
      if (set.size === 0) this.pidNames.delete(e.pid.key);
    }
  }

  // ------------------------------------------------------------- locks

  private handleSetLock(id: Tuple, pid: Pid): boolean {
    const [res, req] = id;
    const key = termKey(res);
    const lock = this.locks.get(key);
    if (lock !== undefined && !sameTerm(lock.requesterId, req)) return false;
    const holders = lock?.holders ?? [];
    if (holders.some((h) => h.pid.equals(pid))) return true;
    const ref = this.node.monitorFrom(this.proc, pid);
    this.locks.set(key, {
      resourceId: res,
      requesterId: req,
      holders: [{ pid, ref }, ...holders],
    });
    return true;
  }

  private handleDelLock(id: Tuple, pid: Pid): void {
    const [res, req] = id;
    const key = termKey(res);
    const lock = this.locks.get(key);
    if (lock === undefined || !sameTerm(lock.requesterId, req)) return;
    this.removeLock(key, lock, pid, false);
  }

  private removeLock(
    key: string,
    lock: LockEntry,
    pid: Pid,
    down: boolean,
  ): void {
    const i = lock.holders.findIndex((h) => h.pid.equals(pid));
    if (i < 0) return;
    this.node.demonitorFrom(this.proc, lock.holders[i].ref, true);
    const holders = lock.holders.filter((_, j) => j !== i);
    if (holders.length === 0) {
      this.locks.delete(key);
      if (lock.resourceId === G.global) this.globalLockDown = down;
    } else {
      this.locks.set(key, { ...lock, holders });
    }
  }

  private handleDown(ref: Ref): void {
    for (const [key, lock] of [...this.locks]) {
      const h = lock.holders.find((x) => x.ref.equals(ref));
      if (h !== undefined) this.removeLock(key, lock, h.pid, true);
    }
    for (const [key, e] of this.names) {
      if (e.ref.equals(ref)) {
        this.names.delete(key);
        this.forgetEntry(key, e);
        break;
      }
    }
  }

  /** Drops the locks and names held by `node`'s processes (OTP 27). */
  private deleteNodeResources(node: string): void {
    for (const [key, lock] of [...this.locks]) {
      for (const h of lock.holders) {
        if (h.pid.node === node) {
          const cur = this.locks.get(key);
          if (cur !== undefined) this.removeLock(key, cur, h.pid, true);
        }
      }
    }
    for (const [key, e] of [...this.names]) {
      if (e.pid.node === node) {
        this.names.delete(key);
        this.forgetEntry(key, e);
      }
    }
  }

  private shutdown(): void {
    this.stopped = true;
    for (const l of this.lost.values()) clearTimeout(l.timer);
    this.lost.clear();
    for (const r of this.resolvers.values()) r.cancelled = true;
    this.syncers.clear();
  }
}
