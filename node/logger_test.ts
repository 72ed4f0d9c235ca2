// The node logger: levels, the sink, debug categories from options and from
// NODERL_DEBUG / NODE_DEBUG=noderl (in a child process, whose standard error
// carries the traces), and the diagnostics_channel events of connections.
import { test } from "node:test";
import assert from "node:assert/strict";
import dc from "node:diagnostics_channel";
import { spawn as spawnChild } from "node:child_process";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { debugFromEnv, Logger, parseDebug } from "./logger.ts";
import { startRegistry } from "./registry.ts";
import { startNode } from "./node.ts";
import {
  type ConnectEvent,
  diagnosticsChannels,
  type DisconnectEvent,
  type HandshakeFailureEvent,
} from "./diagnostics.ts";

test("levels filter, the sink gets the level, traces follow their category", () => {
  const out: string[] = [];
  const l = new Logger({
    level: "notice",
    sink: (m, level) => out.push(`${level} ${m}`),
    debug: "handshake",
  });
  l.error("e");
  l.warning("w");
  l.notice("n");
  l.info("i");
  l.debug("d");
  l.trace("handshake", () => "h");
  l.trace("connection", () => assert.fail("not built when off"));
  assert.deepEqual(out, [
    "error e",
    "warning w",
    "notice n",
    "debug handshake: h",
  ]);
  l.level = "none";
  l.error("gone");
  assert.equal(out.length, 4);
  assert.throws(() => new Logger({ level: "loud" as never }), RangeError);
  // A failing sink does not throw into the node.
  new Logger({
    sink: () => {
      throw new Error("x");
    },
  }).error("y");
});

test("parseDebug reads NODERL_DEBUG's forms", () => {
  assert.deepEqual([...parseDebug("1")].sort(), [
    "connection",
    "handshake",
    "process",
    "registry",
  ]);
  assert.deepEqual([...parseDebug("all")].length, 4);
  assert.deepEqual([...parseDebug("registry, connection bogus")].sort(), [
    "connection",
    "registry",
  ]);
  assert.deepEqual([...parseDebug("")], []);
  assert.deepEqual([...parseDebug(false)], []);
  assert.deepEqual([...parseDebug(["handshake"])], ["handshake"]);
});

const fixture = fileURLToPath(
  new URL("../tests/_debug_fixture.ts", import.meta.url),
);
const isDeno = "Deno" in globalThis;

