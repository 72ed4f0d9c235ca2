import { test } from "node:test";
import assert from "node:assert/strict";
import { deflateSync } from "node:zlib";
import { decode } from "./decode.ts";
import { encode } from "./encode.ts";
import {
  Atom,
  atom,
  BitBinary,
  ExportFun,
  Float,
  Fun,
  ImproperList,
  Pid,
  Port,
  Ref,
  Tuple,
  tuple,
} from "./terms.ts";
import { TermDecodeError, TermEncodeError } from "./term_errors.ts";

const b = (...xs: number[]) => new Uint8Array(xs);
const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0));

test("decodes bytes produced by a real erl (OTP 25)", () => {
  // term_to_binary(self()) on nonode@nohost
  const pid = decode(b(
    131,
    88,
    100,
    0,
    13,
    ...ascii("nonode@nohost"),
    0,
    0,
    0,
    9,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
  ));
  assert.deepEqual(pid, new Pid("nonode@nohost", 9, 0, 0));
  // term_to_binary(make_ref())
  const ref = decode(b(
    131,
    90,
    0,
    3,
    100,
    0,
    13,
    ...ascii("nonode@nohost"),
    0,
    0,
    0,
    0,
    0,
    1,
    223,
    185,
    67,
    160,
    0,
    1,
    154,
    79,
    243,
    240,
  ));
  assert.deepEqual(
    ref,
    new Ref("nonode@nohost", 0, [0x1dfb9, 0x43a00001, 0x9a4ff3f0]),
  );
  // term_to_binary(fun lists:map/2)
  assert.deepEqual(
    decode(
      b(
        131,
        113,
        100,
        0,
        5,
        ...ascii("lists"),
        100,
        0,
        3,
        ...ascii("map"),
        97,
        2,
      ),
    ),
    new ExportFun(atom("lists"), atom("map"), 2),
  );
  // term_to_binary(Port)
  assert.deepEqual(
    decode(
      b(131, 89, 100, 0, 13, ...ascii("nonode@nohost"), 0, 0, 0, 5, 0, 0, 0, 0),
    ),
    new Port("nonode@nohost", 5n, 0),
  );
  // term_to_binary(1.0)
  assert.deepEqual(decode(b(131, 70, 63, 240, 0, 0, 0, 0, 0, 0)), new Float(1));
});

test("integers: small, 32-bit, big, both signs, safe-integer boundary", () => {
  const cases: Array<[number | bigint, number[]]> = [
    [0, [97, 0]],
    [255, [97, 255]],
    [256, [98, 0, 0, 1, 0]],
    [-1, [98, 255, 255, 255, 255]],
    [2147483647, [98, 127, 255, 255, 255]],
    [2147483648, [110, 4, 0, 0, 0, 0, 128]],
    [-2147483649, [110, 4, 1, 1, 0, 0, 128]],
    [2 ** 53 - 1, [110, 7, 0, 255, 255, 255, 255, 255, 255, 31]],
    [2n ** 64n, [110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]],
    [-(2n ** 64n), [110, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1]],
  ];
  for (const [v, bytes] of cases) {
    assert.deepEqual(Array.from(encode(v)), [131, ...bytes], `encode ${v}`);
    assert.equal(decode(b(131, ...bytes)), v, `decode ${v}`);
  }
  // A safe integer that arrives as a bignum decodes to a number; beyond, to a bigint.
  assert.equal(
    decode(b(131, 110, 7, 0, 255, 255, 255, 255, 255, 255, 31)),
    2 ** 53 - 1,
  );
  assert.equal(decode(b(131, 110, 8, 0, 0, 0, 0, 0, 0, 0, 32, 0)), 2n ** 53n);
  assert.equal(decode(encode(2n ** 53n - 1n)), 2 ** 53 - 1);
  // LARGE_BIG_EXT of 300 bytes.
  const big = (1n << 2399n) + 12345n;
  const enc = encode(big);
  assert.equal(enc[1], 111);
  assert.equal(decode(enc), big);
  assert.equal(decode(encode(-big)), -big);
});

