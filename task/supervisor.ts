/**
 * Supervisors, as OTP's: a process that starts children from child specs,
 * links to them, and restarts them when they exit — one at a time
 * (`one_for_one`), all together (`one_for_all`), or the crashed one and
 * those started after it (`rest_for_one`). More than `maxRestarts` restarts
 * within `maxSeconds` (default 3 in 5 s, as Elixir) and the supervisor
 * gives up: it stops its children and exits with `shutdown`. Children stop
 * in reverse start order, each within its `shutdown` time.
 *
 * The supervisor also answers the BEAM's requests: `which_children`,
 * `count_children`, `terminate_child`, `restart_child`, `delete_child` as
 * `$gen_call`s, and `sys`'s `terminate`, so Elixir's
 * `Supervisor.which_children({name, node})` and `Supervisor.stop` work on it.
 *
 * This file is the API and the child specs; the supervisor process is
 * `_supervisor_server.ts`, sharing its restart intensity
 * (`_restart_intensity.ts`) and child shutdown (`_shutdown.ts`) with
 * `TaskSupervisor`'s.
 *
 * @example
 * ```ts
 * import { startRegistry } from "../node/registry.ts";
 * import { startNode } from "../node/node.ts";
 * import { receive } from "../node/process_api.ts";
 * import { atom, Pid } from "../node/terms.ts";
 * import { Supervisor } from "./supervisor.ts";
 * import assert from "node:assert/strict";
 *
 * const registry = await startRegistry({ port: 0 });
 * const node = await startNode({ name: "sup@localhost", cookie: "c", registryPort: registry.port });
 * const sup = await Supervisor.start(node, [
 *   Supervisor.worker("a", () => receive()),
 *   Supervisor.worker("b", () => receive()),
 * ], { strategy: "one_for_one", name: "Elixir.Demo.Supervisor" });
 * assert.deepEqual(await Supervisor.countChildren(sup), { specs: 2, active: 2, supervisors: 0, workers: 2 });
 * const [a] = await Supervisor.whichChildren("Elixir.Demo.Supervisor");
 * node.exit(a.pid as Pid, atom("kill"));      // child a dies: it is restarted
 * const [a2] = await Supervisor.whichChildren(sup);
 * assert.ok(a2.pid instanceof Pid && !a2.pid.equals(a.pid));
 * await Supervisor.stop(sup);
 * await node.stop();
 * await registry.close();
 * ```
 *
 * @module
 */
import type { Node } from "../node/node.ts";
import type { Process } from "../node/process.ts";
import { A, isTuple } from "../node/_atoms.ts";
import { describeDest } from "../node/_dest.ts";
import { ExitError } from "../node/errors.ts";
import { formatTerm } from "../node/format.ts";
import { currentNode } from "../node/process_api.ts";
import { Atom, Pid, Tuple, tuple } from "../node/terms.ts";
import { type CallTarget, hubFor } from "./_hub.ts";
import { checkIntensity, type Restart } from "./_restart_intensity.ts";
import { DEFAULT_SHUTDOWN, type Shutdown } from "./_shutdown.ts";
import {
  errorTerm,
  normalizeChild,
  type StartFailure,
  SupervisorServer,
} from "./_supervisor_server.ts";
import { nameTaken } from "./errors.ts";

export type { Restart, Shutdown };

/** How a supervisor restarts children when one exits. */
export type Strategy = "one_for_one" | "one_for_all" | "rest_for_one";

/** A child specification. */
export interface ChildSpec {
  /** The child's id, unique in its supervisor (an atom on the wire). */
  id: string;
  /**
   * Starts the child and returns its pid. It runs inside the supervisor's
   * process, so `spawnLink` links to the supervisor (the supervisor links
   * to the pid anyway).
   */
  start: () => Pid | Promise<Pid>;
  /**
   * When the child is restarted.
   * @default "permanent"
   */
  restart?: Restart;
  /**
   * How the child is stopped.
   * @default 5000 (ms) for a worker, "infinity" for a supervisor
   */
  shutdown?: Shutdown;
  /**
   * What the child is.
   * @default "worker"
   */
  type?: "worker" | "supervisor";
  /**
   * Module names reported by `which_children`.
   * @default []
   */
  modules?: string[];
}

/** Something that makes a child spec, as Elixir modules with `child_spec/1`. */
export interface ChildSpecSource<T> {
  /** Returns the child spec for `arg`. */
  childSpec(arg: T): ChildSpec;
}

