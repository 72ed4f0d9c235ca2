/**
 * Modules for the task tests' and bench's peer nodes (see node/peer.ts):
 * the seed's Chat application — `Chat.TaskSupervisor` under
 * `Chat.Supervisor`, `Chat.receive_message/1`, the moebi responder — and
 * the `TaskBench` workloads that tests/bench_tasks.ts drives.
 *
 * @module
 */
import { atom, currentNode, type Node, puts, receive } from "../node/mod.ts";
import { Application, Task, TaskSupervisor } from "../task/mod.ts";

const SUP = "Elixir.Chat.TaskSupervisor";
const BENCH_SUP = "Elixir.Bench.TaskSupervisor";

/** `Chat.send_message/2`: a task on the recipient's supervisor, awaited. */
export function sendMessage(
  recipient: string,
  message: string,
): Promise<unknown> {
  const [mod, fun, args] = recipient.startsWith("moebi@")
    ? ["Elixir.Chat", "receive_message_for_moebi", [
      message,
      atom(currentNode().name),
    ]]
    : ["Elixir.Chat", "receive_message", [message]];
  return Task.await(
    TaskSupervisor.async([SUP, recipient], mod, fun, args as unknown[]),
    10_000,
  );
}

export default async function setup(node: Node): Promise<void> {
  node.defineModule("Elixir.Chat", {
    receive_message: (message: string) => {
      puts(message);
      return atom("ok");
    },
    receive_message_for_moebi: (message: string, from: unknown) => {
      puts(message);
      return sendMessage(String(from), "chicken?");
    },
    send_message: (recipient: unknown, message: string) =>
      sendMessage(String(recipient), message),
    // Waits in receive: the timer goes when the process is killed.
    sleep: (ms: number) => receive(() => false, ms).catch(() => "slept"),
    node_name: () => atom(node.name),
    echo: (x: unknown) => x,
  });
  await Application.start(node, "chat", {
    children: [
      [TaskSupervisor, { name: SUP }],
      [TaskSupervisor, { name: BENCH_SUP }],
    ],
    strategy: "one_for_one",
    name: "Elixir.Chat.Supervisor",
  });
  node.defineModule("TaskBench", {
    echo: (x: unknown) => x,
    /** `n` remote async + await, one at a time; tasks per second. */
    async seq(sup: unknown, peer: unknown, n: number) {
      const target = [String(sup), String(peer)] as const;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        await Task.await(
          TaskSupervisor.async(target, "Elixir.Chat", "echo", [i]),
        );
      }
      return n / ((performance.now() - t0) / 1000);
    },
    /** `n` remote async + await, `width` in flight at a time; tasks per second. */
    async flight(sup: unknown, peer: unknown, n: number, width: number) {
      const target = [String(sup), String(peer)] as const;
      const t0 = performance.now();
      for (let done = 0; done < n; done += width) {
        const tasks = [];
        for (let i = 0; i < width; i++) {
          tasks.push(TaskSupervisor.async(target, "Elixir.Chat", "echo", [i]));
        }
        await Task.awaitMany(tasks, 60_000);
      }
      return n / ((performance.now() - t0) / 1000);
    },
  });
}