test("floats: fractions are numbers, whole values are Float, and both survive", () => {
  assert.equal(decode(encode(1.5)), 1.5);
  assert.equal(decode(encode(-2.25e-300)), -2.25e-300);
  assert.deepEqual(decode(encode(new Float(1))), new Float(1));
  assert.deepEqual(decode(encode(new Float(-0))), new Float(-0));
  assert.ok(Object.is((decode(encode(new Float(-0))) as Float).value, -0));
  // Numbers beyond the safe range are floats (use bigint for big integers).
  assert.equal(encode(1e300)[1], 70);
  assert.equal(decode(encode(1e300)), 1e300);
  assert.equal(String(new Float(3)), "3.0");
  // The old 31-byte text float.
  const text = new Uint8Array(31);
  text.set(ascii("1.50000000000000000000e+00"));
  assert.equal(decode(b(131, 99, ...text)), 1.5);
  assert.throws(() => encode(NaN), TermEncodeError);
  assert.throws(() => encode(Infinity), TermEncodeError);
  assert.throws(() => encode(new Float(-Infinity)), TermEncodeError);
});

test("atoms: interned, every tag, unicode, true/false/nil", () => {
  assert.equal(atom("ok"), atom("ok"));
  assert.equal(decode(b(131, 100, 0, 2, 111, 107)), atom("ok"));
  assert.equal(decode(b(131, 115, 2, 111, 107)), atom("ok"));
  assert.equal(decode(b(131, 118, 0, 2, 111, 107)), atom("ok"));
  assert.equal(decode(b(131, 119, 2, 111, 107)), atom("ok"));
  // latin-1 ATOM_EXT: byte 233 is é
  assert.equal(decode(b(131, 100, 0, 1, 233)), atom("é"));
  assert.equal(decode(encode(atom("ünïcødé🐔"))), atom("ünïcødé🐔"));
  assert.equal(decode(encode(atom(""))), atom(""));
  const long = atom("🐔".repeat(255)); // 1020 bytes: ATOM_UTF8_EXT
  assert.equal(encode(long)[1], 118);
  assert.equal(decode(encode(long)), long);
  assert.throws(() => encode(atom("x".repeat(256))), /255 characters/);
  assert.equal(decode(encode(true)), true);
  assert.equal(decode(encode(false)), false);
  assert.equal(decode(encode(null)), null);
  assert.equal(decode(encode(undefined)), atom("undefined"));
  assert.equal(
    decode(encode(atom("Elixir.Chat.TaskSupervisor"))),
    atom("Elixir.Chat.TaskSupervisor"),
  );
  assert.throws(() => decode(b(131, 118, 0, 1, 0xff)), TermDecodeError);
});

test("binaries: UTF-8 to strings, other bytes to Uint8Array, bitstrings", () => {
  assert.equal(decode(encode("")), "");
  assert.equal(decode(encode("héllo ✓ 🐔")), "héllo ✓ 🐔");
  const bom = "\uFEFFbom";
  assert.equal(decode(encode(bom)), bom);
  const longText = "ab✓".repeat(10000);
  assert.equal(decode(encode(longText)), longText);
  // Each length around the short-text cut (24 bytes) and the ASCII fast path,
  // read from a binary in the middle of a bigger buffer.
  for (const n of [23, 24, 25, 26, 100, 1024, 70_000]) {
    const ascii = "x0~ ".repeat(n).slice(0, n);
    const framed = encode(["pre", ascii, "post"]);
    const wide = new Uint8Array(framed.length + 9);
    wide.set(framed, 5);
    assert.deepEqual(decode(wide.subarray(5, 5 + framed.length)), [
      "pre",
      ascii,
      "post",
    ]);
    const latin = `é${ascii}`; // not ASCII: the UTF-8 path
    assert.equal(decode(encode(latin)), latin);
    const notText = new Uint8Array(n).fill(0x41);
    notText[n - 1] = 0x80; // a stray continuation byte at the end
    assert.deepEqual(decode(encode(notText)), notText);
  }
  const raw = b(0xff, 0, 1, 2);
  assert.deepEqual(decode(encode(raw)), raw);
  // Overlong and surrogate encodings are not UTF-8.
  assert.deepEqual(decode(encode(b(0xc0, 0x80))), b(0xc0, 0x80));
  assert.deepEqual(decode(encode(b(0xed, 0xa0, 0x80))), b(0xed, 0xa0, 0x80));
  // Valid UTF-8 bytes come back as a string.
  assert.equal(decode(encode(new TextEncoder().encode("hi"))), "hi");
  const bits = new BitBinary(b(0b10100000), 3);
  assert.deepEqual(Array.from(encode(bits)), [
    131,
    77,
    0,
    0,
    0,
    1,
    3,
    0b10100000,
  ]);
  assert.deepEqual(decode(encode(bits)), bits);
  assert.equal(decode(b(131, 77, 0, 0, 0, 2, 8, 104, 105)), "hi");
  assert.throws(
    () => decode(b(131, 77, 0, 0, 0, 1, 9, 0)),
    /1\.\.8 trailing bits/,
  );
  assert.throws(
    () => decode(b(131, 77, 0, 0, 0, 1, 0, 0)),
    /1\.\.8 trailing bits/,
  );
});

