import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { type Registry, startRegistry } from "./registry.ts";
import {
  listNames,
  lookupNode,
  registerNode,
  type Registration,
  RegistryError,
} from "./registry_client.ts";
import { test as tagged } from "../tests/_tags.ts";
import {
  alive2,
  exchange,
  framed,
  freePort,
  type Held,
  hold,
  latin1,
  noEpmd,
  nonLoopbackAddress,
  startEpmd,
} from "../tests/_registry.ts";

const enc = new TextEncoder();
const bytes = (s: string) => enc.encode(s);
const u32 = (b: Uint8Array, at: number) =>
  ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;

async function withRegistry(
  fn: (r: Registry) => Promise<void>,
  options: Parameters<typeof startRegistry>[0] = {},
): Promise<void> {
  const r = await startRegistry({ port: 0, log: () => {}, ...options });
  try {
    await fn(r);
  } finally {
    await r.close();
  }
}

/** Polls until `check` holds, failing after `ms`. */
async function eventually(
  check: () => boolean | Promise<boolean>,
  ms = 2000,
  what = "condition",
): Promise<number> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > ms) {
      throw new Error(`${what} not reached within ${ms} ms`);
    }
    await sleep(5);
  }
  return Date.now() - t0;
}

/** `p`, or a failure naming `what` after `ms`. */
async function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${what}: not within ${ms} ms`)),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

test("ALIVE2_REQ → ALIVE2_X_RESP: creation never 0 and new on each registration", async () => {
  await withRegistry(async (r) => {
    const a = hold(r.port, framed(alive2("foo", 4660)));
    const reply = await a.waitFor(6);
    assert.equal(reply.length, 6);
    assert.equal(reply[0], 118);
    assert.equal(reply[1], 0);
    const c1 = u32(reply, 2);
    assert.notEqual(c1, 0);
    assert.deepEqual(r.names().map((n) => [n.name, n.port, n.creation]), [[
      "foo",
      4660,
      c1,
    ]]);
    await a.close();
    await eventually(() => r.names().length === 0, 1000, "unregistration");
    const b = hold(r.port, framed(alive2("foo", 4661)));
    const c2 = u32(await b.waitFor(6), 2);
    assert.notEqual(c2, 0);
    assert.notEqual(c2, c1, "a re-registered name gets a new creation");
    await b.close();
    // Through the client too.
    const seen = new Set<number>();
    for (let i = 0; i < 5; i++) {
      const reg = await registerNode("foo", 4662, { port: r.port });
      assert.ok(reg.creation > 0);
      seen.add(reg.creation);
      await reg.close();
    }
    assert.equal(seen.size, 5, "five registrations, five creations");
  });
});

test("a version-5 node gets ALIVE2_RESP with a creation of 1 to 3", async () => {
  await withRegistry(async (r) => {
    const a = hold(r.port, framed(alive2("old", 4660, { high: 5, low: 5 })));
    const reply = await a.waitFor(4);
    assert.equal(reply.length, 4);
    assert.deepEqual([reply[0], reply[1], reply[2]], [121, 0, 0]);
    assert.ok(reply[3] >= 1 && reply[3] <= 3, `creation ${reply[3]}`);
    await a.close();
  });
});

test("PORT_PLEASE2_REQ → PORT2_RESP with every field, or [119, 1] for an unknown name", async () => {
  await withRegistry(async (r) => {
    const extra = new Uint8Array([65, 66, 67, 0, 0]);
    const a = hold(
      r.port,
      framed(alive2("foo", 4711, { nodeType: 72, high: 6, low: 5, extra })),
    );
    await a.waitFor(6);
    const expected = new Uint8Array([
      119,
      0,
      4711 >> 8,
      4711 & 255,
      72,
      0,
      0,
      6,
      0,
      5,
      0,
      3,
      ...bytes("foo"),
      0,
      5,
      ...extra,
    ]);
    const found = await exchange(r.port, framed([122, ...bytes("foo")]));
    assert.deepEqual(found, { data: expected, closed: true, error: undefined });
    // A NUL-terminated name is accepted, as epmd accepts it.
    const nul = await exchange(r.port, framed([122, ...bytes("foo"), 0]));
    assert.deepEqual(nul.data, expected);
    // Slow writers: one byte at a time.
    const slow = hold(r.port, new Uint8Array(0));
    for (const b of framed([122, ...bytes("foo")])) {
      slow.write(new Uint8Array([b]));
      await sleep(20);
    }
    await slow.closed;
    assert.deepEqual(slow.data(), expected);
    const missing = await exchange(r.port, framed([122, ...bytes("nope")]));
    assert.deepEqual(missing, {
      data: new Uint8Array([119, 1]),
      closed: true,
      error: undefined,
    });
    // The client reads the same reply.
    assert.deepEqual(await lookupNode("foo", { port: r.port }), {
      port: 4711,
      highestVersion: 6,
      lowestVersion: 5,
    });
    assert.equal(await lookupNode("nope", { port: r.port }), undefined);
    await a.close();
  });
});

test("unicode names: a one-character emoji and a 201-character (804-byte) name", async () => {
  await withRegistry(async (r) => {
    const short = String.fromCodePoint(0x1f608);
    let long = "";
    for (let i = 0; i <= 200; i++) long += String.fromCodePoint(0x1f600 + i);
    assert.equal(bytes(long).length, 804);
    const a = await registerNode(short, 4711, { port: r.port });
    const b = await registerNode(long, 4712, { port: r.port });
    assert.equal((await lookupNode(short, { port: r.port }))?.port, 4711);
    assert.equal((await lookupNode(long, { port: r.port }))?.port, 4712);
    const raw = await exchange(r.port, framed([122, ...bytes(long)]));
    assert.deepEqual(raw.data.subarray(12, 12 + 804), bytes(long));
    assert.deepEqual(
      new Set((await listNames({ port: r.port })).map((n) => n.name)),
      new Set([short, long]),
    );
    await a.close();
    await b.close();
  });
});

test("malformed names: NUL inside or at the end, empty, 256 characters, bad UTF-8", async () => {
  await withRegistry(async (r) => {
    for (const name of ["foo\0bar", "foobar\0"]) {
      const res = await exchange(r.port, framed(alive2(name, 4711)));
      assert.deepEqual(res, {
        data: new Uint8Array(0),
        closed: true,
        error: undefined,
      }, name);
    }
    const empty = await exchange(r.port, framed(alive2("", 4711)));
    assert.deepEqual(empty.data, new Uint8Array(0));
    assert.ok(empty.closed);
    // Too long or not UTF-8: refused with result 1 (as epmd refuses it).
    for (const nb of [bytes("a".repeat(256)), new Uint8Array([0xff, 0xfe])]) {
      const res = await exchange(
        r.port,
        framed(alive2(nb, 4711, { high: 5, low: 5 })),
      );
      assert.deepEqual(res.data, new Uint8Array([121, 1, 0, 99]));
    }
    for (const body of [[122], [122, 0], [122, 0xc0, 0x80], [122, 97, 0, 98]]) {
      const res = await exchange(r.port, framed(body));
      assert.deepEqual(res.data, new Uint8Array(0), `PORT_PLEASE2 ${body}`);
      assert.ok(res.closed);
    }
    assert.deepEqual(r.names(), []);
    // The client refuses such names before asking.
    await assert.rejects(
      registerNode("a@localhost", 1, { port: r.port }),
      /without its host/,
    );
    await assert.rejects(registerNode("", 1, { port: r.port }), RegistryError);
    await assert.rejects(
      registerNode("a".repeat(256), 1, { port: r.port }),
      /at most 255/,
    );
    await assert.rejects(lookupNode("x\0y", { port: r.port }), /NUL/);
    await assert.rejects(registerNode("ok", 0, { port: r.port }), /1 to 65535/);
  });
});

test("NAMES_REQ → the daemon's port, then `name X at port N` lines, newest first", async () => {
  await withRegistry(async (r) => {
    const empty = await exchange(r.port, framed([110]));
    assert.equal(u32(empty.data, 0), r.port);
    assert.equal(empty.data.length, 4);
    const a = await registerNode("foobar", 1001, { port: r.port });
    const b = await registerNode("foozap", 1002, { port: r.port });
    const res = await exchange(r.port, framed([110]));
    assert.ok(res.closed);
    assert.equal(u32(res.data, 0), r.port);
    assert.equal(
      latin1(res.data.subarray(4)),
      "name foozap at port 1002\nname foobar at port 1001\n",
    );
    assert.deepEqual(await listNames({ port: r.port }), [
      { name: "foozap", port: 1002 },
      { name: "foobar", port: 1001 },
    ]);
    await a.close();
    assert.deepEqual(await listNames({ port: r.port }), [{
      name: "foozap",
      port: 1002,
    }]);
    await b.close();
  });
});

test("a duplicate name is refused while the first holds it, and free again after", async () => {
  await withRegistry(async (r) => {
    const first = await registerNode("foobar", 1001, { port: r.port });
    await assert.rejects(
      registerNode("foobar", 1002, { port: r.port }),
      (e: unknown) =>
        e instanceof RegistryError && /already registered/.test(e.message),
    );
    const raw6 = await exchange(r.port, framed(alive2("foobar", 1003)));
    assert.deepEqual(raw6.data, new Uint8Array([118, 1, 0, 0, 0, 99]));
    const raw5 = await exchange(
      r.port,
      framed(alive2("foobar", 1003, { high: 5, low: 5 })),
    );
    assert.deepEqual(raw5.data, new Uint8Array([121, 1, 0, 99]));
    assert.equal((await lookupNode("foobar", { port: r.port }))?.port, 1001);
    // close() resolves once the registry has dropped the name.
    await first.close();
    const second = await registerNode("foobar", 1004, { port: r.port });
    assert.notEqual(second.creation, first.creation);
    assert.equal((await lookupNode("foobar", { port: r.port }))?.port, 1004);
    await second.close();
  });
});

test("DUMP, KILL and STOP are answered as epmd without -relaxed_command_check answers them", async () => {
  const r = await startRegistry({ port: 0, log: () => {} });
  try {
    const a = await registerNode("foo", 4660, { port: r.port });
    const b = await registerNode("bar", 4661, { port: r.port });
    const aConnId = (await exchange(r.port, framed([100]))).data;
    const dump = latin1(aConnId.subarray(4));
    assert.equal(u32(aConnId, 0), r.port);
    assert.match(
      dump,
      /^active name {5}<bar> at port 4661, fd = \d+\n\0active name {5}<foo> at port 4660, fd = \d+\n\0$/,
    );
    // KILL with live names: "NO", and the daemon keeps running.
    const kill = await exchange(r.port, framed([107]));
    assert.deepEqual(kill, {
      data: bytes("NO"),
      closed: true,
      error: undefined,
    });
    // STOP is refused: the connection closes without a reply.
    const stop = await exchange(r.port, framed([115, ...bytes("foo")]));
    assert.deepEqual(stop, {
      data: new Uint8Array(0),
      closed: true,
      error: undefined,
    });
    assert.equal((await lookupNode("foo", { port: r.port }))?.port, 4660);
    await a.close();
    const after = latin1(
      (await exchange(r.port, framed([100]))).data.subarray(4),
    );
    assert.match(
      after,
      /^active name {5}<bar> at port 4661, fd = \d+\n\0old\/unused name <foo>, port = 4660, fd = \d+ \n\0$/,
    );
    assert.deepEqual((await exchange(r.port, framed([107]))).data, bytes("NO"));
    await b.close();
    // Nothing registered: KILL answers "OK" and the daemon stops.
    const ok = await exchange(r.port, framed([107]));
    assert.deepEqual(ok.data, bytes("OK"));
    await r.closed;
    const refused = await exchange(r.port, framed([110]));
    assert.equal(refused.error, "ECONNREFUSED");
  } finally {
    await r.close();
  }
});

test("relaxed: STOP unregisters another node's name, KILL stops even with live names", async () => {
  const r = await startRegistry({ port: 0, relaxed: true, log: () => {} });
  try {
    const a = await registerNode("foo", 4660, { port: r.port });
    const b = await registerNode("bar", 4661, { port: r.port });
    const stop = await exchange(r.port, framed([115, ...bytes("foo")]));
    assert.deepEqual(stop.data, bytes("STOPPED"));
    await a.closed; // the stopped node's registry connection is closed
    assert.equal(await lookupNode("foo", { port: r.port }), undefined);
    const nope = await exchange(r.port, framed([115, ...bytes("xxx42")]));
    assert.deepEqual(nope.data, bytes("NOEXISTSTOPPED"));
    const empty = await exchange(r.port, framed([115]));
    assert.deepEqual(empty.data, new Uint8Array(0));
    const kill = await exchange(r.port, framed([107]));
    assert.deepEqual(kill.data, bytes("OK"));
    await r.closed;
    await b.closed;
  } finally {
    await r.close();
  }
});

test("lifetime: a registration ends with its connection, is exempt from the packet timeout, and ends on stray data", async () => {
  await withRegistry(async (r) => {
    const a = hold(r.port, framed(alive2("keep", 4660)));
    await a.waitFor(6);
    await sleep(400); // four packet timeouts
    assert.deepEqual(r.names().map((n) => n.name), ["keep"]);
    // Anything more on a registered connection unregisters it (as in epmd).
    a.write(new Uint8Array([0, 1, 110]));
    await a.closed;
    assert.deepEqual(r.names(), []);
    // Closing the connection unregisters at once.
    const reg = await registerNode("gone", 4661, { port: r.port });
    let closedNoticed = false;
    reg.closed.then(() => (closedNoticed = true));
    const t0 = Date.now();
    await reg.close();
    assert.deepEqual(r.names(), []);
    assert.ok(closedNoticed);
    assert.ok(Date.now() - t0 < 1000);
  }, { packetTimeoutMs: 100 });
});

test("the registry going away resolves registration.closed", async () => {
  const r = await startRegistry({ port: 0, log: () => {} });
  const reg = await registerNode("solo", 4660, { port: r.port });
  await r.close();
  await reg.closed;
  await reg.close(); // closing again is harmless
});

test("only loopback may register; lookups and names answer any peer", async (t) => {
  const other = nonLoopbackAddress();
  if (!other) {
    t.skip("this host has no non-loopback IPv4 address");
    return;
  }
  await withRegistry(async (r) => {
    const local = await registerNode("local", 4660, { port: r.port });
    // A peer from a non-loopback address: ALIVE2, DUMP, KILL and STOP close
    // without a reply.
    for (
      const body of [alive2("remote", 4661), [100], [107], [
        115,
        ...bytes("local"),
      ]]
    ) {
      const res = await exchange(r.port, framed(body), { host: other });
      assert.deepEqual(res.data, new Uint8Array(0), `request ${body[0]}`);
      assert.ok(res.closed);
    }
    assert.deepEqual(r.names().map((n) => n.name), ["local"]);
    const look = await exchange(r.port, framed([122, ...bytes("local")]), {
      host: other,
    });
    assert.equal(look.data[0], 119);
    assert.equal(look.data[1], 0);
    assert.equal(
      (await lookupNode("local", { host: other, port: r.port }))?.port,
      4660,
    );
    assert.deepEqual(await listNames({ host: other, port: r.port }), [
      { name: "local", port: 4660 },
    ]);
    await assert.rejects(
      registerNode("remote", 4661, { host: other, port: r.port }),
      /only over loopback/,
    );
    await local.close();
  }, { address: "0.0.0.0" });
});

test("packet timeout: idle and half-sent connections close after it, not before", async () => {
  const timeout = 300;
  await withRegistry(async (r) => {
    const cases: Array<[string, Uint8Array]> = [
      ["no data", new Uint8Array(0)],
      ["one byte", new Uint8Array([0])],
      ["two bytes", new Uint8Array([0, 3])],
      [
        "partial packet",
        new Uint8Array([0, 100, ...bytes("only a few bytes")]),
      ],
    ];
    await Promise.all(cases.map(async ([label, data]) => {
      const t0 = Date.now();
      const res = await exchange(r.port, data, { waitMs: 5000 });
      const took = Date.now() - t0;
      assert.ok(res.closed, `${label}: closed by the daemon`);
      assert.deepEqual(res.data, new Uint8Array(0), label);
      assert.ok(
        took >= timeout - 20,
        `${label}: closed after ${took} ms, before the timeout`,
      );
      assert.ok(took < timeout + 1000, `${label}: closed after ${took} ms`);
    }));
  }, { packetTimeoutMs: timeout });
});

test("zero length and oversized frames close the connection at once", async () => {
  await withRegistry(async (r) => {
    const zero = await exchange(r.port, new Uint8Array(10), { waitMs: 2000 });
    assert.ok(zero.closed);
    assert.deepEqual(zero.data, new Uint8Array(0));
    const big = new Uint8Array(2 + 63000).fill(122);
    big[0] = 63000 >> 8;
    big[1] = 63000 & 255;
    const res = await exchange(r.port, big, { waitMs: 2000 });
    assert.ok(res.closed, "closed before the packet timeout");
    assert.deepEqual(res.data, new Uint8Array(0));
    // Two requests in one write: epmd closes without answering either.
    const two = await exchange(
      r.port,
      new Uint8Array([...framed([110]), ...framed([110])]),
    );
    assert.deepEqual(two.data, new Uint8Array(0));
  }, { packetTimeoutMs: 60_000 });
});

test("load: 1,000 registered names and 1,000 concurrent lookups all answer", {
  timeout: 120_000,
}, async () => {
  await withRegistry(async (r) => {
    const regs: Registration[] = [];
    for (let i = 0; i < 1000; i += 100) {
      regs.push(
        ...(await Promise.all(
          Array.from(
            { length: 100 },
            (_, j) =>
              registerNode(`n${i + j}`, 10_000 + i + j, {
                port: r.port,
                timeoutMs: 30_000,
              }),
          ),
        )),
      );
    }
    assert.equal(r.names().length, 1000);
    const answers = await Promise.all(
      Array.from(
        { length: 1000 },
        (_, i) =>
          lookupNode(`n${(i * 7) % 1000}`, { port: r.port, timeoutMs: 30_000 }),
      ),
    );
    answers.forEach((a, i) =>
      assert.equal(a?.port, 10_000 + ((i * 7) % 1000), `lookup ${i}`)
    );
    const names = await listNames({ port: r.port });
    assert.equal(names.length, 1000);
    await Promise.all(regs.map((g) => g.close()));
    assert.equal(r.names().length, 0);
  });
});

test("maxConnections: past the limit a connection closes unanswered; room again once one closes", async () => {
  await withRegistry(async (r) => {
    const reg = await registerNode("held", 4660, { port: r.port });
    const idle = [
      hold(r.port, new Uint8Array(0)),
      hold(r.port, new Uint8Array([0])),
    ];
    const lookup = framed([122, ...bytes("held")]);
    // Once the daemon has accepted the three, a fourth closes unanswered.
    await eventually(
      async () => (await exchange(r.port, lookup)).data.length === 0,
      3000,
      "a connection past the limit refused",
    );
    const refused = await exchange(r.port, lookup);
    assert.deepEqual(refused.data, new Uint8Array(0));
    assert.ok(refused.closed);
    assert.deepEqual(r.names().map((n) => n.name), ["held"]);
    await idle[0].close();
    await eventually(
      async () => (await exchange(r.port, lookup)).data[0] === 119,
      3000,
      "a lookup answered once a connection closed",
    );
    await idle[1].close();
    await reg.close();
  }, { maxConnections: 3 });
  await assert.rejects(
    startRegistry({ port: 0, maxConnections: 0 }),
    /maxConnections must be a positive integer, got 0/,
  );
});

test("hundreds of idle connections and connect-close floods: lookups answer, the sweep closes the idle ones", async () => {
  const timeout = 400;
  await withRegistry(async (r) => {
    const reg = await registerNode("busy", 4660, { port: r.port });
    const idle = Array.from(
      { length: 300 },
      (_, i) => hold(r.port, new Uint8Array(i % 3 === 0 ? [] : [0, 9, 122])),
    );
    // Connections that close at once, with nothing or half a request.
    await Promise.all(
      Array.from(
        { length: 300 },
        (_, i) =>
          exchange(r.port, new Uint8Array(i % 2 ? [] : [0, 5, 122]), {
            end: true,
            waitMs: 2000,
          }),
      ),
    );
    assert.equal((await lookupNode("busy", { port: r.port }))?.port, 4660);
    const t0 = Date.now();
    await within(
      timeout + 3000,
      Promise.all(idle.map((h) => h.closed)),
      "the sweep closing 300 idle connections",
    );
    const took = Date.now() - t0;
    assert.ok(
      took < timeout + 1500,
      `idle connections closed after ${took} ms`,
    );
    for (const h of idle) assert.deepEqual(h.data(), new Uint8Array(0));
    // The registration is exempt and still answers.
    assert.equal((await lookupNode("busy", { port: r.port }))?.port, 4660);
    await reg.close();
  }, { packetTimeoutMs: timeout });
});

test("close() ends idle, registered and half-sent connections at once", async () => {
  const r = await startRegistry({ port: 0, log: () => {} });
  const reg = await registerNode("stay", 4660, { port: r.port });
  const idle = Array.from(
    { length: 200 },
    (_, i) => hold(r.port, new Uint8Array(i % 2 ? [] : [0, 9, 122, 97])),
  );
  // Wait until the daemon has them (a lookup after them is answered).
  assert.equal((await lookupNode("stay", { port: r.port }))?.port, 4660);
  const t0 = Date.now();
  await within(3000, r.close(), "close()");
  await within(
    3000,
    Promise.all([...idle.map((h) => h.closed), reg.closed]),
    "the connections closing",
  );
  assert.ok(Date.now() - t0 < 2000, `closed after ${Date.now() - t0} ms`);
  assert.deepEqual(r.names(), []);
});

test("client errors say what happened and what to do", async () => {
  const port = await freePort();
  await assert.rejects(
    lookupNode("a", { port }),
    (e: unknown) =>
      e instanceof RegistryError && e.code === "ECONNREFUSED" &&
      e.message.includes(`no registry is listening at 127.0.0.1:${port}`) &&
      e.message.includes("noderl-registry"),
  );
  await assert.rejects(
    registerNode("a", 1, { port }),
    /no registry is listening/,
  );
  await assert.rejects(listNames({ port }), /no registry is listening/);
  // Something that accepts and never answers: a timeout.
  const sockets: Socket[] = [];
  const silent = createServer((s) => sockets.push(s));
  await new Promise<void>((res) => silent.listen(0, "127.0.0.1", res));
  const silentPort = (silent.address() as { port: number }).port;
  try {
    const t0 = Date.now();
    await assert.rejects(
      lookupNode("a", { port: silentPort, timeoutMs: 200 }),
      (e: unknown) =>
        e instanceof RegistryError &&
        /did not answer .* within 200 ms/.test(e.message),
    );
    assert.ok(Date.now() - t0 < 2000);
    await assert.rejects(
      registerNode("a", 1, { port: silentPort, timeoutMs: 200 }),
      /did not answer the registration/,
    );
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((res) => silent.close(res));
  }
  // A port that is taken.
  await withRegistry(async (r) => {
    await assert.rejects(
      startRegistry({ port: r.port, log: () => {} }),
      (e: unknown) =>
        e instanceof RegistryError && e.code === "EADDRINUSE" &&
        e.message.includes(`port ${r.port}`) &&
        e.message.includes("already in use"),
    );
  });
  await assert.rejects(startRegistry({ port: 70000 }), /0 to 65535/);
  await assert.rejects(
    startRegistry({ port: 0, packetTimeoutMs: 0 }),
    /positive/,
  );
});

// The same requests, to our daemon and to the real epmd: the answers must
// match byte for byte (creations, ports and fds aside).
async function scenario(port: number): Promise<string[]> {
  const out: string[] = [];
  const note = (label: string, data: Uint8Array, closed?: boolean) =>
    out.push(
      `${label}: ${JSON.stringify(latin1(data))}${
        closed === undefined ? "" : closed ? " closed" : " open"
      }`,
    );
  const maskCreation = (d: Uint8Array) =>
    d[0] === 118 && d[1] === 0
      ? new Uint8Array([118, 0, 0, 0, 0, 0])
      : d[0] === 121 && d[1] === 0
      ? new Uint8Array([121, 0, 0, d[3] >= 1 && d[3] <= 3 ? 1 : 0])
      : d;
  const held: Held[] = [];
  const reg = async (label: string, body: ArrayLike<number>, n: number) => {
    const h = hold(port, framed(body));
    held.push(h);
    const d = await h.waitFor(n);
    note(label, maskCreation(d));
    return h;
  };
  const ask = async (
    label: string,
    body: ArrayLike<number> | Uint8Array,
    raw = false,
  ) => {
    const res = await exchange(
      port,
      raw ? new Uint8Array(body as ArrayLike<number>) : framed(body),
      {
        waitMs: 1500,
      },
    );
    let d = res.data;
    if ((body[0] === 110 || body[0] === 100) && d.length >= 4 && !raw) {
      d = d.slice();
      d.set([0, 0, 0, 0]); // the daemon's port
    }
    note(label, bytes(latin1(d).replace(/fd = \d+/g, "fd = N")), res.closed);
  };
  const namesNow = async () =>
    latin1((await exchange(port, framed([110]))).data.subarray(4));

  const foo = await reg("alive foo v6", alive2("foo", 4660), 6);
  const fooC = u32(foo.data(), 2);
  await reg(
    "alive bar v5 hidden extra",
    alive2("bar", 4661, {
      nodeType: 72,
      high: 5,
      low: 5,
      extra: new Uint8Array([65, 66, 67, 0, 0]),
    }),
    4,
  );
  await reg("dup foo v6", alive2("foo", 4662), 6);
  await reg("dup foo v5", alive2("foo", 4662, { high: 5, low: 5 }), 4);
  await reg(
    "too long name v5",
    alive2("a".repeat(600), 4663, { high: 5, low: 5 }),
    4,
  );
  await ask("port foo", [122, ...bytes("foo")]);
  await ask("port bar", [122, ...bytes("bar")]);
  await ask("port bar NUL", [122, ...bytes("bar"), 0]);
  await ask("port nope", [122, ...bytes("nope")]);
  await ask("port empty", [122]);
  await ask("port a NUL b", [122, 97, 0, 98]);
  await ask("port bad utf8", [122, 0xff]);
  await ask("names", [110]);
  await ask("names with junk", [110, 1, 2, 3]);
  await ask("dump", [100]);
  await ask("kill with live names", [107]);
  await ask("stop foo", [115, ...bytes("foo")]);
  await ask("unknown request", [113]);
  await ask("zero length", new Uint8Array(10), true);
  const big = new Uint8Array(2 + 63000).fill(122);
  big[0] = 63000 >> 8;
  big[1] = 63000 & 255;
  await ask("63000-byte frame", big, true);
  await ask(
    "two requests in one write",
    [...framed([110]), ...framed([110])],
    true,
  );
  await ask("alive too small 1", [120, 3, 232, 77, 0, 0, 5, 0, 5, 0, 0]);
  await ask("alive too small 2", [120, 3, 232, 77, 0, 0, 5, 0, 5]);
  await ask("alive name with NUL", alive2("foo\0bar", 4664));
  await ask("alive name NUL-terminated", alive2("foobar\0", 4664));
  for (const n of [1, 100, 2000, 10000]) {
    await ask(`forged extra length ${n}`, [
      120,
      18,
      139,
      77,
      0,
      0,
      5,
      0,
      5,
      0,
      5,
      ...bytes("gurka"),
      n >> 8,
      n & 255,
    ]);
  }
  // Real extra bytes: up to 1,020 are kept, more are refused, and a frame
  // past the buffer closes the connection (epmd_SUITE's buffer_overrun_2).
  for (const n of [1020, 1021, 2000, 3050]) {
    const h = await reg(`extra of ${n} bytes`, [
      120,
      18,
      139,
      77,
      0,
      0,
      5,
      0,
      5,
      0,
      5,
      ...bytes(`gurk${n % 10}`),
      n >> 8,
      n & 255,
      ...new Uint8Array(n).fill(255),
    ], 4);
    await h.close();
  }
  await ask("names again", [110]);
  // Re-registering foo after it closes gives creation + 1.
  await foo.close();
  await eventually(
    async () => !(await namesNow()).includes("foo"),
    3000,
    "foo unregistered",
  );
  await ask("dump with an unused name", [100]);
  const again = await reg("alive foo again", alive2("foo", 4665), 6);
  out.push(`creation step: ${u32(again.data(), 2) - fooC}`);
  for (const h of held) await h.close();
  await eventually(
    async () => (await namesNow()) === "",
    3000,
    "all unregistered",
  );
  await ask("names empty", [110]);
  await ask("kill", [107]);
  return out;
}

tagged(
  "byte for byte as the real epmd: registrations, lookups, names, dump, kill, stop, malformed requests",
  { tags: ["beam", "distributed"], skip: noEpmd, timeout: 60_000 },
  async () => {
    const epmd = await startEpmd();
    let theirs: string[];
    try {
      theirs = await scenario(epmd.port);
      assert.ok((await epmd.child.exited) !== undefined, "epmd exits on KILL");
    } finally {
      await epmd.child.kill();
    }
    const r = await startRegistry({ port: 0, log: () => {} });
    let ours: string[];
    try {
      ours = await scenario(r.port);
      await r.closed;
    } finally {
      await r.close();
    }
    assert.deepEqual(ours, theirs);
  },
);
