import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startRegistry } from "../node/registry.ts";
import { type Node, startNode } from "../node/node.ts";
import { ExitError } from "../node/errors.ts";
import { atom } from "../node/terms.ts";
import { Application } from "../task/application.ts";
import {
  remoteSupervisorDev,
  remoteSupervisorTest,
  sendMessage,
  startChat,
} from "./chat.ts";

const waitFor = async (f: () => boolean, ms = 3000) => {
  const deadline = Date.now() + ms;
  while (!f() && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
  }
  return f();
};

describe("chat between alex, kate and moebi", () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  const out: Record<string, string[]> = { alex: [], kate: [], moebi: [] };
  const nodes: Record<string, Node> = {};

  before(async () => {
    Application.putEnv("chat", "remote_supervisor", remoteSupervisorDev);
    registry = await startRegistry({ port: 0 });
    for (const name of ["alex", "kate", "moebi"]) {
      nodes[name] = await startNode({
        name: `${name}@localhost`,
        cookie: "chat",
        registryPort: registry.port,
        stdout: (t) => out[name].push(t),
      });
      await startChat(nodes[name]);
    }
  });

  after(async () => {
    for (const n of Object.values(nodes)) await n.stop();
    await registry.close();
    Application.deleteEnv("chat", "remote_supervisor");
  });

  test("alex sends kate a message; it prints on kate", async () => {
    assert.equal(await sendMessage("kate@localhost", "hi"), atom("ok"));
    assert.deepEqual(out.kate, ["hi\n"]);
    assert.deepEqual(out.alex, []);
  });

  test("kate answers alex", async () => {
    await nodes.kate.spawn(async () => {
      await sendMessage("alex@localhost", "how are you?");
    });
    assert.ok(
      await waitFor(() => out.alex.includes("how are you?\n")),
      JSON.stringify(out.alex),
    );
  });

  test("moebi answers every message with chicken?", async () => {
    assert.equal(await sendMessage("moebi@localhost", "hi"), atom("ok"));
    assert.deepEqual(out.moebi, ["hi\n"]);
    assert.ok(out.alex.includes("chicken?\n"), JSON.stringify(out.alex));
    assert.ok(!out.kate.includes("chicken?\n"), "sorry kate");
  });

  test("a node that is not there: noconnection", async () => {
    await assert.rejects(
      sendMessage("nobody@localhost", "hello?"),
      (e: unknown) =>
        e instanceof ExitError && e.reason === atom("noconnection"),
    );
  });
});

describe("chat under the test configuration (config/test.exs)", () => {
  test("tasks run on the local Chat.TaskSupervisor: no moebi node needed", async () => {
    const registry = await startRegistry({ port: 0 });
    const printed: string[] = [];
    const alex = await startNode({
      name: "alex_t@localhost",
      cookie: "chat",
      registryPort: registry.port,
      stdout: (t) => printed.push(t),
    });
    Application.loadConfig({
      dev: { chat: { remote_supervisor: remoteSupervisorDev } },
      test: { chat: { remote_supervisor: remoteSupervisorTest } },
    }, { env: "test" });
    try {
      await startChat(alex);
      // As the seed's ChatTest: send_message(:moebi@localhost, "hi") == :ok, locally.
      assert.equal(await sendMessage("moebi@localhost", "hi"), atom("ok"));
      assert.deepEqual(printed, ["hi\n", "chicken?\n"]);
    } finally {
      Application.deleteEnv("chat", "remote_supervisor");
      await alex.stop();
      await registry.close();
    }
  });
});
