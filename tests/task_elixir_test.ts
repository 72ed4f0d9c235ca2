/**
 * Task.Supervisor compatibility with real Elixir (1.14) both ways: an
 * Elixir node runs `Task.Supervisor.async({Sup, :"ts@localhost"}, M, F, A)
 * |> Task.await()` against a noderl task supervisor, and noderl runs
 * `TaskSupervisor.async([name, node], …)` on an Elixir node's
 * `Task.Supervisor`; failures as each side sees them; the Elixir node
 * killed mid-task.
 *
 * @module
 */
import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import { startRegistry } from "../node/registry.ts";
import { type Node, startNode } from "../node/node.ts";
import {
  describeReason,
  ExitError,
  NoConnectionError,
  TimeoutError,
} from "../node/errors.ts";
import { formatTerm } from "../node/format.ts";
import { puts, receive } from "../node/process_api.ts";
import { atom, type Pid, Tuple } from "../node/terms.ts";
import { MaxChildrenError, Task, TaskSupervisor } from "../task/mod.ts";
import { hubFor, hubStats } from "../task/_hub.ts";
import { beamHelper, type BeamNode, noElixir, startBeamNode } from "./_beam.ts";
import { test } from "./_tags.ts";

const tags = ["beam", "elixir", "distributed"];
const elixirCode = () =>
  `Code.require_file(${
    JSON.stringify(beamHelper("noderl_tasks.ex"))
  })\nNoderlTasks.start()`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually(what: string, check: () => boolean, ms = 10_000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`not true within ${ms} ms: ${what}`);
    await sleep(10);
  }
}

const isTuple = (m: unknown, tag: string): m is Tuple =>
  m instanceof Tuple && m[0] === atom(tag);

