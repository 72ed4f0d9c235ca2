// GenServer between noderl processes and nodes (in this OS process): calls,
// casts, deferred replies, async callbacks, continue and timeout, stop and
// terminate, start failures, the errors as Elixir's GenServer.call exits,
// sys messages, crash reports (one per crash, none when a trapping parent
// takes the exit), supervision. The Elixir side is in tests/gen_elixir_test.ts.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startRegistry } from "../node/registry.ts";
import { type Node, startNode } from "../node/node.ts";
import {
  receive,
  reply,
  self,
  send,
  sleep,
  spawn,
  trapExit,
} from "../node/process_api.ts";
import { formatTerm } from "../node/format.ts";
import { ExitError } from "../node/errors.ts";
import { atom, type Pid, Tuple, tuple } from "../node/terms.ts";
import { Supervisor } from "../task/mod.ts";
import { type From, GenServer, type GenServerImpl } from "./gen_server.ts";
import { GenServerCallError, GenServerStartError } from "./errors.ts";
import {
  type GlobalNameRegistry,
  noderlGlobalNames,
  setGlobalNameRegistry,
} from "./_names.ts";
import { syncGlobal, whereisGlobal } from "../node/global.ts";

let registry: Awaited<ReturnType<typeof startRegistry>>;
let a: Node, b: Node;
const logs: Array<{ level: string; message: string }> = [];

before(async () => {
  registry = await startRegistry({ port: 0 });
  a = await startNode({
    name: "gsa@localhost",
    cookie: "gs",
    registryPort: registry.port,
    log: (message, level) => logs.push({ level, message }),
  });
  b = await startNode({
    name: "gsb@localhost",
    cookie: "gs",
    registryPort: registry.port,
    log: (message, level) => logs.push({ level, message }),
  });
});

after(async () => {
  await a.stop();
  await b.stop();
  await registry.close();
});

/** The error of a rejected call, typed. */
const caught = (e: unknown) => e as GenServerCallError;
const unexpected = (v: unknown): never =>
  assert.fail(`expected a rejection, got ${formatTerm(v)}`);

const errors = () => logs.filter((l) => l.level === "error");

async function eventually(what: string, check: () => boolean, ms = 3000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`not true within ${ms} ms: ${what}`);
    await sleep(5);
  }
}

/** Elixir's Stack, with a few extra requests for the tests. */
const Stack: GenServerImpl<unknown[], unknown[]> = {
  module: "Elixir.Stack",
  init: (items) => ({ ok: true, state: items }),
  handleCall(req, from, state) {
    if (req === atom("pop")) {
      const [head, ...tail] = state;
      return { reply: head, state: tail };
    }
    if (req === atom("state")) return { reply: state, state };
    if (req === atom("self")) return { reply: self(), state };
    if (req === atom("later")) {
      // Answer from another process, later.
      spawn(async () => {
        await sleep(10);
        GenServer.reply(from, atom("later_reply"));
      });
      return { noreply: true, state };
    }
    if (req === atom("never")) return { noreply: true, state };
    if (req === atom("node_reply")) {
      // The node-level reply, during the callback, then noreply.
      reply(from, atom("via_node"));
      return { noreply: true, state };
    }
    if (req === atom("gen_reply")) {
      GenServer.reply(from, atom("via_gen"));
      return { noreply: true, state };
    }
    if (req === atom("crash")) throw new TypeError("stack crashed on purpose");
    if (req === atom("stop")) {
      return { stop: atom("normal"), reply: atom("stopping"), state };
    }
    if (req === atom("bad")) return { what: "nonsense" } as never;
    if (req === atom("call_self")) {
      return GenServer.call(self(), atom("pop")).then(
        () => ({ reply: atom("no?"), state }),
        (e: GenServerCallError) => ({ reply: e.callReason, state }),
      );
    }
    if (req instanceof Tuple && req[0] === atom("slow")) {
      return sleep(req[1] as number).then(() => ({
        reply: atom("slow_done"),
        state,
      }));
    }
    return { reply: atom("unknown"), state };
  },
  handleCast: (req, state) => ({ noreply: true, state: [req, ...state] }),
};

