/**
 * The locker of `global` (kernel `global.erl`'s `the_locker`): when a node
 * connects, it takes the lock `{global, [ThisLocker, HisLocker]}` on every
 * node of this partition (and on the other node), tells the other node's
 * locker, and keeps the lock until the server says the names are
 * exchanged. Lockers talk through the servers (`{lock_set, …}` casts) as
 * protocol version 6 and later do. Internal.
 *
 * @module
 */
import { hostname } from "node:os";
import { cast, multiCall } from "./_gen.ts";
import { peerLine } from "./_cluster_hooks.ts";
import { G, VERIFY_CONNECT_VSN } from "./_global_atoms.ts";
import {
  brief,
  type GlobalServer,
  type LockerMessage,
  LockerMsg,
} from "./_global_server.ts";
import { maxNode, sameTerm } from "./_term_key.ts";
import { compareTerms } from "./term_order.ts";
import { TimeoutError } from "./errors.ts";
import type { Process } from "./process.ts";
import { Atom, Pid, Tuple, tuple } from "./terms.ts";

interface Him {
  node: string;
  locker: Pid;
  vsn: number;
  myTag: unknown;
  hisTag: unknown;
}

const NONE = Symbol("none");

/** Receives a message `matcher` accepts, or NONE after `timeoutMs`. */
async function recv(
  p: Process,
  matcher: ((m: unknown) => boolean) | undefined,
  timeoutMs?: number,
): Promise<unknown> {
  try {
    return await p.receive(matcher, timeoutMs);
  } catch (e) {
    if (e instanceof TimeoutError) return NONE;
    throw e;
  }
}

/** Sleeps in process `p` (ends with it): `random_sleep(Times)` of global. */
export async function randomSleep(p: Process, times: number): Promise<void> {
  const tmax = times > 5 ? 8000 : ((1 << times) * 1000) / 8;
  const t = 1 + Math.floor(Math.random() * tmax);
  await recv(p, () => false, t);
}

/**
 * `set_lock(Id, Nodes, Retries)` of global from process `p`: true once every
 * reachable node has granted the lock.
 */
export async function setLockFrom(
  server: GlobalServer,
  p: Process,
  id: Tuple,
  nodes: readonly string[],
  retries: number,
): Promise<boolean> {
  for (let times = 1;; times++) {
    if (await setLockOnNodes(server, p, id, nodes)) return true;
    if (retries <= 0) return false;
    retries--;
    await randomSleep(p, times);
  }
}

/** One try on every node; on a refusal, undoes the locks that were granted. */
export async function setLockOnNodes(
  server: GlobalServer,
  p: Process,
  id: Tuple,
  nodes: readonly string[],
): Promise<boolean> {
  if (nodes.length === 0) return true;
  if (
    nodes.length > 1 && nodes.includes(server.node.name) &&
    !server.canSetLockHere(id)
  ) return false;
  const { replies } = await multiCall(
    server.node,
    p,
    nodes,
    "global_name_server",
    tuple(G.set_lock, id),
  );
  if (replies.every(([, r]) => r === true)) return true;
  if (replies.length > 1) {
    const granted = replies.filter(([, r]) => r === true).map(([n]) => n);
    await multiCall(
      server.node,
      p,
      granted,
      "global_name_server",
      tuple(G.del_lock, id),
    );
  }
  return false;
}

/** `del_lock(Id, Nodes)` from process `p`. */
export async function delLockFrom(
  server: GlobalServer,
  p: Process,
  id: Tuple,
  nodes: readonly string[],
): Promise<void> {
  if (nodes.length === 0) return;
  await multiCall(
    server.node,
    p,
    nodes,
    "global_name_server",
    tuple(G.del_lock, id),
  );
}

/** Deletes a lock on the boss last (`delete_global_lock`). */
export async function deleteGlobalLock(
  server: GlobalServer,
  p: Process,
  id: Tuple,
  nodes: readonly string[],
): Promise<void> {
  if (nodes.length === 0) return;
  const boss = maxNode(nodes);
  await delLockFrom(server, p, id, nodes.filter((n) => n !== boss));
  await delLockFrom(server, p, id, [boss]);
}

/** The locker process's state and loop. @internal */
export class Locker {
  private local: Him[] = [];
  private remote: Him[] = [];
  private known: string[] = [];
  private theBoss: string;
  private justSynced = false;
  private readonly me: string;

  constructor(readonly server: GlobalServer, readonly proc: Process) {
    this.me = server.node.name;
    this.theBoss = this.me;
  }

  private log(m: string): void {
    this.server.hooks.log(m);
  }

