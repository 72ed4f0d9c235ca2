/**
 * `global` in mixed clusters of real BEAM nodes and noderl nodes: sync,
 * locks and transactions over the default node list, names registered on
 * either side, names released when their process or node dies, partitions
 * (as "prevent overlapping partitions" makes them) healing with name
 * clashes resolved as `global` resolves them, and malformed messages.
 */
import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import { startRegistry } from "../node/registry.ts";
import { type Node, startNode } from "../node/node.ts";
import {
  globalNames,
  registerGlobal,
  sendGlobal,
  syncGlobal,
  trans,
  unregisterGlobal,
  whereisGlobal,
} from "../node/global.ts";
import { receive, self } from "../node/process_api.ts";
import { atom, ExportFun, Pid, type Tuple, tuple } from "../node/terms.ts";
import { type BeamNode, noErl, startBeamNode } from "./_beam.ts";
import { test } from "./_tags.ts";

const tags = ["beam", "distributed"];
const COOKIE = "globalinterop";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns something truthy (or fails after `ms`). */
async function eventually<T>(
  what: string,
  fn: () => T | Promise<T>,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) {
      throw new Error(`${what}: still ${String(last)} after ${ms} ms`);
    }
    await sleep(25);
  }
}

const idle = (node: Node): Pid => node.spawn(() => new Promise(() => {}));