test("binaries decoded from a Node Buffer are plain Uint8Array copies", async () => {
  const { Buffer } = await import("node:buffer");
  const input = Buffer.from(
    encode([b(0xff, 1), new BitBinary(b(0xff, 0x80), 1)]),
  );
  const [bin, bits] = decode(input) as [Uint8Array, BitBinary];
  assert.equal(Object.getPrototypeOf(bin), Uint8Array.prototype);
  assert.equal(Object.getPrototypeOf(bits.bytes), Uint8Array.prototype);
  input.fill(0);
  assert.deepEqual(bin, b(0xff, 1), "not a view of the input");
  assert.deepEqual(bits.bytes, b(0xff, 0x80));
});

test("lists: proper, charlists, improper, non-canonical tails", () => {
  assert.deepEqual(decode(encode([])), []);
  assert.deepEqual(Array.from(encode([104, 105])), [131, 107, 0, 2, 104, 105]);
  assert.deepEqual(decode(b(131, 107, 0, 2, 104, 105)), [104, 105]);
  assert.deepEqual(decode(encode([1, "a", [2]])), [1, "a", [2]]);
  const improper = new ImproperList([1, 2], atom("t"));
  assert.deepEqual(decode(encode(improper)), improper);
  // [1 | [2, 3]] written as a list whose tail is a list.
  assert.deepEqual(
    decode(b(131, 108, 0, 0, 0, 1, 97, 1, 108, 0, 0, 0, 2, 97, 2, 97, 3, 106)),
    [1, 2, 3],
  );
  assert.deepEqual(
    decode(b(131, 108, 0, 0, 0, 1, 97, 1, 107, 0, 1, 2)),
    [1, 2],
  );
  const big = Array.from({ length: 70000 }, (_, i) => i % 7);
  assert.deepEqual(decode(encode(big)), big);
});

test("tuples, maps and plain objects", () => {
  const t = tuple(atom("hi"), 1, tuple());
  assert.deepEqual(decode(encode(t)), t);
  assert.ok(decode(encode(t)) instanceof Tuple);
  assert.equal(tuple(5).length, 1);
  const large = Tuple.fromItems(Array.from({ length: 300 }, (_, i) => i));
  assert.equal(encode(large)[1], 105);
  assert.deepEqual(decode(encode(large)), large);
  assert.ok(Array.isArray(t));
  assert.deepEqual([...t], [atom("hi"), 1, tuple()]);
  const m = new Map<unknown, unknown>([[atom("a"), 1], ["b", [2]], [3, 4.5]]);
  assert.deepEqual(decode(encode(m)), m);
  assert.deepEqual(
    decode(encode({ name: "kate", n: 1 })),
    new Map<unknown, unknown>([["name", "kate"], ["n", 1]]),
  );
  assert.deepEqual(
    decode(encode(Object.assign(Object.create(null), { k: 1 }))),
    new Map([["k", 1]]),
  );
});

test("pids, refs, ports and funs round-trip", () => {
  const pid = new Pid("alex@localhost", 85, 2, 1700000000);
  assert.deepEqual(decode(encode(pid)), pid);
  assert.ok(pid.equals(decode(encode(pid))));
  assert.equal(String(pid), "#PID<alex@localhost.85.2>");
  const ref = new Ref("alex@localhost", 3, [1, 2, 3, 4, 5]);
  assert.deepEqual(decode(encode(ref)), ref);
  assert.ok(ref.equals(decode(encode(ref))));
  const port = new Port("alex@localhost", 2n ** 40n, 7);
  assert.equal(encode(port)[1], 120);
  assert.deepEqual(decode(encode(port)), port);
  const fun = new Fun(
    1,
    b(...Array.from({ length: 16 }, (_, i) => i)),
    42,
    atom("erl_eval"),
    42,
    3316493,
    pid,
    [1, "x"],
  );
  assert.deepEqual(decode(encode(fun)), fun);
  assert.deepEqual(
    decode(encode(new ExportFun(atom("Elixir.Kate"), atom("say_name"), 0))),
    new ExportFun(atom("Elixir.Kate"), atom("say_name"), 0),
  );
});

