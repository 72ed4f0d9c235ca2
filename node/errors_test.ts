import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  describeReason,
  ExitError,
  NoConnectionError,
  RemoteError,
} from "./errors.ts";
import { type Node, startNode } from "./node.ts";
import { type Registry, startRegistry } from "./registry.ts";
import { atom, Tuple, tuple } from "./terms.ts";

const here = fileURLToPath(import.meta.url);

class ValidationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ValidationError";
  }
}

function explode(kind: string): never {
  if (kind === "type") throw new TypeError("bad thing: 1");
  if (kind === "custom") throw new ValidationError("name is required");
  if (kind === "string") throw "a thrown string";
  if (kind === "colon") throw new Error("TypeError: not a prefix");
  throw new Error("plain");
}

describe("RemoteError: a remote JavaScript throw, as the caller sees it", () => {
  let registry: Registry;
  let kate: Node;
  let alex: Node;
  const KATE = "kate_errors@localhost";

  before(async () => {
    registry = await startRegistry({ port: 0 });
    const o = { cookie: "errors", registryPort: registry.port };
    alex = await startNode({ name: "alex_errors@localhost", ...o });
    kate = await startNode({ name: KATE, ...o });
    kate.defineModule("Kate", {
      explode: (k: string) => explode(k),
      nan: () => NaN,
      fun: () => () => 1,
    });
  });

  after(async () => {
    await alex?.stop();
    await kate?.stop();
    await registry?.close();
  });

  const failure = async (kind: string): Promise<RemoteError> => {
    try {
      await alex.call(KATE, "Kate", "explode", [kind]);
    } catch (e) {
      assert.ok(e instanceof RemoteError, String(e));
      return e;
    }
    assert.fail("the call should have raised");
  };

  test("the message is the original one; the name is the error's", async () => {
    const cases: Array<[string, string, string]> = [
      ["type", "bad thing: 1", "TypeError"],
      ["custom", "name is required", "ValidationError"],
      ["plain", "plain", "Error"],
      ["string", "a thrown string", "Error"],
      // A plain Error whose text looks like a prefix keeps its text.
      ["colon", "TypeError: not a prefix", "Error"],
    ];
    for (const [kind, message, name] of cases) {
      const e = await failure(kind);
      assert.equal(e.message, message, kind);
      assert.equal(e.remoteName, name, kind);
      assert.equal(e.kind, "error");
      assert.equal(e.name, "RemoteError");
      assert.equal(e.context, `call Kate.explode/1 on ${KATE}`);
    }
  });

  test("the stack shows the remote frames, then the local call", async () => {
    const e = await failure("type");
    const lines = e.stack!.split("\n");
    assert.equal(lines[0], "RemoteError: bad thing: 1");
    assert.equal(
      lines[1],
      `    TypeError raised in call Kate.explode/1 on ${KATE}, at:`,
    );
    // The remote frames: function names and this file's lines.
    const explodeAt = lines.findIndex((l) =>
      l.startsWith("    at explode (") && l.includes(here)
    );
    assert.ok(explodeAt > 1, e.stack);
    assert.match(lines[explodeAt], /:\d+\)$/);
    const called = lines.indexOf("    called:");
    assert.ok(called > explodeAt, e.stack);
    assert.ok(lines.slice(called + 1).some((l) => /^ {4}at /.test(l)));
    // What the remote node sent is kept whole.
    const [ex] = e.reason instanceof Map ? [e.reason] : [];
    assert.ok(ex, "reason is the exception map");
    assert.equal(ex.get(atom("message")), "TypeError: bad thing: 1");
  });

  test("a result with no Erlang term fails the call, not the node", async () => {
    for (const f of ["nan", "fun"]) {
      await assert.rejects(
        alex.call(KATE, "Kate", f, []),
        (e: unknown) => {
          assert.ok(e instanceof ExitError, String(e));
          const r = e.reason as Tuple;
          assert.equal(r[0], atom("noderl_unencodable_reason"));
          assert.match(r[1] as string, /cannot encode as an Erlang term/);
          return true;
        },
      );
    }
    assert.equal(await alex.call(KATE, "erlang", "node", []), atom(KATE));
  });

  test("BEAM-shaped reasons: exits and throws keep the term", () => {
    const exit = new RemoteError("exit", tuple(atom("shutdown"), 1));
    assert.equal(exit.message, "{shutdown,1}");
    assert.equal(exit.remoteName, undefined);
    const elixir = new RemoteError(
      "error",
      new Map<unknown, unknown>([
        [atom("__struct__"), atom("Elixir.ArgumentError")],
        [atom("__exception__"), true],
        [atom("message"), "argument error"],
      ]),
      [tuple(atom("Elixir.KV.Bucket"), atom("get"), 2, [
        tuple(
          atom("file"),
          Array.from("lib/kv/bucket.ex", (c) => c.charCodeAt(0)),
        ),
        tuple(atom("line"), 12),
      ])],
      "call Elixir.KV.Bucket.get/2 on foo@localhost",
    );
    assert.equal(elixir.message, "argument error");
    assert.equal(elixir.remoteName, "ArgumentError");
    assert.match(elixir.stack!, /^ {4}ArgumentError raised in call /m);
    assert.match(
      elixir.stack!,
      /^ {4}at KV\.Bucket\.get\/2 \(lib\/kv\/bucket\.ex:12\)$/m,
    );
    const erl = new RemoteError("error", atom("badarg"), [
      tuple(atom("lists"), atom("nth"), 2, [tuple(atom("file"), "lists.erl")]),
    ]);
    assert.equal(erl.message, "badarg");
    assert.match(erl.stack!, /^ {4}at lists:nth\/2 \(lists\.erl\)$/m);
  });
});

test("NoConnectionError says why, or that it is noconnection", () => {
  const why = new NoConnectionError("kate@h", "connect to 127.0.0.1:1 refused");
  assert.equal(
    why.message,
    "no connection to kate@h: connect to 127.0.0.1:1 refused",
  );
  assert.equal(why.detail, "connect to 127.0.0.1:1 refused");
  assert.equal(why.reason, atom("noconnection"));
  assert.ok(why instanceof ExitError);
  const bare = new NoConnectionError("kate@h");
  assert.equal(bare.message, "no connection to kate@h (noconnection)");
  assert.equal(bare.detail, undefined);
});

test("describeReason prints exceptions as Elixir does", () => {
  const reason = tuple(
    new Map<unknown, unknown>([
      [atom("__struct__"), atom("Elixir.RuntimeError")],
      [atom("__exception__"), true],
      [atom("message"), "boom"],
    ]),
    [tuple(atom("js"), atom("f"), 0, [tuple(atom("line"), 3)])],
  );
  assert.equal(describeReason(reason), "** (RuntimeError) boom\n    f");
  assert.ok(reason instanceof Tuple);
});
