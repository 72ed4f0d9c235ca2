// Hostile tests of the distribution layer, TS↔TS: what an attacker who can
// reach a node's port (without the cookie), a peer that stops reading, a
// peer that sends hostile fragments, and two nodes racing to connect can
// and cannot do. The same attacks against BEAM nodes, for the reference
// behaviour, are in tests/attack_interop_test.ts.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { inspect } from "node:util";
import { spawnSync } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { startRegistry } from "./registry.ts";
import { startPeers } from "./peer.ts";
import type { Registry } from "./registry.ts";
import { type Node, startNode } from "./node.ts";
import { receive, send, sleep } from "./process_api.ts";
import { atom, Pid, type Tuple, tuple } from "./terms.ts";
import { encode } from "./encode.ts";
import diagnostics from "node:diagnostics_channel";
import type { HandshakeError } from "./errors.ts";
import {
  handshakenPeer,
  packet,
  rawSocket,
  readFramed2,
  sendName,
} from "../tests/_raw_peer.ts";

const COOKIE = "attack-cookie";
let registry: Registry;
const nodes: Node[] = [];
const logs: string[] = [];

async function node(name: string, extra = {}): Promise<Node> {
  const n = await startNode({
    name,
    cookie: COOKIE,
    registryPort: registry.port,
    log: (m) => logs.push(`${name}: ${m}`),
    ...extra,
  });
  nodes.push(n);
  return n;
}

async function stopAll(): Promise<void> {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
}

const until = async (cond: () => boolean, ms = 10_000, what = "condition") => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

before(async () => {
  registry = await startRegistry({ port: 0 });
});
after(async () => {
  await stopAll();
  await registry.close();
});

