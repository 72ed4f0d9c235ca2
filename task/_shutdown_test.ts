/**
 * The child-shutdown routine both supervisors use (_shutdown.ts), on a
 * real node: a supervisor process with a mailbox and one with a handler,
 * children that stop, refuse to stop, are killed at once, or are gone
 * already.
 *
 * @module
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startRegistry } from "../node/registry.ts";
import { type Node, startNode } from "../node/node.ts";
import type { Process } from "../node/process.ts";
import { receive, trapExit } from "../node/process_api.ts";
import { Atom, atom, Tuple, tuple } from "../node/terms.ts";
import {
  checkShutdown,
  DownWaiters,
  receiveDown,
  shutdownChild,
  shutdownOfTerm,
  shutdownTerm,
} from "./_shutdown.ts";

test("shutdown values: numbers ≥ 0, infinity, brutal_kill (atoms too); a RangeError for the rest", () => {
  assert.equal(checkShutdown(0, "x"), 0);
  assert.equal(checkShutdown(250, "x"), 250);
  assert.equal(checkShutdown("infinity", "x"), "infinity");
  assert.equal(checkShutdown(atom("brutal_kill"), "x"), "brutal_kill");
  assert.equal(shutdownOfTerm(null, "x"), 5000);
  assert.equal(shutdownOfTerm(undefined, "x"), 5000);
  assert.equal(shutdownTerm(100), 100);
  assert.equal(shutdownTerm("infinity"), Atom.of("infinity"));
  for (const bad of [-1, Number.NaN, "forever", atom("soon"), null, {}]) {
    assert.throws(
      () => checkShutdown(bad, "child w"),
      (e: Error) =>
        e instanceof RangeError &&
        /child w: shutdown must be a number of ms ≥ 0, "infinity" or "brutal_kill"/
          .test(e.message),
      String(bad),
    );
  }
});

describe("shutdownChild", () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let node: Node;

  before(async () => {
    registry = await startRegistry({ port: 0 });
    node = await startNode({
      name: "shutdowns@localhost",
      cookie: "sd",
      registryPort: registry.port,
    });
  });

  after(async () => {
    await node?.stop();
    await registry?.close();
  });

  /** A supervisor-like process (trapping exits) and a way to wait for DOWNs. */
  function supervisor(kind: "mailbox" | "handler") {
    const sup = node.spawnLocal(
      node.shell,
      () => new Promise<void>(() => {}),
      { label: `${kind} supervisor` },
    );
    sup.trapExit = true;
    if (kind === "mailbox") return { sup, awaitDown: receiveDown(sup) };
    const downs = new DownWaiters();
    sup.handler = (m) => downs.take(m);
    return { sup, awaitDown: downs.wait };
  }

  /** A child linked to `sup`: it stops on `shutdown` unless stubborn. */
  function child(sup: Process, stubborn = false): Process {
    return node.spawnLocal(sup, async () => {
      trapExit(true);
      for (;;) {
        const m = await receive();
        if (!stubborn && m instanceof Tuple && m[0] === atom("EXIT")) return;
      }
    }, { link: true });
  }

  for (const kind of ["mailbox", "handler"] as const) {
    test(`${kind}: a stop within the time, a kill after it, brutal_kill, infinity, gone already`, async () => {
      const { sup, awaitDown } = supervisor(kind);
      await new Promise((r) => setImmediate(r));

      const polite = child(sup);
      await new Promise((r) => setImmediate(r));
      await shutdownChild(node, sup, polite.pid, 1000, awaitDown);
      assert.equal(await polite.exited, atom("normal"));
      assert.equal(sup.links.has(polite.pid.key), false, "unlinked");

      const stubborn = child(sup, true);
      await new Promise((r) => setImmediate(r));
      const t0 = performance.now();
      await shutdownChild(node, sup, stubborn.pid, 60, awaitDown);
      assert.ok(performance.now() - t0 >= 55, "waited for its 60 ms");
      assert.equal(await stubborn.exited, atom("killed"));

      const brutal = child(sup);
      await new Promise((r) => setImmediate(r));
      await shutdownChild(node, sup, brutal.pid, "brutal_kill", awaitDown);
      assert.equal(await brutal.exited, atom("killed"), "no shutdown signal");

      const patient = child(sup);
      await new Promise((r) => setImmediate(r));
      await shutdownChild(node, sup, patient.pid, "infinity", awaitDown);
      assert.equal(await patient.exited, atom("normal"));

      const gone = child(sup);
      node.exitFrom(node.shell, gone.pid, atom("kill"));
      await gone.exited;
      await shutdownChild(node, sup, gone.pid, 1000, awaitDown);

      assert.equal(sup.monitoring.size, 0, "no monitor left");
      assert.equal(sup.links.size, 0, "no link left");
      assert.equal(sup.messageCount, 0, "no EXIT or DOWN left behind");
      node.exitFrom(node.shell, sup.pid, atom("kill"));
    });
  }

  test("an EXIT from the child already in the mailbox is dropped", async () => {
    const { sup, awaitDown } = supervisor("mailbox");
    const c = child(sup);
    await new Promise((r) => setImmediate(r));
    sup.deliver(tuple(atom("EXIT"), c.pid, atom("early")));
    assert.equal(sup.messageCount, 1);
    await shutdownChild(node, sup, c.pid, 1000, awaitDown);
    assert.equal(sup.messageCount, 0);
    node.exitFrom(node.shell, sup.pid, atom("kill"));
  });
});
