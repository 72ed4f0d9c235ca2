/**
 * The seed's chat: `sendMessage` runs `Chat.receive_message` as a supervised
 * task on the recipient's node, where the message is printed; messages to a
 * node named `moebi` are answered with `chicken?`. The module and supervisor
 * carry the Elixir names (`Elixir.Chat`, `Elixir.Chat.TaskSupervisor`), so
 * noderl chat nodes and the seed's Elixir chat nodes talk to each other.
 *
 * @module
 */
import type { Node } from "../node/node.ts";
import { currentNode, puts } from "../node/process_api.ts";
import { type Atom, atom, type Pid } from "../node/terms.ts";
import { Application } from "../task/application.ts";
import { Task } from "../task/task.ts";
import { TaskSupervisor } from "../task/task_supervisor.ts";

/** The chat module's name (Elixir's `Chat`). */
export const CHAT_MODULE = "Elixir.Chat";
/** The task supervisor every chat node runs (Elixir's `Chat.TaskSupervisor`). */
export const CHAT_SUPERVISOR = "Elixir.Chat.TaskSupervisor";

/** Where a task for `recipient` runs: a supervisor name or `[name, node]`. */
export type RemoteSupervisor = (recipient: string) => string | [string, string];

/** The default (`config/dev.exs`): the recipient's own Chat.TaskSupervisor. */
export const remoteSupervisorDev: RemoteSupervisor = (
  recipient: string,
): [string, string] => [CHAT_SUPERVISOR, recipient];
/** The test configuration (`config/test.exs`): the local Chat.TaskSupervisor. */
export const remoteSupervisorTest: RemoteSupervisor = (): string =>
  CHAT_SUPERVISOR;

/**
 * Starts the chat application on `node` (the seed's `Chat.Application`: a
 * `Chat.TaskSupervisor` under `Chat.Supervisor`) and defines the `Chat`
 * module others call. Resolves with the top supervisor's pid.
 *
 * @example
 * ```ts
 * import { startRegistry } from "../node/registry.ts";
 * import { startNode } from "../node/node.ts";
 * import { atom } from "../node/terms.ts";
 * import { sendMessage, startChat } from "./chat.ts";
 * import assert from "node:assert/strict";
 *
 * const registry = await startRegistry({ port: 0 });
 * const printed: string[] = [];
 * const alex = await startNode({ name: "alex_doc@localhost", cookie: "c", registryPort: registry.port });
 * const kate = await startNode({
 *   name: "kate_doc@localhost", cookie: "c", registryPort: registry.port,
 *   stdout: (text) => printed.push(text),
 * });
 * await startChat(alex);
 * await startChat(kate);
 * assert.equal(await sendMessage("kate_doc@localhost", "hi"), atom("ok"));
 * assert.deepEqual(printed, ["hi\n"]);
 * await alex.stop();
 * await kate.stop();
 * await registry.close();
 * ```
 */
export async function startChat(node: Node): Promise<Pid> {
  node.defineModule(CHAT_MODULE, {
    receive_message: (message: unknown) => receiveMessage(message),
    receive_message_for_moebi: (message: unknown, from: Atom | string) =>
      receiveMessageForMoebi(message, String(from)),
    send_message: (recipient: Atom | string, message: unknown) =>
      sendMessage(String(recipient), message),
  });
  return await Application.start(node, "chat", {
    children: [[TaskSupervisor, { name: CHAT_SUPERVISOR }]],
    strategy: "one_for_one",
    name: "Elixir.Chat.Supervisor",
    env: { remote_supervisor: remoteSupervisorDev },
  });
}

/** Whether `recipient` is Moebi, the dog who answers everything with `chicken?`. */
export function isMoebi(recipient: string): boolean {
  return recipient.split("@")[0] === "moebi";
}

/**
 * Sends `message` to the chat node `recipient` (`"kate@localhost"`): a task
 * under the supervisor chosen by the `chat` application's
 * `remote_supervisor` setting prints it there. To Moebi, the message also
 * brings back a `chicken?`. Resolves with `ok` once it was printed.
 */
export async function sendMessage(
  recipient: string,
  message: unknown,
): Promise<unknown> {
  if (isMoebi(recipient)) {
    return await spawnTask(
      CHAT_MODULE,
      "receive_message_for_moebi",
      recipient,
      [
        message,
        atom(currentNode().name),
      ],
    );
  }
  return await spawnTask(CHAT_MODULE, "receive_message", recipient, [message]);
}

/** Prints a received message (on the node whose task runs it). Returns `ok`. */
export function receiveMessage(message: unknown): Atom {
  puts(typeof message === "string" ? message : String(message));
  return atom("ok");
}

/** Moebi's side: print the message, then answer the sender with `chicken?`. */
export async function receiveMessageForMoebi(
  message: unknown,
  from: string,
): Promise<unknown> {
  receiveMessage(message);
  return await sendMessage(from, "chicken?");
}

async function spawnTask(
  mod: string,
  fun: string,
  recipient: string,
  args: unknown[],
): Promise<unknown> {
  const remoteSupervisor =
    Application.getEnv<RemoteSupervisor>("chat", "remote_supervisor") ??
      remoteSupervisorDev;
  const task = TaskSupervisor.async(
    remoteSupervisor(recipient),
    mod,
    fun,
    args,
  );
  return await Task.await(task);
}
