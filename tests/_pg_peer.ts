/**
 * A noderl peer for the pg and PubSub interop tests: `PgPeer.join(Scope,
 * Group, N)` starts the scope on demand and joins N new idle processes.
 *
 * @module
 */
import type { Node } from "../node/mod.ts";
import { pgScope } from "../node/pg.ts";

export default function setup(node: Node): void {
  node.defineModule("PgPeer", {
    join: (scope: unknown, group: unknown, n: number) => {
      const s = pgScope(String(scope), { node, start: true });
      const pids = Array.from(
        { length: n },
        () => node.spawn(() => new Promise(() => {})),
      );
      s.join(group, pids);
      return pids;
    },
    connect: (peer: unknown) => node.connect(String(peer)),
  });
}
