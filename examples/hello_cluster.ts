/**
 * The README's first cluster: a registry, two named nodes, a module defined
 * on one and called from the other. It ends by itself: `await using` stops
 * the nodes and the registry when the script is done.
 *
 *   deno run -A examples/hello_cluster.ts
 *   node --import tsx examples/hello_cluster.ts
 *
 * @module
 */
// In your project: from "noderl" (npm) or "jsr:@noderl/noderl" (Deno).
import { puts, startNode, startRegistry } from "../mod.ts";

// A registry as `epmd` is: port 0 picks a free port (a real cluster's
// registry listens on 4369, where `erl` and `iex` nodes look for it).
await using registry = await startRegistry({ port: 0 });
const options = { cookie: "secret", registryPort: registry.port };
await using alex = await startNode({ name: "alex@localhost", ...options });
await using kate = await startNode({ name: "kate@localhost", ...options });

// Only functions a node defines can be called from other nodes.
kate.defineModule("Kate", { say_name: () => puts("Hi, my name is Kate") });

// Node.spawn_link(:kate@localhost, Kate, :say_name, []): it runs on kate,
// and prints here, on alex — its group leader.
await alex.spawnLink("kate@localhost", "Kate", "say_name", []);

// :rpc.call(:kate@localhost, :erlang, :node, [])
console.log(
  `kate is ${await alex.call("kate@localhost", "erlang", "node", [])}`,
);
console.log(`alex sees ${JSON.stringify(alex.nodes())}`);
// Leaving the script stops kate, alex, then the registry.
