/**
 * The term model: JavaScript classes for the Erlang terms that have no
 * native JavaScript counterpart.
 *
 * | Erlang                | JavaScript                                      |
 * | --------------------- | ----------------------------------------------- |
 * | atom                  | {@linkcode Atom} (interned; `true`/`false`/`nil` map to `true`/`false`/`null`) |
 * | tuple                 | {@linkcode Tuple} (an `Array` subclass)          |
 * | float with no fraction | {@linkcode Float} (other floats are `number`)   |
 * | pid, reference, port  | {@linkcode Pid}, {@linkcode Ref}, {@linkcode Port} |
 * | `fun M:F/A`           | {@linkcode ExportFun}                            |
 * | closure               | {@linkcode Fun} (opaque: it can be passed on, never run) |
 * | improper list         | {@linkcode ImproperList}                         |
 * | bitstring             | {@linkcode BitBinary}                            |
 *
 * @module
 */

// The state and classes every copy of this module in one process shares
// (an ESM and a CJS build, two installed copies, a JSR and an npm copy): one
// object on globalThis under a registered symbol. The version in its key
// changes whenever the term classes change shape; copies of different
// versions keep their own.
const SHARED_KEY = Symbol.for("noderl.terms.v1");

interface SharedTerms {
  atoms: Map<string, WeakRef<Atom>>;
  atomGone: FinalizationRegistry<string>;
  classes?: TermClasses;
}

interface TermClasses {
  Atom: typeof Atom;
  Tuple: typeof Tuple;
  Float: typeof Float;
  Pid: typeof Pid;
  Ref: typeof Ref;
  Port: typeof Port;
  ExportFun: typeof ExportFun;
  Fun: typeof Fun;
  ImproperList: typeof ImproperList;
  BitBinary: typeof BitBinary;
}

const shared: SharedTerms = ((globalThis as Record<symbol, unknown>)[
  SHARED_KEY
] ??= newSharedTerms()) as SharedTerms;

function newSharedTerms(): SharedTerms {
  // The atom table. Atoms are interned, but unlike the BEAM's table this one
  // is collectable: it holds atoms weakly, so atoms nothing refers to any more
  // (say, millions of distinct atoms a peer sent) go with the next garbage
  // collection instead of staying forever. Identity holds all the same: while
  // anything holds an atom, `Atom.of` returns that very object.
  const atoms = new Map<string, WeakRef<Atom>>();
  const atomGone = new FinalizationRegistry<string>((name) => {
    const r = atoms.get(name);
    if (r !== undefined && r.deref() === undefined) atoms.delete(name);
  });
  return { atoms, atomGone };
}

const atomTable = shared.atoms;
const atomGone = shared.atomGone;

/** How many atoms the table holds (live ones, and dead ones not yet swept). @internal */
export function atomCount(): number {
  return atomTable.size;
}

/**
 * An Erlang atom. Atoms are interned: `atom("ok") === atom("ok")`, so they
 * can be compared with `===` and used as `Map` keys. Unlike the BEAM's, the
 * atom table is collectable: atoms no longer referenced are freed, so a peer
 * that sends millions of distinct atoms costs memory only while they are
 * held. `String(a)` is the
 * atom's exact text; noderl never adds or strips an `Elixir.` prefix.
 *
 * @example
 * ```ts
 * import { atom, Atom } from "./terms.ts";
 * import assert from "node:assert/strict";
 *
 * const ok = atom("ok");
 * assert.equal(ok, atom("ok"));
 * assert.equal(String(ok), "ok");
 * assert.ok(ok instanceof Atom);
 * ```
 */
