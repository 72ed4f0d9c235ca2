/**
 * Supervisor (supervisor.ts) on a real node: strategies, restart types,
 * restart intensity, ordered shutdown with timeouts, names, which/count
 * children, nested supervisors, bad specs and options.
 *
 * @module
 */
import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import { startRegistry } from "../node/registry.ts";
import { type Node, startNode } from "../node/node.ts";
import { ExitError, NameTakenError } from "../node/errors.ts";
import { receive, trapExit } from "../node/process_api.ts";
import { atom, Pid, Tuple } from "../node/terms.ts";
import { type ChildSpec, Supervisor } from "./supervisor.ts";
import { Task } from "./task.ts";
import { TaskSupervisor } from "./task_supervisor.ts";
import { test } from "../testing/mod.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const STOP = atom("stop");
const CRASH = atom("crash");

interface WorkerBehaviour {
  /** Trap exits and log "stop ID" on shutdown, after `stopDelay` ms. */
  trap?: boolean;
  stopDelay?: number;
  /** Trap exits and ignore shutdown (to be killed). */
  stubborn?: boolean;
}

/** A worker that logs its starts and stops; `stop` ends it normally. */
function worker(
  id: string,
  log: string[],
  spec: Partial<ChildSpec> = {},
  how: WorkerBehaviour = {},
): ChildSpec {
  return {
    ...Supervisor.worker(id, async () => {
      log.push(`start ${id}`);
      if (how.trap || how.stubborn) trapExit(true);
      for (;;) {
        const m = await receive();
        if (m === STOP) return;
        if (m === CRASH) throw new Error(`${id} crashed`);
        if (
          m instanceof Tuple && m[0] === atom("EXIT") &&
          m[2] === atom("shutdown")
        ) {
          if (how.stubborn) continue;
          if (how.stopDelay) await sleep(how.stopDelay);
          log.push(`stop ${id}`);
          return;
        }
      }
    }),
    ...spec,
  };
}

