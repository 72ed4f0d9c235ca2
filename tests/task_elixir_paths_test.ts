/**
 * The Task.Supervisor paths whose wire shapes Elixir changed after 1.14,
 * both ways between noderl and Elixir (run against every Elixir of the OTP
 * matrix: 1.14, 1.18, 1.20):
 *
 * - `start_child` temporary: Elixir 1.18 asks `{start_task, [Owner,
 *   monitor], nil | temporary, Shutdown}` and then sends the task
 *   `{Owner, Ref, Ref, Callers, MFA}` (1.14: `[Owner, Callers, MFA]`);
 * - `start_child` transient (`[Owner, Callers, MFA]`) and restarts;
 * - a supervisor with a default restart answers `{restart, R}` to a
 *   start_child without one (1.18), and the caller asks again with R;
 * - `async_stream` / `async_stream_nolink` of Elixir on a noderl supervisor;
 * - the task's `$ancestors` (its supervisor first; carried by
 *   `Task.Supervised.reply/3` and `noreply/4` since 1.18) and `$callers`
 *   (the noderl owner) on an Elixir supervisor.
 *
 * @module
 */
import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import { startRegistry } from "../node/registry.ts";
import { type Node, startNode } from "../node/node.ts";
import { receive, send } from "../node/process_api.ts";
import { atom, Pid, Tuple, tuple } from "../node/terms.ts";
import { formatTerm } from "../node/format.ts";
import { Task, TaskSupervisor } from "../task/mod.ts";
import { beamHelper, type BeamNode, noElixir, startBeamNode } from "./_beam.ts";
import { test } from "./_tags.ts";

const tags = ["beam", "elixir", "distributed"];
const EX = "expaths@localhost", TS = "tspaths@localhost";
const SUP = "Elixir.Chat.TaskSupervisor";
const TRANSIENT_SUP = "Elixir.Paths.TransientSup";
const isTuple = (m: unknown, tag: string): m is Tuple =>
  m instanceof Tuple && m[0] === atom(tag);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const kw = (...pairs: [string, unknown][]) =>
  pairs.map(([k, v]) => tuple(atom(k), v));