/**
 * A child in `Supervisor.start`'s list: a spec, a spec source alone
 * (`TaskSupervisor`), or `[source, arg]` — the seed's
 * `{Task.Supervisor, name: Chat.TaskSupervisor}` is
 * `[TaskSupervisor, { name: "Elixir.Chat.TaskSupervisor" }]`.
 */
export type ChildEntry =
  | ChildSpec
  // deno-lint-ignore no-explicit-any
  | ChildSpecSource<any>
  // deno-lint-ignore no-explicit-any
  | readonly [ChildSpecSource<any>, unknown];

/** Options of {@linkcode Supervisor.start}. */
export interface SupervisorOptions {
  /**
   * Which children are restarted when one exits.
   * @default "one_for_one"
   */
  strategy?: Strategy;
  /**
   * Restarts allowed within `maxSeconds` before the supervisor exits (an
   * integer ≥ 0).
   * @default 3
   */
  maxRestarts?: number;
  /**
   * The window of `maxRestarts`, in seconds (> 0).
   * @default 5
   */
  maxSeconds?: number;
  /** Registers the supervisor under this name (exact atom text). */
  name?: string | Atom;
  /**
   * Link the supervisor to the calling process.
   * @default true inside a process, false outside any (the shell cannot be taken down)
   */
  link?: boolean;
}

/** A supervisor: a pid, a registered name, or `[name, node]`. */
export type SupervisorRef = CallTarget;

/** Options of the calls that take a supervisor. */
export interface CallOptions {
  /**
   * The node to call from.
   * @default the calling process's node, else the default node
   */
  node?: Node;
  /**
   * Give up after this many ms.
   * @default Infinity (wait, as Elixir does)
   */
  timeoutMs?: number;
}

/** One entry of {@linkcode Supervisor.whichChildren}. */
export interface ChildInfo {
  /** The child's id. */
  id: string;
  /** The pid, `"restarting"`, or `undefined` when not running. */
  pid: Pid | "restarting" | undefined;
  /** Worker or supervisor. */
  type: "worker" | "supervisor";
  /** The module names its spec gave. */
  modules: string[];
}

/** What {@linkcode Supervisor.countChildren} returns. */
export interface ChildCounts {
  /** Child specs, running or not. */
  specs: number;
  /** Children running. */
  active: number;
  /** Children of type supervisor. */
  supervisors: number;
  /** Children of type worker. */
  workers: number;
}

/** Options of {@linkcode Supervisor.worker}. */
export interface WorkerOptions {
  /**
   * When the worker is restarted.
   * @default "permanent"
   */
  restart?: Restart;
  /**
   * How the worker is stopped (ms before it is killed, `"infinity"`, or `"brutal_kill"`).
   * @default 5000
   */
  shutdown?: Shutdown;
}

/** Options of {@linkcode Supervisor.childSpec}: a nested supervisor. */
export interface NestedSupervisorOptions extends SupervisorOptions {
  /**
   * The child id.
   * @default the name, else "Elixir.Supervisor"
   */
  id?: string;
  /** Its children. */
  children: ChildEntry[];
  /**
   * When the nested supervisor is restarted.
   * @default "permanent"
   */
  restart?: Restart;
  /**
   * How the nested supervisor is stopped.
   * @default "infinity"
   */
  shutdown?: Shutdown;
}

const STRATEGIES = new Set(["one_for_one", "one_for_all", "rest_for_one"]);

function checkOptions(o: SupervisorOptions): Required<
  Omit<SupervisorOptions, "name" | "link">
> {
  const strategy = o.strategy ?? "one_for_one";
  if (!STRATEGIES.has(strategy)) {
    throw new RangeError(
      `strategy must be "one_for_one", "one_for_all" or "rest_for_one", got ${strategy}`,
    );
  }
  return { strategy, ...checkIntensity(o) };
}

/** Whether two exit reasons are the same term. @internal */
export function sameReason(a: unknown, b: unknown): boolean {
  return a === b || formatTerm(a) === formatTerm(b);
}

/** An exit reason from the API's `reason` argument: strings become atoms. @internal */
export function reasonTerm(reason: unknown): unknown {
  return typeof reason === "string" ? Atom.of(reason) : reason;
}

/**
 * Supervisors: start one with {@linkcode Supervisor.start}; ask it with
 * {@linkcode Supervisor.whichChildren} and {@linkcode Supervisor.countChildren};
 * stop it with {@linkcode Supervisor.stop}.
 */
export class Supervisor {
  private constructor() {}

