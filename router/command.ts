/**
 * The KV text protocol's commands: parsing a line and running it through
 * the router (the guide's `KVServer.Command`).
 *
 * @module
 */
import { currentNode } from "../node/process_api.ts";
import { formatTerm } from "../node/format.ts";
import { atom, type Pid, Tuple } from "../node/terms.ts";
import { Bucket, BUCKET_MODULE } from "./bucket.ts";
import { KV_REGISTRY } from "./kv_registry.ts";
import { route } from "./router.ts";

/** A parsed command. */
export type Command =
  | { op: "create"; bucket: string }
  | { op: "get"; bucket: string; key: string }
  | { op: "put"; bucket: string; key: string; value: string }
  | { op: "delete"; bucket: string; key: string };

/**
 * Parses one line (with or without its `\r\n`); undefined for an unknown
 * command.
 *
 * @example
 * ```ts
 * import { parseCommand } from "./command.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseCommand("PUT shopping milk 1\r\n"), { op: "put", bucket: "shopping", key: "milk", value: "1" });
 * assert.equal(parseCommand("FLY away"), undefined);
 * ```
 */
export function parseCommand(line: string): Command | undefined {
  const words = line.split(/\s+/).filter(Boolean);
  const [cmd, ...rest] = words;
  if (cmd === "CREATE" && rest.length === 1) {
    return { op: "create", bucket: rest[0] };
  }
  if (cmd === "GET" && rest.length === 2) {
    return { op: "get", bucket: rest[0], key: rest[1] };
  }
  if (cmd === "PUT" && rest.length === 3) {
    return { op: "put", bucket: rest[0], key: rest[1], value: rest[2] };
  }
  if (cmd === "DELETE" && rest.length === 2) {
    return { op: "delete", bucket: rest[0], key: rest[1] };
  }
  return undefined;
}

const REG = atom(KV_REGISTRY);

async function lookup(bucket: string): Promise<Pid | undefined> {
  const r = await route(bucket, KV_REGISTRY, "lookup", [REG, bucket]);
  return r instanceof Tuple && r[0] === atom("ok") ? r[1] as Pid : undefined;
}

/**
 * Runs `KV.Bucket.fun(bucket, …args)` on the bucket's own node: a bucket
 * here directly, any other (noderl's or an Elixir `Agent`) by
 * module/function/args there, never by messages only noderl buckets know.
 */
async function onBucket(
  bucket: Pid,
  fun: "get" | "put" | "delete",
  args: unknown[],
): Promise<unknown> {
  const node = currentNode();
  if (bucket.node === node.name) {
    if (fun === "get") return await Bucket.get(bucket, args[0] as string);
    if (fun === "put") {
      return await Bucket.put(bucket, args[0] as string, args[1]);
    }
    return await Bucket.delete(bucket, args[0] as string);
  }
  return await node.call(bucket.node, BUCKET_MODULE, fun, [bucket, ...args]);
}

/** A value as the guide's server prints it (`"#{value}"`: nil is empty). */
function valueText(v: unknown): string {
  if (v === undefined || v === null) return "";
  if (v instanceof Uint8Array) return new TextDecoder().decode(v);
  return typeof v === "string" ? v : formatTerm(v);
}

/**
 * Runs a command line and returns the reply text, each line ending in
 * `\r\n`: `OK`, a value then `OK`, `NOT FOUND`, `UNKNOWN COMMAND`. The
 * bucket is looked up on the node that owns its name (by the router), and
 * read or written on the node it lives on, by `KV.Bucket` there — so
 * buckets of Elixir nodes work too. Routing errors (no table entry, an
 * unreachable owner) reply `ERROR: …`.
 */
export async function runCommand(line: string): Promise<string> {
  const c = parseCommand(line);
  if (!c) return "UNKNOWN COMMAND\r\n";
  try {
    switch (c.op) {
      case "create": {
        const pid = await route(c.bucket, KV_REGISTRY, "create", [
          REG,
          c.bucket,
        ]);
        return pid ? "OK\r\n" : "FAILED TO CREATE BUCKET\r\n";
      }
      case "get": {
        const b = await lookup(c.bucket);
        if (!b) return "NOT FOUND\r\n";
        const v = await onBucket(b, "get", [c.key]);
        return `${valueText(v)}\r\nOK\r\n`;
      }
      case "put": {
        const b = await lookup(c.bucket);
        if (!b) return "NOT FOUND\r\n";
        await onBucket(b, "put", [c.key, c.value]);
        return "OK\r\n";
      }
      case "delete": {
        const b = await lookup(c.bucket);
        if (!b) return "NOT FOUND\r\n";
        await onBucket(b, "delete", [c.key]);
        return "OK\r\n";
      }
    }
  } catch (e) {
    return `ERROR: ${(e as Error).message.split("\n")[0]}\r\n`;
  }
}
