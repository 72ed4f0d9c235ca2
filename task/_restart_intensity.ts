/**
 * When a supervisor restarts a child, and when it gives up: the restart
 * types and the restart-intensity window, shared by `Supervisor` and
 * `TaskSupervisor` (OTP's `supervisor:add_restart/1`: more
 * than `maxRestarts` restarts within `maxSeconds` and the supervisor exits
 * with `shutdown`). Internal.
 *
 * @module
 */
import { A } from "../node/_atoms.ts";
import { Tuple } from "../node/terms.ts";

/**
 * When a child is restarted: always (`permanent`), only after an abnormal
 * exit (`transient`: not `normal`, `shutdown` or `{shutdown, _}`), or never
 * (`temporary`).
 */
export type Restart = "permanent" | "transient" | "temporary";

/** The restart intensity a supervisor gets when its options give none. @internal */
export const DEFAULT_INTENSITY = { maxRestarts: 3, maxSeconds: 5 } as const;

/** Whether an exit reason counts as a normal stop (no restart of a transient child). @internal */
export function isNormalExit(reason: unknown): boolean {
  return reason === A.normal || reason === A.shutdown ||
    (reason instanceof Tuple && reason.length === 2 &&
      reason[0] === A.shutdown);
}

/** Whether a child that exited with `reason` is restarted, as its `restart` says. @internal */
export function restarts(restart: Restart, reason: unknown): boolean {
  return restart === "permanent" ||
    (restart === "transient" && !isNormalExit(reason));
}

/**
 * Checks a restart type (`undefined` is `fallback`); a RangeError names the
 * three there are. @internal
 */
export function checkRestart(
  r: unknown,
  what: string,
  fallback: Restart,
): Restart {
  const s = r === undefined ? fallback : r;
  if (s === "permanent" || s === "transient" || s === "temporary") return s;
  throw new RangeError(
    `${what}: restart must be "permanent", "transient" or "temporary", got ${
      String(s)
    }`,
  );
}

/**
 * Checks `maxRestarts` (an integer ≥ 0) and `maxSeconds` (a number > 0),
 * filling in the defaults (3 in 5 s); a RangeError says which is wrong. @internal
 */
export function checkIntensity(
  o: { maxRestarts?: number; maxSeconds?: number },
): { maxRestarts: number; maxSeconds: number } {
  const maxRestarts = o.maxRestarts ?? DEFAULT_INTENSITY.maxRestarts;
  const maxSeconds = o.maxSeconds ?? DEFAULT_INTENSITY.maxSeconds;
  if (!Number.isInteger(maxRestarts) || maxRestarts < 0) {
    throw new RangeError(
      `maxRestarts must be an integer ≥ 0, got ${String(maxRestarts)}`,
    );
  }
  if (typeof maxSeconds !== "number" || !(maxSeconds > 0)) {
    throw new RangeError(
      `maxSeconds must be a number > 0, got ${String(maxSeconds)}`,
    );
  }
  return { maxRestarts, maxSeconds };
}

/**
 * The restarts of the last `maxSeconds`: {@linkcode RestartIntensity.add}
 * records one and says whether the supervisor may go on. @internal
 */
export class RestartIntensity {
  private times: number[] = [];

  constructor(
    readonly maxRestarts: number,
    readonly maxSeconds: number,
  ) {}

  /**
   * Records a restart now; false when that makes more than `maxRestarts`
   * within `maxSeconds` (the supervisor must give up).
   */
  add(): boolean {
    const now = performance.now();
    const since = now - this.maxSeconds * 1000;
    this.times = this.times.filter((t) => t > since);
    this.times.push(now);
    return this.times.length <= this.maxRestarts;
  }
}
