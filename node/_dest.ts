/**
 * Where a message can go, and how a destination reads in messages. Internal.
 *
 * @module
 */
import { Atom, Pid, Ref, Tuple } from "./terms.ts";

/**
 * Where a message can be sent: a pid, a registered name on this node,
 * `[name, node]` (Erlang's `{Name, Node}`), an alias reference, or a tuple
 * such as `{global, Name}`.
 */
export type Destination =
  | Pid
  | Ref
  | string
  | Atom
  | readonly [string | Atom, string | Atom]
  | Tuple;

/** Whether `d` has the shape of a {@linkcode Destination}. @internal */
export function isDestination(d: unknown): d is Destination {
  return d instanceof Pid || d instanceof Ref || typeof d === "string" ||
    d instanceof Atom || (Array.isArray(d) && d.length === 2);
}

/**
 * A destination as error messages show it: a pid or name as is, `[name,
 * node]` as Erlang's `{name, node}`. @internal
 */
export function describeDest(d: unknown): string {
  if (Array.isArray(d) && d.length === 2 && !(d instanceof Tuple)) {
    return `{${String(d[0])}, ${String(d[1])}}`;
  }
  return String(d);
}
