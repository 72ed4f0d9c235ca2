// What supervisors log about their children: a crash is one report — the
// supervisor's, carrying the child's own — a restart one info line, and a
// supervisor that gives up one more report; normal and shutdown exits log
// nothing. Supervisor and TaskSupervisor.
import { after, before, beforeEach, test } from "node:test";
import assert from "node:assert/strict";
import { startRegistry } from "../node/registry.ts";
import { type Node, startNode } from "../node/node.ts";
import { receive, sleep } from "../node/process_api.ts";
import { atom, type Pid } from "../node/terms.ts";
import { Supervisor } from "./supervisor.ts";
import { TaskSupervisor } from "./task_supervisor.ts";

let registry: Awaited<ReturnType<typeof startRegistry>>;
let node: Node;
const logs: Array<{ level: string; message: string }> = [];

before(async () => {
  registry = await startRegistry({ port: 0 });
  node = await startNode({
    name: "reports@localhost",
    cookie: "c",
    registryPort: registry.port,
    log: (message, level) => logs.push({ level, message }),
  });
});

after(async () => {
  await node.stop();
  await registry.close();
});

beforeEach(() => {
  logs.length = 0;
});

const of = (level: string) => logs.filter((l) => l.level === level);

async function until(what: string, check: () => boolean) {
  for (let i = 0; !check(); i++) {
    if (i > 300) assert.fail(`not true in time: ${what}`);
    await sleep(10);
  }
}

test("a worker that throws: one report, the supervisor's with the child's; one restart", async () => {
  let runs = 0;
  const sup = await Supervisor.start(node, [
    Supervisor.worker("flaky", async function flaky() {
      if (++runs === 1) {
        await sleep(5);
        throw new RangeError("flaky failed");
      }
      await receive();
    }),
  ], { name: "Elixir.Flaky.Supervisor" });
  await until("restarted", () => runs === 2);
  await sleep(20);
  assert.equal(of("error").length, 1, JSON.stringify(logs));
  const r = of("error")[0].message;
  assert.match(
    r,
    /^Child flaky of Supervisor Elixir\.Flaky\.Supervisor terminated \(#PID<reports@localhost\.\d+\.\d+>\), restart: permanent\nError in process #PID<reports@localhost\.\d+\.\d+> on node reports@localhost with exit value:\n\*\* \(RangeError\) flaky failed\n\s+at flaky /,
  );
  assert.equal(of("info").length, 1);
  assert.match(
    of("info")[0].message,
    /^Child flaky of Supervisor Elixir\.Flaky\.Supervisor restarted as #PID</,
  );
  await Supervisor.stop(sup);
  assert.equal(of("error").length, 1, "a normal stop reports nothing");
});

test("an exit signal to a child: the supervisor reports the reason (the child made no report)", async () => {
  const sup = await Supervisor.start(node, [
    Supervisor.worker("victim", () => receive()),
  ]);
  const [c] = await Supervisor.whichChildren(sup);
  node.exit(c.pid as Pid, atom("boom"));
  await until("reported", () => of("error").length === 1);
  assert.match(
    of("error")[0].message,
    /^Child victim of Supervisor #PID<.*> terminated \(#PID<.*>\), restart: permanent\n\*\* \(exit\) boom$/,
  );
  await Supervisor.stop(sup);
});

test("too many restarts: the supervisor says it gives up", async () => {
  const sup = await Supervisor.start(node, [
    Supervisor.worker("doomed", () => {
      throw new Error("always");
    }),
  ], { maxRestarts: 2, maxSeconds: 5, name: "Elixir.Doomed" });
  await until("gone", () => !node.isAlive(sup));
  await sleep(10);
  const errors = of("error").map((l) => l.message);
  assert.equal(errors.filter((m) => /^Child doomed/.test(m)).length, 3);
  assert.deepEqual(
    errors.filter((m) => /^Supervisor/.test(m)),
    [
      "Supervisor Elixir.Doomed shutting down: reached max restart intensity (more than 2 restarts in 5 s)",
    ],
  );
});

test("a task supervisor's task that throws: one report", async () => {
  const sup = await TaskSupervisor.start(node, {
    name: "Elixir.Reports.Tasks",
  });
  await TaskSupervisor.startChild(sup, function doomedTask() {
    throw new TypeError("the task failed");
  });
  await until("reported", () => of("error").length === 1);
  await sleep(20);
  assert.equal(of("error").length, 1);
  assert.match(
    of("error")[0].message,
    /^Child a task of Supervisor Elixir\.Reports\.Tasks terminated \(#PID<.*>\), restart: temporary\nError in process .*\n\*\* \(TypeError\) the task failed/,
  );
  await TaskSupervisor.startChild(sup, () => "fine");
  await sleep(20);
  assert.equal(of("error").length, 1, "a task that returns reports nothing");
});
