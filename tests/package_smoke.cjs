// Loads the built package (after `npm run build`) both ways — ESM and CJS,
// root and subpaths — and checks that classes are shared across subpaths,
// that only noderl/testing loads node:test, and that peers start from dist/.
const assert = require("node:assert/strict");
const { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } =
  require("node:fs");
const { tmpdir } = require("node:os");
const { join } = require("node:path");

const cjs = require("noderl");
const cjsNode = require("noderl/node");
assert.equal(cjs.Atom, cjsNode.Atom, "CJS: one Atom class across subpaths");
assert.deepEqual(cjs.decode(cjs.encode([1, "a"])), [1, "a"]);

// node:test must stay out of everything but noderl/testing.
const dist = join(__dirname, "..", "dist");
for (const dir of [dist, ...["node", "task", "gen", "router", "chat", "pubsub"].map((d) => join(dist, d))]) {
  for (const f of readdirSync(dir).filter((f) => /\.c?js$/.test(f))) {
    const text = readFileSync(join(dir, f), "utf8");
    if (/\bnode:test\b/.test(text)) {
      assert.fail(`${join(dir, f)} loads node:test (only dist/testing may)`);
    }
  }
}

// A peer node from dist/: its modules file is plain JavaScript.
async function peerFromDist(api, label) {
  const dir = mkdtempSync(join(tmpdir(), "noderl-smoke-"));
  const modules = join(dir, "smoke_modules.mjs");
  writeFileSync(
    modules,
    'export default (node) => node.defineModule("Smoke", { hello: (who) => `hello ${who}` });\n',
  );
  const cluster = await api.startPeers({ peers: ["smoke"], modules });
  try {
    const local = await cluster.startNode(`smokectl_${label}`);
    assert.equal(
      await local.call("smoke@localhost", "Smoke", "hello", [label]),
      `hello ${label}`,
    );
  } finally {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(cluster.peers[0].running, false);
}

import("noderl").then(async (esm) => {
  const esmNode = await import("noderl/node");
  assert.equal(esm.Atom, esmNode.Atom, "ESM: one Atom class across subpaths");
  assert.equal(esm.decode(esm.encode(esm.atom("ok"))), esm.atom("ok"));
  for (const sub of ["noderl/task", "noderl/gen", "noderl/router", "noderl/chat", "noderl/pubsub", "noderl/testing"]) {
    await import(sub);
    require(sub);
  }
  const esmTesting = await import("noderl/testing");
  assert.deepEqual(esmTesting.parseTagFilters("--only distributed").only, [
    "distributed",
  ]);
  await peerFromDist(esmNode, "esm");
  await peerFromDist(cjsNode, "cjs");
  console.log(
    "package smoke test: ESM and CJS entry points load, peers start from dist/",
  );
}).catch((e) => {
  console.error(e);
  process.exit(1);
});
