/**
 * Task and TaskSupervisor with real nodes and sockets in one OS process:
 * local tasks, and TS↔TS remote tasks (alex → kate) over the distribution
 * protocol — both noderl's one-round-trip start and Elixir's protocol.
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
import {
  genCall,
  link,
  monitor,
  puts,
  receive,
  send,
  trapExit,
} from "../node/process_api.ts";
import { atom, Pid, type Ref, Tuple, tuple } from "../node/terms.ts";
import { MaxChildrenError, Task, TaskSupervisor } from "../task/mod.ts";
import { hubFor, hubStats } from "../task/_hub.ts";
import { test } from "./_tags.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const forever = () => new Promise<never>(() => {});

async function eventually(
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

const clean = (node: Node) =>
  eventually(
    `the task hub of ${node.name} holds nothing (${
      JSON.stringify(hubStats(node))
    })`,
    () => {
      const s = hubStats(node);
      return s.entries === 0 && s.aliases === 0 && s.monitors === 0 &&
        s.calls === 0;
    },
  );

describe("tasks on one node and between two nodes in one OS process", () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let alex: Node, kate: Node, bob: Node;
  const kateOut: string[] = [];

  before(async () => {
    registry = await startRegistry({ port: 0 });
    alex = await startNode({
      name: "talex@localhost",
      cookie: "tasks",
      registryPort: registry.port,
    });
    kate = await startNode({
      name: "tkate@localhost",
      cookie: "tasks",
      registryPort: registry.port,
      stdout: (t) => kateOut.push(t),
    });
    // bob runs no task supervisor: Elixir's protocol is used with him.
    bob = await startNode({
      name: "tbob@localhost",
      cookie: "tasks",
      registryPort: registry.port,
    });
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
  });

  after(async () => {
    await alex?.stop();
    await kate?.stop();
    await bob?.stop();
    await registry?.close();
  });

  // ------------------------------------------------------------ Task

  test(
    "Task.async + Task.await: closures and module functions",
    {},
    async () => {
      assert.equal(await Task.await(Task.async(() => 21 * 2)), 42);
      assert.equal(
        await Task.await(Task.async(() => Promise.resolve("later"))),
        "later",
      );
      assert.equal(
        await Task.await(Task.async("Math", "double", [4], { node: alex })),
        8,
      );
      const t = Task.async(() => 1, { node: alex });
      assert.ok(t.owner.equals(alex.shell.pid));
      assert.ok(t.pid instanceof Pid && t.pid.node === alex.name);
      assert.equal(t.linked, true);
      assert.equal(await Task.await(t), 1);
      await clean(alex);
    },
  );

  test(
    "await past the timeout: TimeoutError, the linked task killed, nothing left behind",
    {},
    async () => {
      const task = Task.async(forever, { node: alex });
      const pid = task.pid!;
      assert.ok(alex.isAlive(pid));
      const t0 = performance.now();
      await assert.rejects(Task.await(task, 50), (e: Error) => {
        assert.ok(e instanceof TimeoutError, String(e));
        assert.match(e.message, /did not reply within 50 ms; it was killed/);
        return true;
      });
      assert.ok(performance.now() - t0 >= 45);
      assert.equal(alex.isAlive(pid), false, "the linked task was killed");
      assert.ok(alex.shell.alive, "the caller (the shell) is unharmed");
      await clean(alex);
      // A second await does not wait again.
      await assert.rejects(Task.await(task, 1000), /given up on/);
    },
  );

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
    "a crashing linked task takes its caller down with the reason; the await shows message and stack",
    {},
    async () => {
      const seen: unknown[] = [];
      const caller = alex.spawn(async () => {
        const t = Task.async(function explode() {
          throw new RangeError("kaboom");
        });
        try {
          await Task.await(t);
        } catch (e) {
          seen.push(e);
        }
      });
      const reason = await alex.processOf(caller)!.exited;
      assert.match(describeReason(reason), /RangeError: kaboom/);
      await eventually("the await rejected", () => seen.length === 1);
      const e = seen[0] as ExitError;
      assert.ok(e instanceof ExitError);
      assert.match(e.message, /task explode .* exited with reason/);
      assert.match(e.message, /RangeError: kaboom/);
      assert.match(e.message, /task_local_test\.ts:\d+/, "the stack is shown");
      assert.ok(e.cause instanceof RangeError, "the JS error is the cause");
      await clean(alex);
    },
  );

  test(
    "outside any process the await rejects with the crash reason",
    {},
    async () => {
      const t = Task.async(() => {
        throw new Error("from the top level");
      }, { node: alex });
      await assert.rejects(Task.await(t), (e: Error) => {
        assert.ok(e instanceof ExitError);
        assert.match(e.message, /from the top level/);
        return true;
      });
      assert.ok(alex.shell.alive);
      // An exit from module code keeps its reason.
      const undef = Task.async("Math", "nope", [1], { node: alex });
      await assert.rejects(Task.await(undef), (e: Error) => {
        assert.ok(e instanceof ExitError);
        const r = e.reason as Tuple;
        assert.equal(r[0], atom("undef"));
        return true;
      });
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

  test("Task.yield: undefined while running, then the result", {}, async () => {
    const t = Task.async(() => sleep(100).then(() => "done"), { node: alex });
    assert.equal(await Task.yield(t, 10), undefined);
    assert.ok(alex.isAlive(t.pid!), "yield leaves the task running");
    assert.deepEqual(await Task.yield(t, 5000), { ok: "done" });
    assert.equal(await Task.await(t), "done");
    await clean(alex);
  });

  test(
    "Task.shutdown: running, replied, trapping exits (killed after the timeout), brutal_kill",
    {},
    async () => {
      const running = Task.async(forever, { node: alex });
      assert.equal(await Task.shutdown(running), undefined);
      assert.equal(alex.isAlive(running.pid!), false);

      const quick = Task.async(() => "quick", { node: alex });
      await Task.yield(quick, 1000);
      assert.deepEqual(await Task.shutdown(quick), { ok: "quick" });

      const stubborn = Task.async(async () => {
        trapExit(true);
        for (;;) await receive();
      }, { node: alex });
      const t0 = performance.now();
      assert.equal(await Task.shutdown(stubborn, 80), undefined);
      assert.ok(
        performance.now() - t0 >= 75,
        "waited for the shutdown timeout",
      );
      assert.equal(alex.isAlive(stubborn.pid!), false);

      const brutal = Task.async(forever, { node: alex });
      assert.equal(await Task.shutdown(brutal, "brutal_kill"), undefined);
      assert.equal(alex.isAlive(brutal.pid!), false);
      await clean(alex);
    },
  );

  test(
    "1,000 tasks awaited at once from one process, and awaitMany",
    {},
    async () => {
      const caller = alex.spawn(async () => {
        const tasks = Array.from(
          { length: 1000 },
          (_, i) => Task.async(() => i),
        );
        const got = await Promise.all(tasks.map((t) => Task.await(t)));
        assert.deepEqual(got, Array.from({ length: 1000 }, (_, i) => i));
        const more = Array.from(
          { length: 10 },
          (_, i) => Task.async(() => i * 3),
        );
        assert.deepEqual(
          await Task.awaitMany(more),
          Array.from({ length: 10 }, (_, i) => i * 3),
        );
        const stuck = [Task.async(() => 1), Task.async(forever)];
        await assert.rejects(Task.awaitMany(stuck, 50), TimeoutError);
      });
      assert.equal(await alex.processOf(caller)!.exited, atom("normal"));
      await clean(alex);
    },
  );

  test("bad arguments fail with what to do", {}, async () => {
    assert.throws(
      () => Task.async("Math" as never, 3 as never, [] as never),
      /module name, a function name and an array/,
    );
    const t = Task.async(() => 1, { node: alex });
    await assert.rejects(Task.await(t, -1), /timeout must be/);
    await assert.rejects(Task.await({} as never), /not a task/);
    assert.equal(await Task.await(t), 1);
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
  });

  // ------------------------------------------------------------ TaskSupervisor, local

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
        /name is taken/,
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

  // ------------------------------------------------------------ remote, TS ↔ TS

  test(
    "remote async + await on kate's supervisor ([name, node]), one round trip",
    {},
    async () => {
      const task = TaskSupervisor.async(
        ["Elixir.Chat.TaskSupervisor", "tkate@localhost"],
        "Math",
        "double",
        [21],
        { node: alex },
      );
      assert.equal(task.node, "tkate@localhost");
      assert.equal(await Task.await(task), 42);
      assert.equal(
        hubFor(alex).knownFast("tkate@localhost"),
        true,
        "noderl's start was used",
      );
      assert.equal(task.pid?.node, "tkate@localhost");
      // The seed's pipeline, printing on kate (the task's group leader is kate's).
      kateOut.length = 0;
      assert.equal(
        await Task.await(
          TaskSupervisor.async(
            ["Elixir.Chat.TaskSupervisor", "tkate@localhost"],
            "Elixir.Chat",
            "receive_message",
            ["hi"],
            { node: alex },
          ),
        ),
        atom("ok"),
      );
      assert.deepEqual(kateOut, ["hi\n"]);
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
              assert.match(e.message, /task_local_test\.ts:\d+/);
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

  test(
    "Elixir's protocol against a noderl supervisor, by hand: the exact messages",
    {},
    async () => {
      const got: unknown[] = [];
      const owner = alex.spawn(async () => {
        const me = alex.current().pid;
        const reply = await genCall(
          ["Elixir.Chat.TaskSupervisor", "tkate@localhost"],
          tuple(
            atom("start_task"),
            [tuple(atom("talex@localhost"), me, me), atom("monitor")],
            atom("temporary"),
            null,
          ),
        ) as Tuple;
        assert.equal(reply[0], atom("ok"));
        const pid = reply[1] as Pid;
        assert.equal(pid.node, "tkate@localhost");
        link(pid);
        const ref = monitor(pid);
        send(
          pid,
          // ReplyTo: Elixir sends an alias of the monitor; a pid works too.
          tuple(me, ref, me, [me], tuple(atom("Math"), atom("double"), [5])),
        );
        got.push(
          await receive((m) => m instanceof Tuple && ref.equals(m[0]), 5000),
        );
        got.push(
          await receive((m) =>
            m instanceof Tuple && m[0] === atom("DOWN") &&
            (m[1] as Ref).equals(ref), 5000),
        );
        // A task whose owner dies before sending the MFA exits {shutdown, Reason}.
        const helper = alex.spawn(() => sleep(10));
        const r2 = await genCall(
          ["Elixir.Chat.TaskSupervisor", "tkate@localhost"],
          tuple(
            atom("start_task"),
            [tuple(atom("talex@localhost"), helper, helper), atom("monitor")],
            atom("temporary"),
            null,
          ),
        ) as Tuple;
        const ref2 = monitor(r2[1] as Pid);
        const down = await receive(
          (m) =>
            m instanceof Tuple && m[0] === atom("DOWN") &&
            (m[1] as Ref).equals(ref2),
          5000,
        ) as Tuple;
        got.push(down[4]);
        // Supervisor calls Elixir makes.
        got.push(
          await genCall(
            ["Elixir.Chat.TaskSupervisor", "tkate@localhost"],
            atom("count_children"),
          ),
        );
        got.push(
          await genCall(
            ["Elixir.Chat.TaskSupervisor", "tkate@localhost"],
            tuple(atom("terminate_child"), me),
          ),
        );
      });
      assert.equal(await alex.processOf(owner)!.exited, atom("normal"));
      const [replyMsg, down, ownerDown, counts, notFound] = got as Tuple[];
      assert.equal(replyMsg[1], 10);
      assert.equal(down[4], atom("normal"));
      assert.equal(String(ownerDown[0]), "shutdown");
      assert.ok(
        ownerDown[1] === atom("normal") || ownerDown[1] === atom("noproc"),
      );
      assert.deepEqual(
        (counts as unknown as Tuple[]).map((t) => String(t[0])),
        ["specs", "active", "supervisors", "workers"],
      );
      assert.deepEqual([String(notFound[0]), String(notFound[1])], [
        "error",
        "not_found",
      ]);
    },
  );

  test(
    "bob runs no task supervisor: noproc through Elixir's protocol, and the protocol is remembered",
    {},
    async () => {
      const t = TaskSupervisor.async(
        ["Elixir.Chat.TaskSupervisor", "tbob@localhost"],
        "Math",
        "double",
        [1],
        { node: alex },
      );
      await assert.rejects(
        Task.await(t),
        (e: Error) =>
          e instanceof ExitError && e.reason === atom("noproc") &&
          /no task supervisor \{Elixir.Chat.TaskSupervisor, tbob@localhost\}/
            .test(e.message),
      );
      assert.equal(hubFor(alex).knownFast("tbob@localhost"), false);
      await clean(alex);
    },
  );

  test(
    "node.spawnRequestFrom: the monitor reference at once, the pid or the error by callback",
    {},
    async () => {
      const got: Array<[unknown, Pid | undefined]> = [];
      const done = (e: unknown, pid?: Pid) => got.push([e, pid]);
      const owner = alex.spawn(async () => {
        const me = alex.processOf(alex.current().pid)!;
        // Remote, connection up: no promise; the DOWN matches the returned ref.
        const ref = alex.spawnRequestFrom(
          me,
          "tkate@localhost",
          "Math",
          "double",
          [2],
          { monitor: true },
          done,
        );
        const down = await receive(
          (m) =>
            m instanceof Tuple && m[0] === atom("DOWN") && ref.equals(m[1]),
          5000,
        ) as Tuple;
        assert.equal(down[4], atom("normal"));
        assert.equal(got.length, 1);
        assert.equal(got[0][0], undefined);
        assert.equal(got[0][1]?.node, "tkate@localhost");
        assert.ok((down[3] as Pid).equals(got[0][1]));
        // A chosen request id; this node; an unreachable node; an unencodable argument.
        const answers = new Map<string, [unknown, Pid | undefined]>();
        const answer = (k: string) => (e: unknown, pid?: Pid) =>
          answers.set(k, [e, pid]);
        const chosen = alex.makeRef();
        assert.equal(
          alex.spawnRequestFrom(
            me,
            alex.name,
            "Math",
            "double",
            [1],
            {},
            answer("local"),
            chosen,
          ),
          chosen,
        );
        alex.spawnRequestFrom(
          me,
          "nobody@localhost",
          "Math",
          "double",
          [1],
          {},
          answer("unreachable"),
        );
        alex.spawnRequestFrom(
          me,
          "tkate@localhost",
          "Math",
          "double",
          [Symbol("x")],
          {},
          answer("unencodable"),
        );
        await eventually("all answered", () => answers.size === 3);
        const local = answers.get("local")!;
        assert.equal(local[0], undefined);
        assert.equal(local[1]?.node, alex.name);
        assert.ok(answers.get("unreachable")![0] instanceof NoConnectionError);
        const bad = answers.get("unencodable")![0];
        assert.ok(bad instanceof Error && !(bad instanceof NoConnectionError));
        assert.match((bad as Error).message, /cannot encode/);
      });
      assert.equal(await alex.processOf(owner)!.exited, atom("normal"));
    },
  );

  test("a stopped node says so", {}, async () => {
    const gone = await startNode({
      name: "tgone@localhost",
      cookie: "tasks",
      registryPort: registry.port,
    });
    await gone.stop();
    assert.throws(
      () => Task.async(() => 1, { node: gone }),
      /node tgone@localhost is stopped/,
    );
  });

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
