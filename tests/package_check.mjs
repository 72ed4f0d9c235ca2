#!/usr/bin/env node
// The package as a user gets it (`npm test` runs this as its "package"
// step; alone: `node tests/package_check.mjs`):
//
//  1. a clean clone: the files git tracks (and new ones it does not ignore)
//     copied to a temporary directory — no dist/, no build output;
//  2. `npm pack` there: its prepack builds dist/;
//  3. the tarball: every target of package.json's "exports" (each
//     condition) and every "bin" is in it, each .js/.cjs has its source map
//     (with the sources inside), no .d.ts mentions @internal;
//  4. publint and @arethetypeswrong/cli (profile node16: node16 from CJS and
//     ESM, bundler; node10 is not checked) on the tarball: nothing to report;
//  5. a fresh project installs the tarball and loads every subpath with
//     `import` and `require` (the same names both ways), under Node and
//     Deno; runs every bin with --version and --help; type-checks a
//     TypeScript consumer against the package's declarations (ESM and CJS,
//     module node16); checks that an ESM and a CJS copy in one process
//     share atoms and term classes (whichever loads first); starts a peer
//     from dist/.
//
// All of it is driven by package.json: a new subpath or bin is checked
// with no change here.
import { execFileSync, spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
const tmp = mkdtempSync(join(tmpdir(), "noderl-package-"));
const failures = [];
const fail = (what) => {
  failures.push(what);
  console.error(`FAIL ${what}`);
};
const ok = (what) => console.log(`ok   ${what}`);
const check = (cond, what) => (cond ? ok(what) : fail(what));

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    ...opts,
    env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0", ...opts.env },
  });
  return {
    status: r.status,
    out: r.stdout ?? "",
    err: r.stderr ?? "",
    all: `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? String(r.error) : ""}`,
  };
}

/** Every string in an exports value (conditions nest), with its path of keys. */
function targets(value, keys = []) {
  if (typeof value === "string") return [{ keys, target: value }];
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([k, v]) => targets(v, [...keys, k]));
}

