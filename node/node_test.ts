import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect as tcpConnect } from "node:net";
import { startRegistry } from "./registry.ts";
import { type Node, startNode } from "./node.ts";
import {
  ExitError,
  NoConnectionError,
  RemoteError,
  TimeoutError,
} from "./errors.ts";
import {
  demonitor,
  exit,
  flush,
  genCall,
  link,
  monitor,
  puts,
  receive,
  register,
  reply,
  self,
  send,
  spawn,
  spawnLink,
  trapExit,
  whereis,
} from "./process_api.ts";
import { atom, Pid, Ref, Tuple, tuple } from "./terms.ts";
import { Secret } from "./_secret.ts";

const isTuple = (m: unknown, tag: string) =>
  m instanceof Tuple && m[0] === atom(tag);

test("startNode refuses bad names with a clear error", async () => {
  await assert.rejects(startNode({ cookie: "c" }), /needs a name/);
  await assert.rejects(
    startNode({ name: "alex", cookie: "c" }),
    /full node name/,
  );
  await assert.rejects(
    startNode({ name: "al ex@localhost", cookie: "c" }),
    /invalid node name/,
  );
  await assert.rejects(
    startNode({ sname: "a@b.c", cookie: "c" }),
    /dotted host/,
  );
  await assert.rejects(
    startNode({ name: "a@b", sname: "a", cookie: "c" }),
    /either name or sname/,
  );
  await assert.rejects(
    startNode({ name: "a@localhost", cookie: "" }),
    /must not be empty/,
  );
});

test("startNode refuses out-of-range options with a RangeError", async () => {
  for (
    const bad of [
      { port: 70000 },
      { registryPort: 0 },
      { tickTime: -1 },
      { connectTimeoutMs: Number.NaN },
      { maxPacketSize: 10 },
    ]
  ) {
    await assert.rejects(
      startNode({ name: "a@localhost", cookie: "c", ...bad }),
      (e: unknown) =>
        e instanceof RangeError &&
        e.message.includes(Object.keys(bad)[0]) &&
        /must be/.test(e.message),
    );
  }
});

test("startNode says how to fix an unreachable registry", async () => {
  await assert.rejects(
    startNode({
      name: "lonely@localhost",
      cookie: "c",
      registryPort: 1,
      connectTimeoutMs: 2000,
    }),
    /registry/,
  );
});