describe("the handshake", () => {
  after(stopAll);

  test("a peer that claims a connected node's name without the cookie cannot break the connection", async () => {
    const a = await node("hj_a@localhost");
    const b = await node("hj_b@localhost");
    assert.ok(await b.connect("hj_a@localhost"));
    const downs: string[] = [];
    a.on("nodedown", (n: string) => downs.push(n));
    b.on("nodedown", (n: string) => downs.push(n));
    for (let i = 0; i < 3; i++) {
      const s = await rawSocket(a.port);
      s.on("error", () => {});
      s.write(sendName("hj_b@localhost"));
      const status = await readFramed2(s);
      assert.equal(new TextDecoder().decode(status), "salive");
      s.write(new Uint8Array([0, 5, ...new TextEncoder().encode("strue")]));
      const challenge = await readFramed2(s);
      assert.equal(challenge?.[0], 78, "a challenge comes after strue");
      // Without the cookie, the reply can only be wrong.
      const reply = new Uint8Array(21);
      reply[0] = 114;
      s.write(new Uint8Array([0, 21, ...reply]));
      assert.equal(await readFramed2(s), undefined, "the attacker is dropped");
    }
    await sleep(100);
    assert.deepEqual(downs, [], "no nodedown on either side");
    assert.deepEqual(a.nodes(), ["hj_b@localhost"]);
    // And traffic still flows on the old connection.
    a.register(
      "sink",
      a.spawn(async () => {
        const m = await receive() as Tuple;
        send(m[0] as Pid, atom("got_it"));
      }),
    );
    const reply = await new Promise((resolve) => {
      b.spawn(async () => {
        send(["sink", "hj_a@localhost"], tuple(b.current().pid));
        resolve(await receive(undefined, 5000));
      });
    });
    assert.equal(reply, atom("got_it"));
  });

  test("a peer that proves the cookie may replace a connection (a restarted node)", async () => {
    const a = await node("rp_a@localhost");
    const b = await node("rp_b@localhost");
    assert.ok(await b.connect("rp_a@localhost"));
    const events: string[] = [];
    a.on("nodedown", (n: string) => events.push(`down ${n}`));
    a.on("nodeup", (n: string) => events.push(`up ${n}`));
    // Same name, right cookie, new socket: as a node restarted elsewhere
    // before the old connection's death was noticed.
    const s = await handshakenPeer(a.port, "rp_b@localhost", a.name, COOKIE);
    await until(() => events.length === 2, 5000, "down then up");
    assert.deepEqual(events, ["down rp_b@localhost", "up rp_b@localhost"]);
    s.destroy();
  });

  test("simultaneous connects: one connection, no flaps, every message arrives (30 rounds)", async () => {
    let flaps = 0, lost = 0;
    for (let round = 0; round < 30; round++) {
      const a = await node(`sim${round}_a@localhost`);
      const b = await node(`sim${round}_b@localhost`);
      const counts = { a: 0, b: 0 };
      const ups = { a: 0, b: 0 }, downs = { a: 0, b: 0 };
      a.on("nodeup", () => ups.a++);
      b.on("nodeup", () => ups.b++);
      a.on("nodedown", () => downs.a++);
      b.on("nodedown", () => downs.b++);
      const sink = (n: Node, k: "a" | "b") =>
        n.register(
          "sink",
          n.spawn(async () => {
            for (;;) {
              await receive();
              counts[k]++;
            }
          }),
        );
      sink(a, "a");
      sink(b, "b");
      // Both dial at the same instant, and keep sending meanwhile.
      for (let i = 0; i < 100; i++) {
        a.send(["sink", b.name], i);
        b.send(["sink", a.name], i);
      }
      await until(
        () => counts.a === 100 && counts.b === 100,
        5000,
        `round ${round}: 100 messages each way (got ${counts.a}, ${counts.b})`,
      ).catch(() => {
        lost += 200 - counts.a - counts.b;
      });
      await sleep(20);
      if (ups.a !== 1 || ups.b !== 1 || downs.a + downs.b > 0) flaps++;
      await a.stop();
      await b.stop();
      nodes.splice(nodes.indexOf(a), 1);
      nodes.splice(nodes.indexOf(b), 1);
    }
    assert.equal(flaps, 0, "rounds with more than one nodeup or a nodedown");
    assert.equal(lost, 0, "messages lost");
  });

  test("simultaneous connects between two OS processes: no flaps, nothing lost (20 rounds)", async () => {
    const cluster = await startPeers({
      peers: ["race1", "race2"],
      modules: new URL("../tests/_race_peer.ts", import.meta.url),
    });
    try {
      const me = await startNode({
        name: "race_ctl@localhost",
        cookie: cluster.cookie,
        registryPort: cluster.registryPort,
        hidden: true,
      });
      nodes.push(me);
      const [p1, p2] = ["race1@localhost", "race2@localhost"];
      const bad: string[] = [];
      for (let round = 0; round < 20; round++) {
        // Both casts leave in one packet each, at the same instant: each
        // peer then dials the other.
        me.cast(p1, "Race", "go", [atom(p2), 200]);
        me.cast(p2, "Race", "go", [atom(p1), 200]);
        let s1: number[] = [], s2: number[] = [];
        const end = Date.now() + 5000;
        while (Date.now() < end) {
          s1 = await me.call(p1, "Race", "stats", []) as number[];
          s2 = await me.call(p2, "Race", "stats", []) as number[];
          if (s1[2] === 200 && s2[2] === 200) break;
          await sleep(20);
        }
        await sleep(50);
        s1 = await me.call(p1, "Race", "stats", []) as number[];
        s2 = await me.call(p2, "Race", "stats", []) as number[];
        // [nodeups, nodedowns, messages] about the other racer.
        if (JSON.stringify([s1, s2]) !== "[[1,0,200],[1,0,200]]") {
          bad.push(`round ${round}: ${JSON.stringify([s1, s2])}`);
        }
        await me.call(p1, "Race", "reset", [atom(p2)]);
        await me.call(p2, "Race", "reset", [atom(p1)]);
      }
      assert.deepEqual(bad, []);
    } finally {
      await cluster.stop();
    }
  });

  test("a peer that only closes (health check, node stopping) is not logged, as the BEAM", async () => {
    const a = await node("probe_a@localhost");
    const failures: HandshakeError[] = [];
    const onFailure = (m: unknown) => {
      const { node, error } = m as { node: string; error: HandshakeError };
      if (node === a.name) failures.push(error);
    };
    diagnostics.subscribe("noderl:handshake-failure", onFailure);
    try {
      const before = logs.length;
      // A TCP probe: connect, send nothing, close.
      const probe = await rawSocket(a.port);
      probe.end();
      await new Promise((r) => probe.once("close", r));
      // A node stopping mid-handshake: its name, then gone.
      const half = await rawSocket(a.port);
      half.on("error", () => {});
      half.write(sendName("stopping@localhost"));
      assert.ok(await readFramed2(half)); // the status
      half.destroy();
      await until(() => failures.length === 2, 5000, "two failures published");
      assert.ok(failures.every((e) => e.peerClosed), "both closed by the peer");
      // A malformed name is still logged.
      const bad = await rawSocket(a.port);
      bad.on("error", () => {});
      bad.write(new Uint8Array([0, 3, 1, 2, 3]));
      await new Promise((r) => bad.once("close", r));
      await until(() => failures.length === 3, 5000, "the third failure");
      assert.equal(failures[2].peerClosed, false);
      await sleep(50);
      const lines = logs.slice(before).filter((l) => l.startsWith("probe_a"));
      assert.equal(lines.length, 1, lines.join("\n"));
      assert.match(lines[0], /malformed|name/i);
    } finally {
      diagnostics.unsubscribe("noderl:handshake-failure", onFailure);
    }
  });

  test("failed handshakes are logged at a bounded rate", async () => {
    const a = await node("flood_a@localhost");
    const before = logs.length;
    await Promise.all(
      Array.from({ length: 200 }, async () => {
        const s = await rawSocket(a.port);
        s.on("error", () => {});
        s.write(new Uint8Array([0, 3, 1, 2, 3]));
        await new Promise((r) => s.once("close", r));
      }),
    );
    await sleep(50);
    const lines = logs.slice(before).filter((l) => l.startsWith("flood_a"));
    assert.ok(lines.length <= 10, `${lines.length} lines for 200 failures`);
    assert.ok(lines.length >= 1);
  });
});

