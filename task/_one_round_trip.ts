/**
 * noderl's own way to start a task under a task supervisor on another
 * noderl node: one round trip, as `erpc` does, instead of Elixir's call
 * then message (`_supervised.ts`). Both halves are here: the client's
 * {@linkcode startFast}, and the `noderl_task` module every node with a
 * task supervisor defines ({@linkcode serveOneRoundTrip}). Internal.
 *
 * ## Wire format
 *
 * Which peers take it: once per connection the caller's hub asks
 * `rpc:call(Peer, noderl_task, protocol, [])` ({@linkcode askProtocol}); `1`
 * means this protocol, anything else (a BEAM node answers `{undef, …}`)
 * means Elixir's.
 *
 * The start is one SPAWN_REQUEST (control message 29) from the caller's
 * hub process, with the `monitor` option, of `{noderl_task, run, 10}`:
 *
 * ```
 * {29, Tag, HubPid, GroupLeader, {noderl_task, run, 10}, [monitor]}
 * args: [Sup, {Node, NameOrPid, OwnerPid}, Tag, ReplyTo, Callers, M, F, Args, Link, Shutdown]
 * ```
 *
 * - `Tag`, a reference, is at once the request id, the monitor reference
 *   (the DOWN comes as `{DOWN, Tag, process, TaskPid, Reason}`) and the
 *   reply tag; `ReplyTo` is the hub's pid;
 * - `Sup` is the supervisor's pid or registered name (an atom);
 * - `Link` is `true` for `async` (the task links to `OwnerPid`), `false`
 *   for `asyncNolink`; `Shutdown` is ms, `infinity` or `brutal_kill`.
 *
 * The peer answers SPAWN_REPLY (31) with the task's pid, which then — in
 * the spawned process — joins the supervisor as a `temporary` child (the
 * supervisor links to it and lends it its group leader), links to the
 * owner if asked, records `Callers`, runs `M:F(Args)` and sends
 * `{Tag, Result}` to `ReplyTo`. When it cannot join, it exits at once with
 * `{noderl_task_not_started, noproc}` (no such supervisor) or
 * `{noderl_task_not_started, max_children | shutdown, MaxChildren | infinity}`,
 * which the caller turns into the same errors as Elixir's protocol gives
 * ({@linkcode notStartedError}).
 *
 * @module
 */
import type { Node } from "../node/node.ts";
import type { Process } from "../node/process.ts";
import { A } from "../node/_atoms.ts";
import { ExitError, NoConnectionError } from "../node/errors.ts";
import { type Atom, Pid, Tuple, tuple } from "../node/terms.ts";
import { type Shutdown, shutdownOfTerm, shutdownTerm } from "./_shutdown.ts";
import {
  callersFor,
  ownerTuple,
  setCallers,
  type Starting,
} from "./_supervised.ts";
import { serverOf } from "./_task_supervisor_server.ts";
import { MaxChildrenError, noSupervisor } from "./errors.ts";

/** The module the protocol calls. */
const MODULE = "noderl_task";
/** What `noderl_task:protocol/0` answers. */
const VERSION = 1;

const SPAWN_OPTIONS = { monitor: true } as const;
const withModule = new WeakSet<Node>();

/**
 * Asks `peer` (from process `from`) whether it takes this protocol.
 * Rejects with a {@linkcode NoConnectionError} when it cannot be reached;
 * any other failure means no. @internal
 */
export function askProtocol(
  node: Node,
  from: Process,
  peer: string,
): Promise<boolean> {
  return new Promise<boolean>((resolve, reject) => {
    node.spawnLocal(from, async () => {
      try {
        const v = await node.call(peer, MODULE, "protocol", [], 10_000);
        resolve(v === VERSION);
      } catch (e) {
        if (e instanceof NoConnectionError) reject(e);
        else resolve(false);
      }
    }, { label: "task protocol probe" });
  });
}

/**
 * The client half: starts `{M, F, Args}` under supervisor `sup` (its pid or
 * name) on `peer` with one SPAWN_REQUEST. A start failure settles the task.
 * @internal
 */
export function startFast(
  s: Starting,
  peer: string,
  sup: Pid | Atom,
  m: Atom,
  f: Atom,
  args: unknown[],
  link: boolean,
  shutdown: Shutdown,
): void {
  const hub = s.hub, node = hub.node, entry = s.entry;
  hub.expectDown(entry, entry.tag, entry.tagKey);
  node.spawnRequestFrom(
    hub.process,
    peer,
    MODULE,
    "run",
    [
      sup,
      ownerTuple(node, s.owner),
      entry.tag,
      hub.process.pid,
      callersFor(s.owner),
      m,
      f,
      args,
      link,
      shutdownTerm(shutdown),
    ],
    SPAWN_OPTIONS,
    (error, pid) => {
      if (pid !== undefined) s.started(pid);
      else {
        hub.fail(
          entry,
          error instanceof Error ? error : new Error(String(error)),
        );
      }
    },
    entry.tag,
  );
}

/**
 * The error for a task's exit `reason` if it says the task never started
 * (`{noderl_task_not_started, Why, …}`): `display` is the supervisor as the
 * caller gave it, `peer` its node. @internal
 */
export function notStartedError(
  reason: unknown,
  display: string,
  peer: string,
): Error | undefined {
  if (
    !(reason instanceof Tuple) || reason.length < 2 ||
    reason[0] !== A.not_started
  ) return undefined;
  if (reason[1] === A.noproc) return noSupervisor(display, peer);
  if (reason[1] === A.max_children) {
    return new MaxChildrenError(
      display,
      typeof reason[2] === "number" ? reason[2] : undefined,
    );
  }
  return new ExitError(reason[1], `task supervisor ${display} on ${peer}`);
}

/** The server half: makes `noderl_task` callable on `node` (once). @internal */
export function serveOneRoundTrip(node: Node): void {
  if (withModule.has(node)) return;
  withModule.add(node);
  node.defineModule(MODULE, {
    protocol: () => VERSION,
    /**
     * Runs in the process the caller's SPAWN_REQUEST made: joins the
     * supervisor (or exits `{noderl_task_not_started, Why, …}`), links to
     * the owner if asked, runs M:F(A) and sends `{Tag, Result}` to `ReplyTo`.
     */
    run(
      sup: unknown,
      owner: unknown,
      tag: unknown,
      replyTo: unknown,
      callers: unknown,
      m: unknown,
      f: unknown,
      args: unknown,
      link: unknown,
      shutdown: unknown,
    ): unknown {
      const p = node.current();
      const server = serverOf(node, sup);
      if (server === undefined) {
        throw new ExitError(tuple(A.not_started, A.noproc));
      }
      const no = server.refusal();
      if (no !== undefined) {
        throw new ExitError(
          tuple(
            A.not_started,
            no,
            Number.isFinite(server.maxChildren)
              ? server.maxChildren
              : A.infinity,
          ),
        );
      }
      server.adopt(p, shutdownOfTerm(shutdown, "task"));
      const ownerPid = owner instanceof Tuple ? owner[2] : undefined;
      if (link === true && ownerPid instanceof Pid) node.linkFrom(p, ownerPid);
      setCallers(p, callers);
      const reply = (v: unknown) =>
        node.sendFrom(
          p,
          replyTo as Pid,
          tuple(tag, v === undefined ? A.ok : v),
        );
      const v = node.apply(
        String(m),
        String(f),
        Array.isArray(args) ? args : [],
      );
      if (v instanceof Promise) return v.then(reply);
      reply(v);
    },
  });
}
