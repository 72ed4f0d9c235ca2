import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { startRegistry } from "../node/registry.ts";
import { tsRunner } from "./_registry.ts";
import { test } from "./_tags.ts";

const script = join(
  dirname(fileURLToPath(import.meta.url)),
  "..",
  "chat",
  "main.ts",
);

/** A chat node from the command line, with its stdin kept open for typing. */
function chatNode(args: string[], registryPort?: number) {
  const [cmd, pre] = tsRunner();
  const child = spawn(cmd, [
    ...pre,
    script,
    ...args,
    ...(registryPort ? ["--registry-port", String(registryPort)] : []),
  ], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env },
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
        if (Date.now() > deadline) {
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

test("chat/main.ts: flags", { tags: ["cli"] }, async () => {
  const help = chatNode(["--help"]);
  assert.equal(await help.exited, 0);
  assert.match(help.out(), /moebi/);
  assert.match(help.out(), /^usage: noderl-chat /, "usage names the bin");
  assert.doesNotMatch(help.out(), /\.ts\b/, "no source file in the help");
  const version = chatNode(["--version"]);
  assert.equal(await version.exited, 0);
  assert.match(version.out(), /^noderl-chat \d+\.\d+\.\d+/);
  const none = chatNode([]);
  assert.equal(await none.exited, 2);
  assert.match(none.err(), /exactly one of --sname or --name/);
  const bad = chatNode(["--sname", "x", "--bogus"]);
  assert.equal(await bad.exited, 2);
});

test(
  "three chat nodes from the command line: alex, kate and moebi",
  { tags: ["cli", "distributed"], timeout: 90_000 },
  async () => {
    const registry = await startRegistry({ port: 0 });
    const common = ["--cookie", "chat"];
    const kate = chatNode(
      ["--name", "kate@localhost", ...common],
      registry.port,
    );
    const moebi = chatNode(
      ["--name", "moebi@localhost", ...common],
      registry.port,
    );
    const alex = chatNode(
      ["--name", "alex@localhost", ...common],
      registry.port,
    );
    try {
      for (const n of [kate, moebi, alex]) await n.waitFor(/ready/, "err");
      alex.type("kate hi");
      await kate.waitFor(/^hi$/m);
      kate.type("alex how are you?");
      await alex.waitFor(/^how are you\?$/m);
      alex.type("moebi hi");
      await moebi.waitFor(/^hi$/m);
      await alex.waitFor(/^chicken\?$/m);
      assert.doesNotMatch(kate.out(), /chicken/, "sorry kate");
      alex.type("nobody hello?");
      await alex.waitFor(
        /could not send to nobody@localhost: no connection to nobody@localhost: /,
        "err",
      );
      alex.type("this-line-has-no-message");
      await alex.waitFor(/type: NAME message/, "err");
    } finally {
      for (const n of [alex, kate, moebi]) assert.equal(await n.end(), 0);
      await registry.close();
    }
  },
);

test(
  "noderl-chat: a wrong cookie is explained in words on both sides",
  { tags: ["cli", "distributed"], timeout: 90_000 },
  async () => {
    const registry = await startRegistry({ port: 0 });
    const kate = chatNode(
      ["--name", "kate@localhost", "--cookie", "kates"],
      registry.port,
    );
    const alex = chatNode(
      ["--name", "alex@localhost", "--cookie", "alexs"],
      registry.port,
    );
    try {
      for (const n of [kate, alex]) await n.waitFor(/ready/, "err");
      alex.type("kate hi");
      await alex.waitFor(
        /could not send to kate@localhost: .*the cookies differ \(check --cookie, NODERL_COOKIE or ~\/\.erlang\.cookie/,
        "err",
      );
      await kate.waitFor(/alex@localhost.*wrong cookie/, "err");
      assert.doesNotMatch(alex.err() + kate.err(), /kates|alexs/, "no cookie");
      assert.doesNotMatch(kate.out(), /hi/);
    } finally {
      for (const n of [alex, kate]) assert.equal(await n.end(), 0);
      await registry.close();
    }
  },
);
