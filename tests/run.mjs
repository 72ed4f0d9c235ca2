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
//
// The BEAM interop tests run against each OTP version found (the matrix):
// the host's `erl`/`elixir` (OTP 25 / Elixir 1.14 on Debian 12), and the
// Debian roots below, used with chroot (`.ci/run` builds them):
//
//   NODERL_OTP27_ROOT   OTP 27 / Elixir 1.18 (trixie), default .cache/otp27
//   NODERL_OTP29_ROOT   OTP 29 / Elixir 1.20 (forky),  default .cache/otp29
//   NODERL_OTP=25|27|29|all (or a list: 25,27)   which ones; default all found
//
// Every test file runs against the first version chosen; MATRIX_FILES run
// again against each other one, under both runtimes.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { randomBytes } from "node:crypto";
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

const files = args.positionals.length > 0 ? args.positionals : [
  "node",
  "task",
  "gen",
  "router",
  "chat",
  "pubsub",
  "testing",
  "tests",
  "examples",
]
  .flatMap((
    d,
  ) => findTests(join(root, d))).sort();

// ---------------------------------------------------------------- the OTP matrix

/** The files that run again against every further OTP version. */
const MATRIX_FILES = [
  "tests/codec_interop_test.ts",
  "tests/term_order_interop_test.ts",
  "tests/registry_interop_test.ts",
  "tests/node_interop_test.ts",
  "tests/task_elixir_test.ts",
  "tests/task_elixir_paths_test.ts",
  "tests/chat_elixir_test.ts",
  "tests/kv_mixed_test.ts",
  "tests/attack_interop_test.ts",
  "tests/global_interop_test.ts",
  "tests/pg_interop_test.ts",
  "tests/pubsub_elixir_test.ts",
  "tests/tls_test.ts",
  "tests/errors_interop_test.ts",
  "tests/gen_elixir_test.ts",
  "tests/introspection_interop_test.ts",
  "tests/top_cli_test.ts",
];

/** The Debian roots of the matrix (built by .ci/run). */
const CHROOTS = [
  { otp: "27", suite: "trixie", env: "NODERL_OTP27_ROOT" },
  { otp: "29", suite: "forky", env: "NODERL_OTP29_ROOT" },
];

function elixirVersion(app) {
  try {
    return /\{vsn,\s*"([^"]+)"\}/.exec(readFileSync(app, "utf8"))?.[1];
  } catch {
    return undefined;
  }
}

function otpVersion(erlangLib) {
  try {
    const rel = readdirSync(join(erlangLib, "releases")).find((d) =>
      /^\d+$/.test(d)
    );
    return rel === undefined ? undefined : {
      release: rel,
      full: readFileSync(
        join(erlangLib, "releases", rel, "OTP_VERSION"),
        "utf8",
      )
        .trim(),
    };
  } catch {
    return undefined;
  }
}

function hostTarget() {
  let erl;
  try {
    erl = execFileSync("sh", ["-c", "command -v erl"], { encoding: "utf8" })
      .trim();
  } catch {
    return { otp: undefined, missing: "no erl on the PATH" };
  }
  const real = execFileSync("readlink", ["-f", erl], { encoding: "utf8" })
    .trim();
  const otp = otpVersion(join(dirname(real), ".."));
  let elixir;
  try {
    const ex = execFileSync("sh", ["-c", "command -v elixir"], {
      encoding: "utf8",
    }).trim();
    const exReal = execFileSync("readlink", ["-f", ex], { encoding: "utf8" })
      .trim();
    elixir = elixirVersion(
      join(dirname(exReal), "..", "lib", "elixir", "ebin", "elixir.app"),
    );
  } catch {
    elixir = undefined;
  }
  return { otp: otp?.release, full: otp?.full, elixir, where: "host" };
}

