/**
 * `noderl-top` (node/top_main.ts) as a command: `--once` against an Elixir
 * node (as `iex --sname` runs it) and against a noderl node prints the
 * process table, busiest mailbox first; the live mode refreshes until
 * SIGTERM; a wrong cookie, a node that is not running and bad flags fail
 * with words that say what to do.
 *
 * @module
 */
import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { startRegistry } from "../node/registry.ts";
import { type Node, startNode } from "../node/node.ts";
import { GenServer } from "../gen/mod.ts";
import { type BeamNode, noElixir, startBeamNode } from "./_beam.ts";
import { start, tsRunner } from "./_registry.ts";
import { test } from "./_tags.ts";

const script = join(
  dirname(fileURLToPath(import.meta.url)),
  "..",
  "node",
  "top_main.ts",
);
const top = (args: string[], env: Record<string, string> = {}) => {
  const [cmd, pre] = tsRunner();
  return start(cmd, [...pre, script, ...args], env);
};

describe("noderl-top", () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let ts: Node;
  let ex: BeamNode | undefined;
  const TS = "topts@localhost", EX = "topex@localhost";
  let port: string;

  before(async () => {
    registry = await startRegistry({ port: 0 });
    port = String(registry.port);
    ts = await startNode({
      name: TS,
      cookie: "topc",
      registryPort: registry.port,
      logLevel: "none",
    });
  });

  after(async () => {
    await ex?.stop();
    await ts.stop();
    await registry.close();
  });

  test("--help, --version and bad flags", { tags: ["cli"] }, async () => {
    const help = top(["--help"]);
    assert.equal(await help.exited, 0);
    assert.match(help.stdout(), /usage: noderl-top NODE/);
    const version = top(["--version"]);
    assert.equal(await version.exited, 0);
    assert.match(version.stdout(), /^noderl-top \d+\.\d+\.\d+/);
    for (
      const [args, why] of [
        [[], /give exactly one node name/],
        [["kate"], /not a full node name/],
        [["kate@localhost", "--sort", "age"], /--sort must be queue/],
        [["kate@localhost", "--limit", "0"], /--limit must be/],
        [["kate@localhost", "--frobnicate"], /Unknown option/],
      ] as const
    ) {
      const r = top([...args]);
      assert.equal(await r.exited, 2, args.join(" "));
      assert.match(r.stderr(), why);
    }
  });

  test("--once against a noderl node prints its process table", {
    tags: ["cli", "distributed"],
  }, async () => {
    await GenServer.start(
      ts,
      {
        module: "Elixir.TopStack",
        init: () => ({ ok: true as const, state: 0 }),
      },
      0,
      { name: "Elixir.TopStack" },
    );
    const busy = ts.spawn(() => new Promise(() => {}));
    ts.register("busy_mailbox", busy);
    for (let i = 0; i < 7; i++) ts.send(busy, i);
    const r = top([
      TS,
      "--cookie",
      "topc",
      "--registry-port",
      port,
      "--once",
      "--limit",
      "50",
    ]);
    assert.equal(await r.exited, 0, r.stderr());
    const out = r.stdout();
    assert.match(
      out,
      /^noderl-top topts@localhost \(noderl: noderl \d+\.\d+\.\d+ on /,
    );
    assert.match(out, /\n\s*memory: total \d/m);
    assert.match(
      out,
      /\nPID\s+NAME OR INITIAL CALL\s+MSGQ\s+REDS\s+MEMORY\s+CURRENT FUNCTION\n/,
    );
    // The busiest mailbox first.
    assert.match(out, /CURRENT FUNCTION\n<0\.\d+\.\d+>\s+busy_mailbox\s+7\s/);
    assert.match(out, /\n<0\.\d+\.\d+>\s+Elixir\.TopStack\s+0\s/);
    assert.match(out, /\n<0\.\d+\.\d+>\s+rex\s/);
    // It came as a hidden node and left.
    assert.deepEqual(ts.nodes(), []);
  });

  test("--once against an Elixir node (iex --sname) prints its process table", {
    tags: ["cli", "distributed", "beam", "elixir"],
    skip: noElixir || undefined,
  }, async () => {
    ex = await startBeamNode({
      name: EX,
      cookie: "topc",
      registryPort: registry.port,
      elixir: `{:ok, _} = Agent.start(fn -> 0 end, name: TopAgent)
pid = spawn(fn -> Process.sleep(:infinity) end)
Process.register(pid, :busy_mailbox)
for i <- 1..50, do: send(pid, i)`,
    });
    const r = top([
      EX,
      "--cookie",
      "topc",
      "--registry-port",
      port,
      "--once",
      "--limit",
      "200",
    ]);
    assert.equal(await r.exited, 0, r.stderr());
    const out = r.stdout();
    assert.match(out, /^noderl-top topex@localhost \(BEAM: Erlang\/OTP \d+/);
    assert.match(out, /\d+ processes, run queue \d+, uptime/);
    assert.match(out, /CURRENT FUNCTION\n<0\.\d+\.\d+>\s+busy_mailbox\s+50\s/);
    assert.match(
      out,
      /\n<0\.\d+\.\d+>\s+Elixir\.TopAgent\s+0\s+\d+\s+[\d.]+ [KM]?B\s+gen_server:loop\/\d/,
    );
    assert.match(out, /\n<0\.\d+\.\d+>\s+code_server\s/);
    // Real initial calls of proc_lib processes, as observer shows them.
    assert.doesNotMatch(out, /proc_lib:init_p\/5/);
    // Sorted by memory instead.
    const m = top([
      EX,
      "--cookie",
      "topc",
      "--registry-port",
      port,
      "--once",
      "--sort",
      "memory",
      "--limit",
      "3",
    ]);
    assert.equal(await m.exited, 0, m.stderr());
    assert.match(m.stdout(), /… \d+ more \(sorted by memory/);
  });

  test("the live table refreshes until SIGTERM", {
    tags: ["cli", "distributed"],
  }, async () => {
    const live = top([
      TS,
      "--cookie",
      "topc",
      "--registry-port",
      port,
      "--interval",
      "200",
    ]);
    await live.waitForOutput(/noderl-top topts[^]*noderl-top topts/, 20_000);
    // (process.kill, not ChildProcess#kill: under Deno the latter reports
    // the signal it sent rather than the child's own exit status.)
    process.kill(live.proc.pid!, "SIGTERM");
    assert.equal(await live.exited, 0);
    // Only the header repeats: each refresh is a whole table.
    assert.ok(live.stdout().split("noderl-top topts").length >= 3);
  });

  test("a wrong cookie and a node that is not running fail in words", {
    tags: ["cli", "distributed"],
  }, async () => {
    const cookie = top([
      TS,
      "--cookie",
      "nope",
      "--registry-port",
      port,
      "--once",
    ]);
    assert.equal(await cookie.exited, 1);
    assert.match(
      cookie.stderr(),
      /cannot connect to topts@localhost: wrong cookie — topts@localhost refused our cookie\. Give the node's cookie with --cookie/,
    );
    assert.doesNotMatch(cookie.stderr(), /\bat \S+\.ts:/, "no stack trace");
    const missing = top([
      "ghost@localhost",
      "--cookie",
      "topc",
      "--registry-port",
      port,
      "--once",
    ]);
    assert.equal(await missing.exited, 1);
    assert.match(
      missing.stderr(),
      /cannot connect to ghost@localhost: no node named ghost is registered with the registry at 127\.0\.0\.1:\d+ — is the node running\?/,
    );
  });
});
