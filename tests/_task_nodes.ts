/**
 * What the task/ unit tests share: real nodes in this OS process on a
 * registry of their own — alex, kate (with task supervisors and kate's
 * output kept) and bob (no task supervisor) — and the checks they use.
 *
 * @module
 */
import assert from "node:assert/strict";
import { startRegistry } from "../node/registry.ts";
import { type Node, startNode } from "../node/node.ts";
import { puts, receive } from "../node/process_api.ts";
import { atom } from "../node/terms.ts";
import { TaskSupervisor } from "../task/task_supervisor.ts";
import { hubStats } from "../task/_hub.ts";

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> =>
  new Promise((r) => setTimeout(r, ms));

/** Never resolves (a task that runs until stopped). */
export const forever = (): Promise<never> => new Promise<never>(() => {});

/** Waits until `check()` holds, failing with `what` after `ms`. */
export async function eventually(
  what: string,
  check: () => boolean,
  ms = 5000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`not true within ${ms} ms: ${what}`);
    await sleep(5);
  }
}

/** Waits until the task hub of `node` holds nothing: no entry, alias, monitor or call. */
export function clean(node: Node): Promise<void> {
  return eventually(
    `the task hub of ${node.name} holds nothing (${
      JSON.stringify(hubStats(node))
    })`,
    () => {
      const s = hubStats(node);
      return s.entries === 0 && s.aliases === 0 && s.monitors === 0 &&
        s.calls === 0;
    },
  );
}

/** The nodes of {@linkcode startTaskNodes}. */
export interface TaskNodes {
  registry: Awaited<ReturnType<typeof startRegistry>>;
  alex: Node;
  kate: Node;
  bob: Node;
  /** What kate's processes printed. */
  kateOut: string[];
  /** Stops the nodes and the registry. */
  stop(): Promise<void>;
}

/**
 * Starts a registry and three nodes, `${prefix}alex`, `${prefix}kate` and
 * `${prefix}bob` (all `@localhost`, cookie `tasks`). alex and kate define
 * `Math` (`double`, `slow`, `forever`, `boom`); kate defines `Elixir.Chat`
 * and runs the task supervisors `Elixir.Chat.TaskSupervisor` and
 * `Elixir.Chat.Limited` (one task at most); alex runs
 * `Elixir.Alex.TaskSupervisor`. bob runs no task supervisor: Elixir's
 * protocol is used with him.
 */
export async function startTaskNodes(prefix: string): Promise<TaskNodes> {
  const registry = await startRegistry({ port: 0 });
  const kateOut: string[] = [];
  const started: Node[] = [];
  const start = async (name: string, stdout?: (t: string) => void) => {
    const node = await startNode({
      name: `${prefix}${name}@localhost`,
      cookie: "tasks",
      registryPort: registry.port,
      stdout,
    });
    started.push(node);
    return node;
  };
  const stop = async () => {
    for (const n of started) await n.stop();
    await registry.close();
  };
  let alex: Node, kate: Node, bob: Node;
  try {
    alex = await start("alex");
    kate = await start("kate", (t) => kateOut.push(t));
    bob = await start("bob");
  } catch (e) {
    await stop();
    throw e;
  }
  for (const n of [alex, kate]) {
    n.defineModule("Math", {
      double: (x: number) => x * 2,
      // Waits in receive: the timer goes when the process is killed.
      slow: (ms: number) => receive(() => false, ms).catch(() => "slow done"),
      forever,
      boom: () => {
        throw new TypeError("kate exploded");
      },
    });
  }
  kate.defineModule("Elixir.Chat", {
    receive_message: (m: string) => {
      puts(m);
      return atom("ok");
    },
  });
  await TaskSupervisor.start(kate, { name: "Elixir.Chat.TaskSupervisor" });
  await TaskSupervisor.start(kate, {
    name: "Elixir.Chat.Limited",
    maxChildren: 1,
  });
  await TaskSupervisor.start(alex, { name: "Elixir.Alex.TaskSupervisor" });
  return { registry, alex, kate, bob, kateOut, stop };
}
