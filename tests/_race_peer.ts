/**
 * Modules for the simultaneous-connect test's peers (node/attack_test.ts):
 * `Race.go(Other, N)` sends N messages to `{sink, Other}` at once — the
 * first of them dials Other — and `Race.stats()` reports what this node saw.
 *
 * @module
 */
import { atom, type Node, receive } from "../node/mod.ts";

export default function setup(node: Node): void {
  // Events about the other racer only (not the test's control node).
  const stats = { ups: 0, downs: 0, got: 0 };
  const racer = (n: string) => /^race\d@/.test(n);
  node.on("nodeup", (n: string) => racer(n) && stats.ups++);
  node.on("nodedown", (n: string) => racer(n) && stats.downs++);
  node.register(
    "sink",
    node.spawn(async () => {
      for (;;) {
        await receive();
        stats.got++;
      }
    }),
  );
  node.defineModule("Race", {
    go: (other: unknown, n: number) => {
      for (let i = 0; i < n; i++) node.send(["sink", String(other)], i);
      return atom("ok");
    },
    stats: () => [stats.ups, stats.downs, stats.got],
    // Disconnects from Other (if still connected), waits until the
    // connection is gone here, and starts counting afresh.
    reset: async (other: unknown) => {
      await node.disconnect(String(other));
      while (node.nodes().includes(String(other))) {
        await new Promise((r) => setTimeout(r, 5));
      }
      stats.ups = stats.downs = stats.got = 0;
      return atom("ok");
    },
  });
}
