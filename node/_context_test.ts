import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import { after, before, test } from "node:test";
import { contextKind } from "./_context.ts";
import { type Node, startNode } from "./node.ts";
import { receive, self, send, sleep, spawn } from "./process_api.ts";
import { type Registry, startRegistry } from "./registry.ts";
import type { Pid } from "./terms.ts";

let registry: Registry;
let node: Node;
before(async () => {
  registry = await startRegistry({ port: 0 });
  node = await startNode({
    name: "context@localhost",
    cookie: "context",
    registryPort: registry.port,
    logLevel: "none",
  });
});
after(async () => {
  await node.stop();
  await registry.close();
});

/** Runs `fn` in a process of `node`; resolves with its result. */
function inProcess<T>(fn: () => Promise<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    node.spawn(async () => {
      try {
        resolve(await fn());
      } catch (e) {
        reject(e);
      }
    });
  });
}

const isDeno = "Deno" in globalThis;

test("Deno uses its continuation data; Node 20 and 22 promise hooks", () => {
  const major = Number(
    (globalThis as { process?: { versions?: { node?: string } } }).process
      ?.versions?.node?.split(".")[0],
  );
  const wanted = (globalThis as {
    process?: { env?: Record<string, string | undefined> };
  }).process?.env?.NODERL_CONTEXT;
  if (wanted !== undefined) return; // chosen by hand
  if (isDeno) assert.equal(contextKind, "continuation-data");
  else if (major < 24) assert.equal(contextKind, "promise-hooks");
});

test("the process is kept across awaits, and (but with promise hooks) in timer and microtask callbacks", async () => {
  const seen = await inProcess(async () => {
    const me = self();
    const out: boolean[] = [];
    await sleep(1);
    out.push(self().equals(me));
    await Promise.all([1, 2, 3].map(async (i) => {
      await sleep(i);
      out.push(self().equals(me));
    }));
    if (contextKind !== "promise-hooks") {
      // Plain callbacks keep the process too (README: not with promise hooks).
      await new Promise<void>((r) =>
        queueMicrotask(() => {
          out.push(self().equals(me));
          r();
        })
      );
      await new Promise<void>((r) =>
        setTimeout(() => {
          out.push(self().equals(me));
          r();
        }, 2)
      );
    }
    return out;
  });
  assert.ok(seen.length >= 4);
  assert.ok(seen.every((x) => x), JSON.stringify(seen));
});

test("processes and a program's own AsyncLocalStorage see each other's values", async () => {
  const als = new AsyncLocalStorage<string>();
  const seen = await inProcess(async () => {
    const me = self();
    const out: string[] = [];
    await als.run("inner", async () => {
      await sleep(1);
      out.push(`${als.getStore()} ${self().equals(me)}`);
    });
    out.push(`${als.getStore()} ${self().equals(me)}`);
    const parent = self();
    let child: Pid | undefined;
    als.run("outer", () => {
      child = spawn(async () => {
        await sleep(1);
        send(parent, `${als.getStore()} ${self().equals(parent)}`);
      });
    });
    out.push(String(await receive()));
    assert.ok(child);
    return out;
  });
  assert.deepEqual(seen, ["inner true", "undefined true", "outer false"]);
  // A process spawned by a node inside someone's context keeps their values.
  const got = await als.run(
    "top",
    () =>
      new Promise<string | undefined>((resolve) => {
        node.spawn(async () => {
          await sleep(1);
          resolve(als.getStore());
        });
      }),
  );
  assert.equal(got, "top");
});

test("ten thousand processes each see themselves after awaits", async () => {
  const bad = await inProcess(async () => {
    const parent = self();
    const n = 10_000;
    const pids: Pid[] = [];
    for (let i = 0; i < n; i++) {
      pids.push(spawn(async () => {
        const me = self();
        await sleep(i % 3);
        await receive((m) => m === "go");
        send(parent, self().equals(me) ? 0 : 1);
      }));
    }
    await sleep(10);
    for (const p of pids) send(p, "go");
    let wrong = 0;
    for (let i = 0; i < n; i++) wrong += (await receive()) as number;
    return wrong;
  });
  assert.equal(bad, 0);
});
