/**
 * TaskSupervisor (task_supervisor.ts) on real nodes in one OS process:
 * local supervisors (children, limits, restarts, stop), and TS↔TS remote
 * tasks (alex → kate) with both start protocols — noderl's one round trip
 * and Elixir's — failing the same way.
 *
 * @module
 */
import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import type { Node } from "../node/node.ts";
import {
  describeReason,
  ExitError,
  NameTakenError,
  NoConnectionError,
  TimeoutError,
} from "../node/errors.ts";
import { genCall, receive, trapExit } from "../node/process_api.ts";
import { atom, type Pid, Tuple, tuple } from "../node/terms.ts";
import { hubFor } from "./_hub.ts";
import { MaxChildrenError } from "./errors.ts";
import { Task } from "./task.ts";
import { TaskSupervisor } from "./task_supervisor.ts";
import { test } from "../testing/mod.ts";
import {
  clean,
  eventually,
  forever,
  sleep,
  startTaskNodes,
  type TaskNodes,
} from "../tests/_task_nodes.ts";

describe("TaskSupervisor", () => {
  let nodes: TaskNodes;
  let alex: Node, kate: Node;

  before(async () => {
    nodes = await startTaskNodes("t");
    ({ alex, kate } = nodes);
  });

  after(async () => {
    await nodes?.stop();
  });

  test(
    "asyncNolink past the timeout: the task runs on, its late reply is dropped",
    {},
    async () => {
      const owner = alex.spawn(async () => {
        const task = TaskSupervisor.asyncNolink(
          "Elixir.Alex.TaskSupervisor",
          () => sleep(150).then(() => "late"),
        );
        await assert.rejects(Task.await(task, 20), TimeoutError);
        assert.ok(alex.isAlive(task.pid!), "a nolink task keeps running");
        await sleep(300);
        assert.equal(alex.isAlive(task.pid!), false);
        // Nothing came to the owner's mailbox.
        assert.equal(alex.processOf(alex.current().pid)?.messageCount, 0);
        await receive(undefined, 0).then(
          () => assert.fail("a message arrived"),
          (e) => assert.ok(e instanceof TimeoutError),
        );
      });
      const reason = await alex.processOf(owner)!.exited;
      assert.equal(reason, atom("normal"), describeReason(reason));
      await clean(alex);
    },
  );

  test(
    "asyncNolink does not link: the caller survives the crash, yield says exit",
    {},
    async () => {
      const caller = alex.spawn(async () => {
        const t = TaskSupervisor.asyncNolink(
          "Elixir.Alex.TaskSupervisor",
          () => {
            throw new Error("nolink crash");
          },
        );
        assert.equal(t.linked, false);
        const r = await Task.yield(t, 2000);
        assert.ok(r && "exit" in r);
        assert.match(describeReason(r.exit), /nolink crash/);
        await assert.rejects(Task.await(t), /nolink crash/);
      });
      assert.equal(await alex.processOf(caller)!.exited, atom("normal"));
      await clean(alex);
    },
  );

  test("bad arguments and options fail with what to do", {}, async () => {
    assert.throws(
      () =>
        TaskSupervisor.async(
          ["Elixir.Chat.TaskSupervisor", "tkate@localhost"],
          () => 1,
          { node: alex },
        ),
      /closure cannot run on another node/,
    );
    assert.throws(
      () => TaskSupervisor.async(42 as never, () => 1, { node: alex }),
      /a task supervisor is a Pid, a registered name, or \[name, node\]/,
    );
    // Out-of-range values: RangeError, saying what is allowed.
    for (
      const [options, message] of [
        [{ maxChildren: -1 }, /maxChildren must be an integer ≥ 0/],
        [{ maxChildren: 1.5 }, /maxChildren must be an integer ≥ 0/],
        [{ maxRestarts: -1 }, /maxRestarts must be an integer ≥ 0/],
        [{ maxSeconds: 0 }, /maxSeconds must be a number > 0/],
      ] as const
    ) {
      await assert.rejects(
        TaskSupervisor.start(alex, options),
        (e: Error) => e instanceof RangeError && message.test(e.message),
      );
    }
    assert.throws(
      () =>
        TaskSupervisor.async("Elixir.Alex.TaskSupervisor", () => 1, {
          node: alex,
          shutdown: -1,
        }),
      (e: Error) =>
        e instanceof RangeError && /shutdown must be/.test(e.message),
    );
    await assert.rejects(
      TaskSupervisor.startChild("Elixir.Alex.TaskSupervisor", () => 1, {
        node: alex,
        restart: "sometimes" as never,
      }),
      (e: Error) =>
        e instanceof RangeError && /restart must be/.test(e.message),
    );
  });

  // ------------------------------------------------------------ local

  test(
    "a local task supervisor: children, countChildren, terminateChild, stop",
    {},
    async () => {
      const sup = await TaskSupervisor.start(alex, {
        name: "Elixir.Local.Sup",
      });
      const t1 = TaskSupervisor.async(sup, forever, { node: alex });
      const t2 = TaskSupervisor.asyncNolink("Elixir.Local.Sup", forever, {
        node: alex,
      });
      const kids = await TaskSupervisor.children("Elixir.Local.Sup", {
        node: alex,
      });
      assert.deepEqual(
        kids.map(String).sort(),
        [t1.pid!, t2.pid!].map(String).sort(),
      );
      assert.deepEqual(
        await TaskSupervisor.countChildren(sup, { node: alex }),
        {
          specs: 2,
          active: 2,
          supervisors: 0,
          workers: 2,
        },
      );
      assert.equal(
        await TaskSupervisor.terminateChild(sup, t2.pid!, { node: alex }),
        true,
      );
      assert.equal(alex.isAlive(t2.pid!), false);
      assert.equal(
        await TaskSupervisor.terminateChild(sup, t2.pid!, { node: alex }),
        false,
      );
      await assert.rejects(
        TaskSupervisor.start(alex, { name: "Elixir.Local.Sup" }),
        (e: Error) => {
          assert.ok(e instanceof NameTakenError, String(e));
          assert.equal(e.takenName, "Elixir.Local.Sup");
          assert.match(e.message, /name Elixir.Local.Sup is taken by/);
          return true;
        },
      );
      // Stopping the supervisor stops its tasks; the linked owner (the shell) sees an error from await.
      await TaskSupervisor.stop(sup, "normal", { node: alex });
      assert.equal(alex.isAlive(sup), false);
      assert.equal(alex.isAlive(t1.pid!), false);
      await assert.rejects(Task.await(t1), /shutdown/);
      await assert.rejects(
        TaskSupervisor.children(sup, { node: alex }),
        (e: Error) => e instanceof ExitError && e.reason === atom("noproc"),
      );
      await clean(alex);
    },
  );

  test(
    "unknown supervisor name → noproc; max children → MaxChildrenError",
    {},
    async () => {
      const t = TaskSupervisor.async("Elixir.No.Such.Sup", () => 1, {
        node: alex,
      });
      await assert.rejects(Task.await(t), (e: Error) => {
        assert.ok(e instanceof ExitError);
        assert.equal(e.reason, atom("noproc"));
        assert.match(
          e.message,
          /no task supervisor Elixir.No.Such.Sup is running on talex@localhost/,
        );
        return true;
      });
      const sup = await TaskSupervisor.start(alex, { maxChildren: 2 });
      const a = TaskSupervisor.async(sup, forever, { node: alex });
      const b = TaskSupervisor.async(sup, forever, { node: alex });
      const c = TaskSupervisor.async(sup, () => "never", { node: alex });
      await assert.rejects(Task.await(c), (e: Error) => {
        assert.ok(e instanceof MaxChildrenError);
        assert.match(e.message, /maximum of 2 tasks/);
        return true;
      });
      await assert.rejects(
        TaskSupervisor.startChild(sup, forever, { node: alex }),
        MaxChildrenError,
      );
      await Task.shutdown(a);
      assert.equal(
        await Task.await(
          TaskSupervisor.async(sup, () => "room now", { node: alex }),
        ),
        "room now",
      );
      await Task.shutdown(b);
      await TaskSupervisor.stop(sup, "normal", { node: alex });
      await clean(alex);
    },
  );

  test(
    "startChild restarts transient and permanent tasks; intensity exceeded → the supervisor exits",
    {},
    async () => {
      const sup = await TaskSupervisor.start(alex, {
        maxRestarts: 3,
        maxSeconds: 5,
      });
      let runs = 0;
      await TaskSupervisor.startChild(sup, () => {
        if (++runs === 1) throw new Error("first run fails");
        return "fine";
      }, { restart: "transient", node: alex });
      await eventually("the transient task ran twice", () => runs === 2);
      await sleep(20);
      assert.equal(runs, 2, "a normal exit is not restarted");
      assert.ok(alex.isAlive(sup));
      await TaskSupervisor.stop(sup, "normal", { node: alex });

      const sup2 = await TaskSupervisor.start(alex);
      let crashes = 0;
      await TaskSupervisor.startChild(sup2, () => {
        crashes++;
        throw new Error("always");
      }, { restart: "permanent", node: alex });
      const reason = await alex.processOf(sup2)!.exited;
      assert.equal(reason, atom("shutdown"));
      assert.equal(
        crashes,
        4,
        "3 restarts allowed, the 4th crash stops the supervisor",
      );
      await clean(alex);
    },
  );

  test(
    "a supervisor's default restart: startChild without one, locally and by call; {restart, R} to Elixir 1.15+'s first ask",
    {},
    async () => {
      await assert.rejects(
        TaskSupervisor.start(kate, { restart: "sometimes" as never }),
        (e: Error) =>
          e instanceof RangeError && /restart must be/.test(e.message),
      );
      const sup = await TaskSupervisor.start(kate, {
        name: "Elixir.Transient.Sup",
        restart: "transient",
      });
      let localRuns = 0;
      await TaskSupervisor.startChild(sup, () => {
        if (++localRuns === 1) throw new Error("first run fails");
      }, { node: kate });
      await eventually("restarted as transient", () => localRuns === 2);
      // From alex, by Elixir's protocol: nil, then the supervisor's default.
      let remoteRuns = 0;
      kate.defineModule("Flaky", {
        once: () => {
          if (++remoteRuns === 1) throw new Error("first remote run fails");
        },
      });
      const pid = await TaskSupervisor.startChild(
        ["Elixir.Transient.Sup", kate.name],
        "Flaky",
        "once",
        [],
        { node: alex },
      );
      assert.equal(pid.node, kate.name);
      await eventually("restarted as transient", () => remoteRuns === 2);
      // The first ask of Elixir 1.15+'s start_child: [Owner, monitor], no restart.
      const owner = tuple(atom(alex.name), alex.shell.pid, alex.shell.pid);
      const ask = (restart: unknown) =>
        genCall(
          ["Elixir.Transient.Sup", kate.name],
          tuple(atom("start_task"), [owner, atom("monitor")], restart, null),
        );
      const kateSide = alex.spawn(async () => {
        assert.deepEqual(
          await ask(null),
          tuple(atom("restart"), atom("transient")),
        );
        const started = await ask(atom("transient")) as Tuple;
        assert.equal(started[0], atom("ok"));
        alex.exit(started[1] as Pid, atom("kill"));
      });
      assert.equal(await alex.processOf(kateSide)!.exited, atom("normal"));
      await TaskSupervisor.stop(sup, "normal", { node: kate });
    },
  );

  test(
    "a parent's exit stops a task supervisor and its tasks",
    {},
    async () => {
      let sup: Pid | undefined, task: Task<unknown> | undefined;
      const parent = alex.spawn(async () => {
        sup = await TaskSupervisor.start(alex);
        task = TaskSupervisor.asyncNolink(sup, forever);
        await receive();
      });
      await eventually("started", () => task?.pid !== undefined);
      alex.exit(parent, atom("kill"));
      await alex.processOf(sup!)?.exited;
      assert.equal(alex.isAlive(sup!), false);
      assert.equal(alex.isAlive(task!.pid!), false);
      await clean(alex);
    },
  );

  // ------------------------------------------------------------ remote, TS ↔ TS, both protocols

  for (const protocol of ["noderl", "elixir"] as const) {
    test(
      `remote failures (${protocol} protocol): noproc, max children, a throw with its stack, undef`,
      {},
      async () => {
        hubFor(alex).setFastPeer("tkate@localhost", protocol === "noderl");
        try {
          const on = (name: string) => [name, "tkate@localhost"] as const;
          await assert.rejects(
            Task.await(
              TaskSupervisor.async(on("Elixir.Nope"), "Math", "double", [1], {
                node: alex,
              }),
            ),
            (e: Error) => {
              assert.ok(
                e instanceof ExitError && e.reason === atom("noproc"),
                String(e),
              );
              assert.match(
                e.message,
                /no task supervisor \{Elixir.Nope, tkate@localhost\}/,
              );
              return true;
            },
          );
          const busy = TaskSupervisor.async(
            on("Elixir.Chat.Limited"),
            "Math",
            "forever",
            [],
            { node: alex },
          );
          await eventually("started", () => busy.pid !== undefined);
          await assert.rejects(
            Task.await(
              TaskSupervisor.async(
                on("Elixir.Chat.Limited"),
                "Math",
                "double",
                [1],
                { node: alex },
              ),
            ),
            (e: Error) => {
              assert.ok(e instanceof MaxChildrenError, String(e));
              assert.match(e.message, /Elixir.Chat.Limited/);
              return true;
            },
          );
          await assert.rejects(
            TaskSupervisor.startChild(
              on("Elixir.Chat.Limited"),
              "Math",
              "forever",
              [],
              { node: alex },
            ),
            MaxChildrenError,
          );
          assert.equal(await Task.shutdown(busy), undefined);
          await eventually(
            "kate's task is gone",
            () => !kate.isAlive(busy.pid!),
          );
          // A throw: the caller sees the message and kate's JS stack.
          const owner = alex.spawn(async () => {
            trapExit(true);
            const t = TaskSupervisor.async(
              on("Elixir.Chat.TaskSupervisor"),
              "Math",
              "boom",
              [],
            );
            await assert.rejects(Task.await(t), (e: Error) => {
              assert.ok(e instanceof ExitError);
              assert.match(e.message, /TypeError: kate exploded/);
              assert.match(e.message, /_task_nodes\.ts:\d+/);
              return true;
            });
            // The link delivered the same reason.
            const exit = await receive(
              (m) => m instanceof Tuple && m[0] === atom("EXIT"),
              5000,
            ) as Tuple;
            assert.match(describeReason(exit[2]), /kate exploded/);
            const u = TaskSupervisor.async(
              on("Elixir.Chat.TaskSupervisor"),
              "Math",
              "nope",
              [1, 2],
            );
            await assert.rejects(Task.await(u), (e: Error) => {
              assert.ok(e instanceof ExitError);
              assert.equal((e.reason as Tuple)[0], atom("undef"));
              return true;
            });
          });
          assert.equal(await alex.processOf(owner)!.exited, atom("normal"));
          await clean(alex);
        } finally {
          hubFor(alex).setFastPeer("tkate@localhost", true);
        }
      },
    );

    test(
      `remote await timeout leaves nothing behind and kills the linked task (${protocol} protocol)`,
      {},
      async () => {
        hubFor(alex).setFastPeer("tkate@localhost", protocol === "noderl");
        try {
          const task = TaskSupervisor.async(
            ["Elixir.Chat.TaskSupervisor", "tkate@localhost"],
            "Math",
            "forever",
            [],
            { node: alex },
          );
          await assert.rejects(Task.await(task, 100), TimeoutError);
          await eventually(
            "kate's task was killed",
            () => task.pid !== undefined && !kate.isAlive(task.pid),
          );
          await clean(alex);
          const kids = await TaskSupervisor.children([
            "Elixir.Chat.TaskSupervisor",
            "tkate@localhost",
          ], { node: alex });
          assert.deepEqual(kids, []);
          // asyncNolink: the remote task runs on and its late reply is dropped.
          const nolink = TaskSupervisor.asyncNolink(
            ["Elixir.Chat.TaskSupervisor", "tkate@localhost"],
            "Math",
            "slow",
            [600],
            { node: alex },
          );
          await assert.rejects(Task.await(nolink, 20), TimeoutError);
          await eventually("started", () => nolink.pid !== undefined);
          assert.ok(kate.isAlive(nolink.pid!));
          await eventually("finished", () => !kate.isAlive(nolink.pid!));
          await clean(alex);
          assert.equal(alex.shell.messageCount, 0);
        } finally {
          hubFor(alex).setFastPeer("tkate@localhost", true);
        }
      },
    );
  }

  test(
    "a linked remote crash takes the calling process down; nolink does not",
    {},
    async () => {
      const caller = alex.spawn(async () => {
        const t = TaskSupervisor.async(
          ["Elixir.Chat.TaskSupervisor", "tkate@localhost"],
          "Math",
          "boom",
          [],
        );
        await Task.await(t).catch(() => {});
        await forever();
      });
      assert.match(
        describeReason(await alex.processOf(caller)!.exited),
        /kate exploded/,
      );
      const survivor = alex.spawn(async () => {
        const t = TaskSupervisor.asyncNolink(
          ["Elixir.Chat.TaskSupervisor", "tkate@localhost"],
          "Math",
          "boom",
          [],
        );
        const r = await Task.yield(t, 5000);
        assert.ok(r && "exit" in r);
      });
      assert.equal(await alex.processOf(survivor)!.exited, atom("normal"));
    },
  );

  test("a node that cannot be reached → noconnection", {}, async () => {
    const t = TaskSupervisor.async(
      ["Elixir.Chat.TaskSupervisor", "nobody@localhost"],
      "Math",
      "double",
      [1],
      { node: alex },
    );
    await assert.rejects(Task.await(t), NoConnectionError);
    await clean(alex);
  });
});
