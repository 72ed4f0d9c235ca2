/**
 * The hostile tests of node/attack_test.ts against real BEAM nodes: the
 * reference behaviour noderl matches (a connection hijack attempt against
 * two BEAM nodes, a BEAM sender to a peer that does not read), and large
 * messages in fragments between noderl and the BEAM, both ways.
 */
import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import { startRegistry } from "../node/registry.ts";
import { lookupNode } from "../node/registry_client.ts";
import { type Node, startNode } from "../node/node.ts";
import { receive, send } from "../node/process_api.ts";
import { atom, Pid, Tuple, tuple } from "../node/terms.ts";
import { type BeamNode, noErl, startBeamNode } from "./_beam.ts";
import {
  handshakenPeer,
  rawSocket,
  readFramed2,
  sendName,
} from "./_raw_peer.ts";
import { test } from "./_tags.ts";

const tags = ["beam", "distributed"];
const COOKIE = "attack-interop";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("hostile peers against the BEAM (reference) and noderl", {
  skip: noErl || undefined,
}, () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let ts: Node;
  const beams: BeamNode[] = [];

  before(async () => {
    registry = await startRegistry({ port: 0 });
    ts = await startNode({
      name: "atk_ts@localhost",
      cookie: COOKIE,
      registryPort: registry.port,
      log: () => {},
    });
    const names = ["atk_a@localhost", "atk_b@localhost", "atk_c@localhost"];
    for (const name of names) {
      beams.push(
        await startBeamNode({
          name,
          cookie: COOKIE,
          registryPort: registry.port,
        }),
      );
    }
  });

  after(async () => {
    await Promise.all(beams.map((b) => b.stop()));
    await ts?.stop();
    await registry?.close();
  });

  const rpc = (node: string, fun: string, args: unknown[] = []) =>
    ts.call(node, "noderl_attack", fun, args, 20_000);

  test(
    "BEAM reference: a name claimed without the cookie does not break two BEAM nodes' connection",
    {
      tags,
    },
    async () => {
      const [a, b] = ["atk_a@localhost", "atk_b@localhost"];
      assert.equal(
        await ts.call(a, "net_adm", "ping", [atom(b)]),
        atom("pong"),
      );
      await rpc(a, "watch_nodes");
      const info = await lookupNode("atk_a", { port: registry.port });
      const s = await rawSocket(info!.port);
      s.on("error", () => {});
      s.write(sendName(b));
      assert.equal(new TextDecoder().decode(await readFramed2(s)), "salive");
      s.write(new Uint8Array([0, 5, ...new TextEncoder().encode("strue")]));
      assert.equal((await readFramed2(s))?.[0], 78);
      const bad = new Uint8Array(21);
      bad[0] = 114;
      s.write(new Uint8Array([0, 21, ...bad]));
      assert.equal(await readFramed2(s), undefined);
      await sleep(300);
      const events = await rpc(a, "node_events") as unknown[];
      assert.ok(
        !events.some((e) => e instanceof Tuple && e[0] === atom("nodedown")),
        `the BEAM saw ${JSON.stringify(events)}`,
      );
      const nodes = await ts.call(a, "erlang", "nodes", []) as unknown[];
      assert.ok(nodes.includes(atom(b)));
    },
  );

  test(
    "BEAM reference: a sender to a peer that does not read is suspended, memory flat",
    {
      tags,
    },
    async () => {
      const c = "atk_c@localhost";
      const info = await lookupNode("atk_c", { port: registry.port });
      const s = await handshakenPeer(info!.port, "sloth@localhost", c, COOKIE);
      s.pause();
      const tick = setInterval(() => s.write(new Uint8Array(4)), 200);
      try {
        const flooder = await rpc(c, "flood", [
          new Pid("sloth@localhost", 1, 0, 1),
          1024,
        ]);
        await sleep(1500);
        const [status1, mem1] = await rpc(c, "flood_status", [
          flooder,
        ]) as Tuple;
        await sleep(1500);
        const [status2, mem2] = await rpc(c, "flood_status", [
          flooder,
        ]) as Tuple;
        assert.equal(status1, atom("suspended"));
        assert.equal(status2, atom("suspended"));
        assert.ok(
          Math.abs(Number(mem2) - Number(mem1)) < 16 * 1024 * 1024,
          `BEAM memory ${mem1} -> ${mem2}`,
        );
        await ts.call(c, "erlang", "exit", [flooder, atom("kill")]);
      } finally {
        clearInterval(tick);
        s.destroy();
      }
    },
  );

  test("a 64 MB binary in fragments, BEAM -> noderl and noderl -> BEAM", {
    tags,
  }, async () => {
    const b = "atk_b@localhost";
    const size = 64 * 1024 * 1024;
    await rpc(b, "echo_big");
    const got = await new Promise<Tuple>((resolve, reject) => {
      ts.spawn(async () => {
        try {
          ts.register("big_in", ts.current().pid);
          await rpc(b, "send_big", [
            tuple(atom("big_in"), atom("atk_ts@localhost")),
            size,
          ]);
          resolve(await receive(undefined, 30_000) as Tuple);
        } catch (e) {
          reject(e);
        }
      });
    });
    const bin = got[1] as Uint8Array;
    assert.equal(bin.length, size);
    assert.ok(bin.every((x) => x === 255));
    const out = new Uint8Array(size);
    for (let i = 0; i < size; i++) out[i] = (i * 7) & 0xff;
    out[0] = 0xff;
    const echo = await new Promise<Tuple>((resolve, reject) => {
      ts.spawn(async () => {
        try {
          send(["big_echo", b], tuple(ts.current().pid, out));
          resolve(await receive(undefined, 30_000) as Tuple);
        } catch (e) {
          reject(e);
        }
      });
    });
    assert.equal(echo[1], size);
    assert.equal(
      echo[2],
      await ts.call(b, "noderl_attack", "big_checksum", [out], 30_000),
    );
  });
});
