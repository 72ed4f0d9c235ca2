/**
 * The supervisor process, as OTP's `supervisor`: starts its children in
 * order from their specs, restarts them as its strategy says within its
 * restart intensity (`_restart_intensity.ts`), stops them in reverse order
 * (`_shutdown.ts`), and answers the BEAM's supervisor calls and `sys`'s
 * `terminate`. The API is `supervisor.ts`. Internal.
 *
 * @module
 */
import {
  childRestarted,
  childTerminated,
  intensityReached,
} from "./_child_reports.ts";
import type { Node } from "../node/node.ts";
import type { Process } from "../node/process.ts";
import { A, isTuple } from "../node/_atoms.ts";
import { ExitError } from "../node/errors.ts";
import { formatTerm } from "../node/format.ts";
import { Atom, Pid, Tuple, tuple } from "../node/terms.ts";
import {
  checkRestart,
  RestartIntensity,
  restarts,
} from "./_restart_intensity.ts";
import {
  checkShutdown,
  DEFAULT_SHUTDOWN,
  receiveDown,
  shutdownChild,
} from "./_shutdown.ts";
import type {
  ChildEntry,
  ChildSpec,
  ChildSpecSource,
  SupervisorOptions,
} from "./supervisor.ts";

interface ChildState {
  spec: Required<ChildSpec>;
  pid: Pid | undefined;
}

/** Turns a child entry into a complete spec, or throws a TypeError (RangeError for an out-of-range value). @internal */
export function normalizeChild(entry: ChildEntry): Required<ChildSpec> {
  let spec: unknown = entry;
  if (
    Array.isArray(entry) && entry.length === 2 &&
    typeof entry[0]?.childSpec === "function"
  ) {
    spec = entry[0].childSpec(entry[1]);
  } else if (
    (typeof entry === "object" || typeof entry === "function") &&
    entry !== null && !("start" in entry) &&
    typeof (entry as ChildSpecSource<unknown>).childSpec === "function"
  ) {
    spec = (entry as ChildSpecSource<unknown>).childSpec(undefined);
  }
  const s = spec as ChildSpec;
  if (
    typeof s !== "object" || s === null || typeof s.start !== "function" ||
    (typeof s.id !== "string" && !(s.id as unknown instanceof Atom)) ||
    String(s.id) === ""
  ) {
    throw new TypeError(
      `a child is a { id, start } spec, a module like TaskSupervisor, or [module, options]; got ${
        formatTerm(spec)
      }`,
    );
  }
  const restart = checkRestart(s.restart, `child ${s.id}`, "permanent");
  const type = s.type ?? "worker";
  if (type !== "worker" && type !== "supervisor") {
    throw new RangeError(
      `child ${s.id}: type must be "worker" or "supervisor", got ${type}`,
    );
  }
  return {
    id: String(s.id),
    start: s.start,
    restart,
    type,
    shutdown: checkShutdown(
      s.shutdown ?? (type === "supervisor" ? "infinity" : DEFAULT_SHUTDOWN),
      `child ${s.id}`,
    ),
    modules: s.modules ?? [],
  };
}

/** One supervisor process and its children. @internal */
export class SupervisorServer {
  readonly children: ChildState[] = [];
  private readonly intensity: RestartIntensity;

  constructor(
    readonly node: Node,
    readonly proc: Process,
    readonly opts: Required<Omit<SupervisorOptions, "name" | "link">>,
    readonly parent: Pid | undefined,
  ) {
    this.intensity = new RestartIntensity(opts.maxRestarts, opts.maxSeconds);
  }

  /** Its registered name, else its pid, for reports. */
  private get label(): string {
    return this.proc.registeredName ?? String(this.proc.pid);
  }

  async init(specs: Required<ChildSpec>[]): Promise<void> {
    for (const spec of specs) {
      const c: ChildState = { spec, pid: undefined };
      this.children.push(c);
      try {
        c.pid = await this.startChild(spec);
      } catch (e) {
        this.children.pop();
        await this.terminateAll();
        throw new StartFailure(spec.id, e);
      }
    }
  }

  private async startChild(spec: Required<ChildSpec>): Promise<Pid> {
    const pid = await spec.start();
    if (!(pid instanceof Pid)) {
      throw new TypeError(
        `the start function of child ${spec.id} must return a Pid, got ${
          formatTerm(pid)
        }`,
      );
    }
    this.node.linkFrom(this.proc, pid);
    return pid;
  }

  async loop(): Promise<void> {
    const p = this.proc;
    for (;;) {
      const m = await p.receive();
      if (!(m instanceof Tuple)) continue;
      if (isTuple(m, A.EXIT, 3) && m[1] instanceof Pid) {
        const [, from, reason] = m;
        if (this.parent !== undefined && this.parent.equals(from)) {
          await this.terminateAll();
          throw new ExitError(reason);
        }
        const c = this.children.find((c) => c.pid?.equals(from));
        if (c !== undefined) await this.childExited(c, reason);
      } else if (isTuple(m, A.gen_call, 3)) {
        await this.handleCall(m[1], m[2]);
      } else if (
        isTuple(m, A.system, 3) && isTuple(m[2], A.terminate, 2)
      ) {
        // As sys: answer ok, then stop (proc_lib:stop waits for the DOWN).
        this.node.replyFrom(this.proc, m[1], A.ok);
        await this.terminateAll();
        throw new ExitError(m[2][1]);
      }
    }
  }

