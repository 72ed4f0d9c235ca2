// Loads the built package (after `npm run build`) both ways — ESM and CJS,
// root and subpaths — and checks that classes are shared across subpaths.
const assert = require("node:assert/strict");

const cjs = require("noderl");
const cjsNode = require("noderl/node");
assert.equal(cjs.Atom, cjsNode.Atom, "CJS: one Atom class across subpaths");
assert.deepEqual(cjs.decode(cjs.encode([1, "a"])), [1, "a"]);

import("noderl").then(async (esm) => {
  const esmNode = await import("noderl/node");
  assert.equal(esm.Atom, esmNode.Atom, "ESM: one Atom class across subpaths");
  assert.equal(esm.decode(esm.encode(esm.atom("ok"))), esm.atom("ok"));
  for (const sub of ["noderl/task", "noderl/router", "noderl/chat"]) {
    await import(sub);
    require(sub);
  }
  console.log("package smoke test: ESM and CJS entry points load");
}).catch((e) => {
  console.error(e);
  process.exit(1);
});