test("compressed terms (tag 80) decode, bounded", () => {
  const inner = encode(["x".repeat(1000), 1, 2]).subarray(1);
  const z = deflateSync(inner);
  const packed = b(131, 80, 0, 0, inner.length >> 8, inner.length & 255, ...z);
  assert.deepEqual(decode(packed), ["x".repeat(1000), 1, 2]);
  // Declared size disagrees with the data.
  const wrong = b(131, 80, 0, 0, 0, 10, ...z);
  assert.throws(() => decode(wrong), TermDecodeError);
  // Declared size above the limit is refused before inflating.
  assert.throws(
    () => decode(b(131, 80, 0xff, 0xff, 0xff, 0xff, ...z)),
    /maxUncompressedSize/,
  );
  assert.throws(() => decode(b(131, 80, 0, 0, 0, 5, 1, 2, 3)), TermDecodeError);
});

test("bad input: a TermDecodeError naming the offset and what was expected", () => {
  const cases: Array<[Uint8Array, RegExp]> = [
    [b(), /byte 0: expected the version byte 131, got no data/],
    [b(130, 97, 1), /expected the version byte 131, got 130/],
    [b(131), /expected a term tag/],
    [b(131, 97), /small integer/],
    [b(131, 98, 0, 0), /32-bit integer/],
    [
      b(131, 109, 0, 0, 0, 9, 1),
      /byte 6: expected the bytes of a binary: 9 bytes, but only 1 remain/,
    ],
    [b(131, 109, 0xff, 0xff, 0xff, 0xff), /bytes of a binary/],
    [b(131, 108, 0xff, 0xff, 0xff, 0xff, 106), /list elements/],
    [b(131, 105, 0xff, 0xff, 0xff, 0xff), /tuple elements/],
    [b(131, 116, 0x7f, 0xff, 0xff, 0xff), /map pairs/],
    [b(131, 111, 0xff, 0xff, 0xff, 0xff, 0), /big integer/],
    [b(131, 200), /byte 1: expected a known term tag, got 200/],
    [b(131, 82, 0), /atom cache/],
    [b(131, 97, 1, 0), /1 bytes left over/],
    [b(131, 88, 97, 1), /a node name \(an atom\), got tag 97/],
    [b(131, 70, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0), /finite float/],
    [b(131, 90, 0, 9, 119, 1, 97), /at most 5 reference words/],
    [b(131, 110, 1, 2, 1), /sign 0 or 1/],
    [b(131, 112, 0, 0, 0, 5), /header of a fun/],
  ];
  for (const [bytes, re] of cases) {
    assert.throws(
      () => decode(bytes),
      (e: unknown) => e instanceof TermDecodeError && re.test(e.message),
      `${Array.from(bytes)} should fail with ${re}`,
    );
  }
  const err = (() => {
    try {
      decode(b(131, 104, 2, 97, 1, 200));
    } catch (e) {
      return e as TermDecodeError;
    }
  })();
  assert.equal(err?.offset, 5);
});

test("deep nesting is refused cleanly, in both directions", () => {
  const depth = 200_000;
  const deep = new Uint8Array(1 + depth * 2 + 1);
  deep[0] = 131;
  for (let i = 0; i < depth; i++) {
    deep[1 + i * 2] = 104;
    deep[2 + i * 2] = 1;
  }
  deep[deep.length - 1] = 106;
  assert.throws(() => decode(deep), /nesting no deeper than 2000 \(maxDepth\)/);
  // Past what the engine's stack allows, still a TermDecodeError.
  assert.throws(() => decode(deep, { maxDepth: 1_000_000 }), TermDecodeError);
  // 1,000 levels is fine.
  let t: unknown = [];
  for (let i = 0; i < 1000; i++) t = tuple(t);
  assert.deepEqual(decode(encode(t)), t);
  const cyclic: unknown[] = [];
  cyclic.push(cyclic);
  assert.throws(() => encode(cyclic), /cyclic/);
  assert.throws(() => encode(cyclic, { maxDepth: 1e9 }), TermEncodeError);
  // The shared encoder is usable after an error.
  assert.deepEqual(decode(encode([1, 2])), [1, 2]);
});