describe("global: two BEAM nodes and a visible noderl node", {
  skip: noErl || undefined,
}, () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let ts: Node;
  let a: BeamNode, b: BeamNode, c: BeamNode | undefined;
  const logs: string[] = [];
  const A = "gea@localhost", B = "geb@localhost", TS = "gts@localhost";
  const call = (node: string, fun: string, args: unknown[] = []) =>
    ts.call(node, "noderl_global", fun, args, 30_000);

  before(async () => {
    registry = await startRegistry({ port: 0 });
    ts = await startNode({
      name: TS,
      cookie: COOKIE,
      registryPort: registry.port,
      log: (m) => logs.push(m),
    });
    [a, b] = await Promise.all(
      [A, B].map((name) =>
        startBeamNode({ name, cookie: COOKIE, registryPort: registry.port })
      ),
    );
  });

  after(async () => {
    await c?.kill();
    await a?.stop();
    await b?.stop();
    await ts?.stop();
    await registry?.close();
  });

  test("global:sync() returns on both BEAM nodes once the noderl node joins", {
    tags,
  }, async () => {
    // The control calls go over a hidden-free connection to A first: make
    // A and B a synced cluster, then have the noderl node join through A.
    const ctl = await startNode({
      name: "gctl@localhost",
      cookie: COOKIE,
      registryPort: registry.port,
      hidden: true,
    });
    try {
      assert.equal(
        await ctl.call(A, "noderl_global", "connect", [atom(B)]),
        true,
      );
      const beamOnly = await ctl.call(
        A,
        "noderl_global",
        "sync_ms",
        [],
        30_000,
      );
      const t0 = performance.now();
      assert.equal(await ts.connect(A), true);
      const onA = await ctl.call(A, "noderl_global", "sync_ms", [], 30_000);
      const total = performance.now() - t0;
      const onB = await ctl.call(B, "noderl_global", "sync_ms", [], 30_000);
      await syncGlobal([A, B], { node: ts });
      console.log(
        `# global:sync() on ${A} after the noderl node connected: ${
          Number(onA).toFixed(0)
        } ms (${total.toFixed(0)} ms from connect); then on ${B}: ${
          Number(onB).toFixed(1)
        } ms; BEAM↔BEAM (${A} joining ${B}): ${Number(beamOnly).toFixed(0)} ms`,
      );
      assert.ok(Number(onA) < 5000, `global:sync() took ${onA} ms`);
      const again = await ctl.call(A, "noderl_global", "sync_ms", [], 30_000);
      assert.ok(Number(again) < 100, `a second global:sync() took ${again} ms`);
      // The mesh is complete: B connected to the noderl node by itself.
      await eventually(
        "B connects to the noderl node",
        () => ts.nodes().includes(B),
      );
      assert.deepEqual(
        await ctl.call(A, "noderl_global", "info", []).then((i) =>
          ((i as Map<unknown, unknown>).get(atom("synced")) as unknown[])
            .map(String)
        ),
        [B, TS].sort(),
      );
    } finally {
      await ctl.stop();
    }
  });

  test("global:trans and set_lock over the default node list complete", {
    tags,
  }, async () => {
    const r = await call(A, "trans", [atom("t1")]) as Tuple;
    assert.equal(r[0], atom("done"));
    assert.ok((r[2] as unknown[]).includes(atom(TS)), "the lock covered TS");
    assert.equal(await call(B, "set_del_lock", [atom("t2")]), true);
    // The same from noderl, over the same nodes, while B holds another lock.
    const got = await trans(["t3", self()], () => ts.nodes().length, {
      node: ts,
    });
    assert.equal(got, 2);
  });

  test("a lock held on the noderl node keeps a BEAM transaction waiting", {
    tags,
  }, async () => {
    let release!: () => void;
    const holding = trans(
      [atom("contended"), "ts"],
      () => new Promise<void>((r) => (release = r)),
      { node: ts },
    );
    await eventually("the noderl lock is set", () => release !== undefined);
    const started = Date.now();
    const beam = ts.call(A, "global", "trans", [
      tuple(atom("contended"), atom("beam")),
      new ExportFun(atom("noderl_global"), atom("node_list"), 0),
      [atom(A), atom(TS)],
      0,
    ], 30_000);
    assert.equal(await beam, atom("aborted"), "retries 0: aborted at once");
    setTimeout(() => release(), 300);
    const beam2 = await ts.call(A, "global", "trans", [
      tuple(atom("contended"), atom("beam")),
      new ExportFun(atom("noderl_global"), atom("node_list"), 0),
    ], 30_000);
    assert.ok(Array.isArray(beam2), `trans ran: ${beam2}`);
    assert.ok(Date.now() - started >= 250, "it waited for the noderl lock");
    await holding;
  });

  test("names registered on either side resolve everywhere", {
    tags,
  }, async () => {
    const [yes, beamPid] = await call(B, "register_echo", [
      atom("beam_echo"),
    ]) as Tuple;
    assert.equal(yes, atom("yes"));
    const seen = whereisGlobal(atom("beam_echo"), ts);
    assert.ok(seen instanceof Pid && seen.equals(beamPid as Pid));
    // A send to {global, Name} from noderl reaches the BEAM process.
    const reply = await new Promise((resolve, reject) => {
      ts.spawn(async () => {
        try {
          sendGlobal(atom("beam_echo"), tuple(self(), "hi"), ts);
          resolve(await receive(undefined, 5000));
        } catch (e) {
          reject(e);
        }
      });
    });
    assert.deepEqual(reply, tuple(atom("echo"), atom(B), "hi"));

    const echo = ts.spawn(async () => {
      for (;;) {
        const m = await receive() as Tuple;
        ts.send(m[0] as Pid, tuple(atom("echo"), atom(TS), m[1]));
      }
    });
    assert.equal(
      await registerGlobal(atom("ts_echo"), echo, { node: ts }),
      true,
    );
    assert.equal(
      await registerGlobal(atom("ts_echo"), idle(ts), { node: ts }),
      false,
      "a taken name is refused",
    );
    for (const n of [A, B]) {
      const p = await call(n, "wait_name", [atom("ts_echo"), 5000]);
      assert.ok(p instanceof Pid && p.equals(echo), `${n} sees ts_echo`);
      assert.deepEqual(
        await call(n, "global_send", [atom("ts_echo"), atom(n)]),
        tuple(atom("echo"), atom(TS), atom(n)),
      );
    }
    // The BEAM's register_name of a noderl pid (the old test of this file).
    const other = idle(ts);
    assert.equal(
      await ts.call(A, "global", "register_name", [atom("by_beam"), other]),
      atom("yes"),
    );
    assert.ok(whereisGlobal(atom("by_beam"), ts)?.equals(other));
    assert.deepEqual(
      new Set((await call(B, "names")) as unknown[]),
      new Set(globalNames(ts)),
    );
  });

  test("a killed owner's name disappears everywhere", { tags }, async () => {
    const [, beamPid] = await call(A, "register", [
      atom("doomed_beam"),
    ]) as Tuple;
    assert.ok(whereisGlobal(atom("doomed_beam"), ts)?.equals(beamPid as Pid));
    await call(A, "kill", [atom("doomed_beam")]);
    await eventually(
      "the BEAM name goes on noderl",
      () => whereisGlobal(atom("doomed_beam"), ts) === undefined,
    );

    const pid = idle(ts);
    assert.equal(
      await registerGlobal(atom("doomed_ts"), pid, { node: ts }),
      true,
    );
    for (const n of [A, B]) {
      assert.ok(
        (await call(n, "wait_name", [atom("doomed_ts"), 5000]) as Pid).equals(
          pid,
        ),
      );
    }
    ts.exit(pid, atom("kill"));
    assert.equal(whereisGlobal(atom("doomed_ts"), ts), undefined);
    for (const n of [A, B]) {
      assert.equal(
        await call(n, "wait_gone", [atom("doomed_ts"), 5000]),
        atom("gone"),
        `${n} released doomed_ts`,
      );
    }
    // unregister from noderl reaches every node too.
    const p2 = idle(ts);
    assert.equal(await registerGlobal("unreg_me", p2, { node: ts }), true);
    await call(B, "wait_name", ["unreg_me", 5000]);
    await unregisterGlobal("unreg_me", { node: ts });
    assert.equal(await call(B, "whereis", ["unreg_me"]), atom("undefined"));
  });

  test("a name owned on a node that dies is released everywhere", {
    tags,
  }, async () => {
    const C = "gec@localhost";
    c = await startBeamNode({
      name: C,
      cookie: COOKIE,
      registryPort: registry.port,
    });
    await ts.connect(C);
    await syncGlobal(undefined, { node: ts });
    const [yes] = await call(C, "register", [atom("on_c")]) as Tuple;
    assert.equal(yes, atom("yes"));
    await eventually(
      "A sees on_c",
      async () => (await call(A, "whereis", [atom("on_c")])) instanceof Pid,
    );
    assert.ok(whereisGlobal(atom("on_c"), ts) instanceof Pid);
    await c.kill();
    c = undefined;
    await eventually(
      "noderl releases on_c",
      () => whereisGlobal(atom("on_c"), ts) === undefined,
    );
    assert.equal(
      await call(A, "wait_gone", [atom("on_c"), 5000]),
      atom("gone"),
    );
  });

  test("no errors in the BEAM logs", { tags }, () => {
    assert.doesNotMatch(
      a.output() + b.output(),
      /(ERROR|CRASH) REPORT|global_name_server.*unexpected/,
    );
  });
});

