/**
 * Names and addresses on one machine: a node listens where the host of its
 * name resolves; nodes named after this machine's own non-loopback address
 * find each other through the registry on 127.0.0.1 (issue 12's example,
 * `kate@192.0.2.2`); IPv6 names (`a@::1`); `portRange`; the errors for an
 * address that is not this machine's and for ranges with no free port.
 */
import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import { connect, createServer, type Server } from "node:net";
import { type Registry, startRegistry } from "../node/registry.ts";
import { type Node, type NodeOptions, startNode } from "../node/node.ts";
import { atom } from "../node/terms.ts";
import { nonLoopbackAddress } from "./_registry.ts";
import { test } from "./_tags.ts";

const tags = ["distributed"];

/** Whether something accepts TCP connections at `host:port`. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.on("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}

describe("names and addresses on one machine", () => {
  let registry: Registry;
  const nodes: Node[] = [];
  const start = async (o: Partial<NodeOptions> & { name: string }) => {
    const n = await startNode({
      cookie: "hosts",
      registryPort: registry.port,
      log: () => {},
      ...o,
    });
    nodes.push(n);
    return n;
  };

  before(async () => {
    registry = await startRegistry({ port: 0 });
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await registry.close();
  });

  const own = nonLoopbackAddress();
  test(
    "nodes named after this machine's address listen there and find each other through the registry on 127.0.0.1",
    { tags, skip: own === undefined ? "no non-loopback IPv4 address" : false },
    async () => {
      const kate = await start({ name: `kate@${own}` });
      const alex = await start({ name: `alex@${own}` });
      assert.equal(await accepts(own!, kate.port), true);
      assert.equal(await accepts("127.0.0.1", kate.port), false);
      assert.equal(
        await alex.call(kate.name, "erlang", "node", []),
        atom(kate.name),
      );
      // `address` overrides: every interface.
      const all = await start({ name: `all@${own}`, address: "0.0.0.0" });
      assert.equal(await accepts("127.0.0.1", all.port), true);
      assert.equal(await accepts(own!, all.port), true);
    },
  );

  test("localhost names stay on loopback", { tags }, async () => {
    const n = await start({ name: "loop@localhost" });
    assert.equal(await accepts("127.0.0.1", n.port), true);
    if (own) assert.equal(await accepts(own, n.port), false);
  });

  test(
    "IPv6 names: a@::1 and b@::1 talk over IPv6 loopback",
    { tags },
    async () => {
      const a = await start({ name: "v6a@::1" });
      const b = await start({ name: "v6b@::1" });
      b.defineModule("Echo", { echo: (x: unknown) => x });
      assert.equal(
        await a.call("v6b@::1", "Echo", "echo", ["over ::1"]),
        "over ::1",
      );
      assert.equal(await accepts("::1", b.port), true);
      assert.equal(await accepts("127.0.0.1", b.port), false);
      await assert.rejects(
        startNode({ name: "v6@::1::1", cookie: "c" }),
        /invalid node name/,
      );
    },
  );

  test(
    "portRange: the first free port of the range, as inet_dist_listen_min/max",
    {
      tags,
    },
    async () => {
      // Hold two consecutive ports ourselves; the range starts there.
      const hold = (port: number) =>
        new Promise<Server | undefined>((resolve) => {
          const srv = createServer();
          srv.once("error", () => resolve(undefined));
          srv.listen(port, "127.0.0.1", () => resolve(srv));
        });
      let base = 0;
      let held: Server[] = [];
      for (let tries = 0; tries < 50 && held.length < 2; tries++) {
        for (const h of held) h.close();
        base = 20000 + Math.floor(Math.random() * 30000);
        held = (await Promise.all([hold(base), hold(base + 1)]))
          .filter((h): h is Server => h !== undefined);
      }
      assert.equal(held.length, 2, "found two free consecutive ports");
      try {
        // Every port of [base, base + 1] is taken: a clear error.
        await assert.rejects(
          startNode({
            name: "full@localhost",
            cookie: "hosts",
            registryPort: registry.port,
            portRange: [base, base + 1],
          }),
          new RegExp(
            `every port from ${base} to ${base + 1} \\(portRange\\) is in use`,
          ),
        );
        // The first free port after them (others may take ports meanwhile).
        const n = await start({
          name: "ranged@localhost",
          portRange: [base, base + 20],
        });
        assert.ok(
          n.port >= base + 2 && n.port <= base + 20,
          `port ${n.port} in ${base + 2}..${base + 20}`,
        );
      } finally {
        for (const h of held) h.close();
      }
      await assert.rejects(
        startNode({ name: "r@localhost", cookie: "c", portRange: [10, 5] }),
        RangeError,
      );
      await assert.rejects(
        startNode({
          name: "r@localhost",
          cookie: "c",
          port: 1,
          portRange: [1, 2],
        }),
        /give port or portRange, not both/,
      );
    },
  );

  test(
    "a name or address that is not this machine's is refused with the machine's addresses",
    {
      tags,
    },
    async () => {
      await assert.rejects(
        startNode({
          name: "far@10.255.255.1",
          cookie: "c",
          registryPort: registry.port,
        }),
        /cannot listen on 10\.255\.255\.1, where the host of far@10\.255\.255\.1 resolves: it is not an address of this machine \(its addresses: .*127\.0\.0\.1/,
      );
      await assert.rejects(
        startNode({
          name: "far@localhost",
          cookie: "c",
          registryPort: registry.port,
          address: "10.255.255.1",
        }),
        /cannot listen on 10\.255\.255\.1: it is not an address of this machine/,
      );
      await assert.rejects(
        startNode({
          name: "far@no-such-host.invalid",
          cookie: "c",
          registryPort: registry.port,
        }),
        /cannot tell where far@no-such-host\.invalid should listen: cannot resolve host no-such-host\.invalid/,
      );
    },
  );
});
