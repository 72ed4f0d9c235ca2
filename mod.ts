/**
 * noderl: Erlang/Elixir-style distribution for TypeScript — named nodes,
 * an EPMD-compatible registry, the Erlang distribution protocol, processes
 * with links and monitors, supervisors and tasks.
 *
 * This root module is the library: everything of `noderl/node` (nodes,
 * processes, terms, the registry, global, pg, peers), of `noderl/task`
 * (Supervisor, Task, TaskSupervisor, Application), of `noderl/gen`
 * (GenServer, Agent) and of `noderl/pubsub` (Phoenix.PubSub). The applications of the seeds live on their own
 * subpaths, `noderl/router` (the KV store and its router) and
 * `noderl/chat`; `noderl/testing` holds tagged tests.
 *
 * @example
 * ```ts
 * import { atom, startNode, startRegistry } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * await using registry = await startRegistry({ port: 0 });
 * await using kate = await startNode({ name: "kate_mod@localhost", cookie: "c", registryPort: registry.port });
 * await using alex = await startNode({ name: "alex_mod@localhost", cookie: "c", registryPort: registry.port });
 * kate.defineModule("Kate", { name: () => "Kate" });
 * assert.equal(await alex.call("kate_mod@localhost", "Kate", "name", []), "Kate");
 * assert.equal(await alex.call("kate_mod@localhost", "erlang", "node", []), atom("kate_mod@localhost"));
 * // Leaving the block stops alex, kate, then the registry.
 * ```
 *
 * @module
 */
export * from "./node/mod.ts";
export * from "./task/mod.ts";
export * from "./gen/mod.ts";
export * from "./pubsub/mod.ts";