  private async childExited(c: ChildState, reason: unknown): Promise<void> {
    childTerminated(
      this.node,
      this.label,
      c.spec.id,
      c.pid,
      reason,
      c.spec.restart,
    );
    c.pid = undefined;
    const r = c.spec.restart;
    if (r === "temporary") {
      this.children.splice(this.children.indexOf(c), 1);
      return;
    }
    if (!restarts(r, reason)) return;
    if (!this.intensity.add()) await this.giveUp();
    const i = this.children.indexOf(c);
    let group: ChildState[];
    if (this.opts.strategy === "one_for_one") group = [c];
    else if (this.opts.strategy === "one_for_all") group = [...this.children];
    else group = this.children.slice(i);
    for (const g of [...group].reverse()) {
      if (g !== c) await this.shutdownChild(g);
    }
    for (const g of group) {
      if (g !== c && g.spec.restart === "temporary") {
        this.children.splice(this.children.indexOf(g), 1);
      }
    }
    for (const g of group) {
      if (!this.children.includes(g)) continue;
      for (;;) {
        try {
          g.pid = await this.startChild(g.spec);
          childRestarted(this.node, this.label, g.spec.id, g.pid);
          break;
        } catch {
          // As OTP: a failed restart counts as a restart, and is tried again.
          if (!this.intensity.add()) await this.giveUp();
        }
      }
    }
  }

  private async giveUp(): Promise<never> {
    const { maxRestarts, maxSeconds } = this.opts;
    intensityReached(this.node, this.label, maxRestarts, maxSeconds);
    await this.terminateAll();
    throw new ExitError(A.shutdown);
  }

  /** Stops one child as its spec says; resolves once it is gone. */
  private async shutdownChild(c: ChildState): Promise<void> {
    const pid = c.pid;
    if (pid === undefined) return;
    c.pid = undefined;
    await shutdownChild(
      this.node,
      this.proc,
      pid,
      c.spec.shutdown,
      receiveDown(this.proc),
    );
  }

  async terminateAll(): Promise<void> {
    for (const c of [...this.children].reverse()) {
      await this.shutdownChild(c);
      if (c.spec.restart === "temporary") {
        this.children.splice(this.children.indexOf(c), 1);
      }
    }
  }

  private find(id: unknown): ChildState | undefined {
    const key = String(id);
    return this.children.find((c) => c.spec.id === key);
  }

  private async handleCall(from: unknown, req: unknown): Promise<void> {
    const reply = (v: unknown) => this.node.replyFrom(this.proc, from, v);
    if (req === A.which_children) {
      reply(this.children.map((c) =>
        tuple(
          Atom.of(c.spec.id),
          c.pid ?? A.undefined,
          c.spec.type === "supervisor" ? A.supervisor : A.worker,
          c.spec.modules.map((m) => Atom.of(m)),
        )
      ));
    } else if (req === A.count_children) {
      const sup = this.children.filter((c) => c.spec.type === "supervisor");
      reply([
        tuple(A.specs, this.children.length),
        tuple(A.active, this.children.filter((c) => c.pid).length),
        tuple(A.supervisors, sup.length),
        tuple(A.workers, this.children.length - sup.length),
      ]);
    } else if (isTuple(req, A.terminate_child, 2)) {
      const c = this.find(req[1]);
      if (c === undefined) return reply(tuple(A.error, A.not_found));
      await this.shutdownChild(c);
      if (c.spec.restart === "temporary") {
        this.children.splice(this.children.indexOf(c), 1);
      }
      reply(A.ok);
    } else if (isTuple(req, A.restart_child, 2)) {
      const c = this.find(req[1]);
      if (c === undefined) return reply(tuple(A.error, A.not_found));
      if (c.pid !== undefined) {
        return reply(tuple(A.error, A.running));
      }
      try {
        c.pid = await this.startChild(c.spec);
        reply(tuple(A.ok, c.pid));
      } catch (e) {
        reply(tuple(A.error, errorTerm(e)));
      }
    } else if (isTuple(req, A.delete_child, 2)) {
      const c = this.find(req[1]);
      if (c === undefined) return reply(tuple(A.error, A.not_found));
      if (c.pid !== undefined) {
        return reply(tuple(A.error, A.running));
      }
      this.children.splice(this.children.indexOf(c), 1);
      reply(A.ok);
    } else if (isTuple(req, A.start_child, 2)) {
      let spec: Required<ChildSpec>;
      try {
        spec = normalizeChild(req[1] as ChildEntry);
      } catch (e) {
        return reply(tuple(A.error, errorTerm(e)));
      }
      if (this.find(spec.id)) {
        return reply(
          tuple(A.error, tuple(A.already_present, Atom.of(spec.id))),
        );
      }
      try {
        const c: ChildState = { spec, pid: await this.startChild(spec) };
        this.children.push(c);
        reply(tuple(A.ok, c.pid));
      } catch (e) {
        reply(tuple(A.error, errorTerm(e)));
      }
    } else {
      reply(tuple(A.error, tuple(A.bad_call, req)));
    }
  }
}

/** An error as a term for a reply: an ExitError's reason, else its message. @internal */
export function errorTerm(e: unknown): unknown {
  if (e instanceof ExitError) return e.reason;
  return e instanceof Error ? e.message : String(e);
}

/** A child failed to start while the supervisor started. @internal */
export class StartFailure extends Error {
  constructor(readonly id: string, override readonly cause: unknown) {
    super(
      `failed to start child ${id}: ${
        cause instanceof Error ? cause.message : formatTerm(cause)
      }`,
    );
    this.name = "SupervisorStartError";
  }
}