describe("global: two noderl nodes and a BEAM node", {
  skip: noErl || undefined,
}, () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let n1: Node, n2: Node;
  let e: BeamNode;
  const E = "g2e@localhost", N1 = "g2n1@localhost", N2 = "g2n2@localhost";
  const call = (fun: string, args: unknown[] = []) =>
    n1.call(E, "noderl_global", fun, args, 30_000);

  before(async () => {
    registry = await startRegistry({ port: 0 });
    const opts = { cookie: COOKIE, registryPort: registry.port, log: () => {} };
    n1 = await startNode({ name: N1, ...opts });
    n2 = await startNode({ name: N2, ...opts });
    e = await startBeamNode({
      name: E,
      cookie: COOKIE,
      registryPort: registry.port,
    });
  });

  after(async () => {
    await e?.stop();
    await n1?.stop();
    await n2?.stop();
    await registry?.close();
  });

  test("sync, the mesh, trans and names", { tags }, async () => {
    assert.equal(await n1.connect(E), true);
    assert.equal(await n2.connect(E), true);
    const ms = await call("sync_ms");
    console.log(
      `# global:sync() on ${E} with two noderl nodes: ${
        Number(ms).toFixed(0)
      } ms`,
    );
    assert.ok(Number(ms) < 5000);
    await syncGlobal(undefined, { node: n1 });
    await syncGlobal(undefined, { node: n2 });
    await eventually(
      "the noderl nodes connect to each other",
      () => n1.nodes().includes(N2) && n2.nodes().includes(N1),
    );
    const r = await call("trans", [atom("x")]) as Tuple;
    assert.deepEqual(r[2], [atom(N1), atom(N2)]);
    assert.equal(
      await trans(["y", 1], () => "ran", { node: n2 }),
      "ran",
    );

    const p1 = idle(n1);
    assert.equal(await registerGlobal("from_n1", p1, { node: n1 }), true);
    assert.ok(whereisGlobal("from_n1", n2)?.equals(p1));
    assert.ok((await call("wait_name", ["from_n1", 5000]) as Pid).equals(p1));
    const [, ep] = await call("register", ["from_beam"]) as Tuple;
    for (const n of [n1, n2]) {
      await eventually(
        `${n.name} sees from_beam`,
        () => whereisGlobal("from_beam", n)?.equals(ep),
      );
    }
    n2.exit(p1, atom("kill")); // a remote kill: the owner is on n1
    for (const n of [n1, n2]) {
      await eventually(
        `${n.name} releases from_n1`,
        () => whereisGlobal("from_n1", n) === undefined,
      );
    }
    assert.equal(await call("wait_gone", ["from_n1", 5000]), atom("gone"));
    await call("kill", ["from_beam"]);
    for (const n of [n1, n2]) {
      await eventually(
        `${n.name} releases from_beam`,
        () => whereisGlobal("from_beam", n) === undefined,
      );
    }
  });

  test("a noderl node stopping releases its names on the others", {
    tags,
  }, async () => {
    const n3 = await startNode({
      name: "g2n3@localhost",
      cookie: COOKIE,
      registryPort: registry.port,
      log: () => {},
    });
    await n3.connect(E);
    await syncGlobal(undefined, { node: n3 });
    const p = idle(n3);
    assert.equal(await registerGlobal("on_n3", p, { node: n3 }), true);
    await eventually(
      "n1 sees on_n3",
      () => whereisGlobal("on_n3", n1)?.equals(p),
    );
    await n3.stop();
    await eventually(
      "n1 releases on_n3",
      () => whereisGlobal("on_n3", n1) === undefined,
    );
    assert.equal(await call("wait_gone", ["on_n3", 5000]), atom("gone"));
  });
});

