// Which process is running: the context must follow each process across its
// awaits, never leak into another process or into code outside processes.
// The file runs once with the runtime's default context and once more, in a
// child, with the other one (NODERL_CONTEXT).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn as spawnChild } from "node:child_process";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { startRegistry } from "./registry.ts";
import { type Node, startNode } from "./node.ts";
import { bindProcess, receive, self, send, spawn } from "./process_api.ts";
import { atom, type Pid, Tuple, tuple } from "./terms.ts";

let registry: Awaited<ReturnType<typeof startRegistry>>;
let node: Node;

before(async () => {
  registry = await startRegistry({ port: 0 });
  node = await startNode({
    name: "ctx@localhost",
    cookie: "c",
    registryPort: registry.port,
  });
});

after(async () => {
  await node.stop();
  await registry.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("each process stays itself across interleaved awaits", async () => {
  const top = self();
  const N = 300;
  const worker = (peer: () => Pid) => async () => {
    const me = self();
    for (let i = 0; i < N; i++) {
      send(peer(), tuple(atom("n"), i, me));
      const m = await receive() as Tuple;
      assert.equal(self(), me, `after receive ${i}`);
      assert.equal(m[2], peer());
      if (i % 50 === 0) {
        await sleep(0);
        assert.equal(self(), me, `after a timer promise ${i}`);
      }
      await Promise.resolve();
      assert.equal(self(), me, `after a resolved promise ${i}`);
    }
    send(top, tuple(atom("done"), me));
  };
  const pids: { a?: Pid; b?: Pid } = {};
  const a = pids.a = spawn(worker(() => pids.b!));
  const b = pids.b = spawn(worker(() => pids.a!));
  const done = new Set<Pid>();
  for (let i = 0; i < 2; i++) {
    const m = await receive(
      (m) => m instanceof Tuple && m[0] === atom("done"),
      10_000,
    ) as Tuple;
    done.add(m[1] as Pid);
  }
  assert.deepEqual(done, new Set([a, b]));
  assert.equal(self(), top, "code outside processes is the shell again");
});

test("a promise made in one process and resolved by another resumes its awaiter", async () => {
  let resolveIt!: (v: string) => void;
  const made = new Promise<string>((r) => (resolveIt = r));
  const top = self();
  const waiter = spawn(async () => {
    const v = await made;
    send(top, tuple(atom("waiter"), self(), v));
  });
  spawn(async () => {
    await sleep(5);
    resolveIt("from the resolver");
  });
  const m = await receive(
    (m) => m instanceof Tuple && m[0] === atom("waiter"),
    5000,
  ) as Tuple;
  assert.deepEqual(m, tuple(atom("waiter"), waiter, "from the resolver"));
});

test("code outside processes awaiting a process's promise stays the shell", async () => {
  const top = self();
  let inner!: Promise<number>;
  spawn(() => {
    inner = sleep(5).then(() => 42);
  });
  await sleep(1);
  assert.equal(await inner, 42);
  assert.equal(self(), top);
});

test("a process whose function throws at once leaves the caller's context alone", async () => {
  const top = self();
  const pid = spawn(() => {
    throw new Error("boom");
  });
  await sleep(5);
  assert.equal(self(), top);
  assert.notEqual(pid, top);
});

test("bindProcess runs a plain callback as the process that bound it", async () => {
  const top = self();
  const child = spawn(async () => {
    setTimeout(
      bindProcess(() => send(top, tuple(atom("tick"), self()))),
      5,
    );
    await receive((m) => m === atom("stop"), 5000).catch(() => {});
  });
  const m = await receive(
    (m) => m instanceof Tuple && m[0] === atom("tick"),
    5000,
  );
  assert.deepEqual(m, tuple(atom("tick"), child));
  send(child, atom("stop"));
  // Outside any process it binds the shell.
  const f = bindProcess(() => self());
  assert.equal(await new Promise((r) => setTimeout(() => r(f()), 1)), top);
});

const isDeno = "Deno" in globalThis;
test("the same checks pass with the other context mechanism", {
  skip: process.env.NODERL_CONTEXT_CHILD ? "this is that run" : false,
}, async () => {
  const file = fileURLToPath(import.meta.url);
  // Node 20/22 default to promise hooks; Deno and Node ≥ 24 to AsyncLocalStorage.
  const major = Number(process.versions.node.split(".")[0]);
  const other = !isDeno && major < 24 ? "async-local-storage" : "promise-hooks";
  const args = isDeno
    ? ["test", "-A", "--quiet", file]
    : ["--import", "tsx", "--test", file];
  const env: Record<string, string | undefined> = {
    ...process.env,
    NODERL_CONTEXT: other,
    NODERL_CONTEXT_CHILD: "1",
  };
  delete env.NODE_TEST_CONTEXT; // else the child reports to this runner only
  const child = spawnChild(process.execPath, args, {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const code = await new Promise((r) => child.on("exit", r));
  assert.equal(code, 0, `with NODERL_CONTEXT=${other}:\n${out}`);
  assert.match(out, isDeno ? /5 passed/ : /# pass 5/, out);
});
