/**
 * The seed's KV app in a mixed cluster: the Mix & OTP guide's KV, written in
 * Elixir for this test (tests/beam/kv/*.ex, compiled here with the elixirc
 * of the BEAM under test), runs on `foo`; noderl's KV runs on `bar`; one
 * routing table (`a-m` → foo, `n-z` → bar). Every text-protocol command goes
 * through either server, on buckets living on either side.
 */
import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startRegistry } from "../node/registry.ts";
import { type Node, startNode } from "../node/node.ts";
import { atom, Pid, Tuple } from "../node/terms.ts";
import { type KVNode, startKVNode } from "../router/kv_node.ts";
import {
  type BeamNode,
  compileElixir,
  noElixir,
  startBeamNode,
} from "./_beam.ts";
import { test } from "./_tags.ts";

const tags = ["beam", "elixir", "distributed"];
const FOO = "foo@localhost", BAR = "bar@localhost";
const kvSources = join(dirname(fileURLToPath(import.meta.url)), "beam", "kv");

/** One client connection: `send` a line, get the reply lines. */
class Client {
  private text = "";
  private waiting: (() => void) | undefined;
  private constructor(private readonly socket: Socket) {
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => {
      this.text += d;
      this.waiting?.();
    });
    socket.on("close", () => this.waiting?.());
  }
  static open(port: number): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = connect(port, "127.0.0.1", () => resolve(new Client(s)));
      s.once("error", reject);
    });
  }
  /** Sends `line` and resolves with the reply (one line; two for a found GET). */
  async send(line: string, timeoutMs = 10_000): Promise<string> {
    this.text = "";
    this.socket.write(`${line}\r\n`);
    const complete = () =>
      /^GET /.test(line)
        ? /(^|\r\n)(OK|NOT FOUND|UNKNOWN COMMAND|ERROR[^\r]*)\r\n$/.test(
          this.text,
        )
        : /\r\n$/.test(this.text);
    const deadline = Date.now() + timeoutMs;
    while (!complete()) {
      if (this.socket.destroyed) {
        assert.fail(`connection closed after ${line}: ${this.text}`);
      }
      if (Date.now() > deadline) {
        assert.fail(`no reply to ${line} within ${timeoutMs} ms: ${this.text}`);
      }
      await new Promise<void>((r) => {
        this.waiting = r;
        setTimeout(r, 50);
      });
    }
    return this.text;
  }
  close(): void {
    this.socket.destroy();
  }
}

