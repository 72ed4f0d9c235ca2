/**
 * Elixir's task-supervisor protocol (_supervised.ts) against a noderl
 * supervisor, message by message, as an Elixir node sends them.
 *
 * @module
 */
import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import type { Node } from "../node/node.ts";
import { genCall, link, monitor, receive, send } from "../node/process_api.ts";
import { atom, type Pid, type Ref, Tuple, tuple } from "../node/terms.ts";
import { test } from "../testing/mod.ts";
import { sleep, startTaskNodes, type TaskNodes } from "../tests/_task_nodes.ts";

describe("Elixir's task-supervisor protocol", () => {
  let nodes: TaskNodes;
  let alex: Node, kate: Node;

  before(async () => {
    nodes = await startTaskNodes("sv_");
    ({ alex, kate } = nodes);
  });

  after(async () => {
    await nodes?.stop();
  });

  test(
    "Elixir's protocol against a noderl supervisor, by hand: the exact messages",
    {},
    async () => {
      const got: unknown[] = [];
      const owner = alex.spawn(async () => {
        const me = alex.current().pid;
        const reply = await genCall(
          ["Elixir.Chat.TaskSupervisor", "sv_kate@localhost"],
          tuple(
            atom("start_task"),
            [tuple(atom("sv_alex@localhost"), me, me), atom("monitor")],
            atom("temporary"),
            null,
          ),
        ) as Tuple;
        assert.equal(reply[0], atom("ok"));
        const pid = reply[1] as Pid;
        assert.equal(pid.node, "sv_kate@localhost");
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
          ["Elixir.Chat.TaskSupervisor", "sv_kate@localhost"],
          tuple(
            atom("start_task"),
            [tuple(atom("sv_alex@localhost"), helper, helper), atom("monitor")],
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
            ["Elixir.Chat.TaskSupervisor", "sv_kate@localhost"],
            atom("count_children"),
          ),
        );
        got.push(
          await genCall(
            ["Elixir.Chat.TaskSupervisor", "sv_kate@localhost"],
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
    "Elixir 1.18's shapes by hand: an alias as Ref and ReplyTo, nomonitor, start_child of a temporary MFA",
    {},
    async () => {
      const SUP = ["Elixir.Chat.TaskSupervisor", kate.name] as const;
      const got: unknown[] = [];
      nodes.kateOut.length = 0;
      const owner = alex.spawn(async () => {
        const me = alex.current();
        const startTask = async (mode: string) => {
          const r = await genCall(
            SUP,
            tuple(
              atom("start_task"),
              [tuple(atom(alex.name), me.pid, me.pid), atom(mode)],
              atom("temporary"),
              null,
            ),
          ) as Tuple;
          assert.equal(r[0], atom("ok"));
          return r[1] as Pid;
        };
        // async in 1.15+: an alias of the monitor is both Ref and ReplyTo.
        const pid = await startTask("monitor");
        const alias = alex.aliasFor(me);
        send(
          pid,
          tuple(
            me.pid,
            alias,
            alias,
            [me.pid],
            tuple(
              atom("Math"),
              atom("double"),
              [5],
            ),
          ),
        );
        got.push(
          await receive(
            (m) => m instanceof Tuple && alias.equals(m[0]),
            5000,
          ),
        );
        alex.unalias(alias);
        // nomonitor: the task waits (no 5 s limit) for the message.
        const waiting = await startTask("nomonitor");
        await sleep(20);
        const ref = alex.makeRef();
        send(
          waiting,
          tuple(
            me.pid,
            ref,
            me.pid,
            [],
            tuple(atom("Math"), atom("double"), [
              6,
            ]),
          ),
        );
        got.push(
          await receive((m) => m instanceof Tuple && ref.equals(m[0]), 5000),
        );
        // start_child of a temporary MFA in 1.18: the async start, then the
        // message with a plain reference as Ref and ReplyTo; the answer goes
        // nowhere.
        const child = await startTask("monitor");
        const plain = alex.makeRef();
        const down = monitor(child);
        send(
          child,
          tuple(
            me.pid,
            plain,
            plain,
            [me.pid],
            tuple(
              atom("Elixir.Chat"),
              atom("receive_message"),
              ["hi from 1.18"],
            ),
          ),
        );
        got.push(
          (await receive(
            (m) =>
              m instanceof Tuple && m[0] === atom("DOWN") &&
              down.equals(m[1]),
            5000,
          ) as Tuple)[4],
        );
        await sleep(50);
        got.push(alex.current().messageCount);
      });
      assert.equal(await alex.processOf(owner)!.exited, atom("normal"));
      const [aliased, plainReply, childDown, left] = got as Tuple[];
      assert.equal(aliased[1], 10);
      assert.equal(plainReply[1], 12);
      assert.equal(childDown, atom("normal"));
      assert.deepEqual(nodes.kateOut, ["hi from 1.18\n"]);
      assert.equal(left, 0, "the answer to a plain reference is dropped");
    },
  );
});
