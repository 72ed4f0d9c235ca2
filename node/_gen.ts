/**
 * `gen_server:multi_call/3` and `gen_server:cast/2` as a noderl process
 * makes them, on the wire as OTP 25 does: `{'$gen_call', {Self, {Tag,
 * Node}}, Request}` to `{Name, Node}` under a monitor of `{Name, Node}`,
 * replies `{{Tag, Node}, Reply}`. Internal.
 *
 * @module
 */
import { A } from "./_atoms.ts";
import type { Node } from "./node.ts";
import type { Process } from "./process.ts";
import { Atom, type Ref, Tuple, tuple } from "./terms.ts";

/** The replies of {@linkcode multiCall} and the nodes that gave none. */
export interface MultiCallResult {
  replies: Array<[node: string, reply: unknown]>;
  badNodes: string[];
}

/**
 * Calls the server registered as `name` on each of `nodes` with `request`
 * from process `from`, and waits for every reply or the server's DOWN
 * (a node that cannot be reached, or no such server, is a bad node).
 * @internal
 */
export async function multiCall(
  node: Node,
  from: Process,
  nodes: readonly string[],
  name: string,
  request: unknown,
): Promise<MultiCallResult> {
  const tag = node.makeRef();
  const nameAtom = Atom.of(name);
  const pending: Array<{ node: string; mref: Ref }> = [];
  for (const n of new Set(nodes)) {
    const mref = node.monitorFrom(from, [nameAtom, n]);
    pending.push({ node: n, mref });
    const msg = tuple(
      A.gen_call,
      tuple(from.pid, tuple(tag, Atom.of(n))),
      request,
    );
    // {Name, Node}, as gen:multi_call sends: silent when nobody holds Name.
    node.sendFrom(from, [nameAtom, n], msg);
  }
  const replies: Array<[string, unknown]> = [];
  const badNodes: string[] = [];
  for (const { node: n, mref } of pending) {
    const m = await from.receive((m) =>
      m instanceof Tuple && m.length >= 2 &&
      ((m[0] instanceof Tuple && m[0].length === 2 && tag.equals(m[0][0]) &&
        m[0][1] instanceof Atom && m[0][1].name === n) ||
        (m[0] === A.DOWN && mref.equals(m[1])))
    ) as Tuple;
    if (m[0] === A.DOWN) badNodes.push(n);
    else {
      node.demonitorFrom(from, mref, true);
      replies.push([n, m[1]]);
    }
  }
  return { replies, badNodes };
}

/** `gen_server:cast({Name, Node}, Msg)` from `from`. @internal */
export function cast(
  node: Node,
  from: Process,
  to: string,
  name: Atom,
  message: unknown,
): void {
  const msg = tuple(A.gen_cast, message);
  // {Name, Node}, as gen_server:cast sends: silent when nobody holds Name.
  node.sendFrom(from, [name, to], msg);
}
