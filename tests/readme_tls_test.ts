/**
 * The README's "TLS, step by step", followed literally: its code blocks are
 * read from README.md and run as they are — the CA and the certificates
 * with `openssl`, then, on two hosts (network namespaces whose /etc/hosts
 * name them `kate.example.net` and `moebi.example.net`), the registry, two
 * chat nodes over TLS, and an `erl` node with the README's option file.
 * `noderl-registry` and `noderl-chat` are this checkout's scripts (small
 * shims on the PATH stand in for the npm bins).
 *
 * Needs root, `ip` and `openssl` (and `erl` for the last step).
 */
import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { erlPath, noErl } from "./_beam.ts";
import { noOpenssl } from "./_certs.ts";
import { type Host, makeNetwork, noNetns, type TestNetwork } from "./_netns.ts";
import { isDeno, registryScript } from "./_registry.ts";
import { test } from "./_tags.ts";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const HOSTS = { kate: "kate.example.net", moebi: "moebi.example.net" };

/** The fenced blocks of the README's "TLS, step by step". */
function readmeBlocks(): Array<{ lang: string; text: string }> {
  const readme = readFileSync(join(repo, "README.md"), "utf8");
  const start = readme.indexOf("### TLS, step by step");
  assert.ok(start >= 0, 'README.md has a "### TLS, step by step" section');
  const end = readme.indexOf("\n## ", start);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m) => ({
    lang: m[1],
    text: m[2],
  }));
}

/** A process's output, and waiting for a pattern in it. */
function watch(child: ChildProcess) {
  let out = "";
  // Output ends when every process writing it is gone (a background job too).
  let ended = false;
  child.stdout!.on("end", () => (ended = true));
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  return {
    out: () => out,
    async waitFor(re: RegExp, what: string, timeoutMs = 20_000) {
      const end = Date.now() + timeoutMs;
      while (!re.test(out)) {
        if (ended) throw new Error(`${what}: ended:\n${out}`);
        if (Date.now() > end) throw new Error(`${what}: no ${re}:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

/** Shims for the npm bins, running this checkout's scripts in this runtime. */
function shims(dir: string): void {
  const run = isDeno
    ? `"${process.execPath}" run -A --config "${join(repo, "deno.json")}"`
    : `"${process.execPath}" --import "${
      join(repo, "node_modules", "tsx", "dist", "loader.mjs")
    }"`;
  for (
    const [bin, script] of [
      ["noderl-registry", registryScript],
      ["noderl-chat", join(repo, "chat", "main.ts")],
    ]
  ) {
    const path = join(dir, bin);
    writeFileSync(path, `#!/bin/sh\nexec ${run} "${script}" "$@"\n`);
    chmodSync(path, 0o755);
  }
}

describe(
  "README: TLS, step by step, across two hosts",
  { skip: noNetns || noOpenssl || undefined },
  () => {
    let net: TestNetwork;
    let work: string;
    const running: ChildProcess[] = [];

    before(async () => {
      work = mkdtempSync(join(tmpdir(), "noderl-readme-tls-"));
      mkdirSync(join(work, "bin"));
      shims(join(work, "bin"));
      net = await makeNetwork({ bare: true });
      const hosts = `${net.a.v4} ${HOSTS.kate}\n${net.b.v4} ${HOSTS.moebi}`;
      net.a.hosts(hosts);
      net.b.hosts(hosts);
    });

    after(async () => {
      for (const c of running) c.stdin?.end();
      await new Promise((r) => setTimeout(r, 300));
      await net?.remove();
      rmSync(work, { recursive: true, force: true });
    });

    test(
      "the README's TLS steps work as written",
      { tags: ["distributed", "netns", "tls", "readme"], timeout: 90_000 },
      async () => {
        const blocks = readmeBlocks();
        assert.deepEqual(
          blocks.map((b) => b.lang),
          ["sh", "sh", "sh", "sh", "sh", "erlang", "sh"],
          "the steps: CA, certificates, registry, kate, moebi, tls.conf, erl",
        );
        const [ca, certs, registry, kate, moebi, conf, erl] = blocks;
        assert.match(kate.text, /kate@kate\.example\.net/);
        assert.match(moebi.text, /moebi@moebi\.example\.net/);
        const env = { PATH: `${join(work, "bin")}:${process.env.PATH}` };
        // On any machine: the CA and a certificate per host.
        const pki = join(work, "pki");
        mkdirSync(pki);
        for (const step of [ca, certs]) {
          execFileSync("sh", ["-e", "-c", step.text], {
            cwd: pki,
            stdio: "pipe",
          });
        }
        // Copied to each host: ca.pem, HOST.pem, HOST.key.
        const dirs: Record<string, string> = {};
        for (const [who, host] of Object.entries(HOSTS)) {
          const dir = join(work, host);
          mkdirSync(dir);
          for (const f of ["ca.pem", `${host}.pem`, `${host}.key`]) {
            copyFileSync(join(pki, f), join(dir, f));
          }
          dirs[who] = dir;
        }
        const sh = (h: Host, text: string, dir: string) => {
          const c = h.spawn("sh", ["-c", text], env, dir);
          running.push(c);
          return watch(c);
        };
        // On each host: the registry.
        for (
          const [h, dir] of [[net.a, dirs.kate], [net.b, dirs.moebi]] as const
        ) {
          await sh(h, registry.text, dir).waitFor(
            /listening/,
            "noderl-registry",
          );
        }
        // The chat nodes, over TLS.
        const k = sh(net.a, kate.text, dirs.kate);
        const m = sh(net.b, moebi.text, dirs.moebi);
        await k.waitFor(/ready/, "kate");
        await m.waitFor(/ready/, "moebi");
        running.at(-2)!.stdin!.write("moebi@moebi.example.net hi\n");
        await m.waitFor(/^hi$/m, "moebi prints hi");
        await k.waitFor(/^chicken\?$/m, "kate prints chicken?");
        if (noErl || !erlPath) return;
        // An erl node with the README's tls.conf.
        writeFileSync(join(dirs.moebi, "tls.conf"), conf.text);
        const e = sh(net.b, erl.text, dirs.moebi);
        const erlIn = running.at(-1)!.stdin!;
        erlIn.write("net_adm:ping('kate@kate.example.net').\n");
        await e.waitFor(/pong/, "erl pings kate over TLS");
        erlIn.write("halt().\n");
      },
    );
  },
);
