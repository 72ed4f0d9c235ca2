import { test } from "node:test";
import assert from "node:assert/strict";
import { type Node, type NodeEvents, startNode } from "./node.ts";
import { startRegistry } from "./registry.ts";

// Type-checked by tsc and deno check (npm test's static steps): each
// expected error below fails the check if its line type-checks.
export function typedEvents(node: Node): void {
  node.on("nodeup", (name: string) => name.toUpperCase());
  node.on("nodedown", (name: string, reason: string) => name + reason);
  node.once("nodeup", (name) => name.length);
  node.off("nodeup", () => {});
  node.emit("nodeup", "kate@localhost");
  // @ts-expect-error: no such event
  node.on("nodeupp", () => {});
  // @ts-expect-error: the node name is a string
  node.on("nodeup", (name: number) => name);
  // @ts-expect-error: nodedown's listener gets (name, reason)
  node.on("nodedown", (name: string, reason: number) => name + reason);
  // @ts-expect-error: nodeup carries one string
  node.emit("nodeup", 42);
  const args: NodeEvents["nodedown"] = ["kate@localhost", "connection_closed"];
  void args;
}

test("nodeup and nodedown reach typed listeners", async () => {
  await using registry = await startRegistry({ port: 0 });
  const o = { cookie: "events", registryPort: registry.port };
  await using alex = await startNode({ name: "alex_events@localhost", ...o });
  const kate = await startNode({ name: "kate_events@localhost", ...o });
  const seen: string[] = [];
  alex.on("nodeup", (name) => seen.push(`up ${name}`));
  const down = new Promise<[string, string]>((resolve) =>
    alex.once("nodedown", (name, reason) => resolve([name, reason]))
  );
  assert.equal(await alex.connect(kate.name), true);
  assert.deepEqual(seen, ["up kate_events@localhost"]);
  await kate.stop();
  const [name, reason] = await down;
  assert.equal(name, "kate_events@localhost");
  assert.equal(typeof reason, "string");
});
