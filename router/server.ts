/**
 * The KV server: a TCP server speaking the text protocol (`CREATE b`,
 * `PUT b k v`, `GET b k`, `DELETE b k`), one process per client, every
 * request routed by bucket (the guide's `KVServer`).
 *
 * @module
 */
import { createServer, type Socket } from "node:net";
import type { Node } from "../node/node.ts";
import { listen } from "../node/_listen.ts";
import { runCommand } from "./command.ts";

/** Options for {@linkcode startKVServer}. */
export interface KVServerOptions {
  /** TCP port; 0 picks a free one. Default 4040 (as the guide). */
  port?: number;
  /** Address to listen on. Default `"127.0.0.1"`. */
  address?: string;
  /** Longest accepted line, in bytes. Default 65 536. */
  maxLineBytes?: number;
}

/** A running KV server. */
export interface KVServer {
  /** The port it listens on. */
  readonly port: number;
  /** Stops listening and closes every client. */
  close(): Promise<void>;
}

/**
 * Starts the text-protocol server for `node` (which should run a router
 * and a KV registry). Each client is served by its own process on `node`.
 *
 * @example
 * ```ts
 * import { startRegistry } from "../node/registry.ts";
 * import { startNode } from "../node/node.ts";
 * import { startKVNode } from "./kv_node.ts";
 * import { connect } from "node:net";
 * import assert from "node:assert/strict";
 *
 * const registry = await startRegistry({ port: 0 });
 * const node = await startNode({ name: "kvs_doc@localhost", cookie: "c", registryPort: registry.port });
 * const kv = await startKVNode(node, { table: "a-z=kvs_doc@localhost", port: 0 });
 * const socket = connect(kv.server!.port, "127.0.0.1");
 * socket.write("CREATE shopping\r\nPUT shopping milk 1\r\nGET shopping milk\r\n");
 * let text = "";
 * for await (const chunk of socket) {
 *   text += chunk;
 *   if (text.endsWith("1\r\nOK\r\n")) break;
 * }
 * assert.equal(text, "OK\r\nOK\r\n1\r\nOK\r\n");
 * socket.destroy();
 * await kv.server!.close();
 * await node.stop();
 * await registry.close();
 * ```
 */
export async function startKVServer(
  node: Node,
  options: KVServerOptions = {},
): Promise<KVServer> {
  const maxLine = options.maxLineBytes ?? 65536;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    node.spawn(async function kvClient() {
      let pending = "";
      const lines: string[] = [];
      let wake: (() => void) | null = null;
      let closed = false;
      socket.setEncoding("utf8");
      socket.on("data", (d: string) => {
        pending += d;
        let i;
        while ((i = pending.indexOf("\n")) >= 0) {
          lines.push(pending.slice(0, i + 1));
          pending = pending.slice(i + 1);
        }
        if (pending.length > maxLine) {
          socket.end("ERROR: line too long\r\n");
          closed = true;
        }
        wake?.();
      });
      socket.on("close", () => {
        closed = true;
        wake?.();
      });
      for (;;) {
        while (lines.length > 0) {
          const reply = await runCommand(lines.shift()!);
          if (!socket.destroyed) socket.write(reply);
        }
        if (closed) return;
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
    });
  });
  const port = await listen(
    server,
    options.port ?? 4040,
    options.address ?? "127.0.0.1",
  );
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