describe("two nodes in one OS process", () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let alex: Node, kate: Node;
  const alexOut: string[] = [];
  const kateOut: string[] = [];
  const logs: string[] = [];

  before(async () => {
    registry = await startRegistry({ port: 0 });
    alex = await startNode({
      name: "alex@localhost",
      cookie: "secret",
      registryPort: registry.port,
      stdout: (t) => alexOut.push(t),
      log: (m) => logs.push(m),
    });
    kate = await startNode({
      name: "kate@localhost",
      cookie: "secret",
      registryPort: registry.port,
      stdout: (t) => kateOut.push(t),
      log: (m) => logs.push(m),
    });
    kate.defineModule("Kate", {
      say_name: () => puts("Hi, my name is Kate"),
      add: (a: number, b: number) => a + b,
      boom: () => {
        throw new TypeError("kate exploded");
      },
      // The seed's {:hi, pid} -> :sup? exchange, as a module function.
      wait_hi: async () => {
        const m = await receive((m) => isTuple(m, "hi")) as Tuple;
        send(m[1] as Pid, atom("sup?"));
      },
      sleep: (ms: number) => new Promise((r) => setTimeout(r, ms)),
      // Checks the burst of the 30 MB test: counts messages that are out of
      // order or whose bytes differ from the pattern they were sent with.
      check: async (count: number, reply: Pid) => {
        let bad = 0, next = 0;
        while (next < count) {
          const [i, body] = await receive() as Tuple;
          if (typeof body === "string") {
            if (body !== `small ${i}`) bad++;
            continue;
          }
          const b = body as Uint8Array;
          if (i !== next || b.length !== (next * 7919) % 40_000 + 1) bad++;
          for (let k = 0; k < b.length; k++) {
            const want = k === 0 ? 0xff : k % 97 === 0 ? (next + k) & 0xff : 0;
            if (b[k] !== want) {
              bad++;
              break;
            }
          }
          next++;
        }
        send(reply, tuple(atom("checked"), count, bad));
      },
    });
  });

  after(async () => {
    await alex.stop();
    await kate.stop();
    await registry.close();
  });

  test("names, ports and creation", () => {
    assert.equal(alex.name, "alex@localhost");
    assert.ok(alex.port > 0);
    assert.ok(alex.creation > 0);
    assert.equal(self().node, "alex@localhost"); // alex is the default node
  });

  test("local spawn, send and selective receive", async () => {
    const pid = spawn(async () => {
      const first = await receive((m) => m === 2);
      const second = await receive();
      send(tuple(atom("result"), first, second) as never, 0); // bad destination throws
    });
    const watcher = monitor(pid);
    send(pid, 1);
    send(pid, 2);
    const down = await receive((m) => isTuple(m, "DOWN"), 2000) as Tuple;
    assert.equal(down[1] instanceof Ref && down[1].equals(watcher), true);
    // The process threw (a tuple is not a destination): the reason carries the error.
    assert.match(
      String(
        ((down[4] as Tuple)[0] as Map<unknown, unknown>).get(atom("message")),
      ),
      /cannot send/,
    );
  });

  test("30 MB of mixed-size messages in one burst arrive whole and in order", async () => {
    // Send buffers are recycled once their socket writes complete; a buffer
    // reused too early would corrupt messages still in flight.
    const me = self();
    const count = 1500;
    const sink = await alex.spawnRemote("kate@localhost", "Kate", "check", [
      count,
      me,
    ]).catch(() => undefined);
    assert.ok(sink, "Kate.check is defined");
    for (let i = 0; i < count; i++) {
      const size = (i * 7919) % 40_000 + 1;
      const bytes = new Uint8Array(size);
      for (let k = 97; k < size; k += 97) bytes[k] = (i + k) & 0xff;
      bytes[0] = 0xff; // never UTF-8: stays a binary (not a string) on arrival
      send(sink, tuple(i, bytes));
      if (i % 200 === 0) send(sink, tuple(i, `small ${i}`)); // interleaved
    }
    const result = await receive((m) => isTuple(m, "checked"), 30_000);
    assert.deepEqual(result, tuple(atom("checked"), count, 0));
  });

  test("concurrent receives in one process each get their match", async () => {
    const me = self();
    const [a, b, c] = await Promise.all([
      receive((m) => m === "a", 1000),
      receive((m) => m === "b", 1000),
      receive(undefined, 1000),
      Promise.resolve().then(() => {
        send(me, "b");
        send(me, "x");
        send(me, "a");
      }),
    ]);
    assert.deepEqual([a, b, c], ["a", "b", "x"]);
    // A waiter that times out leaves the others waiting.
    const late = receive((m) => m === "late", 1000);
    await assert.rejects(receive((m) => m === "never", 10), TimeoutError);
    send(me, "late");
    assert.equal(await late, "late");
  });

  test("receive times out with a TimeoutError", async () => {
    await assert.rejects(receive((m) => m === "never", 20), TimeoutError);
    await assert.rejects(receive((m) => m === "never", 0), TimeoutError);
  });

  test("{:hi, pid} -> :sup? across nodes (the seed's exchange)", async () => {
    const pid = await alex.spawnLink("kate@localhost", "Kate", "wait_hi", []);
    assert.equal(pid.node, "kate@localhost");
    send(pid, tuple(atom("hi"), self()));
    assert.equal(await receive((m) => m === atom("sup?"), 2000), atom("sup?"));
    assert.deepEqual(alex.nodes(), ["kate@localhost"]);
    assert.deepEqual(kate.nodes(), ["alex@localhost"]);
  });

  test("Kate's say_name runs on kate, prints on alex (group leader)", async () => {
    const before = kateOut.length;
    const pid = await alex.spawnLink("kate@localhost", "Kate", "say_name", []);
    const deadline = Date.now() + 2000;
    while (
      !alexOut.includes("Hi, my name is Kate\n") && Date.now() < deadline
    ) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.ok(
      alexOut.includes("Hi, my name is Kate\n"),
      `alex printed ${JSON.stringify(alexOut)}`,
    );
    assert.equal(kateOut.length, before, "nothing printed on kate");
    assert.equal(pid.node, "kate@localhost");
  });

  test("rpc call: result, undef, remote throw, timeout", async () => {
    assert.equal(await alex.call("kate@localhost", "Kate", "add", [2, 3]), 5);
    assert.equal(
      await alex.call("kate@localhost", "erlang", "node", []),
      atom("kate@localhost"),
    );
    await assert.rejects(
      alex.call("kate@localhost", "Kate", "nope", []),
      (e: unknown) =>
        e instanceof RemoteError && e.kind === "error" &&
        e.reason === atom("undef"),
    );
    await assert.rejects(
      alex.call("kate@localhost", "Kate", "boom", []),
      (e: unknown) =>
        e instanceof RemoteError && /kate exploded/.test(e.message),
    );
    await assert.rejects(
      alex.call("kate@localhost", "Kate", "sleep", [500], 50),
      TimeoutError,
    );
    // Calling the local node works the same way.
    assert.equal(await kate.call("kate@localhost", "Kate", "add", [1, 1]), 2);
  });

  test("send to a registered name, locally and as [name, node]", async () => {
    const got: unknown[] = [];
    const pid = kate.spawn(async () => {
      for (;;) {
        const m = await receive() as Tuple;
        got.push(m[1]);
        send(m[0] as Pid, tuple(atom("ack"), m[1]));
      }
    });
    kate.register("echo", pid);
    assert.ok(kate.whereis("echo")?.equals(pid));
    send(["echo", "kate@localhost"], tuple(self(), "hello"));
    const ack = await receive((m) => isTuple(m, "ack"), 2000) as Tuple;
    assert.equal(ack[1], "hello");
    assert.throws(() => kate.register("echo", kate.spawn(() => {})), /taken/);
    kate.exit(pid, atom("kill"));
    assert.equal(kate.whereis("echo"), undefined);
  });

  test("links: a remote crash reaches a trapping process as EXIT", async () => {
    const watcher = alex.spawn(async () => {
      trapExit(true);
      const pid = await alex.spawnLink("kate@localhost", "Kate", "boom", []);
      const m = await receive((m) => isTuple(m, "EXIT"), 2000) as Tuple;
      send(alex.shell.pid, tuple(atom("saw"), m[1], m[2]));
      assert.ok((m[1] as Pid).equals(pid));
    });
    const saw = await receive((m) => isTuple(m, "saw"), 3000) as Tuple;
    assert.equal((saw[1] as Pid).node, "kate@localhost");
    assert.match(
      JSON.stringify(
        String(
          ((saw[2] as Tuple)[0] as Map<unknown, unknown>).get(atom("message")),
        ),
      ),
      /kate exploded/,
    );
    assert.ok(watcher);
  });

  test("links: a crash kills a linked process that does not trap", async () => {
    const victim = alex.spawn(() => receive());
    const ref = monitor(victim);
    const pid = await alex.spawnRemote("kate@localhost", "Kate", "sleep", [10]);
    alex.spawn(() => {
      link(victim);
      exit(atom("bad_thing"));
    });
    const down = await receive(
      (m) =>
        isTuple(m, "DOWN") && (m as Tuple)[1] instanceof Ref &&
        ((m as Tuple)[1] as Ref).equals(ref),
      2000,
    ) as Tuple;
    assert.equal(down[4], atom("bad_thing"));
    assert.ok(pid);
  });

  test("monitors: DOWN with the reason, noproc for dead pids, demonitor", async () => {
    const pid = await alex.spawnRemote("kate@localhost", "Kate", "sleep", [20]);
    const ref = monitor(pid);
    const down = await receive((m) => isTuple(m, "DOWN"), 2000) as Tuple;
    assert.ok((down[1] as Ref).equals(ref));
    assert.equal(down[4], atom("normal"));
    const again = monitor(pid);
    const noproc = await receive((m) => isTuple(m, "DOWN"), 2000) as Tuple;
    assert.ok((noproc[1] as Ref).equals(again));
    assert.equal(noproc[4], atom("noproc"));
    const local = spawn(() => receive());
    const r = monitor(local);
    assert.equal(demonitor(r), true);
    exit(local, atom("kill"));
    await assert.rejects(receive((m) => isTuple(m, "DOWN"), 50), TimeoutError);
    const byName = monitor(["no_such_name", "kate@localhost"]);
    const d = await receive((m) => isTuple(m, "DOWN"), 2000) as Tuple;
    assert.ok((d[1] as Ref).equals(byName));
    assert.deepEqual(d[3], tuple(atom("no_such_name"), atom("kate@localhost")));
    assert.equal(d[4], atom("noproc"));
  });

  test("GenServer-style call both ways", async () => {
    const server = kate.spawn(async () => {
      for (;;) {
        const m = await receive() as Tuple;
        if (isTuple(m, "$gen_call")) reply(m[1], tuple(atom("ok"), m[2]));
      }
    });
    kate.register("kv", server);
    assert.deepEqual(
      await genCall(["kv", "kate@localhost"], "ping"),
      tuple(atom("ok"), "ping"),
    );
    assert.deepEqual(await genCall(server, 42), tuple(atom("ok"), 42));
    await assert.rejects(
      genCall(["nobody", "kate@localhost"], 1, 1000),
      (e: unknown) => e instanceof ExitError && e.reason === atom("noproc"),
    );
    // Calls never touch the caller's mailbox, and leave nothing behind.
    const calls = await Promise.all(
      Array.from({ length: 50 }, (_, i) => genCall(server, i)),
    );
    assert.deepEqual(
      calls,
      Array.from({ length: 50 }, (_, i) => tuple(atom("ok"), i)),
    );
    assert.equal(alex.calls.size, 0);
    // A process that calls itself is told so at once instead of hanging.
    const selfCall = await new Promise<unknown>((resolve) => {
      kate.spawn(async () => {
        kate.register("selfish", self());
        try {
          await genCall("selfish", 1, 1000);
          resolve("no error");
        } catch (e) {
          resolve(e);
        }
      });
    });
    assert.ok(
      selfCall instanceof ExitError &&
        selfCall.reason === atom("calling_self") &&
        /cannot call itself/.test(selfCall.message),
    );
  });

  test("exit signals: kill is untrappable, normal is ignored", async () => {
    const trapper = spawn(async () => {
      trapExit(true);
      await receive((m) => m === "never");
    });
    const ref = monitor(trapper);
    exit(trapper, atom("normal"));
    exit(trapper, atom("kill"));
    const down = await receive((m) => isTuple(m, "DOWN"), 2000) as Tuple;
    assert.ok((down[1] as Ref).equals(ref));
    assert.equal(down[4], atom("killed"));
    assert.equal(whereis("nobody"), undefined);
    flush();
  });

  test("register and whereis through the free functions", async () => {
    const pid = spawn(() => receive());
    register("worker", pid);
    assert.ok(whereis("worker")?.equals(pid));
    exit(pid, atom("kill"));
    await new Promise((r) => setImmediate(r));
    assert.equal(whereis("worker"), undefined);
  });

  test("spawnLink of a local function links the caller", async () => {
    const parent = spawn(async () => {
      trapExit(true);
      spawnLink(() => exit(atom("child_died")));
      const m = await receive((m) => isTuple(m, "EXIT"), 2000) as Tuple;
      send(alex.shell.pid, tuple(atom("parent_saw"), m[2]));
    });
    const m = await receive((m) => isTuple(m, "parent_saw"), 2000) as Tuple;
    assert.equal(m[1], atom("child_died"));
    assert.ok(parent);
  });

  test("garbage on the distribution port drops that connection only", async () => {
    for (
      const junk of [
        new Uint8Array([1, 2, 3]),
        new Uint8Array([0, 5, 78, 0, 0, 0, 0]),
        new Uint8Array([0xff, 0xff, ...new Uint8Array(100)]),
        new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"),
      ]
    ) {
      await new Promise<void>((resolve) => {
        const s = tcpConnect(kate.port, "127.0.0.1", () => {
          s.write(junk);
          setTimeout(() => s.destroy(), 20);
        });
        s.on("error", () => {});
        s.on("close", () => resolve());
      });
    }
    assert.equal(
      await alex.call("kate@localhost", "Kate", "add", [20, 22]),
      42,
    );
  });
});

