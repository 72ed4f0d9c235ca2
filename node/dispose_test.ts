import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import { type Node, startNode } from "./node.ts";
import { type Cluster, peerScope, startPeers } from "./peer.ts";
import { type Registry, startRegistry } from "./registry.ts";
import { listNames } from "./registry_client.ts";

const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.on("connect", () => {
      s.destroy();
      resolve(false);
    });
    s.on("error", () => resolve(true));
  });

test("await using stops nodes, then the registry, in reverse order", async () => {
  let registry!: Registry;
  let kate!: Node;
  let alex!: Node;
  {
    await using r = await startRegistry({ port: 0 });
    registry = r;
    const o = { cookie: "dispose", registryPort: r.port };
    await using a = await startNode({ name: "alex_dispose@localhost", ...o });
    await using k = await startNode({ name: "kate_dispose@localhost", ...o });
    [alex, kate] = [a, k];
    kate.defineModule("K", { hi: () => "hi" });
    assert.equal(await alex.call(kate.name, "K", "hi", []), "hi");
    assert.deepEqual(
      (await listNames({ port: r.port })).map((n) => n.name).sort(),
      ["alex_dispose", "kate_dispose"],
    );
  }
  assert.ok(alex.isStopped && kate.isStopped);
  await registry.closed;
  assert.ok(await refused(registry.port), "the registry no longer listens");
  assert.ok(await refused(alex.port), "alex no longer listens");
});

test("await using a peer scope stops the clusters started in it", {
  timeout: 60_000,
}, async () => {
  let outer: Cluster;
  let inner: Cluster;
  {
    await using scope = peerScope();
    outer = await scope.run(() => startPeers({ peers: ["pa"] }));
    await scope.run(async () => {
      await using c = await startPeers({ peers: ["pb"] });
      inner = c;
      assert.ok(c.peers[0].running);
    });
    assert.equal(inner!.peers[0].running, false, "await using a cluster");
    assert.ok(outer.peers[0].running, "still running inside the block");
  }
  assert.equal(outer.peers[0].running, false, "stopped with the scope");
});
