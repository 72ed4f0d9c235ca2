/**
 * The KV registry: a process that maps bucket names to bucket processes and
 * forgets buckets that die (the guide's `KV.Registry`).
 *
 * @module
 */
import type { Node } from "../node/node.ts";
import { genCall, monitor, receive, reply } from "../node/process_api.ts";
import { type Atom, atom, type Pid, Ref, Tuple, tuple } from "../node/terms.ts";
import { Bucket, defineBucketModule } from "./bucket.ts";

const LOOKUP = atom("lookup"),
  CREATE = atom("create"),
  OK = atom("ok"),
  ERROR = atom("error"),
  GEN_CALL = atom("$gen_call"),
  DOWN = atom("DOWN");

/** The registered name the guide gives the registry. */
export const KV_REGISTRY = "Elixir.KV.Registry";

/** Options for {@linkcode KVRegistry.start}. */
export interface KVRegistryOptions {
  /** The registered name. Default `"Elixir.KV.Registry"`. */
  name?: string;
}

/**
 * The KV registry: `start` one per node, then `lookup` and `create` buckets
 * by name. Starting it also defines the modules `Elixir.KV.Registry`
 * (`lookup/2`, `create/2`) and `Elixir.KV.Bucket` (`get/2`, `put/3`,
 * `delete/2`) on the node, so other nodes (and the router) can apply them
 * remotely by module/function/args.
 *
 * @example
 * ```ts
 * import { startRegistry } from "../node/registry.ts";
 * import { startNode } from "../node/node.ts";
 * import { KVRegistry } from "./kv_registry.ts";
 * import { Bucket, defineBucketModule } from "./bucket.ts";
 * import { atom, Tuple } from "../node/terms.ts";
 * import assert from "node:assert/strict";
 *
 * const registry = await startRegistry({ port: 0 });
 * const node = await startNode({ name: "kvreg_doc@localhost", cookie: "c", registryPort: registry.port });
 * KVRegistry.start(node);
 * assert.equal(await KVRegistry.lookup("Elixir.KV.Registry", "shopping"), atom("error"));
 * const bucket = await KVRegistry.create("Elixir.KV.Registry", "shopping");
 * await Bucket.put(bucket, "milk", 1);
 * const found = await KVRegistry.lookup("Elixir.KV.Registry", "shopping") as Tuple;
 * assert.equal(await Bucket.get(found[1] as never, "milk"), 1);
 * await node.stop();
 * await registry.close();
 * ```
 */
export const KVRegistry: {
  /** Starts the registry process on `node`, registered as `options.name`. */
  start: (node: Node, options?: KVRegistryOptions) => Pid;
  /** `{ok, BucketPid}` for a known bucket, else the atom `error`. */
  lookup: (server: string | Atom | Pid, name: string) => Promise<unknown>;
  /** The bucket's pid, creating the bucket if needed. */
  create: (server: string | Atom | Pid, name: string) => Promise<Pid>;
} = {
  start(node: Node, options: KVRegistryOptions = {}): Pid {
    const name = options.name ?? KV_REGISTRY;
    const pid = node.spawn(async function kvRegistry() {
      const names = new Map<string, Pid>();
      const refs = new Map<string, string>();
      for (;;) {
        const m = await receive();
        if (!(m instanceof Tuple)) continue;
        if (m[0] === GEN_CALL && m[2] instanceof Tuple) {
          const [op, bucket] = m[2];
          const key = String(bucket);
          if (op === LOOKUP) {
            const b = names.get(key);
            reply(m[1], b ? tuple(OK, b) : ERROR);
          } else if (op === CREATE) {
            let b = names.get(key);
            if (!b) {
              b = Bucket.start(node);
              names.set(key, b);
              refs.set(monitor(b).key, key);
            }
            reply(m[1], b);
          }
        } else if (m[0] === DOWN && m[1] instanceof Ref) {
          const key = refs.get(m[1].key);
          if (key !== undefined) {
            refs.delete(m[1].key);
            names.delete(key);
          }
        }
      }
    });
    node.register(name, pid);
    defineBucketModule(node);
    node.defineModule("Elixir.KV.Registry", {
      lookup: (server: Atom | string | Pid, bucket: string) =>
        KVRegistry.lookup(server, bucket),
      create: (server: Atom | string | Pid, bucket: string) =>
        KVRegistry.create(server, bucket),
    });
    return pid;
  },
  lookup(server: string | Atom | Pid, name: string): Promise<unknown> {
    return genCall(
      typeof server === "string" ? atom(server) : server,
      tuple(LOOKUP, name),
    );
  },
  async create(server: string | Atom | Pid, name: string): Promise<Pid> {
    return await genCall(
      typeof server === "string" ? atom(server) : server,
      tuple(CREATE, name),
    ) as Pid;
  },
};
