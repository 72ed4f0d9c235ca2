/**
 * Elixir's `Task.Supervised`: what runs inside a task process — and, side
 * by side with it, the client half of Elixir's task-supervisor protocol,
 * which noderl speaks with Elixir nodes (both ways) and with noderl nodes
 * that do not take the one-round-trip start (`_one_round_trip.ts`).
 * Internal.
 *
 * ## The protocol (Elixir 1.14 and 1.18)
 *
 * 1. The client calls the supervisor, `GenServer.call(Sup, {start_task,
 *    Args, Restart, Shutdown}, infinity)` (`$gen_call`; the server half is
 *    `_task_supervisor_server.ts`), with `Owner = {Node, NameOrPid, OwnerPid}`:
 *    - `async`/`async_nolink`: `Args = [Owner, monitor]`, `Restart =
 *      temporary`; the task runs {@linkcode replyTask} (`reply/2`);
 *    - `start_child`: `Args = [Owner, Callers, {M, F, A}]`; the task runs
 *      `M:F(A)` at once ({@linkcode noreply});
 *    - `Shutdown`: `nil` (5000 ms), ms, `infinity` or `brutal_kill`.
 *
 *    The reply is `{ok, TaskPid}`, `{error, max_children}` or `{error, Why}`.
 * 2. `async`: the client links to the task (not `async_nolink`), monitors
 *    it, and sends it `{OwnerPid, Ref, ReplyTo, Callers, {M, F, A}}`.
 *    Elixir 1.14 sends the monitor reference as `Ref` and its own pid as
 *    `ReplyTo`; Elixir 1.15+ (1.18) an alias of the monitor
 *    (`monitor(process, Pid, [{alias, demonitor}])`) as both; noderl its
 *    hub's reply tag and the hub's pid. Elixir 1.18's `start_child` of a
 *    temporary `{M, F, A}` starts the task with the `async` arguments, then
 *    sends the same message with a plain reference as `Ref` and `ReplyTo`
 *    (the answer goes nowhere).
 * 3. The task waits for that message — monitoring the owner for up to 5 s
 *    with `monitor` (a DOWN first: it exits `{shutdown, Reason}`; no
 *    message: `timeout`), forever with `nomonitor` — records the callers
 *    (`$callers`), runs `M:F(A)` and sends `{Ref, Result}` to `ReplyTo`,
 *    then exits `normal`; a crash exits with its reason (`{undef, …}`, a
 *    JS error as `{Exception, Stack}` …).
 *
 * A closure (on the same node only) travels as `{erlang, apply, [Fn, []]}`.
 *
 * @module
 */
import type { Node } from "../node/node.ts";
import type { Process } from "../node/process.ts";
import { A, isTuple } from "../node/_atoms.ts";
import { describeDest } from "../node/_dest.ts";
import { ExitError } from "../node/errors.ts";
import { formatTerm } from "../node/format.ts";
import { Atom, Fun, Pid, Tuple, tuple } from "../node/terms.ts";
import type { CallTarget, Hub, TaskEntry } from "./_hub.ts";
import { checkRestart, type Restart } from "./_restart_intensity.ts";
import { DEFAULT_SHUTDOWN, type Shutdown, shutdownTerm } from "./_shutdown.ts";
import { MaxChildrenError, noSupervisor } from "./errors.ts";

// ---------------------------------------------------------------- owner and callers

const CALLERS = Symbol("noderl.$callers");
const OWNER = Symbol("noderl.owner");
type Tagged = Process & { [CALLERS]?: Pid[]; [OWNER]?: [Pid[], Tuple] };

/** The `$callers` to send with a task started by `owner` (Elixir's `get_callers`). @internal */
export function callersFor(owner: Process): Pid[] {
  return ownerInfo(owner)[0];
}

/** `{Node, NameOrPid, Pid}` for `owner`, as Elixir's `get_owner`. @internal */
export function ownerTuple(node: Node, owner: Process): Tuple {
  if (owner.registeredName !== undefined) {
    return tuple(
      Atom.of(node.name),
      Atom.of(owner.registeredName),
      owner.pid,
    );
  }
  return ownerInfo(owner)[1];
}

