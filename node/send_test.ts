import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ExitError } from "./errors.ts";
import { type Node, startNode } from "./node.ts";
import {
  monitor,
  receive,
  self,
  send,
  sendAfter,
  sleep,
} from "./process_api.ts";
import { type Registry, startRegistry } from "./registry.ts";
import { atom, type Pid, Tuple, tuple } from "./terms.ts";

describe("send to a name, as Erlang's `Name ! Msg`", () => {
  let registry: Registry;
  let alex: Node;
  let kate: Node;
  const logs: string[] = [];

  before(async () => {
    registry = await startRegistry({ port: 0 });
    const o = { cookie: "send", registryPort: registry.port };
    alex = await startNode({
      name: "alex_send@localhost",
      ...o,
      log: (m) => logs.push(m),
    });
    kate = await startNode({ name: "kate_send@localhost", ...o });
  });

  after(async () => {
    await kate?.stop();
    await alex?.stop();
    await registry?.close();
  });

  test("a message sent in fragments is not overtaken by later ones from the same sender", async () => {
    // Found by tests/soak_mixed.ts: a message over 64 KB went out in
    // fragments on a later turn, and the small ones sent after it arrived
    // first.
    kate.defineModule("Order", {
      async first_tags(parent: Pid, n: number) {
        const tags = [];
        for (let i = 0; i < n; i++) tags.push((await receive() as Tuple)[0]);
        send(parent, tuple(atom("tags"), tags));
      },
    });
    for (const size of [70_000, 200_000, 1_000_000]) {
      const pid = await alex.spawnRemote(
        "kate_send@localhost",
        "Order",
        "first_tags",
        [self(), 4],
      );
      send(pid, tuple(atom("big1"), "x".repeat(size)));
      send(pid, tuple(atom("small1")));
      send(pid, tuple(atom("big2"), "y".repeat(size / 2)));
      send(pid, tuple(atom("small2")));
      const got = await receive(
        (m) => m instanceof Tuple && m[0] === atom("tags"),
        10_000,
      ) as Tuple;
      assert.deepEqual(
        (got[1] as unknown[]).map(String),
        ["big1", "small1", "big2", "small2"],
        `${size} bytes`,
      );
    }
  });

  test("a process's DOWN comes after the big message it sent before dying", async () => {
    kate.defineModule("Order", {
      async watch(parent: Pid) {
        const [, p] = await receive((m) =>
          m instanceof Tuple && m[0] === atom("watch")
        ) as Tuple;
        monitor(p as Pid);
        send(p as Pid, atom("go"));
        const tags = [];
        for (let i = 0; i < 2; i++) tags.push((await receive() as Tuple)[0]);
        send(parent, tuple(atom("tags"), tags));
      },
    });
    const w = await alex.spawnRemote("kate_send@localhost", "Order", "watch", [
      self(),
    ]);
    const p = alex.spawn(async () => {
      await receive((m) => m === atom("go"));
      send(w, tuple(atom("big"), "x".repeat(300_000)));
      throw new Error("done"); // exits, abnormally
    });
    send(w, tuple(atom("watch"), p));
    const got = await receive(
      (m) => m instanceof Tuple && m[0] === atom("tags"),
      10_000,
    ) as Tuple;
    assert.deepEqual((got[1] as unknown[]).map(String), ["big", "DOWN"]);
  });

  test("a local name nobody holds is badarg", () => {
    for (const dest of ["nobody", atom("nobody")]) {
      assert.throws(
        () => send(dest, "hi"),
        (e: unknown) => {
          assert.ok(e instanceof ExitError);
          assert.equal(e.reason, atom("badarg"));
          assert.match(
            e.message,
            /cannot send to nobody: no process is registered under that name on alex_send@localhost/,
          );
          return true;
        },
      );
      assert.throws(() => alex.send(dest, "hi"), /badarg/);
    }
  });

  test("a registered local name gets the message; a dead one is badarg", async () => {
    const pid = alex.spawn(async () => {
      await receive((m) => m === "stop");
    });
    alex.register("briefly", pid);
    send("briefly", "stop");
    await alex.processOf(pid)!.exited;
    assert.throws(() => send("briefly", "again"), /badarg/);
  });

  test("[name, node] stays silent, on this node or another", () => {
    send(["nobody", "alex_send@localhost"], "hi");
    send(["nobody", "kate_send@localhost"], "hi");
    send([atom("nobody"), atom("nowhere@localhost")], "hi");
  });

  test("sendAfter to a name nobody holds drops the message silently", async () => {
    const before = logs.length;
    sendAfter("nobody", "hi", 1);
    await sleep(30);
    assert.deepEqual(logs.slice(before), []);
  });
});
