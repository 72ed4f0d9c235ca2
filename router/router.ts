/**
 * The routing layer: `route(bucket, mod, fun, args)` runs `mod.fun(args)` on
 * the node that owns the bucket's first byte — here, or forwarded as a
 * supervised task to the owner, which routes again with its own table.
 *
 * @module
 */
import type { Node } from "../node/node.ts";
import { currentNode } from "../node/process_api.ts";
import { Atom, tuple } from "../node/terms.ts";
import { Task, TaskSupervisor } from "../task/mod.ts";
import { formatTable, parseTable, type RouteEntry } from "./table.ts";

/** The Task.Supervisor the guide routes through. */
export const ROUTER_TASKS = "Elixir.KV.RouterTasks";
/** The module other nodes call to route again. */
export const ROUTER_MODULE = "Elixir.KV.Router";

/** Options for {@linkcode startRouter}. */
export interface RouterOptions {
  /** The table: entries, or text like `"a-m=foo@host,n-z=bar@host"`. */
  table: readonly RouteEntry[] | string;
  /** Name of the task supervisor that runs forwarded requests. Default `"Elixir.KV.RouterTasks"`. */
  tasks?: string;
  /** How long a forwarded request may take, in ms. Default 5000 (as `Task.await`). */
  timeoutMs?: number;
}

/** Raised when no table entry owns a bucket's first byte. */
export class NoRouteError extends Error {
  /** No entry of `table` owns the first byte of `bucket`. */
  constructor(bucket: string | Uint8Array, table: readonly RouteEntry[]) {
    super(
      `could not find entry for ${
        typeof bucket === "string"
          ? JSON.stringify(bucket)
          : `<<${Array.from(bucket).join(",")}>>`
      } in table ${formatTable(table)}`,
    );
    this.name = "NoRouteError";
  }
}

const routers = new WeakMap<Node, Router>();

/** A node's router. Create one with {@linkcode startRouter}. */
export class Router {
  /** The node this router runs on. */
  readonly node: Node;
  /** The routing table. */
  table: readonly RouteEntry[];
  private readonly tasks: string;
  private readonly timeoutMs: number;

  /** A router on `node`; {@linkcode startRouter} also defines its module. */
  constructor(node: Node, options: RouterOptions) {
    this.node = node;
    this.table = typeof options.table === "string"
      ? parseTable(options.table)
      : options.table;
    this.tasks = options.tasks ?? ROUTER_TASKS;
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  /** The node that owns `bucket`, or throws {@linkcode NoRouteError}. */
  ownerOf(bucket: string | Uint8Array): string {
    const first = typeof bucket === "string"
      ? new TextEncoder().encode(bucket.slice(0, 2))[0]
      : bucket[0];
    const entry = first === undefined
      ? undefined
      : this.table.find((e) => first >= e.from && first <= e.to);
    if (!entry) throw new NoRouteError(bucket, this.table);
    return entry.node;
  }

  /**
   * Runs `mod.fun(...args)` on the bucket's owner: directly when that is
   * this node, else in a task under the owner's `KV.RouterTasks`, awaited.
   */
  async route(
    bucket: string | Uint8Array,
    mod: string | Atom,
    fun: string | Atom,
    args: unknown[],
  ): Promise<unknown> {
    const owner = this.ownerOf(bucket);
    if (owner === this.node.name) {
      return await this.node.apply(String(mod), String(fun), args);
    }
    const task = TaskSupervisor.async(
      [this.tasks, owner],
      ROUTER_MODULE,
      "route",
      [
        bucket,
        mod instanceof Atom ? mod : Atom.of(mod),
        fun instanceof Atom ? fun : Atom.of(fun),
        args,
      ],
    );
    return await Task.await(task, this.timeoutMs);
  }
}

const RANGE_STRUCT = Atom.of("__struct__"),
  RANGE = Atom.of("Elixir.Range"),
  FIRST = Atom.of("first"),
  LAST = Atom.of("last"),
  STEP = Atom.of("step");

/** `first..last` as Elixir sends it: the map of a `%Range{step: 1}` struct. */
function rangeTerm(first: number, last: number): Map<Atom, unknown> {
  return new Map<Atom, unknown>([
    [FIRST, first],
    [LAST, last],
    [STEP, 1],
    [RANGE_STRUCT, RANGE],
  ]);
}

/**
 * Starts routing on `node`: a Task.Supervisor for forwarded requests and the
 * module `Elixir.KV.Router` that other nodes call: `route/4`, and `table/0`
 * in the guide's shape, `[{?a..?m, :"foo@host"}, …]` (each range an Elixir
 * `Range` struct), so an Elixir router can read it.
 *
 * @example
 * ```ts
 * import { startRegistry } from "../node/registry.ts";
 * import { startNode } from "../node/node.ts";
 * import { route, startRouter } from "./router.ts";
 * import { atom } from "../node/terms.ts";
 * import assert from "node:assert/strict";
 *
 * const registry = await startRegistry({ port: 0 });
 * const foo = await startNode({ name: "foo_doc@localhost", cookie: "c", registryPort: registry.port });
 * const bar = await startNode({ name: "bar_doc@localhost", cookie: "c", registryPort: registry.port });
 * const table = "a-m=foo_doc@localhost,n-z=bar_doc@localhost";
 * await startRouter(foo, { table });
 * await startRouter(bar, { table });
 * assert.equal(await route("hello", "erlang", "node", []), atom("foo_doc@localhost"));
 * assert.equal(await route("world", "erlang", "node", []), atom("bar_doc@localhost"));
 * await assert.rejects(route("\u0000", "erlang", "node", []), /could not find entry/);
 * await foo.stop();
 * await bar.stop();
 * await registry.close();
 * ```
 */
export async function startRouter(
  node: Node,
  options: RouterOptions,
): Promise<Router> {
  const router = new Router(node, options);
  await TaskSupervisor.start(node, { name: options.tasks ?? ROUTER_TASKS });
  node.defineModule(ROUTER_MODULE, {
    route: (
      bucket: string | Uint8Array,
      mod: Atom,
      fun: Atom,
      args: unknown[],
    ) => router.route(bucket, mod, fun, Array.isArray(args) ? args : []),
    table: () =>
      router.table.map((e) => tuple(rangeTerm(e.from, e.to), Atom.of(e.node))),
  });
  routers.set(node, router);
  return router;
}

/**
 * Routes with the calling node's router (see {@linkcode Router.route}).
 * Throws {@linkcode NoRouteError} when no entry matches.
 */
export function route(
  bucket: string | Uint8Array,
  mod: string | Atom,
  fun: string | Atom,
  args: unknown[],
): Promise<unknown> {
  const node = currentNode();
  const router = routers.get(node);
  if (!router) {
    return Promise.reject(
      new Error(
        `no router on ${node.name}: call startRouter(node, { table }) first`,
      ),
    );
  }
  try {
    router.ownerOf(bucket);
  } catch (e) {
    return Promise.reject(e);
  }
  return router.route(bucket, mod, fun, args);
}
