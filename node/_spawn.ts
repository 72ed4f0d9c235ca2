/**
 * Remote spawn, both halves of the protocol side by side (OTP 23+'s
 * `erlang:spawn_request`): the requester sends SPAWN_REQUEST `{29, ReqId,
 * From, GroupLeader, {M, F, Arity}, Opts}` with the argument list as the
 * payload; the peer spawns `M:F(Args…)` and answers SPAWN_REPLY `{31,
 * ReqId, From, Flags, Pid | Reason}` (flags: 1 linked, 2 monitored — the
 * monitor's reference is ReqId). erpc, `spawnLink`/`spawnRemote` and remote
 * tasks all start processes this way. Internal.
 *
 * @module
 */
import { A, isTuple } from "./_atoms.ts";
import { SPAWN_REPLY_FLAG } from "./_dist.ts";
import type { Connection } from "./connection.ts";
import { ExitError, NoConnectionError, TimeoutError } from "./errors.ts";
import type { Node, SpawnOptions } from "./node.ts";
import type { Process } from "./process.ts";
import { Atom, Pid, Ref, Tuple } from "./terms.ts";

/** Called once with the new pid, or with why there is none. */
export type SpawnDone = (error: unknown, pid?: Pid) => void;

/** Options of one spawn request. */
export interface SpawnRequestOptions extends SpawnOptions {
  /** Fail with a TimeoutError if no reply comes within this many ms. */
  timeoutMs?: number;
  /** The request id (and monitor reference). Default: a new reference. */
  reqId?: Ref;
}

interface Pending {
  caller: Process;
  node: string;
  done: SpawnDone;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * A node's spawn requests: those it sent and those it answers.
 *
 * @internal
 */
export class SpawnRequests {
  private readonly node: Node;
  /** Requests sent and not yet answered, by request id key. */
  private readonly pending = new Map<string, Pending>();

  constructor(node: Node) {
    this.node = node;
  }

  // ------------------------------------------------------------ requester

  /**
   * Spawns `mod.fun(...args)` on `node` for `caller` and returns the request
   * id at once — it is the monitor reference when `options.monitor` is set,
   * so a DOWN can be matched before the reply comes. `done` is called once,
   * with the new pid (linked/monitored from `caller` as asked) or the error:
   * a {@linkcode NoConnectionError} if the node cannot be reached, an
   * `ExitError` if the peer refused, a `TimeoutError` after `timeoutMs`. No
   * promise is made: this is the hot path of remote tasks. On this node the
   * process starts at once and `done` is called before this returns.
   */
  request(
    caller: Process,
    node: string,
    mod: string,
    fun: string,
    args: unknown[],
    options: SpawnRequestOptions,
    done: SpawnDone,
  ): Ref {
    const n = this.node;
    const reqId = options.reqId ?? n.makeRef();
    if (!Array.isArray(args)) {
      done(new TypeError("args must be an array"));
      return reqId;
    }
    if (node === n.name) {
      const p = n.spawnApply(caller.pid, caller.groupLeader, mod, fun, args, {
        link: options.link,
        monitorRef: options.monitor ? reqId : undefined,
      });
      if (options.link) caller.links.set(p.pid.key, p.pid);
      if (options.monitor) {
        caller.monitoring.set(reqId.key, { ref: reqId, target: p.pid });
      }
      done(undefined, p.pid);
      return reqId;
    }
    const opts: Atom[] = [];
    if (options.link) opts.push(A.link);
    if (options.monitor) opts.push(A.monitor);
    const entry: Pending = { caller, node, done, timer: undefined };
    this.pending.set(reqId.key, entry);
    if (options.timeoutMs !== undefined) {
      const ms = options.timeoutMs;
      entry.timer = setTimeout(() => {
        this.settle(
          reqId,
          new TimeoutError(
            `spawn of ${mod}.${fun} on ${node} got no reply within ${ms} ms`,
          ),
        );
      }, ms);
    }
    const m = Atom.of(mod), f = Atom.of(fun);
    const send = (c: Connection) => {
      try {
        c.spawnRequest(reqId, caller.pid, caller.groupLeader, m, f, args, opts);
      } catch (e) {
        this.settle(reqId, e);
      }
    };
    const c = n.net.connection(node);
    if (c !== undefined) send(c);
    else if (n.isStopped) {
      this.settle(reqId, new NoConnectionError(node, `${n.name} is stopped`));
    } else n.net.toNode(node, send);
    return reqId;
  }

