// Crash reports: a process whose own code throws logs exactly one report on
// its node's logger (pid, name, the error and its stack, the initial call);
// processes that die of an exit signal, or exit on purpose, log nothing; a
// linked parent that traps exits takes the exit instead; every crash is
// published on the noderl:process-crash diagnostics channel.
import { after, before, beforeEach, test } from "node:test";
import assert from "node:assert/strict";
import dc from "node:diagnostics_channel";
import { startRegistry } from "./registry.ts";
import { type Node, startNode } from "./node.ts";
import {
  exit,
  receive,
  register,
  send,
  sleep,
  spawn,
  spawnLink,
  trapExit,
} from "./process_api.ts";
import { describeReason } from "./errors.ts";
import { atom, type Pid, Tuple, tuple } from "./terms.ts";
import { diagnosticsChannels, type ProcessCrashEvent } from "./diagnostics.ts";

let registry: Awaited<ReturnType<typeof startRegistry>>;
let node: Node, quiet: Node;
const logs: Array<{ level: string; message: string }> = [];
const events: ProcessCrashEvent[] = [];
const onCrash = (e: unknown) => events.push(e as ProcessCrashEvent);

before(async () => {
  registry = await startRegistry({ port: 0 });
  node = await startNode({
    name: "crash@localhost",
    cookie: "c",
    registryPort: registry.port,
    log: (message, level) => logs.push({ level, message }),
  });
  quiet = await startNode({
    name: "quiet@localhost",
    cookie: "c",
    registryPort: registry.port,
    logLevel: "none",
    log: (message, level) => logs.push({ level, message }),
  });
  dc.subscribe(diagnosticsChannels.processCrash, onCrash);
});

after(async () => {
  dc.unsubscribe(diagnosticsChannels.processCrash, onCrash);
  await node.stop();
  await quiet.stop();
  await registry.close();
});

beforeEach(() => {
  logs.length = 0;
  events.length = 0;
});

const reports = () => logs.filter((l) => l.level === "error");
const ended = (n: Node, pid: Pid) =>
  n.processOf(pid)?.exited ?? Promise.resolve();

test("a throw in a bare spawned process: exactly one report on the node's log", async () => {
  const pid = node.spawn(function worker() {
    register("thrower");
    throw new TypeError("bad input in the worker");
  });
  await ended(node, pid);
  await sleep(10);
  assert.equal(reports().length, 1);
  const r = reports()[0].message;
  assert.match(
    r,
    new RegExp(
      `^Error in process ${
        String(pid).replace(/[.<>#]/g, "\\$&")
      } \\(registered as thrower\\) on node crash@localhost with exit value:`,
    ),
  );
  assert.match(
    r,
    /\n\*\* \(TypeError\) bad input in the worker\n\s+at worker /,
  );
  assert.match(r, /\nInitial call: worker$/);
  assert.doesNotMatch(r, /node:internal|_context\.ts/);
  assert.equal(events.length, 1);
  assert.ok(events[0].pid.equals(pid));
  assert.equal(events[0].registeredName, "thrower");
  assert.equal(events[0].logged, true);
  assert.ok(events[0].error instanceof TypeError);
});

test("an async throw, a thrown non-Error, an M/F/A process: one report each", async () => {
  node.defineModule("Elixir.Kate", {
    boom: async () => {
      await sleep(1);
      throw new RangeError("kate exploded");
    },
  });
  const p1 = node.spawn(async () => {
    await sleep(1);
    throw "a string";
  });
  const p2 = await node.spawnRemote(
    "crash@localhost",
    "Elixir.Kate",
    "boom",
    [],
  );
  await ended(node, p1);
  await ended(node, p2);
  await sleep(10);
  assert.equal(reports().length, 2);
  assert.match(reports()[0].message, /\*\* \(throw\) <<"a string">>/);
  assert.match(reports()[1].message, /\*\* \(RangeError\) kate exploded/);
  assert.match(reports()[1].message, /Initial call: Elixir\.Kate\.boom\/0$/);
});

test("linked processes that die of the crash, and exits on purpose, log nothing", async () => {
  const top = node.shell.pid;
  spawn(() => {
    spawnLink(() => receive()); // dies of the link
    spawnLink(() => receive());
    spawnLink(async () => {
      await sleep(5);
      throw new Error("the one crash");
    });
    send(top, atom("started"));
    return receive();
  });
  await receive((m) => m === atom("started"), 1000);
  const p = spawn(() => exit(atom("on_purpose")));
  const q = spawn(() => exit(tuple(atom("shutdown"), atom("x"))));
  const k = spawn(() => receive());
  node.exit(k, atom("kill"));
  await ended(node, p);
  await ended(node, q);
  await sleep(30);
  assert.equal(reports().length, 1);
  assert.match(reports()[0].message, /the one crash/);
  assert.equal(events.length, 1);
});

test("a parent that traps exits takes the exit: no report, an EXIT message", async () => {
  const top = node.shell.pid;
  spawn(async () => {
    trapExit(true);
    spawnLink(() => {
      throw new Error("handled by the parent");
    });
    const m = await receive(
      (m) => m instanceof Tuple && m[0] === atom("EXIT"),
      1000,
    );
    send(top, tuple(atom("got"), m));
  });
  const got = await receive(
    (m) => m instanceof Tuple && m[0] === atom("got"),
    2000,
  ) as Tuple;
  assert.match(describeReason((got[1] as Tuple)[2]), /handled by the parent/);
  await sleep(10);
  assert.equal(reports().length, 0);
  assert.equal(events.length, 1);
  assert.equal(events[0].logged, false);
});

test("logLevel none: no report, the event still published", async () => {
  const pid = quiet.spawn(() => {
    throw new Error("quiet crash");
  });
  await ended(quiet, pid);
  await sleep(10);
  assert.equal(logs.length, 0);
  assert.equal(events.length, 1);
  assert.equal(events[0].node, "quiet@localhost");
  assert.equal(events[0].logged, false);
});
