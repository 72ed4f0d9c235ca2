/**
 * GenServer and Agent against real Elixir (1.14 here), both ways: an Elixir
 * node calls and casts a noderl GenServer by name and by pid, reads and
 * replaces its state with :sys, suspends and resumes it, stops it, and sees
 * `{:noproc, …}` and timeouts exactly as it does for an Elixir server;
 * noderl calls an Elixir GenServer and uses an Elixir agent; Elixir uses a
 * noderl agent by module/function/args, and a closure gets a clear refusal.
 *
 * @module
 */
import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import { startRegistry } from "../node/registry.ts";
import { type Node, startNode } from "../node/node.ts";
import { formatTerm } from "../node/format.ts";
import { atom, type Pid, type Tuple, tuple } from "../node/terms.ts";
import { Agent, GenServer, type GenServerImpl } from "../gen/mod.ts";
import { syncGlobal } from "../node/global.ts";
import type { GenServerCallError } from "../gen/errors.ts";
import { beamHelper, type BeamNode, noElixir, startBeamNode } from "./_beam.ts";
import { test } from "./_tags.ts";

const tags = ["beam", "elixir", "distributed"];
const elixirCode = () =>
  `Code.require_file(${
    JSON.stringify(beamHelper("noderl_gen.ex"))
  })\nNoderlGen.start()`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The Stack of Elixir's GenServer guide, with a few requests for the tests. */
const Stack: GenServerImpl<unknown[], unknown[]> = {
  module: "Elixir.Stack",
  init: (items) => ({ ok: true, state: items }),
  handleCall(req, _from, state) {
    if (req === atom("pop")) {
      const [head, ...tail] = state;
      return { reply: head ?? null, state: tail };
    }
    if (req === atom("state")) return { reply: state, state };
    if (req === atom("never")) return { noreply: true, state };
    if (req === atom("crash")) throw new TypeError("stack crashed on purpose");
    return { reply: tuple(atom("echo"), req), state };
  },
  handleCast: (req, state) => ({ noreply: true, state: [req, ...state] }),
};

