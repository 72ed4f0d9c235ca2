/**
 * Errors raised by task supervisors.
 *
 * @module
 */
import type { Node } from "../node/node.ts";
import { A } from "../node/_atoms.ts";
import { ExitError, NameTakenError } from "../node/errors.ts";

/**
 * A task supervisor could not start a task: it runs its `maxChildren`
 * tasks already.
 *
 * @example
 * ```ts
 * import { MaxChildrenError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new MaxChildrenError("Elixir.Chat.TaskSupervisor", 2);
 * assert.equal(e.maxChildren, 2);
 * assert.match(e.message, /maximum of 2 tasks/);
 * ```
 */
export class MaxChildrenError extends Error {
  /** The supervisor, as given. */
  readonly supervisor: string;
  /** Its limit, when known (noderl supervisors tell). */
  readonly maxChildren: number | undefined;
  /** `supervisor` as the caller gave it; `maxChildren` if known. */
  constructor(supervisor: string, maxChildren?: number) {
    super(
      `task supervisor ${supervisor} already runs its maximum of ${
        maxChildren ?? "max_children"
      } tasks: wait for some to finish, or start it with a larger maxChildren`,
    );
    this.name = "MaxChildrenError";
    this.supervisor = supervisor;
    this.maxChildren = maxChildren;
  }
}

/**
 * The `noproc` error for a task supervisor that does not run on `node`
 * (`display` is the supervisor as the caller gave it). @internal
 */
export function noSupervisor(display: string, node: string): ExitError {
  return new ExitError(
    A.noproc,
    `no task supervisor ${display} is running on ${node} (start it with TaskSupervisor.start, or check the name: atoms are exact text, e.g. "Elixir.Chat.TaskSupervisor")`,
  );
}

/**
 * The error for starting a supervisor (`what`) on `node` under `name` when
 * that name is taken, or undefined when it is free (or not given). @internal
 */
export function nameTaken(
  node: Node,
  name: string | undefined,
  what: string,
): NameTakenError | undefined {
  const holder = name === undefined ? undefined : node.whereis(name);
  if (holder === undefined) return undefined;
  return new NameTakenError(
    name!,
    String(holder),
    `cannot start ${what} on ${node.name}`,
  );
}
