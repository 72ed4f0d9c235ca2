/**
 * Nodes on two hosts: two Linux network namespaces joined by a veth pair
 * (tests/_netns.ts), each with its own registry, noderl nodes (run by an
 * agent in each namespace) and BEAM nodes.
 *
 * - long names (`a@10.77.0.1`, `b@10.77.0.2`) TS↔TS and TS↔BEAM, each side
 *   dialling, over TCP and over TLS;
 * - IPv6 node names (`a6@fd77::1`, a name whose host has only an IPv6
 *   address) TS↔TS and TS↔BEAM (`-proto_dist inet6_tcp`), the registries
 *   answering over IPv6;
 * - a partition (the link set down) and its healing: node-down detected
 *   within the tick time on both sides, as the BEAM detects it in the same
 *   run; a sequence-numbered stream arrives without duplicates or
 *   reordering, losing only what was sent across the cut;
 * - a node restarted under the same name on another address: old pids
 *   answer `noproc` (creation numbers), to noderl as to the BEAM;
 * - errors that name the real cause.
 *
 * Needs root and `ip`; skipped with the reason otherwise.
 */
import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { type BeamNode, noErl, startBeamNode } from "./_beam.ts";
import {
  type CertFiles,
  makePki,
  noOpenssl,
  type TestPki,
  writeOptfile,
} from "./_certs.ts";
import {
  type Agent,
  makeNetwork,
  noNetns,
  type TestNetwork,
} from "./_netns.ts";
import { test } from "./_tags.ts";

const tags = ["distributed", "netns"];
const COOKIE = "netns-cookie";
/** Tick time (s) of every node here, TS and BEAM. */
const TICK = 4;
const A4 = "10.77.0.1", B4 = "10.77.0.2";

const skip = noNetns || noOpenssl || undefined;