describe("GenServer and Agent: noderl ↔ Elixir", {
  skip: noElixir || undefined,
}, () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let ts: Node;
  let ex: BeamNode;
  const logs: Array<{ level: string; message: string }> = [];
  const EX = "genex@localhost", TS = "gents@localhost";
  const STACK = "Elixir.Stack";
  /** Runs NoderlGen.fun(args) on the Elixir node. */
  const onElixir = (fun: string, args: unknown[]) =>
    ts.call(EX, "Elixir.NoderlGen", fun, args, 30_000);
  const fmt = async (p: Promise<unknown>) => formatTerm(await p);
  const errors = () => logs.filter((l) => l.level === "error");

  before(async () => {
    registry = await startRegistry({ port: 0 });
    ts = await startNode({
      name: TS,
      cookie: "gen",
      registryPort: registry.port,
      log: (message, level) => logs.push({ level, message }),
    });
    ex = await startBeamNode({
      name: EX,
      cookie: "gen",
      registryPort: registry.port,
      elixir: elixirCode(),
    });
  });

  after(async () => {
    await ex?.stop();
    await ts?.stop();
    await registry?.close();
  });

  test("Elixir calls and casts a noderl GenServer, by name and by pid", {
    tags,
  }, async () => {
    const pid = await GenServer.start(ts, Stack, [1, 2, 3], { name: STACK });
    const byName = tuple(atom(STACK), atom(TS));
    assert.equal(await fmt(onElixir("call", [byName, atom("pop")])), "{ok,1}");
    assert.equal(await fmt(onElixir("call", [pid, atom("pop")])), "{ok,2}");
    await onElixir("cast", [byName, "from elixir"]);
    assert.equal(
      await fmt(onElixir("call", [pid, atom("state")])),
      '{ok,[<<"from elixir">>,3]}',
    );
    // Any term comes back exactly.
    const term = tuple(1.5, [atom("a"), "b"], new Map([[atom("k"), 1]]));
    assert.equal(
      await fmt(onElixir("call", [pid, term])),
      `{ok,{echo,${formatTerm(term)}}}`,
    );
    await GenServer.stop(pid);
  });

  test(
    ":sys.get_state, replace_state, suspend/resume, get_status on a noderl GenServer",
    {
      tags,
    },
    async () => {
      const pid = await GenServer.start(ts, Stack, [atom("x")], {
        name: STACK,
      });
      const byName = tuple(atom(STACK), atom(TS));
      assert.equal(await fmt(onElixir("get_state", [byName])), "{ok,[x]}");
      assert.equal(await fmt(onElixir("get_state", [pid])), "{ok,[x]}");
      // An Elixir closure: noderl runs it on the node it came from.
      assert.equal(
        await fmt(onElixir("replace_state", [pid, atom("y")])),
        "{ok,[y,x]}",
      );
      assert.deepEqual(await GenServer.call(pid, atom("state")), [
        atom("y"),
        atom("x"),
      ]);
      // Suspended, the server holds casts and calls until resumed.
      assert.equal(
        await fmt(onElixir("suspended_call", [pid, atom("state")])),
        "{[y,x],[{push_while_suspended},y,x]}",
      );
      const status = await fmt(onElixir("get_status", [byName]));
      assert.match(
        status,
        /^\{ok,\{status,<[^>]+>,\{module,gen_server\},\[\[\{'\$initial_call',\{'Elixir.Stack',init,1\}\},\{'\$ancestors',\[<[^>]+>\]\}\],running,/,
      );
      assert.match(status, /"Status for generic server Elixir.Stack"/);
      assert.match(
        status,
        /\{data,\[\{"State",\[\{push_while_suspended\},y,x\]\}\]\}/,
      );
      // GenServer.stop from Elixir.
      assert.equal(await fmt(onElixir("stop", [byName])), "{ok,ok}");
      await sleep(20);
      assert.equal(ts.isAlive(pid), false);
    },
  );

  test(
    "Elixir sees {:noproc, …}, timeouts and crashes as with an Elixir server",
    {
      tags,
    },
    async () => {
      const pid = await GenServer.start(ts, Stack, [], { name: STACK });
      // noproc: the same exit for a missing name on noderl and on Elixir.
      const tsMissing = await fmt(
        onElixir("call", [tuple(atom("Elixir.NoSuch"), atom(TS)), atom("x")]),
      );
      const exMissing = await fmt(
        onElixir("call", [tuple(atom("Elixir.NoSuch"), atom(EX)), atom("x")]),
      );
      assert.equal(
        tsMissing,
        `{exit,{noproc,{'Elixir.GenServer',call,[{'Elixir.NoSuch',${TS}},x,5000]}}}`,
      );
      assert.equal(tsMissing.replace(TS, EX), exMissing);
      // timeout
      const tsTimeout = await fmt(onElixir("call", [pid, atom("never"), 100]));
      assert.match(
        tsTimeout,
        /^\{exit,\{timeout,\{'Elixir.GenServer',call,\[<[^>]+>,never,100\]\}\}\}$/,
      );
      const exTimeout = await fmt(
        onElixir("call", [
          tuple(atom("Elixir.NoderlGen.Counter"), atom(EX)),
          atom("never"),
          100,
        ]),
      );
      assert.match(
        exTimeout,
        /^\{exit,\{timeout,\{'Elixir.GenServer',call,\[\{'Elixir.NoderlGen.Counter',genex@localhost\},never,100\]\}\}\}$/,
      );
      // A crash: Elixir gets the exception; noderl logs one report.
      const before = errors().length;
      const crash = await fmt(onElixir("call", [pid, atom("crash")]));
      assert.match(
        crash,
        /^\{exit,\{\{#\{'__exception__' => true,'__struct__' => 'Elixir.RuntimeError',message => <<"TypeError: stack crashed on purpose">>\},\[.*\]\},\{'Elixir.GenServer',call,/,
      );
      await sleep(20);
      assert.equal(errors().length - before, 1);
      assert.match(
        errors().at(-1)!.message,
        /GenServer Elixir.Stack .* terminating/,
      );
    },
  );

  test(
    "noderl calls, casts and stops an Elixir GenServer",
    { tags },
    async () => {
      const counter = ["Elixir.NoderlGen.Counter", EX] as const;
      const n0 = await GenServer.call(counter, atom("get")) as number;
      assert.equal(await GenServer.call(counter, atom("inc")), n0 + 1);
      GenServer.cast(counter, tuple(atom("add"), 10));
      assert.equal(await GenServer.call(counter, atom("get")), n0 + 11);
      const pid = await ts.call(EX, "erlang", "whereis", [
        atom("Elixir.NoderlGen.Counter"),
      ]) as Pid;
      assert.equal(await GenServer.call(pid, atom("get")), n0 + 11);
      const e1 = await GenServer.call(["Elixir.NoSuch", EX], atom("x")).then(
        () => assert.fail("no error"),
        (e) => e as GenServerCallError,
      );
      assert.equal(
        formatTerm(e1.reason),
        `{noproc,{'Elixir.GenServer',call,[{'Elixir.NoSuch',${EX}},x,5000]}}`,
      );
      const e2 = await GenServer.call(counter, atom("never"), 50).then(
        () => assert.fail("no error"),
        (e) => e as GenServerCallError,
      );
      assert.equal(e2.callReason, atom("timeout"));
      // An Elixir raise in handle_call: its exit reason is the exception.
      const e3 = await GenServer.call(pid, atom("crash")).then(
        () => assert.fail("no error"),
        (e) => e as GenServerCallError,
      );
      assert.match(formatTerm(e3.callReason), /counter crashed on purpose/);
      assert.match(e3.message, /counter crashed on purpose/);
    },
  );

  test(
    "Agents: Elixir uses a noderl agent by M/F/A; noderl uses an Elixir agent",
    {
      tags,
    },
    async () => {
      ts.defineModule("Elixir.Shelf", {
        count: (items: unknown[]) => items.length,
        add: (items: unknown[], x: unknown) => [x, ...items],
        take: (items: unknown[]) => tuple(items[0], items.slice(1)),
      });
      const agent = await Agent.start(ts, () => [1, 2], { name: "shelf" });
      const byName = tuple(atom("shelf"), atom(TS));
      const shelf = atom("Elixir.Shelf");
      assert.equal(
        await fmt(onElixir("agent_get", [byName, shelf, atom("count"), []])),
        "{ok,2}",
      );
      assert.equal(
        await fmt(onElixir("agent_update", [agent, shelf, atom("add"), [0]])),
        "{ok,ok}",
      );
      assert.equal(
        await fmt(
          onElixir("agent_get_and_update", [byName, shelf, atom("take"), []]),
        ),
        "{ok,0}",
      );
      await onElixir("agent_cast", [byName, shelf, atom("add"), [9]]);
      assert.deepEqual(await Agent.get(agent, (s: unknown[]) => s), [9, 1, 2]);
      // An Elixir closure: refused, clearly, and the agent lives on.
      const refused = await fmt(onElixir("agent_get_closure", [byName]));
      assert.match(
        refused,
        /^\{ok,\{error,\{noderl_cannot_run_closure,<<"an Elixir or Erlang closure cannot run in JavaScript: use the module\/function\/args form/,
      );
      assert.ok(
        logs.some((l) =>
          l.level === "warning" && /closure cannot run/.test(l.message)
        ),
      );
      assert.deepEqual(await Agent.get("shelf", (s: unknown[]) => s.length), 3);
      // noderl on Elixir's NoderlGen.Bag (state [:a, :b]).
      const bag = ["Elixir.NoderlGen.Bag", EX] as const;
      assert.equal(await Agent.get(bag, "Elixir.NoderlGen", "bag_size", []), 2);
      await Agent.update(bag, "Elixir.NoderlGen", "bag_add", [atom("c")]);
      assert.equal(
        await Agent.getAndUpdate(bag, "Elixir.NoderlGen", "bag_pop", []),
        atom("c"),
      );
      assert.throws(
        () => Agent.cast(bag, (s: unknown) => s),
        /a JavaScript function cannot be sent to another node/,
      );
      await assert.rejects(
        Agent.get(bag, (s: unknown) => s),
        /a JavaScript function cannot be sent to another node/,
      );
      await Agent.stop(agent);
    },
  );

  test(
    "{global, name}: Elixir calls a noderl server, noderl calls an Elixir server",
    {
      tags,
    },
    async () => {
      await ts.connect(EX);
      await syncGlobal(undefined, { node: ts });
      const g = tuple(atom("global"), atom("noderl_stack"));
      const pid = await GenServer.start(ts, Stack, [7, 8], { name: g });
      assert.equal(await fmt(onElixir("call", [g, atom("pop")])), "{ok,7}");
      await onElixir("cast", [g, "from elixir"]);
      assert.deepEqual(await GenServer.call(g, atom("state")), [
        "from elixir",
        8,
      ]);
      const exCounter = tuple(atom("global"), atom("noderl_gen_counter"));
      const n = await GenServer.call(exCounter, atom("get")) as number;
      assert.equal(await GenServer.call(exCounter, atom("inc")), n + 1);
      await GenServer.stop(pid);
      assert.match(
        await fmt(onElixir("call", [g, atom("pop")])),
        /^\{exit,\{noproc,\{'Elixir.GenServer',call,\[\{global,noderl_stack\},pop,5000\]\}\}\}$/,
      );
    },
  );

  test(
    "Elixir stops a noderl GenServer with a reason; a second stop is noproc",
    {
      tags,
    },
    async () => {
      const pid = await GenServer.start(ts, Stack, [], { name: STACK });
      const r = await fmt(onElixir("stop", [pid, atom("shutdown")]));
      assert.equal(r, "{ok,ok}");
      assert.equal(ts.isAlive(pid), false);
      // Stopping again: noproc, as for an Elixir server.
      const again = await fmt(onElixir("stop", [pid]));
      assert.match(again, /^\{exit,\{noproc,\{'Elixir.GenServer',stop,/);
      assert.ok(!ts.isAlive(pid));
      assert.equal(
        (await onElixir("call", [pid, atom("x")]) as Tuple)[0],
        atom("exit"),
      );
    },
  );
});
