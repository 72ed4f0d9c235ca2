import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { decode } from "./decode.ts";
import { encode } from "./encode.ts";
import {
  atom,
  BitBinary,
  Float,
  ImproperList,
  Pid,
  Ref,
  tuple,
} from "./terms.ts";
import { TermDecodeError } from "./term_errors.ts";

// The full 100,000-buffer run happens once per `npm test` (the runner sets
// NODERL_HEAVY=1 for one runtime); the other runtime does a quick pass.
const heavy = process.env.NODERL_HEAVY === "1";
const COUNT = heavy ? 100_000 : 5_000;

const corpus = [
  tuple(atom("ok"), "hello", 42, -7, 2n ** 70n, 1.5, new Float(2)),
  [1, 2, 3, [atom("a"), "b"], new ImproperList([1], atom("t"))],
  new Map<unknown, unknown>([[atom("k"), [1, 2]], ["s", tuple()]]),
  new Pid("alex@localhost", 1, 2, 3),
  new Ref("alex@localhost", 1, [1, 2, 3]),
  new BitBinary(new Uint8Array([1, 0xe0]), 3),
  new Uint8Array([0xff, 0, 1]),
  "héllo ✓".repeat(20),
  tuple(
    atom("$gen_call"),
    tuple(new Pid("a@b", 1, 0, 1), new Ref("a@b", 1, [1, 2, 3])),
    [104, 105],
  ),
].map((t) => encode(t));

test(`decode survives ${COUNT.toLocaleString("en")} random and mutated buffers`, () => {
  let seed = 0x9e3779b9;
  const rand = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(rand() * n);
  let ok = 0, refused = 0;
  const started = Date.now();
  for (let i = 0; i < COUNT; i++) {
    let buf: Uint8Array;
    const mode = i % 4;
    if (mode === 0) {
      buf = new Uint8Array(int(64));
      for (let j = 0; j < buf.length; j++) buf[j] = int(256);
      if (buf.length) buf[0] = 131;
    } else {
      const src = corpus[int(corpus.length)];
      buf = src.slice();
      if (mode === 1) {
        for (let k = 1 + int(4); k > 0; k--) buf[int(buf.length)] = int(256);
      } else if (mode === 2) {
        buf = buf.subarray(0, int(buf.length));
      } else {
        // A huge declared length somewhere.
        const at = 1 + int(Math.max(1, buf.length - 5));
        buf.set([0xff, 0xff, 0xff, int(256)], Math.min(at, buf.length - 4));
      }
    }
    try {
      decode(buf);
      ok++;
    } catch (e) {
      if (!(e instanceof TermDecodeError)) {
        assert.fail(`buffer ${Array.from(buf)} threw ${e}`);
      }
      assert.ok(
        e.offset >= 0 && e.offset <= buf.length,
        "offset within the input",
      );
      refused++;
    }
  }
  assert.equal(ok + refused, COUNT);
  assert.ok(refused > COUNT / 2, "most garbage is refused");
  assert.ok(Date.now() - started < 60_000, "fuzzing finished in time");
});