test("values with no Erlang term are refused with a clear error", () => {
  assert.throws(() => encode(() => 1), /function has no Erlang term/);
  assert.throws(() => encode(Symbol("x")), /symbol has no Erlang term/);
  assert.throws(() => encode(new Date()), /a Date has no Erlang term/);
  assert.throws(() => encode(new BitBinary(b(1), 0)), /1\.\.8 bits/);
});

// ---- TS → TS property test over the types the README marks as round-tripping.

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomValue(r: () => number, depth: number): unknown {
  const int = (n: number) => Math.floor(r() * n);
  const pick = <T>(xs: T[]): T => xs[int(xs.length)];
  const kind = depth <= 0 ? int(12) : int(17);
  switch (kind) {
    case 0:
      return int(256);
    case 1:
      return pick([1, -1]) * int(2 ** 53);
    case 2:
      return (r() - 0.5) * 10 ** int(300) + 0.5; // has a fraction (or is huge)
    case 3:
      return new Float(pick([0, 1, -1, 42, 2 ** 53 - 1, -(2 ** 52)]));
    case 4:
      return pick([1n, -1n]) * (2n ** 53n + BigInt(int(1e9))) *
        10n ** BigInt(int(100));
    case 5: {
      const chars = ["a", "é", "✓", "🐔", "\u0000", " ", "\uFEFF"];
      return Array.from({ length: int(40) }, () => pick(chars)).join("");
    }
    case 6:
      return pick([true, false, null]);
    case 7:
      return atom(
        Array.from({ length: int(20) }, () => pick(["a", "B", "_", "ü", "🐔"]))
          .join(""),
      );
    case 8: {
      const bytes = new Uint8Array(1 + int(50));
      for (let i = 0; i < bytes.length; i++) bytes[i] = int(256);
      bytes[int(bytes.length)] = 0xff; // never valid UTF-8
      return bytes;
    }
    case 9:
      return new Pid(
        pick(["a@localhost", "kate@host"]),
        int(2 ** 28),
        int(8),
        int(2 ** 32),
      );
    case 10:
      return new Ref("a@localhost", int(2 ** 32), [
        int(2 ** 18),
        int(2 ** 32),
        int(2 ** 32),
      ]);
    case 11:
      return new BitBinary(
        new Uint8Array([int(256), int(256) & 0xf0]),
        1 + int(7),
      );
    case 12:
    case 13:
      return Array.from({ length: int(6) }, () => randomValue(r, depth - 1));
    case 14:
      return Tuple.fromItems(
        Array.from({ length: int(6) }, () => randomValue(r, depth - 1)),
      );
    case 15: {
      const m = new Map<unknown, unknown>();
      for (let i = int(5); i > 0; i--) {
        m.set(pick([atom(`k${i}`), `s${i}`, i]), randomValue(r, depth - 1));
      }
      return m;
    }
    default:
      return new ImproperList(
        Array.from({ length: 1 + int(3) }, () => randomValue(r, depth - 1)),
        pick([atom("tail"), 5, "t", new Float(2)]),
      );
  }
}

test("TS → TS round trip is exact over 5,000 random values", () => {
  const r = rng(20261122);
  for (let i = 0; i < 5000; i++) {
    const v = randomValue(r, 4);
    const back = decode(encode(v));
    assert.deepEqual(back, v, `value #${i}`);
  }
});

test("Atom instances cannot be forged with new", () => {
  // The constructor is private: Atom.of / atom() are the only way in.
  assert.equal(Atom.of("x"), atom("x"));
});

// ---- The fast paths: caches, the output slab, native UTF-8 validation.

test("floats are written big-endian, as the BEAM writes them", () => {
  assert.deepEqual(Array.from(encode(1.5)), [
    131,
    70,
    63,
    248,
    0,
    0,
    0,
    0,
    0,
    0,
  ]);
  assert.deepEqual(
    Array.from(encode(new Float(-2))),
    [131, 70, 192, 0, 0, 0, 0, 0, 0, 0],
  );
  assert.equal(decode(b(131, 70, 63, 248, 0, 0, 0, 0, 0, 0)), 1.5);
  const pi = [131, 70, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18];
  assert.deepEqual(Array.from(encode(Math.PI)), pi);
  assert.equal(decode(new Uint8Array(pi)), Math.PI);
});

