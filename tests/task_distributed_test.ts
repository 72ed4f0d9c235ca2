/**
 * Tasks between OS processes: noderl peers (node/peer.ts) running the
 * seed's Chat application (tests/_task_peer.ts) — `send_message` through
 * `Task.Supervisor.async({Chat.TaskSupervisor, recipient}, …) |>
 * Task.await()`, the moebi responder answering back with a task of its own
 * — and a peer killed with SIGKILL in the middle of a task.
 *
 * @module
 */
import assert from "node:assert/strict";
import { startPeers } from "../node/peer.ts";
import { NoConnectionError } from "../node/errors.ts";
import { atom } from "../node/terms.ts";
import { Task, TaskSupervisor } from "../task/mod.ts";
import { hubFor } from "../task/_hub.ts";
import setupChat, { sendMessage } from "./_task_peer.ts";
import { excludeUnlessDistributed, test } from "../testing/mod.ts";

await excludeUnlessDistributed();

const modules = new URL("./_task_peer.ts", import.meta.url);
const distributed = { tags: ["distributed"], timeout: 90_000 };
const SUP = "Elixir.Chat.TaskSupervisor";

test(
  "the seed's Chat across OS processes: send_message to kate, and moebi's chicken? back",
  distributed,
  async () => {
    const cluster = await startPeers({ peers: ["kate", "moebi"], modules });
    try {
      const out: string[] = [];
      const alex = await cluster.startNode({
        name: "alex",
        stdout: (t) => out.push(t),
      });
      await setupChat(alex);
      const kate = cluster.peer("kate"), moebi = cluster.peer("moebi");
      // Chat.send_message(:kate@localhost, "hi") from alex.
      assert.equal(await sendMessage("kate@localhost", "hi"), atom("ok"));
      await kate.waitForOutput(/^hi$/m, 10_000);
      assert.deepEqual(out, [], "the message printed on kate, not alex");
      assert.equal(hubFor(alex).knownFast("kate@localhost"), true);
      // Chat.send_message(:moebi@localhost, "hi"): moebi prints it and
      // answers with a task on alex's Chat.TaskSupervisor.
      assert.equal(await sendMessage("moebi@localhost", "hi"), atom("ok"));
      await moebi.waitForOutput(/^hi$/m, 10_000);
      assert.deepEqual(out, ["chicken?\n"]);
      assert.doesNotMatch(kate.output(), /chicken/);
      // Tasks started from a remote process under alex's supervisor: none left.
      assert.deepEqual(
        await TaskSupervisor.children(SUP, { node: alex }),
        [],
      );
    } finally {
      await cluster.stop();
    }
  },
);

test(
  "a peer killed with SIGKILL mid-task: the await fails with noconnection within 1 s",
  distributed,
  async () => {
    const cluster = await startPeers({ peers: ["kate"], modules });
    try {
      const alex = await cluster.startNode("alex");
      const kate = cluster.peer("kate");
      const task = TaskSupervisor.async(
        [SUP, "kate@localhost"],
        "Elixir.Chat",
        "sleep",
        [60_000],
        { node: alex },
      );
      assert.equal(await Task.yield(task, 300), undefined, "it runs");
      assert.equal(task.pid?.node, "kate@localhost");
      const t0 = performance.now();
      const failed = Task.await(task, 30_000).then(
        () => assert.fail("the task replied"),
        (e) => ({ e, ms: performance.now() - t0 }),
      );
      await kate.kill();
      const { e, ms } = await failed;
      assert.ok(e instanceof NoConnectionError, String(e));
      assert.match(e.message, /no connection to kate@localhost/);
      assert.ok(ms < 1000, `noconnection after ${ms.toFixed(0)} ms`);
      // A new task to the dead node fails the same way.
      await assert.rejects(
        Task.await(
          TaskSupervisor.async([SUP, "kate@localhost"], "Elixir.Chat", "echo", [
            1,
          ], { node: alex }),
        ),
        NoConnectionError,
      );
    } finally {
      await cluster.stop();
    }
  },
);