describe(
  "Task.Supervisor paths of Elixir 1.15+: noderl ↔ Elixir",
  { skip: noElixir || undefined },
  () => {
    let registry: Awaited<ReturnType<typeof startRegistry>>;
    let ts: Node;
    let ex: BeamNode;
    const runs = new Map<string, number>();
    let keys = 0;
    const newKey = () => `k${++keys}`;
    const onElixir = (fun: string, args: unknown[]) =>
      ts.call(EX, "Elixir.NoderlTaskPaths", fun, args, 30_000);

    /** Waits for `{ran, Key, N}` messages; checks no other run follows. */
    async function expectRuns(key: string, n: number): Promise<void> {
      for (let i = 1; i <= n; i++) {
        const m = await receive(
          (m) => isTuple(m, "ran") && m[1] === key,
          10_000,
        ) as Tuple;
        assert.equal(m[2], i);
      }
      await assert.rejects(
        receive((m) => isTuple(m, "ran") && m[1] === key, 300),
        Error,
        `no run ${n + 1} of ${key}`,
      );
    }

    before(async () => {
      registry = await startRegistry({ port: 0 });
      ts = await startNode({
        name: TS,
        cookie: "paths",
        registryPort: registry.port,
        log: () => {},
      });
      const shell = ts.shell.pid;
      ts.defineModule("Elixir.Paths", {
        square: (x: number) => x * x,
        boom: (x: number) => {
          if (x === 3) throw new Error("three is bad luck");
          return x;
        },
        // Tells the shell each time it runs; its first run fails.
        flaky: (key: string) => {
          const n = (runs.get(key) ?? 0) + 1;
          runs.set(key, n);
          send(shell, tuple(atom("ran"), key, n));
          if (n === 1) throw new Error(`first run of ${key} fails`);
          return atom("ok");
        },
      });
      await TaskSupervisor.start(ts, { name: SUP });
      await TaskSupervisor.start(ts, {
        name: TRANSIENT_SUP,
        restart: "transient",
      });
      ex = await startBeamNode({
        name: EX,
        cookie: "paths",
        registryPort: registry.port,
        elixir: [
          `Code.require_file(${JSON.stringify(beamHelper("noderl_tasks.ex"))})`,
          `Code.require_file(${
            JSON.stringify(beamHelper("noderl_task_paths.ex"))
          })`,
          "NoderlTasks.start()",
          `{:ok, _} = NoderlTaskPaths.start_sup(Paths.TransientSup, :transient)`,
        ].join("\n"),
      });
    });

    after(async () => {
      await ex?.stop();
      await ts?.stop();
      await registry?.close();
    });

    // ------------------------------------------------------------ Elixir → noderl

    test(
      "Elixir: start_child temporary (default and explicit) runs once on noderl, never restarted",
      { tags },
      async () => {
        for (const opts of [[], kw(["restart", atom("temporary")])]) {
          const key = newKey();
          const r = await onElixir("start_child", [
            atom(SUP),
            atom(TS),
            atom("Elixir.Paths"),
            atom("flaky"),
            [key],
            opts,
          ]) as Tuple;
          assert.ok(isTuple(r, "ok"), String(r));
          assert.equal((r[1] as Pid).node, TS);
          await expectRuns(key, 1);
        }
        assert.deepEqual(await TaskSupervisor.children(SUP, { node: ts }), []);
      },
    );

    test(
      "Elixir: start_child transient on noderl is restarted after a crash, not after a normal exit",
      { tags },
      async () => {
        const key = newKey();
        const r = await onElixir("start_child", [
          atom(SUP),
          atom(TS),
          atom("Elixir.Paths"),
          atom("flaky"),
          [key],
          kw(["restart", atom("transient")]),
        ]) as Tuple;
        assert.ok(isTuple(r, "ok"), String(r));
        await expectRuns(key, 2);
        assert.deepEqual(await TaskSupervisor.children(SUP, { node: ts }), []);
      },
    );

    test(
      "Elixir: start_child with no restart on a noderl supervisor whose default is transient ({restart, transient})",
      { tags },
      async () => {
        const key = newKey();
        const r = await onElixir("start_child", [
          atom(TRANSIENT_SUP),
          atom(TS),
          atom("Elixir.Paths"),
          atom("flaky"),
          [key],
          [],
        ]) as Tuple;
        assert.ok(isTuple(r, "ok"), String(r));
        await expectRuns(key, 2);
        // An explicit temporary still runs once.
        const once = newKey();
        await onElixir("start_child", [
          atom(TRANSIENT_SUP),
          atom(TS),
          atom("Elixir.Paths"),
          atom("flaky"),
          [once],
          kw(["restart", atom("temporary")]),
        ]);
        await expectRuns(once, 1);
        // And noderl's own startChild with no restart takes the default too.
        const local = newKey();
        await TaskSupervisor.startChild(
          TRANSIENT_SUP,
          "Elixir.Paths",
          "flaky",
          [local],
          { node: ts },
        );
        await expectRuns(local, 2);
      },
    );

    test(
      "Elixir: async_stream and async_stream_nolink on a noderl supervisor",
      { tags },
      async () => {
        const xs = Array.from({ length: 20 }, (_, i) => i + 1);
        const r = await onElixir("async_stream", [
          atom(SUP),
          atom(TS),
          atom("Elixir.Paths"),
          atom("square"),
          [],
          xs,
          kw(["max_concurrency", 4]),
        ]) as Tuple;
        assert.ok(isTuple(r, "ok"), String(r));
        assert.deepEqual(
          r[1],
          xs.map((x) => tuple(atom("ok"), x * x)),
        );
        const n = await onElixir("async_stream_nolink", [
          atom(SUP),
          atom(TS),
          atom("Elixir.Paths"),
          atom("boom"),
          [],
          [1, 2, 3, 4],
          kw(["max_concurrency", 2]),
        ]) as Tuple;
        const got = n[1] as Tuple[];
        assert.deepEqual(got.slice(0, 2), [
          tuple(atom("ok"), 1),
          tuple(atom("ok"), 2),
        ]);
        assert.ok(isTuple(got[2], "exit"), String(got[2]));
        assert.match(formatTerm(got[2][1]), /RuntimeError.*three is bad luck/s);
        assert.deepEqual(got[3], tuple(atom("ok"), 4));
        await sleep(50);
        assert.deepEqual(await TaskSupervisor.children(SUP, { node: ts }), []);
      },
    );

    // ------------------------------------------------------------ noderl → Elixir

    /** Checks `$ancestors` starts with the supervisor, `$callers` with the owner. */
    async function checkLineage(ancestors: unknown, callers: unknown) {
      const supPid = await ts.call(EX, "erlang", "whereis", [atom(SUP)]);
      assert.ok(Array.isArray(ancestors) && ancestors.length > 0);
      const first = ancestors[0];
      assert.ok(
        first === atom(SUP) || (first instanceof Pid && first.equals(supPid)),
        `the supervisor first in $ancestors: ${String(first)}`,
      );
      assert.ok(Array.isArray(callers) && callers[0] instanceof Pid);
      assert.ok(
        (callers[0] as Pid).equals(ts.shell.pid),
        `the noderl owner first in $callers: ${String(callers[0])}`,
      );
    }

    test(
      "noderl: async and startChild on Elixir: the task's $ancestors start with its supervisor, $callers with the owner",
      { tags },
      async () => {
        const info = await Task.await(
          TaskSupervisor.async(
            [SUP, EX],
            "Elixir.NoderlTaskPaths",
            "info",
            [],
            {
              node: ts,
            },
          ),
        ) as Tuple;
        await checkLineage(info[0], info[1]);
        for (const restart of [undefined, "transient"] as const) {
          const pid = await TaskSupervisor.startChild(
            [SUP, EX],
            "Elixir.NoderlTaskPaths",
            "report",
            [ts.shell.pid],
            { node: ts, restart },
          );
          const m = await receive(
            (m) => isTuple(m, "task_info") && pid.equals(m[1]),
            10_000,
          ) as Tuple;
          await checkLineage(m[2], m[3]);
        }
      },
    );

    test(
      "noderl: startChild on Elixir, transient restarts after a crash; temporary does not",
      { tags },
      async () => {
        const key = newKey();
        await TaskSupervisor.startChild(
          [SUP, EX],
          "Elixir.NoderlTaskPaths",
          "flaky",
          [ts.shell.pid, key],
          { node: ts, restart: "transient" },
        );
        await expectRuns(key, 2);
        const once = newKey();
        await TaskSupervisor.startChild(
          [SUP, EX],
          "Elixir.NoderlTaskPaths",
          "flaky",
          [ts.shell.pid, once],
          { node: ts, restart: "temporary" },
        );
        await expectRuns(once, 1);
      },
    );

    test(
      "noderl: startChild with no restart on an Elixir supervisor whose default is transient (Elixir 1.18 answers {restart, transient})",
      { tags },
      async () => {
        const key = newKey();
        const pid = await TaskSupervisor.startChild(
          [TRANSIENT_SUP, EX],
          "Elixir.NoderlTaskPaths",
          "flaky",
          [ts.shell.pid, key],
          { node: ts },
        );
        assert.equal(pid.node, EX);
        await expectRuns(key, 2);
        const once = newKey();
        await TaskSupervisor.startChild(
          [TRANSIENT_SUP, EX],
          "Elixir.NoderlTaskPaths",
          "flaky",
          [ts.shell.pid, once],
          { node: ts, restart: "temporary" },
        );
        await expectRuns(once, 1);
      },
    );
  },
);
