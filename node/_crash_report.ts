/**
 * Crash reports, as the BEAM's logger writes them: a process whose own code
 * fails logs one report (pid, registered name, the error with its stack,
 * the initial call) at level `error` on its node's logger — unless a linked
 * local process that traps exits (a supervisor, a parent) takes the exit
 * signal instead, so one crash makes one report. Processes that end
 * because of an exit signal, or that call `exit(reason)`, log nothing, as
 * plain BEAM processes do; generic servers report their own abnormal stops
 * (with the last message and the state) through {@linkcode reportCrash}.
 * Every crash is published on the `noderl:process-crash` diagnostics
 * channel, logged or not. Internal.
 *
 * @module
 */
import { describeReason, ExitError } from "./errors.ts";
import { formatTerm } from "./format.ts";
import type { Logger } from "./logger.ts";
import type { Process } from "./process.ts";
import { publishProcessCrash } from "./diagnostics.ts";
import { type Pid, Tuple } from "./terms.ts";

/** What the crash report needs of a node. */
export interface CrashNode {
  readonly name: string;
  readonly logger: Logger;
  processOf(pid: Pid): Process | undefined;
}

/** `Mod.fun/arity` of a process's initial call, or its label. */
export function initialCallText(p: Process): string | undefined {
  const ic = p.initialCall;
  if (ic instanceof Tuple && ic.length === 3) {
    const arity = Array.isArray(ic[2]) ? ic[2].length : ic[2];
    return `${String(ic[0])}.${String(ic[1])}/${String(arity)}`;
  }
  return p.label;
}

/** Whether a linked local process traps exits: it will take this exit. */
export function trappedByLink(node: CrashNode, p: Process): boolean {
  for (const pid of p.links.values()) {
    if (pid.node !== node.name) continue;
    const linked = node.processOf(pid);
    if (linked !== undefined && linked.alive && linked.trapExit) return true;
  }
  return false;
}

/** Stack frames of the runtime and of noderl's process runner: not shown. */
const INTERNAL_FRAME =
  /\(node:internal|at node:internal|\(ext:|at ext:|_context\.ts:|runInAsyncScope|processTicksAndRejections|at (<anonymous> \(|file:\/\/)\S*\/node\/node\.ts:/;

/** A JavaScript error (or thrown value) as Elixir prints an exception. */
export function errorText(error: unknown, reason?: unknown): string {
  if (error instanceof Error) {
    const stack = error.stack ?? "";
    const frames = stack.split("\n").filter((l) =>
      /^\s+at /.test(l) && !INTERNAL_FRAME.test(l)
    );
    const name = error.name || "Error";
    return `** (${name}) ${error.message}${
      frames.length ? `\n${frames.slice(0, 20).join("\n")}` : ""
    }`;
  }
  if (error !== undefined) return `** (throw) ${safeFormat(error)}`;
  return describeReason(reason);
}

function safeFormat(x: unknown): string {
  try {
    const text = formatTerm(x);
    return text.length > 4000 ? `${text.slice(0, 4000)}…` : text;
  } catch {
    return String(x);
  }
}

/** Reports of crashes a trapping link took, for its own report: the last 64. */
const kept = new Map<string, string>();

function keep(pid: Pid, text: string): void {
  kept.set(pid.key, text);
  if (kept.size > 64) kept.delete(kept.keys().next().value!);
}

/**
 * The crash report of `pid` that was not logged because a linked process
 * trapping exits took the exit — a supervisor includes it in its own
 * report of the child's end. Taken once.
 */
export function takeCrashReport(pid: Pid): string | undefined {
  const t = kept.get(pid.key);
  if (t !== undefined) kept.delete(pid.key);
  return t;
}

/**
 * Logs a crash report for `p` (unless a trapping link takes the exit) and
 * publishes it. `text` builds the report. Returns whether it was logged.
 */
export function reportCrash(
  node: CrashNode,
  p: Process,
  reason: unknown,
  error: unknown,
  text: () => string,
): boolean {
  const trapped = trappedByLink(node, p);
  const logged = !trapped && node.logger.enabled("error");
  if (logged) node.logger.error(text());
  else if (trapped && node.logger.enabled("error")) keep(p.pid, text());
  publishProcessCrash({
    node: node.name,
    pid: p.pid,
    registeredName: p.registeredName,
    reason,
    error,
    initialCall: initialCallText(p),
    logged,
  });
  return logged;
}

/**
 * A process's code threw `error` (it ends with `reason`): report it, unless
 * it was an `exit(reason)` (an {@linkcode ExitError}), as for plain BEAM
 * processes, or a report was made already.
 */
export function processCrashed(
  node: CrashNode,
  p: Process,
  error: unknown,
  reason: unknown,
): void {
  if (error instanceof ExitError) return;
  reportCrash(node, p, reason, error, () => {
    const name = p.registeredName !== undefined
      ? ` (registered as ${p.registeredName})`
      : "";
    const ic = initialCallText(p);
    return `Error in process ${p.pid}${name} on node ${node.name} with exit value:\n${
      errorText(error, reason)
    }${ic !== undefined ? `\nInitial call: ${ic}` : ""}`;
  });
}
