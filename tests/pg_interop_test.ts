/**
 * pg with real BEAM nodes: a group whose members are on BEAM and noderl
 * nodes looks the same from every node; members of a node killed with
 * SIGKILL (a noderl peer, a BEAM node) leave it everywhere; monitors on
 * either side see the other's changes; both `discover` forms; malformed
 * messages from a BEAM peer.
 */
import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import { startRegistry } from "../node/registry.ts";
import { type Node, startNode } from "../node/node.ts";
import { type PgScope, startPg } from "../node/pg.ts";
import { startPeer } from "../node/peer.ts";
import { atom, type Pid, type Tuple, tuple } from "../node/terms.ts";
import { type BeamNode, noErl, startBeamNode } from "./_beam.ts";
import { test } from "./_tags.ts";

const tags = ["beam", "distributed"];
const COOKIE = "pginterop";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually<T>(
  what: string,
  fn: () => T | Promise<T>,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) {
      throw new Error(`${what}: still ${String(v)} after ${ms} ms`);
    }
    await sleep(25);
  }
}

const keys = (pids: unknown[]) => (pids as Pid[]).map((p) => p.key).sort();

describe("pg: BEAM and noderl members in one group", {
  skip: noErl || undefined,
}, () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let ts: Node;
  let scope: PgScope;
  let e1: BeamNode, e2: BeamNode;
  const logs: string[] = [];
  const E1 = "pge1@localhost", E2 = "pge2@localhost", TS = "pgts@localhost";
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
    [e1, e2] = await Promise.all(
      [E1, E2].map((name) =>
        startBeamNode({ name, cookie: COOKIE, registryPort: registry.port })
      ),
    );
    for (const e of [E1, E2]) await call(e, "pg_start", [atom("pg")]);
    scope = startPg(ts);
    await call(E1, "connect", [atom(E2)]);
  });

  after(async () => {
    await e1?.stop();
    await e2?.stop();
    await ts?.stop();
    await registry?.close();
  });

  test(
    "every node sees the same members; a SIGKILLed noderl node's leave everywhere",
    {
      tags,
      timeout: 60_000,
    },
    async () => {
      const onE1 = await call(E1, "pg_join_new", [
        atom("pg"),
        "mixed",
        2,
      ]) as Pid[];
      const onE2 = await call(E2, "pg_join_new", [
        atom("pg"),
        "mixed",
        1,
      ]) as Pid[];
      const mine = [ts.spawn(() => new Promise(() => {}))];
      scope.join("mixed", mine);
      const peer = await startPeer({
        name: "pgpeer@localhost",
        modules: new URL("./_pg_peer.ts", import.meta.url),
        registryPort: registry.port,
        cookie: COOKIE,
      });
      await ts.call(peer.name, "PgPeer", "connect", [E1]);
      await ts.call(peer.name, "PgPeer", "connect", [E2]);
      const onPeer = await ts.call(peer.name, "PgPeer", "join", [
        atom("pg"),
        "mixed",
        3,
      ]) as Pid[];
      const all = keys([...onE1, ...onE2, ...mine, ...onPeer]);
      await eventually(
        "noderl sees all 7",
        () => keys(scope.getMembers("mixed")).join() === all.join(),
      );
      for (const e of [E1, E2]) {
        const seen = await call(e, "pg_wait_members", [
          atom("pg"),
          "mixed",
          7,
          10_000,
        ]);
        assert.deepEqual(keys(seen as Pid[]), all, `${e} sees all 7`);
        assert.deepEqual(
          keys(await call(e, "pg_local", [atom("pg"), "mixed"]) as Pid[]),
          keys(e === E1 ? onE1 : onE2),
        );
      }
      assert.deepEqual(keys(scope.getLocalMembers("mixed")), keys(mine));

      await peer.kill(); // SIGKILL
      const left = keys([...onE1, ...onE2, ...mine]);
      await eventually(
        "noderl drops the peer's members",
        () => keys(scope.getMembers("mixed")).join() === left.join(),
      );
      for (const e of [E1, E2]) {
        const seen = await call(e, "pg_wait_members", [
          atom("pg"),
          "mixed",
          4,
          10_000,
        ]);
        assert.deepEqual(keys(seen as Pid[]), left, `${e} dropped them`);
      }
    },
  );

  test("a SIGKILLed BEAM node's members leave the noderl node's view", {
    tags,
  }, async () => {
    const E3 = "pge3@localhost";
    const e3 = await startBeamNode({
      name: E3,
      cookie: COOKIE,
      registryPort: registry.port,
    });
    try {
      await call(E3, "pg_start", [atom("pg")]);
      await ts.connect(E3);
      const onE3 = await call(E3, "pg_join_new", [
        atom("pg"),
        "e3",
        2,
      ]) as Pid[];
      await eventually(
        "noderl sees e3's",
        () => scope.getMembers("e3").length === 2,
      );
      assert.deepEqual(keys(scope.getMembers("e3")), keys(onE3));
      await e3.kill();
      await eventually("they leave", () => scope.getMembers("e3").length === 0);
      assert.ok(!scope.whichGroups().includes("e3"));
    } finally {
      await e3.kill();
    }
  });

  test("monitors: the BEAM sees noderl's changes, noderl sees the BEAM's", {
    tags,
  }, async () => {
    const watcher = await call(E1, "pg_monitor_scope", [atom("pg")]) as Pid;
    const notes: unknown[] = [];
    let ref: unknown;
    const w = ts.spawn(async () => {
      ref = scope.monitor("watched").ref;
      const { receive } = await import("../node/process_api.ts");
      for (;;) notes.push(await receive());
    });
    await eventually("subscribed", () => ref !== undefined);
    const p = ts.spawn(() => new Promise(() => {}));
    scope.join("watched", p);
    const [beamPid] = await call(E2, "pg_join_new", [
      atom("pg"),
      "watched",
      1,
    ]) as Pid[];
    await eventually("noderl notes", () => notes.length === 2);
    assert.deepEqual(
      notes.map((n) => [(n as Tuple)[1], ((n as Tuple)[3] as Pid[])[0].key])
        .sort(),
      [[atom("join"), p.key], [atom("join"), beamPid.key]].sort(),
    );
    scope.leave("watched", p);
    const got = await eventually("the BEAM noted the leave", async () => {
      const list = await call(E1, "pg_monitor_get", [watcher]) as Tuple[];
      return list.some((x) => x[0] === atom("leave")) ? list : undefined;
    });
    assert.ok(
      got!.some((x) =>
        x[0] === atom("join") && x[1] === "watched" &&
        (x[2] as Pid[]).some((q) => q.equals(p))
      ),
    );
    ts.exit(w, atom("kill"));
  });

  test("both discover forms get a sync back", { tags }, async () => {
    const p = ts.spawn(() => new Promise(() => {}));
    scope.join("disc", p);
    for (const form of ["two", "three"]) {
      const r = await ts.call(E1, "noderl_global", "pg_discover_probe", [
        atom(TS),
        form === "two" ? 2 : 3,
      ], 10_000) as Tuple;
      assert.equal(r[0], atom("ok"), `${form}: ${String(r)}`);
      const sync = r[1] as Tuple;
      assert.equal((sync[1] as Tuple)[0], atom("sync"));
      assert.ok(((sync[1] as Tuple)[1] as Pid).equals(scope.proc.pid));
      const groups = (sync[1] as Tuple)[2] as Tuple[];
      assert.ok(groups.some((g) => g[0] === "disc"));
      assert.deepEqual(r[2], tuple(atom("discover"), scope.proc.pid));
    }
  });

  test("malformed pg messages from a BEAM node are dropped with a log line", {
    tags,
  }, async () => {
    const before = keys(scope.getMembers("mixed"));
    const n0 = logs.length;
    const bad = [
      atom("x"),
      tuple(atom("join"), atom("notapid"), "g", []),
      tuple(atom("$gen_cast"), tuple(atom("sync"), 1, 2)),
      tuple(atom("leave"), ts.shell.pid, 5, []),
    ];
    for (const m of bad) {
      await ts.call(E1, "erlang", "send", [tuple(atom("pg"), atom(TS)), m]);
    }
    await eventually("logged", () => logs.length - n0 >= bad.length);
    assert.ok(logs.slice(n0).every((l) => /pg scope pg dropped/.test(l)));
    assert.deepEqual(keys(scope.getMembers("mixed")), before);
    assert.doesNotMatch(e1.output() + e2.output(), /CRASH REPORT|ERROR REPORT/);
  });
});
