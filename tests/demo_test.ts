import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { start, tsRunner } from "./_registry.ts";
import { test } from "./_tags.ts";

const demo = join(dirname(fileURLToPath(import.meta.url)), "demo.ts");

test("npm run demo shows every scenario and exits 0", {
  tags: ["distributed", "demo"],
  timeout: 120_000,
}, async () => {
  const [cmd, pre] = tsRunner();
  const child = start(cmd, [...pre, demo]);
  const code = await child.exited;
  const out = child.stdout();
  assert.equal(code, 0, `${out}\n${child.stderr()}`);
  for (
    const expected of [
      /\[registry\] noderl-registry: listening/,
      /\[alex\] Hi, my name is Kate/,
      /flush\(\) → sup\?/,
      /\[alex\] hello world/,
      /from stranger → false/,
      /→ kate@localhost/,
      /\[kate\] hi\n/,
      /\[alex\] chicken\?/,
      /route\("hello".*→ foo@localhost/,
      /route\("world".*→ bar@localhost/,
      /could not find entry for/,
      /< 3\n/,
      /noconnection/,
      /done/,
    ]
  ) assert.match(out, expected);
});