try {
  // ------------------------------------------------------------ 1. clean clone
  const clone = join(tmp, "clone");
  const listed = execFileSync(
    "git",
    ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    { cwd: root, encoding: "utf8" },
  ).split("\0").filter(Boolean);
  let copied = 0;
  for (const f of listed) {
    const from = join(root, f);
    if (!existsSync(from) || !statSync(from).isFile()) continue; // deleted
    mkdirSync(dirname(join(clone, f)), { recursive: true });
    copyFileSync(from, join(clone, f));
    copied++;
  }
  // The build's tools (devDependencies), as `npm ci` would install them.
  symlinkSync(join(root, "node_modules"), join(clone, "node_modules"), "dir");
  check(
    !existsSync(join(clone, "dist")),
    `clean clone: ${copied} files, no dist/`,
  );

  // ------------------------------------------------------------ 2. npm pack
  const packed = run("npm", [
    "pack",
    "--json",
    "--pack-destination",
    tmp,
    "--foreground-scripts",
  ], { cwd: clone });
  const json = packed.out.slice(packed.out.search(/^\[/m));
  let info;
  try {
    [info] = JSON.parse(json);
  } catch {
    console.error(packed.all);
    throw new Error(`npm pack failed (exit ${packed.status})`);
  }
  const tarball = join(tmp, info.filename);
  const files = new Set(info.files.map((f) => f.path));
  console.log(
    `     npm pack: ${info.filename}, ${info.entryCount} files, ${
      (info.size / 1024).toFixed(0)
    } kB packed, ${(info.unpackedSize / 1024).toFixed(0)} kB unpacked`,
  );

  // ------------------------------------------------------------ 3. the tarball
  const pkgDir = join(tmp, "unpacked");
  mkdirSync(pkgDir);
  execFileSync("tar", ["-xzf", tarball, "-C", pkgDir]);
  const pkg = JSON.parse(
    readFileSync(join(pkgDir, "package", "package.json"), "utf8"),
  );
  const rel = (p) => p.replace(/^\.\//, "");
  for (const [sub, value] of Object.entries(pkg.exports)) {
    for (const { keys, target } of targets(value)) {
      check(
        files.has(rel(target)),
        `exports["${sub}"].${keys.join(".")} → ${target} is in the tarball`,
      );
    }
  }
  for (const [name, target] of Object.entries(pkg.bin ?? {})) {
    check(files.has(rel(target)), `bin ${name} → ${target} is in the tarball`);
    const text = readFileSync(join(pkgDir, "package", rel(target)), "utf8");
    check(
      text.startsWith("#!/usr/bin/env node\n"),
      `bin ${name} starts with #!`,
    );
  }
  const code = [...files].filter((f) => /\.c?js$/.test(f));
  const noMap = code.filter((f) => !files.has(`${f}.map`));
  check(
    noMap.length === 0,
    `every .js/.cjs (${code.length}) has its source map${
      noMap.length ? `; missing: ${noMap.slice(0, 5).join(", ")}` : ""
    }`,
  );
  // Each TypeScript source a map names is inside it (a user's stack shows
  // node/terms.ts); no map names a path of the machine that built it.
  const badMaps = [...files].filter((f) => f.endsWith(".map")).filter((f) => {
    const m = JSON.parse(readFileSync(join(pkgDir, "package", f), "utf8"));
    return m.sources.some((s, i) =>
      s.startsWith("/") || /^[A-Za-z]:/.test(s) ||
      (s.endsWith(".ts") && typeof m.sourcesContent?.[i] !== "string")
    );
  });
  check(
    badMaps.length === 0,
    `the source maps carry their TypeScript sources, with relative paths${
      badMaps.length ? `; not: ${badMaps.slice(0, 5).join(", ")}` : ""
    }`,
  );
  const internal = [...files].filter((f) => /\.d\.c?ts$/.test(f)).filter((f) =>
    readFileSync(join(pkgDir, "package", f), "utf8").includes("@internal")
  );
  check(
    internal.length === 0,
    `no declaration file shows @internal members${
      internal.length ? `: ${internal.join(", ")}` : ""
    }`,
  );
  const strays = [...files].filter((f) =>
    /(^|\/)(tests?|\.ci|node_modules)\//.test(f) || /_test\.|\.tgz$/.test(f)
  );
  check(
    strays.length === 0,
    `no tests or stray files${strays.length ? `: ${strays.join(", ")}` : ""}`,
  );

  // ------------------------------------------------------------ 4. publint, attw
  const publint = run(bin("publint"), ["run", tarball, "--strict"]);
  check(
    publint.status === 0 && /All good!/.test(publint.out),
    `publint: ${
      publint.status === 0 && /All good!/.test(publint.out)
        ? "all good"
        : publint.all.trim()
    }`,
  );
  const attw = run(bin("attw"), [
    tarball,
    "--profile",
    "node16",
    // Only the package's own declarations (no look-up of @types/noderl).
    "--no-definitely-typed",
    "--format",
    "table-flipped",
    "--no-emoji",
    "--no-color",
  ]);
  check(
    attw.status === 0,
    "attw --profile node16 (node16 CJS/ESM, bundler): no problems",
  );
  if (attw.status !== 0 || process.env.NODERL_PACKAGE_VERBOSE) {
    console.log(attw.all.trim());
  }

  // ------------------------------------------------------------ 5. a fresh project
  const app = join(tmp, "app");
  mkdirSync(app);
  writeFileSync(
    join(app, "package.json"),
    JSON.stringify({ name: "noderl-user", private: true, version: "1.0.0" }),
  );
  const install = run("npm", [
    "install",
    "--offline",
    "--no-audit",
    "--no-fund",
    "--no-package-lock",
    tarball,
  ], { cwd: app });
  check(
    install.status === 0,
    `npm install ${info.filename} in a fresh project`,
  );
  if (install.status !== 0) throw new Error(install.all);

  const subpaths = Object.keys(pkg.exports).map((s) =>
    s === "." ? pkg.name : `${pkg.name}/${s.slice(2)}`
  );
  writeFileSync(
    join(app, "load.mjs"),
    `import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const out = {};
for (const sub of ${JSON.stringify(subpaths)}) {
  const esm = Object.keys(await import(sub)).filter((k) => k !== "default").sort();
  let cjs = null;
  if (!("Deno" in globalThis) || process.argv[2] !== "esm-only") {
    cjs = Object.keys(require(sub)).sort();
  }
  out[sub] = { esm, cjs };
}
console.log(JSON.stringify(out));
`,
  );
  const loaded = run(process.execPath, ["load.mjs"], { cwd: app });
  if (loaded.status !== 0) {
    fail(`Node loads every subpath: ${loaded.all}`);
  } else {
    const names = JSON.parse(loaded.out);
    for (const sub of subpaths) {
      const { esm, cjs } = names[sub];
      check(
        esm.length > 0 && JSON.stringify(esm) === JSON.stringify(cjs),
        `${sub}: import and require give the same ${esm.length} names (Node)`,
      );
    }
    const root = new Set(names[pkg.name].esm);
    check(
      !["startRouter", "sendMessage", "Bucket", "isMoebi"].some((n) =>
        root.has(n)
      ),
      `${pkg.name} (the root) leaves the applications to their subpaths`,
    );
  }
  const deno = bin("deno");
  const denoLoaded = run(deno, ["run", "-A", "load.mjs"], { cwd: app });
  if (denoLoaded.status !== 0) {
    fail(`Deno loads every subpath from node_modules: ${denoLoaded.all}`);
  } else {
    const names = JSON.parse(denoLoaded.out);
    check(
      subpaths.every((s) => names[s].esm.length > 0),
      `Deno imports and requires every subpath (${subpaths.length})`,
    );
  }

  // The bins, as npm linked them.
  for (const name of Object.keys(pkg.bin ?? {})) {
    const path = join(app, "node_modules", ".bin", name);
    check(existsSync(path), `node_modules/.bin/${name} is linked`);
    const v = run(path, ["--version"], { cwd: app });
    check(
      v.status === 0 && v.out.startsWith(`${name} ${pkg.version}`),
      `${name} --version: ${v.out.trim() || v.all.trim()}`,
    );
    const h = run(path, ["--help"], { cwd: app });
    check(
      h.status === 0 && h.out.startsWith(`usage: ${name} `) &&
        !/\b[\w/]+\.ts\b/.test(h.out),
      `${name} --help names the bin and no source file`,
    );
  }

  // The declarations, from a TypeScript user's side.
  const consumer = `import {
  atom,
  type Node,
  RemoteError,
  startNode,
  startRegistry,
  withArity,
} from "${pkg.name}";
import { TaskSupervisor } from "${pkg.name}/task";
import { startRouter } from "${pkg.name}/router";
import { sendMessage } from "${pkg.name}/chat";

export async function use(): Promise<string[]> {
  await using registry = await startRegistry({ port: 0 });
  await using node: Node = await startNode({ name: "t@localhost", registryPort: registry.port });
  const seen: string[] = [];
  node.on("nodeup", (name: string) => seen.push(name));
  node.on("nodedown", (name: string, reason: string) => seen.push(name + reason));
  // @ts-expect-error: there is no such event
  node.on("nodeupp", () => {});
  // @ts-expect-error: nodeup's listener takes a string
  node.on("nodeup", (n: number) => n);
  // @ts-expect-error: internal members are not in the declarations
  node.sendFrom;
  node.defineModule("M", { f: withArity([0, 1], (x = 1) => x) });
  void [atom("ok"), RemoteError, TaskSupervisor, startRouter, sendMessage];
  return seen;
}
`;
  writeFileSync(join(app, "consumer.mts"), consumer);
  writeFileSync(join(app, "consumer.cts"), consumer);
  writeFileSync(
    join(app, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "node16",
        moduleResolution: "node16",
        lib: ["ES2022"],
        types: ["node"],
        typeRoots: [join(root, "node_modules", "@types")],
        strict: true,
        noEmit: true,
        skipLibCheck: false,
      },
      files: ["consumer.mts", "consumer.cts"],
    }),
  );
  const tsc = run(bin("tsc"), ["-p", "tsconfig.json"], { cwd: app });
  check(
    tsc.status === 0,
    `a TypeScript user type-checks (node16, ESM and CJS, skipLibCheck off): typed events, await using, no internals${
      tsc.status === 0 ? "" : `\n${tsc.all}`
    }`,
  );

  // One identity for terms across an ESM and a CJS copy in one process.
  const identity = (first) =>
    `import { createRequire } from "node:module";
import assert from "node:assert/strict";
const require = createRequire(import.meta.url);
let esm, cjs;
if (${
      JSON.stringify(first)
    } === "esm") { esm = await import("${pkg.name}"); cjs = require("${pkg.name}"); }
else { cjs = require("${pkg.name}"); esm = await import("${pkg.name}"); }
assert.notEqual(esm.encode, cjs.encode, "two copies of the code");
assert.equal(esm.atom("ok"), cjs.atom("ok"));
assert.equal(cjs.Atom.of("fresh_" + Math.random()).name.length > 0, true);
const a = cjs.atom("only_made_by_cjs");
assert.ok(a instanceof esm.Atom);
assert.equal(esm.decode(cjs.encode(a)), a);
const t = cjs.tuple(cjs.atom("hi"), 1);
assert.ok(t instanceof esm.Tuple && esm.tuple() instanceof cjs.Tuple);
assert.ok(new cjs.Pid("a@h", 1, 0, 1) instanceof esm.Pid);
assert.ok(new esm.Ref("a@h", 1, [1, 2, 3]) instanceof cjs.Ref);
for (const C of ["Float", "Port", "ExportFun", "Fun", "ImproperList", "BitBinary"]) {
  assert.equal(esm[C], cjs[C], C);
}
const back = esm.decode(cjs.encode(cjs.tuple(cjs.atom("x"), new cjs.Float(1), [1, 2])));
assert.ok(back instanceof cjs.Tuple && back[0] === cjs.atom("x") && back[1] instanceof cjs.Float);
assert.deepEqual(cjs.decode(esm.encode(back)), back);
console.log("shared");
`;
  for (const first of ["esm", "cjs"]) {
    writeFileSync(join(app, `identity_${first}.mjs`), identity(first));
    const r = run(process.execPath, [`identity_${first}.mjs`], { cwd: app });
    check(
      r.status === 0 && r.out.trim() === "shared",
      `${first.toUpperCase()} loaded first: atoms and term classes are one across the ESM and CJS copies${
        r.status === 0 ? "" : `\n${r.all}`
      }`,
    );
  }

  // node:test stays out of everything but the testing subpath.
  const distDir = join(pkgDir, "package", "dist");
  const loadsTest = [];
  const walk = (d) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.c?js$/.test(n) && !p.includes(`${join("dist", "testing")}`)) {
        if (/\bnode:test\b/.test(readFileSync(p, "utf8"))) loadsTest.push(p);
      }
    }
  };
  walk(distDir);
  check(loadsTest.length === 0, `only ${pkg.name}/testing loads node:test`);

  // A peer node started from the installed package (dist/node/peer_main.js).
  writeFileSync(
    join(app, "peer_modules.mjs"),
    'export default (node) => node.defineModule("Smoke", { hello: (who) => `hello ${who}` });\n',
  );
  writeFileSync(
    join(app, "peer.mjs"),
    `import { startPeers } from "${pkg.name}";
const cluster = await startPeers({ peers: ["smoke"], modules: new URL("./peer_modules.mjs", import.meta.url).pathname });
try {
  const local = await cluster.startNode("smokectl");
  console.log(await local.call("smoke@localhost", "Smoke", "hello", ["npm"]));
} finally {
  await cluster.stop();
}
`,
  );
  const peer = run(process.execPath, ["peer.mjs"], {
    cwd: app,
    timeout: 60_000,
  });
  check(
    peer.status === 0 && peer.out.trim() === "hello npm",
    `a peer starts from the installed package${
      peer.status === 0 ? "" : `\n${peer.all}`
    }`,
  );
} catch (e) {
  fail(e instanceof Error ? e.stack ?? e.message : String(e));
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

console.log(
  failures.length === 0
    ? "package check: all good"
    : `package check: ${failures.length} failed`,
);
process.exit(failures.length === 0 ? 0 : 1);
