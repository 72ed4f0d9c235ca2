import assert from "node:assert/strict";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { startRegistry } from "../node/registry.ts";
import { listNames } from "../node/registry_client.ts";
import { freePort, start, tsRunner } from "./_registry.ts";
import { test } from "./_tags.ts";

const script = join(
  dirname(fileURLToPath(import.meta.url)),
  "..",
  "router",
  "main.ts",
);
const run = (args: string[], env: Record<string, string> = {}) => {
  const [cmd, pre] = tsRunner();
  return start(cmd, [...pre, script, ...args], env);
};

async function session(
  port: number,
  text: string,
  done: RegExp,
): Promise<string> {
  const s = connect(port, "127.0.0.1");
  s.setEncoding("utf8");
  s.write(text);
  let out = "";
  try {
    for await (const chunk of s) {
      out += chunk;
      if (done.test(out)) break;
    }
  } finally {
    s.destroy();
  }
  return out;
}

test(
  "router/main.ts: bad flags fail clearly, --help works",
  { tags: ["cli"] },
  async () => {
    const help = run(["--help"]);
    assert.equal(await help.exited, 0);
    assert.match(help.stdout(), /--table/);
    assert.match(help.stdout(), /^usage: noderl-kv /, "usage names the bin");
    assert.doesNotMatch(help.stdout(), /\.ts\b/, "no source file in the help");
    const version = run(["--version"]);
    assert.equal(await version.exited, 0);
    assert.match(version.stdout(), /^noderl-kv \d+\.\d+\.\d+/);
    const noTable = run(["--sname", "x", "--port", "0"]);
    assert.equal(await noTable.exited, 2);
    assert.match(noTable.stderr(), /--table is required/);
    const badPort = run([
      "--sname",
      "x",
      "--port",
      "eighty",
      "--table",
      "a-z=x@h",
    ]);
    assert.equal(await badPort.exited, 2);
    assert.match(badPort.stderr(), /--port must be a TCP port/);
    const badTable = run(["--sname", "x", "--port", "0", "--table", "a-z"]);
    assert.equal(await badTable.exited, 2);
    assert.match(badTable.stderr(), /RANGE=NODE/);
    const unknown = run(["--frobnicate"]);
    assert.equal(await unknown.exited, 2);
  },
);

test(
  "two KV nodes from the command line route buckets to each other",
  { tags: ["cli", "distributed"], timeout: 60_000 },
  async () => {
    const registry = await startRegistry({ port: 0 });
    const table = "a-m=foo@localhost,n-z=bar@localhost";
    const [pf, pb] = [await freePort(), await freePort()];
    const common = [
      "--cookie",
      "kv",
      "--registry-port",
      String(registry.port),
      "--table",
      table,
    ];
    const foo = run([
      "--name",
      "foo@localhost",
      "--port",
      String(pf),
      ...common,
    ]);
    const bar = run([
      "--name",
      "bar@localhost",
      "--port",
      String(pb),
      ...common,
    ]);
    try {
      await foo.waitForOutput(/serving KV/, 30_000);
      await bar.waitForOutput(/serving KV/, 30_000);
      const text = await session(
        pf,
        "CREATE zoo\r\nPUT zoo lion 1\r\nGET zoo lion\r\nCREATE apples\r\nGET apples none\r\n",
        /\r\nOK\r\n\r\nOK\r\n$/,
      );
      assert.equal(text, "OK\r\nOK\r\n1\r\nOK\r\nOK\r\n\r\nOK\r\n");
      assert.equal(
        await session(pb, "GET zoo lion\r\n", /OK\r\n$/),
        "1\r\nOK\r\n",
      );
      // SIGTERM: a clean exit that unregisters the node.
      // (process.kill, not ChildProcess#kill: under Deno the latter reports
      // the signal it sent rather than the child's own exit status.)
      process.kill(bar.proc.pid!, "SIGTERM");
      assert.equal(await bar.exited, 0);
      const names = (await listNames({ port: registry.port })).map((n) =>
        n.name
      );
      assert.deepEqual(names, ["foo"]);
      // foo answers for buckets bar owned with a clear error now.
      const err = await session(pf, "GET zoo lion\r\n", /\r\n$/);
      assert.match(err, /^ERROR: .*bar@localhost/);
    } finally {
      await foo.kill("SIGTERM");
      await bar.kill();
      await registry.close();
    }
  },
);

test(
  "noderl-kv: a node of the table with another cookie is explained to the client",
  { tags: ["cli", "distributed"], timeout: 60_000 },
  async () => {
    const registry = await startRegistry({ port: 0 });
    const table = "a-m=foo2@localhost,n-z=bar2@localhost";
    const [pf, pb] = [await freePort(), await freePort()];
    const node = (name: string, port: number, cookie: string) =>
      run([
        "--name",
        name,
        "--port",
        String(port),
        "--cookie",
        cookie,
        "--registry-port",
        String(registry.port),
        "--table",
        table,
      ]);
    const foo = node("foo2@localhost", pf, "one");
    const bar = node("bar2@localhost", pb, "two");
    try {
      await foo.waitForOutput(/serving KV/, 30_000);
      await bar.waitForOutput(/serving KV/, 30_000);
      const err = await session(pf, "CREATE zoo\r\n", /\r\n$/);
      assert.match(
        err,
        /^ERROR: no connection to bar2@localhost: .*the cookies differ \(check --cookie/,
      );
      assert.doesNotMatch(err, /one|two/, "never the cookies themselves");
      // The node that was called logs why it refused, in words, too.
      for (let i = 0; !/wrong cookie/.test(bar.stderr()); i++) {
        if (i > 500) {
          assert.fail(`bar2 did not log the wrong cookie:\n${bar.stderr()}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      await foo.kill("SIGTERM");
      await bar.kill("SIGTERM");
      await registry.close();
    }
  },
);