describe("system processes and secrets", () => {
  after(stopAll);

  test("net_kernel survives malformed requests and still answers pings", async () => {
    const a = await node("nk_a@localhost");
    const b = await node("nk_b@localhost");
    const before = logs.length;
    for (
      const bad of [
        tuple(atom("$gen_call"), atom("bad"), tuple(atom("is_auth"), "x")),
        tuple(atom("$gen_call"), tuple(1, 2, 3), tuple(atom("is_auth"))),
        "garbage",
        tuple(),
      ]
    ) b.send(["net_kernel", a.name], bad);
    await sleep(100);
    // A ping is a call to {net_kernel, Node} with {is_auth, Node}.
    assert.equal(
      await b.genCall(["net_kernel", a.name], tuple(atom("is_auth"), b.name)),
      atom("yes"),
    );
    assert.ok(
      logs.slice(before).some((l) => /net_kernel dropped a message/.test(l)),
      "the bad message is logged",
    );
  });

  test("inspecting a node, or what it holds, never shows the cookie", async () => {
    const secret = "do-not-print-this-cookie";
    const n = await startNode({
      name: "ins@localhost",
      cookie: secret,
      registryPort: registry.port,
    });
    try {
      for (const x of [n, n.net, n.spawns]) {
        const text = inspect(x, { depth: 12, showHidden: true });
        assert.ok(!text.includes(secret), "inspect shows the cookie");
      }
      assert.match(inspect(n), /ins@localhost/);
      assert.ok(!String(n).includes(secret));
    } finally {
      await n.stop();
    }
  });
});