describe("the guide's KV: Elixir on foo, noderl on bar, one cluster", {
  skip: noElixir || undefined,
}, () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let bar: Node;
  let kv: KVNode;
  let foo: BeamNode;
  let fooPort: number;
  const table = `a-m=${FOO},n-z=${BAR}`;

  before(async () => {
    registry = await startRegistry({ port: 0 });
    bar = await startNode({
      name: BAR,
      cookie: "kv",
      registryPort: registry.port,
      log: () => {},
    });
    kv = await startKVNode(bar, { table, port: 0 });
    foo = await startBeamNode({
      name: FOO,
      cookie: "kv",
      registryPort: registry.port,
      paths: [compileElixir(kvSources)],
      elixir:
        `:ok = KV.Mixed.start([{?a..?m, :"${FOO}"}, {?n..?z, :"${BAR}"}])`,
      timeoutMs: 60_000,
    });
    await foo.waitFor(/kv server on port \d+/);
    fooPort = Number(/kv server on port (\d+)/.exec(foo.output())![1]);
  });

  after(async () => {
    await foo?.stop();
    await kv?.server?.close();
    await bar?.stop();
    await registry?.close();
  });

  test(
    "KV.Router.table/0 on noderl is Elixir's [{first..last, node}]",
    { tags },
    async () => {
      // Elixir's inspect: ranges, not lists (atoms quoted or not by version).
      const elixirs = await bar.call(FOO, "Elixir.KV.Mixed", "table_of", [
        atom(FOO),
      ]) as string;
      assert.match(
        elixirs,
        /^\[\{97\.\.109, :"?foo@localhost"?\}, \{110\.\.122, :"?bar@localhost"?\}\]$/,
      );
      assert.equal(
        await bar.call(FOO, "Elixir.KV.Mixed", "table_of", [atom(BAR)]),
        elixirs,
        "Elixir reads noderl's table as its own",
      );
      assert.equal(
        await bar.call(FOO, "Elixir.KV.Mixed", "same_table?", [atom(BAR)]),
        true,
      );
      // Each router sends the other's buckets across.
      assert.equal(
        await bar.call(FOO, "Elixir.KV.Router", "route", [
          "world",
          atom("erlang"),
          atom("node"),
          [],
        ]),
        atom(BAR),
      );
      assert.equal(
        await bar.call(BAR, "Elixir.KV.Router", "route", [
          "hello",
          atom("erlang"),
          atom("node"),
          [],
        ]),
        atom(FOO),
      );
    },
  );

  for (const server of ["elixir", "noderl"] as const) {
    for (const side of ["elixir", "noderl"] as const) {
      // a-m lives on foo (Elixir), n-z on bar (noderl).
      const bucket = `${
        side === "elixir" ? "apples" : "shopping"
      }_via_${server}`;
      test(
        `every command through the ${server} server on a bucket living on the ${side} node`,
        { tags },
        async () => {
          const c = await Client.open(
            server === "elixir" ? fooPort : kv.server!.port,
          );
          try {
            assert.equal(await c.send(`GET ${bucket} milk`), "NOT FOUND\r\n");
            assert.equal(await c.send(`PUT ${bucket} milk 1`), "NOT FOUND\r\n");
            assert.equal(
              await c.send(`DELETE ${bucket} milk`),
              "NOT FOUND\r\n",
            );
            assert.equal(await c.send(`CREATE ${bucket}`), "OK\r\n");
            assert.equal(await c.send(`CREATE ${bucket}`), "OK\r\n");
            assert.equal(await c.send(`PUT ${bucket} milk 3`), "OK\r\n");
            assert.equal(await c.send(`PUT ${bucket} eggs 12`), "OK\r\n");
            assert.equal(await c.send(`GET ${bucket} milk`), "3\r\nOK\r\n");
            assert.equal(await c.send(`GET ${bucket} bread`), "\r\nOK\r\n");
            assert.equal(await c.send(`DELETE ${bucket} milk`), "OK\r\n");
            assert.equal(await c.send(`GET ${bucket} milk`), "\r\nOK\r\n");
            assert.equal(await c.send(`DELETE ${bucket} milk`), "OK\r\n");
            assert.equal(
              await c.send(`FETCH ${bucket}`),
              "UNKNOWN COMMAND\r\n",
            );
            assert.equal(await c.send(`GET ${bucket} eggs`), "12\r\nOK\r\n");
          } finally {
            c.close();
          }
          // The bucket lives where its name routes, and is that side's kind.
          const owner = side === "elixir" ? FOO : BAR;
          const found = await bar.call(owner, "Elixir.KV.Registry", "lookup", [
            atom("Elixir.KV.Registry"),
            bucket,
          ]) as Tuple;
          assert.ok(found instanceof Tuple && found[0] === atom("ok"));
          const pid = found[1] as Pid;
          assert.ok(pid instanceof Pid && pid.node === owner, String(pid));
          // Both servers see the same data: read it through the other one.
          const other = await Client.open(
            server === "elixir" ? kv.server!.port : fooPort,
          );
          try {
            assert.equal(
              await other.send(`GET ${bucket} eggs`),
              "12\r\nOK\r\n",
            );
            assert.equal(await other.send(`PUT ${bucket} milk 4`), "OK\r\n");
          } finally {
            other.close();
          }
          assert.equal(
            await bar.call(owner, "Elixir.KV.Bucket", "get", [pid, "milk"]),
            "4",
          );
        },
      );
    }
  }

  test(
    "Elixir code uses a noderl bucket by KV.Bucket on its node; nothing crashed on foo",
    { tags },
    async () => {
      const pid = await bar.call(FOO, "Elixir.KV.Router", "route", [
        "noderl_bucket",
        atom("Elixir.KV.Registry"),
        atom("create"),
        [atom("Elixir.KV.Registry"), "noderl_bucket"],
      ]) as Pid;
      assert.equal(pid.node, BAR);
      assert.equal(
        await bar.call(FOO, "erpc", "call", [
          atom(BAR),
          atom("Elixir.KV.Bucket"),
          atom("put"),
          [pid, "k", "v"],
        ]),
        atom("ok"),
      );
      assert.equal(
        await bar.call(FOO, "erpc", "call", [
          atom(BAR),
          atom("Elixir.KV.Bucket"),
          atom("delete"),
          [pid, "k"],
        ]),
        "v",
      );
      assert.equal(
        await bar.call(FOO, "erpc", "call", [
          atom(BAR),
          atom("Elixir.KV.Bucket"),
          atom("get"),
          [pid, "k"],
        ]),
        null,
      );
      // noderl's KV.Bucket refuses a pid of another node, clearly.
      const elixirBucket = await bar.call(FOO, "Elixir.KV.Registry", "create", [
        atom("Elixir.KV.Registry"),
        "another",
      ]);
      await assert.rejects(
        bar.call(BAR, "Elixir.KV.Bucket", "get", [elixirBucket, "k"]),
        /call KV.Bucket on the bucket's own node/,
      );
      assert.doesNotMatch(
        foo.output(),
        /FunctionClauseError|\[error\]|terminating/,
      );
    },
  );
});
