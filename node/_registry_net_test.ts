import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { test } from "node:test";
import {
  type Link,
  type LinkHandler,
  listenTcp,
  tcpLayers,
} from "./_registry_net.ts";

/** A handler that answers each chunk as `reply(chunk)` says, recording calls. */
function recorder(
  reply: (link: Link, chunk: Uint8Array) => void,
  refuse = false,
) {
  const events: string[] = [];
  const links: Link[] = [];
  let n = 0;
  const handler: LinkHandler<{ id: number; link: Link }> = {
    accept(link) {
      if (refuse) return null;
      links.push(link);
      const id = n++;
      events.push(`accept ${id} ${link.remoteAddress}`);
      return { id, link };
    },
    data(s, chunk) {
      events.push(`data ${s.id} ${chunk.length}`);
      reply(s.link, chunk);
    },
    closed(s) {
      events.push(`closed ${s.id}`);
    },
    error(err) {
      events.push(`error ${err.message}`);
    },
  };
  return { handler, events, links };
}

function client(port: number, host = "127.0.0.1"): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host }, () => resolve(s));
    s.once("error", reject);
  });
}

/** Everything `s` receives until the peer closes. */
function readAll(s: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on("data", (d: Buffer) => parts.push(d));
    s.once("error", reject);
    s.once("close", () => resolve(Buffer.concat(parts)));
  });
}

async function until(what: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

for (const layer of tcpLayers()) {
  const on = (name: string) => `${layer}: ${name}`;

  test(
    on("a reply written then closed reaches the peer, then EOF"),
    async () => {
      const r = recorder((link, chunk) =>
        link.writeAndClose(new Uint8Array([...chunk].reverse()))
      );
      const l = await listenTcp(0, "127.0.0.1", 100, r.handler, layer);
      try {
        const s = await client(l.port);
        const got = readAll(s);
        s.write(new Uint8Array([1, 2, 3]));
        assert.deepEqual([...await got], [3, 2, 1]);
        await until(() => r.events.includes("closed 0"));
        assert.deepEqual(r.events, [
          "accept 0 127.0.0.1",
          "data 0 3",
          "closed 0",
        ]);
      } finally {
        await l.close();
      }
    },
  );

  test(
    on("a large reply (written asynchronously) arrives whole before the close"),
    async () => {
      const big = new Uint8Array(8 << 20).map((_, i) => i & 255);
      let after = 0;
      const r = recorder((link) => link.writeAndClose(big, () => after++));
      const l = await listenTcp(0, "127.0.0.1", 100, r.handler, layer);
      try {
        const s = await client(l.port);
        s.pause(); // a slow reader: the write cannot complete at once
        const got = readAll(s);
        s.write("x");
        await new Promise((res) => setTimeout(res, 50));
        s.resume();
        const bytes = await got;
        assert.equal(bytes.length, big.length);
        assert.ok(bytes.equals(big));
        await until(() => after === 1);
        await until(() => r.events.includes("closed 0"));
      } finally {
        await l.close();
      }
    },
  );

  test(
    on("a write-then-close cut by the peer still calls after, once"),
    async () => {
      const big = new Uint8Array(16 << 20);
      let after = 0;
      const r = recorder((link) => link.writeAndClose(big, () => after++));
      const l = await listenTcp(0, "127.0.0.1", 100, r.handler, layer);
      try {
        const s = await client(l.port);
        s.pause(); // never reads: the reply cannot be written whole
        s.on("error", () => {});
        s.write("x");
        await until(() => r.events.includes("data 0 1"));
        await new Promise((res) => setTimeout(res, 50));
        s.resetAndDestroy();
        await until(() => after === 1 && r.events.includes("closed 0"));
        await new Promise((res) => setTimeout(res, 50));
        assert.equal(after, 1);
        assert.equal(r.events.filter((e) => e === "closed 0").length, 1);
      } finally {
        await l.close();
      }
    },
  );

  test(
    on("write keeps the link open; the peer's close is reported once"),
    async () => {
      const r = recorder((link) => link.write(new Uint8Array([7])));
      const l = await listenTcp(0, "127.0.0.1", 100, r.handler, layer);
      try {
        const s = await client(l.port);
        const first = new Promise<Buffer>((res) => s.once("data", res));
        s.write("a");
        assert.deepEqual([...await first], [7]);
        const second = new Promise<Buffer>((res) => s.once("data", res));
        s.write("b");
        assert.deepEqual([...await second], [7]);
        s.end();
        await until(() => r.events.includes("closed 0"));
        await new Promise((res) => setTimeout(res, 50));
        assert.equal(r.events.filter((e) => e === "closed 0").length, 1);
      } finally {
        await l.close();
      }
    },
  );

  test(
    on("destroy closes at once; a refused or surplus connection is closed"),
    async () => {
      const r = recorder((link) => link.destroy());
      const l = await listenTcp(0, "127.0.0.1", 1, r.handler, layer);
      try {
        const a = await client(l.port);
        const aDone = readAll(a);
        await until(() => r.events.length === 1); // accepted, holds the 1 slot
        const b = await client(l.port);
        assert.equal((await readAll(b)).length, 0); // over maxConnections
        a.write("x");
        assert.equal((await aDone).length, 0);
        await until(() => r.events.includes("closed 0"));
        assert.deepEqual(r.events, [
          "accept 0 127.0.0.1",
          "data 0 1",
          "closed 0",
        ]);
      } finally {
        await l.close();
      }
      const refusing = recorder(() => {}, true);
      const l2 = await listenTcp(0, "127.0.0.1", 10, refusing.handler, layer);
      try {
        const c = await client(l2.port);
        assert.equal((await readAll(c)).length, 0);
        assert.deepEqual(refusing.events, []);
      } finally {
        await l2.close();
      }
    },
  );

  test(on("close waits for the connections the daemon closes"), async () => {
    const r = recorder(() => {});
    const l = await listenTcp(0, "127.0.0.1", 10, r.handler, layer);
    const s = await client(l.port);
    const done = readAll(s);
    await until(() => r.links.length === 1);
    let closed = false;
    const closing = l.close().then(() => (closed = true));
    await new Promise((res) => setTimeout(res, 50));
    if (layer !== "deno") assert.equal(closed, false); // Deno closes them itself
    r.links[0].destroy();
    await closing;
    await done;
    await until(() => r.events.includes("closed 0"));
  });

  test(on("a port in use is refused with its code"), async () => {
    const r = recorder(() => {});
    const l = await listenTcp(0, "127.0.0.1", 10, r.handler, layer);
    try {
      await assert.rejects(
        listenTcp(l.port, "127.0.0.1", 10, r.handler, layer),
        (e: Error & { code?: string }) =>
          e.code === "EADDRINUSE" || e.name === "AddrInUse",
      );
    } finally {
      await l.close();
    }
  });

  test(on("IPv6 loopback"), async (t) => {
    const r = recorder((link) => link.writeAndClose(new Uint8Array([42])));
    let l;
    try {
      l = await listenTcp(0, "::1", 10, r.handler, layer);
    } catch {
      t.skip("no IPv6 loopback here");
      return;
    }
    try {
      const s = await client(l.port, "::1");
      const got = readAll(s);
      s.write("x");
      assert.deepEqual([...await got], [42]);
      await until(() => r.events.includes("closed 0"));
      assert.equal(r.events[0], "accept 0 ::1");
    } finally {
      await l.close();
    }
  });
}