function runFixture(env: Record<string, string | undefined>): Promise<string> {
  const args = isDeno ? ["run", "-A", fixture] : ["--import", "tsx", fixture];
  const full: Record<string, string | undefined> = { ...process.env, ...env };
  for (const k of Object.keys(full)) if (full[k] === undefined) delete full[k];
  const child = spawnChild(process.execPath, args, {
    env: full as Record<string, string>,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  child.stdout.on("data", () => {});
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the fixture did not finish:\n${err}`));
    }, 30_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(err);
      else reject(new Error(`the fixture exited ${code}:\n${err}`));
    });
  });
}

test("NODERL_DEBUG and NODE_DEBUG=noderl turn on connection, handshake and registry traces", async () => {
  const on = await runFixture({ NODERL_DEBUG: "1", NODE_DEBUG: undefined });
  assert.match(
    on,
    /\[noderl dbga@localhost\] debug: registry: registered dbga@localhost \(port \d+, creation \d+\)/,
  );
  assert.match(
    on,
    /\[noderl dbga@localhost\] debug: registry: lookup of dbgb at 127\.0\.0\.1:\d+: port \d+/,
  );
  assert.match(
    on,
    /\[noderl dbga@localhost\] debug: handshake: to dbgb@localhost at 127\.0\.0\.1:\d+: started/,
  );
  assert.match(
    on,
    /\[noderl dbgb@localhost\] debug: handshake: with dbga@localhost: ok, flags 0x[0-9a-f]+/,
  );
  assert.match(
    on,
    /\[noderl dbga@localhost\] debug: connection: connected to dbgb@localhost/,
  );
  assert.match(
    on,
    /\[noderl dbga@localhost\] debug: connection: dbgb@localhost is down: disconnected/,
  );
  assert.match(
    on,
    /\[noderl dbgc@localhost\] debug: handshake: to dbga@localhost failed: .*cookies differ/,
  );
  assert.doesNotMatch(on, /zebra|"dbg"/, "the cookies are never traced");
  const some = await runFixture({
    NODERL_DEBUG: "handshake",
    NODE_DEBUG: undefined,
  });
  assert.match(some, /debug: handshake:/);
  assert.doesNotMatch(some, /debug: (registry|connection):/);
  const nodeDebug = await runFixture({
    NODERL_DEBUG: undefined,
    NODE_DEBUG: "net,noderl",
  });
  assert.match(nodeDebug, /debug: connection: connected to dbgb@localhost/);
  const off = await runFixture({
    NODERL_DEBUG: undefined,
    NODE_DEBUG: undefined,
  });
  assert.doesNotMatch(off, /debug:/);
  // The refused handshake is still a warning, without NODERL_DEBUG.
  assert.match(
    off,
    /\[noderl dbga@localhost\] warning: handshake with dbgc@localhost failed: connection attempt refused: wrong cookie/,
  );
});

test("debugFromEnv: NODERL_DEBUG wins over NODE_DEBUG", () => {
  const saved = { a: process.env.NODERL_DEBUG, b: process.env.NODE_DEBUG };
  try {
    process.env.NODERL_DEBUG = "registry";
    process.env.NODE_DEBUG = "noderl";
    assert.deepEqual([...debugFromEnv()], ["registry"]);
    delete process.env.NODERL_DEBUG;
    assert.equal(debugFromEnv().size, 4);
    process.env.NODE_DEBUG = "net,http";
    assert.equal(debugFromEnv().size, 0);
  } finally {
    for (
      const [k, v] of [["NODERL_DEBUG", saved.a], [
        "NODE_DEBUG",
        saved.b,
      ]] as const
    ) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});

test("diagnostics_channel: connect, disconnect, handshake failure", async () => {
  const seen: Array<[string, unknown]> = [];
  const subs = Object.entries(diagnosticsChannels).map(([k, name]) => {
    const fn = (m: unknown) => seen.push([k, m]);
    dc.subscribe(name, fn);
    return () => dc.unsubscribe(name, fn);
  });
  const registry = await startRegistry({ port: 0 });
  const opts = {
    cookie: "dc",
    registryPort: registry.port,
    logLevel: "none" as const,
  };
  const a = await startNode({ name: "dca@localhost", ...opts });
  const b = await startNode({ name: "dcb@localhost", hidden: true, ...opts });
  const c = await startNode({
    ...opts,
    name: "dcc@localhost",
    cookie: "other",
  });
  try {
    assert.equal(await a.connect("dcb@localhost"), true);
    await a.disconnect("dcb@localhost");
    assert.equal(await c.connect("dca@localhost"), false);
    await new Promise((r) => setTimeout(r, 30));
    const of = (k: string) =>
      seen.filter(([kind]) => kind === k).map(([, m]) => m);
    const connects = of("connect") as ConnectEvent[];
    assert.ok(
      connects.some((e) =>
        e.node === "dca@localhost" && e.peer === "dcb@localhost" && e.hidden
      ),
    );
    assert.ok(
      connects.some((e) =>
        e.node === "dcb@localhost" && e.peer === "dca@localhost" && !e.hidden
      ),
    );
    const downs = of("disconnect") as DisconnectEvent[];
    assert.ok(
      downs.some((e) =>
        e.node === "dca@localhost" && e.peer === "dcb@localhost" &&
        e.reason === "disconnected"
      ),
    );
    const failures = of("handshakeFailure") as HandshakeFailureEvent[];
    const out = failures.find((e) => e.node === "dcc@localhost");
    const inn = failures.find((e) => e.node === "dca@localhost");
    assert.equal(out?.direction, "out");
    assert.equal(out?.peer, "dca@localhost");
    assert.match(out!.error.message, /cookies differ/);
    assert.equal(inn?.direction, "in");
    assert.equal(inn?.peer, "dcc@localhost");
    assert.ok(
      !JSON.stringify(failures.map((f) => f.error.message)).includes("other"),
    );
  } finally {
    subs.forEach((u) => u());
    await a.stop();
    await b.stop();
    await c.stop();
    await registry.close();
  }
});
