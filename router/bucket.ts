/**
 * A KV bucket: a process holding a key-value map (the guide's `KV.Bucket`).
 *
 * @module
 */
import type { Node } from "../node/node.ts";
import { genCall, receive, reply } from "../node/process_api.ts";
import { atom, Pid, Tuple, tuple } from "../node/terms.ts";
import { formatTerm } from "../node/format.ts";

const GET = atom("get"),
  PUT = atom("put"),
  DELETE = atom("delete"),
  OK = atom("ok"),
  GEN_CALL = atom("$gen_call");

/** Starts a bucket process on `node` (see {@linkcode Bucket}). */
function start(node: Node): Pid {
  return node.spawn(async function bucket() {
    const data = new Map<unknown, unknown>();
    for (;;) {
      const m = await receive();
      if (
        !(m instanceof Tuple) || m[0] !== GEN_CALL || !(m[2] instanceof Tuple)
      ) continue;
      const [op, key, value] = m[2];
      if (op === GET) {
        reply(m[1], data.has(key) ? tuple(OK, data.get(key)) : atom("error"));
      } else if (op === PUT) {
        data.set(key, value);
        reply(m[1], OK);
      } else if (op === DELETE) {
        const had = data.has(key);
        const old = data.get(key);
        data.delete(key);
        reply(m[1], had ? tuple(OK, old) : atom("error"));
      } else {
        reply(m[1], tuple(atom("error"), atom("unknown_request")));
      }
    }
  });
}

/** The module other nodes call to use a bucket: the guide's `KV.Bucket`. */
export const BUCKET_MODULE = "Elixir.KV.Bucket";

/**
 * Defines `Elixir.KV.Bucket` on `node` — `get/2`, `put/3`, `delete/2` on a
 * bucket of this node, as the guide's Agent-based module has them (`get`
 * and `delete` give the value or `nil`) — so other nodes, Elixir ones
 * included, can use noderl buckets by module/function/args.
 */
export function defineBucketModule(node: Node): void {
  const local = (bucket: unknown): Pid => {
    if (!(bucket instanceof Pid) || bucket.node !== node.name) {
      throw new TypeError(
        `KV.Bucket on ${node.name} takes a bucket pid of ${node.name}, got ${
          formatTerm(bucket)
        }: call KV.Bucket on the bucket's own node`,
      );
    }
    return bucket;
  };
  node.defineModule(BUCKET_MODULE, {
    get: async (bucket: unknown, key: string) =>
      (await get(local(bucket), key)) ?? null,
    put: async (bucket: unknown, key: string, value: unknown) => {
      await put(local(bucket), key, value);
      return OK;
    },
    delete: async (bucket: unknown, key: string) =>
      (await del(local(bucket), key)) ?? null,
  });
}

async function get(bucket: Pid, key: string): Promise<unknown> {
  const r = await genCall(bucket, tuple(GET, key));
  return r instanceof Tuple ? r[1] : undefined;
}

async function put(bucket: Pid, key: string, value: unknown): Promise<void> {
  await genCall(bucket, tuple(PUT, key, value));
}

async function del(bucket: Pid, key: string): Promise<unknown> {
  const r = await genCall(bucket, tuple(DELETE, key));
  return r instanceof Tuple ? r[1] : undefined;
}

/**
 * Bucket operations: `start`, `get`, `put`, `delete`. `start` spawns a bucket
 * process on a node and returns its pid. Its state is a
 * `Map`; requests are GenServer-style calls, so a bucket on another node
 * is used the same way.
 *
 * @example
 * ```ts
 * import { startRegistry } from "../node/registry.ts";
 * import { startNode } from "../node/node.ts";
 * import { Bucket } from "./bucket.ts";
 * import assert from "node:assert/strict";
 *
 * const registry = await startRegistry({ port: 0 });
 * const node = await startNode({ name: "bucket_doc@localhost", cookie: "c", registryPort: registry.port });
 * const b = Bucket.start(node);
 * await Bucket.put(b, "milk", 3);
 * assert.equal(await Bucket.get(b, "milk"), 3);
 * assert.equal(await Bucket.delete(b, "milk"), 3);
 * assert.equal(await Bucket.get(b, "milk"), undefined);
 * await node.stop();
 * await registry.close();
 * ```
 */
export const Bucket: {
  /** Starts a bucket process on `node`. */
  start: (node: Node) => Pid;
  /** The value under `key`, or undefined. */
  get: (bucket: Pid, key: string) => Promise<unknown>;
  /** Stores `value` under `key`. */
  put: (bucket: Pid, key: string, value: unknown) => Promise<void>;
  /** Removes `key`; resolves with the value it had, or undefined. */
  delete: (bucket: Pid, key: string) => Promise<unknown>;
} = { start, get, put, delete: del };
