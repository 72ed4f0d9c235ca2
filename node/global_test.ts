/**
 * global between noderl nodes (the BEAM interop tests are in
 * tests/global_interop_test.ts): names, locks, sync, clashes, hidden nodes,
 * bad input; and the term order and keys global relies on.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startRegistry } from "./registry.ts";
import { type Node, startNode } from "./node.ts";
import {
  ABORTED,
  delLock,
  globalNames,
  globalSyncedNodes,
  registerGlobal,
  reRegisterGlobal,
  sendGlobal,
  setLock,
  syncGlobal,
  trans,
  unregisterGlobal,
  whereisGlobal,
} from "./global.ts";
import { sameTerm, termKey } from "./_term_key.ts";
import { compareTerms } from "./term_order.ts";
import { ExitError } from "./errors.ts";
import { receive, self } from "./process_api.ts";
import { atom, Float, Pid, tuple } from "./terms.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually(
  what: string,
  fn: () => unknown,
  ms = 10_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`${what}: not after ${ms} ms`);
    await sleep(20);
  }
}

const idle = (n: Node): Pid => n.spawn(() => new Promise(() => {}));

describe("term keys and order", () => {
  test("termKey equals exactly when the terms are =:=", () => {
    assert.equal(termKey("abc"), termKey(new TextEncoder().encode("abc")));
    assert.notEqual(termKey(1), termKey(new Float(1)));
    assert.equal(termKey(1), termKey(1n));
    assert.notEqual(termKey(atom("a")), termKey("a"));
    assert.equal(
      termKey(new Map<unknown, unknown>([[1, "a"], [atom("b"), 2]])),
      termKey(new Map<unknown, unknown>([[atom("b"), 2], [1, "a"]])),
    );
    assert.notEqual(termKey(tuple(1, 2)), termKey([1, 2]));
    assert.notEqual(termKey(["ab", "c"]), termKey(["a", "bc"]));
    assert.ok(sameTerm(2n ** 60n, 2n ** 60n));
    assert.ok(sameTerm(5, 5n));
    assert.ok(!sameTerm(undefined, atom("undefined")));
    // A number past 2 ** 53 is a float on the wire (integers there are
    // bigints): not the integer of the same value.
    assert.notEqual(termKey(2 ** 53), termKey(2n ** 53n));
    assert.equal(termKey(2 ** 53), termKey(new Float(2 ** 53)));
    assert.equal(termKey(1e300), termKey(new Float(1e300)));
    assert.ok(!sameTerm(2 ** 53, 2n ** 53n));
    assert.ok(!sameTerm(2n ** 53n, 2 ** 53));
  });

  test("lockers' pids sort as OTP 25 and 27 sort them (serial, number, node, creation)", () => {
    // The order a real erl gave for these pids: both lockers of a connect
    // must sort their pids into the same lock id.
    const p = (n: string, id: number, ser: number, cre: number) =>
      new Pid(n, id, ser, cre);
    const sorted = [
      p("a@x", 1, 0, 1),
      p("a@x", 1, 0, 2),
      p("ab@x", 1, 0, 1),
      p("b@x", 1, 0, 1),
      p("a@x", 5, 0, 1),
      p("b@x", 5, 0, 65535),
      p("a@x", 32767, 0, 1),
      p("a@x", 1, 1, 1),
      p("b@x", 1, 1, 1),
      p("a@x", 1, 3, 1),
    ];
    const shuffled = [...sorted].reverse();
    shuffled.push(shuffled.shift()!);
    assert.deepEqual(shuffled.sort((x, y) => compareTerms(x, y)), sorted);
  });
});

describe("global between noderl nodes", () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let a: Node, b: Node, c: Node;
  const logs: string[] = [];

  before(async () => {
    registry = await startRegistry({ port: 0 });
    const opts = {
      cookie: "gt",
      registryPort: registry.port,
      log: (m: string) => logs.push(m),
    };
    a = await startNode({ name: "gta@localhost", ...opts });
    b = await startNode({ name: "gtb@localhost", ...opts });
    c = await startNode({ name: "gtc@localhost", ...opts });
    await a.connect("gtb@localhost");
    await a.connect("gtc@localhost");
    await syncGlobal(undefined, { node: a });
    await eventually("a full mesh", () => b.nodes().includes("gtc@localhost"));
    await syncGlobal(undefined, { node: b });
    await syncGlobal(undefined, { node: c });
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    await c?.stop();
    await registry?.close();
  });

  test("every node is synced with the others", () => {
    assert.deepEqual(globalSyncedNodes(a).sort(), [
      "gtb@localhost",
      "gtc@localhost",
    ]);
    assert.deepEqual(globalSyncedNodes(c).sort(), [
      "gta@localhost",
      "gtb@localhost",
    ]);
  });

  test("a name registered on one node is found on every node", async () => {
    const pid = idle(b);
    const name = tuple(atom("svc"), 1);
    assert.equal(await registerGlobal(name, pid, { node: b }), true);
    for (const n of [a, b, c]) {
      assert.ok(whereisGlobal(tuple(atom("svc"), 1), n)?.equals(pid), n.name);
    }
    assert.equal(
      await registerGlobal(name, idle(c), { node: c }),
      false,
      "taken",
    );
    assert.equal(
      await registerGlobal("other", pid, { node: a }),
      false,
      "a pid has one global name",
    );
    assert.ok(logs.some((l) => /registered under several names/.test(l)));
    await unregisterGlobal(name, { node: c });
    for (const n of [a, b, c]) {
      assert.equal(whereisGlobal(name, n), undefined);
    }
  });

  test("re-registering moves a name", async () => {
    const p1 = idle(a), p2 = idle(c);
    await registerGlobal("moving", p1, { node: a });
    await reRegisterGlobal("moving", p2, { node: b });
    for (const n of [a, b, c]) {
      assert.ok(whereisGlobal("moving", n)?.equals(p2));
    }
    await unregisterGlobal("moving", { node: a });
  });

  test("sends reach a global name: sendGlobal and {global, Name}", async () => {
    const got: unknown[] = [];
    const pid = c.spawn(async () => {
      for (;;) got.push(await receive());
    });
    await registerGlobal(atom("inbox"), pid, { node: c });
    assert.ok(sendGlobal(atom("inbox"), "one", a).equals(pid));
    a.send(tuple(atom("global"), atom("inbox")), "two");
    a.send(tuple(atom("global"), atom("nobody")), "dropped");
    await eventually("both arrive", () => got.length === 2);
    assert.deepEqual(got, ["one", "two"]);
    assert.throws(
      () => sendGlobal(atom("nobody"), "x", a),
      (e: unknown) =>
        e instanceof ExitError &&
        sameTerm(e.reason, tuple(atom("badarg"), tuple(atom("nobody"), "x"))),
    );
    c.exit(pid, atom("kill"));
  });

  test("a name goes when its process ends, everywhere", async () => {
    const pid = idle(c);
    await registerGlobal("short", pid, { node: c });
    assert.ok(whereisGlobal("short", a)?.equals(pid));
    a.exit(pid, atom("kill"));
    for (const n of [a, b, c]) {
      await eventually(
        `${n.name} drops it`,
        () => whereisGlobal("short", n) === undefined,
      );
    }
    assert.ok(!globalNames(b).includes("short"));
  });

  test("locks: granted to one requester at a time, on every node", async () => {
    const id = [atom("res"), atom("one")] as const;
    assert.equal(await setLock(id, { node: a }), true);
    // Another requester on another node: refused while a holds it.
    const other = [atom("res"), atom("two")] as const;
    assert.equal(await setLock(other, { node: c, retries: 0 }), false);
    assert.equal(
      await trans(other, () => "ran", { node: b, retries: 0 }),
      ABORTED,
    );
    // The same requester id from another process shares the lock.
    assert.equal(await setLock(id, { node: b, retries: 0 }), true);
    await delLock(id, { node: b });
    await delLock(id, { node: a });
    assert.equal(await trans(other, () => "ran", { node: b }), "ran");
  });

  test("a waiting trans gets the lock when its holder lets go", async () => {
    const id = [atom("queue"), atom("x")] as const;
    let release!: () => void;
    const first = trans(
      id,
      () => new Promise<string>((r) => (release = () => r("first"))),
      { node: a },
    );
    await eventually("held", () => release !== undefined);
    const t0 = Date.now();
    const second = trans([atom("queue"), atom("y")], () => "second", {
      node: c,
    });
    setTimeout(() => release(), 200);
    assert.equal(await first, "first");
    assert.equal(await second, "second");
    assert.ok(Date.now() - t0 >= 150);
  });

  test("a lock goes when its holder dies", async () => {
    const id = [atom("dies"), atom("h")] as const;
    let holder!: Pid;
    await new Promise<void>((resolve) => {
      holder = b.spawn(async () => {
        await setLock(id, { node: b });
        resolve();
        await receive();
      });
    });
    assert.equal(
      await setLock([atom("dies"), atom("o")], { node: a, retries: 0 }),
      false,
    );
    b.exit(holder, atom("kill"));
    await eventually(
      "the lock is free",
      async () =>
        await setLock([atom("dies"), atom("o")], { node: a, retries: 0 }),
    );
    await delLock([atom("dies"), atom("o")], { node: a });
  });

  test("bad arguments are refused clearly", async () => {
    await assert.rejects(
      setLock([1, 2], { node: a, retries: -1 }),
      RangeError,
    );
    await assert.rejects(
      registerGlobal("x", idle(a), {
        node: a,
        resolve: "bogus" as "random_exit_name",
      }),
      TypeError,
    );
    await assert.rejects(
      registerGlobal("x", "notapid" as unknown as Pid, { node: a }),
      TypeError,
    );
  });

  test("garbage sent to global_name_server or its locker is dropped, tables intact", async () => {
    const keep = idle(a);
    await registerGlobal("keep", keep, { node: a });
    const before = globalNames(b).map((n) => termKey(n)).sort();
    const n0 = logs.length;
    const garbage = [
      atom("x"),
      tuple(
        atom("$gen_cast"),
        tuple(atom("exchange"), atom("gta@localhost"), 5, [], 1),
      ),
      tuple(
        atom("$gen_cast"),
        tuple(
          atom("new_nodes"),
          atom("gta@localhost"),
          [tuple(atom("insert"), 1)],
          [],
          [],
          [],
        ),
      ),
      tuple(
        atom("$gen_call"),
        tuple(self(), atom("t")),
        tuple(atom("del_lock"), 3),
      ),
      tuple(
        atom("lost_connection"),
        atom("gta@localhost"),
        "x",
        1,
        atom("gtc@localhost"),
      ),
      tuple(atom("DOWN"), "notaref", atom("process"), 1, 2),
    ];
    for (let i = 0; i < 600; i++) {
      a.send(
        [atom("global_name_server"), "gtb@localhost"],
        garbage[i % garbage.length],
      );
    }
    // Logged at a bounded rate: the first ten of a kind in a minute.
    await eventually("logged", () => logs.length - n0 >= 10);
    await sleep(50);
    assert.ok(logs.length - n0 <= 11, "a flood is not a flood of log lines");
    assert.deepEqual(globalNames(b).map((n) => termKey(n)).sort(), before);
    assert.ok(whereisGlobal("keep", b)?.equals(keep));
    assert.ok(
      logs.slice(n0).every((l) => /global_name_server/.test(l)),
    );
    // Still working.
    const p = idle(b);
    assert.equal(await registerGlobal("after_garbage", p, { node: b }), true);
    assert.ok(whereisGlobal("after_garbage", a)?.equals(p));
  });
});

describe("global across partitions of noderl nodes", () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  const nodes: Node[] = [];
  const logs: string[] = [];

  before(async () => {
    registry = await startRegistry({ port: 0 });
  });
  after(async () => {
    for (const n of nodes) await n.stop();
    await registry?.close();
  });
  const start = async (name: string, hidden = false) => {
    const n = await startNode({
      name,
      cookie: "gp",
      registryPort: registry.port,
      hidden,
      log: (m) => logs.push(`${name}: ${m}`),
    });
    nodes.push(n);
    return n;
  };

  test("when two clusters meet, a clash is resolved by random_exit_name", async () => {
    const p = await start("gpp@localhost"), q = await start("gpq@localhost");
    const r = await start("gpr@localhost");
    await q.connect("gpr@localhost");
    await syncGlobal(undefined, { node: q });
    const onP = idle(p), onR = idle(r);
    assert.equal(await registerGlobal("dup", onP, { node: p }), true);
    assert.equal(await registerGlobal("dup", onR, { node: r }), true);
    await p.connect("gpq@localhost");
    await syncGlobal(undefined, { node: p });
    await syncGlobal(undefined, { node: q });
    // The pid on the node with the smaller name (gpp) stays.
    for (const n of [p, q, r]) {
      await eventually(
        `${n.name} agrees`,
        () => whereisGlobal("dup", n)?.equals(onP),
      );
    }
    await eventually("the other one was killed", () => !r.isAlive(onR));
    assert.ok(p.isAlive(onP));
  });

  test("random_notify_name tells the loser instead", async () => {
    const s = await start("gps@localhost"), t = await start("gpt@localhost");
    const notes: unknown[] = [];
    const onS = idle(s);
    const onT = t.spawn(async () => {
      for (;;) notes.push(await receive());
    });
    await registerGlobal("dup2", onS, {
      node: s,
      resolve: "random_notify_name",
    });
    await registerGlobal("dup2", onT, {
      node: t,
      resolve: "random_notify_name",
    });
    await s.connect("gpt@localhost");
    await syncGlobal(undefined, { node: s });
    await eventually("notified", () => notes.length === 1);
    assert.deepEqual(notes[0], tuple(atom("global_name_conflict"), "dup2"));
    assert.ok(whereisGlobal("dup2", t)?.equals(onS));
    assert.ok(t.isAlive(onT));
  });

  test("a hidden node takes no part in global", async () => {
    const v = await start("gpv@localhost");
    const h = await start("gph@localhost", true);
    await h.connect("gpv@localhost");
    await syncGlobal(undefined, { node: h });
    await syncGlobal(undefined, { node: v });
    const pid = idle(v);
    await registerGlobal("visible_only", pid, { node: v });
    await sleep(100);
    assert.equal(whereisGlobal("visible_only", h), undefined);
    assert.deepEqual(globalSyncedNodes(v), []);
    assert.deepEqual(globalSyncedNodes(h), []);
  });
});
