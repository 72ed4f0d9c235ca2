/**
 * PubSub between noderl nodes (with Elixir: tests/pubsub_elixir_test.ts):
 * subscribe and broadcast across nodes, in order; broadcastFrom,
 * localBroadcast, directBroadcast; unsubscribing and dying subscribers;
 * pools; dispatchers; bad input.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startRegistry } from "../node/registry.ts";
import { type Node, startNode } from "../node/node.ts";
import { receive, self } from "../node/process_api.ts";
import { pgScope } from "../node/pg.ts";
import { atom, type Pid, tuple } from "../node/terms.ts";
import { PubSub, PUBSUB_SCOPE } from "./pubsub.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const NAME = "Elixir.Test.PubSub";

async function eventually(
  what: string,
  fn: () => unknown,
  ms = 10_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`${what}: not after ${ms} ms`);
    await sleep(10);
  }
}

/** A process subscribed to `topic` on `node`, keeping what it gets. */
function collector(
  ps: PubSub,
  topic: string,
): { pid: Pid; got: unknown[]; ready: Promise<void> } {
  const got: unknown[] = [];
  let ready!: () => void;
  const readyP = new Promise<void>((r) => (ready = r));
  const pid = ps.node.spawn(async () => {
    ps.subscribe(topic);
    ready();
    for (;;) got.push(await receive());
  });
  return { pid, got, ready: readyP };
}