describe("global: partitions heal, clashes resolved as global resolves them", {
  skip: noErl || undefined,
}, () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let ctl: Node;
  const beams: BeamNode[] = [];
  const nodes: Node[] = [];
  const logs: string[] = [];

  before(async () => {
    registry = await startRegistry({ port: 0 });
    ctl = await startNode({
      name: "gpctl@localhost",
      cookie: COOKIE,
      registryPort: registry.port,
      hidden: true,
      log: () => {},
    });
  });

  after(async () => {
    for (const b of beams) await b.stop();
    for (const n of nodes) await n.stop();
    await ctl?.stop();
    await registry?.close();
  });

  const beam = async (name: string) => {
    const b = await startBeamNode({
      name,
      cookie: COOKIE,
      registryPort: registry.port,
    });
    beams.push(b);
    return b;
  };
  const noderl = async (name: string) => {
    const n = await startNode({
      name,
      cookie: COOKIE,
      registryPort: registry.port,
      log: (m) => logs.push(`${name}: ${m}`),
    });
    nodes.push(n);
    return n;
  };
  const call = (node: string, fun: string, args: unknown[] = []) =>
    ctl.call(node, "noderl_global", fun, args, 30_000);

  test(
    "a disconnect partitions the cluster as the BEAM does (overlapping partitions prevented)",
    {
      tags,
      timeout: 90_000,
    },
    async () => {
      // The oracle: three BEAM nodes; then the same with a noderl node as
      // the third. Which connections go depends on timing (on the BEAM
      // too); what "prevent overlapping partitions" guarantees is that the
      // nodes end in fully connected partitions, the dropped link stays
      // down, and no node stays connected to two that are not connected.
      const run = async (names: string[], third: () => Promise<unknown>) => {
        for (const n of names.slice(0, 2)) await beam(n);
        await third();
        await call(names[0], "connect", [atom(names[1])]);
        await call(names[0], "connect", [atom(names[2])]);
        await call(names[0], "sync_ms");
        await call(names[1], "sync_ms");
        await eventually("a full mesh", async () => {
          const l = await call(names[1], "node_list") as unknown[];
          return l.length === 2;
        });
        // The third node drops its connection to the second.
        if (third.name === "ts") {
          await nodes[nodes.length - 1].disconnect(names[1]);
        } else await call(names[2], "disconnect", [atom(names[1])]);
        await sleep(1500);
        const seen = new Map<string, string[]>();
        for (const n of names.slice(0, 2)) {
          seen.set(n, ((await call(n, "node_list")) as unknown[]).map(String));
        }
        seen.set(
          names[2],
          third.name === "ts"
            ? nodes[nodes.length - 1].nodes()
            : ((await call(names[2], "node_list")) as unknown[]).map(String),
        );
        return seen;
      };
      const check = (
        seen: Map<string, string[]>,
        names: string[],
        who: string,
      ) => {
        const [a, b, c] = names;
        const linked = (x: string, y: string) =>
          (seen.get(x) ?? []).includes(y) || (seen.get(y) ?? []).includes(x);
        assert.ok(!linked(c, b), `${who}: the dropped link stays down`);
        for (const [x, y, z] of [[a, b, c], [b, a, c], [c, a, b]]) {
          assert.ok(
            !(linked(x, y) && linked(x, z) && !linked(y, z)),
            `${who}: ${x} overlaps two partitions: ${
              JSON.stringify([...seen])
            }`,
          );
        }
      };
      const beamNames = ["gpa@localhost", "gpb@localhost", "gpc@localhost"];
      check(
        await run(beamNames, async function beamThird() {
          await beam("gpc@localhost");
        }),
        beamNames,
        "the BEAM",
      );
      const tsNames = ["gqa@localhost", "gqb@localhost", "gqc@localhost"];
      check(
        await run(tsNames, async function ts() {
          await noderl("gqc@localhost");
        }),
        tsNames,
        "with a noderl node",
      );
      if (!nodes[nodes.length - 1].nodes().includes("gqa@localhost")) {
        assert.ok(
          logs.some((l) => /prevent overlapping partitions/.test(l)),
          "the noderl node said why it disconnected",
        );
      }
    },
  );

  test(
    "a clash resolved by the noderl node (the smaller name) kills the BEAM's process",
    {
      tags,
    },
    async () => {
      // Two clusters that never met: {gra (noderl)} and {grb, grc (BEAM)}.
      const n = await noderl("gra@localhost");
      await beam("grb@localhost");
      await beam("grc@localhost");
      await call("grb@localhost", "connect", [atom("grc@localhost")]);
      await call("grb@localhost", "sync_ms");
      const mine = idle(n);
      assert.equal(await registerGlobal("clash", mine, { node: n }), true);
      const [, theirs] = await call("grc@localhost", "register", [
        "clash",
      ]) as Tuple;
      // Heal.
      assert.equal(await n.connect("grb@localhost"), true);
      await syncGlobal(undefined, { node: n });
      await call("grb@localhost", "sync_ms");
      await call("grc@localhost", "sync_ms");
      // random_exit_name keeps the pid on the smaller node name: gra's.
      for (const b of ["grb@localhost", "grc@localhost"]) {
        const w = await call(b, "wait_name", ["clash", 5000]);
        assert.ok(
          w instanceof Pid && w.equals(mine),
          `${b} keeps ${mine}: ${w}`,
        );
      }
      assert.ok(whereisGlobal("clash", n)?.equals(mine));
      await eventually(
        "the BEAM's process is killed",
        async () =>
          (await ctl.call("grc@localhost", "erlang", "is_process_alive", [
            theirs,
          ])) === false,
      );
      assert.ok(n.isAlive(mine));
    },
  );

  test("a clash resolved by a BEAM node calls resolve_it on the noderl node", {
    tags,
  }, async () => {
    // {gsa (BEAM), gsz (noderl)} meet {gsb (BEAM)}: gsa resolves (gsa <
    // gsb), and the name's current owner is on gsz, so gsa calls
    // global:resolve_it on gsz — with noderl's resolver (ExportFun) for
    // one name and the BEAM's own default (a local fun of global.erl) for
    // another.
    const z = await noderl("gsz@localhost");
    await beam("gsa@localhost");
    await beam("gsb@localhost");
    assert.equal(await z.connect("gsa@localhost"), true);
    await syncGlobal(undefined, { node: z });
    const byTs = idle(z), byBeam = idle(z);
    assert.equal(await registerGlobal("c1", byTs, { node: z }), true);
    assert.equal(
      await ctl.call("gsa@localhost", "global", "register_name", [
        "c2",
        byBeam,
      ]),
      atom("yes"),
    );
    await call("gsa@localhost", "wait_name", ["c1", 5000]);
    const [, b1] = await call("gsb@localhost", "register", ["c1"]) as Tuple;
    const [, b2] = await call("gsb@localhost", "register", ["c2"]) as Tuple;
    assert.equal(
      await call("gsa@localhost", "connect", [atom("gsb@localhost")]),
      true,
    );
    await call("gsa@localhost", "sync_ms");
    await syncGlobal(undefined, { node: z });
    // gsb < gsz: the BEAM pids win; noderl's resolver killed its own.
    for (const [name, winner] of [["c1", b1], ["c2", b2]] as const) {
      for (const at of ["gsa@localhost", "gsb@localhost"]) {
        const w = await call(at, "wait_name", [name, 5000]);
        assert.ok((w as Pid).equals(winner as Pid), `${at}: ${name} is ${w}`);
      }
      await eventually(
        `noderl agrees on ${name}`,
        () => whereisGlobal(name, z)?.equals(winner as Pid),
      );
    }
    await eventually(
      "both noderl owners killed",
      () => !z.isAlive(byTs) && !z.isAlive(byBeam),
    );
    assert.ok(
      logs.some((l) => /Name conflict terminating/.test(l)),
      "the resolver said what it killed",
    );
  });
});

