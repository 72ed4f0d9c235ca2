/**
 * noderl nodes and real BEAM nodes, both directions, through noderl's
 * registry: ping, registered sends, rpc with random terms, links and
 * monitors across `kill -9`, group-leader I/O, GenServer calls.
 */
import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startRegistry } from "../node/registry.ts";
import { type Node, startNode } from "../node/node.ts";
import { ExitError } from "../node/errors.ts";
import { decode } from "../node/decode.ts";
import { puts, receive, reply, send, trapExit } from "../node/process_api.ts";
import { atom, Float, Pid, type Ref, Tuple, tuple } from "../node/terms.ts";
import {
  type BeamNode,
  beamTempDir,
  noElixir,
  noErl,
  runErl,
  startBeamNode,
} from "./_beam.ts";
import { test } from "./_tags.ts";

const tags = ["beam", "distributed"];
const isTuple = (m: unknown, tag: string) =>
  m instanceof Tuple && m[0] === atom(tag);

describe("noderl ↔ erl", { skip: noErl || undefined }, () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let ts: Node;
  let erl: BeamNode;
  const out: string[] = [];
  const ERL = "erl1@localhost";

  before(async () => {
    registry = await startRegistry({ port: 0 });
    ts = await startNode({
      name: "ts1@localhost",
      cookie: "interop",
      registryPort: registry.port,
      stdout: (t) => out.push(t),
      log: () => {},
    });
    ts.defineModule("Echo", { echo: (x: unknown) => x });
    ts.defineModule("Kate", { say_name: () => puts("Hi, my name is Kate") });
    erl = await startBeamNode({
      name: ERL,
      cookie: "interop",
      registryPort: registry.port,
    });
  });

  after(async () => {
    await erl?.stop();
    await ts?.stop();
    await registry?.close();
  });

  test(
    "erl pings the TS node (net_kernel is_auth) and TS calls erl",
    { tags },
    async () => {
      assert.equal(
        await ts.call(ERL, "noderl_peer", "ping", [atom("ts1@localhost")]),
        atom("pong"),
      );
      assert.equal(await ts.call(ERL, "erlang", "node", []), atom(ERL));
      assert.ok(ts.nodes().includes(ERL));
      const erlNodes = await ts.call(ERL, "erlang", "nodes", []) as unknown[];
      assert.ok(
        erlNodes.includes(atom("ts1@localhost")),
        "TS node is visible to erl",
      );
    },
  );

  test(
    "a Map with one Erlang key twice fails at the sender; the link to erl stays up",
    { tags },
    async () => {
      // Found by tests/soak_mixed.ts: sent as is, erl logged "got a corrupted
      // external term" and dropped the connection, failing every call on it.
      let downs = 0;
      const onDown = () => downs++;
      ts.on("nodedown", onDown);
      try {
        const dup = new Map<unknown, unknown>([[[1], 0], [[1], 1]]);
        await assert.rejects(
          ts.call(ERL, "noderl_peer", "sleep", [dup]),
          /two keys that are the same Erlang term/,
        );
        assert.throws(
          () => send(["nobody", ERL], tuple(dup)),
          /two keys that are the same Erlang term/,
        );
        assert.equal(await ts.call(ERL, "erlang", "node", []), atom(ERL));
        assert.equal(downs, 0);
      } finally {
        ts.off("nodedown", onDown);
      }
    },
  );

  test(
    "a message sent to erl in fragments is not overtaken by later ones",
    { tags },
    async () => {
      // Found by tests/soak_mixed.ts: messages over 64 KB went out in
      // fragments on a later turn and the small ones after them overtook
      // them; erl got small1, small2, big.
      for (const size of [70_000, 1_000_000]) {
        const pid = await ts.spawnRemote(ERL, "noderl_peer", "first_tags", [
          ts.current().pid,
          4,
        ]);
        send(pid, tuple(atom("big1"), "x".repeat(size)));
        send(pid, tuple(atom("small1")));
        send(pid, tuple(atom("big2"), "y".repeat(size / 2)));
        send(pid, tuple(atom("small2")));
        const got = await receive(
          (m) => isTuple(m, "tags"),
          10_000,
        ) as Tuple;
        assert.deepEqual(
          (got[1] as unknown[]).map(String),
          ["big1", "small1", "big2", "small2"],
          `${size} bytes`,
        );
      }
    },
  );

  test("send to a registered process both ways", { tags }, async () => {
    await ts.call(ERL, "noderl_peer", "start_echo", []);
    send(["echo", ERL], tuple(ts.shell.pid, "hello beam"));
    const m = await receive((m) => isTuple(m, "echo"), 5000) as Tuple;
    assert.equal(m[1], "hello beam");
    // erl → a TS registered process.
    const pid = ts.spawn(async () => {
      const msg = await receive() as Tuple;
      send(msg[0] as Pid, tuple(atom("ts_echo"), msg[1]));
    });
    ts.register("ts_echo", pid);
    const r = await ts.call(ERL, "noderl_peer", "send_and_wait", [
      tuple(atom("ts_echo"), atom("ts1@localhost")),
      tuple(atom("$self_placeholder"), 1),
      100,
    ]);
    // The placeholder is not a pid, so the TS process crashes: erl times out.
    assert.equal(r, atom("timeout"));
    const pid2 = ts.spawn(async () => {
      const msg = await receive() as Tuple;
      send(msg[0] as Pid, tuple(atom("ts_echo"), msg[1]));
    });
    ts.register("ts_echo2", pid2);
    // erl sends {self(), Msg}: use a fun-free protocol through rpc of erlang:send.
    const r2 = await ts.call(ERL, "erpc", "call", [
      atom(ERL),
      atom("noderl_peer"),
      atom("gen_call"),
      [tuple(atom("ts_kv"), atom("ts1@localhost")), "x", 1000],
    ]);
    assert.ok(r2 instanceof Tuple); // {exit, {noproc, …}}: nothing registered as ts_kv
  });

  test(
    "the seed's {:hi, pid} exchange with an erl process",
    { tags },
    async () => {
      const pid = await ts.spawnLink(ERL, "noderl_peer", "wait_hi", []);
      send(pid, tuple(atom("hi"), ts.shell.pid));
      assert.equal(
        await receive((m) => m === atom("sup?"), 5000),
        atom("sup?"),
      );
    },
  );

  test("rpc both ways with 2,000 random terms echoed exactly", {
    tags,
    timeout: 120_000,
  }, async () => {
    const dir = beamTempDir("noderl-rpc-");
    try {
      const file = join(dir.host, "terms.bin");
      const gen = await runErl(
        `noderl_oracle:gen(2000, 7, "${dir.beam}/terms.bin"), halt().`,
      );
      assert.equal(gen.code, 0, gen.stdout + gen.stderr);
      const buf = new Uint8Array(readFileSync(file));
      const view = new DataView(buf.buffer);
      const terms: unknown[] = [];
      for (let p = 0; p < buf.length;) {
        const len = view.getUint32(p);
        terms.push(decode(buf.subarray(p + 4, p + 4 + len)));
        p += 4 + len;
      }
      // BEAM → TS → BEAM: erl calls Echo.echo on the TS node for each term.
      const r = await ts.call(ERL, "noderl_peer", "echo_all", [
        atom("ts1@localhost"),
        atom("Echo"),
        atom("echo"),
        terms,
      ], 60_000);
      assert.deepEqual(r, tuple(atom("ok"), 2000));
      // TS → BEAM → TS: TS calls erlang:hd([T]) on erl for a sample, compares.
      for (const t of terms.slice(0, 300)) {
        assert.deepEqual(await ts.call(ERL, "erlang", "hd", [[t]]), t);
      }
      assert.deepEqual(
        await ts.call(ERL, "erlang", "hd", [[new Float(1)]]),
        new Float(1),
      );
    } finally {
      dir.remove();
    }
  });

  test("erl's spawn_link of a TS module function; undef reaches erl clearly", {
    tags,
  }, async () => {
    const ok = await ts.call(ERL, "noderl_peer", "spawn_link_ts", [
      atom("ts1@localhost"),
      atom("Echo"),
      atom("echo"),
      [1],
    ]);
    assert.deepEqual(ok, tuple(atom("exit"), atom("normal")));
    const undef = await ts.call(ERL, "noderl_peer", "spawn_link_ts", [
      atom("ts1@localhost"),
      atom("Nope"),
      atom("nothing"),
      [],
    ]) as Tuple;
    assert.equal((undef[1] as Tuple)[0], atom("undef"));
    const viaErpc = await ts.call(ERL, "noderl_peer", "call_ts", [
      atom("ts1@localhost"),
      atom("Nope"),
      atom("nothing"),
      [],
    ]) as Tuple;
    assert.equal(viaErpc[0], atom("error"));
    assert.equal((viaErpc[1] as Tuple)[1], atom("undef"));
  });

  test("GenServer-style calls both ways", { tags }, async () => {
    const server = ts.spawn(async () => {
      for (;;) {
        const m = await receive() as Tuple;
        if (isTuple(m, "$gen_call")) reply(m[1], tuple(atom("got"), m[2]));
      }
    });
    ts.register("ts_server", server);
    const r = await ts.call(ERL, "noderl_peer", "gen_call", [
      tuple(atom("ts_server"), atom("ts1@localhost")),
      "hello",
      2000,
    ]);
    assert.deepEqual(r, tuple(atom("ok"), tuple(atom("got"), "hello")));
    // TS calls a gen_server on erl: rex runs {call, M, F, A, GroupLeader}.
    const g = await ts.genCall(
      ["rex", ERL],
      tuple(atom("call"), atom("erlang"), atom("node"), [], ts.ioServer.pid),
      2000,
    );
    assert.equal(g, atom(ERL));
    await assert.rejects(
      ts.genCall(["nobody_here", ERL], "x", 2000),
      (e: unknown) => e instanceof ExitError && e.reason === atom("noproc"),
    );
  });

  test("Kate's output: erl prints on TS (io:format via TS group leader)", {
    tags,
  }, async () => {
    const before = out.length;
    await ts.spawnLink(ERL, "noderl_peer", "say_name", []);
    const deadline = Date.now() + 5000;
    while (
      !out.slice(before).join("").includes("Hi, my name is Kate\n") &&
      Date.now() < deadline
    ) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(
      out.slice(before).join("").includes("Hi, my name is Kate\n"),
      JSON.stringify(out),
    );
    await ts.call(ERL, "noderl_peer", "format_to", [ts.ioServer.pid, [
      "text",
      tuple(atom("a"), 1),
      [1, 2],
    ]]);
    const deadline2 = Date.now() + 5000;
    while (
      !out.join("").includes("text and {a,1} and [1,2]\n") &&
      Date.now() < deadline2
    ) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(
      out.join("").includes("text and {a,1} and [1,2]\n"),
      JSON.stringify(out),
    );
    // And a TS process spawned from erl prints on erl's terminal.
    await ts.call(ERL, "noderl_peer", "spawn_here", [
      atom("ts1@localhost"),
      atom("Kate"),
      atom("say_name"),
      [],
    ]);
    await erl.waitFor(/Hi, my name is Kate/, 5000);
  });

  test("a visible noderl node takes part in global between BEAM nodes", {
    tags,
  }, async () => {
    const other = await startBeamNode({
      name: "erl2@localhost",
      cookie: "interop",
      registryPort: registry.port,
    });
    try {
      await ts.connect("erl2@localhost");
      assert.equal(
        await ts.call(ERL, "net_adm", "ping", [atom("erl2@localhost")]),
        atom("pong"),
      );
      assert.equal(
        await ts.call(ERL, "global", "register_name", [
          atom("noderl_test_name"),
          ts.shell.pid,
        ]),
        atom("yes"),
      );
      let seen: unknown;
      for (let i = 0; i < 100 && !(seen instanceof Pid); i++) {
        seen = await ts.call("erl2@localhost", "global", "whereis_name", [
          atom("noderl_test_name"),
        ]);
        if (!(seen instanceof Pid)) await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(
        seen instanceof Pid && seen.equals(ts.shell.pid),
        `erl2 sees the global name: ${seen}`,
      );
      const visible = await ts.call(
        "erl2@localhost",
        "erlang",
        "nodes",
        [],
      ) as unknown[];
      assert.ok(visible.includes(atom("ts1@localhost")));
      assert.doesNotMatch(
        other.output() + erl.output(),
        /global.*(error|unexpected)/i,
      );
    } finally {
      await other.stop();
    }
  });

  test("links and monitors across kill -9 of the erl node", {
    tags,
    timeout: 60_000,
  }, async () => {
    const victim = await startBeamNode({
      name: "victim@localhost",
      cookie: "interop",
      registryPort: registry.port,
    });
    try {
      const remote = await ts.spawnRemote(
        "victim@localhost",
        "noderl_peer",
        "sleep",
        [60_000],
      );
      const report = new Promise<unknown[]>((resolve) => {
        ts.spawn(async () => {
          trapExit(true);
          ts.link(remote);
          const ref = ts.monitor(remote);
          const got: unknown[] = [];
          for (let i = 0; i < 2; i++) {
            got.push(
              await receive(
                (m) => isTuple(m, "DOWN") || isTuple(m, "EXIT"),
                10_000,
              ),
            );
          }
          resolve([...got, ref]);
        });
      });
      const nodedown = new Promise<number>((r) =>
        ts.once(
          "nodedown",
          (n: string) => n === "victim@localhost" && r(performance.now()),
        )
      );
      await new Promise((r) => setTimeout(r, 50));
      const t0 = performance.now();
      await victim.kill();
      const [a, b, ref] = await report;
      const took = (await nodedown) - t0;
      const down = [a, b].find((m) => isTuple(m, "DOWN")) as Tuple;
      const ex = [a, b].find((m) => isTuple(m, "EXIT")) as Tuple;
      assert.ok((down[1] as Ref).equals(ref as Ref));
      assert.equal(down[4], atom("noconnection"));
      assert.equal(ex[2], atom("noconnection"));
      assert.ok(took < 1000, `nodedown after ${took.toFixed(0)} ms`);
      // And the other way: erl watches a TS process that crashes.
      const tsPid = ts.spawn(() =>
        receive((m) => m === "die").then(() => {
          throw new Error("told to die");
        })
      );
      const watch = ts.call(
        ERL,
        "noderl_peer",
        "monitor_wait",
        [tsPid],
        10_000,
      );
      await new Promise((r) => setTimeout(r, 100));
      send(tsPid, "die");
      const w = await watch as Tuple;
      assert.equal(w[0], atom("down"));
      const ex2 = (w[2] as Tuple)[0] as Map<unknown, unknown>;
      assert.equal(ex2.get(atom("message")), "told to die");
    } finally {
      await victim.stop();
    }
  });
});

