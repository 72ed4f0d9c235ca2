/**
 * The routing layer of the Mix and OTP guide: buckets whose names start
 * with a-m live on foo, n-z on bar; each node runs the KV store, the router
 * and the text server, and either server answers for every bucket.
 *
 *   deno run -A examples/kv.ts
 *   node --import tsx examples/kv.ts
 *
 * The command-line version of a KV node is `noderl-kv`.
 *
 * @module
 */
// In your project: from "noderl" and "noderl/router" (npm), or
// "jsr:@noderl/noderl" and "jsr:@noderl/noderl/router" (Deno).
import { connect } from "node:net";
import { startNode, startRegistry } from "../mod.ts";
import { route, startKVNode } from "../router/mod.ts";

await using registry = await startRegistry({ port: 0 });
const table = "a-m=foo@localhost,n-z=bar@localhost";
const kvNode = async (name: string) => {
  const node = await startNode({
    name: `${name}@localhost`,
    cookie: "kv",
    registryPort: registry.port,
  });
  const kv = await startKVNode(node, { table, port: 0 });
  return { node, server: kv.server! };
};
const foo = await kvNode("foo");
const bar = await kvNode("bar");

/** Sends text-protocol lines to a server and returns what it answered. */
async function session(port: number, lines: string[]): Promise<string> {
  const socket = connect(port, "127.0.0.1");
  socket.setEncoding("utf8");
  socket.write(lines.map((l) => `${l}\r\n`).join(""));
  let answer = "";
  for await (const chunk of socket) {
    answer += chunk;
    if (answer.split("\r\n").length > lines.length) break;
  }
  socket.destroy();
  return answer;
}

try {
  // "shopping" starts with s: the bucket lives on bar, whichever server
  // is asked.
  console.log(
    await session(foo.server.port, [
      "CREATE shopping",
      "PUT shopping milk 3",
      "GET shopping milk",
    ]),
  );
  console.log(await session(bar.server.port, ["GET shopping milk"]));
  // route() runs a function on the node that owns a bucket name.
  console.log(`"apple" goes to ${await route("apple", "erlang", "node", [])}`);
  console.log(`"zebra" goes to ${await route("zebra", "erlang", "node", [])}`);
} finally {
  for (const { node, server } of [bar, foo]) {
    await server.close();
    await node.stop();
  }
}
