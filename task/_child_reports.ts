/**
 * What supervisors log about their children, as OTP's supervisor reports:
 * a child that ended abnormally (at `error`, with the child's own crash
 * report when it made one — a crashed process linked to its supervisor
 * leaves the report to it, so one crash makes one report), a restart (at
 * `info`, as OTP's progress reports), and a supervisor giving up after too
 * many restarts (at `error`). Internal.
 *
 * @module
 */
import { describeReason } from "../node/errors.ts";
import type { Node } from "../node/node.ts";
import { takeCrashReport } from "../node/_crash_report.ts";
import { Atom, type Pid, Tuple } from "../node/terms.ts";

const A = {
  normal: Atom.of("normal"),
  shutdown: Atom.of("shutdown"),
} as const;

/** Whether `reason` ends a child normally (no report), as OTP judges it. */
function isNormal(reason: unknown): boolean {
  return reason === A.normal || reason === A.shutdown ||
    (reason instanceof Tuple && reason.length === 2 &&
      reason[0] === A.shutdown);
}

/** Logs that child `id` (`pid`) of `supervisor` ended with `reason`, if abnormal. */
export function childTerminated(
  node: Node,
  supervisor: string,
  id: string,
  pid: Pid | undefined,
  reason: unknown,
  restart: string,
): void {
  if (isNormal(reason) || !node.logger.enabled("error")) return;
  const own = pid === undefined ? undefined : takeCrashReport(pid);
  node.logger.error(
    `Child ${id} of Supervisor ${supervisor} terminated${
      pid ? ` (${pid})` : ""
    }, restart: ${restart}\n${own ?? `** (exit) ${describeReason(reason)}`}`,
  );
}

/** Logs that child `id` of `supervisor` was started again as `pid`. */
export function childRestarted(
  node: Node,
  supervisor: string,
  id: string,
  pid: Pid,
): void {
  node.logger.info(
    `Child ${id} of Supervisor ${supervisor} restarted as ${pid}`,
  );
}

/** Logs that `supervisor` shuts down: too many restarts. */
export function intensityReached(
  node: Node,
  supervisor: string,
  maxRestarts: number,
  maxSeconds: number,
): void {
  node.logger.error(
    `Supervisor ${supervisor} shutting down: reached max restart intensity (more than ${maxRestarts} restarts in ${maxSeconds} s)`,
  );
}