  /** {@linkcode SpawnRequests.request} as a promise of the pid. */
  requestPid(
    caller: Process,
    node: string,
    mod: string,
    fun: string,
    args: unknown[],
    options: SpawnRequestOptions,
  ): Promise<Pid> {
    return new Promise((resolve, reject) => {
      this.request(
        caller,
        node,
        mod,
        fun,
        args,
        options,
        (e, pid) => e === undefined ? resolve(pid!) : reject(e),
      );
    });
  }

  /** Ends a pending request with an error (or, given a pid, with success). */
  private settle(reqId: Ref, error: unknown, pid?: Pid): void {
    const entry = this.pending.get(reqId.key);
    if (entry === undefined) return;
    this.pending.delete(reqId.key);
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    entry.done(error, pid);
  }

  /** SPAWN_REPLY `{31, ReqId, To, Flags, Result}` arrived on `c`. */
  reply(c: Connection, ctl: Tuple): void {
    const [, reqId, , flags, result] = ctl;
    if (!(reqId instanceof Ref)) return;
    const entry = this.pending.get(reqId.key);
    const f = typeof flags === "number" ? flags : 0;
    if (entry === undefined) {
      // Abandoned (timed out): do not leave a process running for nobody.
      if (result instanceof Pid && f & SPAWN_REPLY_FLAG.LINK) {
        c.exit2(this.node.shell.pid, result, A.kill);
      }
      return;
    }
    if (!(result instanceof Pid)) {
      this.settle(reqId, new ExitError(result, `spawn on ${c.peer} failed`));
      return;
    }
    if (f & SPAWN_REPLY_FLAG.LINK) entry.caller.links.set(result.key, result);
    if (f & SPAWN_REPLY_FLAG.MONITOR) {
      entry.caller.monitoring.set(reqId.key, { ref: reqId, target: result });
    }
    this.settle(reqId, undefined, result);
  }

  /** Fails every request pending on `node`. */
  fail(node: string, error: NoConnectionError): void {
    for (const [key, entry] of this.pending) {
      if (entry.node === node) {
        this.pending.delete(key);
        if (entry.timer !== undefined) clearTimeout(entry.timer);
        entry.done(error);
      }
    }
  }

  /** The node stops: every pending request fails. */
  stop(): void {
    for (const [key, entry] of this.pending) {
      this.pending.delete(key);
      if (entry.timer !== undefined) clearTimeout(entry.timer);
      entry.done(
        new NoConnectionError(entry.node, `${this.node.name} stopped`),
      );
    }
  }

  // ------------------------------------------------------------ answering

  /**
   * SPAWN_REQUEST `{29, ReqId, From, GroupLeader, {M, F, Arity}, Opts}` +
   * args arrived on `c`: spawn, then answer with the pid.
   */
  incoming(c: Connection, ctl: Tuple, args: unknown): void {
    const [, reqId, from, gl, mfa, opts] = ctl;
    if (
      !(reqId instanceof Ref) || !(from instanceof Pid) ||
      !(mfa instanceof Tuple)
    ) return;
    let link = false, monitor = false;
    if (Array.isArray(opts)) {
      for (const o of opts) {
        if (o === A.link) link = true;
        else if (o === A.monitor || isTuple(o, A.monitor)) monitor = true;
      }
    }
    const p = this.node.spawnApply(
      from,
      gl instanceof Pid ? gl : this.node.ioServer.pid,
      String(mfa[0]),
      String(mfa[1]),
      Array.isArray(args) ? args : [],
      { link, monitorRef: monitor ? reqId : undefined },
    );
    const flags = (link ? SPAWN_REPLY_FLAG.LINK : 0) |
      (monitor ? SPAWN_REPLY_FLAG.MONITOR : 0);
    c.spawnReply(reqId, from, flags, p.pid);
  }
}
