/**
 * The node flags every CLI shares (node/_cli.ts) from the command line:
 * `--address`, `--port-range`, `--tls-cert`/`--tls-key`/`--tls-ca` and
 * `--tls-optfile`, with clear errors for bad ones, and two chat nodes
 * talking over TLS (one from certificate flags, one from an
 * `-ssl_dist_optfile` file).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startRegistry } from "../node/registry.ts";
import { makePki, noOpenssl, writeOptfile } from "./_certs.ts";
import { tsRunner } from "./_registry.ts";
import { test } from "./_tags.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

function cli(script: string, args: string[]) {
  const [cmd, pre] = tsRunner();
  const child = spawn(cmd, [...pre, join(root, script), ...args], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "", err = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<number | null>((r) =>
    child.on("close", (code) => r(code))
  );
  return {
    type: (line: string) => child.stdin!.write(`${line}\n`),
    out: () => out,
    err: () => err,
    exited,
    async waitFor(re: RegExp, where: "out" | "err" = "out", ms = 30_000) {
      const deadline = Date.now() + ms;
      while (!re.test(where === "out" ? out : err)) {
        if (Date.now() > deadline || child.exitCode !== null) {
          throw new Error(`no ${re} in ${where}:\n${out}\n${err}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async end() {
      child.stdin!.end();
      return await exited;
    },
  };
}

test("the node flags: help and clear errors", { tags: ["cli"] }, async () => {
  const runs = [
    [
      ["--help"],
      0,
      /^(?=[\s\S]*--tls-cert F --tls-key F --tls-ca F)(?=[\s\S]*--tls-optfile F)(?=[\s\S]*--port-range MIN-MAX)(?=[\s\S]*--address A)/,
    ],
    [
      ["--sname", "x", "--port-range", "10-5"],
      2,
      /--port-range must be MIN-MAX/,
    ],
    [
      ["--sname", "x", "--tls-cert", "c.pem"],
      2,
      /TLS needs --tls-cert and --tls-key/,
    ],
    [
      ["--sname", "x", "--tls-optfile", "/nonexistent.conf"],
      2,
      /cannot read the TLS option file \/nonexistent\.conf/,
    ],
    [
      ["--sname", "x", "--tls-optfile", "f", "--tls-ca", "ca.pem"],
      2,
      /give --tls-optfile or --tls-cert\/--tls-key\/--tls-ca, not both/,
    ],
    [
      [
        "--sname",
        "x",
        "--tls-cert",
        "/no/c.pem",
        "--tls-key",
        "/no/k.pem",
        "--tls-ca",
        "/no/ca.pem",
      ],
      1,
      /cannot start the node: tls\.cert: cannot read \/no\/c\.pem/,
    ],
  ] as const;
  const results = await Promise.all(runs.map(async ([args, code, re]) => {
    const c = cli("chat/main.ts", [...args]);
    return { args, code, re, got: await c.exited, text: c.out() + c.err() };
  }));
  for (const r of results) {
    assert.equal(r.got, r.code, `${r.args.join(" ")}: ${r.text}`);
    assert.match(r.text, r.re, r.args.join(" "));
  }
  const kv = cli("router/main.ts", ["--help"]);
  assert.equal(await kv.exited, 0);
  assert.match(kv.out(), /^(?=[\s\S]*--tls-optfile F)(?=[\s\S]*--port-range)/);
});

test(
  "two chat nodes over TLS: one from --tls-cert/--tls-key/--tls-ca and --port-range, one from --tls-optfile",
  {
    tags: ["cli", "distributed", "tls"],
    skip: noOpenssl || false,
    timeout: 90_000,
  },
  async () => {
    const pki = makePki();
    const registry = await startRegistry({ port: 0 });
    const files = pki.issue("chat", ["localhost"]);
    const optfile = writeOptfile(join(pki.dir, "tls.conf"), files, pki.ca);
    const common = [
      "--cookie",
      "tls-chat",
      "--registry-port",
      String(registry.port),
    ];
    const kate = cli("chat/main.ts", [
      "--name",
      "kate@localhost",
      ...common,
      "--tls-cert",
      files.cert,
      "--tls-key",
      files.key,
      "--tls-ca",
      pki.ca,
      "--port-range",
      "20000-60000",
    ]);
    const moebi = cli("chat/main.ts", [
      "--name",
      "moebi@localhost",
      ...common,
      "--tls-optfile",
      optfile,
    ]);
    try {
      await kate.waitFor(/ready/, "err");
      await moebi.waitFor(/ready/, "err");
      const port = registry.names().find((n) => n.name === "kate")?.port ?? 0;
      assert.ok(port >= 20000 && port <= 60000, `kate's port ${port}`);
      kate.type("moebi hi");
      await moebi.waitFor(/^hi$/m);
      await kate.waitFor(/^chicken\?$/m);
    } finally {
      assert.equal(await kate.end(), 0);
      assert.equal(await moebi.end(), 0);
      await registry.close();
      pki.remove();
    }
  },
);