describe(
  "Task.Supervisor: noderl ↔ Elixir",
  { skip: noElixir || undefined },
  () => {
    let registry: Awaited<ReturnType<typeof startRegistry>>;
    let ts: Node;
    let ex: BeamNode;
    const out: string[] = [];
    const EX = "ex@localhost", TS = "ts@localhost";
    const SUP = "Elixir.Chat.TaskSupervisor";
    /** Calls NoderlTasks.fun(args) on the Elixir node. */
    const onElixir = (fun: string, args: unknown[]) =>
      ts.call(EX, "Elixir.NoderlTasks", fun, args, 30_000);

    before(async () => {
      registry = await startRegistry({ port: 0 });
      ts = await startNode({
        name: TS,
        cookie: "tasks",
        registryPort: registry.port,
        stdout: (t) => out.push(t),
        log: () => {},
      });
      ts.defineModule("Elixir.Chat", {
        receive_message: (m: string) => {
          puts(m);
          return atom("ok");
        },
        shout: (m: string) => m.toUpperCase(),
        boom: () => {
          throw new TypeError("the TS side exploded");
        },
        // Waits in receive: the timer goes when the process is killed.
        slow: (ms: number) => receive(() => false, ms).catch(() => "slow done"),
      });
      await TaskSupervisor.start(ts, { name: SUP });
      ex = await startBeamNode({
        name: EX,
        cookie: "tasks",
        registryPort: registry.port,
        elixir: elixirCode(),
      });
    });

    after(async () => {
      await ex?.stop();
      await ts?.stop();
      await registry?.close();
    });

    // ------------------------------------------------------------ Elixir → noderl

    test(
      'Elixir: Task.Supervisor.async({Chat.TaskSupervisor, :"ts@localhost"}, Chat, …) |> Task.await() on noderl',
      { tags },
      async () => {
        out.length = 0;
        assert.equal(
          formatTerm(
            await onElixir("async_await", [
              atom(SUP),
              atom(TS),
              atom("Elixir.Chat"),
              atom("receive_message"),
              ["hi from elixir"],
            ]),
          ),
          "{ok,ok}",
        );
        // The task ran under the TS supervisor: it printed on the TS node.
        assert.deepEqual(out, ["hi from elixir\n"]);
        const r = await onElixir("async_await", [
          atom(SUP),
          atom(TS),
          atom("Elixir.Chat"),
          atom("shout"),
          ["quiet"],
        ]) as Tuple;
        assert.equal(formatTerm(r), '{ok,<<"QUIET">>}');
        // Nothing of those tasks is left on the TS side.
        assert.deepEqual(await TaskSupervisor.children(SUP, { node: ts }), []);
      },
    );

    test(
      "Elixir: an undefined M/F on the TS side exits the Elixir task with {undef, …}",
      { tags },
      async () => {
        const r = await onElixir("async_await", [
          atom(SUP),
          atom(TS),
          atom("Elixir.Chat"),
          atom("no_such_fun"),
          [1, 2],
        ]) as Tuple;
        assert.ok(isTuple(r, "exit"), formatTerm(r));
        // {exit, {{undef, [{'Elixir.Chat', no_such_fun, [1, 2], []}]}, {'Elixir.Task', await, _}}}
        const [reason, where] = r[1] as Tuple;
        assert.equal(
          formatTerm(reason),
          "{undef,[{'Elixir.Chat',no_such_fun,[1,2],[]}]}",
        );
        assert.equal(
          formatTerm((where as Tuple).slice(0, 2)),
          "{'Elixir.Task',await}",
        );
        // A JS throw: Elixir sees a RuntimeError with the message and the JS stack.
        const b = await onElixir("async_await", [
          atom(SUP),
          atom(TS),
          atom("Elixir.Chat"),
          atom("boom"),
          [],
        ]) as Tuple;
        assert.ok(isTuple(b, "exit"));
        const crash = (b[1] as Tuple)[0];
        assert.match(
          describeReason(crash),
          /RuntimeError\) TypeError: the TS side exploded/,
        );
        assert.match(describeReason(crash), /task_elixir_test\.ts/);
        // An unknown supervisor name: GenServer.call exits noproc.
        const n = await onElixir("async_await", [
          atom("Elixir.No.Such.Sup"),
          atom(TS),
          atom("Elixir.Chat"),
          atom("shout"),
          ["x"],
        ]) as Tuple;
        assert.ok(isTuple(n, "exit"));
        assert.equal((n[1] as Tuple)[0], atom("noproc"));
      },
    );

    test(
      "Elixir: children, count_children, start_child, terminate_child, which_children, Supervisor.stop on noderl supervisors",
      { tags },
      async () => {
        const started = await onElixir("start_child", [
          atom(SUP),
          atom(TS),
          atom("Elixir.Chat"),
          atom("slow"),
          [60_000],
        ]) as Tuple;
        assert.ok(isTuple(started, "ok"));
        const pid = started[1] as Pid;
        assert.equal(pid.node, TS);
        assert.ok(ts.isAlive(pid));
        const kids = await onElixir("children", [atom(SUP), atom(TS)]) as Pid[];
        assert.deepEqual(kids.map(String), [String(pid)]);
        assert.equal(
          formatTerm(await onElixir("count_children", [atom(SUP), atom(TS)])),
          "#{active => 1,specs => 1,supervisors => 0,workers => 1}",
        );
        assert.equal(
          formatTerm(await onElixir("which_children", [atom(SUP), atom(TS)])),
          `[{undefined,${formatTerm(pid)},worker,['Elixir.Task.Supervised']}]`,
        );
        assert.equal(
          await onElixir("terminate_child", [atom(SUP), atom(TS), pid]),
          atom("ok"),
        );
        assert.equal(ts.isAlive(pid), false);
        assert.equal(
          formatTerm(
            await onElixir("terminate_child", [atom(SUP), atom(TS), pid]),
          ),
          "{error,not_found}",
        );
        const other = await TaskSupervisor.start(ts, {
          name: "Elixir.Other.Sup",
        });
        assert.equal(
          await onElixir("supervisor_stop", [
            atom("Elixir.Other.Sup"),
            atom(TS),
          ]),
          atom("ok"),
        );
        assert.equal(ts.isAlive(other), false);
      },
    );

    // ------------------------------------------------------------ noderl → Elixir

    test(
      'noderl: TaskSupervisor.async(["Elixir.Chat.TaskSupervisor", "ex@localhost"], "Elixir.Chat", "receive_message", ["hi"]) on Elixir',
      { tags },
      async () => {
        const task = TaskSupervisor.async(
          [SUP, EX],
          "Elixir.Chat",
          "receive_message",
          ["hi"],
          { node: ts },
        );
        const r = await Task.await(task);
        assert.equal(formatTerm(r), '{received,<<"hi">>,ex@localhost}');
        assert.equal(
          hubFor(ts).knownFast(EX),
          false,
          "Elixir's protocol was used",
        );
        assert.equal(task.pid?.node, EX);
        await ex.waitFor(/^hi$/m, 10_000);
        // Many at once from one caller.
        const tasks = Array.from(
          { length: 200 },
          (_, i) =>
            TaskSupervisor.async([SUP, EX], "Elixir.Chat", "echo", [i], {
              node: ts,
            }),
        );
        assert.deepEqual(
          await Task.awaitMany(tasks, 30_000),
          Array.from({ length: 200 }, (_, i) => i),
        );
        // asyncNolink and yield, startChild, children, terminateChild.
        const nolink = TaskSupervisor.asyncNolink(
          [SUP, EX],
          "Elixir.Chat",
          "slow",
          [50],
          { node: ts },
        );
        assert.deepEqual(await Task.yield(nolink, 10_000), {
          ok: atom("slow_done"),
        });
        const child = await TaskSupervisor.startChild(
          [SUP, EX],
          "Elixir.Chat",
          "slow",
          [60_000],
          { node: ts },
        );
        assert.equal(child.node, EX);
        assert.deepEqual(
          (await TaskSupervisor.children([SUP, EX], { node: ts })).map(String),
          [String(child)],
        );
        assert.equal(
          await TaskSupervisor.terminateChild([SUP, EX], child, { node: ts }),
          true,
        );
        assert.deepEqual(
          await TaskSupervisor.children([SUP, EX], { node: ts }),
          [],
        );
        await eventually("the hub is clean", () => {
          const s = hubStats(ts);
          return s.entries + s.aliases + s.monitors + s.calls === 0;
        });
      },
    );

    test(
      "noderl on Elixir: a raise, undef, unknown supervisor (noproc), max children, await timeout",
      { tags },
      async () => {
        const boom = TaskSupervisor.asyncNolink(
          [SUP, EX],
          "Elixir.Chat",
          "boom",
          ["elixir went boom"],
          { node: ts },
        );
        await assert.rejects(Task.await(boom), (e: Error) => {
          assert.ok(e instanceof ExitError);
          assert.match(e.message, /\*\* \(RuntimeError\) elixir went boom/);
          assert.match(
            e.message,
            /Elixir\.Chat\.boom\/1/,
            "with the Elixir stack",
          );
          return true;
        });
        const undef = TaskSupervisor.asyncNolink(
          [SUP, EX],
          "Elixir.Chat",
          "nope",
          [],
          { node: ts },
        );
        await assert.rejects(Task.await(undef), (e: Error) => {
          assert.ok(e instanceof ExitError);
          assert.equal((e.reason as Tuple)[0], atom("undef"));
          return true;
        });
        const none = TaskSupervisor.async(
          ["Elixir.No.Such.Sup", EX],
          "Elixir.Chat",
          "echo",
          [1],
          { node: ts },
        );
        await assert.rejects(Task.await(none), (e: Error) => {
          assert.ok(
            e instanceof ExitError && e.reason === atom("noproc"),
            String(e),
          );
          assert.match(
            e.message,
            /no task supervisor \{Elixir.No.Such.Sup, ex@localhost\}/,
          );
          return true;
        });
        const busy = TaskSupervisor.async(
          ["Elixir.Chat.Limited", EX],
          "Elixir.Chat",
          "slow",
          [60_000],
          { node: ts },
        );
        const full = TaskSupervisor.async(
          ["Elixir.Chat.Limited", EX],
          "Elixir.Chat",
          "echo",
          [1],
          { node: ts },
        );
        await assert.rejects(Task.await(full), (e: Error) => {
          assert.ok(e instanceof MaxChildrenError, String(e));
          assert.match(e.message, /Elixir.Chat.Limited, ex@localhost/);
          return true;
        });
        // The await times out: a clear error, the Elixir task is killed, nothing is left.
        await assert.rejects(Task.await(busy, 100), TimeoutError);
        await eventually(
          "the Elixir task is gone",
          () => busy.pid !== undefined,
        );
        let kids: Pid[] = [busy.pid!];
        const end = Date.now() + 10_000;
        while (kids.length > 0 && Date.now() < end) {
          kids = await TaskSupervisor.children(["Elixir.Chat.Limited", EX], {
            node: ts,
          });
        }
        assert.deepEqual(kids, []);
        await eventually("the hub is clean", () => {
          const s = hubStats(ts);
          return s.entries + s.aliases + s.monitors + s.calls === 0;
        });
      },
    );

    test(
      "the Elixir node is killed mid-task: the await fails with noconnection within 1 s",
      { tags },
      async () => {
        const doomed = await startBeamNode({
          name: "doomed@localhost",
          cookie: "tasks",
          registryPort: registry.port,
          elixir: elixirCode(),
        });
        try {
          const task = TaskSupervisor.async(
            [SUP, "doomed@localhost"],
            "Elixir.Chat",
            "slow",
            [60_000],
            { node: ts },
          );
          assert.equal(await Task.yield(task, 300), undefined, "it runs");
          assert.ok(task.pid !== undefined);
          const t0 = performance.now();
          const failed = Task.await(task, 30_000).then(
            () => assert.fail("the task replied"),
            (e) => ({ e, ms: performance.now() - t0 }),
          );
          await doomed.kill(); // SIGKILL
          const { e, ms } = await failed;
          assert.ok(e instanceof NoConnectionError, String(e));
          assert.equal(e.reason, atom("noconnection"));
          assert.match(e.message, /no connection to doomed@localhost/);
          assert.ok(ms < 1000, `noconnection after ${ms.toFixed(0)} ms`);
        } finally {
          await doomed.kill();
        }
      },
    );
  },
);
