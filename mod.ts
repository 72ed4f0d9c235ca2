/**
 * noderl: Erlang/Elixir-style distribution for TypeScript — named nodes,
 * an EPMD-compatible registry, the Erlang distribution protocol, processes,
 * supervisors and tasks, the KV routing layer and the chat of the seeds.
 * Each module is also its own entry point: `noderl/node`, `noderl/task`,
 * `noderl/gen`, `noderl/router`, `noderl/chat`, `noderl/pubsub` (and `noderl/testing` for
 * tests).
 *
 * @example
 * ```ts
 * import { atom, startNode, startRegistry } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const registry = await startRegistry({ port: 0 });
 * const kate = await startNode({ name: "kate_mod@localhost", cookie: "c", registryPort: registry.port });
 * const alex = await startNode({ name: "alex_mod@localhost", cookie: "c", registryPort: registry.port });
 * kate.defineModule("Kate", { name: () => "Kate" });
 * assert.equal(await alex.call("kate_mod@localhost", "Kate", "name", []), "Kate");
 * assert.equal(await alex.call("kate_mod@localhost", "erlang", "node", []), atom("kate_mod@localhost"));
 * await alex.stop();
 * await kate.stop();
 * await registry.close();
 * ```
 *
 * @module
 */
export * from "./node/mod.ts";
export * from "./task/mod.ts";
export * from "./gen/mod.ts";
export * from "./router/mod.ts";
export * from "./chat/mod.ts";
export * from "./pubsub/mod.ts";
