/**
 * The registry daemon's command line (registry_main.ts): flags in process,
 * then the script itself as a child process — listening, `--names`, a taken
 * port, SIGTERM and SIGINT, importing it without running it — and the npm
 * build's bin.
 *
 * @module
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { main } from "./registry_main.ts";
import { lookupNode, registerNode } from "./registry_client.ts";
import { test as tagged } from "../tests/_tags.ts";
import {
  epmdPath,
  freePort,
  isDeno,
  registryScript,
  start,
  startRegistryScript,
  tsRunner,
} from "../tests/_registry.ts";

test("bad flags exit 2 with what is wrong; --help exits 0", async () => {
  const errors: string[] = [], out: string[] = [];
  const { error, log } = console;
  console.error = (...a: unknown[]) => errors.push(a.join(" "));
  console.log = (...a: unknown[]) => out.push(a.join(" "));
  try {
    assert.equal(await main(["--bogus"]), 2);
    assert.match(
      errors.pop()!,
      /noderl-registry: .*bogus[^]*usage: noderl-registry/,
    );
    assert.equal(await main(["--port", "70000"]), 2);
    assert.match(
      errors.pop()!,
      /--port must be a port number from 0 to 65535, got "70000"/,
    );
    assert.equal(await main(["--port", ""]), 2);
    assert.equal(await main(["--packet-timeout", "0"]), 2);
    assert.match(
      errors.pop()!,
      /--packet-timeout must be a positive number of seconds, got "0"/,
    );
    assert.equal(await main(["--help"]), 0);
    assert.match(out.pop()!, /^usage: noderl-registry/);
  } finally {
    console.error = error;
    console.log = log;
  }
});

tagged(
  "the script: listens, names, refuses a taken port, stops on SIGTERM and SIGINT",
  { tags: ["distributed"], timeout: 60_000 },
  async () => {
    const help = start(tsRunner()[0], [
      ...tsRunner()[1],
      registryScript,
      "--help",
    ]);
    assert.equal(await help.exited, 0);
    assert.match(help.stdout(), /usage: noderl-registry/);
    const bad = start(tsRunner()[0], [
      ...tsRunner()[1],
      registryScript,
      "--bogus",
    ]);
    assert.equal(await bad.exited, 2);
    assert.match(bad.stderr(), /bogus/);

    const port = await freePort();
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      const daemon = startRegistryScript([], { ERL_EPMD_PORT: String(port) });
      try {
        await daemon.waitForOutput(`listening on 127.0.0.1:${port}`);
        assert.equal(
          daemon.stdout().trim().split("\n").length,
          1,
          "one line when listening",
        );
        const reg = await registerNode("alex", 4660, { port });
        const names = startRegistryScript(["--names", "--port", String(port)]);
        assert.equal(await names.exited, 0);
        assert.match(names.stdout(), /^name alex at port 4660$/m);
        if (epmdPath) {
          const epmd = start(epmdPath, ["-port", String(port), "-names"]);
          assert.equal(await epmd.exited, 0);
          assert.match(epmd.stdout(), /^name alex at port 4660$/m);
        }
        const taken = startRegistryScript(["--port", String(port)]);
        assert.equal(await taken.exited, 1);
        const lines = taken.stderr().split("\n").filter((l) =>
          l.trim() && !/^npm warn/.test(l)
        );
        assert.equal(lines.length, 1, taken.stderr());
        assert.match(lines[0], /already in use/);
        // (process.kill, not proc.kill: Deno's child_process reports a
        // signal it sent as the exit status even when the child exits 0.)
        process.kill(daemon.proc.pid!, signal);
        assert.equal(await daemon.exited, 0, `${signal}: clean exit`);
        assert.match(daemon.stderr(), new RegExp(`stopped on ${signal}`));
        await reg.closed;
      } finally {
        await daemon.kill();
      }
    }
    const unreachable = startRegistryScript([
      "--names",
      "--port",
      String(port),
    ]);
    assert.equal(await unreachable.exited, 1);
    assert.match(unreachable.stderr(), /no registry is listening/);
  },
);

tagged(
  "the script does not start a daemon when imported",
  { tags: ["distributed"], timeout: 30_000 },
  async () => {
    const port = await freePort();
    const code = `await import(${
      JSON.stringify(registryScript)
    }); console.log("imported");`;
    const child = isDeno
      ? start(process.execPath, ["eval", code], { ERL_EPMD_PORT: String(port) })
      : start(process.execPath, [
        ...tsRunner()[1],
        "--input-type=module",
        "-e",
        code,
      ], { ERL_EPMD_PORT: String(port) });
    assert.equal(await child.exited, 0, child.stderr());
    assert.equal(child.stdout().trim(), "imported");
  },
);

const builtBin = join(
  dirname(registryScript),
  "..",
  "dist",
  "node",
  "registry_main.js",
);
const nodeBin = isDeno ? which("node") : process.execPath;
function freshBuild(): string | false {
  if (!existsSync(builtBin)) return "no npm build (run `npm run build`)";
  const sources = [
    registryScript,
    join(dirname(registryScript), "registry.ts"),
  ];
  if (sources.some((f) => statSync(builtBin).mtimeMs < statSync(f).mtimeMs)) {
    return "the npm build is older than node/registry_main.ts or node/registry.ts (run `npm run build`)";
  }
  if (!nodeBin) return "node not found";
  return false;
}

tagged(
  "the npm build's bin (dist/node/registry_main.js, ESM and CJS) runs the daemon",
  { tags: ["distributed"], skip: freshBuild(), timeout: 60_000 },
  async () => {
    assert.match(readFileSync(builtBin, "utf8"), /^#!\/usr\/bin\/env node\n/);
    for (const file of [builtBin, builtBin.replace(/\.js$/, ".cjs")]) {
      const help = start(nodeBin!, [file, "--help"]);
      assert.equal(await help.exited, 0, help.stderr());
      assert.match(help.stdout(), /usage: noderl-registry/);
      const port = await freePort();
      const daemon = start(nodeBin!, [file, "--port", String(port)]);
      try {
        await daemon.waitForOutput(`listening on 127.0.0.1:${port}`);
        const reg = await registerNode("built", 4660, { port });
        assert.equal((await lookupNode("built", { port }))?.port, 4660);
        process.kill(daemon.proc.pid!, "SIGTERM");
        assert.equal(await daemon.exited, 0);
        await reg.closed;
      } finally {
        await daemon.kill();
      }
    }
  },
);

function which(cmd: string): string | undefined {
  try {
    return execFileSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" })
      .trim() || undefined;
  } catch {
    return undefined;
  }
}
