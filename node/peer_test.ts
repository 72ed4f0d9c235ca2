import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { after } from "node:test";
import { excludeUnlessDistributed, test } from "../testing/mod.ts";
import {
  peerScope,
  runningPeers,
  startPeer,
  startPeers,
  stopAll,
} from "./peer.ts";
import { startRegistry } from "./registry.ts";

await excludeUnlessDistributed();

const here = dirname(fileURLToPath(import.meta.url));
const modules = new URL("../tests/_peer_modules.ts", import.meta.url);
const distributed = { tags: ["distributed"], timeout: 90_000 };
const isDeno = "Deno" in globalThis;
const scratch = mkdtempSync(join(tmpdir(), "noderl-peer-test-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function moduleFile(name: string, source: string): string {
  const file = join(scratch, name);
  writeFileSync(file, source);
  return file;
}

test("peer_main: --help, and bad flags exit 2", {}, () => {
  const script = join(here, "peer_main.ts");
  const run = (...args: string[]) =>
    spawnSync(
      process.execPath,
      isDeno ? ["run", "-A", script, ...args] : [
        ...process.execArgv.filter((a) => !a.startsWith("--test")),
        script,
        ...args,
      ],
      { encoding: "utf8", env: { ...process.env, NODE_TEST_CONTEXT: "" } },
    );
  const help = run("--help");
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /usage: peer_main\.ts --name/);
  const bad = run("--bogus");
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /noderl peer: .*bogus/);
  const noName = run();
  assert.equal(noName.status, 2);
  assert.match(noName.stderr, /--name is required/);
  const badPort = run("--name", "x", "--registry-port", "http");
  assert.equal(badPort.status, 2);
  assert.match(badPort.stderr, /--registry-port must be a port number/);
});

test(
  "a modules file without a setup function: the start fails, saying why",
  distributed,
  async () => {
    const file = moduleFile("no_setup.mjs", "export const x = 1;\n");
    await assert.rejects(
      startPeers({ peers: ["kate"], modules: file }),
      /exited \(code 1\) before it was ready[\s\S]*must export a function/,
    );
    assert.deepEqual(runningPeers(), []);
  },
);

test(
  "a setup that throws: the start fails with the peer's output",
  distributed,
  async () => {
    const file = moduleFile(
      "throwing.mjs",
      'export default () => { throw new Error("setup went wrong"); };\n',
    );
    await assert.rejects(
      startPeers({ peers: ["kate"], modules: file }),
      /setup went wrong/,
    );
  },
);

test(
  "no registry: the peer says so; startPeer rejects",
  distributed,
  async () => {
    const registry = await startRegistry({ port: 0 });
    const port = registry.port;
    await registry.close(); // a port where nothing listens now
    await assert.rejects(
      startPeer({ name: "lonely", registryPort: port, cookie: "c" }),
      /peer lonely@localhost exited \(code 1\) before it was ready[\s\S]*registry/,
    );
  },
);

test(
  "a start that takes too long is killed and reported",
  distributed,
  async () => {
    const file = moduleFile(
      "slow.mjs",
      "export default () => new Promise(() => {});\n",
    );
    const cluster = await startPeers({ peers: [] });
    try {
      const t0 = performance.now();
      await assert.rejects(
        cluster.startPeer({
          name: "slow",
          modules: file,
          startTimeoutMs: 3000,
        }),
        /peer slow@localhost was not ready within 3000 ms/,
      );
      assert.ok(performance.now() - t0 < 20_000);
      assert.deepEqual(runningPeers(), []);
    } finally {
      await cluster.stop();
    }
  },
);

test(
  "startPeers: a failed peer stops the others; names are checked",
  distributed,
  async () => {
    await assert.rejects(
      startPeers({ peers: ["kate", "kate@localhost"] }),
      /peer name kate@localhost given twice/,
    );
    const cluster = await startPeers({ peers: ["kate"], modules });
    try {
      // "kate" is taken in this registry: that peer fails, "jane" is stopped.
      await assert.rejects(
        startPeers({
          peers: ["jane", "kate"],
          modules,
          registryPort: cluster.registryPort,
          cookie: cluster.cookie,
        }),
        /peer kate@localhost exited \(code 1\)/,
      );
      assert.deepEqual(runningPeers().map((p) => p.name), ["kate@localhost"]);
    } finally {
      await cluster.stop();
    }
    assert.deepEqual(runningPeers(), []);
  },
);

test(
  "a cluster grows; a peer's output can be echoed; unknown peers are named",
  distributed,
  async () => {
    const lines: string[] = [];
    const cluster = await startPeers({
      peers: ["kate"],
      modules,
      echo: (line) => lines.push(line),
    });
    try {
      const jane = await cluster.startPeer("jane");
      assert.equal(cluster.peers.length, 2);
      assert.equal(jane.registryPort, cluster.registryPort);
      const alex = await cluster.startNode("alex");
      await alex.call("jane@localhost", "Kate", "log", ["echo me"]);
      await jane.waitForOutput("echo me");
      assert.ok(lines.includes("echo me"), JSON.stringify(lines));
      assert.throws(() => cluster.peer("bob"), /no peer bob@localhost/);
      await assert.rejects(
        jane.waitForOutput(/never/, 500),
        /did not match \/never\/ within 500 ms/,
      );
    } finally {
      await cluster.stop();
    }
    assert.equal(cluster.peers.every((p) => !p.running), true);
  },
);

test(
  "peerScope stops what ran inside it, even when it threw",
  distributed,
  async () => {
    const scope = peerScope();
    let pids: number[] = [];
    await assert.rejects(
      scope.run(async () => {
        const cluster = await startPeers({ peers: 2, modules });
        const solo = await startPeer({
          name: "solo",
          registryPort: cluster.registryPort,
          cookie: cluster.cookie,
          modules,
        });
        pids = [...cluster.peers.map((p) => p.pid), solo.pid];
        throw new Error("inside the scope");
      }),
      /inside the scope/,
    );
    assert.equal(pids.length, 3);
    assert.ok(pids.every(running), "still running before the scope stops");
    await scope.stop();
    assert.deepEqual(pids.filter(running), []);
    assert.deepEqual(runningPeers(), []);
  },
);

test(
  "stopAll stops every peer and cluster of this process",
  distributed,
  async () => {
    const cluster = await startPeers({ peers: 1, modules });
    const extra = await startPeer({
      name: "extra",
      registryPort: cluster.registryPort,
      cookie: cluster.cookie,
    });
    assert.equal(runningPeers().length, 2);
    await stopAll();
    assert.deepEqual(runningPeers(), []);
    assert.equal(running(extra.pid), false);
    assert.equal(
      await extra.stop(),
      await extra.exited,
      "stop() again is fine",
    );
  },
);