  /** The locker's life: never returns while its node runs. */
  async run(): Promise<void> {
    this.updateKnown({ add: this.server.knownNodes() });
    for (;;) {
      let m = await recv(this.proc, undefined, 0);
      if (m === NONE) {
        let timeout: number;
        if (this.local.length === 0 && this.remote.length === 0) {
          timeout = Infinity;
        } else if (this.justSynced) timeout = 0;
        else if (this.known.length === 0) timeout = 200;
        else timeout = Math.min(1000 + 100 * this.known.length, 3000);
        this.justSynced = false;
        m = await recv(this.proc, undefined, timeout);
        if (m === NONE) {
          if (!this.server.isGlobalLockSet()) await this.selectNode();
          continue;
        }
      }
      await this.message(m);
    }
  }

  /** Converts what arrives into a locker message (remote ones are checked). */
  private parse(m: unknown): LockerMessage | undefined {
    if (m instanceof LockerMsg) return m.m;
    // A locker of an old node, or one that found no session, answers
    // `{lock_set, Locker, false, Known}` straight to this process.
    if (
      m instanceof Tuple && (m.length === 4 || m.length === 5) &&
      m[0] === G.lock_set && m[1] instanceof Pid && typeof m[2] === "boolean"
    ) {
      return {
        kind: "lock_set",
        pid: m[1],
        set: m[2],
        tag: m.length === 5 ? m[4] : undefined,
        tagged: m.length === 5,
      };
    }
    peerLine(
      this.server.node,
      "unexpected messages to global's locker",
      `global's locker dropped an unexpected message: ${brief(m)}`,
    );
    return undefined;
  }

  private async message(raw: unknown): Promise<void> {
    const m = this.parse(raw);
    if (m === undefined) return;
    switch (m.kind) {
      case "his_the_locker": {
        const him: Him = {
          node: m.locker.node,
          locker: m.locker,
          vsn: m.vsn,
          myTag: m.myTag,
          hisTag: m.hisTag,
        };
        if (isNodeLocal(him.node)) this.local.unshift(him);
        else this.remote.unshift(him);
        return;
      }
      case "cancel":
        // A cancel without a session, or one with a fun that came too late
        // (the lock is gone), changes nothing here.
        if (m.tag === undefined || m.fun !== undefined) return;
        this.removeNode(m.node, m.tag);
        return;
      case "lock_set": {
        if (!m.set) return; // spurious
        const found = this.findNodeTag(m.pid.node);
        if (
          found === undefined || (m.tagged && !sameTerm(found.myTag, m.tag))
        ) {
          this.sendLockSet(false, m.pid, 5, 0);
          return;
        }
        // The other side took the lock first: lock this partition too.
        const lockId = this.lockerLockId(m.pid);
        const isSet = await this.lockNodesSafely(lockId, []);
        this.sendLockSet(isSet, m.pid, found.vsn, found.hisTag);
        if (isSet) {
          const known2 = [this.me, ...this.known];
          this.server.lockIsSet(m.pid.node, found.myTag, lockId);
          await this.waitCancelLock(m.pid.node, lockId, found.myTag, known2);
          this.justSynced = true;
          this.removeNode(m.pid.node, found.myTag);
        } else {
          this.justSynced = false;
        }
        return;
      }
      case "add_to_known":
        this.updateKnown({ add: m.nodes });
        return;
      case "remove_from_known":
        this.updateKnown({ remove: m.node });
        return;
    }
  }

  private updateKnown(u: { add: string[] } | { remove: string }): void {
    if ("add" in u) this.known = [...u.add, ...this.known];
    else {
      const i = this.known.indexOf(u.remove);
      if (i >= 0) this.known.splice(i, 1);
    }
    this.theBoss = maxNode([this.me, ...this.known]);
  }

  /** Takes the add/remove-known messages waiting in the mailbox. */
  private async drainKnown(): Promise<void> {
    for (;;) {
      const m = await recv(
        this.proc,
        (x) =>
          x instanceof LockerMsg &&
          (x.m.kind === "add_to_known" || x.m.kind === "remove_from_known"),
        0,
      );
      if (m === NONE) return;
      const lm = (m as LockerMsg).m;
      if (lm.kind === "add_to_known") this.updateKnown({ add: lm.nodes });
      else if (lm.kind === "remove_from_known") {
        this.updateKnown({ remove: lm.node });
      }
    }
  }

  private findNodeTag(node: string): Him | undefined {
    return this.local.find((h) => h.node === node) ??
      this.remote.find((h) => h.node === node);
  }

  private removeNode(node: string, tag: unknown): void {
    const keep = (h: Him) => !(h.node === node && sameTerm(h.myTag, tag));
    const drop = (list: Him[]) => {
      const i = list.findIndex((h) => !keep(h));
      if (i >= 0) list.splice(i, 1);
    };
    drop(this.local);
    drop(this.remote);
  }

  /** `{global, lists:sort([self(), Pid])}`: both lockers compute the same. */
  private lockerLockId(pid: Pid): Tuple {
    const pair = [this.proc.pid, pid].sort((a, b) => compareTerms(a, b));
    return tuple(G.global, pair);
  }

