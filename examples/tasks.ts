/**
 * Distributed tasks: a `Task.Supervisor` on kate runs work alex asks for,
 * as Elixir's `Task.Supervisor.async({Sup, node}, M, F, A)` and
 * `Task.await`; a local `Task.async` beside it.
 *
 *   deno run -A examples/tasks.ts
 *   node --import tsx examples/tasks.ts
 *
 * @module
 */
// In your project: from "noderl" (npm) or "jsr:@noderl/noderl" (Deno).
import {
  startNode,
  startRegistry,
  Task,
  TaskSupervisor,
  withArity,
} from "../mod.ts";

await using registry = await startRegistry({ port: 0 });
const options = { cookie: "tasks", registryPort: registry.port };
await using alex = await startNode({ name: "alex@localhost", ...options });
await using kate = await startNode({ name: "kate@localhost", ...options });

kate.defineModule("Math", {
  square: (x: number) => x * x,
  // An optional argument: Math.power/1 and Math.power/2.
  power: withArity([1, 2], (x: number, n = 2) => x ** n),
});
await TaskSupervisor.start(kate, { name: "Math.TaskSupervisor" });

const where = ["Math.TaskSupervisor", "kate@localhost"] as const;
const squares = await Promise.all(
  [1, 2, 3].map((x) =>
    Task.await(TaskSupervisor.async([...where], "Math", "square", [x]))
  ),
);
console.log(`squares on kate: ${squares.join(", ")}`);
console.log(
  `2 ** 10 on kate: ${await Task.await(
    TaskSupervisor.async([...where], "Math", "power", [2, 10]),
  )}`,
);
const local = Task.async(() => `ran on ${alex.name}`);
console.log(await Task.await(local));
