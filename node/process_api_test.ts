// Which process is running: the context must follow each process across its
// awaits, never leak into another process or into code outside processes;
// and the timers of process_api (sendAfter, cancelTimer, readTimer, sleep).
// The file runs once with the runtime's default context and once more, in a
// child, with the other one (NODERL_CONTEXT).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn as spawnChild } from "node:child_process";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { startRegistry } from "./registry.ts";
import { type Node, startNode } from "./node.ts";
import {
  bindProcess,
  cancelTimer,
  isAlive,
  readTimer,
  receive,
  register,
  registered,
  self,
  send,
  sendAfter,
  sleep,
  spawn,
  unregister,
} from "./process_api.ts";
import { atom, Pid, Tuple, tuple } from "./terms.ts";

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

test("sendAfter delivers after the delay, to pids, names and [name, node]", async () => {
  const other = await startNode({
    name: "ctx_timer@localhost",
    cookie: "c",
    registryPort: registry.port,
  });
  try {
    const top = self();
    const t0 = performance.now();
    sendAfter(top, atom("pid"), 30);
    assert.equal(await receive((m) => m === atom("pid"), 5000), atom("pid"));
    assert.ok(performance.now() - t0 >= 29, "not before the delay");
    // A name is looked up when the timer fires, not when it is set.
    sendAfter("late_name", atom("named"), 20);
    const named = spawn(async () => {
      send(top, await receive(undefined, 5000));
    });
    register("late_name", named);
    assert.equal(
      await receive((m) => m === atom("named"), 5000),
      atom("named"),
    );
    // To a registered name on another node, from inside a process.
    const remote = other.spawn(async () => {
      send(top, tuple(atom("remote got"), await receive(undefined, 5000)));
    });
    other.register("timer_sink", remote);
    spawn(() => {
      sendAfter(["timer_sink", "ctx_timer@localhost"], atom("hop"), 10);
    });
    assert.deepEqual(
      await receive((m) => m instanceof Tuple, 5000),
      tuple(atom("remote got"), atom("hop")),
    );
  } finally {
    await other.stop();
  }
});

test("cancelTimer and readTimer: time left, then false; a cancelled timer never fires", async () => {
  const ref = sendAfter(self(), atom("cancelled"), 200);
  const left = readTimer(ref) as number;
  assert.ok(left > 150 && left <= 200, `read ${left}`);
  assert.ok((cancelTimer(ref) as number) > 150);
  assert.equal(cancelTimer(ref), false);
  assert.equal(readTimer(ref), false);
  const fired = sendAfter(self(), atom("fired"), 1);
  await receive((m) => m === atom("fired"), 1000);
  assert.equal(cancelTimer(fired), false);
  await assert.rejects(
    receive((m) => m === atom("cancelled"), 300),
    /timed out/,
  );
});

test("sendAfter and sleep refuse bad arguments with clear errors", async () => {
  assert.throws(() => sendAfter(self(), 1, -5), /from 0 to 2147483647/);
  assert.throws(() => sendAfter(self(), 1, NaN), /milliseconds/);
  assert.throws(() => sendAfter(42 as never, 1, 5), /a destination is/);
  await assert.rejects(sleep(-1), /≥ 0/);
});

test("sleep keeps the process itself", async () => {
  const top = self();
  const pid = spawn(async () => {
    await sleep(15);
    send(top, tuple(atom("slept"), self()));
  });
  assert.deepEqual(
    await receive((m) => m instanceof Tuple, 5000),
    tuple(atom("slept"), pid),
  );
});

test("isAlive, registered and unregister through the free functions", async () => {
  const pid = spawn(() => receive((m) => m === atom("stop"), 5000));
  register("ctx_named", pid);
  assert.ok(registered().includes("ctx_named"));
  assert.equal(isAlive(pid), true);
  assert.equal(unregister("ctx_named"), true);
  assert.equal(unregister("ctx_named"), false);
  assert.ok(!registered().includes("ctx_named"));
  send(pid, atom("stop"));
  await sleep(10);
  assert.equal(isAlive(pid), false);
  const remote = new Pid("elsewhere@localhost", 1, 0, 1);
  assert.throws(() => isAlive(remote), /monitor a remote process/);
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
  assert.match(out, isDeno ? /10 passed/ : /# pass 10/, out);
});
