/**
 * TS↔TS across OS processes: peer nodes started with node/peer.ts in child
 * processes of this runtime, running the seeds' examples. Tagged
 * `distributed`: `npm test -- --exclude distributed` skips them, and they
 * are skipped with the reason where no registry can be started.
 *
 * @module
 */
import assert from "node:assert/strict";
import process from "node:process";
import { excludeUnlessDistributed, test } from "../testing/mod.ts";
import { startPeers } from "../node/peer.ts";
import {
  atom,
  currentNode,
  monitor,
  type Pid,
  receive,
  type Ref,
  RemoteError,
  self,
  send,
  trapExit,
  Tuple,
  tuple,
} from "../node/mod.ts";

await excludeUnlessDistributed();

const modules = new URL("./_peer_modules.ts", import.meta.url);
const distributed = { tags: ["distributed"], timeout: 90_000 };
const isTuple = (m: unknown, tag: string) =>
  m instanceof Tuple && m[0] === atom(tag);

test(
  "Kate's say_name runs on a peer process, prints on the caller",
  distributed,
  async () => {
    const cluster = await startPeers({ peers: ["kate"], modules });
    try {
      const out: string[] = [];
      const alex = await cluster.startNode({
        name: "alex@localhost",
        stdout: (t) => out.push(t),
      });
      const kate = cluster.peer("kate");
      assert.notEqual(kate.pid, process.pid);
      assert.equal(
        await alex.call("kate@localhost", "Kate", "os_pid", []),
        kate.pid,
        "Kate runs in the peer's OS process",
      );
      await alex.spawnLink("kate@localhost", "Kate", "say_name", []);
      const deadline = Date.now() + 10_000;
      while (
        !out.join("").includes("Hi, my name is Kate") && Date.now() < deadline
      ) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(out.join(""), "Hi, my name is Kate\n");
      assert.doesNotMatch(kate.output(), /Hi, my name is Kate/);
    } finally {
      await cluster.stop();
    }
  },
);

test("{:hi, pid} -> :sup? between OS processes", distributed, async () => {
  const cluster = await startPeers({ peers: ["kate"], modules });
  try {
    const alex = await cluster.startNode("alex");
    const pid = await alex.spawnLink("kate@localhost", "Kate", "wait_hi", []);
    assert.equal(pid.node, "kate@localhost");
    send(pid, tuple(atom("hi"), self()));
    assert.equal(
      await receive((m) => m === atom("sup?"), 10_000),
      atom("sup?"),
    );
  } finally {
    await cluster.stop();
  }
});

test(
  "rpc: results, remote errors, and peer-to-peer calls",
  distributed,
  async () => {
    const cluster = await startPeers({ peers: ["kate", "jane"], modules });
    try {
      const alex = await cluster.startNode("alex");
      assert.equal(await alex.call("kate@localhost", "Kate", "add", [1, 2]), 3);
      await assert.rejects(
        alex.call("kate@localhost", "Kate", "boom", []),
        (e) => e instanceof RemoteError && /kate exploded/.test(e.message),
      );
      await assert.rejects(
        alex.call("kate@localhost", "Kate", "nope", []),
        RemoteError,
      );
      // alex -> kate -> jane: kate calls jane from its own process.
      assert.equal(
        await alex.call("kate@localhost", "Kate", "relay", [
          atom("jane@localhost"),
          atom("Kate"),
          atom("node_name"),
          [],
        ]),
        "jane@localhost",
      );
      assert.deepEqual(
        alex.nodes().sort(),
        ["kate@localhost"],
        "alex only connected to kate",
      );
    } finally {
      await cluster.stop();
    }
  },
);

test(
  "a peer killed with SIGKILL: EXIT and DOWN noconnection within 1 s",
  distributed,
  async () => {
    const cluster = await startPeers({ peers: ["kate"], modules });
    try {
      const alex = await cluster.startNode("alex");
      const kate = cluster.peer("kate");
      let ready!: () => void;
      const armed = new Promise<void>((r) => (ready = r));
      const seen = new Promise<
        { exit: Tuple; down: Tuple; linked: Pid; watched: Pid; ref: Ref }
      >(
        (resolve, reject) => {
          alex.spawn(async () => {
            try {
              trapExit(true);
              const node = currentNode();
              const linked = await node.spawnLink(
                "kate@localhost",
                "Kate",
                "wait",
                [],
              );
              const watched = await node.spawnRemote(
                "kate@localhost",
                "Kate",
                "wait",
                [],
              );
              const ref = monitor(watched);
              ready();
              const exit = await receive(
                (m) => isTuple(m, "EXIT"),
                20_000,
              ) as Tuple;
              const down = await receive(
                (m) => isTuple(m, "DOWN"),
                20_000,
              ) as Tuple;
              resolve({ exit, down, linked, watched, ref });
            } catch (e) {
              reject(e);
            }
          });
        },
      );
      await armed;
      const t0 = performance.now();
      const killed = kate.kill();
      const { exit, down, linked, watched, ref } = await seen;
      const ms = performance.now() - t0;
      assert.deepEqual(await killed, { code: null, signal: "SIGKILL" });
      assert.ok((exit[1] as Pid).equals(linked));
      assert.equal(exit[2], atom("noconnection"));
      assert.ok((down[1] as Ref).equals(ref));
      assert.ok((down[3] as Pid).equals(watched));
      assert.equal(down[4], atom("noconnection"));
      assert.ok(
        ms < 1000,
        `EXIT and DOWN came ${ms.toFixed(0)} ms after SIGKILL`,
      );
      console.log(`SIGKILL -> EXIT+DOWN noconnection: ${ms.toFixed(1)} ms`);
      assert.equal(kate.running, false);
      assert.deepEqual(alex.nodes(), []);
    } finally {
      await cluster.stop();
    }
  },
);

test(
  "a stopped peer goes down cleanly; its output stays readable",
  distributed,
  async () => {
    const cluster = await startPeers({ peers: 2, modules });
    try {
      assert.deepEqual(cluster.peers.map((p) => p.name), [
        "peer1@localhost",
        "peer2@localhost",
      ]);
      const alex = await cluster.startNode("alex");
      await alex.call("peer1@localhost", "Kate", "log", ["a line from peer1"]);
      const m = await cluster.peer("peer1").waitForOutput(/a line from (\w+)/);
      assert.equal(m[1], "peer1");
      const pid = await alex.spawnRemote("peer1@localhost", "Kate", "wait", []);
      const ref = monitor(pid);
      assert.deepEqual(await cluster.peer("peer1").stop(), {
        code: 0,
        signal: null,
      });
      const down = await receive(
        (m) => isTuple(m, "DOWN") && ((m as Tuple)[1] as Ref).equals(ref),
        10_000,
      ) as Tuple;
      assert.equal(down[4], atom("noconnection"));
      assert.match(cluster.peer("peer1").output(), /a line from peer1/);
      await assert.rejects(
        cluster.peer("peer1").waitForOutput("never printed", 5_000),
        /exited \(code 0\) before its output matched/,
      );
      assert.equal(
        await alex.call("peer2@localhost", "Kate", "add", [2, 2]),
        4,
      );
    } finally {
      await cluster.stop();
    }
  },
);