test("binaries: UTF-8 validation agrees with a strict decoder at every length", () => {
  const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  const pieces = [
    [0x61],
    [0x7f],
    [0xc3, 0xa9], // é
    [0xe2, 0x9c, 0x93], // ✓
    [0xf0, 0x9f, 0x90, 0x94], // 🐔
    [0xef, 0xbb, 0xbf], // BOM, kept
    [0xc0, 0x80], // overlong
    [0xe0, 0x80, 0x80], // overlong
    [0xed, 0xa0, 0x80], // surrogate
    [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
    [0xf5, 0x80, 0x80, 0x80],
    [0xe2, 0x9c], // truncated
    [0x80], // stray continuation
    [0xff],
  ];
  const r = rng(7);
  for (let i = 0; i < 3000; i++) {
    // Lengths on both sides of the short-text threshold.
    const bytes: number[] = [];
    const target = Math.floor(r() * 80);
    while (bytes.length < target) {
      const p = pieces[Math.floor(r() * (r() < 0.8 ? 6 : pieces.length))];
      bytes.push(...p);
    }
    const raw = new Uint8Array(bytes);
    let expected: string | Uint8Array;
    try {
      expected = strict.decode(raw);
    } catch {
      expected = raw;
    }
    const bin = new Uint8Array(6 + raw.length);
    bin.set([131, 109, 0, 0, raw.length >> 8, raw.length & 255]);
    bin.set(raw, 6);
    assert.deepEqual(decode(bin), expected, `bytes ${bytes}`);
  }
});

test("atoms: the decode cache never confuses two atoms", () => {
  // Thousands of distinct atoms (many share a cache slot, a length, a
  // prefix or a suffix), decoded repeatedly in varying order, every tag.
  const names: string[] = [];
  for (let i = 0; i < 3000; i++) {
    names.push(
      `a${i}`,
      `node${i}@localhost`,
      `${i % 10}x`.padStart(1 + i % 40, "_"),
    );
  }
  names.push(
    "",
    "ok",
    "error",
    "true",
    "false",
    "nil",
    "x".repeat(64),
    "y".repeat(65),
  );
  const r = rng(11);
  for (let round = 0; round < 3; round++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[Math.floor(r() * names.length)];
      const text = ascii(name);
      const tag = [100, 118, 115, 119][k % 4];
      const head = tag === 100 || tag === 118
        ? [tag, text.length >> 8, text.length & 255]
        : [tag, text.length];
      const got = decode(b(131, ...head, ...text));
      const want = name === "true"
        ? true
        : name === "false"
        ? false
        : name === "nil"
        ? null
        : atom(name);
      assert.equal(got, want, name);
    }
  }
  // The same bytes as latin-1 and as UTF-8 are different atoms when not ASCII.
  assert.equal(decode(b(131, 115, 2, 0xc3, 0xa9)), atom("Ã©"));
  assert.equal(decode(b(131, 119, 2, 0xc3, 0xa9)), atom("é"));
});

test("pids and refs: node names alternate without mix-ups", () => {
  const nodes = ["a@host", "b@host", "ab@host", "a@hosu", "é@host", "a@host2"];
  const r = rng(3);
  for (let i = 0; i < 2000; i++) {
    const node = nodes[Math.floor(r() * nodes.length)];
    const pid = new Pid(node, i, 0, 1);
    const ref = new Ref(node, 2, [i, 1, 2]);
    assert.deepEqual(decode(encode(tuple(pid, ref))), tuple(pid, ref));
    // PID_EXT with an old-style ATOM_EXT node name, as old nodes send.
    const text = Array.from(new TextEncoder().encode(node));
    const old = decode(
      b(131, 103, 100, 0, text.length, ...text, 0, 0, 0, 5, 0, 0, 0, 0, 1),
    );
    assert.equal((old as Pid).node, node.startsWith("é") ? "Ã©@host" : node);
  }
});

