/**
 * A fixture for tests/peer_cleanup_test.ts (not a test file of its own):
 * tests that start peers and never stop them — one kills a peer, one
 * throws, one times out — then a test that checks, with the OS, that none
 * of their processes and ports are left. With `NODERL_LEAKY_MODE=crash`, a
 * test starts peers and hangs until this process is killed. Each start is
 * reported as a `PEERINFO {json}` line.
 *
 * @module
 */
import assert from "node:assert/strict";
import process from "node:process";
import { test } from "../testing/mod.ts";
import { startPeers } from "../node/peer.ts";
import { type Leak, leftOver } from "./_peer_os.ts";

const modules = new URL("./_peer_modules.ts", import.meta.url);
const leaks: Leak[] = [];

async function leak(label: string, peers: string[]) {
  const cluster = await startPeers({ peers, modules });
  const alex = await cluster.startNode("alex");
  for (const p of cluster.peers) {
    assert.equal(await alex.call(p.name, "Kate", "add", [1, 1]), 2);
  }
  const info: Leak = {
    label,
    pids: cluster.peers.map((p) => p.pid),
    ports: [
      cluster.registryPort,
      ...cluster.peers.map((p) => p.port),
      alex.port,
    ],
  };
  leaks.push(info);
  console.log(`PEERINFO ${JSON.stringify(info)}`);
  return cluster;
}

if (process.env.NODERL_LEAKY_MODE === "crash") {
  test(
    "starts peers, then hangs until killed",
    { timeout: 600_000 },
    async () => {
      await leak("crash", ["kate", "jane"]);
      await new Promise(() => {});
    },
  );
} else {
  test("kills a peer, leaves the rest running", {}, async () => {
    const cluster = await leak("kill", ["kate", "jane"]);
    await cluster.peer("kate").kill();
  });

  test("throws", {}, async () => {
    await leak("throw", ["kate"]);
    throw new Error("deliberate failure");
  });

  test("times out", { timeout: 3000 }, async () => {
    await leak("timeout", ["kate"]);
    await new Promise(() => {});
  });

  test("nothing of the tests before is left", {}, async () => {
    assert.deepEqual(leaks.map((l) => l.label), ["kill", "throw", "timeout"]);
    assert.deepEqual(await leftOver(leaks), { pids: [], ports: [] });
    console.log(`CLEANUP-CHECKED ${leaks.length}`);
  });
}