describe("PubSub between noderl nodes", () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let a: Node, b: Node;
  let pa: PubSub, pb: PubSub;
  const logs: string[] = [];

  before(async () => {
    registry = await startRegistry({ port: 0 });
    const opts = {
      cookie: "ps",
      registryPort: registry.port,
      log: (m: string) => logs.push(m),
    };
    a = await startNode({ name: "psa@localhost", ...opts });
    b = await startNode({ name: "psb@localhost", ...opts });
    pa = await PubSub.start(a, { name: NAME });
    pb = await PubSub.start(b, { name: NAME });
    await a.connect("psb@localhost");
    await pa.whenConnected("psb@localhost");
    await pb.whenConnected("psa@localhost");
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    await registry?.close();
  });

  test("the adapter joins the Phoenix.PubSub scope under Name.Adapter", () => {
    const members = pgScope(PUBSUB_SCOPE, { node: a }).getMembers(
      atom(`${NAME}.Adapter`),
    );
    assert.deepEqual(members.map((p) => p.node).sort(), [
      "psa@localhost",
      "psb@localhost",
    ]);
    assert.ok(a.whereis(`${NAME}.Adapter`));
    assert.equal(pa.nodeName(), "psa@localhost");
  });

  test("broadcasts reach subscribers on every node, in order per sender", async () => {
    const ca = collector(pa, "t"), cb = collector(pb, "t");
    await ca.ready;
    await cb.ready;
    const N = 10_000;
    for (let i = 0; i < N; i++) PubSub.broadcast(NAME, "t", i, { node: a });
    await eventually(
      "all arrive",
      () => ca.got.length === N && cb.got.length === N,
    );
    for (const c of [ca, cb]) {
      assert.ok(c.got.every((m, i) => m === i), "in order, none lost");
    }
    PubSub.broadcast(NAME, "other", "not for them", { node: b });
    await sleep(30);
    assert.equal(ca.got.length, N);
  });

  test("broadcastFrom skips the sender; localBroadcast stays local; directBroadcast picks a node", async () => {
    const ca = collector(pa, "x"), cb = collector(pb, "x");
    await ca.ready;
    await cb.ready;
    pa.broadcastFrom(ca.pid, "x", "from-a");
    pa.localBroadcast("x", "local-a");
    pa.directBroadcast("psb@localhost", "x", "direct-b");
    pa.directBroadcast("psa@localhost", "x", "direct-a");
    await eventually(
      "delivered",
      () => cb.got.length === 2 && ca.got.length === 2,
    );
    assert.deepEqual(cb.got, ["from-a", "direct-b"]);
    assert.deepEqual(ca.got, ["local-a", "direct-a"]);
  });

  test("unsubscribe, subscribing twice, and dead subscribers", async () => {
    const got: unknown[] = [];
    const pid = b.spawn(async () => {
      pb.subscribe("u");
      pb.subscribe("u");
      for (;;) {
        const m = await receive();
        got.push(m);
        if (m === "stop") pb.unsubscribe("u");
      }
    });
    await eventually("subscribed", () => pb.subscribers("u").length === 2);
    pa.broadcast("u", "twice");
    await eventually("two copies", () => got.length === 2);
    pa.broadcast("u", "stop");
    await eventually("stop twice", () => got.length === 4);
    pa.broadcast("u", "after");
    await sleep(30);
    assert.deepEqual(got, ["twice", "twice", "stop", "stop"]);
    assert.deepEqual(pb.subscribers("u"), []);
    const c = collector(pb, "dies");
    await c.ready;
    assert.equal(pb.subscribers("dies").length, 1);
    b.exit(c.pid, atom("kill"));
    await eventually("dropped", () => pb.subscribers("dies").length === 0);
    b.exit(pid, atom("kill"));
  });

  test("subscriber metadata and custom dispatchers", async () => {
    const c = await startNode({
      name: "psc@localhost",
      cookie: "ps",
      registryPort: registry.port,
      log: (m) => logs.push(m),
    });
    try {
      const seen: unknown[] = [];
      const pc = await PubSub.start(c, {
        name: NAME,
        dispatchers: {
          "Elixir.My.Dispatcher": (entries, _from, message, send) => {
            for (const [pid, meta] of entries) {
              seen.push(meta);
              send(pid, tuple(atom("wrapped"), message));
            }
          },
        },
      });
      await c.connect("psa@localhost");
      await pc.whenConnected("psa@localhost");
      const got: unknown[] = [];
      c.spawn(async () => {
        pc.subscribe("m", { metadata: "meta!" });
        for (;;) got.push(await receive());
      });
      await eventually("subscribed", () => pc.subscribers("m").length === 1);
      pa.broadcast("m", "hi", { dispatcher: "Elixir.My.Dispatcher" });
      await eventually("dispatched", () => got.length === 1);
      assert.deepEqual(got, [tuple(atom("wrapped"), "hi")]);
      assert.deepEqual(seen, ["meta!"]);
      // A dispatcher this node lacks: delivered plainly, said once.
      pa.broadcast("m", "plain", { dispatcher: "Elixir.Unknown" });
      pa.broadcast("m", "plain2", { dispatcher: "Elixir.Unknown" });
      await eventually("plain", () => got.length === 3);
      assert.equal(
        logs.filter((l) => /no dispatcher Elixir\.Unknown/.test(l)).length,
        1,
      );
    } finally {
      await c.stop();
    }
  });

  test("a pool of adapter servers: groups Name.Adapter, Name.Adapter_2, …", async () => {
    const name = "Elixir.Pool.PubSub";
    const qa = await PubSub.start(a, { name, poolSize: 3 });
    const qb = await PubSub.start(b, { name, poolSize: 3 });
    assert.deepEqual(qa.groups.map(String), [
      `${name}.Adapter`,
      `${name}.Adapter_2`,
      `${name}.Adapter_3`,
    ]);
    await qa.whenConnected("psb@localhost");
    await eventually(
      "every group has both nodes",
      () =>
        qa.groups.every((g) =>
          pgScope(PUBSUB_SCOPE, { node: a }).getMembers(g).length === 2
        ),
    );
    const c = collector(qb, "p");
    await c.ready;
    // Senders hash to different groups; every message arrives once.
    const senders = Array.from(
      { length: 8 },
      (_, i) => a.spawn(() => qa.broadcast("p", i)),
    );
    assert.equal(senders.length, 8);
    await eventually("eight", () => c.got.length === 8);
    assert.deepEqual([...c.got].sort(), [0, 1, 2, 3, 4, 5, 6, 7]);
    qa.stop();
    qb.stop();
  });

  test("bad input is refused clearly; garbage to an adapter server is logged", async () => {
    await assert.rejects(PubSub.start(a, { name: NAME }), /already runs/);
    await assert.rejects(
      PubSub.start(a, { name: "Elixir.X", poolSize: 0 }),
      RangeError,
    );
    assert.throws(() => PubSub.of("Elixir.Nope", { node: a }), /no PubSub/);
    assert.throws(() => pa.broadcast(5 as unknown as string, "x"), TypeError);
    assert.throws(
      () => pa.broadcastFrom("x" as unknown as Pid, "t", "m"),
      TypeError,
    );
    const n0 = logs.length;
    for (
      const g of [atom("x"), tuple(atom("forward_to_local"), 1, 2, 3), "s"]
    ) {
      a.send([`${NAME}.Adapter`, "psb@localhost"], g);
    }
    await eventually("logged", () => logs.length - n0 === 3);
    assert.ok(
      logs.slice(n0).every((l) => /dropped an unexpected message/.test(l)),
    );
    const c = collector(pb, "still");
    await c.ready;
    pa.broadcast("still", "works");
    await eventually("still works", () => c.got.length === 1);
    assert.ok(self());
  });
});
