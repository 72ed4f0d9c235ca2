// Every program in examples/ runs to its end, printing what it should, in
// the runtime running this test (npm test runs it under Node and Deno, so
// each example runs under both).
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { start, tsRunner } from "./_registry.ts";
import { test } from "./_tags.ts";

const dir = join(dirname(fileURLToPath(import.meta.url)), "..", "examples");
const isDeno = "Deno" in globalThis;

/** What each example prints, in order (each a line of its output). */
const expected: Record<string, RegExp[]> = {
  "hello_cluster.ts": [
    /^Hi, my name is Kate$/,
    /^kate is kate@localhost$/,
    /^alex sees \["kate@localhost"\]$/,
  ],
  "send_receive.ts": [
    /^spawned #PID<kate@localhost\.\d+\.\d+> on kate@localhost$/,
    /^kate answered sup\?$/,
  ],
  "chat.ts": [
    /^\[kate\] hi kate$/,
    /^\[moebi\] hi moebi$/,
    /^\[alex\] chicken\?$/,
    /^done: alex@localhost, kate@localhost, moebi@localhost$/,
  ],
  "tasks.ts": [
    /^squares on kate: 1, 4, 9$/,
    /^2 \*\* 10 on kate: 1024$/,
    /^ran on alex@localhost$/,
  ],
  "kv.ts": [
    /^OK$/,
    /^OK$/,
    /^3$/,
    /^OK$/,
    /^3$/,
    /^OK$/,
    /^"apple" goes to foo@localhost$/,
    /^"zebra" goes to bar@localhost$/,
  ],
};

test("every example has its expectations here", {}, () => {
  const files = readdirSync(dir).filter((f) => f.endsWith(".ts")).sort();
  assert.deepEqual(files, Object.keys(expected).sort());
});

for (const [file, lines] of Object.entries(expected)) {
  test(`examples/${file} runs to its end`, {
    tags: ["distributed"],
    timeout: 60_000,
  }, async () => {
    const [cmd, pre] = tsRunner();
    const child = start(cmd, [...pre, join(dir, file)]);
    const code = await child.exited;
    assert.equal(code, 0, `exit ${code}\n${child.stdout()}\n${child.stderr()}`);
    const out = child.stdout().split(/\r?\n/).filter((l) => l.trim() !== "");
    assert.equal(out.length, lines.length, `output:\n${child.stdout()}`);
    lines.forEach((re, i) => assert.match(out[i], re));
    assert.equal(child.stderr(), "", "nothing on stderr");
  });
}

test("Deno: the first example needs only --allow-net (as the README says)", {
  tags: ["distributed"],
  skip: isDeno ? false : "runs under Deno",
  timeout: 60_000,
}, async () => {
  const child = start(process.execPath, [
    "run",
    "--no-prompt",
    "--allow-net",
    join(dir, "hello_cluster.ts"),
  ]);
  assert.equal(await child.exited, 0, child.stderr());
  assert.match(child.stdout(), /^kate is kate@localhost$/m);
});
