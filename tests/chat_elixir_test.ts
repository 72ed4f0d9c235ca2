/**
 * The seed's Elixir Chat app and noderl's chat talk to each other: the
 * Elixir code below is the seed's, unchanged but for living in one file.
 */
import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import { startRegistry } from "../node/registry.ts";
import { type Node, startNode } from "../node/node.ts";
import { atom } from "../node/terms.ts";
import { Application } from "../task/application.ts";
import { remoteSupervisorDev, sendMessage, startChat } from "../chat/chat.ts";
import { type BeamNode, noElixir, startBeamNode } from "./_beam.ts";
import { test } from "./_tags.ts";

const CHAT_EX = `
defmodule Chat do
  def receive_message(message) do
    IO.puts(message)
  end

  def receive_message_for_moebi(message, from) do
    IO.puts(message)
    send_message(from, "chicken?")
  end

  def send_message(:"moebi@localhost", message) do
    spawn_task(__MODULE__, :receive_message_for_moebi, :"moebi@localhost", [message, Node.self()])
  end

  def send_message(recipient, message) do
    spawn_task(__MODULE__, :receive_message, recipient, [message])
  end

  def spawn_task(module, fun, recipient, args) do
    recipient
    |> remote_supervisor()
    |> Task.Supervisor.async(module, fun, args)
    |> Task.await()
  end

  defp remote_supervisor(recipient) do
    {Chat.TaskSupervisor, recipient}
  end
end

{:ok, _} = Supervisor.start_link([{Task.Supervisor, name: Chat.TaskSupervisor}],
  strategy: :one_for_one, name: Chat.Supervisor)
`;

const tags = ["beam", "elixir", "distributed"];

describe("noderl chat ↔ the seed's Elixir chat", {
  skip: noElixir || undefined,
}, () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let alex: Node, moebi: Node;
  let kate: BeamNode;
  const out: Record<string, string[]> = { alex: [], moebi: [] };
  const waitFor = async (f: () => boolean, ms = 5000) => {
    const deadline = Date.now() + ms;
    while (!f() && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    return f();
  };

  before(async () => {
    Application.putEnv("chat", "remote_supervisor", remoteSupervisorDev);
    registry = await startRegistry({ port: 0 });
    alex = await startNode({
      name: "alex@localhost",
      cookie: "chat",
      registryPort: registry.port,
      stdout: (t) => out.alex.push(t),
    });
    moebi = await startNode({
      name: "moebi@localhost",
      cookie: "chat",
      registryPort: registry.port,
      stdout: (t) => out.moebi.push(t),
    });
    await startChat(alex);
    await startChat(moebi);
    kate = await startBeamNode({
      name: "kate@localhost",
      cookie: "chat",
      registryPort: registry.port,
      elixir: CHAT_EX,
    });
  });

  after(async () => {
    await kate?.stop();
    await alex?.stop();
    await moebi?.stop();
    await registry?.close();
    Application.deleteEnv("chat", "remote_supervisor");
  });

  test("noderl alex → Elixir kate: printed on kate", { tags }, async () => {
    assert.equal(
      await sendMessage("kate@localhost", "hi from TypeScript"),
      atom("ok"),
    );
    await kate.waitFor(/hi from TypeScript/, 5000);
  });

  test("Elixir kate → noderl alex: Chat.send_message(:alex@localhost, …)", {
    tags,
  }, async () => {
    const r = await alex.call("kate@localhost", "Elixir.Chat", "send_message", [
      atom("alex@localhost"),
      "how are you?",
    ], 10_000);
    assert.equal(r, atom("ok"));
    assert.ok(
      await waitFor(() => out.alex.includes("how are you?\n")),
      JSON.stringify(out.alex),
    );
  });

  test(
    "Elixir kate → noderl moebi: chicken? comes back to kate",
    { tags },
    async () => {
      const r = await alex.call(
        "kate@localhost",
        "Elixir.Chat",
        "send_message",
        [atom("moebi@localhost"), "hi moebi"],
        10_000,
      );
      assert.equal(r, atom("ok"));
      assert.ok(out.moebi.includes("hi moebi\n"), JSON.stringify(out.moebi));
      await kate.waitFor(/chicken\?/, 5000);
    },
  );
});
