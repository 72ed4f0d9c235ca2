import { test } from "node:test";
import assert from "node:assert/strict";
import { compareTerms } from "./term_order.ts";
import { formatTerm } from "./format.ts";
import {
  atom,
  BitBinary,
  ExportFun,
  Float,
  Fun,
  ImproperList,
  Pid,
  Port,
  Ref,
  tuple,
} from "./terms.ts";

const sorted = <T>(xs: T[], exact = false): T[] =>
  [...xs].sort((a, b) => compareTerms(a, b, { exact }));
const text = (xs: unknown[]) => xs.map((x) => formatTerm(x)).join(" ");

// The expected orders below are what OTP 25 and 27 print for
// lists:sort/1 of the same terms.

test("types: number < atom < reference < fun < port < pid < tuple < map < nil < list < bitstring", () => {
  const pid = new Pid("a@h", 1, 0, 1);
  const all = [
    "bin",
    [1],
    [],
    new Map(),
    tuple(),
    pid,
    new Port("a@h", 1n, 1),
    new ExportFun(atom("m"), atom("f"), 0),
    new Ref("a@h", 1, [1, 2, 3]),
    atom("a"),
    3,
  ];
  assert.deepEqual(sorted(all), [...all].reverse());
  // JavaScript values count as the terms they encode to. (Array sort puts
  // undefined last without asking the comparator: compare it directly.)
  assert.deepEqual(sorted(["s", true, null, 1, {}]), [1, null, true, {}, "s"]);
  assert.equal(compareTerms(undefined, atom("undefined")), 0);
  assert.equal(compareTerms(true, undefined), -1);
});

test("numbers: by value (1 == 1.0); exact: integers before floats, -0.0 before 0.0", () => {
  assert.equal(compareTerms(1, new Float(1)), 0);
  assert.equal(compareTerms(1, 1.5), -1);
  assert.equal(compareTerms(2n ** 70n, 1e300), -1);
  assert.equal(compareTerms(2n ** 70n, 1e20), 1);
  assert.equal(compareTerms(-(2n ** 70n), -1e20), -1);
  assert.equal(compareTerms(2 ** 53 + 2, 2n ** 53n + 2n), 0); // a float beyond 2^53
  const keys = [new Float(1), 2, 0.5, 5, new Float(0), new Float(-0)];
  assert.equal(text(sorted(keys)), "0.0 -0.0 0.5 1.0 2 5");
  assert.equal(text(sorted(keys, true)), "2 5 -0.0 0.0 0.5 1.0");
  assert.equal(compareTerms(1, new Float(1), { exact: true }), -1);
});

test("atoms by code point, bitstrings bit by bit (shorter first)", () => {
  const atoms = ["é", "z", "Z", "aa", "a", "ä", "\u{1F414}", "\uFFFD"].map(
    atom,
  );
  assert.deepEqual(
    sorted(atoms).map(String),
    ["Z", "a", "aa", "z", "ä", "é", "\uFFFD", "\u{1F414}"],
  );
  const b = (...x: number[]) => new Uint8Array(x);
  const bits = [
    new BitBinary(b(0x80), 1),
    b(128),
    "",
    b(1, 2),
    b(1),
    new BitBinary(b(0), 2),
    "é",
    "z",
  ];
  assert.equal(
    text(sorted(bits)),
    '<<>> <<0:2>> <<1>> <<1,2>> <<"z">> <<1:1>> <<128>> <<"é">>',
  );
  assert.equal(compareTerms("\uFFFD", "\u{1F414}"), -1); // UTF-16 order would say 1
});

test("lists element by element, then what follows: tails, nil, longer lists", () => {
  const lists = [
    new ImproperList([1], 2),
    [1, 2],
    [1],
    new ImproperList([1], atom("a")),
    [2],
    [97, 98],
    new ImproperList([0], tuple()),
  ];
  assert.equal(text(sorted(lists)), '[0|{}] [1|2] [1|a] [1] [1,2] [2] "ab"');
});