/** When the BEAM node printed `event node` (watch_nodes) after `after`. */
async function beamEvent(
  beam: BeamNode,
  event: string,
  node: string,
  after: number,
  timeoutMs: number,
): Promise<number> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    for (const line of beam.output().split("\n")) {
      const [e, n, t] = line.trim().split(" ");
      if (e === event && n === node && Number(t) > after) return Number(t);
    }
    if (Date.now() > end) {
      throw new Error(
        `${beam.name} printed no ${event} ${node} within ${timeoutMs} ms`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("across hosts (two network namespaces)", { skip }, () => {
  let net: TestNetwork;
  let pki: TestPki;
  let A: Agent, B: Agent;
  let certA: CertFiles, certB: CertFiles;
  const beams: BeamNode[] = [];
  const tlsA = () => ({ cert: certA.cert, key: certA.key, ca: pki.ca });
  const tlsB = () => ({ cert: certB.cert, key: certB.key, ca: pki.ca });

  /** A BEAM node in b's namespace. */
  async function beamInB(name: string, args: string[]): Promise<BeamNode> {
    const n = await startBeamNode({
      name,
      cookie: COOKIE,
      registryPort: 4369,
      longNames: true,
      prefix: ["ip", "netns", "exec", net.b.ns],
      args: [
        "-kernel",
        "net_ticktime",
        String(TICK),
        ...args,
        "-eval",
        "noderl_peer:watch_nodes().",
      ],
    });
    beams.push(n);
    return n;
  }

  const call = (
    agent: Agent,
    node: string,
    target: string,
    mod: string,
    fun: string,
    args: unknown[] = [],
  ) => agent.request("call", { node, target, mod, fun, args });
  const nodeName = (s: string) => ({ atom: s });

  /**
   * `from` (on agent `fa`) dials `to` (on agent `ta`): both see nodeup;
   * then `to` dials back after a disconnect. Each direction really dials.
   */
  async function bothWays(
    fa: Agent,
    from: string,
    ta: Agent,
    to: string,
  ): Promise<void> {
    assert.equal(
      await call(fa, from, to, "Echo", "echo", ["over " + from]),
      "over " + from,
    );
    assert.ok(
      (await fa.request("nodes", { node: from }) as string[]).includes(to),
    );
    assert.equal(
      await fa.request("disconnect", { node: from, peer: to }),
      true,
    );
    await ta.waitEvent(
      (e) => e.event === "nodedown" && e.node === to && e.peer === from,
      5000,
    );
    assert.deepEqual(
      await call(ta, to, from, "erlang", "node"),
      nodeName(from),
    );
  }

  before(async () => {
    pki = makePki();
    certA = pki.issue("hostA", [A4]);
    certB = pki.issue("hostB", [B4]);
    net = await makeNetwork();
    A = net.a.agent;
    B = net.b.agent;
    // a and b (TS) and c (BEAM, on b's host) serve every test.
    await Promise.all([
      A.request("start", { name: `a@${A4}`, cookie: COOKIE, tickTime: TICK }),
      B.request("start", { name: `b@${B4}`, cookie: COOKIE, tickTime: TICK }),
      noErl ? undefined : beamInB(`c@${B4}`, []),
    ]);
  });

  after(async () => {
    await Promise.all(beams.map((b) => b.stop()));
    await net?.remove();
    pki?.remove();
  });

  test(
    "long names over TCP: TS↔TS and TS↔BEAM, each side dialling",
    { tags },
    async () => {
      await bothWays(A, `a@${A4}`, B, `b@${B4}`);
      const c = beams.find((n) => n.name === `c@${B4}`);
      if (!c) return;
      // The BEAM dials the TS node on the other host …
      assert.deepEqual(
        await call(B, `b@${B4}`, c.name, "noderl_peer", "ping", [
          nodeName(`a@${A4}`),
        ]),
        nodeName("pong"),
      );
      await A.waitEvent((e) => e.event === "nodeup" && e.peer === c.name, 5000);
      // … and the TS node dials the BEAM node.
      assert.equal(
        await A.request("disconnect", { node: `a@${A4}`, peer: c.name }),
        true,
      );
      await beamEvent(c, "nodedown", `a@${A4}`, 0, 5000);
      assert.deepEqual(
        await call(A, `a@${A4}`, c.name, "erlang", "node"),
        nodeName(c.name),
      );
    },
  );

  test(
    "long names over TLS: TS↔TS and TS↔BEAM (inet_tls), each side dialling",
    { tags: [...tags, "tls"] },
    async () => {
      await A.request("start", {
        name: `at@${A4}`,
        cookie: COOKIE,
        tls: tlsA(),
      });
      await B.request("start", {
        name: `bt@${B4}`,
        cookie: COOKIE,
        tls: tlsB(),
      });
      await bothWays(A, `at@${A4}`, B, `bt@${B4}`);
      if (noErl) return;
      const optfile = writeOptfile(
        join(pki.dir, "hostB.conf"),
        certB,
        pki.ca,
        pki.beamPath,
      );
      const ct = await beamInB(`ct@${B4}`, [
        "-proto_dist",
        "inet_tls",
        "-ssl_dist_optfile",
        pki.beamPath(optfile),
      ]);
      assert.deepEqual(
        await call(B, `bt@${B4}`, ct.name, "noderl_peer", "ping", [
          nodeName(`at@${A4}`),
        ]),
        nodeName("pong"),
      );
      assert.equal(
        await A.request("disconnect", { node: `at@${A4}`, peer: ct.name }),
        true,
      );
      await beamEvent(ct, "nodedown", `at@${A4}`, 0, 5000);
      assert.deepEqual(
        await call(A, `at@${A4}`, ct.name, "erlang", "node"),
        nodeName(ct.name),
      );
      // A plain node cannot talk to the TLS ones.
      await assert.rejects(
        call(A, `a@${A4}`, `bt@${B4}`, "erlang", "node"),
        /no connection to bt@10\.77\.0\.2: handshake with bt@10\.77\.0\.2 failed/,
      );
    },
  );

  test(
    "IPv6: names with IPv6 addresses and IPv6-only host names, TS↔TS and TS↔BEAM (inet6_tcp), registries over IPv6",
    { tags: [...tags, "ipv6"] },
    async () => {
      const hosts = "fd77::1 v6.a.test\nfd77::2 v6.b.test";
      net.a.hosts(hosts);
      net.b.hosts(hosts);
      await A.request("start", { name: "a6@fd77::1", cookie: COOKIE });
      await B.request("start", { name: "b6@fd77::2", cookie: COOKIE });
      await bothWays(A, "a6@fd77::1", B, "b6@fd77::2");
      await B.request("start", { name: "h6@v6.b.test", cookie: COOKIE });
      await A.request("start", { name: "h6@v6.a.test", cookie: COOKIE });
      await bothWays(A, "h6@v6.a.test", B, "h6@v6.b.test");
      if (noErl) return;
      const c6 = await beamInB("c6@fd77::2", ["-proto_dist", "inet6_tcp"]);
      assert.deepEqual(
        await call(B, "b6@fd77::2", c6.name, "noderl_peer", "ping", [
          nodeName("a6@fd77::1"),
        ]),
        nodeName("pong"),
      );
      assert.equal(
        await A.request("disconnect", { node: "a6@fd77::1", peer: c6.name }),
        true,
      );
      await beamEvent(c6, "nodedown", "a6@fd77::1", 0, 5000);
      assert.deepEqual(
        await call(A, "a6@fd77::1", c6.name, "erlang", "node"),
        nodeName(c6.name),
      );
    },
  );

  test(
    "a partition and its healing: node-down within the tick time on both sides, as the BEAM; a sequence stream without duplicates or reordering, losing only across the cut",
    { tags: [...tags, "partition"] },
    async () => {
      const a = `a@${A4}`, b = `b@${B4}`;
      const c = beams.find((n) => n.name === `c@${B4}`);
      // Both peers connected and a sink on each.
      await B.request("sink", { node: b, name: "sink_ab" });
      if (c) {
        await call(B, b, c.name, "noderl_peer", "sink_start", [
          nodeName("sink_ac"),
        ]);
        await call(A, a, c.name, "erlang", "node");
      }
      await call(A, a, b, "erlang", "node");
      const INTERVAL = 5;
      await A.request("stream", {
        node: a,
        stream: "ab",
        to: "sink_ab",
        toNode: b,
        intervalMs: INTERVAL,
      });
      if (c) {
        await A.request("stream", {
          node: a,
          stream: "ac",
          to: "sink_ac",
          toNode: c.name,
          intervalMs: INTERVAL,
        });
      }
      await new Promise((r) => setTimeout(r, 500));

      const sinkAB = async () =>
        await B.request("sinkResult", { node: b, name: "sink_ab" }) as number[];
      const sinkAC = async () =>
        await call(B, b, c!.name, "noderl_peer", "sink_result", [
          nodeName("sink_ac"),
        ]) as number[];
      // What had arrived just before the cut: nothing up to there may be lost.
      const deliveredAB = (await sinkAB()).at(-1) ?? 0;
      const deliveredAC = c ? (await sinkAC()).at(-1) ?? 0 : 0;
      const downAt = Date.now();
      net.linkDown();
      const seqAtDown = await A.request("streamAt", { stream: "ab" }) as number;
      const seqAtDownC = c
        ? await A.request("streamAt", { stream: "ac" }) as number
        : 0;
      const limit = TICK * 1000 * 2.5;
      const since = (e: Record<string, unknown>) => (e.at as number) - downAt;
      const detections: Record<string, number> = {};
      const waits = [
        A.waitEvent(
          (e) =>
            e.event === "nodedown" && e.node === a && e.peer === b &&
            (e.at as number) > downAt,
          limit,
        )
          .then((e) => (detections["TS a sees TS b down"] = since(e))),
        B.waitEvent(
          (e) =>
            e.event === "nodedown" && e.node === b && e.peer === a &&
            (e.at as number) > downAt,
          limit,
        )
          .then((e) => (detections["TS b sees TS a down"] = since(e))),
      ];
      if (c) {
        waits.push(
          A.waitEvent(
            (e) =>
              e.event === "nodedown" && e.node === a && e.peer === c.name &&
              (e.at as number) > downAt,
            limit,
          )
            .then((e) => (detections["TS a sees BEAM c down"] = since(e))),
          beamEvent(c, "nodedown", a, downAt, limit)
            .then((at) => (detections["BEAM c sees TS a down"] = at - downAt)),
        );
      }
      await Promise.all(waits);
      console.log(`detected: ${JSON.stringify(detections)}`);
      net.linkUp();
      const upAt = Date.now();
      const seqAtUp = await A.request("streamAt", { stream: "ab" }) as number;
      const seqAtUpC = c
        ? await A.request("streamAt", { stream: "ac" }) as number
        : 0;
      console.log(
        `partition (net tick time ${TICK} s): detected after ${
          Object.entries(detections).map(([k, v]) =>
            `${k}: ${(v / 1000).toFixed(2)} s`
          ).join("; ")
        }`,
      );
      for (const [who, ms] of Object.entries(detections)) {
        assert.ok(
          ms >= TICK * 1000 * 0.7 && ms <= TICK * 1000 * 1.25 + 1500,
          `${who} after ${ms} ms (tick time ${TICK} s)`,
        );
      }
      // The stream resumes after the heal (the next send reconnects).
      const resumed = async (get: () => Promise<number[]>, after: number) => {
        const end = Date.now() + 20_000;
        for (;;) {
          const got = await get();
          if (got.length && got[got.length - 1] > after + 100) return;
          if (Date.now() > end) {
            throw new Error(
              `the stream did not resume (last ${
                got.at(-1)
              }, healed at ${after})`,
            );
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      };
      await resumed(sinkAB, seqAtUp);
      if (c) await resumed(sinkAC, seqAtUpC);
      console.log(
        `healed: the streams resumed ${
          Date.now() - upAt
        } ms after the link came back`,
      );
      const lastAB = await A.request("streamStop", { stream: "ab" }) as number;
      const lastAC = c
        ? await A.request("streamStop", { stream: "ac" }) as number
        : 0;
      await new Promise((r) => setTimeout(r, 300));
      const check = (
        what: string,
        got: number[],
        last: number,
        delivered: number,
        atDown: number,
        atUp: number,
      ) => {
        assert.equal(got[0], 1, `${what}: the first message arrived`);
        const gaps: Array<[number, number]> = [];
        for (let i = 1; i < got.length; i++) {
          assert.ok(
            got[i] > got[i - 1],
            `${what}: ${got[i]} after ${
              got[i - 1]
            }: a duplicate or a reordering`,
          );
          if (got[i] !== got[i - 1] + 1) gaps.push([got[i - 1], got[i]]);
        }
        assert.ok(
          gaps.length <= 1,
          `${what}: one gap at most, got ${JSON.stringify(gaps)}`,
        );
        for (const [from, to] of gaps) {
          assert.ok(
            from >= delivered && to - 1 <= atUp + 2000,
            `${what}: lost ${from + 1}..${
              to - 1
            }: ${delivered} had arrived before the cut, ${atUp} were sent before the heal`,
          );
        }
        assert.equal(
          got.at(-1),
          last,
          `${what}: everything after the heal arrived`,
        );
        console.log(
          `${what}: ${got.length} of ${last} arrived in order; lost ${
            gaps.map(([f, t]) => `${f + 1}..${t - 1}`).join(", ") || "nothing"
          } (${delivered} had arrived before the cut; sent ${atDown} when the link went down, ${atUp} when it came back)`,
        );
      };
      check("TS → TS", await sinkAB(), lastAB, deliveredAB, seqAtDown, seqAtUp);
      if (c) {
        check(
          "TS → BEAM",
          await sinkAC(),
          lastAC,
          deliveredAC,
          seqAtDownC,
          seqAtUpC,
        );
      }
    },
  );

  test(
    "a node restarted under the same name on another address: old pids answer noproc (creation), to noderl as to the BEAM",
    { tags },
    async () => {
      const a = `a@${A4}`, b = `b@${B4}`;
      const lines = (addr: string) => `${addr} r.b.test`;
      net.a.hosts(lines(B4));
      net.b.hosts(lines(B4));
      const first = await B.request("start", {
        name: "r@r.b.test",
        cookie: COOKIE,
      }) as {
        port: number;
        creation: number;
      };
      const old = await B.request("keeper", { node: "r@r.b.test" });
      assert.deepEqual(
        await call(A, a, "r@r.b.test", "erlang", "node"),
        nodeName("r@r.b.test"),
      );
      await B.request("stop", { node: "r@r.b.test" });
      await A.waitEvent(
        (e) => e.event === "nodedown" && e.peer === "r@r.b.test",
        5000,
      );
      // The name moves to another address.
      net.addAddressB("10.77.0.3/24");
      net.a.hosts(lines("10.77.0.3"));
      net.b.hosts(lines("10.77.0.3"));
      const second = await B.request("start", {
        name: "r@r.b.test",
        cookie: COOKIE,
      }) as {
        port: number;
        creation: number;
      };
      assert.notEqual(second.creation, first.creation);
      // It listens where its name now resolves, not on the old address.
      assert.equal(
        await A.request("probe", { host: "10.77.0.3", port: second.port }),
        true,
      );
      assert.equal(
        await A.request("probe", { host: B4, port: second.port }),
        false,
      );
      assert.deepEqual(
        await call(A, a, "r@r.b.test", "erlang", "node"),
        nodeName("r@r.b.test"),
      );
      // The old pid is gone: noproc, not the new incarnation's process.
      assert.deepEqual(
        await A.request("monitorDown", { node: a, pid: old, timeoutMs: 5000 }),
        nodeName("noproc"),
      );
      const c = beams.find((n) => n.name === `c@${B4}`);
      if (c) {
        assert.deepEqual(
          await call(B, b, c.name, "noderl_peer", "monitor_wait", [old]),
          { tuple: [nodeName("down"), old, nodeName("noproc")] },
        );
      }
      await B.request("stop", { node: "r@r.b.test" });
    },
  );

  test("errors name the real cause", { tags }, async () => {
    // A name whose host is not this machine's.
    await assert.rejects(
      A.request("start", { name: "k@10.77.0.9", cookie: COOKIE }),
      /cannot listen on 10\.77\.0\.9, where the host of k@10\.77\.0\.9 resolves: it is not an address of this machine \(its addresses: .*10\.77\.0\.1/,
    );
    // A registry on the other host that listens on 127.0.0.1 only.
    const regA = await net.startRegistry(net.a, 4370, "::");
    const regB = await net.startRegistry(net.b, 4370, "127.0.0.1");
    try {
      await A.request("start", {
        name: `k@${A4}`,
        cookie: COOKIE,
        registryPort: 4370,
      });
      await B.request("start", {
        name: `k@${B4}`,
        cookie: COOKIE,
        registryPort: 4370,
      });
      await B.request("start", {
        name: `k2@${B4}`,
        cookie: COOKIE,
        registryPort: 4370,
      });
      await assert.rejects(
        call(A, `k@${A4}`, `k@${B4}`, "erlang", "node"),
        /no registry answers at 10\.77\.0\.2:4370, the host of k@10\.77\.0\.2 \(connection refused\): on that host run the registry on an address other hosts reach/,
      );
      // On its own host, nodes named after the host's address are found
      // through that loopback registry all the same.
      assert.deepEqual(
        await call(B, `k@${B4}`, `k2@${B4}`, "erlang", "node"),
        nodeName(`k2@${B4}`),
      );
    } finally {
      regA.kill();
      regB.kill();
    }
  });
});
