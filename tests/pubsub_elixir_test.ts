/**
 * noderl's PubSub with an Elixir node that speaks Phoenix.PubSub 2.x's pg
 * adapter protocol (tests/beam/noderl_pubsub.ex, written from the
 * protocol: scope Phoenix.PubSub, group Name.Adapter, {:forward_to_local,
 * topic, message, dispatcher}): broadcasts both ways, in order per sender,
 * 10,000 on a topic with none lost; direct broadcasts; pools.
 */
import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import { startRegistry } from "../node/registry.ts";
import { type Node, startNode } from "../node/node.ts";
import { receive } from "../node/process_api.ts";
import { atom, type Pid, Tuple } from "../node/terms.ts";
import { PubSub } from "../pubsub/mod.ts";
import { beamHelper, type BeamNode, noElixir, startBeamNode } from "./_beam.ts";
import { test } from "./_tags.ts";

const tags = ["beam", "elixir", "distributed"];
/** The Elixir side, as the BEAM under test reads it (compiled on first use). */
const exHelper = () => beamHelper("noderl_pubsub.ex");
const COOKIE = "pubsubinterop";
const NAME = "Elixir.Test.PubSub";
const POOL = "Elixir.Pool.PubSub";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually<T>(
  what: string,
  fn: () => T | Promise<T>,
  ms = 15_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not after ${ms} ms`);
    await sleep(20);
  }
}

describe("PubSub with an Elixir node (Phoenix.PubSub's pg adapter protocol)", {
  skip: noElixir || undefined,
}, () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let ts: Node;
  let ps: PubSub, pool: PubSub;
  let ex: BeamNode;
  const EX = "psex@localhost", TS = "psts@localhost";
  const call = (fun: string, args: unknown[], timeout = 60_000) =>
    ts.call(EX, "Elixir.NoderlPubSub", fun, args, timeout);

  /** A noderl process subscribed to `topic`, keeping what it gets. */
  const collector = async (p: PubSub, topic: string) => {
    const got: unknown[] = [];
    let ready!: () => void;
    const r = new Promise<void>((res) => (ready = res));
    const pid = ts.spawn(async () => {
      p.subscribe(topic);
      ready();
      for (;;) got.push(await receive());
    });
    await r;
    return { pid, got };
  };

  before(async () => {
    registry = await startRegistry({ port: 0 });
    ts = await startNode({
      name: TS,
      cookie: COOKIE,
      registryPort: registry.port,
      log: () => {},
    });
    ex = await startBeamNode({
      name: EX,
      cookie: COOKIE,
      registryPort: registry.port,
      elixir: `Code.require_file(${JSON.stringify(exHelper())})
NoderlPubSub.start(Test.PubSub)
NoderlPubSub.start(Pool.PubSub, 3)`,
      timeoutMs: 60_000,
    });
    ps = await PubSub.start(ts, { name: NAME });
    pool = await PubSub.start(ts, { name: POOL, poolSize: 3 });
    await ts.connect(EX);
    await ps.whenConnected(EX);
    await pool.whenConnected(EX);
    await eventually(
      "Elixir sees the noderl adapter",
      async () =>
        ((await call("adapters", [atom(NAME)])) as Pid[]).some((p) =>
          p.node === TS
        ),
    );
  });

  after(async () => {
    await ex?.stop();
    await ts?.stop();
    await registry?.close();
  });

  test("an Elixir subscriber gets noderl's 10,000 broadcasts, in order", {
    tags,
  }, async () => {
    const sub = await call("start_collector", [atom(NAME), "to_ex"]);
    const N = 10_000;
    for (let i = 1; i <= N; i++) ps.broadcast("to_ex", i);
    const got = await call("collected", [sub, N, 30_000]) as unknown[];
    assert.equal(got.length, N, "none lost");
    assert.ok(got.every((m, i) => m === i + 1), "in order");
  });

  test(
    "a noderl subscriber gets the Elixir node's 10,000 broadcasts, in order",
    {
      tags,
    },
    async () => {
      const c = await collector(ps, "to_ts");
      const N = 10_000;
      await call("broadcast_n", [atom(NAME), "to_ts", N]);
      await eventually("all 10,000", () => c.got.length >= N);
      await sleep(50);
      assert.equal(c.got.length, N, "none lost, none twice");
      assert.ok(
        c.got.every((m, i) =>
          m instanceof Tuple && m[0] === atom("n") && m[2] === i + 1
        ),
        "in order",
      );
    },
  );

  test("both ways at once: every subscriber sees each sender's order", {
    tags,
  }, async () => {
    const c = await collector(ps, "both");
    const exSub = await call("start_collector", [atom(NAME), "both"]);
    const N = 3_000;
    const exSending = call("broadcast_n", [atom(NAME), "both", N]);
    const tsSender = ts.spawn(async () => {
      for (let i = 1; i <= N; i++) {
        ps.broadcast("both", new Tuple(atom("n"), atom("ts"), i));
        if (i % 500 === 0) await new Promise((r) => setImmediate(r));
      }
    });
    assert.ok(tsSender);
    await exSending;
    const check = (got: unknown[], where: string) => {
      const bySender = new Map<string, number[]>();
      for (const m of got) {
        const t = m as Tuple;
        const k = String(t[1]);
        if (!bySender.has(k)) bySender.set(k, []);
        bySender.get(k)!.push(t[2] as number);
      }
      assert.equal(bySender.size, 2, `${where}: two senders`);
      for (const [k, seq] of bySender) {
        assert.equal(seq.length, N, `${where}: all of ${k}`);
        assert.ok(seq.every((v, i) => v === i + 1), `${where}: ${k} in order`);
      }
    };
    await eventually("noderl got both", () => c.got.length >= 2 * N);
    check(c.got, "noderl");
    check(
      await call("collected", [exSub, 2 * N, 30_000]) as unknown[],
      "Elixir",
    );
  });

  test("direct broadcasts reach one node; localBroadcast stays here", {
    tags,
  }, async () => {
    const c = await collector(ps, "direct");
    const exSub = await call("start_collector", [atom(NAME), "direct"]);
    ps.directBroadcast(EX, "direct", "to elixir only");
    ps.localBroadcast("direct", "to noderl only");
    await call("direct_broadcast", [
      atom(NAME),
      atom(TS),
      "direct",
      "from elixir",
    ]);
    await eventually("two here", () => c.got.length === 2);
    assert.deepEqual(c.got, ["to noderl only", "from elixir"]);
    assert.deepEqual(
      await call("collected", [exSub, 1, 5_000]),
      ["to elixir only"],
    );
  });

  test("a pool of three: Elixir senders hashing to every group reach noderl", {
    tags,
  }, async () => {
    const c = await collector(pool, "pooled");
    const exSub = await call("start_collector", [atom(POOL), "pooled"]);
    // 30 Elixir processes (each picks a group by phash2 of its pid).
    for (let i = 0; i < 30; i++) {
      await ts.call(EX, "erlang", "spawn", [
        atom("Elixir.NoderlPubSub"),
        atom("broadcast"),
        [atom(POOL), "pooled", i],
      ]);
    }
    for (let i = 0; i < 30; i++) {
      ts.spawn(() => pool.broadcast("pooled", 100 + i));
    }
    await eventually("60 here", () => c.got.length === 60);
    assert.deepEqual(
      [...c.got].sort((x, y) => (x as number) - (y as number)),
      [
        ...Array.from({ length: 30 }, (_, i) => i),
        ...Array.from({ length: 30 }, (_, i) => 100 + i),
      ],
    );
    const there = await call("collected", [exSub, 60, 10_000]) as number[];
    assert.equal(there.length, 60);
  });

  test("no errors on the Elixir side", { tags }, () => {
    assert.doesNotMatch(ex.output(), /\[error\]|CRASH|ERROR REPORT/);
  });
});
