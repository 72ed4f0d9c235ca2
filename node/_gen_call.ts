/**
 * GenServer-style calls, the client half of `gen:call` (OTP 24+): the
 * caller monitors the server with a reference that is also an alias, sends
 * `{'$gen_call', {CallerPid, [alias | Ref]}, Request}`, and takes the first
 * of `{[alias | Ref], Reply}` (sent to the alias) or the monitor's DOWN.
 * The server half is `reply(From, Value)` (`Node.replyFrom`), which sends
 * `{Tag, Value}` to the alias in the tag.
 *
 * Every call of a node — `genCall`, supervisor and task-supervisor calls,
 * `sys` requests — goes through one handler process per node that owns the
 * aliases and monitors: a call never touches the caller's mailbox, many
 * calls can be awaited at once, and a call that times out leaves nothing
 * behind (a late reply finds its alias gone and is dropped). Internal.
 *
 * @module
 */
import { A } from "./_atoms.ts";
import { describeDest } from "./_dest.ts";
import { ExitError, NoConnectionError, TimeoutError } from "./errors.ts";
import type { Node } from "./node.ts";
import type { Process } from "./process.ts";
import { type Atom, ImproperList, Pid, Ref, Tuple, tuple } from "./terms.ts";

/** Where a call can go: a pid, a local name, or `[name, node]`. */
export type CallTarget =
  | Pid
  | string
  | Atom
  | readonly [string | Atom, string | Atom];

/** Options of one call. */
export interface CallOptions {
  /** Fail with a TimeoutError after this many ms. Default: wait forever. */
  timeoutMs?: number;
  /** The request's tag. Default `$gen_call` (`system` for `sys` requests). */
  tag?: Atom;
  /**
   * Resolve with the server's exit reason once it is down, instead of with
   * the reply (a `sys` terminate, as `proc_lib:stop` waits). Default false.
   */
  untilDown?: boolean;
}

interface PendingCall {
  mref: Ref;
  untilDown: boolean;
  /** Set once the reply came to an `untilDown` call. */
  answered: boolean;
  dest: string;
  node: string;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** The node a target lives on. */
function targetNode(node: Node, t: CallTarget): string {
  if (t instanceof Pid) return t.node;
  if (Array.isArray(t)) return String(t[1]);
  return node.name;
}

/**
 * A node's calls in flight, and the process their replies come to.
 *
 * @internal
 */
export class GenCalls {
  private readonly node: Node;
  private proc: Process | undefined;
  /** Pending calls by monitor (and alias) reference key. */
  private readonly calls = new Map<string, PendingCall>();

  constructor(node: Node) {
    this.node = node;
  }

  /** Number of calls in flight (for tests). */
  get size(): number {
    return this.calls.size;
  }

  private process(): Process {
    let p = this.proc;
    if (p === undefined || !p.alive) {
      p = this.node.handlerProcess("gen calls", (m) => this.handle(m));
      this.proc = p;
      p.exited.then((reason) => this.died(reason));
    }
    return p;
  }

  /**
   * Calls `target` with `request` on behalf of `from` (whose pid the request
   * carries). Resolves with the reply; rejects with an `ExitError` (`noproc`,
   * the server's exit reason), a `NoConnectionError`, or a `TimeoutError`.
   */
  call(
    from: Process,
    target: CallTarget,
    request: unknown,
    options: CallOptions = {},
  ): Promise<unknown> {
    const n = this.node;
    const dest = describeDest(target);
    const where = targetNode(n, target);
    if (where === n.name) {
      const pid = target instanceof Pid
        ? target
        : n.whereis(String(Array.isArray(target) ? target[0] : target));
      if (pid === undefined || !n.isAlive(pid)) {
        return Promise.reject(new ExitError(A.noproc, `call to ${dest}`));
      }
      if (pid.equals(from.pid)) {
        return Promise.reject(
          new ExitError(
            A.calling_self,
            `call to ${dest}: a process cannot call itself (it would wait for its own reply)`,
          ),
        );
      }
    }
    const proc = this.process();
    return new Promise((resolve, reject) => {
      const mref = n.makeRef();
      const c: PendingCall = {
        mref,
        untilDown: options.untilDown ?? false,
        answered: false,
        dest,
        node: where,
        resolve,
        reject,
        timer: undefined,
      };
      this.calls.set(mref.key, c);
      n.aliasAs(proc, mref);
      const ms = options.timeoutMs;
      if (ms !== undefined && Number.isFinite(ms)) {
        c.timer = setTimeout(() => {
          if (this.calls.get(mref.key) !== c) return;
          this.end(c);
          reject(
            new TimeoutError(`call to ${dest} got no reply within ${ms} ms`),
          );
        }, ms);
      }
      n.monitorFrom(proc, target, mref);
      if (this.calls.get(mref.key) !== c) return; // down already
      n.sendFrom(
        from,
        Array.isArray(target) ? [target[0], target[1]] : target as Pid | Atom,
        tuple(
          options.tag ?? A.gen_call,
          tuple(from.pid, new ImproperList([A.alias], mref)),
          request,
        ),
      );
    });
  }

  private end(c: PendingCall): void {
    if (c.timer !== undefined) clearTimeout(c.timer);
    this.calls.delete(c.mref.key);
    this.node.unalias(c.mref);
    if (this.proc !== undefined) this.node.demonitorFrom(this.proc, c.mref);
  }

  private handle(m: unknown): void {
    if (!(m instanceof Tuple)) return;
    if (m.length === 2) {
      const tag = m[0];
      if (
        !(tag instanceof ImproperList) || tag.items[0] !== A.alias ||
        !(tag.tail instanceof Ref)
      ) return;
      const c = this.calls.get(tag.tail.key);
      if (c === undefined || c.answered) return;
      if (c.untilDown) {
        // Answered: now wait for it to go down.
        c.answered = true;
        this.node.unalias(c.mref);
        return;
      }
      this.end(c);
      c.resolve(m[1]);
      return;
    }
    if (m.length === 5 && m[0] === A.DOWN && m[1] instanceof Ref) {
      const c = this.calls.get(m[1].key);
      if (c === undefined) return;
      this.end(c);
      const reason = m[4];
      if (c.untilDown && reason !== A.noproc && reason !== A.noconnection) {
        c.resolve(reason);
        return;
      }
      c.reject(
        reason === A.noconnection
          ? new NoConnectionError(c.node, `call to ${c.dest}`)
          : new ExitError(reason, `call to ${c.dest}`),
      );
    }
  }

  private died(reason: unknown): void {
    for (const c of this.calls.values()) {
      if (c.timer !== undefined) clearTimeout(c.timer);
      c.reject(new ExitError(reason, `${this.node.name} stopped`));
    }
    this.calls.clear();
  }
}
