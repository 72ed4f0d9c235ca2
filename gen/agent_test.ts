// Agent on noderl nodes: local functions, module/function/args, names, errors,
// supervision, and an agent on another node. The Elixir side is in
// tests/gen_elixir_test.ts.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startRegistry } from "../node/registry.ts";
import { type Node, startNode } from "../node/node.ts";
import { sleep } from "../node/process_api.ts";
import { formatTerm } from "../node/format.ts";
import { atom, tuple } from "../node/terms.ts";
import { Supervisor } from "../task/mod.ts";
import { Agent } from "./agent.ts";
import type { GenServerCallError } from "./errors.ts";

let registry: Awaited<ReturnType<typeof startRegistry>>;
let a: Node, b: Node;

before(async () => {
  registry = await startRegistry({ port: 0 });
  a = await startNode({
    name: "agenta@localhost",
    cookie: "ag",
    registryPort: registry.port,
    logLevel: "none",
  });
  b = await startNode({
    name: "agentb@localhost",
    cookie: "ag",
    registryPort: registry.port,
    logLevel: "none",
  });
  for (const n of [a, b]) {
    n.defineModule("Elixir.Counter", {
      zero: () => 0,
      add: (n: number, k: number) => n + k,
      peek: (n: number) => n,
      swap: (n: number, k: number) => tuple(n, k),
    });
  }
});

after(async () => {
  await a.stop();
  await b.stop();
  await registry.close();
});

test("get, update, getAndUpdate, cast, stop with local functions", async () => {
  const pid = await Agent.start(a, () => ({ hits: 0 }), { name: "hits" });
  await Agent.update(pid, (s: { hits: number }) => ({ hits: s.hits + 1 }));
  Agent.cast("hits", (s: { hits: number }) => ({ hits: s.hits + 10 }));
  assert.equal(await Agent.get("hits", (s: { hits: number }) => s.hits), 11);
  assert.equal(
    await Agent.getAndUpdate(
      pid,
      (_s: { hits: number }) => ["old", { hits: 0 }],
    ),
    "old",
  );
  // Async functions are awaited inside the agent, in order.
  await Agent.update(pid, async (s: { hits: number }) => {
    await sleep(5);
    return { hits: s.hits + 5 };
  });
  assert.equal(await Agent.get(pid, (s: { hits: number }) => s.hits), 5);
  await Agent.stop(pid);
  const e = await Agent.get(pid, (s: unknown) => s).then(
    () => assert.fail("no error"),
    (e) => e as GenServerCallError,
  );
  assert.equal(e.callReason, atom("noproc"));
});

test("module/function/args, locally and on another node", async () => {
  const local = await Agent.start(a, "Elixir.Counter", "zero", []);
  await Agent.update(local, "Elixir.Counter", "add", [3]);
  assert.equal(await Agent.get(local, "Elixir.Counter", "peek", []), 3);
  assert.equal(
    await Agent.getAndUpdate(local, "Elixir.Counter", "swap", [7]),
    3,
  );
  assert.equal(await Agent.get(local, (n: number) => n), 7);
  const remote = await Agent.start(b, () => 100, { name: "far" });
  const far = ["far", "agentb@localhost"] as const;
  await Agent.update(far, "Elixir.Counter", "add", [1]);
  Agent.cast(remote, "Elixir.Counter", "add", [1]);
  assert.equal(await Agent.get(far, "Elixir.Counter", "peek", []), 102);
  assert.throws(
    () => Agent.cast(far, (n: number) => n),
    /a JavaScript function cannot be sent to another node; use Agent\.cast\(agent, module, function, args\)/,
  );
  // An undefined function: the agent crashes with undef, as Elixir's would.
  const e = await Agent.get(far, "Elixir.Nope", "x", []).then(
    () => assert.fail("no error"),
    (e) => e as GenServerCallError,
  );
  assert.match(
    formatTerm(e.callReason),
    /^\{undef,\[\{'Elixir.Nope',x,"f",\[\]\}\]\}$/, // [102] prints as "f"
  );
  await Agent.stop(local);
});

test("a crashing function crashes the agent; a supervisor restarts it", async () => {
  const sup = await Supervisor.start(a, [
    Agent.childSpec(() => 1, { name: "supervised_agent" }),
  ]);
  const first = a.whereis("supervised_agent")!;
  await Agent.update("supervised_agent", (n: number) => n + 1);
  await Agent.get("supervised_agent", () => {
    throw new Error("boom in get");
  }).then(() => assert.fail("no error"), () => {});
  for (
    let i = 0;
    i < 100 && a.whereis("supervised_agent")?.equals(first) !== false;
    i++
  ) {
    await sleep(5);
  }
  assert.equal(await Agent.get("supervised_agent", (n: number) => n), 1);
  const [child] = await Supervisor.whichChildren(sup);
  assert.deepEqual(child.modules, ["Elixir.Agent.Server"]);
  await Supervisor.stop(sup);
});