function ownerInfo(owner: Process): [Pid[], Tuple] {
  const o = owner as Tagged;
  let info = o[OWNER];
  if (info === undefined) {
    const up = o[CALLERS];
    info = o[OWNER] = [
      up ? [owner.pid, ...up] : [owner.pid],
      tuple(Atom.of(owner.pid.node), owner.pid, owner.pid),
    ];
  }
  return info;
}

/** Records the `$callers` of a task process (Elixir's `put_callers`). @internal */
export function setCallers(p: Process, callers: unknown): void {
  if (Array.isArray(callers)) {
    (p as Tagged)[CALLERS] = callers.filter((c) => c instanceof Pid) as Pid[];
  }
}

// ---------------------------------------------------------------- the task side

/**
 * The body of a local task (`Task.async`, or `TaskSupervisor.async` on
 * this node) in its process `p`: the callers, `run`, and the result handed
 * to the hub — the local form of `{Ref, Result}`. A JS error thrown is kept
 * as the await error's cause. @internal
 */
export async function runLocalTask(
  p: Process,
  hub: Hub,
  entry: TaskEntry,
  callers: Pid[],
  run: () => unknown,
): Promise<void> {
  (p as Tagged)[CALLERS] = callers;
  let v: unknown;
  try {
    v = await run();
  } catch (err) {
    entry.cause = err;
    throw err;
  }
  if (p.alive) hub.reply(entry, v);
}

/** Runs `{M, F, A}` (or a local closure as `{erlang, apply, [Fn, Args]}`). @internal */
export function runMfa(node: Node, mfa: unknown): unknown {
  if (!(mfa instanceof Tuple) || mfa.length !== 3 || !Array.isArray(mfa[2])) {
    throw new ExitError(
      tuple(A.badarg, mfa),
      "a task needs {Module, Function, Args}",
    );
  }
  const [m, f, a] = mfa;
  if (m === A.erlang && f === A.apply && a.length === 2) {
    if (typeof a[0] === "function") {
      return (a[0] as (...x: unknown[]) => unknown)(
        ...(Array.isArray(a[1]) ? a[1] : []),
      );
    }
    if (a[0] instanceof Fun) {
      throw new ExitError(
        tuple(A.badfun, a[0]),
        "a BEAM closure cannot run on a noderl node: give module, function and args (defined with defineModule)",
      );
    }
  }
  return node.apply(String(m), String(f), a);
}

/**
 * The body of a task that nobody awaits (`noreply`): records `callers`,
 * then runs `run` in the task process. @internal
 */
export function noreply(
  node: Node,
  callers: unknown,
  run: () => unknown,
): () => unknown {
  return () => {
    setCallers(node.current(), callers);
    return run();
  };
}

/**
 * The task side of `async` (`reply/2`): waits for `{OwnerPid, Ref,
 * ReplyTo, Callers, MFA}` — up to 5 s while monitoring the owner with
 * `monitor` — runs MFA and sends `{Ref, Result}` to `ReplyTo`. @internal
 */
export async function replyTask(
  node: Node,
  owner: Tuple,
  monitor: boolean,
): Promise<void> {
  const p = node.current();
  const ownerPid = owner[2];
  if (!(ownerPid instanceof Pid)) throw new ExitError(A.badarg);
  const mref = monitor ? node.monitorFrom(p, ownerPid) : undefined;
  let m: Tuple;
  try {
    m = await p.receive(
      (x) =>
        x instanceof Tuple &&
        ((x.length === 5 && ownerPid.equals(x[0])) ||
          (mref !== undefined && isTuple(x, A.DOWN, 5) && mref.equals(x[1]))),
      monitor ? 5000 : undefined,
    ) as Tuple;
  } catch (e) {
    if (e instanceof ExitError) throw e;
    throw new ExitError(A.timeout);
  }
  if (m[0] === A.DOWN) throw new ExitError(tuple(A.shutdown, m[4]));
  if (mref !== undefined) node.demonitorFrom(p, mref, true);
  const [, ref, replyTo, callers, mfa] = m;
  setCallers(p, callers);
  const v = await runMfa(node, mfa);
  node.sendFrom(
    p,
    replyTo as Pid,
    tuple(ref, v === undefined ? A.ok : v),
  );
}

