/**
 * Application (application.ts) on a real node: the seed's Chat
 * application, and the application environment loaded per environment.
 *
 * @module
 */
import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { startRegistry } from "../node/registry.ts";
import { type Node, startNode } from "../node/node.ts";
import { atom, Pid } from "../node/terms.ts";
import { Application } from "./application.ts";
import { Supervisor } from "./supervisor.ts";
import { Task } from "./task.ts";
import { TaskSupervisor } from "./task_supervisor.ts";
import { test } from "../testing/mod.ts";

describe("Application", () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let node: Node;

  before(async () => {
    registry = await startRegistry({ port: 0 });
    node = await startNode({
      name: "apps@localhost",
      cookie: "apps",
      registryPort: registry.port,
    });
  });

  after(async () => {
    await node?.stop();
    await registry?.close();
  });

  const pidOf = async (sup: Pid | string, id: string) =>
    (await Supervisor.whichChildren(sup, { node })).find((c) => c.id === id)!
      .pid as Pid;

  test(
    "the seed's Chat.Application: a Task.Supervisor named Chat.TaskSupervisor under Chat.Supervisor",
    {},
    async () => {
      node.defineModule("Elixir.Chat", {
        receive_message: (m: string) => `got ${m}`,
      });
      const sup = await Application.start(node, "chat", {
        children: [[TaskSupervisor, { name: "Elixir.Chat.TaskSupervisor" }]],
        strategy: "one_for_one",
        name: "Elixir.Chat.Supervisor",
        env: { greeting: "hello" },
      });
      assert.ok(node.whereis("Elixir.Chat.Supervisor")?.equals(sup));
      assert.deepEqual(
        (await Supervisor.whichChildren("Elixir.Chat.Supervisor", { node }))
          .map((
            c,
          ) => [c.id, c.type]),
        [["Elixir.Chat.TaskSupervisor", "supervisor"]],
      );
      assert.deepEqual(Application.started(node).map((a) => a.app), ["chat"]);
      assert.equal(Application.getEnv("chat", "greeting"), "hello");
      await assert.rejects(
        Application.start(node, "chat", { children: [] }),
        /already started/,
      );
      const task = TaskSupervisor.async(
        ["Elixir.Chat.TaskSupervisor", node.name],
        "Elixir.Chat",
        "receive_message",
        ["hi"],
        { node },
      );
      assert.equal(await Task.await(task), "got hi");
      // The task supervisor is restarted by Chat.Supervisor if it dies.
      const ts = node.whereis("Elixir.Chat.TaskSupervisor")!;
      node.exit(ts, atom("kill"));
      const again = await pidOf(
        "Elixir.Chat.Supervisor",
        "Elixir.Chat.TaskSupervisor",
      );
      assert.ok(again instanceof Pid && !again.equals(ts));
      assert.ok(node.whereis("Elixir.Chat.TaskSupervisor")?.equals(again));
      assert.equal(await Application.stop(node, "chat"), true);
      assert.equal(node.isAlive(sup), false);
      assert.equal(node.whereis("Elixir.Chat.TaskSupervisor"), undefined);
      assert.equal(await Application.stop(node, "chat"), false);
      Application.deleteEnv("chat", "greeting");
    },
  );

  test(
    "the application environment per environment (config/dev.exs, config/test.exs)",
    {},
    () => {
      const config = {
        all: { chat: { greeting: "hi", retries: 1 } },
        dev: {
          chat: {
            remoteSupervisor: (r: string) => ["Elixir.Chat.TaskSupervisor", r],
          },
        },
        test: {
          chat: {
            remoteSupervisor: (_r: string) => "Elixir.Chat.TaskSupervisor",
            retries: 0,
          },
        },
      };
      assert.equal(Application.loadConfig(config, { env: "dev" }), "dev");
      const dev = Application.fetchEnv<(r: string) => unknown>(
        "chat",
        "remoteSupervisor",
      );
      assert.deepEqual(dev("kate@localhost"), [
        "Elixir.Chat.TaskSupervisor",
        "kate@localhost",
      ]);
      assert.equal(Application.getEnv("chat", "retries"), 1);
      assert.equal(Application.loadConfig(config, { env: "test" }), "test");
      assert.equal(Application.environment(), "test");
      const testEnv = Application.fetchEnv<(r: string) => unknown>(
        "chat",
        "remoteSupervisor",
      );
      assert.equal(testEnv("kate@localhost"), "Elixir.Chat.TaskSupervisor");
      assert.equal(Application.getEnv("chat", "retries"), 0);
      assert.equal(Application.getEnv("chat", "greeting"), "hi");
      // NODERL_ENV chooses when no env is given.
      const saved = process.env.NODERL_ENV;
      process.env.NODERL_ENV = "dev";
      try {
        assert.equal(Application.loadConfig(config), "dev");
      } finally {
        if (saved === undefined) delete process.env.NODERL_ENV;
        else process.env.NODERL_ENV = saved;
      }
      assert.equal(Application.getEnv("chat", "missing", 42), 42);
      assert.throws(
        () => Application.fetchEnv("chat", "missing"),
        /application chat has no environment value missing in environment dev: set it with Application.putEnv\("chat", "missing", value\)/,
      );
      Application.putEnv("chat", "missing", null);
      assert.equal(Application.fetchEnv("chat", "missing"), null);
      assert.ok(Application.hasEnv("chat", "missing"));
      assert.deepEqual(
        Object.keys(Application.getAllEnv("chat")).sort(),
        ["greeting", "missing", "remoteSupervisor", "retries"],
      );
      for (const k of Object.keys(Application.getAllEnv("chat"))) {
        Application.deleteEnv("chat", k);
      }
      assert.deepEqual(Application.getAllEnv("chat"), {});
    },
  );
});
