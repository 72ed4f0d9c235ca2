/**
 * What the demo's peer nodes run: the seeds' `Kate` module, the chat
 * application and, when `DEMO_KV_TABLE` is set, a KV node (registry, router
 * and text server on `DEMO_KV_PORT`).
 *
 * @module
 */
import process from "node:process";
import { atom, type Node, puts, receive, send, Tuple } from "../node/mod.ts";
import type { Pid } from "../node/mod.ts";
import { startChat } from "../chat/mod.ts";
import { startKVNode } from "../router/mod.ts";

/** Sets a demo peer up. */
export default async function setup(node: Node): Promise<void> {
  node.defineModule("Kate", {
    say_name: () => puts("Hi, my name is Kate"),
    // Node.spawn_link(kate, fn -> receive do {:hi, pid} -> send(pid, :sup?) end end)
    wait_hi: async () => {
      const m = await receive((m) =>
        m instanceof Tuple && m[0] === atom("hi")
      ) as Tuple;
      send(m[1] as Pid, atom("sup?"));
    },
  });
  node.defineModule("Hello", { world: () => puts("hello world") });
  await startChat(node);
  const table = process.env.DEMO_KV_TABLE;
  if (table) {
    const kv = await startKVNode(node, {
      table,
      port: Number(process.env.DEMO_KV_PORT ?? 0),
    });
    console.log(`kv server on port ${kv.server?.port}`);
  }
}
