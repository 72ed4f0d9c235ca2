/**
 * Everything a KV node runs, started in one call: the KV registry, the
 * router (with its task supervisor) and, optionally, the text server.
 *
 * @module
 */
import type { Node } from "../node/node.ts";
import type { Pid } from "../node/terms.ts";
import { KVRegistry } from "./kv_registry.ts";
import { type Router, type RouterOptions, startRouter } from "./router.ts";
import { type KVServer, startKVServer } from "./server.ts";

/** Options for {@linkcode startKVNode}. */
export interface KVNodeOptions extends RouterOptions {
  /** Port for the text protocol server; omit to run no server. */
  port?: number;
  /** Address for the server. Default `"127.0.0.1"`. */
  address?: string;
}

/** What {@linkcode startKVNode} started. */
export interface KVNode {
  /** The KV registry process (registered as `Elixir.KV.Registry`). */
  registry: Pid;
  /** The node's router. */
  router: Router;
  /** The server, when a port was given. */
  server: KVServer | undefined;
}

/** Starts the KV registry, the router and (with `port`) the server on `node`. */
export async function startKVNode(
  node: Node,
  options: KVNodeOptions,
): Promise<KVNode> {
  const registry = KVRegistry.start(node);
  const router = await startRouter(node, options);
  const server = options.port === undefined
    ? undefined
    : await startKVServer(node, {
      port: options.port,
      address: options.address,
    });
  return { registry, router, server };
}
