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
  assert.equal(deno.license, pkg.license);
  assert.equal(pkg.name, "noderl");
  assert.equal(pkg.type, "module");
  assert.deepEqual(
    Object.keys(pkg.exports).sort(),
    Object.keys(deno.exports).sort(),
    "the npm and JSR packages have the same subpaths",
  );
  // Each subpath: the source (JSR) and its build (npm; tsup.config.ts
  // builds what package.json names), ESM and CJS with their declarations.
  for (const [sub, src] of Object.entries<string>(deno.exports)) {
    assert.ok(existsSync(join(root, src)), `${src} exists`);
    const base = src.replace(/^\.\//, "").replace(/\.ts$/, "");
    assert.deepEqual(pkg.exports[sub], {
      import: {
        types: `./dist/${base}.d.ts`,
        default: `./dist/${base}.js`,
      },
      require: {
        types: `./dist/${base}.d.cts`,
        default: `./dist/${base}.cjs`,
      },
    }, `package.json exports["${sub}"]`);
    assert.ok(
      deno.publish.include.some((p: string) =>
        p === src.slice(2) || p.startsWith(`${dirname(src.slice(2))}/`)
      ),
      `JSR publishes ${src}`,
    );
  }
  for (const [name, bin] of Object.entries<string>(pkg.bin ?? {})) {
    assert.match(name, /^noderl-/);
    const m = /^\.\/dist\/(.+)\.js$/.exec(bin);
    assert.ok(m, `bin ${name} is ./dist/<file>.js`);
    assert.ok(existsSync(join(root, `${m[1]}.ts`)), `${m[1]}.ts exists`);
    assert.match(
      readFileSync(join(root, `${m[1]}.ts`), "utf8"),
      /^#!\/usr\/bin\/env node\n/,
      `${m[1]}.ts starts with #!`,
    );
  }
});

test("package.json has what registries and users look for", () => {
  const pkg = json("package.json");
  for (const key of ["description", "repository", "homepage", "bugs"]) {
    assert.ok(pkg[key], `package.json has ${key}`);
  }
  assert.ok(pkg.keywords.length > 0);
  assert.equal(pkg.sideEffects, false);
  assert.ok(pkg.files.includes("dist"));
  assert.equal(pkg.scripts.prepack, "npm run build");
  assert.ok(existsSync(join(root, "CHANGELOG.md")));
  assert.match(
    readFileSync(join(root, "CHANGELOG.md"), "utf8"),
    new RegExp(`^## ${pkg.version.replace(/\./g, "\\.")}\\b`, "m"),
    "CHANGELOG.md has a section for this version",
  );
});

test("the version the bins print is the package's", async () => {
  const { VERSION } = await import("../node/_version.ts");
  assert.equal(VERSION, json("package.json").version);
});

test("package-lock.json agrees with package.json (a fresh npm install changes nothing)", () => {
  const pkg = json("package.json");
  const lock = json("package-lock.json");
  const own = lock.packages[""];
  assert.equal(lock.name, pkg.name);
  assert.equal(own.version, pkg.version);
  for (
    const key of [
      "bin",
      "dependencies",
      "devDependencies",
      "engines",
      "license",
    ]
  ) {
    // npm writes bin paths without their "./".
    const norm = (v: unknown) =>
      key === "bin" && v
        ? Object.fromEntries(
          Object.entries(v).map((
            [k, p],
          ) => [k, String(p).replace(/^\.\//, "")]),
        )
        : v;
    assert.deepEqual(
      norm(own[key]),
      norm(pkg[key]),
      `package-lock.json's ${key} is package.json's: run npm install and commit the lock`,
    );
  }
});
