import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import {
  distributedUnavailable,
  excludeByDefault,
  exclusionReason,
  parseTagFilters,
  setTagFilters,
  type TagFilters,
  tagFilters,
} from "./mod.ts";

const fixture = join(
  dirname(fileURLToPath(import.meta.url)),
  "..",
  "tests",
  "_tags_fixture.ts",
);
const isDeno = "Deno" in globalThis;

test("parseTagFilters: flags, JSON, nothing, and clear errors", () => {
  const none = { include: [], exclude: [], only: [] };
  assert.deepEqual(parseTagFilters(undefined), none);
  assert.deepEqual(parseTagFilters("  "), none);
  assert.deepEqual(
    parseTagFilters("--exclude distributed --include type:slow --only=beam"),
    { include: ["type:slow"], exclude: ["distributed"], only: ["beam"] },
  );
  assert.deepEqual(
    parseTagFilters('{"exclude":["distributed","beam"]}'),
    { include: [], exclude: ["distributed", "beam"], only: [] },
  );
  assert.throws(() => parseTagFilters("--exclude"), /--exclude TAG/);
  assert.throws(() => parseTagFilters("distributed"), /--exclude TAG/);
  assert.throws(() => parseTagFilters("--skip x"), /--include TAG/);
  assert.throws(() => parseTagFilters("{oops"), /JSON like/);
  assert.throws(
    () => parseTagFilters('{"only":"distributed"}'),
    /"only" must be a list/,
  );
});

/** Runs `fn` with these filters, then puts the old ones back. */
function withFilters(f: Partial<TagFilters>, fn: () => void): void {
  const old = tagFilters();
  setTagFilters(f);
  try {
    fn();
  } finally {
    setTagFilters(old);
  }
}

test("exclusionReason decides as ExUnit does", () => {
  withFilters({}, () => {
    assert.equal(exclusionReason([]), undefined, "by default all runs");
    assert.equal(exclusionReason(["distributed"]), undefined);
  });
  withFilters({ exclude: ["distributed"] }, () => {
    assert.equal(exclusionReason([]), undefined);
    assert.equal(
      exclusionReason(["distributed"]),
      "excluded by tag distributed (--exclude distributed)",
    );
    // A tag with a value is selected by its name.
    assert.match(exclusionReason(["distributed:true"])!, /--exclude/);
  });
  withFilters({ only: ["distributed"] }, () => {
    assert.equal(exclusionReason(["distributed"]), undefined);
    assert.equal(exclusionReason(["beam", "distributed"]), undefined);
    assert.equal(
      exclusionReason([]),
      "excluded: not tagged distributed (--only)",
    );
    assert.match(exclusionReason(["beam"])!, /--only/);
  });
  // --include wins over --exclude for a test both select.
  withFilters({ exclude: ["distributed"], include: ["type:slow"] }, () => {
    assert.equal(exclusionReason(["distributed", "type:slow"]), undefined);
    assert.match(exclusionReason(["distributed", "type:fast"])!, /--exclude/);
    assert.match(exclusionReason(["distributed"])!, /--exclude/);
  });
  // "distributed:true" selects the plain tag (its value is true).
  withFilters({ exclude: ["distributed:true"] }, () => {
    assert.match(exclusionReason(["distributed"])!, /--exclude/);
    assert.equal(exclusionReason(["distributed:false"]), undefined);
  });
  // --include alone selects nothing away.
  withFilters({ include: ["beam"] }, () => {
    assert.equal(exclusionReason([]), undefined);
  });
});

test("excludeByDefault: excluded unless included, as ExUnit.start(exclude:)", () => {
  excludeByDefault("tags_test_probe", "the probe is down");
  withFilters({}, () => {
    assert.equal(
      exclusionReason(["tags_test_probe"]),
      "excluded by tag tags_test_probe: the probe is down (--include tags_test_probe runs it)",
    );
    assert.equal(exclusionReason(["other"]), undefined);
  });
  withFilters({ include: ["tags_test_probe"] }, () => {
    assert.equal(exclusionReason(["tags_test_probe"]), undefined);
  });
  withFilters({ only: ["tags_test_probe"] }, () => {
    assert.equal(exclusionReason(["tags_test_probe"]), undefined);
  });
});

test("distributedUnavailable: a registry here, none on a foreign address", async () => {
  assert.equal(await distributedUnavailable(), undefined);
  assert.match(
    (await distributedUnavailable("192.0.2.1"))!,
    /^no registry can be started: cannot listen on 192\.0\.2\.1:0/,
  );
});

