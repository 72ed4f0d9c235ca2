/**
 * The BEAM as the oracle for how calls and sends fail: a wrong arity is
 * `undef` with the same shape on both sides, a send to a local name nobody
 * holds is `badarg` on both (and `{Name, Node}` silent on both), and BEAM
 * exceptions reach a noderl caller as a RemoteError with their message.
 */
import { after, before, describe } from "node:test";
import assert from "node:assert/strict";
import { ExitError, RemoteError } from "../node/errors.ts";
import { type Node, startNode } from "../node/node.ts";
import { send } from "../node/process_api.ts";
import { type Registry, startRegistry } from "../node/registry.ts";
import { atom, Tuple, tuple } from "../node/terms.ts";
import { type BeamNode, noErl, startBeamNode } from "./_beam.ts";
import { test } from "./_tags.ts";

const tags = ["beam", "distributed"];

describe("failures as the BEAM has them", { skip: noErl || undefined }, () => {
  let registry: Registry;
  let ts: Node;
  let erl: BeamNode;
  const TS = "ts_errors@localhost";
  const ERL = "erl_errors@localhost";

  before(async () => {
    registry = await startRegistry({ port: 0 });
    ts = await startNode({
      name: TS,
      cookie: "errors",
      registryPort: registry.port,
      log: () => {},
    });
    ts.defineModule("Echo", { echo: (x: unknown) => x });
    erl = await startBeamNode({
      name: ERL,
      cookie: "errors",
      registryPort: registry.port,
    });
  });

  after(async () => {
    await erl?.stop();
    await ts?.stop();
    await registry?.close();
  });

  /** erpc:call(Node, M, F, A) run on erl: {ok, R} | {Class, Reason}. */
  const erlCalls = (node: string, m: string, f: string, args: unknown[]) =>
    ts.call(ERL, "noderl_peer", "call_ts", [
      atom(node),
      atom(m),
      atom(f),
      args,
    ]) as Promise<Tuple>;

  test(
    "a wrong arity is undef, shaped as the BEAM's own",
    { tags },
    async () => {
      // The BEAM: lists:reverse/3 does not exist.
      const beam = await erlCalls(ERL, "lists", "reverse", [1, 2, 3]);
      // noderl: Echo.echo takes one argument.
      const ours = await erlCalls(TS, "Echo", "echo", [1, 2]);
      for (
        const [r, m, f, args] of [
          [beam, "lists", "reverse", [1, 2, 3]],
          [ours, "Echo", "echo", [1, 2]],
        ] as const
      ) {
        assert.equal(r[0], atom("error"));
        const ex = r[1] as Tuple; // {exception, undef, Stack}
        assert.equal(ex[0], atom("exception"));
        assert.equal(ex[1], atom("undef"));
        const frame = (ex[2] as Tuple[])[0];
        assert.deepEqual([frame[0], frame[1], frame[2]], [
          atom(m),
          atom(f),
          args,
        ]);
      }
      // The right arity still works.
      assert.deepEqual(
        await erlCalls(TS, "Echo", "echo", [1]),
        tuple(atom("ok"), 1),
      );
    },
  );

  test(
    "a send to a local name nobody holds is badarg on both",
    { tags },
    async () => {
      const beam = await erlCalls(ERL, "erlang", "send", [atom("nobody"), 1]);
      assert.equal(beam[0], atom("error"));
      assert.equal((beam[1] as Tuple)[0], atom("exception"));
      assert.equal((beam[1] as Tuple)[1], atom("badarg"));
      assert.throws(
        () => send("nobody", 1),
        (e: unknown) => e instanceof ExitError && e.reason === atom("badarg"),
      );
      // {Name, Node}: silent on both, for this node too.
      const silent = await erlCalls(ERL, "erlang", "send", [
        new Tuple(atom("nobody"), atom(ERL)),
        1,
      ]);
      assert.deepEqual(silent, tuple(atom("ok"), 1));
      send(["nobody", TS], 1);
    },
  );

  test(
    "BEAM exceptions reach noderl with their message",
    { tags },
    async () => {
      await assert.rejects(
        ts.call(ERL, "erlang", "error", [atom("badarg")]),
        (e: unknown) => {
          assert.ok(e instanceof RemoteError);
          assert.equal(e.kind, "error");
          assert.equal(e.message, "badarg");
          assert.equal(e.reason, atom("badarg"));
          assert.match(
            e.stack!,
            /raised in call erlang\.error\/1 on erl_errors@localhost/,
          );
          return true;
        },
      );
      // An Elixir exception (what `raise ArgumentError, "…"` raises).
      const ex = new Map<unknown, unknown>([
        [atom("__struct__"), atom("Elixir.ArgumentError")],
        [atom("__exception__"), true],
        [atom("message"), "the bucket name is empty"],
      ]);
      await assert.rejects(
        ts.call(ERL, "erlang", "error", [ex]),
        (e: unknown) => {
          assert.ok(e instanceof RemoteError);
          assert.equal(e.message, "the bucket name is empty");
          assert.equal(e.remoteName, "ArgumentError");
          return true;
        },
      );
      await assert.rejects(
        ts.call(ERL, "erlang", "throw", [atom("oops")]),
        (e: unknown) =>
          e instanceof RemoteError && e.kind === "throw" &&
          e.message === "oops",
      );
    },
  );
});
