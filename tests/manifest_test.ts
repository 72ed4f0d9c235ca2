import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const json = (f: string) => JSON.parse(readFileSync(join(root, f), "utf8"));

test("deno.json and package.json list the same subpaths and version", () => {
  const deno = json("deno.json");
  const pkg = json("package.json");
  assert.equal(deno.version, pkg.version);
  assert.equal(deno.name, "@noderl/noderl");
  assert.equal(pkg.name, "noderl");
  assert.equal(pkg.type, "module");
  const subpaths = [
    ".",
    "./node",
    "./task",
    "./gen",
    "./router",
    "./chat",
    "./pubsub",
    "./testing",
  ];
  assert.deepEqual(Object.keys(deno.exports).sort(), subpaths.sort());
  assert.deepEqual(Object.keys(pkg.exports).sort(), subpaths.sort());
  const tsup = readFileSync(join(root, "tsup.config.ts"), "utf8");
  for (const sub of subpaths) {
    const src: string = deno.exports[sub];
    assert.ok(existsSync(join(root, src)), `${src} exists`);
    const base = src.replace(/^\.\//, "").replace(/\.ts$/, "");
    const entry = pkg.exports[sub];
    assert.equal(entry.import.default, `./dist/${base}.js`);
    assert.equal(entry.import.types, `./dist/${base}.d.ts`);
    assert.equal(entry.require.default, `./dist/${base}.cjs`);
    assert.equal(entry.require.types, `./dist/${base}.d.cts`);
    assert.match(
      tsup,
      new RegExp(`"${base}": "${base}\\.ts"`),
      `tsup builds ${base}`,
    );
  }
  for (const bin of Object.values<string>(pkg.bin ?? {})) {
    assert.match(bin, /^\.\/dist\//);
  }
});

test("the version noderl-top and system_info report is the package's", async () => {
  const { VERSION } = await import("../node/_version.ts");
  assert.equal(VERSION, json("package.json").version);
});