describe("Supervisor", () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let node: Node;

  before(async () => {
    registry = await startRegistry({ port: 0 });
    node = await startNode({
      name: "sups@localhost",
      cookie: "sups",
      registryPort: registry.port,
    });
  });

  after(async () => {
    await node?.stop();
    await registry?.close();
  });

  const pids = async (sup: Pid | string) =>
    Object.fromEntries(
      (await Supervisor.whichChildren(sup, { node })).map((
        c,
      ) => [c.id, c.pid === undefined ? undefined : String(c.pid)]),
    );
  /** Sends `message` to child `id` and waits until it has exited. */
  const tell = async (sup: Pid | string, id: string, message: unknown) => {
    const pid = await pidOf(sup, id);
    const exited = node.processOf(pid)!.exited;
    node.send(pid, message);
    await exited;
  };
  const pidOf = async (sup: Pid | string, id: string) =>
    (await Supervisor.whichChildren(sup, { node })).find((c) => c.id === id)!
      .pid as Pid;

  for (
    const [strategy, restarted] of [
      ["one_for_one", ["b"]],
      ["one_for_all", ["a", "b", "c"]],
      ["rest_for_one", ["b", "c"]],
    ] as const
  ) {
    test(
      `${strategy}: a crash of b restarts ${restarted.join(", ")}`,
      {},
      async () => {
        const log: string[] = [];
        const sup = await Supervisor.start(node, [
          worker("a", log, {}, { trap: true }),
          worker("b", log, {}, { trap: true }),
          worker("c", log, {}, { trap: true }),
        ], { strategy });
        assert.deepEqual(log, ["start a", "start b", "start c"]);
        const before = await pids(sup);
        log.length = 0;
        await tell(sup, "b", CRASH);
        const after = await pids(sup);
        for (const id of ["a", "b", "c"]) {
          if ((restarted as readonly string[]).includes(id)) {
            assert.notEqual(after[id], before[id], `${id} was restarted`);
          } else assert.equal(after[id], before[id], `${id} was left alone`);
        }
        // Others stop in reverse start order, then all start in order.
        const expected = {
          one_for_one: ["start b"],
          one_for_all: ["stop c", "stop a", "start a", "start b", "start c"],
          rest_for_one: ["stop c", "start b", "start c"],
        }[strategy];
        assert.deepEqual(log, expected);
        await Supervisor.stop(sup, "normal", { node });
        assert.equal(node.isAlive(sup), false);
      },
    );
  }

  test("restart types: permanent, transient, temporary", {}, async () => {
    const log: string[] = [];
    const sup = await Supervisor.start(node, [
      worker("perm", log, { restart: "permanent" }),
      worker("trans", log, { restart: "transient" }),
      worker("temp", log, { restart: "temporary" }),
    ], { maxRestarts: 10 });
    log.length = 0;
    // A normal exit: only the permanent child comes back.
    for (const id of ["perm", "trans", "temp"]) await tell(sup, id, STOP);
    const afterNormal = await Supervisor.whichChildren(sup, { node });
    assert.deepEqual(afterNormal.map((c) => c.id), ["perm", "trans"]);
    assert.ok(afterNormal[0].pid instanceof Pid);
    assert.equal(afterNormal[1].pid, undefined, "transient: not restarted");
    assert.deepEqual(log, ["start perm"]);
    assert.deepEqual(await Supervisor.countChildren(sup, { node }), {
      specs: 2,
      active: 1,
      supervisors: 0,
      workers: 2,
    });
    // A crash: transient comes back too.
    await Supervisor.restartChild(sup, "trans", { node });
    log.length = 0;
    await tell(sup, "trans", CRASH);
    assert.ok((await pidOf(sup, "trans")) instanceof Pid);
    assert.deepEqual(log, ["start trans"]);
    await Supervisor.stop(sup, "normal", { node });
  });

  test(
    "restart intensity: more than maxRestarts in maxSeconds and the supervisor exits, stopping the rest",
    {},
    async () => {
      const log: string[] = [];
      const sup = await Supervisor.start(node, [
        worker("steady", log, {}, { trap: true }),
        worker("flaky", log),
      ], { maxRestarts: 2, maxSeconds: 5 });
      const exited = node.processOf(sup)!.exited;
      for (let i = 0; i < 2; i++) {
        node.exit(await pidOf(sup, "flaky"), atom("crash"));
      }
      assert.ok(node.isAlive(sup), "2 restarts are allowed");
      node.exit(await pidOf(sup, "flaky"), atom("crash"));
      assert.equal(await exited, atom("shutdown"));
      assert.deepEqual(log.filter((l) => l !== "start flaky"), [
        "start steady",
        "stop steady",
      ]);
      assert.equal(log.filter((l) => l === "start flaky").length, 3);
    },
  );

  test(
    "restart intensity counts only restarts within maxSeconds",
    {},
    async () => {
      const log: string[] = [];
      const sup = await Supervisor.start(node, [worker("w", log)], {
        maxRestarts: 1,
        maxSeconds: 0.15,
      });
      for (let i = 0; i < 4; i++) {
        node.exit(await pidOf(sup, "w"), atom("crash"));
        await sleep(200);
      }
      assert.ok(node.isAlive(sup));
      assert.equal(log.length, 5);
      await Supervisor.stop(sup, "normal", { node });
    },
  );

  test(
    "ordered shutdown: reverse order, each within its shutdown time, brutal_kill",
    {},
    async () => {
      const log: string[] = [];
      const sup = await Supervisor.start(node, [
        worker("first", log, {}, { trap: true, stopDelay: 30 }),
        worker("stubborn", log, { shutdown: 150 }, { stubborn: true }),
        worker("brutal", log, { shutdown: "brutal_kill" }, { trap: true }),
        worker("last", log, {}, { trap: true }),
      ], { name: "Elixir.Ordered.Supervisor" });
      const stubborn = node.processOf(await pidOf(sup, "stubborn"))!;
      const brutal = node.processOf(await pidOf(sup, "brutal"))!;
      log.length = 0;
      const t0 = performance.now();
      await Supervisor.stop("Elixir.Ordered.Supervisor", "shutdown", { node });
      const ms = performance.now() - t0;
      assert.deepEqual(log, ["stop last", "stop first"]);
      assert.equal(
        await brutal.exited,
        atom("killed"),
        "brutal_kill: no shutdown signal",
      );
      assert.equal(
        await stubborn.exited,
        atom("killed"),
        "killed after its 150 ms",
      );
      assert.ok(
        ms >= 170,
        `waited for the stubborn child and first's 30 ms (${ms} ms)`,
      );
      assert.equal(node.whereis("Elixir.Ordered.Supervisor"), undefined);
      await assert.rejects(
        Supervisor.stop(sup, "normal", { node }),
        (e: Error) => e instanceof ExitError && e.reason === atom("noproc"),
      );
    },
  );

  test(
    "names, whichChildren, countChildren, nested supervisors, dynamic children",
    {},
    async () => {
      const log: string[] = [];
      const sup = await Supervisor.start(node, [
        worker("w1", log),
        Supervisor.childSpec({
          id: "inner",
          name: "Elixir.Inner.Supervisor",
          children: [worker("w2", log), worker("w3", log)],
          strategy: "one_for_all",
        }),
        [TaskSupervisor, { name: "Elixir.Nested.TaskSupervisor" }],
      ], { name: "Elixir.Outer.Supervisor" });
      assert.ok(node.whereis("Elixir.Outer.Supervisor")?.equals(sup));
      const kids = await Supervisor.whichChildren("Elixir.Outer.Supervisor", {
        node,
      });
      assert.deepEqual(
        kids.map((c) => [c.id, c.type, c.pid instanceof Pid]),
        [
          ["w1", "worker", true],
          ["inner", "supervisor", true],
          ["Elixir.Nested.TaskSupervisor", "supervisor", true],
        ],
      );
      assert.deepEqual(kids[2].modules, ["Elixir.Task.Supervisor"]);
      assert.deepEqual(await Supervisor.countChildren(sup, { node }), {
        specs: 3,
        active: 3,
        supervisors: 2,
        workers: 1,
      });
      assert.equal(
        (await Supervisor.countChildren("Elixir.Inner.Supervisor", { node }))
          .active,
        2,
      );
      // The nested task supervisor works.
      assert.equal(
        await Task.await(
          TaskSupervisor.async("Elixir.Nested.TaskSupervisor", () => "nested", {
            node,
          }),
        ),
        "nested",
      );
      // A name is taken.
      await assert.rejects(
        Supervisor.start(node, [], { name: "Elixir.Outer.Supervisor" }),
        (e: Error) => {
          assert.ok(e instanceof NameTakenError, String(e));
          assert.equal(e.takenName, "Elixir.Outer.Supervisor");
          assert.match(e.message, /name Elixir.Outer.Supervisor is taken by/);
          return true;
        },
      );
      // terminate / restart / delete / start a child.
      await Supervisor.terminateChild(sup, "w1", { node });
      assert.equal(await pidOf(sup, "w1"), undefined);
      await assert.rejects(
        Supervisor.deleteChild(sup, "inner", { node }),
        /it is running/,
      );
      const w1 = await Supervisor.restartChild(sup, "w1", { node });
      assert.ok(node.isAlive(w1));
      await Supervisor.terminateChild(sup, "w1", { node });
      await Supervisor.deleteChild(sup, "w1", { node });
      await assert.rejects(
        Supervisor.terminateChild(sup, "w1", { node }),
        /has no child with that id/,
      );
      const w4 = await Supervisor.startChild(sup, worker("w4", log), { node });
      assert.equal(String(await pidOf(sup, "w4")), String(w4));
      // Stopping the outer one stops everything below it.
      const inner = await pidOf(sup, "inner");
      await Supervisor.stop(sup, "normal", { node });
      assert.equal(node.isAlive(inner), false);
      assert.equal(node.whereis("Elixir.Nested.TaskSupervisor"), undefined);
    },
  );

  test(
    "a child that fails to start: start rejects and the started ones stop",
    {},
    async () => {
      const log: string[] = [];
      await assert.rejects(
        Supervisor.start(node, [
          worker("ok", log, {}, { trap: true }),
          {
            id: "broken",
            start: () => {
              throw new Error("cannot start");
            },
          },
        ]),
        /failed to start child broken: cannot start/,
      );
      assert.deepEqual(log, ["start ok", "stop ok"]);
      await assert.rejects(
        Supervisor.start(node, [{ id: "x" } as never]),
        /a child is a \{ id, start \} spec/,
      );
      await assert.rejects(
        Supervisor.start(node, [], { strategy: "all_for_one" as never }),
        /strategy must be/,
      );
      // Out-of-range values: RangeError, saying what is allowed.
      for (
        const [children, options, message] of [
          [[], { strategy: "all_for_one" }, /strategy must be/],
          [[], { maxRestarts: -1 }, /maxRestarts must be an integer ≥ 0/],
          [[], { maxRestarts: 0.5 }, /maxRestarts must be an integer ≥ 0/],
          [[], { maxSeconds: 0 }, /maxSeconds must be a number > 0/],
          [[worker("w", log, { shutdown: -1 })], {}, /shutdown must be/],
          [
            [worker("w", log, { restart: "often" as never })],
            {},
            /restart must be/,
          ],
          [[worker("w", log, { type: "boss" as never })], {}, /type must be/],
        ] as const
      ) {
        await assert.rejects(
          Supervisor.start(node, children, options as never),
          (e: Error) => e instanceof RangeError && message.test(e.message),
        );
      }
      await assert.rejects(
        Supervisor.start(node, [worker("same", log), worker("same", log)]),
        /two children have the id same/,
      );
    },
  );

  test(
    "a supervisor started in a process stops when that process exits",
    {},
    async () => {
      const log: string[] = [];
      let sup: Pid | undefined;
      const parent = node.spawn(async () => {
        sup = await Supervisor.start(node, [
          worker("w", log, {}, { trap: true }),
        ]);
        await receive();
      });
      const end = Date.now() + 5000;
      while (sup === undefined && Date.now() < end) await sleep(5);
      const exited = node.processOf(sup!)!.exited;
      node.exit(parent, atom("kill"));
      assert.equal(await exited, atom("killed"));
      assert.deepEqual(log, ["start w", "stop w"]);
    },
  );

  // ------------------------------------------------------------ Application
});