describe("connections that fail", () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  before(async () => {
    registry = await startRegistry({ port: 0 });
  });
  after(async () => {
    await registry.close();
  });

  test("a wrong cookie is refused on both sides, naming the peer", async () => {
    const logsA: string[] = [], logsB: string[] = [];
    const a = await startNode({
      name: "a1@localhost",
      cookie: "one",
      registryPort: registry.port,
      log: (m) => logsA.push(m),
    });
    const b = await startNode({
      name: "b1@localhost",
      cookie: "two",
      registryPort: registry.port,
      log: (m) => logsB.push(m),
    });
    try {
      const t0 = performance.now();
      assert.equal(await a.connect("b1@localhost"), false);
      const ms = performance.now() - t0;
      assert.ok(ms < 500, `refused in ${ms.toFixed(1)} ms`);
      await new Promise((r) => setTimeout(r, 20));
      assert.match(logsA.join("\n"), /b1@localhost.*cookies differ/);
      assert.match(logsB.join("\n"), /a1@localhost.*wrong cookie/);
      assert.ok(
        !logsA.join("\n").includes("two") && !logsB.join("\n").includes("one"),
        "the cookie is never logged",
      );
      await assert.rejects(
        a.call("b1@localhost", "erlang", "node", []),
        /cookies differ/,
      );
      assert.deepEqual(a.nodes(), []);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  test("unknown nodes and stopped nodes: noconnection, DOWN, EXIT, nodedown", async () => {
    const a = await startNode({
      name: "a2@localhost",
      cookie: "c",
      registryPort: registry.port,
      log: () => {},
    });
    const b = await startNode({
      name: "b2@localhost",
      cookie: "c",
      registryPort: registry.port,
      log: () => {},
    });
    try {
      await assert.rejects(
        a.call("ghost@localhost", "erlang", "node", []),
        NoConnectionError,
      );
      assert.equal(await a.connect("ghost@localhost"), false);
      b.defineModule("M", { wait: () => receive() });
      const linked = await a.spawnLink("b2@localhost", "M", "wait", []);
      const mon = await a.spawnRemote("b2@localhost", "M", "wait", []);
      const results = new Promise<unknown[]>((resolve) => {
        a.spawn(async () => {
          trapExit(true);
          link(linked);
          const ref = monitor(mon);
          const down = await receive((m) => isTuple(m, "DOWN"), 3000) as Tuple;
          const ex = await receive((m) => isTuple(m, "EXIT"), 3000) as Tuple;
          resolve([down[4], ex[2], (down[1] as Ref).equals(ref)]);
        });
      });
      const nodedown = new Promise<string>((r) =>
        a.once("nodedown", (n: string) => r(n))
      );
      await new Promise((r) => setTimeout(r, 20));
      const t0 = performance.now();
      await b.stop();
      assert.equal(await nodedown, "b2@localhost");
      assert.deepEqual(await results, [
        atom("noconnection"),
        atom("noconnection"),
        true,
      ]);
      assert.ok(performance.now() - t0 < 1000);
      assert.deepEqual(a.nodes(), []);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});

describe("ticks and simultaneous connects", () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  before(async () => {
    registry = await startRegistry({ port: 0 });
  });
  after(async () => {
    await registry.close();
  });

  test("idle connections stay up on ticks; a silent peer is declared down", async () => {
    const a = await startNode({
      name: "tick_a@localhost",
      cookie: "c",
      registryPort: registry.port,
      tickTime: 0.4,
      log: () => {},
    });
    const b = await startNode({
      name: "tick_b@localhost",
      cookie: "c",
      registryPort: registry.port,
      tickTime: 0.4,
      log: () => {},
    });
    try {
      assert.equal(await a.connect("tick_b@localhost"), true);
      await new Promise((r) => setTimeout(r, 1200)); // three tick times of silence
      assert.deepEqual(a.nodes(), ["tick_b@localhost"]);
      // A peer that completes the handshake and then says nothing at all.
      const { initiateHandshake } = await import("./handshake.ts");
      const { DFLAG_NODERL } = await import("./_dist.ts");
      const sock = tcpConnect(a.port, "127.0.0.1");
      await new Promise((r) => sock.once("connect", r));
      await initiateHandshake(
        sock,
        {
          name: "mute@localhost",
          creation: 7,
          flags: DFLAG_NODERL,
          cookie: new Secret("c"),
        },
        "tick_a@localhost",
        2000,
      );
      const t0 = performance.now();
      const down = await new Promise<[string, string]>((r) =>
        a.on(
          "nodedown",
          (n: string, why: string) => n === "mute@localhost" && r([n, why]),
        )
      );
      const ms = performance.now() - t0;
      sock.destroy();
      assert.equal(down[1], "net_tick_timeout");
      assert.ok(
        ms > 250 && ms < 2000,
        `declared down after ${ms.toFixed(0)} ms (tick time 400 ms)`,
      );
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  test("packets split anywhere, even byte by byte, and packets of megabytes arrive whole", async () => {
    const a = await startNode({
      name: "split_a@localhost",
      cookie: "c",
      registryPort: registry.port,
      log: () => {},
    });
    try {
      const got: unknown[] = [];
      const sink = a.spawn(async () => {
        for (;;) got.push(await receive());
      });
      a.register("sink", sink);
      const { initiateHandshake } = await import("./handshake.ts");
      const { DFLAG_NODERL } = await import("./_dist.ts");
      const { encode } = await import("./encode.ts");
      const sock = tcpConnect(a.port, "127.0.0.1");
      await new Promise((r) => sock.once("connect", r));
      await initiateHandshake(
        sock,
        {
          name: "raw@localhost",
          creation: 9,
          flags: DFLAG_NODERL,
          cookie: new Secret("c"),
        },
        "split_a@localhost",
        2000,
      );
      const packet = (msg: unknown) => {
        const ctl = encode(
          tuple(6, new Pid("raw@localhost", 1, 0, 9), atom(""), atom("sink")),
        );
        const body = encode(msg);
        const out = new Uint8Array(5 + ctl.length + body.length);
        new DataView(out.buffer).setUint32(0, 1 + ctl.length + body.length);
        out[4] = 112;
        out.set(ctl, 5);
        out.set(body, 5 + ctl.length);
        return out;
      };
      const small = packet(tuple(atom("one"), 1));
      for (const byte of small) {
        sock.write(new Uint8Array([byte]));
        await new Promise((r) => setImmediate(r));
      }
      const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => i * 7);
      const both = new Uint8Array([
        ...packet(tuple(atom("two"), big)),
        ...packet("three"),
      ]);
      for (let i = 0; i < both.length; i += 65_000) {
        sock.write(both.subarray(i, i + 65_000));
      }
      const deadline = Date.now() + 5000;
      while (got.length < 3 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      sock.destroy();
      assert.equal(got.length, 3);
      assert.deepEqual(got[0], tuple(atom("one"), 1));
      assert.deepEqual((got[1] as Tuple)[1], big);
      assert.equal(got[2], "three");
    } finally {
      await a.stop();
    }
  });

  test("simultaneous connects resolve to one connection", async () => {
    for (let round = 0; round < 5; round++) {
      const a = await startNode({
        name: `sim_a${round}@localhost`,
        cookie: "c",
        registryPort: registry.port,
        log: () => {},
      });
      const b = await startNode({
        name: `sim_b${round}@localhost`,
        cookie: "c",
        registryPort: registry.port,
        log: () => {},
      });
      try {
        const [x, y] = await Promise.all([
          a.connect(b.name),
          b.connect(a.name),
        ]);
        assert.equal(x, true);
        assert.equal(y, true);
        assert.deepEqual(a.nodes(), [b.name]);
        assert.deepEqual(b.nodes(), [a.name]);
        assert.equal(await a.call(b.name, "erlang", "node", []), atom(b.name));
        assert.equal(await b.call(a.name, "erlang", "node", []), atom(a.name));
      } finally {
        await a.stop();
        await b.stop();
      }
    }
  });
});