describe("global: malformed messages from a peer", {
  skip: noErl || undefined,
}, () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let ts: Node;
  let e: BeamNode;
  const logs: string[] = [];
  const E = "ghe@localhost", TS = "ghts@localhost";

  before(async () => {
    registry = await startRegistry({ port: 0 });
    ts = await startNode({
      name: TS,
      cookie: COOKIE,
      registryPort: registry.port,
      log: (m) => logs.push(m),
    });
    e = await startBeamNode({
      name: E,
      cookie: COOKIE,
      registryPort: registry.port,
    });
    await ts.connect(E);
    await syncGlobal(undefined, { node: ts });
  });

  after(async () => {
    await e?.stop();
    await ts?.stop();
    await registry?.close();
  });

  test(
    "garbage to global_name_server is dropped with a log line; tables intact",
    {
      tags,
    },
    async () => {
      const keep = idle(ts);
      assert.equal(await registerGlobal("kept", keep, { node: ts }), true);
      const before = globalNames(ts).map(String).sort();
      const gns = (t: unknown) =>
        ts.call(E, "noderl_global", "gns_send", [atom(TS), t]);
      const p = ts.shell.pid;
      const garbage: unknown[] = [
        atom("hello"),
        42,
        "a string",
        tuple(),
        tuple(atom("$gen_cast"), atom("nonsense")),
        tuple(atom("$gen_cast"), tuple(atom("init_connect"), 8, atom(E), 1)),
        tuple(
          atom("$gen_cast"),
          tuple(atom("init_connect"), tuple(8, 1), "x", 1),
        ),
        tuple(
          atom("$gen_cast"),
          tuple(atom("exchange"), atom(E), atom("notalist"), [], 1),
        ),
        tuple(
          atom("$gen_cast"),
          tuple(atom("exchange"), atom(E), [tuple(1, 2, 3)], [], 1),
        ),
        tuple(
          atom("$gen_cast"),
          tuple(
            atom("resolved"),
            atom(E),
            [tuple(atom("insert"), 5)],
            [],
            atom("unused"),
            [],
            1,
          ),
        ),
        tuple(
          atom("$gen_cast"),
          tuple(
            atom("new_nodes"),
            atom(E),
            [tuple(atom("insert"), tuple("kept", "notapid", 1))],
            [],
            [],
            [],
          ),
        ),
        tuple(
          atom("$gen_cast"),
          tuple(atom("new_nodes"), atom(E), [], [], [atom("bad")], []),
        ),
        tuple(
          atom("$gen_cast"),
          tuple(
            atom("new_nodes"),
            atom(E),
            [tuple(atom("delete"), "kept")],
            [],
            [],
            7,
          ),
        ),
        tuple(atom("$gen_cast"), tuple(atom("in_sync"), 12, true)),
        tuple(atom("$gen_cast"), tuple(atom("lock_set"), 1, true, [], 1)),
        tuple(atom("$gen_call"), atom("nofrom"), tuple(atom("set_lock"), 1)),
        tuple(
          atom("$gen_call"),
          tuple(p, atom("tag")),
          tuple(atom("set_lock"), atom("notatuple")),
        ),
        tuple(
          atom("$gen_call"),
          tuple(p, atom("tag")),
          tuple(atom("register"), "kept", atom("notapid"), 1),
        ),
        tuple(atom("$gen_call"), tuple(p, atom("tag")), atom("whatever")),
        tuple(atom("lost_connection"), "a", 1, 2, "b"),
        tuple(atom("remove_connection"), 7),
        tuple(atom("cancel_connect"), [], 1),
        tuple(atom("init_connect_ack"), 1, 2, 3),
        tuple(atom("DOWN"), 1, 2, 3, 4),
        new Map([[1, 2]]),
        [1, 2, 3],
      ];
      const n0 = logs.length;
      for (const g of garbage) await gns(g);
      await eventually(
        "logged (at a bounded rate: ten of a kind a minute)",
        () => logs.length - n0 >= 10,
      );
      // A flood of the same.
      for (let i = 0; i < 2000; i++) {
        ts.send([atom("global_name_server"), TS], garbage[i % garbage.length]);
      }
      await sleep(200);
      assert.deepEqual(globalNames(ts).map(String).sort(), before);
      assert.ok(whereisGlobal("kept", ts)?.equals(keep));
      assert.ok(
        logs.slice(n0).every((l) => /global_name_server/.test(l)),
        logs.slice(n0, n0 + 5).join("\n"),
      );
      // Still a working citizen: the BEAM syncs and registers through it.
      assert.equal(
        await ts.call(E, "noderl_global", "set_del_lock", [atom("z")]),
        true,
      );
      const [yes] = await ts.call(E, "noderl_global", "register", [
        "after",
      ]) as Tuple;
      assert.equal(yes, atom("yes"));
      assert.ok(whereisGlobal("after", ts) instanceof Pid);
      // And the locker ignores garbage sent straight to it.
      const info = await ts.call(E, "noderl_global", "info", []) as Map<
        unknown,
        unknown
      >;
      assert.ok((info.get(atom("synced")) as unknown[]).includes(atom(TS)));
    },
  );
});