function chrootTarget(c) {
  const dir = resolve(
    process.env[c.env] || join(root, ".cache", `otp${c.otp}`),
  );
  const shown = relative(root, dir).startsWith("..")
    ? dir
    : relative(root, dir);
  if (!existsSync(join(dir, "usr", "bin", "erl"))) {
    return {
      otp: c.otp,
      missing:
        `no chroot at ${shown} (.ci/run builds it; or set ${c.env} to a Debian ${c.suite} root with erlang-nox and elixir)`,
    };
  }
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    return { otp: c.otp, missing: `chroot ${shown} needs root` };
  }
  const otp = otpVersion(join(dir, "usr", "lib", "erlang"));
  return {
    otp: otp?.release ?? c.otp,
    full: otp?.full,
    elixir: elixirVersion(
      join(dir, "usr", "lib", "elixir", "lib", "elixir", "ebin", "elixir.app"),
    ),
    root: dir,
    where: `chroot ${shown}`,
  };
}

const describeTarget = (t) =>
  `OTP ${t.full ?? t.otp}${
    t.elixir ? ` / Elixir ${t.elixir}` : ""
  } (${t.where})`;

const found = [hostTarget(), ...CHROOTS.map(chrootTarget)];
const wanted = (process.env.NODERL_OTP ?? "all").trim() || "all";
let targets;
if (wanted === "all") {
  targets = found.filter((t) => !t.missing);
} else {
  const asked = wanted.split(",").map((v) => v.trim());
  targets = [];
  for (const v of asked) {
    const t = found.find((t) => t.otp === v && !t.missing) ??
      found.find((t) => t.otp === v);
    if (!/^\d+$/.test(v) || t === undefined) {
      console.error(
        `NODERL_OTP=${wanted}: no OTP ${v} here (have: ${
          found.filter((t) => !t.missing).map((t) => t.otp).join(", ") ||
          "none"
        }); use 25, 27, 29, a list like 25,27, or all`,
      );
      process.exit(2);
    }
    if (t.missing) {
      console.error(`NODERL_OTP=${wanted}: OTP ${v}: ${t.missing}`);
      process.exit(2);
    }
    if (!targets.includes(t)) targets.push(t);
  }
}
const notRun = found.filter((t) => !targets.includes(t));
console.log(
  `BEAM interop matrix: ${
    targets.map(describeTarget).join(", ") || "no BEAM found"
  }${
    notRun.length
      ? `; not run: ${
        notRun.map((t) =>
          t.missing
            ? `OTP ${t.otp ?? "host"} (${t.missing})`
            : describeTarget(t)
        ).join(", ")
      }`
      : ""
  }`,
);
const beamEnv = (t) => ({
  NODERL_BEAM_ROOT: t?.root ?? "",
});
const matrixFiles = files.filter((f) => MATRIX_FILES.includes(f));

// ---------------------------------------------------------------- leftovers

// Every process a step starts carries this mark in its environment; after
// the step, any still running (a BEAM node, epmd, a peer…) was left behind:
// the step fails and they are killed, by pid.
const runMark = randomBytes(8).toString("hex");

