/**
 * Introspection for remote callers, with the BEAM as the oracle: a real
 * `erl` node asks the noderl node and itself the same BIFs over rpc —
 * `erlang:processes/0`, `process_info/1,2`, `memory/0,1`,
 * `system_info/1`, `statistics/1`, `registered/0`, `whereis/1`,
 * `is_process_alive/1`, `nodes/1` — and the shapes of the answers must
 * be the same (tests/beam/noderl_introspect.erl). Elixir's `Process` and
 * `Node` functions answer over rpc too.
 *
 * @module
 */
import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import { startRegistry } from "../node/registry.ts";
import { type Node, startNode } from "../node/node.ts";
import { formatTerm } from "../node/format.ts";
import { atom, Pid, type Tuple } from "../node/terms.ts";
import { type BeamNode, noErl, startBeamNode } from "./_beam.ts";
import { test } from "./_tags.ts";

const tags = ["beam", "distributed"];

describe("introspection over rpc: noderl answers as the BEAM", {
  skip: noErl || undefined,
}, () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let ts: Node;
  let erl: BeamNode;
  const TS = "intro_ts@localhost", ERL = "intro_erl@localhost";

  before(async () => {
    registry = await startRegistry({ port: 0 });
    ts = await startNode({
      name: TS,
      cookie: "intro",
      registryPort: registry.port,
      logLevel: "none",
    });
    erl = await startBeamNode({
      name: ERL,
      cookie: "intro",
      registryPort: registry.port,
    });
  });

  after(async () => {
    await erl?.stop();
    await ts?.stop();
    await registry?.close();
  });

  test("the shapes of the BIFs' answers are the BEAM's", { tags }, async () => {
    const shapes = await ts.call(
      ERL,
      "noderl_introspect",
      "shapes",
      [atom(TS)],
      30_000,
    ) as Tuple;
    const [ours, beam] = shapes as unknown as [unknown[], unknown[]];
    const asText = (xs: unknown[]) => xs.map((x) => formatTerm(x));
    assert.deepEqual(asText(ours), asText(beam));
  });

  test(
    "process_info of one process, memory and Elixir's Process/Node functions",
    {
      tags,
    },
    async () => {
      const parent = ts.spawn(() => new Promise(() => {}));
      const child = ts.spawn(() => new Promise(() => {}), {});
      ts.processOf(child)!.links.set(parent.key, parent);
      ts.processOf(parent)!.links.set(child.key, child);
      ts.send(child, "hello");
      ts.register("intro_child", child);
      const info = await ts.call(ERL, "erlang", "apply", [
        atom("rpc"),
        atom("call"),
        [atom(TS), atom("erlang"), atom("process_info"), [child, [
          atom("registered_name"),
          atom("message_queue_len"),
          atom("links"),
          atom("messages"),
          atom("status"),
        ]]],
      ]) as Tuple[];
      assert.equal(
        formatTerm(info, { localNode: TS }),
        `[{registered_name,intro_child},{message_queue_len,1},{links,[${
          formatTerm(parent, { localNode: TS })
        }]},{messages,[<<"hello">>]},{status,runnable}]`,
      );
      ts.exit(child, atom("kill"));
      const dead = await ts.call(ERL, "rpc", "call", [
        atom(TS),
        atom("erlang"),
        atom("process_info"),
        [child],
      ]);
      assert.equal(dead, atom("undefined"));
      const list = await ts.call(ERL, "rpc", "call", [
        atom(TS),
        atom("Elixir.Process"),
        atom("list"),
        [],
      ]) as Pid[];
      assert.ok(list.length > 3 && list.every((p) => p instanceof Pid));
      assert.equal(
        await ts.call(ERL, "rpc", "call", [
          atom(TS),
          atom("Elixir.Process"),
          atom("info"),
          [child, atom("status")],
        ]),
        null,
      );
      assert.deepEqual(
        await ts.call(ERL, "rpc", "call", [
          atom(TS),
          atom("Elixir.Node"),
          atom("list"),
          [],
        ]),
        [atom(ERL)],
      );
      const total = await ts.call(ERL, "rpc", "call", [
        atom(TS),
        atom("erlang"),
        atom("memory"),
        [atom("total")],
      ]) as number;
      assert.ok(total > 10_000_000, `total memory ${total}`);
    },
  );
});
