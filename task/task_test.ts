/**
 * Task (task.ts) on real nodes in one OS process: async and await, the
 * await timeout, crashes with their reasons and stacks, yield, shutdown,
 * many tasks at once, bad arguments, a stopped node.
 *
 * @module
 */
import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import { type Node, startNode } from "../node/node.ts";
import { describeReason, ExitError, TimeoutError } from "../node/errors.ts";
import { receive, trapExit } from "../node/process_api.ts";
import { atom, Pid, type Tuple } from "../node/terms.ts";
import { Task } from "./task.ts";
import { test } from "../testing/mod.ts";
import {
  clean,
  eventually,
  forever,
  sleep,
  startTaskNodes,
  type TaskNodes,
} from "../tests/_task_nodes.ts";

describe("Task", () => {
  let nodes: TaskNodes;
  let alex: Node;

  before(async () => {
    nodes = await startTaskNodes("task_");
    alex = nodes.alex;
  });

  after(async () => {
    await nodes?.stop();
  });

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
      assert.match(e.message, /task_test\.ts:\d+/, "the stack is shown");
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
    await assert.rejects(Task.await(t, -1), RangeError);
    await assert.rejects(Task.yield(t, Number.NaN), RangeError);
    await assert.rejects(Task.shutdown(t, -5), RangeError);
    await assert.rejects(Task.awaitMany([t], -1), RangeError);
    await assert.rejects(Task.await({} as never), /not a task/);
    assert.equal(await Task.await(t), 1);
  });

  test("a stopped node says so", {}, async () => {
    const gone = await startNode({
      name: "task_gone@localhost",
      cookie: "tasks",
      registryPort: nodes.registry.port,
    });
    await gone.stop();
    assert.throws(
      () => Task.async(() => 1, { node: gone }),
      /node task_gone@localhost is stopped/,
    );
  });
});
