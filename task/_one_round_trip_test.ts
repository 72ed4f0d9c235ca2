/**
 * noderl's one-round-trip task start (_one_round_trip.ts) between two
 * nodes in one OS process: which protocol a peer gets, and the
 * `noderl_task` module's answers to starts it must refuse — garbage
 * arguments included.
 *
 * @module
 */
import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import type { Node } from "../node/node.ts";
import { describeReason, ExitError } from "../node/errors.ts";
import { receive } from "../node/process_api.ts";
import { atom, Tuple, tuple } from "../node/terms.ts";
import { hubFor } from "./_hub.ts";
import { notStartedError } from "./_one_round_trip.ts";
import { MaxChildrenError } from "./errors.ts";
import { Task } from "./task.ts";
import { TaskSupervisor } from "./task_supervisor.ts";
import { test } from "../testing/mod.ts";
import { clean, startTaskNodes, type TaskNodes } from "../tests/_task_nodes.ts";

describe("the one-round-trip start", () => {
  let nodes: TaskNodes;
  let alex: Node, kate: Node;

  before(async () => {
    nodes = await startTaskNodes("rt_");
    ({ alex, kate } = nodes);
  });

  after(async () => {
    await nodes?.stop();
  });

  test(
    "remote async + await on kate's supervisor ([name, node]), one round trip",
    {},
    async () => {
      const task = TaskSupervisor.async(
        ["Elixir.Chat.TaskSupervisor", "rt_kate@localhost"],
        "Math",
        "double",
        [21],
        { node: alex },
      );
      assert.equal(task.node, "rt_kate@localhost");
      assert.equal(await Task.await(task), 42);
      assert.equal(
        hubFor(alex).knownFast("rt_kate@localhost"),
        true,
        "noderl's start was used",
      );
      assert.equal(task.pid?.node, "rt_kate@localhost");
      // The seed's pipeline, printing on kate (the task's group leader is kate's).
      nodes.kateOut.length = 0;
      assert.equal(
        await Task.await(
          TaskSupervisor.async(
            ["Elixir.Chat.TaskSupervisor", "rt_kate@localhost"],
            "Elixir.Chat",
            "receive_message",
            ["hi"],
            { node: alex },
          ),
        ),
        atom("ok"),
      );
      assert.deepEqual(nodes.kateOut, ["hi\n"]);
      // By pid.
      const sup = kate.whereis("Elixir.Chat.TaskSupervisor")!;
      assert.equal(
        await Task.await(
          TaskSupervisor.async(sup, "Math", "double", [1], { node: alex }),
        ),
        2,
      );
      await clean(alex);
      await clean(kate);
    },
  );

  test(
    "bob runs no task supervisor: noproc through Elixir's protocol, and the protocol is remembered",
    {},
    async () => {
      const t = TaskSupervisor.async(
        ["Elixir.Chat.TaskSupervisor", "rt_bob@localhost"],
        "Math",
        "double",
        [1],
        { node: alex },
      );
      await assert.rejects(
        Task.await(t),
        (e: Error) =>
          e instanceof ExitError && e.reason === atom("noproc") &&
          /no task supervisor \{Elixir.Chat.TaskSupervisor, rt_bob@localhost\}/
            .test(e.message),
      );
      assert.equal(hubFor(alex).knownFast("rt_bob@localhost"), false);
      await clean(alex);
    },
  );

  test(
    "noderl_task:run refuses starts it must, with the reasons the caller decodes",
    {},
    () => {
      const peer = "rt_kate@localhost", sup = "Elixir.Chat.TaskSupervisor";
      assert.equal(notStartedError(atom("normal"), sup, peer), undefined);
      assert.equal(notStartedError(tuple(atom("x"), 1), sup, peer), undefined);
      const noproc = notStartedError(
        tuple(atom("noderl_task_not_started"), atom("noproc")),
        sup,
        peer,
      );
      assert.ok(
        noproc instanceof ExitError && noproc.reason === atom("noproc"),
      );
      assert.match(
        noproc.message,
        /no task supervisor Elixir.Chat.TaskSupervisor is running on rt_kate@localhost/,
      );
      const max = notStartedError(
        tuple(atom("noderl_task_not_started"), atom("max_children"), 3),
        sup,
        peer,
      );
      assert.ok(max instanceof MaxChildrenError);
      assert.equal(max.maxChildren, 3);
      const stopping = notStartedError(
        tuple(
          atom("noderl_task_not_started"),
          atom("shutdown"),
          atom("infinity"),
        ),
        sup,
        peer,
      );
      assert.ok(
        stopping instanceof ExitError && stopping.reason === atom("shutdown"),
      );
    },
  );

  test(
    "hostile: garbage and floods of noderl_task:run leave kate's supervisor serving",
    {},
    async () => {
      const SUP = "Elixir.Chat.TaskSupervisor";
      /** noderl_task:run(args) on kate, from a process of alex: its exit reason. */
      const run = (args: unknown[]) =>
        new Promise<unknown>((resolve, reject) => {
          alex.spawn(async () => {
            const p = alex.current();
            const ref = alex.spawnRequestFrom(
              p,
              kate.name,
              "noderl_task",
              "run",
              args,
              { monitor: true },
              (e) => {
                if (e !== undefined) reject(e);
              },
            );
            const down = await receive(
              (m) =>
                m instanceof Tuple && m[0] === atom("DOWN") &&
                ref.equals(m[1]),
              5000,
            ) as Tuple;
            resolve(down[4]);
          });
        });
      const owner = tuple(atom(alex.name), alex.shell.pid, alex.shell.pid);
      const valid = (changes: Record<number, unknown>) => {
        const args: unknown[] = [
          atom(SUP),
          owner,
          alex.makeRef(),
          alex.shell.pid,
          [],
          atom("Math"),
          atom("double"),
          [1],
          false,
          5000,
        ];
        for (const [i, v] of Object.entries(changes)) args[Number(i)] = v;
        return args;
      };
      const notStarted = (r: unknown) =>
        r instanceof Tuple && r[0] === atom("noderl_task_not_started") &&
        r[1] === atom("noproc");
      // noderl_task:run/0 does not exist: undef, as the BEAM says.
      const none = await run([]);
      assert.ok(
        none instanceof Tuple && none[0] === atom("undef"),
        `no arguments: ${String(none)}`,
      );
      assert.ok(notStarted(await run(valid({ 0: 42 }))), "a number as Sup");
      assert.ok(notStarted(await run(valid({ 0: atom("Elixir.Nope") }))));
      const undef = await run(valid({ 5: 42, 6: [], 7: "x" }));
      assert.ok(
        undef instanceof Tuple && undef[0] === atom("undef"),
        String(undef),
      );
      // Bad values crash the task process, and only it, saying why.
      for (
        const [changes, why] of [
          [{ 9: atom("forever") }, /RangeError: task: shutdown must be/],
          [{ 9: -1 }, /RangeError: task: shutdown must be/],
          [{ 3: 42 }, /cannot send to 42/], // a ReplyTo that is no destination
        ] as const
      ) {
        assert.match(describeReason(await run(valid(changes))), why);
      }
      // An owner or callers of the wrong shape are ignored: the task runs.
      assert.equal(
        await run(valid({ 1: "not an owner", 8: true })),
        atom("normal"),
      );
      assert.equal(await run(valid({ 4: "not callers" })), atom("normal"));
      // A flood: every start refused, nothing left behind.
      const flood = await Promise.all(
        Array.from({ length: 300 }, (_, i) => run(valid({ 0: i }))),
      );
      assert.ok(flood.every(notStarted));
      assert.equal(
        await Task.await(
          TaskSupervisor.async(
            [SUP, kate.name],
            "Math",
            "double",
            [4],
            { node: alex },
          ),
        ),
        8,
      );
      assert.deepEqual(
        await TaskSupervisor.children([SUP, kate.name], { node: alex }),
        [],
      );
      await clean(alex);
    },
  );
});