describe("hostile packets", () => {
  after(stopAll);

  test("declared packet lengths cost memory only as bytes arrive", async () => {
    const a = await node("mem_a@localhost");
    const mem = () => {
      const m = process.memoryUsage();
      return m.arrayBuffers || m.external;
    };
    const before = mem();
    const socks = [];
    for (let i = 0; i < 60; i++) {
      const s = await handshakenPeer(
        a.port,
        `mem${i}@localhost`,
        a.name,
        COOKIE,
      );
      // Declares 127 MiB, sends 10 bytes, goes silent.
      const head = new Uint8Array(14);
      new DataView(head.buffer).setUint32(0, 127 * 1024 * 1024);
      head[4] = 112;
      s.write(head);
      socks.push(s);
    }
    await sleep(200);
    const grown = mem() - before;
    assert.ok(
      grown < 100 * 1024 * 1024,
      `60 declared 127 MiB packets hold ${(grown / 2 ** 20).toFixed(1)} MiB`,
    );
    for (const s of socks) s.destroy();
  });

  test("hostile fragments drop that connection only, with a clear reason", async () => {
    const a = await node("frag_a@localhost", { maxMessageSize: 1024 * 1024 });
    const frag = (kind: 69 | 70, seq: number, id: number, data: number[]) => {
      const b = [131, kind, 0, 0, 0, 0, 0, 0, 0, seq, 0, 0, 0, 0, 0, 0, 0, id];
      if (kind === 69) b.push(0);
      return packet([...b, ...data]);
    };
    const cases: Array<[string, Uint8Array[]]> = [
      ["a follow-up of an unknown sequence", [frag(70, 1, 1, [1, 2])]],
      ["out of order", [frag(69, 2, 3, [104]), frag(70, 2, 1, [1])]],
      ["started twice", [frag(69, 3, 3, [104]), frag(69, 3, 3, [104])]],
      [
        "over maxMessageSize",
        Array.from(
          { length: 20 },
          (_, i) =>
            frag(i === 0 ? 69 : 70, 4, 20 - i, new Array(65536).fill(1)),
        ),
      ],
      ["atom cache references", [packet([131, 68, 1, 8, 0, 3, 97, 98, 99])]],
      ["an unknown header", [packet([131, 71, 0])]],
    ];
    for (const [what, packets] of cases) {
      const reasons: string[] = [];
      const onDown = (_n: string, r: string) => reasons.push(r);
      a.on("nodedown", onDown);
      const s = await handshakenPeer(a.port, "evil@localhost", a.name, COOKIE);
      for (const p of packets) s.write(p);
      await new Promise((r) => s.once("close", r));
      await until(() => reasons.length > 0, 2000, `nodedown for ${what}`);
      a.off("nodedown", onDown);
      assert.match(reasons[0], /protocol error/, what);
    }
    // The node is fine.
    const b = await node("frag_b@localhost");
    assert.ok(await b.connect(a.name));
  });

  test("atoms a peer sends are freed once nothing holds them", () => {
    const here = fileURLToPath(new URL(".", import.meta.url));
    const script = `
      import { decode } from "${here}decode.ts";
      import { encode } from "${here}encode.ts";
      import { atom, atomCount } from "${here}terms.ts";
      const base = atomCount();
      for (let round = 0; round < 4; round++) {
        const names = Array.from({ length: 100000 }, (_, i) => "a" + round + "_" + i);
        const bytes = encode(names.map((n) => atom(n))).slice();
        names.length = 0;
        decode(bytes);
      }
      for (let i = 0; i < 10; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 10)); }
      console.log(JSON.stringify({ base, after: atomCount() }));
    `;
    const isDeno = "Deno" in globalThis;
    const r = isDeno
      ? spawnSync(process.execPath, [
        "eval",
        "--v8-flags=--expose-gc",
        script,
      ], { encoding: "utf8" })
      : spawnSync(process.execPath, [
        "--expose-gc",
        "--import",
        "tsx",
        "--input-type=module",
        "-e",
        script,
      ], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const { base, after } = JSON.parse(r.stdout.trim().split("\n").pop()!);
    // 400,000 distinct atoms went through; a few may linger until the next
    // collection, not all of them.
    assert.ok(after - base < 50_000, `${after - base} atoms left of 400,000`);
  });
});

describe("backpressure", () => {
  after(stopAll);

  test("a sender to a peer that does not read is suspended; memory stays bounded", async () => {
    const a = await node("bp_a@localhost");
    const s = await handshakenPeer(a.port, "sloth@localhost", a.name, COOKIE);
    s.pause(); // never reads
    const tick = setInterval(() => s.write(new Uint8Array(4)), 200);
    const target = new Pid("sloth@localhost", 1, 0, 1);
    const payload = new Uint8Array(1024);
    let sent = 0;
    let running = true;
    a.spawn(async () => {
      while (running) {
        send(target, tuple(atom("msg"), payload));
        sent++;
        if (sent % 64 === 0) await sleep(0);
      }
    });
    try {
      await sleep(2000);
      const at2 = sent;
      await sleep(1000);
      const at3 = sent;
      assert.equal(at3, at2, "the sender is suspended (no progress for 1 s)");
      // What is queued is bounded by the busy limit plus the kernel's socket
      // buffers, not by how long the sender runs.
      assert.ok(
        at3 * 1030 < 64 * 1024 * 1024,
        `${
          ((at3 * 1030) / 2 ** 20).toFixed(1)
        } MiB sent into a peer that does not read`,
      );
      // The peer reads again: the sender resumes.
      s.resume();
      await until(() => sent > at3 + 10_000, 10_000, "the sender to resume");
    } finally {
      running = false;
      clearInterval(tick);
      s.destroy();
    }
  });
});

describe("large messages", () => {
  after(stopAll);

  test("a 64 MB message goes in fragments: pings from other processes keep flowing, it arrives whole", async () => {
    const a = await node("big_a@localhost");
    const b = await node("big_b@localhost");
    const big = new Uint8Array(64 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
    big[0] = 0xff; // not UTF-8: it stays a Uint8Array
    big[big.length - 1] = 7;
    let received: Uint8Array | undefined;
    b.register(
      "big",
      b.spawn(async () => {
        const m = await receive() as Tuple;
        received = m[1] as Uint8Array;
      }),
    );
    b.register(
      "pong",
      b.spawn(async () => {
        for (;;) {
          const m = await receive() as Tuple;
          send(m[0] as Pid, m[1]);
        }
      }),
    );
    assert.ok(await a.connect(b.name));
    const times: number[] = [];
    await new Promise<void>((resolve, reject) => {
      // Another process sends the big message: its own later messages wait
      // behind it (signal order), other processes' go on meanwhile.
      a.spawn(() => send(["big", b.name], tuple(atom("big"), big)));
      a.spawn(async () => {
        try {
          const me = a.current().pid;
          while (received === undefined) {
            const t0 = performance.now();
            send(["pong", b.name], tuple(me, times.length));
            await receive(undefined, 10_000);
            times.push(performance.now() - t0);
          }
          resolve();
        } catch (e) {
          reject(e);
        }
      });
    });
    assert.equal(received!.length, big.length);
    assert.equal(received![big.length - 1], 7);
    assert.equal(received![4096 * 3], (4096 * 3) & 0xff);
    times.sort((x, y) => x - y);
    const p99 = times[Math.floor(times.length * 0.99)];
    assert.ok(
      times.length >= 5,
      `only ${times.length} pings during the transfer`,
    );
    // The BEAM here: p99 ~320 ms. Without fragments noderl's was ~2.2 s.
    assert.ok(
      p99 < 1000,
      `ping p99 ${p99.toFixed(0)} ms during a 64 MB message`,
    );
  });

  test("a message over maxMessageSize is refused at send with a clear error; the link survives", async () => {
    const a = await node("cap_a@localhost", { maxMessageSize: 1024 * 1024 });
    const b = await node("cap_b@localhost");
    b.register(
      "sink",
      b.spawn(async () => {
        for (;;) {
          const m = await receive() as Tuple;
          send(m[0] as Pid, atom("ok"));
        }
      }),
    );
    assert.ok(await a.connect(b.name));
    await new Promise<void>((resolve, reject) => {
      a.spawn(async () => {
        try {
          const me = a.current().pid;
          assert.throws(
            () =>
              send(
                ["sink", b.name],
                tuple(me, new Uint8Array(2 * 1024 * 1024)),
              ),
            (e: unknown) =>
              e instanceof RangeError &&
              /exceeds maxMessageSize/.test(e.message),
          );
          send(["sink", b.name], tuple(me, new Uint8Array(512 * 1024)));
          assert.equal(await receive(undefined, 5000), atom("ok"));
          resolve();
        } catch (e) {
          reject(e);
        }
      });
    });
    assert.deepEqual(a.nodes(), [b.name]);
  });

  test("a message encodes without pass-through to peers that take fragments, and with it to those that do not", async () => {
    const a = await node("fmt_a@localhost");
    // A peer without DFLAG_FRAGMENTS gets pass-through packets ('p').
    const { DFLAG_NODERL, DFLAG } = await import("./_dist.ts");
    const s = await handshakenPeer(
      a.port,
      "old@localhost",
      a.name,
      COOKIE,
      DFLAG_NODERL & ~DFLAG.FRAGMENTS,
    );
    const got = new Promise<Uint8Array>((r) => s.once("data", r));
    a.send(new Pid("old@localhost", 1, 0, 1), atom("hi"));
    const bytes = await got;
    assert.equal(bytes[4], 112);
    s.destroy();
    assert.deepEqual([...encode(atom("hi"))].slice(0, 1), [131]);
  });
});