export class Atom {
  /** The atom's text. */
  readonly name: string;
  private constructor(name: string) {
    this.name = name;
  }
  /** Returns the interned atom for `name`. Prefer {@linkcode atom}. */
  static of(name: string): Atom {
    let a = atomTable.get(name)?.deref();
    if (a === undefined) {
      if (typeof name !== "string") {
        throw new TypeError(`atom name must be a string, got ${typeof name}`);
      }
      a = new Atom(name);
      atomTable.set(name, new WeakRef(a));
      atomGone.register(a, name);
    }
    return a;
  }
  /** The atom's text. */
  toString(): string {
    return this.name;
  }
  /** Atoms serialize to JSON as their text. */
  toJSON(): string {
    return this.name;
  }
  /** Node's `util.inspect` shows atoms as Elixir does: `:ok`. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return /^[a-z_][a-zA-Z0-9_@]*[?!]?$/.test(this.name) ||
        /^Elixir\./.test(this.name)
      ? `:${this.name}`
      : `:${JSON.stringify(this.name)}`;
  }
}

/**
 * Returns the interned {@linkcode Atom} named `name`.
 *
 * @example
 * ```ts
 * import { atom } from "./terms.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(atom("Elixir.Chat.TaskSupervisor").name, "Elixir.Chat.TaskSupervisor");
 * ```
 */
export function atom(name: string): Atom {
  return Atom.of(name);
}

/**
 * An Erlang tuple. It is an `Array` subclass, so it can be indexed and
 * destructured: `const [tag, pid] = msg`. Array methods work on it; those
 * that build new arrays (`map`, `slice`) build tuples. (Tuple does not
 * override `Symbol.species`: doing so makes V8 construct every tuple ~30x
 * slower.)
 *
 * @example
 * ```ts
 * import { atom, tuple, Tuple } from "./terms.ts";
 * import assert from "node:assert/strict";
 *
 * const t = tuple(atom("hi"), 42);
 * assert.ok(t instanceof Tuple);
 * const [tag, n] = t;
 * assert.equal(tag, atom("hi"));
 * assert.equal(n, 42);
 * ```
 */
export class Tuple extends Array<unknown> {
  /** Builds a tuple of exactly the given items (unlike `new Tuple(n)`). */
  static fromItems(items: ArrayLike<unknown>): Tuple {
    if (Array.isArray(items)) {
      // Sized up front, then filled: several times faster than push.
      const n = items.length;
      const t = new Tuple(n);
      for (let i = 0; i < n; i++) t[i] = items[i];
      return t;
    }
    const t = new Tuple();
    for (let i = 0; i < items.length; i++) t.push(items[i]);
    return t;
  }
}

/**
 * Returns a {@linkcode Tuple} of the given items.
 *
 * @example
 * ```ts
 * import { atom, tuple } from "./terms.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(tuple(atom("ok"), 1).length, 2);
 * assert.equal(tuple(5).length, 1);
 * ```
 */
export function tuple(...items: unknown[]): Tuple {
  return Tuple.fromItems(items);
}

/**
 * A float whose value has no fractional part (`1.0`, `-0.0`, `1.0e300`).
 * JavaScript cannot tell `1.0` from `1`, so decoding yields a `Float` for
 * such floats and a plain `number` for all others; encoding a `Float`
 * always produces an Erlang float. `+f` or `f.value` gives the number.
 *
 * @example
 * ```ts
 * import { Float } from "./terms.ts";
 * import assert from "node:assert/strict";
 *
 * const one = new Float(1);
 * assert.equal(+one, 1);
 * assert.equal(String(one), "1.0");
 * ```
 */
export class Float {
  /** The number. */
  readonly value: number;
  /** A float of the given value (an integral one stays a float on the wire). */
  constructor(value: number) {
    this.value = value;
  }
  /** The number, so `+f` and arithmetic work. */
  valueOf(): number {
    return this.value;
  }
  /** The float as Erlang prints it, with a fraction: `1.0`. */
  toString(): string {
    const s = String(this.value);
    return /[.eE]|Infinity|NaN/.test(s) ? s : `${s}.0`;
  }
  /** Floats serialize to JSON as their number. */
  toJSON(): number {
    return this.value;
  }
}

/**
 * An Erlang process identifier. Two `Pid` objects for the same process are
 * not `===`; compare with {@linkcode Pid.equals} or use {@linkcode Pid.key}
 * as a map key.
 */
export class Pid {
  /** The name of the node the process lives on. */
  readonly node: string;
  /** Process number on its node. */
  readonly id: number;
  /** Serial (wraps with `id`). */
  readonly serial: number;
  /** The node's creation (incarnation) when the pid was made. */
  readonly creation: number;
  /** A pid from its parts, as the node `node` made it. */
  constructor(node: string, id: number, serial: number, creation: number) {
    this.node = node;
    this.id = id;
    this.serial = serial;
    this.creation = creation;
  }
  /** A string that identifies this pid, for use as a map key. */
  get key(): string {
    return `${this.node}|${this.id}|${this.serial}|${this.creation}`;
  }
  /** True when `other` is a pid of the same process. */
  equals(other: unknown): boolean {
    return other instanceof Pid && other.id === this.id &&
      other.serial === this.serial && other.creation === this.creation &&
      other.node === this.node;
  }
  /** As the BEAM prints a pid, with the node name: `#PID<alex@localhost.85.0>`. */
  toString(): string {
    return `#PID<${this.node}.${this.id}.${this.serial}>`;
  }
  /** Node's `util.inspect` shows the BEAM's notation. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}

/** An Erlang reference (`make_ref()`, monitor references, aliases). */
export class Ref {
  /** The name of the node that made the reference. */
  readonly node: string;
  /** The node's creation when the reference was made. */
  readonly creation: number;
  /** The reference's 32-bit words (3 to 5 on OTP 25). */
  readonly ids: readonly number[];
  /** A reference from its parts, as the node `node` made it. */
  constructor(node: string, creation: number, ids: readonly number[]) {
    this.node = node;
    this.creation = creation;
    this.ids = ids;
  }
  #key: string | undefined;
  /** A string that identifies this reference, for use as a map key (made once). */
  get key(): string {
    return this.#key ??= `${this.node}|${this.creation}|${this.ids.join(".")}`;
  }
  /** True when `other` is the same reference. */
  equals(other: unknown): boolean {
    if (
      !(other instanceof Ref) || other.node !== this.node ||
      other.creation !== this.creation || other.ids.length !== this.ids.length
    ) return false;
    for (let i = 0; i < this.ids.length; i++) {
      if (other.ids[i] !== this.ids[i]) return false;
    }
    return true;
  }
  /** As the BEAM prints it: `#Reference<alex@localhost.1.2.3>`. */
  toString(): string {
    return `#Reference<${this.node}.${this.ids.slice().reverse().join(".")}>`;
  }
  /** Node's `util.inspect` shows the BEAM's notation. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}

/** An Erlang port identifier. Ports cannot be used from noderl, only passed on. */
export class Port {
  /** The node the port belongs to. */
  readonly node: string;
  /** Port number (up to 64 bits). */
  readonly id: bigint;
  /** The node's creation. */
  readonly creation: number;
  /** A port identifier from its parts. */
  constructor(node: string, id: bigint, creation: number) {
    this.node = node;
    this.id = id;
    this.creation = creation;
  }
  /** As the BEAM prints it: `#Port<alex@localhost.5>`. */
  toString(): string {
    return `#Port<${this.node}.${this.id}>`;
  }
}

/** An external fun, `fun Module:Function/Arity`. */
export class ExportFun {
  /** The module atom. */
  readonly module: Atom;
  /** The function atom. */
  readonly function: Atom;
  /** The arity (0..255). */
  readonly arity: number;
  /** `fun module:fun/arity`. */
  constructor(module: Atom, fun: Atom, arity: number) {
    this.module = module;
    this.function = fun;
    this.arity = arity;
  }
  /** As the BEAM prints it: `fun lists:map/2`. */
  toString(): string {
    return `fun ${this.module.name}:${this.function.name}/${this.arity}`;
  }
}

/**
 * A closure from the BEAM. noderl never runs code sent over the wire; a
 * `Fun` is kept whole so it can be sent back or passed on unchanged.
 *
 * Two funs are equal, as on the BEAM (`=:=`), when their module, index,
 * uniq, arity and captured variables are: the creator {@linkcode Fun.pid}
 * is not part of a fun's identity. It is therefore not an own property,
 * and `assert.deepEqual` (which compares own properties) compares funs as
 * the BEAM does. OTP 26 and later do not keep the creator at all: a fun
 * sent to them comes back with `<their node.0.0>` as its pid.
 *
 * @example
 * ```ts
 * import { atom, Fun, Pid } from "./terms.ts";
 * import assert from "node:assert/strict";
 *
 * const make = (creator: Pid) =>
 *   new Fun(0, new Uint8Array(16), 0, atom("erl_eval"), 0, 42, creator, [1]);
 * const a = make(new Pid("a@localhost", 85, 0, 1));
 * const b = make(new Pid("b@localhost", 0, 0, 7));
 * assert.deepEqual(a, b); // the same closure, made by different processes
 * assert.equal(a.pid.node, "a@localhost");
 * ```
 */
export class Fun {
  readonly #pid: Pid;
  /** A closure from its parts, as the BEAM encodes it (decoding makes these). */
  constructor(
    /** The fun's arity. */
    readonly arity: number,
    /** The 16-byte MD5 of the module's code. */
    readonly uniq: Uint8Array,
    /** Index in the module's fun table. */
    readonly index: number,
    /** The module that defined the fun. */
    readonly module: Atom,
    /** Old index (an integer term). */
    readonly oldIndex: number,
    /** Old uniq (an integer term). */
    readonly oldUniq: number,
    /** The process that created the fun (not part of its identity). */
    pid: Pid,
    /** The captured variables. */
    readonly freeVars: readonly unknown[],
  ) {
    this.#pid = pid;
  }
  /** The process that created the fun; not part of its identity (see {@linkcode Fun}). */
  get pid(): Pid {
    return this.#pid;
  }
  /** As the BEAM prints it: `#Fun<erl_eval.42.3316493>`. */
  toString(): string {
    return `#Fun<${this.module.name}.${this.index}.${this.oldUniq}>`;
  }
}

/**
 * A list whose tail is not the empty list: `[1, 2 | 3]` is
 * `new ImproperList([1, 2], 3)`.
 */
export class ImproperList {
  /** `[...items | tail]`. */
  constructor(
    /** The elements before the tail (at least one). */
    readonly items: unknown[],
    /** The tail (anything but `[]`). */
    readonly tail: unknown,
  ) {}
}

/**
 * A bitstring whose length is not a whole number of bytes: `bytes` holds
 * the data and `bits` (1..8) says how many bits of the last byte count
 * (the high ones).
 */
export class BitBinary {
  /** A bitstring of `bytes`, of which `bits` count in the last one. */
  constructor(
    /** The bytes (at least one). */
    readonly bytes: Uint8Array,
    /** Significant bits in the last byte, 1..8. */
    readonly bits: number,
  ) {}
}

// One identity for terms across copies of this module: the first copy
// loaded in the process registers its classes; every later copy uses those
// very classes (its own class bindings are pointed at them), so `instanceof`,
// the codec and `atom("ok") === atom("ok")` agree across copies at the full
// speed of a native `instanceof` (a `Symbol.hasInstance` would cost 5-10x
// on every check the codec makes).
const first = (shared.classes ??= {
  Atom,
  Tuple,
  Float,
  Pid,
  Ref,
  Port,
  ExportFun,
  Fun,
  ImproperList,
  BitBinary,
});
if (first.Atom !== Atom) {
  // @ts-expect-error: TS2629 — the class binding is pointed at the first copy's class on purpose
  // deno-lint-ignore no-class-assign
  Atom = first.Atom;
  // @ts-expect-error: TS2629, as above
  // deno-lint-ignore no-class-assign
  Tuple = first.Tuple;
  // @ts-expect-error: TS2629, as above
  // deno-lint-ignore no-class-assign
  Float = first.Float;
  // @ts-expect-error: TS2629, as above
  // deno-lint-ignore no-class-assign
  Pid = first.Pid;
  // @ts-expect-error: TS2629, as above
  // deno-lint-ignore no-class-assign
  Ref = first.Ref;
  // @ts-expect-error: TS2629, as above
  // deno-lint-ignore no-class-assign
  Port = first.Port;
  // @ts-expect-error: TS2629, as above
  // deno-lint-ignore no-class-assign
  ExportFun = first.ExportFun;
  // @ts-expect-error: TS2629, as above
  // deno-lint-ignore no-class-assign
  Fun = first.Fun;
  // @ts-expect-error: TS2629, as above
  // deno-lint-ignore no-class-assign
  ImproperList = first.ImproperList;
  // @ts-expect-error: TS2629, as above
  // deno-lint-ignore no-class-assign
  BitBinary = first.BitBinary;
}