function leftovers() {
  if (!existsSync("/proc/self/environ")) return [];
  const out = [];
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${pid}/environ`, "latin1");
      if (!env.includes(`NODERL_TEST_RUN=${runMark}\0`)) continue;
      const comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
      out.push({ pid: Number(pid), comm });
    } catch {
      // gone, or not ours
    }
  }
  return out;
}

function sleepMs(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Undefined when nothing was left behind, else what was (now killed). */
function checkLeftovers() {
  let left = leftovers();
  for (let i = 0; i < 30 && left.length > 0; i++) {
    sleepMs(100); // processes that are exiting right now
    left = leftovers();
  }
  if (left.length === 0) return undefined;
  for (const { pid } of left) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  return left.map((p) => `${p.comm} (pid ${p.pid})`).join(", ");
}

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

/**
 * Runs one step, its output shown as it comes and kept so that the summary
 * can repeat what failed (a CI log is often read from its end).
 */
async function step(label, cmd, cmdArgs, env = {}) {
  const started = Date.now();
  console.log(`\n=== ${label}: ${cmd} ${cmdArgs.join(" ")}`);
  const child = spawn(cmd, cmdArgs, {
    cwd: root,
    stdio: ["inherit", "pipe", "pipe"],
    env: {
      ...process.env,
      NODERL_TEST_TAGS: tags,
      NODERL_TEST_RUN: runMark,
      ...env,
    },
  });
  const kept = [];
  let keptBytes = 0;
  const keep = (out) => (d) => {
    out.write(d);
    if (keptBytes < 64 * 1024 * 1024) {
      kept.push(d);
      keptBytes += d.length;
    }
  };
  child.stdout.on("data", keep(process.stdout));
  child.stderr.on("data", keep(process.stderr));
  const r = await new Promise((resolve) => {
    child.on("error", (e) => resolve({ status: null, signal: e.message }));
    child.on("close", (status, signal) => resolve({ status, signal }));
  });
  const left = checkLeftovers();
  const ok = r.status === 0 && left === undefined;
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  results.push({
    label,
    ok,
    secs,
    failures: ok ? "" : failureExcerpt(Buffer.concat(kept).toString("utf8")),
  });
  console.log(
    `=== ${label}: ${
      ok
        ? "ok"
        : r.status !== 0
        ? `FAILED (exit ${r.status ?? r.signal})`
        : `FAILED: left processes running (killed): ${left}`
    } in ${secs}s`,
  );
  return ok;
}

/**
 * What failed in a step's output: node --test's `not ok` entries with
 * their errors (not the parents that failed only because a child did, nor
 * those cancelled with them), deno test's ERRORS section, or the output's
 * end for other steps.
 */
function failureExcerpt(text) {
  // deno fmt/test color their output.
  // deno-lint-ignore no-control-regex
  const lines = text.replace(/\x1b\[[0-9;]*m/g, "").split("\n");
  const out = [];
  let cancelled = 0;
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)not ok \d+ - (.*)$/.exec(lines[i]);
    if (!m) continue;
    const block = [];
    for (let j = i + 1; j < lines.length && j < i + 200; j++) {
      if (lines[j].trim() === "...") break;
      block.push(lines[j]);
    }
    const body = block.join("\n");
    if (/failureType: 'subtestsFailed'/.test(body)) continue;
    if (/failureType: 'cancelledByParent'/.test(body)) {
      cancelled++;
      continue;
    }
    const errorAt = block.findIndex((l) => /^\s*error:/.test(l));
    out.push(
      `not ok - ${m[2]}`,
      ...(errorAt < 0 ? block : block.slice(errorAt)).slice(0, 25),
    );
  }
  if (cancelled > 0) {
    out.push(`(and ${cancelled} tests cancelled when their suite failed)`);
  }
  const errors = lines.findIndex((l) => /^\s*ERRORS\s*$/.test(l));
  if (errors >= 0) {
    const end = lines.findIndex((l, k) =>
      k > errors && /^\s*FAILURES\s*$/.test(l)
    );
    out.push(
      ...lines.slice(errors, end < 0 ? errors + 150 : end).slice(0, 150),
    );
  }
  if (out.length === 0) out.push(...lines.slice(-40));
  return out.slice(0, 400).join("\n");
}

const deno = bin("deno");
const sources = [
  "mod.ts",
  "node",
  "task",
  "gen",
  "router",
  "chat",
  "pubsub",
  "testing",
  "tests",
  "examples",
];
// The entry points of the JSR package (deno.json's "exports"): their API
// must be documented (deno doc --lint), whatever subpaths get added.
const entryPoints = Object.values(
  JSON.parse(readFileSync(join(root, "deno.json"), "utf8")).exports,
);

if (!opts["no-static"]) {
  await step("tsc", bin("tsc"), ["-p", "."]);
  await step("deno check", deno, ["check", ...sources]);
  await step("deno lint", deno, ["lint"]);
  await step("deno fmt", deno, ["fmt", "--check"]);
  await step("deno doc --lint", deno, ["doc", "--lint", "-q", ...entryPoints]);
  // The build the tests of dist/ use (the registry bin's test).
  await step("npm build", "npm", ["run", "--silent", "build"]);
  // The package as users get it: packed from a clean clone, then checked
  // (every export and bin, publint, attw, a fresh project, both runtimes).
  await step("package", process.execPath, ["tests/package_check.mjs"]);
  await step("jsr publish", deno, [
    "publish",
    "--dry-run",
    "--allow-dirty",
    "--quiet",
  ]);
}
const [first, ...others] = targets;
const on = (t) => t === undefined ? "" : ` [BEAM: OTP ${t.otp}]`;
const nodeTests = (label, testFiles, env) =>
  step(label, process.execPath, [
    "--import",
    "tsx",
    "--test",
    "--test-concurrency=1",
    ...(onlyPattern ? [`--test-name-pattern=${onlyPattern}`] : []),
    ...testFiles,
  ], env);
const denoTests = (label, testFiles, env) =>
  step(label, deno, [
    "test",
    "-A",
    "--no-check",
    ...(onlyPattern ? [`--filter=/${onlyPattern}/`] : []),
    ...testFiles,
  ], env);

if (opts.runtime !== "deno") {
  // Heavy, runtime-independent work (fuzzing) runs once per `npm test`: here.
  await nodeTests(`node tests${on(first)}`, files, {
    NODERL_HEAVY: "1",
    ...beamEnv(first),
  });
  for (const t of matrixFiles.length ? others : []) {
    await nodeTests(
      `node BEAM interop tests [BEAM: OTP ${t.otp}]`,
      matrixFiles,
      {
        NODERL_HEAVY: "0",
        ...beamEnv(t),
      },
    );
  }
}
if (opts.runtime !== "node") {
  await denoTests(`deno tests${on(first)}`, files, {
    NODERL_HEAVY: opts.runtime === "deno" ? "1" : "0",
    ...beamEnv(first),
  });
  for (const t of matrixFiles.length ? others : []) {
    await denoTests(
      `deno BEAM interop tests [BEAM: OTP ${t.otp}]`,
      matrixFiles,
      {
        NODERL_HEAVY: "0",
        ...beamEnv(t),
      },
    );
  }
  if (!opts["no-static"] && args.positionals.length === 0) {
    await step("deno doc examples", deno, [
      "test",
      "-A",
      "--doc",
      // Every module of the packages: the folders of deno.json's entry points.
      ...[...new Set(entryPoints.map((e) => dirname(e.replace(/^\.\//, ""))))]
        .flatMap((d) =>
          d === "."
            ? entryPoints.filter((e) => !e.includes("/", 2))
            : findDocFiles(join(root, d))
        ),
    ]);
  }
}

function findDocFiles(dir) {
  return readdirSync(dir)
    // Main files (main.ts, *_main.ts) are programs: loading them would
    // run them, and they carry no examples.
    .filter((n) =>
      n.endsWith(".ts") && !n.endsWith("_test.ts") && n !== "main.ts" &&
      !n.endsWith("_main.ts")
    )
    .map((n) => relative(root, join(dir, n)));
}

const failed = results.filter((r) => !r.ok && r.failures);
if (failed.length > 0) {
  console.log("\n=== what failed");
  for (const r of failed) console.log(`--- ${r.label}\n${r.failures}`);
}
console.log("\n=== summary");
for (const r of results) {
  console.log(`${r.ok ? "ok    " : "FAILED"} ${r.label} (${r.secs}s)`);
}
const ranTests = results.some((r) => / tests/.test(r.label));
if (ranTests) {
  console.log(
    targets.length === 0
      ? "BEAM interop tests: skipped, no BEAM found (install erlang-nox and elixir)"
      : `BEAM interop tests ran against: ${
        targets.map((t, i) =>
          `${describeTarget(t)}${
            i === 0
              ? ""
              : ` [${matrixFiles.length} file${
                matrixFiles.length === 1 ? "" : "s"
              }]`
          }`
        ).join(", ")
      }`,
  );
  for (const t of notRun) {
    console.log(
      `BEAM interop tests did not run against OTP ${t.otp ?? "(host)"}: ${
        t.missing ?? `not chosen (NODERL_OTP=${wanted})`
      }`,
    );
  }
}
process.exit(results.every((r) => r.ok) ? 0 : 1);