test("tuples by size then elements; maps by size, keys (map-key order), values", () => {
  assert.equal(
    text(sorted([tuple(2), tuple(1, 1), tuple(0, 0, 0), tuple(1)])),
    "{1} {2} {1,1} {0,0,0}",
  );
  const m = (...kv: unknown[]) => {
    const out = new Map<unknown, unknown>();
    for (let i = 0; i < kv.length; i += 2) out.set(kv[i], kv[i + 1]);
    return out;
  };
  assert.equal(
    text(sorted([
      m(atom("b"), 1),
      m(atom("a"), 2),
      m(atom("a"), 1),
      m(1, 1, 2, 2),
      m(new Float(1), 1),
      m(1, 1),
    ])),
    "#{1 => 1} #{1.0 => 1} #{a => 1} #{a => 2} #{b => 1} #{1 => 1,2 => 2}",
  );
  // A plain object is a map with binary keys.
  assert.equal(compareTerms({ a: 1 }, new Map([["a", 1]])), 0);
});

test("pids by serial, number, then node; refs and ports by node, creation, then id", () => {
  const p = (node: string, id: number, serial: number, cr: number) =>
    new Pid(node, id, serial, cr);
  assert.deepEqual(
    sorted([
      p("b@h", 1, 0, 1),
      p("a@h", 2, 0, 1),
      p("a@h", 1, 5, 1),
      p("a@h", 1, 0, 2),
      p("c@h", 0, 0, 1),
    ]).map((x) => `${x.node}.${x.id}.${x.serial}`),
    ["c@h.0.0", "a@h.1.0", "b@h.1.0", "a@h.2.0", "a@h.1.5"],
  );
  const r = (node: string, cr: number, ids: number[]) => new Ref(node, cr, ids);
  assert.deepEqual(
    sorted([
      r("b@h", 1, [1, 0, 0]),
      r("a@h", 1, [2, 0, 0]),
      r("a@h", 1, [1, 0, 5]),
      r("a@h", 2, [1, 0, 0]),
      r("a@h", 1, [1, 5, 0]),
    ]).map((x) => `${x.node}/${x.creation}/${x.ids}`),
    [
      "a@h/1/2,0,0",
      "a@h/1/1,5,0",
      "a@h/1/1,0,5",
      "a@h/2/1,0,0",
      "b@h/1/1,0,0",
    ],
  );
  assert.deepEqual(
    sorted([
      new Port("b@h", 1n, 1),
      new Port("a@h", 2n, 1),
      new Port("a@h", 1n, 2),
    ]).map(String),
    ["#Port<a@h.2>", "#Port<a@h.1>", "#Port<b@h.1>"],
  );
});

test("funs: closures before fun M:F/A; the creator pid is not part of a closure", () => {
  const closure = (index: number, creator: Pid, free: unknown[]) =>
    new Fun(1, new Uint8Array(16), index, atom("m"), index, 7, creator, free);
  const a = new Pid("a@h", 1, 0, 1), b = new Pid("b@h", 9, 3, 2);
  assert.equal(compareTerms(closure(0, a, [1]), closure(0, b, [1])), 0);
  assert.equal(compareTerms(closure(0, a, [1]), closure(0, a, [2])), -1);
  assert.deepEqual(
    sorted([
      new ExportFun(atom("lists"), atom("map"), 2),
      closure(1, a, []),
      new ExportFun(atom("erlang"), atom("abs"), 1),
      closure(0, a, []),
    ]).map(String),
    ["#Fun<m.0.7>", "#Fun<m.1.7>", "fun erlang:abs/1", "fun lists:map/2"],
  );
});

test('formatTerm prints map keys in map-key order, as io:format("~kp")', () => {
  // As OTP 27 sends count_children's map: not in key order.
  const counts = new Map<unknown, unknown>([
    [atom("active"), 1],
    [atom("workers"), 1],
    [atom("supervisors"), 0],
    [atom("specs"), 1],
  ]);
  assert.equal(
    formatTerm(counts),
    "#{active => 1,specs => 1,supervisors => 0,workers => 1}",
  );
  const mixed = new Map<unknown, unknown>([
    ["b", 1],
    [[1], 2],
    [[], 3],
    [new Map(), 4],
    [tuple(), 5],
    [atom("zz"), 6],
    [new Float(1), 7],
    [0.5, 8],
    [2, 9],
  ]);
  assert.equal(
    formatTerm(mixed),
    '#{2 => 9,0.5 => 8,1.0 => 7,zz => 6,{} => 5,#{} => 4,[] => 3,[1] => 2,<<"b">> => 1}',
  );
  assert.equal(formatTerm({ b: 1, a: 2 }), '#{<<"a">> => 2,<<"b">> => 1}');
  assert.equal(formatTerm(new Float(-0)), "-0.0");
});
