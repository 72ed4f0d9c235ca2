import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { startRegistry } from "../node/registry.ts";
import {
  listNames,
  lookupNode,
  registerNode,
  RegistryError,
} from "../node/registry_client.ts";
import { beamCommand, noErl } from "./_beam.ts";
import { epmdPath, noEpmd, start, startEpmd } from "./_registry.ts";
import { test } from "./_tags.ts";

const erlArgs = (name: string) => [
  "-noshell",
  "-start_epmd",
  "false",
  "-sname",
  name,
  "-setcookie",
  "noderl_registry_interop",
];

async function until<T>(
  get: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) {
      throw new Error(`${what}: not within ${timeoutMs} ms`);
    }
    await sleep(10);
  }
}

test(
  "real BEAM nodes use our registry: erl registers, epmd -names lists it, erl pings it, SIGKILL unregisters within 1 s",
  { tags: ["beam", "distributed"], skip: noErl, timeout: 60_000 },
  async () => {
    const registry = await startRegistry({ port: 0, log: () => {} });
    const env = { ERL_EPMD_PORT: String(registry.port) };
    const a = start(...beamCommand("erl", erlArgs("a@localhost")), env);
    try {
      const entry = await until(
        () => registry.names().find((n) => n.name === "a"),
        20_000,
        `erl -sname a registering with our registry (stderr: ${a.stderr()})`,
      );
      assert.ok(entry.creation > 0);
      assert.equal(
        entry.highestVersion,
        6,
        "OTP 25 registers protocol version 6",
      );
      assert.equal(entry.nodeType, 77);
      // Our client sees it; so does Erlang's own epmd client.
      const found = await lookupNode("a", { port: registry.port });
      assert.equal(found?.port, entry.port);
      assert.deepEqual(await listNames({ port: registry.port }), [
        { name: "a", port: entry.port },
      ]);
      if (epmdPath) {
        const names = start(epmdPath, [
          "-port",
          String(registry.port),
          "-names",
        ]);
        assert.equal(await names.exited, 0, names.stderr());
        assert.match(
          names.stdout(),
          /^epmd: up and running on port \d+ with data:$/m,
        );
        assert.match(
          names.stdout(),
          new RegExp(`^name a at port ${entry.port}$`, "m"),
        );
      }
      // A second node finds the first through the registry and pings it.
      const b = start(
        ...beamCommand("erl", [
          ...erlArgs("b@localhost"),
          "-eval",
          'io:format("~p~n", [net_adm:ping(a@localhost)]), halt().',
        ]),
        env,
      );
      try {
        assert.equal(await b.exited, 0, b.stderr());
        assert.equal(b.stdout().trim(), "pong");
      } finally {
        await b.kill();
      }
      // b unregistered when it halted.
      await until(
        () => registry.names().some((n) => n.name === "b") ? undefined : true,
        2000,
        "b unregistered after halt",
      );
      // SIGKILL: the kernel closes the node's registry connection, the name goes.
      const t0 = performance.now();
      a.proc.kill("SIGKILL");
      await until(
        async () =>
          (await listNames({ port: registry.port })).some((n) => n.name === "a")
            ? undefined
            : true,
        1000,
        "a gone from the names list after SIGKILL",
      );
      const ms = performance.now() - t0;
      console.log(
        `registry lifetime: SIGKILL → gone from names in ${ms.toFixed(1)} ms`,
      );
      assert.ok(ms < 1000);
      assert.equal(await lookupNode("a", { port: registry.port }), undefined);
    } finally {
      await a.kill();
      await registry.close();
    }
  },
);

test(
  "real BEAM: a name an erl node holds is refused to us, and free once it stops",
  { tags: ["beam", "distributed"], skip: noErl, timeout: 60_000 },
  async () => {
    const registry = await startRegistry({ port: 0, log: () => {} });
    const env = { ERL_EPMD_PORT: String(registry.port) };
    const a = start(...beamCommand("erl", erlArgs("held@localhost")), env);
    try {
      await until(
        () => registry.names().find((n) => n.name === "held"),
        20_000,
        "erl registering",
      );
      await assert.rejects(
        registerNode("held", 4242, { port: registry.port }),
        (e: unknown) =>
          e instanceof RegistryError && /already registered/.test(e.message),
      );
      // And erl cannot take a name we hold.
      const ours = await registerNode("ours", 4243, { port: registry.port });
      const dup = start(
        ...beamCommand("erl", [
          ...erlArgs("ours@localhost"),
          "-eval",
          "halt().",
        ]),
        env,
      );
      const code = await dup.exited;
      assert.notEqual(code, 0, "erl refuses to start with a taken name");
      assert.match(
        dup.stdout() + dup.stderr(),
        /duplicate_name|already|in use/i,
      );
      await ours.close();
      a.proc.kill("SIGKILL");
      await a.exited;
      await until(
        () =>
          registry.names().some((n) => n.name === "held") ? undefined : true,
        1000,
        "held released",
      );
      const mine = await registerNode("held", 4244, { port: registry.port });
      assert.equal(
        (await lookupNode("held", { port: registry.port }))?.port,
        4244,
      );
      await mine.close();
    } finally {
      await a.kill();
      await registry.close();
    }
  },
);

test(
  "our client works against the real epmd",
  { tags: ["beam", "distributed"], skip: noEpmd, timeout: 30_000 },
  async () => {
    const epmd = await startEpmd();
    try {
      const options = { port: epmd.port };
      const reg = await registerNode("alex", 4660, options);
      assert.ok(
        reg.creation > 3,
        "epmd gives version-6 nodes 32-bit creations",
      );
      assert.deepEqual(await lookupNode("alex", options), {
        port: 4660,
        highestVersion: 6,
        lowestVersion: 6,
      });
      assert.equal(await lookupNode("nobody", options), undefined);
      assert.deepEqual(await listNames(options), [{
        name: "alex",
        port: 4660,
      }]);
      await assert.rejects(
        registerNode("alex", 4661, options),
        /already registered/,
      );
      await reg.close(); // resolves once epmd has dropped the name
      assert.deepEqual(await listNames(options), []);
      const again = await registerNode("alex", 4662, options);
      assert.equal(again.creation, reg.creation + 1);
      await again.close();
    } finally {
      await epmd.child.kill();
    }
  },
);
