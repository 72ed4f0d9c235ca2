/**
 * Remote procedure calls, both halves side by side, as OTP's `erpc.erl`
 * and `rpc.erl` speak them. Internal.
 *
 * erpc (OTP 23+, what `rpc:call` uses in OTP 25): the caller sends a spawn
 * request of `erpc:execute_call(Ref, M, F, A)` with a monitor; the spawned
 * process runs `M:F(A…)` and exits with `{Ref, return, Value}` (or `{Ref,
 * throw | exit, Reason}`, `{Ref, error, Reason, Stack}`), which reaches the
 * caller as the monitor's DOWN reason. `erpc:execute_cast/3` is the same
 * without an answer.
 *
 * rex (the classic `rpc` server, registered as `rex`): `{'$gen_call', From,
 * {call, M, F, A, GroupLeader}}` answered with the value or `{badrpc,
 * {'EXIT', Reason}}`; `{'$gen_cast', {cast, M, F, A, GroupLeader}}`; and
 * `{Pid, features_request}` on nodeup, answered `{features_reply, Node,
 * [erpc]}` so peers know they may use erpc.
 *
 * @module
 */
import { A, isTuple } from "./_atoms.ts";
import { errorReason } from "./_reason.ts";
import {
  ExitError,
  NoConnectionError,
  RemoteError,
  TimeoutError,
} from "./errors.ts";
import type { Node } from "./node.ts";
import type { Process } from "./process.ts";
import { Atom, Pid, Ref, Tuple, tuple } from "./terms.ts";

// ------------------------------------------------------------ client

/**
 * Calls `mod.fun(...args)` on `node` from `from` and resolves with its
 * result (see `Node.call`).
 */
export async function erpcCall(
  n: Node,
  from: Process,
  node: string,
  mod: string,
  fun: string,
  args: unknown[],
  timeoutMs?: number,
): Promise<unknown> {
  const res = n.makeRef();
  const where = `call ${mod}.${fun}/${args.length} on ${node}`;
  let reqId!: Ref;
  try {
    await new Promise<void>((resolve, reject) => {
      reqId = n.spawns.request(
        from,
        node,
        "erpc",
        "execute_call",
        [res, Atom.of(mod), Atom.of(fun), args],
        { monitor: true, timeoutMs },
        (e) => e === undefined ? resolve() : reject(e),
      );
    });
  } catch (e) {
    if (e instanceof ExitError && !(e instanceof NoConnectionError)) {
      throw new RemoteError("error", e.reason, undefined, where);
    }
    throw e;
  }
  let down: Tuple;
  try {
    down = await from.receive(
      (m) => isTuple(m, A.DOWN, 5) && m[1] instanceof Ref && m[1].equals(reqId),
      timeoutMs,
    ) as Tuple;
  } catch (e) {
    if (e instanceof TimeoutError) {
      n.demonitorFrom(from, reqId, true);
      throw new TimeoutError(`${where} timed out after ${timeoutMs} ms`);
    }
    throw e;
  }
  const reason = down[4];
  if (
    reason instanceof Tuple && reason[0] instanceof Ref && reason[0].equals(res)
  ) {
    const kind = reason[1];
    if (kind === A.return) return reason[2];
    if (kind === A.throw || kind === A.exit) {
      throw new RemoteError(
        kind === A.throw ? "throw" : "exit",
        reason[2],
        undefined,
        where,
      );
    }
    if (kind === A.error) {
      throw new RemoteError(
        "error",
        reason[2],
        reason.length > 3 ? reason[3] : undefined,
        where,
      );
    }
  }
  if (reason === A.noconnection) throw new NoConnectionError(node, where);
  throw new ExitError(reason, where);
}

/** Runs `mod.fun(...args)` on `node` without waiting for anything. */
export function erpcCast(
  n: Node,
  from: Process,
  node: string,
  mod: string,
  fun: string,
  args: unknown[],
): void {
  n.spawns.request(
    from,
    node,
    "erpc",
    "execute_cast",
    [
      Atom.of(mod),
      Atom.of(fun),
      args,
    ],
    {},
    () => {},
  );
}

// ------------------------------------------------------------ server

/** Defines the `erpc` module that spawned erpc requests run. */
export function installErpc(n: Node): void {
  const apply = (m: unknown, f: unknown, a: unknown) =>
    n.apply(String(m), String(f), Array.isArray(a) ? a : []);
  n.defineModule("erpc", {
    // Runs in the spawned process; its exit reason carries the result.
    async execute_call(ref: unknown, m: unknown, f: unknown, a: unknown) {
      let reply: unknown;
      try {
        const v = await apply(m, f, a);
        reply = tuple(ref, A.return, v === undefined ? A.ok : v);
      } catch (e) {
        if (e instanceof ExitError && isTuple(e.reason, A.undef)) {
          reply = tuple(ref, A.error, A.undef, (e.reason as Tuple)[1]);
        } else if (e instanceof ExitError) {
          reply = tuple(ref, A.exit, e.reason);
        } else {
          const r = errorReason(e) as Tuple;
          reply = tuple(ref, A.error, r[0], r[1]);
        }
      }
      throw new ExitError(reply);
    },
    async execute_cast(m: unknown, f: unknown, a: unknown) {
      await apply(m, f, a);
    },
  });
}

/** The `rex` process: the classic rpc server and erpc's feature probe. */
export function rexHandler(n: Node): (m: unknown) => void {
  return (m) => {
    if (
      m instanceof Tuple && m.length === 2 && m[0] instanceof Pid &&
      m[1] === A.features_request
    ) {
      n.sendFrom(
        n.shell,
        m[0],
        tuple(A.features_reply, Atom.of(n.name), [A.erpc]),
      );
      return;
    }
    if (isTuple(m, A.gen_call, 3) && isTuple(m[2], A.call)) {
      const [, mod, fun, args, gl] = m[2] as Tuple;
      const from = m[1];
      n.spawnLocal(n.shell, async () => {
        let result: unknown;
        try {
          const v = await n.apply(
            String(mod),
            String(fun),
            Array.isArray(args) ? args : [],
          );
          result = v === undefined ? A.ok : v;
        } catch (e) {
          result = tuple(A.badrpc, tuple(A.EXIT, errorReason(e)));
        }
        n.replyFrom(n.shell, from, result);
      }, {
        groupLeader: gl instanceof Pid ? gl : n.ioServer.pid,
        label: `rpc ${String(mod)}.${String(fun)}`,
      });
      return;
    }
    if (isTuple(m, A.gen_cast, 2) && isTuple(m[1], A.cast)) {
      const [, mod, fun, args, gl] = m[1] as Tuple;
      n.spawnApply(
        n.shell.pid,
        gl instanceof Pid ? gl : n.ioServer.pid,
        String(mod),
        String(fun),
        Array.isArray(args) ? args : [],
        {},
      );
    }
  };
}