// ---------------------------------------------------------------- the client side

/** What a client start needs of the task it starts. @internal */
export interface Starting {
  hub: Hub;
  entry: TaskEntry;
  owner: Process;
  /** Called once the task's pid is known. */
  started: (pid: Pid) => void;
}

/**
 * Starts an `async` task under `target` (on node `peer`) with Elixir's
 * protocol: the `start_task` call, then link (when `link`), monitor, and
 * `{OwnerPid, Tag, ReplyTo, Callers, {M, F, A}}` to the task, which
 * answers `{Tag, Result}` to ReplyTo (the hub). Failures settle the task.
 * @internal
 */
export function startByCall(
  s: Starting,
  target: CallTarget,
  peer: string,
  mfa: Tuple,
  link: boolean,
  shutdown: Shutdown,
): void {
  const hub = s.hub, node = hub.node, entry = s.entry, owner = s.owner;
  const display = describeDest(target);
  const message = () =>
    tuple(owner.pid, entry.tag, hub.process.pid, callersFor(owner), mfa);
  hub.call(
    target,
    tuple(
      A.start_task,
      [ownerTuple(node, owner), A.monitor],
      A.temporary,
      shutdown === DEFAULT_SHUTDOWN ? null : shutdownTerm(shutdown),
    ),
  ).then((reply) => {
    if (isTuple(reply, A.ok, 2) && reply[1] instanceof Pid) {
      const pid = reply[1];
      if (entry.abandoned) {
        // An await gave up before the start came back: a linked task is
        // killed (see `started`), a nolink one runs, as it would in Elixir.
        if (!link) node.sendFrom(owner, pid, message());
        s.started(pid);
        return;
      }
      if (link) node.linkFrom(owner, pid);
      hub.watch(entry, pid);
      node.sendFrom(owner, pid, message());
      s.started(pid);
    } else {
      hub.fail(entry, refused(display, reply));
    }
  }, (e) => hub.fail(entry, callFailure(e, display, peer)));
}

/**
 * Starts a child task (`start_child`) under `target` (on node `peer`) with
 * Elixir's protocol; resolves with its pid. Without a `restart` it asks
 * for the supervisor's default (`nil`), and asks again with the restart a
 * supervisor answers `{restart, R}` with (Elixir 1.15+). Errors name the
 * supervisor as `display`. @internal
 */
export async function startChildByCall(
  hub: Hub,
  owner: Process,
  target: CallTarget,
  display: string,
  peer: string,
  mfa: Tuple,
  restart: Restart | undefined,
  shutdown: Shutdown,
): Promise<Pid> {
  const ask = (r: Atom | null) =>
    hub.call(
      target,
      tuple(
        A.start_task,
        [ownerTuple(hub.node, owner), callersFor(owner), mfa],
        r,
        shutdownTerm(shutdown),
      ),
    );
  let reply: unknown;
  try {
    reply = await ask(restart === undefined ? null : Atom.of(restart));
    if (isTuple(reply, A.restart, 2) && reply[1] instanceof Atom) {
      reply = await ask(
        Atom.of(checkRestart(reply[1].name, display, "temporary")),
      );
    }
  } catch (e) {
    throw callFailure(e, display, peer);
  }
  if (isTuple(reply, A.ok, 2) && reply[1] instanceof Pid) return reply[1];
  throw refused(display, reply);
}

/** The error for a `start_task` reply that is not `{ok, Pid}`. */
function refused(display: string, reply: unknown): Error {
  if (isTuple(reply, A.error, 2) && reply[1] === A.max_children) {
    return new MaxChildrenError(display);
  }
  return new Error(
    `task supervisor ${display} did not start the task: ${formatTerm(reply)}`,
  );
}

/** The error for a failed `start_task` call: `noproc` says which supervisor. */
function callFailure(e: unknown, display: string, peer: string): Error {
  if (e instanceof ExitError && e.reason === A.noproc) {
    return noSupervisor(display, peer);
  }
  return e instanceof Error ? e : new Error(String(e));
}
