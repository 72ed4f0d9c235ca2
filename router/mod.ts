/**
 * The routing layer and the KV store it routes: buckets, the KV registry,
 * a routing table keyed by a bucket name's first byte, `route()`, and the
 * text-protocol TCP server.
 *
 * @module
 */
export { Bucket, BUCKET_MODULE, defineBucketModule } from "./bucket.ts";
export {
  KV_REGISTRY,
  KVRegistry,
  type KVRegistryOptions,
} from "./kv_registry.ts";
export { formatTable, parseTable, type RouteEntry } from "./table.ts";
export {
  NoRouteError,
  route,
  Router,
  ROUTER_MODULE,
  ROUTER_TASKS,
  type RouterOptions,
  startRouter,
} from "./router.ts";
export { type Command, parseCommand, runCommand } from "./command.ts";
export {
  type KVServer,
  type KVServerOptions,
  startKVServer,
} from "./server.ts";
export { type KVNode, type KVNodeOptions, startKVNode } from "./kv_node.ts";
