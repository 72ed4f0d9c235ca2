import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ExitError } from "./errors.ts";
import { type Node, startNode } from "./node.ts";
import { receive, send, sendAfter, sleep } from "./process_api.ts";
import { type Registry, startRegistry } from "./registry.ts";
import { atom } from "./terms.ts";

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