describe("GenServer on one node", () => {
  test("start, call, cast, stop: by pid and by name", async () => {
    const pid = await GenServer.start(a, Stack, [1, 2], { name: "stack1" });
    assert.equal(a.whereis("stack1"), pid);
    assert.equal(await GenServer.call(pid, atom("pop")), 1);
    GenServer.cast("stack1", "x");
    assert.deepEqual(await GenServer.call("stack1", atom("state")), ["x", 2]);
    assert.deepEqual(
      await GenServer.call(["stack1", "gsa@localhost"], atom("state")),
      ["x", 2],
    );
    // Inside callbacks, self() is the server.
    assert.ok((await GenServer.call(pid, atom("self")) as Pid).equals(pid));
    assert.equal(await GenServer.whereis("stack1"), pid);
    await GenServer.stop("stack1");
    assert.equal(a.isAlive(pid), false);
    assert.equal(a.whereis("stack1"), undefined);
  });

  test("errors are Elixir's GenServer.call exits", async () => {
    // noproc: no such name, a dead pid.
    const e1 = await GenServer.call("nobody", atom("x"))
      .then(unexpected, caught);
    assert.ok(e1 instanceof GenServerCallError);
    assert.equal(
      formatTerm(e1.reason),
      "{noproc,{'Elixir.GenServer',call,[nobody,x,5000]}}",
    );
    assert.match(e1.message, /GenServer\.call\(nobody, x, 5000\).*no process/);
    const pid = await GenServer.start(a, Stack, []);
    await GenServer.stop(pid);
    const e2 = await GenServer.call(pid, atom("x"), 100)
      .then(unexpected, caught);
    assert.equal(e2.callReason, atom("noproc"));
    // timeout: the server never answers.
    const p2 = await GenServer.start(a, Stack, []);
    const t0 = performance.now();
    const e3 = await GenServer.call(p2, atom("never"), 50)
      .then(unexpected, caught);
    assert.ok(performance.now() - t0 >= 45);
    assert.equal(e3.callReason, atom("timeout"));
    assert.match(
      formatTerm(e3.reason),
      /^\{timeout,\{'Elixir.GenServer',call,\[<.*>,never,50\]\}\}$/,
    );
    // calling_self
    assert.equal(
      await GenServer.call(p2, atom("call_self")),
      atom("calling_self"),
    );
    // {nodedown, Node}
    const e4 = await GenServer.call(["x", "ghost@localhost"], atom("x"), 2000)
      .then(unexpected, caught);
    assert.equal(formatTerm(e4.callReason), "{nodedown,ghost@localhost}");
    // The server dies during the call: its reason.
    const e5 = await GenServer.call(p2, atom("crash"))
      .then(unexpected, caught);
    assert.ok(e5 instanceof GenServerCallError);
    assert.match(String(formatTerm(e5.callReason)), /stack crashed on purpose/);
    assert.equal(a.isAlive(p2), false);
    // Bad timeouts and servers are refused at the call.
    await assert.rejects(GenServer.call("x", 1, -1), RangeError);
    await assert.rejects(
      GenServer.call(42 as never, 1),
      /a server is a Pid, a registered name/,
    );
  });

  test("deferred replies, async callbacks, order of messages", async () => {
    const pid = await GenServer.start(a, Stack, []);
    assert.equal(await GenServer.call(pid, atom("later")), atom("later_reply"));
    // A reply made during the callback by any means arrives (the call is
    // served directly here, and through messages from another node).
    assert.equal(
      await GenServer.call(pid, atom("node_reply")),
      atom("via_node"),
    );
    assert.equal(await GenServer.call(pid, atom("gen_reply")), atom("via_gen"));
    // While an async call is pending, casts wait their turn.
    const slow = GenServer.call(pid, tuple(atom("slow"), 30));
    GenServer.cast(pid, "after-slow");
    assert.deepEqual(await GenServer.call(pid, atom("state")), ["after-slow"]);
    assert.equal(await slow, atom("slow_done"));
    // Many concurrent callers, each gets its own reply.
    const many = await Promise.all(
      Array.from(
        { length: 200 },
        (_, i) =>
          new Promise((resolve) =>
            spawn(async () => {
              GenServer.cast(pid, i);
              resolve(await GenServer.call(pid, atom("pop")));
            })
          ),
      ),
    );
    assert.equal(many.length, 200);
    assert.equal(new Set(many).size, 200);
    // {stop, reason, reply}
    assert.equal(await GenServer.call(pid, atom("stop")), atom("stopping"));
    await eventually("stopped", () => !a.isAlive(pid));
  });

  test("continue, timeout, handleInfo, terminate", async () => {
    const events: unknown[] = [];
    const impl: GenServerImpl<number, number> = {
      init: (n) => ({ ok: true, state: n, continue: "boot" }),
      handleContinue(arg, n) {
        events.push(["continue", arg, n]);
        return { noreply: true, state: n + 1 };
      },
      handleCall(req, _from, n) {
        if (req === atom("arm")) return { reply: n, state: n, timeout: 20 };
        return { reply: n, state: n };
      },
      handleInfo(m, n) {
        events.push(["info", m]);
        return { noreply: true, state: n };
      },
      terminate(reason, n) {
        events.push(["terminate", reason, n]);
      },
    };
    const pid = await GenServer.start(a, impl, 41);
    assert.equal(await GenServer.call(pid, atom("get")), 42);
    assert.deepEqual(events, [["continue", "boot", 41]]);
    await GenServer.call(pid, atom("arm"));
    await eventually("timeout", () => events.length === 2);
    assert.deepEqual(events[1], ["info", atom("timeout")]);
    // A message before the timeout cancels it.
    await GenServer.call(pid, atom("arm"));
    send(pid, "hello");
    await sleep(60);
    assert.deepEqual(events.slice(2), [["info", "hello"]]);
    await GenServer.stop(pid, "shutdown");
    assert.deepEqual(events[3], ["terminate", atom("shutdown"), 42]);
  });

  test("start failures reject with the reason; a linked caller lives on", async () => {
    const crashes = errors().length;
    await GenServer.start(a, Stack, [], { name: "taken" });
    const e1 = await GenServer.start(a, Stack, [], { name: "taken" })
      .then(unexpected, caught);
    assert.ok(e1 instanceof GenServerStartError);
    assert.match(formatTerm(e1.reason), /^\{already_started,<.*>\}$/);
    await GenServer.stop("taken");
    const caller = spawn(async () => {
      const r1 = await GenServer.startLink(a, {
        init: () => ({ ignore: true as const }),
      }, 0).then(unexpected, (e) => caught(e).reason);
      const r2 = await GenServer.startLink(a, {
        init: () => ({ stop: atom("no_way") }),
      }, 0).then(unexpected, (e) => caught(e).reason);
      const r3 = await GenServer.startLink(a, {
        init: () => {
          throw new Error("init blew up");
        },
      }, 0).then(unexpected, (e) => caught(e).reason);
      const r4 = await GenServer.startLink(
        a,
        {
          init: () => sleep(1000).then(() => ({ ok: true as const, state: 0 })),
        },
        0,
        { timeout: 30 },
      ).then(unexpected, (e) => caught(e).reason);
      send(a.shell.pid, tuple(atom("results"), [r1, r2, r3, r4]));
      await receive();
    });
    const m = await receive((m) => m instanceof Tuple, 3000) as Tuple;
    const [r1, r2, r3, r4] = m[1] as unknown[];
    assert.equal(r1, atom("ignore"));
    assert.equal(r2, atom("no_way"));
    assert.match(formatTerm(r3), /init blew up/);
    assert.equal(r4, atom("timeout"));
    assert.ok(a.isAlive(caller), "the linked caller was not taken down");
    a.exit(caller, atom("kill"));
    // no_way and the throw each made one report (the caller does not trap).
    assert.equal(errors().length - crashes, 2);
    await assert.rejects(
      GenServer.start(a, {} as never, 0),
      /at least init/,
    );
  });

  test("sys: get_state, replace_state, suspend, resume, get_status, bad messages", async () => {
    const pid = await GenServer.start(a, Stack, [7], { name: "sysd" });
    const sys = (req: unknown) =>
      a.genCallFrom(a.current(), pid, req, 1000, { tag: atom("system") });
    // Callers on this node get OTP 26.1+'s {ok, State}.
    assert.deepEqual(await sys(atom("get_state")), tuple(atom("ok"), [7]));
    assert.deepEqual(
      await sys(tuple(atom("replace_state"), (s: unknown[]) => [...s, 8])),
      tuple(atom("ok"), [7, 8]),
    );
    assert.equal(await sys(atom("suspend")), atom("ok"));
    GenServer.cast(pid, "queued");
    const pending = GenServer.call(pid, atom("state"));
    await sleep(20);
    assert.deepEqual(await sys(atom("get_state")), tuple(atom("ok"), [7, 8]));
    const status = await sys(atom("get_status")) as Tuple;
    assert.equal(status[0], atom("status"));
    assert.match(formatTerm(status), /suspended/);
    assert.match(formatTerm(status), /"Status for generic server sysd"/);
    assert.equal(await sys(atom("resume")), atom("ok"));
    assert.deepEqual(await pending, ["queued", 7, 8]);
    assert.match(
      formatTerm(await sys(atom("bogus"))),
      /^\{error,\{unknown_system_msg,bogus\}\}$/,
    );
    // Hostile messages: a call without {Pid, Tag} is dropped, the server lives.
    send(pid, tuple(atom("$gen_call"), "not a from", atom("state")));
    send(pid, tuple(atom("system"), 42, atom("get_state")));
    assert.deepEqual(await GenServer.call(pid, atom("state")), [
      "queued",
      7,
      8,
    ]);
    await GenServer.stop(pid);
  });

  test("stop: noproc, another reason, a timeout", async () => {
    const e1 = await GenServer.stop("nobody")
      .then(unexpected, caught);
    assert.equal(
      formatTerm(e1.reason),
      "{noproc,{'Elixir.GenServer',stop,[nobody,normal,infinity]}}",
    );
    const pid = await GenServer.start(a, {
      init: () => ({ ok: true as const, state: 0 }),
      terminate: () => sleep(200),
    }, 0);
    const e2 = await GenServer.stop(pid, "normal", 30)
      .then(unexpected, caught);
    assert.equal(e2.callReason, atom("timeout"));
  });

  test("a crash logs one report, with the last message and the state", async () => {
    logs.length = 0;
    const pid = await GenServer.start(a, Stack, ["s"], { name: "crashy" });
    await GenServer.call(pid, atom("crash")).catch(() => {});
    await eventually("report", () => errors().length === 1);
    await sleep(20);
    assert.equal(errors().length, 1);
    const r = errors()[0].message;
    assert.match(r, /GenServer crashy \(Elixir.Stack\) terminating/);
    assert.match(r, /\*\* \(TypeError\) stack crashed on purpose/);
    assert.match(
      r,
      /Last message \(from #PID<gsa@localhost\.\d+\.\d+>\): crash/,
    );
    assert.match(r, /State: \[<<"s">>\]/);
    // A normal stop, or {stop, shutdown}, reports nothing.
    const p2 = await GenServer.start(a, Stack, []);
    await GenServer.call(p2, atom("stop"));
    await GenServer.stop(await GenServer.start(a, Stack, []), "shutdown");
    await sleep(20);
    assert.equal(errors().length, 1);
    // A bad return value crashes the server with a clear reason.
    const p3 = await GenServer.start(a, Stack, []);
    const e = await GenServer.call(p3, atom("bad"))
      .then(unexpected, caught);
    assert.match(formatTerm(e.callReason), /bad return value from handleCall/);
    assert.equal(errors().length, 2);
  });

  test("a parent that traps exits takes the crash: no report, an EXIT; its exit stops the server", async () => {
    logs.length = 0;
    const terminated: unknown[] = [];
    const Child: GenServerImpl<number, number> = {
      init(n) {
        trapExit(true);
        return { ok: true, state: n };
      },
      handleCall(req, _from, n) {
        if (req === atom("crash")) throw new Error("child crash");
        return { reply: n, state: n };
      },
      terminate: (reason) => void terminated.push(reason),
    };
    const top = a.shell.pid;
    spawn(async () => {
      trapExit(true);
      const child = await GenServer.startLink(a, Child, 1);
      GenServer.call(child, atom("crash")).catch(() => {});
      const exit = await receive(
        (m) => m instanceof Tuple && m[0] === atom("EXIT"),
        2000,
      );
      send(top, tuple(atom("parent_saw"), exit));
      // Now the parent's own exit stops a second child, through terminate.
      const child2 = await GenServer.startLink(a, Child, 2);
      send(top, tuple(atom("child2"), child2));
      await receive(() => false, 20).catch(() => {});
      throw new ExitError(atom("parent_done"));
    });
    const saw = await receive(
      (m) => m instanceof Tuple && m[0] === atom("parent_saw"),
      3000,
    ) as Tuple;
    assert.match(formatTerm(saw[1]), /child crash/);
    const c2 = (await receive(
      (m) => m instanceof Tuple && m[0] === atom("child2"),
      3000,
    ) as Tuple)[1] as Pid;
    await eventually("child2 stopped", () => !a.isAlive(c2));
    assert.equal(terminated.length, 2);
    assert.equal(terminated[1], atom("parent_done"));
    // The crash went to the trapping parent; parent_done is the parent's own exit.
    assert.deepEqual(errors().filter((l) => /child crash/.test(l.message)), []);
  });

  test("under a Supervisor: a crash restarts the server; one crash report, one restart", async () => {
    const sup = await Supervisor.start(a, [
      GenServer.childSpec(Stack, [0], { name: "supervised_stack" }),
    ], { name: "Elixir.StackSup" });
    const first = a.whereis("supervised_stack")!;
    logs.length = 0;
    await GenServer.call("supervised_stack", atom("crash")).catch(() => {});
    await eventually(
      "restarted",
      () => {
        const p = a.whereis("supervised_stack");
        return p !== undefined && !p.equals(first);
      },
    );
    assert.deepEqual(await GenServer.call("supervised_stack", atom("state")), [
      0,
    ]);
    await sleep(20);
    // The supervisor's report carries the server's own (last message, state).
    assert.equal(errors().length, 1, JSON.stringify(logs));
    const r = errors()[0].message;
    assert.match(
      r,
      /^Child supervised_stack of Supervisor Elixir\.StackSup terminated \(#PID<gsa@localhost\.\d+\.\d+>\), restart: permanent\nGenServer supervised_stack \(Elixir\.Stack\) terminating/,
    );
    assert.match(r, /\*\* \(TypeError\) stack crashed on purpose/);
    assert.match(r, /Last message \(from #PID<.*>\): crash\nState: \[0\]/);
    const infos = logs.filter((l) => l.level === "info");
    assert.equal(infos.length, 1);
    assert.match(
      infos[0].message,
      /^Child supervised_stack of Supervisor Elixir\.StackSup restarted as #PID<gsa@localhost\.\d+\.\d+>$/,
    );
    const [child] = await Supervisor.whichChildren(sup);
    assert.equal(child.id, "supervised_stack");
    assert.deepEqual(child.modules, ["Elixir.Stack"]);
    await Supervisor.stop(sup);
    assert.equal(a.whereis("supervised_stack"), undefined);
  });

  test("a call racing the server's death settles (a reply, or the exit)", async () => {
    for (let i = 0; i < 20; i++) {
      const pid = await GenServer.start(a, Stack, [1]);
      const call = GenServer.call(pid, atom("pop"), 1000);
      a.exit(pid, atom("kill"));
      const r = await call.then(
        (v) => ["reply", v],
        (e: GenServerCallError) => ["exit", e.callReason],
      );
      assert.ok(
        (r[0] === "reply" && r[1] === 1) ||
          (r[0] === "exit" &&
            (r[1] === atom("killed") || r[1] === atom("noproc"))),
        `settled with ${formatTerm(r)}`,
      );
    }
  });

  test("re-entrant casts between servers keep each server sequential", async () => {
    const Ping: GenServerImpl<unknown[], string> = {
      init: (peer) => ({ ok: true, state: [peer] }),
      handleCast(m, state) {
        const [peer, ...seen] = state;
        if (typeof m === "number" && m > 0) {
          GenServer.cast(peer as string, m - 1);
        }
        return { noreply: true, state: [peer, ...seen, m] };
      },
      handleCall: (_r, _f, state) => ({ reply: state.slice(1), state }),
    };
    await GenServer.start(a, Ping, "pong_srv", { name: "ping_srv" });
    await GenServer.start(a, Ping, "ping_srv", { name: "pong_srv" });
    GenServer.cast("ping_srv", 6);
    await sleep(10);
    assert.deepEqual(await GenServer.call("ping_srv", atom("seen")), [
      6,
      4,
      2,
      0,
    ]);
    assert.deepEqual(await GenServer.call("pong_srv", atom("seen")), [5, 3, 1]);
    await GenServer.stop("ping_srv");
    await GenServer.stop("pong_srv");
  });
});

describe("GenServer across nodes", () => {
  test("call and cast by pid and by [name, node]; errors name the node", async () => {
    const pid = await GenServer.start(b, Stack, [1], { name: "remote_stack" });
    assert.equal(await GenServer.call(pid, atom("pop")), 1);
    GenServer.cast(["remote_stack", "gsb@localhost"], "r");
    assert.deepEqual(
      await GenServer.call(["remote_stack", "gsb@localhost"], atom("state")),
      ["r"],
    );
    assert.equal(
      await GenServer.call(["remote_stack", "gsb@localhost"], atom("later")),
      atom("later_reply"),
    );
    assert.equal(
      await GenServer.call(
        ["remote_stack", "gsb@localhost"],
        atom("node_reply"),
      ),
      atom("via_node"),
    );
    const e = await GenServer.call(["nobody", "gsb@localhost"], atom("x"))
      .then(unexpected, caught);
    assert.equal(
      formatTerm(e.reason),
      "{noproc,{'Elixir.GenServer',call,[{nobody,gsb@localhost},x,5000]}}",
    );
    const e2 = await GenServer.call(pid, atom("never"), 50)
      .then(unexpected, caught);
    assert.equal(e2.callReason, atom("timeout"));
    await GenServer.stop(["remote_stack", "gsb@localhost"]);
  });

  test("{global, name} goes through the installed registry", async () => {
    const names = new Map<string, Pid>();
    const reg: GlobalNameRegistry = {
      whereis: (_n, name) => names.get(String(name)),
      register: (_n, name, pid) => {
        if (names.has(String(name))) return false;
        names.set(String(name), pid);
        return true;
      },
    };
    const g = tuple(atom("global"), atom("gstack"));
    setGlobalNameRegistry(undefined);
    await assert.rejects(
      GenServer.start(a, Stack, [], { name: g }),
      /needs a global name registry/,
    );
    setGlobalNameRegistry(reg);
    try {
      const pid = await GenServer.start(a, Stack, [5], { name: g });
      assert.equal(names.get("gstack"), pid);
      assert.equal(await GenServer.call(g, atom("pop")), 5);
      const e = await GenServer.start(a, Stack, [], { name: g }).then(
        unexpected,
        caught,
      );
      assert.match(formatTerm(e.reason), /already_started/);
      await GenServer.stop(g);
      names.delete("gstack");
      const e2 = await GenServer.call(g, atom("pop"))
        .then(unexpected, caught);
      assert.equal(
        formatTerm(e2.reason),
        "{noproc,{'Elixir.GenServer',call,[{global,gstack},pop,5000]}}",
      );
    } finally {
      setGlobalNameRegistry(noderlGlobalNames);
    }
  });

  test("{global, name} with noderl's global: registered cluster-wide, gone when the server ends", async () => {
    const g = tuple(atom("global"), tuple(atom("stack"), "any term"));
    // As global:sync() after connecting: both nodes know each other.
    await syncGlobal(undefined, { node: a });
    await syncGlobal(undefined, { node: b });
    const pid = await GenServer.start(a, Stack, [1, 2], { name: g });
    // From the other node, by the global name (global synced the name).
    const fromB = await new Promise((resolve, reject) =>
      b.spawn(async () => {
        try {
          resolve(await GenServer.call(g, atom("pop")));
        } catch (e) {
          reject(e);
        }
      })
    );
    assert.equal(fromB, 1);
    const e = await GenServer.start(b, Stack, [], { name: g }).then(
      unexpected,
      caught,
    );
    assert.equal(
      formatTerm(e.reason),
      `{already_started,${formatTerm(pid)}}`,
    );
    GenServer.cast(g, "cast");
    assert.deepEqual(await GenServer.call(g, atom("state")), ["cast", 2]);
    await GenServer.stop(g);
    await eventually(
      "unregistered",
      () => whereisGlobal(g[1], a) === undefined,
    );
    const e2 = await GenServer.call(g, atom("pop")).then(unexpected, caught);
    assert.equal(e2.callReason, atom("noproc"));
  });
});

/** Keeps From used (for the type import). */
export type _From = From;