describe("noderl ↔ elixir", { skip: noElixir || undefined }, () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let ts: Node;
  let ex: BeamNode;
  const out: string[] = [];
  const EX = "kate_ex@localhost";

  before(async () => {
    registry = await startRegistry({ port: 0 });
    ts = await startNode({
      name: "alex_ts@localhost",
      cookie: "interop",
      registryPort: registry.port,
      stdout: (t) => out.push(t),
      log: () => {},
    });
    ts.defineModule("Elixir.Alex", {
      say_name: () => puts("Hi, my name is Alex"),
    });
    ex = await startBeamNode({
      name: EX,
      cookie: "interop",
      registryPort: registry.port,
      elixir: `defmodule Kate do
        def say_name, do: IO.puts("Hi, my name is Kate")
        def wait_hi do
          receive do
            {:hi, pid} -> send(pid, :sup?)
          end
        end
        def spawn_link_here(node, m, f, a) do
          Process.group_leader(self(), Process.whereis(:user))
          Node.spawn_link(node, m, f, a)
          :ok
        end
      end`,
    });
  });

  after(async () => {
    await ex?.stop();
    await ts?.stop();
    await registry?.close();
  });

  test("Node.spawn_link(kate, Kate, :say_name, []) prints on the caller", {
    tags: [...tags, "elixir"],
  }, async () => {
    await ts.spawnLink(EX, "Elixir.Kate", "say_name", []);
    const deadline = Date.now() + 5000;
    while (
      !out.join("").includes("Hi, my name is Kate\n") && Date.now() < deadline
    ) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(
      out.join("").includes("Hi, my name is Kate\n"),
      JSON.stringify(out),
    );
    assert.ok(
      !ex.output().includes("Hi, my name is Kate"),
      "not printed on kate",
    );
  });

  test(
    "Elixir spawns on the TS node and the output shows on Elixir's terminal",
    { tags: [...tags, "elixir"] },
    async () => {
      await ts.call(EX, "Elixir.Kate", "spawn_link_here", [
        atom("alex_ts@localhost"),
        atom("Elixir.Alex"),
        atom("say_name"),
        [],
      ]);
      await ex.waitFor(/Hi, my name is Alex/, 5000);
      assert.ok(!out.join("").includes("Hi, my name is Alex"));
    },
  );

  test("the {:hi, pid} exchange with an Elixir process", {
    tags: [...tags, "elixir"],
  }, async () => {
    const pid = await ts.spawnLink(EX, "Elixir.Kate", "wait_hi", []);
    send(pid, tuple(atom("hi"), ts.shell.pid));
    assert.equal(await receive((m) => m === atom("sup?"), 5000), atom("sup?"));
  });

  test("a wrong cookie is refused by Elixir and by noderl, naming the peer", {
    tags: [...tags, "elixir"],
  }, async () => {
    const logs: string[] = [];
    const stranger = await startNode({
      name: "stranger@localhost",
      cookie: "not-the-cookie",
      registryPort: registry.port,
      log: (m) => logs.push(m),
    });
    try {
      assert.equal(await stranger.connect(EX), false);
      assert.match(logs.join("\n"), /kate_ex@localhost.*cookies differ/);
      await ex.waitFor(/stranger@localhost/, 5000); // the BEAM logs the refused attempt
    } finally {
      await stranger.stop();
    }
  });
});