  /**
   * Starts a supervisor on `node` with `children` (started in order) and
   * resolves with its pid once all have started. Rejects — after stopping
   * those already started — when a child fails to start, when a name is
   * taken, or for bad options.
   */
  static start(
    node: Node,
    children: readonly ChildEntry[],
    options: SupervisorOptions = {},
  ): Promise<Pid> {
    let specs: Required<ChildSpec>[];
    let opts: Required<Omit<SupervisorOptions, "name" | "link">>;
    try {
      opts = checkOptions(options);
      specs = children.map(normalizeChild);
      const seen = new Set<string>();
      for (const s of specs) {
        if (seen.has(s.id)) {
          throw new TypeError(
            `two children have the id ${s.id}: give each child of a supervisor its own id`,
          );
        }
        seen.add(s.id);
      }
    } catch (e) {
      return Promise.reject(e);
    }
    const name = options.name === undefined ? undefined : String(options.name);
    const taken = nameTaken(node, name, "supervisor");
    if (taken !== undefined) return Promise.reject(taken);
    const caller = node.current();
    const link = options.link ?? caller !== node.shell;
    return new Promise<Pid>((resolve, reject) => {
      const proc: Process = node.spawnLocal(caller, async () => {
        const server = new SupervisorServer(
          node,
          proc,
          opts,
          link ? caller.pid : undefined,
        );
        try {
          await server.init(specs);
        } catch (e) {
          const f = e as StartFailure;
          reject(f);
          // The caller hears of it through the promise, not a link.
          if (link) node.unlinkFrom(proc, caller.pid);
          throw new ExitError(
            tuple(
              A.shutdown,
              tuple(
                A.failed_to_start_child,
                Atom.of(f.id),
                errorTerm(f.cause),
              ),
            ),
          );
        }
        resolve(proc.pid);
        await server.loop();
      }, { link, label: name ?? "supervisor" });
      proc.trapExit = true;
      if (name !== undefined) node.register(name, proc.pid);
    });
  }

  /** The children, in start order: id, pid, type and modules. */
  static async whichChildren(
    supervisor: SupervisorRef,
    options: CallOptions = {},
  ): Promise<ChildInfo[]> {
    const r = await call(supervisor, A.which_children, options);
    if (!Array.isArray(r)) throw badReply("which_children", supervisor, r);
    return r.map((t) => {
      const [id, pid, type, modules] = t as Tuple;
      return {
        id: String(id),
        pid: pid instanceof Pid
          ? pid
          : pid === A.restarting
          ? "restarting" as const
          : undefined,
        type: type === A.supervisor ? "supervisor" as const : "worker" as const,
        modules: Array.isArray(modules) ? modules.map(String) : [],
      };
    });
  }

  /** How many children: specs, active ones, supervisors and workers. */
  static async countChildren(
    supervisor: SupervisorRef,
    options: CallOptions = {},
  ): Promise<ChildCounts> {
    return countsFrom(
      await call(supervisor, A.count_children, options),
      supervisor,
    );
  }

  /** Stops the child `id` (it stays in the specs unless temporary). */
  static async terminateChild(
    supervisor: SupervisorRef,
    id: string,
    options: CallOptions = {},
  ): Promise<void> {
    await childCall("terminate", A.terminate_child, supervisor, id, options);
  }

  /** Starts the stopped child `id` again; resolves with its new pid. */
  static async restartChild(
    supervisor: SupervisorRef,
    id: string,
    options: CallOptions = {},
  ): Promise<Pid> {
    return await childCall(
      "restart",
      A.restart_child,
      supervisor,
      id,
      options,
    ) as Pid;
  }

  /** Removes the stopped child `id` from the supervisor. */
  static async deleteChild(
    supervisor: SupervisorRef,
    id: string,
    options: CallOptions = {},
  ): Promise<void> {
    await childCall("delete", A.delete_child, supervisor, id, options);
  }

  /** Adds and starts a child (a supervisor on this node: specs hold functions). */
  static async startChild(
    supervisor: SupervisorRef,
    child: ChildEntry,
    options: CallOptions = {},
  ): Promise<Pid> {
    const r = await call(supervisor, tuple(A.start_child, child), options);
    if (isTuple(r, A.ok, 2) && r[1] instanceof Pid) return r[1];
    throw new Error(
      `could not start the child on ${describeDest(supervisor)}: ${
        formatTerm(isTuple(r, A.error, 2) ? r[1] : r)
      }`,
    );
  }

