#!/usr/bin/env node
// The project's one test command (`npm test`): static checks, then every
// `*_test.ts` under Node's runner and under Deno's. Tag filters work as
// `mix test`'s do:
//
//   npm test -- --exclude distributed    skip tests tagged distributed
//   npm test -- --include distributed    run them even if excluded by default
//   npm test -- --only distributed       run only tests tagged distributed
//
// Other flags: --runtime node|deno (one runtime only), --no-static (skip
// type-check, lint and fmt), and file paths to run only those test files.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";

const root = new URL("..", import.meta.url).pathname;
const usage = `usage: npm test -- [--exclude TAG] [--include TAG] [--only TAG]
                [--runtime node|deno] [--no-static] [FILE_test.ts ...]`;

let args;
try {
  args = parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: {
      exclude: { type: "string", multiple: true, default: [] },
      include: { type: "string", multiple: true, default: [] },
      only: { type: "string", multiple: true, default: [] },
      runtime: { type: "string" },
      "no-static": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
} catch (e) {
  console.error(`${e.message}\n${usage}`);
  process.exit(2);
}
const opts = args.values;
if (opts.help) {
  console.log(usage);
  process.exit(0);
}
if (opts.runtime && !["node", "deno"].includes(opts.runtime)) {
  console.error(
    `--runtime must be node or deno, got ${opts.runtime}\n${usage}`,
  );
  process.exit(2);
}

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name === "dist" || name.startsWith(".")) {
      continue;
    }
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith("_test.ts")) out.push(relative(root, p));
  }
  return out;
}

const files = args.positionals.length > 0
  ? args.positionals
  : ["node", "task", "router", "chat", "testing", "tests"].flatMap((d) =>
    findTests(join(root, d))
  ).sort();

const bin = (name) => join(root, "node_modules", ".bin", name);
const tags = JSON.stringify({
  exclude: opts.exclude,
  include: opts.include,
  only: opts.only,
});
// --only: tests that do not use the tagged test() (plain node:test ones)
// know no tags, so the runners' name filters keep only the tests whose
// names carry an --only tag (the tagged test() adds "[tag, …]" to names).
const escapeRe = (t) => t.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
const onlyPattern = opts.only.length
  ? `\\[(?:[^\\]]*, )?(?:${
    opts.only.map(escapeRe).join("|")
  })(?::[^\\],]*)?(?:, [^\\]]*)?\\]`
  : undefined;
// As mix test reports its filters (tests/_tags.ts = noderl/testing applies them).
if (opts.only.length) console.log(`Including tags: [${opts.only}] (only)`);
if (opts.include.length) console.log(`Including tags: [${opts.include}]`);
if (opts.exclude.length || opts.only.length) {
  console.log(
    `Excluding tags: [${opts.only.length ? "every other" : opts.exclude}]`,
  );
}
const results = [];

function step(label, cmd, cmdArgs, env = {}) {
  const started = Date.now();
  console.log(`\n=== ${label}: ${cmd} ${cmdArgs.join(" ")}`);
  const r = spawnSync(cmd, cmdArgs, {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, NODERL_TEST_TAGS: tags, ...env },
  });
  const ok = r.status === 0;
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  results.push({ label, ok, secs });
  console.log(
    `=== ${label}: ${
      ok ? "ok" : `FAILED (exit ${r.status ?? r.signal})`
    } in ${secs}s`,
  );
  return ok;
}

const deno = bin("deno");
const sources = [
  "mod.ts",
  "node",
  "task",
  "router",
  "chat",
  "testing",
  "tests",
];

if (!opts["no-static"]) {
  step("tsc", bin("tsc"), ["-p", "."]);
  step("deno check", deno, ["check", ...sources]);
  step("deno lint", deno, ["lint"]);
  step("deno fmt", deno, ["fmt", "--check"]);
  if (step("npm build", "npm", ["run", "--silent", "build"])) {
    step("package smoke", process.execPath, ["tests/package_smoke.cjs"]);
  }
  step("npm pack", "npm", ["pack", "--dry-run", "--silent"]);
  step("jsr publish", deno, [
    "publish",
    "--dry-run",
    "--allow-dirty",
    "--quiet",
  ]);
}
if (opts.runtime !== "deno") {
  // Heavy, runtime-independent work (fuzzing) runs once per `npm test`: here.
  step(
    "node tests",
    process.execPath,
    [
      "--import",
      "tsx",
      "--test",
      "--test-concurrency=1",
      ...(onlyPattern ? [`--test-name-pattern=${onlyPattern}`] : []),
      ...files,
    ],
    { NODERL_HEAVY: "1" },
  );
}
if (opts.runtime !== "node") {
  step("deno tests", deno, [
    "test",
    "-A",
    "--no-check",
    ...(onlyPattern ? [`--filter=/${onlyPattern}/`] : []),
    ...files,
  ], {
    NODERL_HEAVY: opts.runtime === "deno" ? "1" : "0",
  });
  if (!opts["no-static"] && args.positionals.length === 0) {
    step("deno doc examples", deno, [
      "test",
      "-A",
      "--doc",
      ...["mod.ts", "node", "task", "router", "chat", "testing"].flatMap((d) =>
        d.endsWith(".ts") ? [d] : findDocFiles(join(root, d))
      ),
    ]);
  }
}

function findDocFiles(dir) {
  return readdirSync(dir)
    // peer_main.ts is a program: loading it runs it.
    .filter((n) =>
      n.endsWith(".ts") && !n.endsWith("_test.ts") && n !== "peer_main.ts"
    )
    .map((n) => relative(root, join(dir, n)));
}

console.log("\n=== summary");
for (const r of results) {
  console.log(`${r.ok ? "ok    " : "FAILED"} ${r.label} (${r.secs}s)`);
}
process.exit(results.every((r) => r.ok) ? 0 : 1);
