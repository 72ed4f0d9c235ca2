/**
 * Peers never outlive their test: the fixture tests/_peer_leaky.ts (run in
 * a child process of this runtime) starts peers and never stops them — a
 * test kills one, one throws, one times out — and the OS is asked
 * afterwards whether any of their processes or ports remain. Then the same
 * for a test process that is itself killed with SIGKILL.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { excludeUnlessDistributed, test } from "../testing/mod.ts";
import {
  type Leak,
  leftOver,
  portListening,
  processRunning,
} from "./_peer_os.ts";

await excludeUnlessDistributed();

const here = dirname(fileURLToPath(import.meta.url));
const fixture = join(here, "_peer_leaky.ts");
const distributed = { tags: ["distributed"], timeout: 120_000 };

/** Runs the fixture as a test file of this runtime. */
function runFixture(mode: "normal" | "crash"): ChildProcess {
  const args = "Deno" in globalThis
    ? ["test", "-A", "--no-check", fixture]
    : [...process.execArgv.filter((a) => !a.startsWith("--test")), fixture];
  const env: Record<string, string | undefined> = {
    ...process.env,
    NODERL_LEAKY_MODE: mode,
    NO_COLOR: "1",
  };
  delete env.NODE_TEST_CONTEXT; // run it as a program, not as our subtest
  delete env.NODERL_TEST_TAGS; // its tests are untagged: never filter them
  return spawn(process.execPath, args, {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
}

function collect(child: ChildProcess): { text: string } {
  const out = { text: "" };
  child.stdout!.on("data", (d) => (out.text += d));
  child.stderr!.on("data", (d) => (out.text += d));
  return out;
}

const leaksIn = (text: string): Leak[] =>
  [...text.matchAll(/PEERINFO (\{.*\})/g)].map((m) => JSON.parse(m[1]));

const exitOf = (child: ChildProcess) =>
  new Promise<[number | null, string | null]>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve([child.exitCode, child.signalCode]);
    } else child.on("close", (code, signal) => resolve([code, signal]));
  });

test(
  "a test that kills a peer, one that throws, one that times out: nothing left",
  distributed,
  async () => {
    const child = runFixture("normal");
    const out = collect(child);
    const [code] = await exitOf(child);
    assert.notEqual(code, 0, `two fixture tests fail:\n${out.text}`);
    assert.match(out.text, /deliberate failure/);
    assert.match(out.text, /test timed out after 3000 ms/);
    // Checked inside the fixture right after those tests: their scopes
    // stopped everything before the process exited.
    assert.match(out.text, /CLEANUP-CHECKED 3/, out.text);
    const leaks = leaksIn(out.text);
    assert.deepEqual(leaks.map((l) => l.label), ["kill", "throw", "timeout"]);
    assert.equal(leaks.flatMap((l) => l.pids).length, 4);
    assert.equal(leaks.flatMap((l) => l.ports).length, 10);
    // …and checked again from here, now that the fixture is gone.
    assert.deepEqual(await leftOver(leaks), { pids: [], ports: [] });
  },
);

test(
  "peers of a test process killed with SIGKILL exit with it",
  distributed,
  async () => {
    const child = runFixture("crash");
    const out = collect(child);
    const deadline = Date.now() + 60_000;
    while (leaksIn(out.text).length === 0) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill("SIGKILL");
        assert.fail(`the fixture did not start its peers:\n${out.text}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const leaks = leaksIn(out.text);
    const [{ pids, ports }] = leaks;
    assert.equal(pids.length, 2);
    // Before: the check sees them (so it can fail).
    assert.ok(pids.every(processRunning), "the peers run");
    for (const p of ports) {
      assert.ok(
        await portListening(p),
        `port ${p} listens`,
      );
    }

    const t0 = performance.now();
    child.kill("SIGKILL");
    await exitOf(child);
    let left = await leftOver(leaks);
    while (
      (left.pids.length || left.ports.length) && performance.now() - t0 < 15_000
    ) {
      await new Promise((r) => setTimeout(r, 50));
      left = await leftOver(leaks);
    }
    assert.deepEqual(left, { pids: [], ports: [] });
    console.log(
      `peers gone ${
        (performance.now() - t0).toFixed(0)
      } ms after their parent was killed`,
    );
  },
);
