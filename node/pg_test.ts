/**
 * pg scopes between noderl nodes (BEAM interop: tests/pg_interop_test.ts):
 * membership across nodes, leaving on exit and on node down, monitors,
 * several scopes, bad input.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startRegistry } from "./registry.ts";
import { type Node, startNode } from "./node.ts";
import { type PgScope, pgScope, startPg } from "./pg.ts";
import { ExitError } from "./errors.ts";
import { receive, self } from "./process_api.ts";
import { atom, type Pid, type Tuple, tuple } from "./terms.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually(
  what: string,
  fn: () => unknown,
  ms = 10_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`${what}: not after ${ms} ms`);
    await sleep(10);
  }
}

const idle = (n: Node): Pid => n.spawn(() => new Promise(() => {}));
const keys = (pids: Pid[]) => pids.map((p) => p.key).sort();

describe("pg between noderl nodes", () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let a: Node, b: Node, c: Node;
  let sa: PgScope, sb: PgScope, sc: PgScope;
  const logs: string[] = [];

  before(async () => {
    registry = await startRegistry({ port: 0 });
    const opts = {
      cookie: "pgt",
      registryPort: registry.port,
      log: (m: string) => logs.push(m),
    };
    a = await startNode({ name: "pga@localhost", ...opts });
    b = await startNode({ name: "pgb@localhost", ...opts });
    c = await startNode({ name: "pgc@localhost", ...opts });
    sa = startPg(a);
    sb = startPg(b);
    await a.connect("pgb@localhost");
    await a.connect("pgc@localhost");
    await b.connect("pgc@localhost");
    sc = startPg(c); // started after connecting: discovers its peers itself
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    await c?.stop();
    await registry?.close();
  });

  test("members joined on each node are seen on every node", async () => {
    const pa = [idle(a), idle(a)], pb = idle(b), pc = idle(c);
    sa.join("g", pa);
    sb.join("g", pb);
    sc.join(atom("other"), pc);
    sc.join("g", pc);
    const all = keys([...pa, pb, pc]);
    for (const s of [sa, sb, sc]) {
      await eventually(
        `${s.node.name} sees all`,
        () => keys(s.getMembers("g")).join() === all.join(),
      );
    }
    assert.deepEqual(keys(sa.getLocalMembers("g")), keys(pa));
    assert.deepEqual(sb.getLocalMembers(atom("other")), []);
    assert.ok(sa.whichGroups().some((g) => g === atom("other")));
    assert.deepEqual(sa.whichLocalGroups(), ["g"]);
    assert.equal(pgScope("pg", { node: b }), sb);
  });

  test("leave, joining twice, not_joined", async () => {
    const p = idle(b);
    sb.join("twice", p);
    sb.join("twice", [p]);
    await eventually("a sees two", () => sa.getMembers("twice").length === 2);
    assert.equal(sb.leave("twice", p), true);
    await eventually("a sees one", () => sa.getMembers("twice").length === 1);
    assert.equal(sb.leave("twice", p), true);
    assert.equal(sb.leave("twice", p), false, "not_joined");
    await eventually(
      "the group is gone on a",
      () => !sa.whichGroups().includes("twice"),
    );
  });

  test("a member that ends leaves every node", async () => {
    const p = idle(c);
    sc.join("ends", p);
    await eventually("a sees it", () => sa.getMembers("ends").length === 1);
    c.exit(p, atom("kill"));
    for (const s of [sa, sb, sc]) {
      await eventually(
        `${s.node.name} drops it`,
        () => s.getMembers("ends").length === 0,
      );
    }
  });

  test("monitors see joins and leaves; demonitor drops pending ones", async () => {
    const seen: unknown[] = [];
    let ref!: ReturnType<PgScope["monitor"]>["ref"];
    let groupRef!: ReturnType<PgScope["monitor"]>["ref"];
    const watcher = a.spawn(async () => {
      ref = sa.monitorScope().ref;
      groupRef = sa.monitor("watched").ref;
      for (;;) seen.push(await receive());
    });
    await eventually("subscribed", () => groupRef !== undefined);
    const p = idle(b);
    sb.join("watched", p);
    await eventually("two notes", () => seen.length === 2);
    assert.deepEqual(
      seen.map((m) => Array.from(m as Tuple).slice(1)),
      [[atom("join"), "watched", [p]], [atom("join"), "watched", [p]]],
    );
    assert.ok(
      seen.some((m) => ref.equals((m as Tuple)[0])) &&
        seen.some((m) => groupRef.equals((m as Tuple)[0])),
    );
    sb.leave("watched", p);
    await eventually("four notes", () => seen.length === 4);
    assert.equal((seen[3] as Tuple)[1], atom("leave"));
    a.exit(watcher, atom("kill"));
    // The scope forgets a dead subscriber.
    sb.join("watched", p);
    await sleep(50);
    assert.equal(seen.length, 4);
    // demonitor from the shell, with a notification waiting.
    const m = sa.monitor("watched2");
    sb.join("watched2", idle(b));
    await eventually("a note waits", () => a.shell.messageCount > 0);
    assert.equal(sa.demonitor(m.ref), true);
    assert.equal(a.shell.messageCount, 0);
    assert.equal(sa.demonitor(m.ref), false);
  });

  test("a node that stops takes its members out everywhere", async () => {
    const d = await startNode({
      name: "pgd@localhost",
      cookie: "pgt",
      registryPort: registry.port,
      log: () => {},
    });
    const sd = startPg(d);
    await d.connect("pga@localhost");
    await d.connect("pgb@localhost");
    await d.connect("pgc@localhost");
    sd.join("g", [idle(d), idle(d)]);
    await eventually(
      "b sees d's",
      () =>
        sb.getMembers("g").filter((p) => p.node === "pgd@localhost").length ===
          2,
    );
    await eventually(
      "d got the others' by sync",
      () => sd.getMembers("g").length === 6,
    );
    await d.stop();
    for (const s of [sa, sb]) {
      await eventually(
        `${s.node.name} drops d's`,
        () => s.getMembers("g").every((p) => p.node !== "pgd@localhost"),
      );
    }
  });

  test("scopes are separate, and a stopped scope's members leave", async () => {
    const xa = startPg(a, "xscope"), xb = startPg(b, "xscope");
    const p = idle(b);
    xb.join("g", p);
    await eventually("xa sees it", () => xa.getMembers("g").length === 1);
    assert.ok(!sa.getMembers("g").some((q) => q.equals(p)));
    assert.throws(() => startPg(a, "xscope"), /already runs/);
    xb.stop();
    await eventually("xa drops it", () => xa.getMembers("g").length === 0);
    assert.throws(() => pgScope("xscope", { node: b }), /no pg scope/);
  });

  test("only local pids join; bad input is refused", () => {
    assert.throws(() => sa.join("g", idle(b)), ExitError);
    assert.throws(() => sa.join("g", ["x" as unknown as Pid]), ExitError);
    assert.throws(() => startPg(a, "rex"), /name is taken/);
  });

  test("garbage sent to a scope is dropped with a log line", async () => {
    const before = keys(sb.getMembers("g"));
    const n0 = logs.length;
    const peer = sa.proc.pid;
    const garbage = [
      atom("x"),
      tuple(atom("discover"), "notapid"),
      tuple(atom("discover"), sb.proc.pid), // itself: not a peer
      tuple(atom("join"), peer, "g", ["notapid"]),
      tuple(atom("leave"), peer, [self()], atom("notalist")),
      tuple(atom("$gen_cast"), tuple(atom("sync"), peer, [tuple("g", 5)])),
      tuple(atom("$gen_cast"), atom("x")),
      tuple(atom("DOWN"), 1, 2, 3, 4),
    ];
    for (let i = 0; i < 800; i++) {
      a.send(["pg", "pgb@localhost"], garbage[i % garbage.length]);
    }
    // Logged at a bounded rate: the first ten of a kind in a minute.
    await eventually("logged", () => logs.length - n0 >= 10);
    await sleep(50);
    assert.ok(logs.slice(n0).every((l) => /pg scope pg/.test(l)));
    assert.ok(logs.length - n0 <= 11, "a flood is not a flood of log lines");
    assert.deepEqual(keys(sb.getMembers("g")), before);
    const p = idle(b);
    sb.join("after", p);
    await eventually("still works", () => sa.getMembers("after").length === 1);
  });
});
