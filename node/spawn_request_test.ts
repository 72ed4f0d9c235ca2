/**
 * `node.spawnRequestFrom`, the SPAWN_REQUEST primitive the one-round-trip
 * task start is built on: the monitor reference at once, the pid or the
 * error by callback — remote, local, unreachable, unencodable.
 *
 * @module
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startRegistry } from "./registry.ts";
import { type Node, startNode } from "./node.ts";
import { NoConnectionError } from "./errors.ts";
import { receive } from "./process_api.ts";
import { atom, type Pid, Tuple } from "./terms.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("node.spawnRequestFrom", () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let alex: Node, kate: Node;

  before(async () => {
    registry = await startRegistry({ port: 0 });
    alex = await startNode({
      name: "sr_alex@localhost",
      cookie: "spawn",
      registryPort: registry.port,
    });
    kate = await startNode({
      name: "sr_kate@localhost",
      cookie: "spawn",
      registryPort: registry.port,
    });
    for (const n of [alex, kate]) {
      n.defineModule("Math", { double: (x: number) => x * 2 });
    }
  });

  after(async () => {
    await alex?.stop();
    await kate?.stop();
    await registry?.close();
  });

  async function eventually(what: string, check: () => boolean) {
    const end = Date.now() + 5000;
    while (!check()) {
      if (Date.now() > end) assert.fail(`not true within 5000 ms: ${what}`);
      await sleep(5);
    }
  }

  test(
    "the monitor reference at once, the pid or the error by callback",
    async () => {
      const got: Array<[unknown, Pid | undefined]> = [];
      const done = (e: unknown, pid?: Pid) => got.push([e, pid]);
      const owner = alex.spawn(async () => {
        const me = alex.processOf(alex.current().pid)!;
        // Remote, connection up: no promise; the DOWN matches the returned ref.
        const ref = alex.spawnRequestFrom(
          me,
          "sr_kate@localhost",
          "Math",
          "double",
          [2],
          { monitor: true },
          done,
        );
        const down = await receive(
          (m) =>
            m instanceof Tuple && m[0] === atom("DOWN") && ref.equals(m[1]),
          5000,
        ) as Tuple;
        assert.equal(down[4], atom("normal"));
        assert.equal(got.length, 1);
        assert.equal(got[0][0], undefined);
        assert.equal(got[0][1]?.node, "sr_kate@localhost");
        assert.ok((down[3] as Pid).equals(got[0][1]));
        // A chosen request id; this node; an unreachable node; an unencodable argument.
        const answers = new Map<string, [unknown, Pid | undefined]>();
        const answer = (k: string) => (e: unknown, pid?: Pid) =>
          answers.set(k, [e, pid]);
        const chosen = alex.makeRef();
        assert.equal(
          alex.spawnRequestFrom(
            me,
            alex.name,
            "Math",
            "double",
            [1],
            {},
            answer("local"),
            chosen,
          ),
          chosen,
        );
        alex.spawnRequestFrom(
          me,
          "nobody@localhost",
          "Math",
          "double",
          [1],
          {},
          answer("unreachable"),
        );
        alex.spawnRequestFrom(
          me,
          "sr_kate@localhost",
          "Math",
          "double",
          [Symbol("x")],
          {},
          answer("unencodable"),
        );
        await eventually("all answered", () => answers.size === 3);
        const local = answers.get("local")!;
        assert.equal(local[0], undefined);
        assert.equal(local[1]?.node, alex.name);
        assert.ok(answers.get("unreachable")![0] instanceof NoConnectionError);
        const bad = answers.get("unencodable")![0];
        assert.ok(bad instanceof Error && !(bad instanceof NoConnectionError));
        assert.match((bad as Error).message, /cannot encode/);
      });
      assert.equal(await alex.processOf(owner)!.exited, atom("normal"));
    },
  );
});
