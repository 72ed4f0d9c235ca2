/**
 * The seed's chat: three nodes run the chat application (a
 * `Chat.TaskSupervisor` under `Chat.Supervisor`); a message to another
 * node runs `Chat.receive_message` there in a supervised task, and moebi
 * answers everything with `chicken?`.
 *
 *   deno run -A examples/chat.ts
 *   node --import tsx examples/chat.ts
 *
 * The interactive version of this is the `noderl-chat` command.
 *
 * @module
 */
// In your project: from "noderl" and "noderl/chat" (npm), or
// "jsr:@noderl/noderl" and "jsr:@noderl/noderl/chat" (Deno).
import process from "node:process";
import { startNode, startRegistry } from "../mod.ts";
import { sendMessage, startChat } from "../chat/mod.ts";

await using registry = await startRegistry({ port: 0 });
// Three nodes in one script: each prints with its name in front.
const chatNode = async (name: string) => {
  const node = await startNode({
    name: `${name}@localhost`,
    cookie: "chat",
    registryPort: registry.port,
    stdout: (text) => process.stdout.write(`[${name}] ${text}`),
  });
  await startChat(node);
  return node;
};
await using alex = await chatNode("alex"); // the script's node: it sends
await using kate = await chatNode("kate");
await using moebi = await chatNode("moebi");

await sendMessage("kate@localhost", "hi kate"); // printed by kate
await sendMessage("moebi@localhost", "hi moebi"); // moebi answers alex
console.log(`done: ${[alex, kate, moebi].map((n) => n.name).join(", ")}`);