interface Outcome {
  ran: string[];
  skipped: Map<string, string>; // name -> reason ("" under Deno)
  code: number | null;
  output: string;
}

/** Runs the fixture under this runtime with `env`; what ran and what not. */
function runFixture(env: Record<string, string>): Promise<Outcome> {
  const args = isDeno
    ? ["test", "-A", "--no-check", fixture]
    : [...process.execArgv.filter((a) => !a.startsWith("--test")), fixture];
  const childEnv: Record<string, string | undefined> = {
    ...process.env,
    NO_COLOR: "1",
    ...env,
  };
  delete childEnv.NODE_TEST_CONTEXT;
  if (!("NODERL_TEST_TAGS" in env)) delete childEnv.NODERL_TEST_TAGS;
  const child = spawn(process.execPath, args, {
    env: childEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  return new Promise((resolve) => {
    child.on("close", (code) => {
      const ran: string[] = [];
      const skipped = new Map<string, string>();
      if (isDeno) {
        for (const m of output.matchAll(/^(.+?) \.\.\. (ok|ignored)/gm)) {
          if (m[2] === "ok") ran.push(m[1]);
          else skipped.set(m[1], "");
        }
      } else {
        for (
          const m of output.matchAll(/^ok \d+ - (.+?)(?: # SKIP (.*))?$/gm)
        ) {
          if (m[2] === undefined) ran.push(m[1]);
          else skipped.set(m[1], m[2]);
        }
      }
      resolve({ ran, skipped, code, output });
    });
  });
}

const ALL = [
  "plain",
  "send_message [distributed]",
  "slow one [distributed, type:slow]",
  "beam one [beam]",
];

test("the runners report filtered tests as skipped, naming the tag", async () => {
  const check = async (
    env: Record<string, string>,
    ran: string[],
    skipped: Record<string, RegExp>,
  ) => {
    const o = await runFixture(env);
    const what = `${JSON.stringify(env)}:\n${o.output}`;
    assert.equal(o.code, 0, what);
    assert.deepEqual(o.ran.sort(), [...ran].sort(), what);
    assert.deepEqual(
      [...o.skipped.keys()].sort(),
      Object.keys(skipped).sort(),
      what,
    );
    if (!isDeno) { // Deno prints "ignored" without the reason
      for (const [name, reason] of Object.entries(skipped)) {
        assert.match(o.skipped.get(name)!, reason, what);
      }
    }
  };
  await check({}, ALL, {});
  await check({ NODERL_TEST_TAGS: "--exclude distributed" }, [
    "plain",
    "beam one [beam]",
  ], {
    "send_message [distributed]": /excluded by tag distributed \(--exclude/,
    "slow one [distributed, type:slow]": /excluded by tag distributed/,
  });
  await check({ NODERL_TEST_TAGS: '{"only":["distributed"]}' }, [
    "send_message [distributed]",
    "slow one [distributed, type:slow]",
  ], {
    "plain": /not tagged distributed \(--only\)/,
    "beam one [beam]": /not tagged distributed \(--only\)/,
  });
  await check(
    { NODERL_TEST_TAGS: "--exclude distributed --include type:slow" },
    ["plain", "slow one [distributed, type:slow]", "beam one [beam]"],
    { "send_message [distributed]": /--exclude distributed/ },
  );
  // No registry can be started: distributed tests are skipped with why…
  await check({ FIXTURE_REGISTRY_ADDRESS: "192.0.2.1" }, [
    "plain",
    "beam one [beam]",
  ], {
    "send_message [distributed]":
      /excluded by tag distributed: no registry can be started: cannot listen on 192\.0\.2\.1/,
    "slow one [distributed, type:slow]": /no registry can be started/,
  });
  // …unless the run includes them, as mix test --include does.
  await check(
    {
      FIXTURE_REGISTRY_ADDRESS: "192.0.2.1",
      NODERL_TEST_TAGS: "--include distributed",
    },
    ALL,
    {},
  );
});

test("a bad NODERL_TEST_TAGS fails the run with a clear message", async () => {
  const o = await runFixture({ NODERL_TEST_TAGS: "--exclude" });
  assert.notEqual(o.code, 0);
  assert.match(o.output, /NODERL_TEST_TAGS: expected --include TAG/);
  assert.deepEqual(o.ran, []);
});