  private sendLockSet(
    isSet: boolean,
    hisLocker: Pid,
    vsn: number,
    hisTag: unknown,
  ): void {
    const known = this.known.map((n) => Atom.of(n));
    const msg = vsn < VERIFY_CONNECT_VSN
      ? tuple(G.lock_set, this.proc.pid, isSet, known)
      : tuple(G.lock_set, this.proc.pid, isSet, known, hisTag);
    if (vsn < 6) {
      this.server.node.sendFrom(this.proc, hisLocker, msg);
    } else {
      cast(
        this.server.node,
        this.proc,
        hisLocker.node,
        G.global_name_server,
        msg,
      );
    }
  }

  private async selectNode(): Promise<void> {
    const useRemote = this.local.length === 0;
    const others = (useRemote ? this.remote : this.local).filter((h) =>
      !this.known.includes(h.node)
    );
    if (useRemote) this.remote = others;
    else this.local = others;
    if (others.length === 0) return;
    const him = others[Math.floor(Math.random() * others.length)];
    const lockId = this.lockerLockId(him.locker);
    const isSet = await this.lockNodesSafely(lockId, [him.node]);
    if (!isSet) return;
    const known1 = [this.me, him.node, ...this.known];
    this.sendLockSet(true, him.locker, him.vsn, him.hisTag);
    await this.lockIsSet(him, known1, lockId);
  }

  /** Waits for the other locker's answer after taking the lock. */
  private async lockIsSet(
    him: Him,
    known1: string[],
    lockId: Tuple,
  ): Promise<void> {
    const node = him.node, myTag = him.myTag;
    for (;;) {
      const raw = await recv(this.proc, (x) => {
        const m = x instanceof LockerMsg
          ? x.m
          : x instanceof Tuple && x[0] === G.lock_set
          ? this.parseQuiet(x)
          : undefined;
        if (m === undefined) return false;
        if (m.kind === "lock_set") return m.pid.node === node;
        return m.kind === "cancel" && m.node === node &&
          sameTerm(m.tag, myTag);
      });
      const m = raw instanceof LockerMsg ? raw.m : this.parseQuiet(raw)!;
      if (m.kind === "cancel") {
        m.fun?.(this.proc);
        await deleteGlobalLock(this.server, this.proc, lockId, known1);
        this.removeNode(node, myTag);
        return;
      }
      if (m.kind !== "lock_set") continue;
      if (m.tagged && !sameTerm(m.tag, myTag)) continue; // an old session's
      if (!m.set) {
        await deleteGlobalLock(this.server, this.proc, lockId, known1);
        return;
      }
      this.server.lockIsSet(node, myTag, lockId);
      await this.waitCancelLock(node, lockId, myTag, known1);
      this.justSynced = true;
      this.local = this.local.filter((h) => h !== him);
      this.remote = this.remote.filter((h) => h !== him);
      return;
    }
  }

  private parseQuiet(x: unknown): LockerMessage | undefined {
    if (
      x instanceof Tuple && (x.length === 4 || x.length === 5) &&
      x[0] === G.lock_set && x[1] instanceof Pid && typeof x[2] === "boolean"
    ) {
      return {
        kind: "lock_set",
        pid: x[1],
        set: x[2],
        tag: x.length === 5 ? x[4] : undefined,
        tagged: x.length === 5,
      };
    }
    return undefined;
  }

  /** Holds the lock until the server cancels this session. */
  private async waitCancelLock(
    node: string,
    lockId: Tuple,
    myTag: unknown,
    known: string[],
  ): Promise<void> {
    const raw = await recv(
      this.proc,
      (x) =>
        x instanceof LockerMsg && x.m.kind === "cancel" && x.m.node === node &&
        sameTerm(x.m.tag, myTag),
    );
    const m = (raw as LockerMsg).m;
    if (m.kind === "cancel") m.fun?.(this.proc);
    await deleteGlobalLock(this.server, this.proc, lockId, known);
  }

  /**
   * Locks the boss first, then this node (and `extra`), then every known
   * node; undoes what it took if any refuses.
   */
  private async lockNodesSafely(
    lockId: Tuple,
    extra: string[],
  ): Promise<boolean> {
    const first = [this.theBoss].filter((n) => n !== G.nonode.name);
    if (
      !(first.length === 1 && first[0] === this.me) &&
      !this.server.canSetLockHere(lockId)
    ) return false;
    const p = this.proc, s = this.server;
    if (!(await setLockFrom(s, p, lockId, first, 0))) return false;
    await this.drainKnown();
    const second = [this.me, ...extra].filter((n) => !first.includes(n));
    if (!(await setLockFrom(s, p, lockId, second, 0))) {
      await delLockFrom(s, p, lockId, first);
      return false;
    }
    const rest = this.known.filter((n) => !first.includes(n));
    if (await setLockFrom(s, p, lockId, rest, 0)) return true;
    await delLockFrom(s, p, lockId, [...first, ...second]);
    return false;
  }
}

function isNodeLocal(node: string): boolean {
  const host = node.slice(node.indexOf("@") + 1);
  return host === hostname().split(".")[0];
}
