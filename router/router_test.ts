import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { startRegistry } from "../node/registry.ts";
import { type Node, startNode } from "../node/node.ts";
import { atom, Tuple } from "../node/terms.ts";
import { parseTable } from "./table.ts";
import { NoRouteError, route } from "./router.ts";
import { type KVNode, startKVNode } from "./kv_node.ts";
import { parseCommand } from "./command.ts";

test("parseTable reads ranges and refuses bad input clearly", () => {
  assert.deepEqual(parseTable("a-m=foo@h, n-z=bar@h"), [
    { from: 97, to: 109, node: "foo@h" },
    { from: 110, to: 122, node: "bar@h" },
  ]);
  assert.deepEqual(parseTable("0-96=x@h,q=y@h"), [
    { from: 0, to: 96, node: "x@h" },
    { from: 113, to: 113, node: "y@h" },
  ]);
  assert.throws(() => parseTable("a-m"), /RANGE=NODE/);
  assert.throws(() => parseTable("m-a=x@h"), /low to high/);
  assert.throws(() => parseTable("abc=x@h"), /bad range/);
  assert.throws(() => parseTable(""), /empty/);
});

test("parseCommand knows the four commands and nothing else", () => {
  assert.deepEqual(parseCommand("CREATE shopping\r\n"), {
    op: "create",
    bucket: "shopping",
  });
  assert.deepEqual(parseCommand("GET shopping milk"), {
    op: "get",
    bucket: "shopping",
    key: "milk",
  });
  assert.deepEqual(parseCommand("DELETE shopping milk\n"), {
    op: "delete",
    bucket: "shopping",
    key: "milk",
  });
  assert.equal(parseCommand("PUT shopping milk"), undefined);
  assert.equal(parseCommand("create shopping"), undefined);
  assert.equal(parseCommand(""), undefined);
});

/** Sends lines to a KV server; resolves with the text once `done` matches. */
async function session(
  port: number,
  lines: string,
  done: RegExp,
): Promise<string> {
  const socket: Socket = connect(port, "127.0.0.1");
  socket.setEncoding("utf8");
  socket.write(lines);
  let text = "";
  try {
    for await (const chunk of socket) {
      text += chunk;
      if (done.test(text)) break;
    }
  } finally {
    socket.destroy();
  }
  return text;
}

describe("routing between two nodes (the guide's foo and bar)", () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let foo: Node, bar: Node;
  let kvFoo: KVNode, kvBar: KVNode;
  const table = "a-m=foo@localhost,n-z=bar@localhost";

  before(async () => {
    registry = await startRegistry({ port: 0 });
    foo = await startNode({
      name: "foo@localhost",
      cookie: "kv",
      registryPort: registry.port,
    });
    bar = await startNode({
      name: "bar@localhost",
      cookie: "kv",
      registryPort: registry.port,
    });
    kvFoo = await startKVNode(foo, { table, port: 0 });
    kvBar = await startKVNode(bar, { table, port: 0 });
  });

  after(async () => {
    await kvFoo.server?.close();
    await kvBar.server?.close();
    await foo.stop();
    await bar.stop();
    await registry.close();
  });

  test("route requests across nodes", async () => {
    assert.equal(
      await route("hello", "erlang", "node", []),
      atom("foo@localhost"),
    );
    assert.equal(
      await route("world", "erlang", "node", []),
      atom("bar@localhost"),
    );
    // From bar's side too.
    const fromBar = await bar.call(
      "bar@localhost",
      "Elixir.KV.Router",
      "route",
      ["hello", atom("erlang"), atom("node"), []],
    );
    assert.equal(fromBar, atom("foo@localhost"));
  });

  test("raises on unknown entries", async () => {
    await assert.rejects(
      route("\u0000", "erlang", "node", []),
      (e: unknown) =>
        e instanceof NoRouteError &&
        /could not find entry for "\\u0000" in table/.test(e.message),
    );
    await assert.rejects(
      route("Hello", "erlang", "node", []),
      /could not find entry for "Hello"/,
    );
  });

  test("the owner routes again with its own table", async () => {
    // foo's table sends "wonder" to bar; bar's own table sends it on to baz.
    const baz = await startNode({
      name: "baz@localhost",
      cookie: "kv",
      registryPort: registry.port,
    });
    const kvBaz = await startKVNode(baz, { table: "a-z=baz@localhost" });
    kvBar.router.table = parseTable("a-z=baz@localhost");
    try {
      assert.equal(
        await route("wonder", "erlang", "node", []),
        atom("baz@localhost"),
      );
    } finally {
      kvBar.router.table = parseTable(table);
      await baz.stop();
    }
    assert.equal(kvBaz.server, undefined);
    assert.equal(
      await route("wonder", "erlang", "node", []),
      atom("bar@localhost"),
    );
  });

  test("server interaction, buckets owned by either node", async () => {
    const text = await session(
      kvFoo.server!.port,
      [
        "CREATE shopping",
        "PUT shopping milk 1",
        "PUT shopping eggs 3",
        "GET shopping milk",
        "DELETE shopping eggs",
        "GET shopping eggs",
        "CREATE zoo",
        "PUT zoo lion 1",
        "GET zoo lion",
        "GET nothing here",
        "FLY away",
        "",
      ].join("\r\n"),
      /UNKNOWN COMMAND\r\n$/,
    );
    assert.equal(
      text,
      "OK\r\nOK\r\nOK\r\n1\r\nOK\r\nOK\r\n\r\nOK\r\nOK\r\nOK\r\n1\r\nOK\r\nNOT FOUND\r\nUNKNOWN COMMAND\r\n",
    );
    // The zoo bucket lives on bar: bar's own server sees it, foo's registry does not hold it.
    const onBar = await session(
      kvBar.server!.port,
      "GET zoo lion\r\n",
      /OK\r\n$/,
    );
    assert.equal(onBar, "1\r\nOK\r\n");
    const lookup = await foo.call(
      "bar@localhost",
      "Elixir.KV.Registry",
      "lookup",
      [atom("Elixir.KV.Registry"), "zoo"],
    );
    assert.ok(lookup instanceof Tuple && lookup[0] === atom("ok"));
    const notOnFoo = await foo.call(
      "foo@localhost",
      "Elixir.KV.Registry",
      "lookup",
      [atom("Elixir.KV.Registry"), "zoo"],
    );
    assert.equal(notOnFoo, atom("error"));
  });

  test("an unroutable bucket answers with the error", async () => {
    const text = await session(kvFoo.server!.port, "CREATE Zebra\r\n", /\r\n$/);
    assert.match(text, /^ERROR: could not find entry for "Zebra"/);
  });
});