test("encode: results never overlap, whatever their sizes", () => {
  const r = rng(5);
  const values: unknown[] = [];
  const results: Uint8Array[] = [];
  for (let i = 0; i < 4000; i++) {
    const size = [0, 1, 10, 200, 3000, 9000, 70_000][Math.floor(r() * 7)];
    const v = tuple(
      i,
      "y".repeat(size),
      r() < 0.5 ? "✓".repeat(size >> 4) : size,
    );
    values.push(v);
    results.push(encode(v));
  }
  // Checked only after all were made: a later result written over an
  // earlier one would show here.
  for (let i = 0; i < values.length; i++) {
    assert.deepEqual(decode(results[i]), values[i], `value #${i}`);
  }
  // A result is exactly its term: `slice()` copies just those bytes.
  const one = encode(atom("ok"));
  assert.deepEqual(Array.from(one.slice()), [131, 119, 2, 111, 107]);
});

test("encode: a transferred result buffer does not break later calls", () => {
  const first = encode(tuple(atom("ok"), 1));
  const slab = first.buffer as ArrayBuffer;
  structuredClone(slab, { transfer: [slab] });
  assert.equal(first.length, 0); // detached
  const next = encode(tuple(atom("ok"), 2));
  assert.deepEqual(decode(next), tuple(atom("ok"), 2));
  assert.deepEqual(decode(encode("x".repeat(5000))), "x".repeat(5000));
});

test("encode: a nested call from a getter gets its own buffer", () => {
  let inner: Uint8Array | undefined;
  const value = {
    get a() {
      inner = encode(tuple(atom("inner"), "z".repeat(100)));
      return 5;
    },
    b: "after",
  };
  const outer = encode(value);
  assert.deepEqual(
    decode(outer),
    new Map<unknown, unknown>([["a", 5], ["b", "after"]]),
  );
  assert.deepEqual(decode(inner!), tuple(atom("inner"), "z".repeat(100)));
  // And a failing term leaves the shared state usable.
  assert.throws(() => encode([1, () => 1]), TermEncodeError);
  assert.deepEqual(decode(encode([1, 2])), [1, 2]);
});

test("encode: frozen atoms and long strings that outgrow the buffer", () => {
  const frozen = Object.freeze(atom("frozen_atom"));
  assert.deepEqual(Array.from(encode(frozen)), [
    131,
    119,
    11,
    ...ascii("frozen_atom"),
  ]);
  assert.equal(decode(encode(tuple(frozen, frozen))) instanceof Tuple, true);
  // ASCII head, then multi-byte text: the room reserved first is too small.
  for (const n of [64, 1000, 70_000]) {
    const s = "a".repeat(n) + "✓🐔é".repeat(n);
    const bytes = encode(s);
    assert.equal(bytes[1], 109);
    const len = (bytes[2] << 24 | bytes[3] << 16 | bytes[4] << 8 | bytes[5]) >>>
      0;
    assert.equal(len, new TextEncoder().encode(s).length);
    assert.equal(decode(bytes), s);
  }
});

test("a Map whose keys are one Erlang term twice is refused, not sent corrupt", () => {
  // Found by tests/soak_mixed.ts: the BEAM drops the whole connection on
  // such a map ("got a corrupted external term").
  for (
    const [k1, k2] of [
      [[1], [1]],
      [1, 1n],
      ["a", new Uint8Array([97])],
      [true, atom("true")],
      [null, atom("nil")],
      [tuple(1, "x"), tuple(1, "x")],
      [new Map([[1, 2], [3, 4]]), new Map([[3, 4], [1, 2]])],
    ] as [unknown, unknown][]
  ) {
    const m = new Map<unknown, unknown>([[k1, 0], [k2, 1]]);
    assert.throws(
      () => encode(m),
      (e: unknown) =>
        e instanceof TermEncodeError && /two keys .* same Erlang term/.test(
          e.message,
        ),
      `keys ${String(k1)} and ${String(k2)}`,
    );
    assert.throws(() => encode([tuple(m)]), TermEncodeError); // nested too
  }
  // Distinct keys that look alike stay allowed.
  const ok = new Map<unknown, unknown>([
    [1, 0],
    [new Float(1), 1],
    ["true", 2],
    [true, 3],
    [[1], 4],
    [tuple(1), 5],
    [atom("a"), 6],
    ["a", 7],
    [2 ** 53, 8], // a float: decode gives numbers past 2 ** 53 for floats
    [2n ** 53n, 9], // the integer
    [new Float(0), 10],
    [new Float(-0), 11], // two keys since OTP 27
  ]);
  assert.deepEqual(decode(encode(ok)), ok);
});
