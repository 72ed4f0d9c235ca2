import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { withArity } from "./arity.ts";
import { ExitError, RemoteError } from "./errors.ts";
import { type Node, startNode } from "./node.ts";
import { receive } from "./process_api.ts";
import { type Registry, startRegistry } from "./registry.ts";
import { atom, Tuple, tuple } from "./terms.ts";

/** `{undef, [{M, F, Args, []}]}`, as the BEAM makes it. */
const undef = (m: string, f: string, args: unknown[]) =>
  tuple(atom("undef"), [tuple(atom(m), atom(f), args, [])]);

describe("arity: a call with another number of arguments is undef", () => {
  let registry: Registry;
  let kate: Node;
  let alex: Node;

  before(async () => {
    registry = await startRegistry({ port: 0 });
    const o = { cookie: "arity", registryPort: registry.port };
    alex = await startNode({ name: "alex_arity@localhost", ...o });
    kate = await startNode({ name: "kate_arity@localhost", ...o });
    kate.defineModule("M", {
      two: (a: number, b: number) => a + b,
      none: () => "none",
      optional: (a: number, b = 10) => a + b,
      declared: withArity([1, 2], (a: number, b = 10) => a + b),
      rest: (...xs: number[]) => xs.length,
      any: withArity("any", (...xs: number[]) => xs.length),
      one: withArity(1, function named(x: unknown) {
        return x;
      }),
    });
  });

  after(async () => {
    await alex?.stop();
    await kate?.stop();
    await registry?.close();
  });

  const call = (f: string, args: unknown[]) =>
    alex.call("kate_arity@localhost", "M", f, args);
  const isUndef = (f: string, args: unknown[]) => (e: unknown) => {
    assert.ok(e instanceof RemoteError, String(e));
    assert.equal(e.kind, "error");
    assert.equal(e.reason, atom("undef"));
    assert.deepEqual(
      (e.remoteStack as Tuple[])[0],
      tuple(atom("M"), atom(f), args, []),
    );
    return true;
  };

  test("fn.length is the arity", async () => {
    assert.equal(await call("two", [1, 2]), 3);
    await assert.rejects(call("two", [1]), isUndef("two", [1]));
    await assert.rejects(call("two", [1, 2, 3]), isUndef("two", [1, 2, 3]));
    assert.equal(await call("none", []), "none");
    await assert.rejects(call("none", [1]), isUndef("none", [1]));
  });

  test("optional and rest parameters count only when declared", async () => {
    // (a, b = 10) has length 1: optional/1 only.
    assert.equal(await call("optional", [1]), 11);
    await assert.rejects(call("optional", [1, 2]), isUndef("optional", [1, 2]));
    assert.equal(await call("declared", [1]), 11);
    assert.equal(await call("declared", [1, 2]), 3);
    await assert.rejects(call("declared", []), isUndef("declared", []));
    // (...xs) has length 0.
    assert.equal(await call("rest", []), 0);
    await assert.rejects(call("rest", [1]), isUndef("rest", [1]));
    assert.equal(await call("any", []), 0);
    assert.equal(await call("any", [1, 2, 3, 4]), 4);
    assert.equal(await call("one", ["x"]), "x");
  });

  test("the built-in functions take the arities the BEAM's do", async () => {
    const k = "kate_arity@localhost";
    // io:format/1,2 print through the caller's group leader.
    assert.equal(await alex.call(k, "io", "format", ["one~n"]), atom("ok"));
    assert.equal(
      await alex.call(k, "io", "format", ["~p~n", [42]]),
      atom("ok"),
    );
    // Introspection: memory/0,1, process_info/1,2, nodes/0,1; Elixir's
    // Process.info/1,2 and Node.list/0,1.
    assert.ok(Array.isArray(await alex.call(k, "erlang", "memory", [])));
    assert.equal(
      typeof await alex.call(k, "erlang", "memory", [atom("total")]),
      "number",
    );
    const shell = kate.shell.pid;
    assert.ok(
      Array.isArray(await alex.call(k, "erlang", "process_info", [shell])),
    );
    assert.ok(
      await alex.call(k, "erlang", "process_info", [
        shell,
        atom("status"),
      ]) instanceof
        Tuple,
    );
    assert.ok(Array.isArray(await alex.call(k, "erlang", "nodes", [])));
    assert.ok(
      Array.isArray(await alex.call(k, "erlang", "nodes", [atom("known")])),
    );
    assert.ok(
      Array.isArray(await alex.call(k, "Elixir.Process", "info", [shell])),
    );
    assert.ok(Array.isArray(await alex.call(k, "Elixir.Node", "list", [])));
    assert.ok(
      Array.isArray(
        await alex.call(k, "Elixir.Node", "list", [atom("visible")]),
      ),
    );
  });

  test("apply in a process: the ExitError says what to do", () => {
    assert.throws(
      () => kate.apply("M", "two", [1]),
      (e: unknown) => {
        assert.ok(e instanceof ExitError);
        assert.deepEqual(e.reason, undef("M", "two", [1]));
        assert.match(
          e.message,
          /M\.two\/1 is undefined \(M\.two takes 2 arguments; declare other arities with withArity\)/,
        );
        return true;
      },
    );
    assert.throws(
      () => kate.apply("M", "declared", [1, 2, 3]),
      /M\.declared takes 1 or 2 arguments/,
    );
    assert.throws(
      () => kate.apply("M", "nothing", []),
      /not defined with defineModule on kate_arity@localhost/,
    );
  });

  test("spawnRemote with a wrong arity exits undef", async () => {
    const pid = await alex.spawnRemote(
      "kate_arity@localhost",
      "M",
      "two",
      [1],
      { monitor: true },
    );
    // alex started first: the script's free functions act as its shell.
    const down = await receive(
      (m) => m instanceof Tuple && m[0] === atom("DOWN") && pid.equals(m[3]),
      5000,
    ) as Tuple;
    assert.deepEqual(down[4], undef("M", "two", [1]));
  });
});

test("withArity checks its arities and keeps the function", () => {
  const f = (a: number, b = 1) => a + b;
  const g = withArity([1, 2], f);
  assert.equal(g(1), 2);
  assert.equal(g(1, 5), 6);
  assert.equal(g.name, "f");
  assert.equal(f.length, 1, "the original is not changed");
  assert.throws(() => withArity(256, f), RangeError);
  assert.throws(() => withArity(-1, f), RangeError);
  assert.throws(() => withArity(1.5, f), RangeError);
  assert.throws(() => withArity([], f), RangeError);
  assert.throws(() => withArity(1, "f" as never), TypeError);
});