  /**
   * Stops the supervisor: its children stop in reverse order, then it exits
   * with `reason` (default `"normal"`; strings are atoms). Rejects with
   * `noproc` if it is not running.
   */
  static stop(
    supervisor: SupervisorRef,
    reason: unknown = "normal",
    options: CallOptions = {},
  ): Promise<void> {
    return stopProcess(supervisor, reason, options);
  }

  /**
   * A child spec for a worker process running `fn` (spawned linked to the
   * supervisor), restarted and stopped as `options` say.
   */
  static worker(
    id: string,
    fn: () => unknown,
    options: WorkerOptions = {},
  ): ChildSpec {
    return {
      id,
      start: () => {
        const node = currentNode();
        return node.spawnLocal(node.current(), fn, { link: true, label: id })
          .pid;
      },
      restart: options.restart ?? "permanent",
      shutdown: options.shutdown ?? DEFAULT_SHUTDOWN,
      type: "worker",
    };
  }

  /** A child spec for a nested supervisor; also makes `[Supervisor, options]` a child. */
  static childSpec(options: NestedSupervisorOptions): ChildSpec {
    const { id, children, restart, shutdown, ...rest } = options;
    return {
      id: id ?? (rest.name ? String(rest.name) : "Elixir.Supervisor"),
      start: () => Supervisor.start(currentNode(), children, rest),
      restart: restart ?? "permanent",
      shutdown: shutdown ?? "infinity",
      type: "supervisor",
    };
  }
}

/** A `$gen_call` through the calling node's hub. @internal */
export function call(
  target: SupervisorRef,
  request: unknown,
  options: CallOptions = {},
): Promise<unknown> {
  const node = options.node ?? currentNode();
  return hubFor(node).call(target, request, { timeoutMs: options.timeoutMs });
}

/**
 * Stops a process with `sys`'s `terminate` message, as `proc_lib:stop`
 * (Elixir's `Supervisor.stop` / `GenServer.stop`). @internal
 */
export async function stopProcess(
  target: SupervisorRef,
  reason: unknown,
  options: CallOptions,
): Promise<void> {
  const node = options.node ?? currentNode();
  const r = reasonTerm(reason);
  const down = await hubFor(node).call(target, tuple(A.terminate, r), {
    tag: A.system,
    timeoutMs: options.timeoutMs,
    untilDown: true,
  });
  if (!sameReason(down, r)) {
    throw new ExitError(down, `stop ${describeDest(target)}`);
  }
}

/** `[{specs, N}, {active, N}, …]` as an object. @internal */
export function countsFrom(r: unknown, supervisor: SupervisorRef): ChildCounts {
  if (!Array.isArray(r)) throw badReply("count_children", supervisor, r);
  const out: ChildCounts = { specs: 0, active: 0, supervisors: 0, workers: 0 };
  for (const kv of r) {
    if (kv instanceof Tuple && kv.length === 2) {
      const k = String(kv[0]) as keyof ChildCounts;
      if (k in out) out[k] = Number(kv[1]);
    }
  }
  return out;
}

function badReply(what: string, sup: SupervisorRef, r: unknown): Error {
  return new Error(
    `${what} on ${describeDest(sup)} got an unexpected reply ${
      formatTerm(r)
    }: is it a supervisor?`,
  );
}

/**
 * `{Tag, Id}` to the supervisor: resolves once it answers `ok` — or, for
 * `restart`, with the pid of `{ok, Pid}` — else throws what went wrong.
 */
async function childCall(
  what: "terminate" | "restart" | "delete",
  tag: Atom,
  sup: SupervisorRef,
  id: string,
  options: CallOptions,
): Promise<Pid | undefined> {
  const r = await call(sup, tuple(tag, Atom.of(id)), options);
  if (what !== "restart" && r === A.ok) return undefined;
  if (what === "restart" && isTuple(r, A.ok, 2) && r[1] instanceof Pid) {
    return r[1];
  }
  throw notOk(what, id, sup, r);
}

function notOk(
  what: string,
  id: string,
  sup: SupervisorRef,
  r: unknown,
): Error {
  const why = isTuple(r, A.error, 2) ? r[1] : r;
  if (why === A.not_found) {
    return new Error(
      `cannot ${what} child ${id}: ${
        describeDest(sup)
      } has no child with that id`,
    );
  }
  if (why === A.running) {
    return new Error(
      `cannot ${what} child ${id} of ${
        describeDest(sup)
      }: it is running (terminate it first)`,
    );
  }
  return new Error(
    `cannot ${what} child ${id} of ${describeDest(sup)}: ${formatTerm(why)}`,
  );
}
