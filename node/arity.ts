/**
 * The arity of a function defined with `defineModule`. On the BEAM `f/1` and
 * `f/2` are different functions and a call with another number of arguments
 * is `undef`; noderl keeps that rule:
 *
 * - a function takes exactly `fn.length` arguments — the parameters before
 *   the first one with a default value or a rest parameter;
 * - a function with optional or rest parameters declares what it takes
 *   with {@linkcode withArity}: one arity, several (as Elixir's default
 *   arguments define `f/1` and `f/2`), or `"any"`.
 *
 * A call with another number of arguments fails as on the BEAM: the caller
 * gets `{undef, [{M, F, Args, []}]}`.
 *
 * @example
 * ```ts
 * import { withArity } from "./arity.ts";
 * import { startRegistry } from "./registry.ts";
 * import { startNode } from "./node.ts";
 * import assert from "node:assert/strict";
 *
 * const registry = await startRegistry({ port: 0 });
 * const kate = await startNode({ name: "kate_arity@localhost", cookie: "c", registryPort: registry.port });
 * kate.defineModule("Greeter", {
 *   hello: (name: string) => `hello ${name}`,                      // hello/1
 *   hi: withArity([1, 2], (name: string, punct = "!") => `hi ${name}${punct}`), // hi/1, hi/2
 * });
 * assert.equal(await kate.call(kate.name, "Greeter", "hi", ["kate"]), "hi kate!");
 * assert.equal(await kate.call(kate.name, "Greeter", "hi", ["kate", "?"]), "hi kate?");
 * await assert.rejects(kate.call(kate.name, "Greeter", "hello", []), /undef/);
 * await kate.stop();
 * await registry.close();
 * ```
 *
 * @module
 */

/** Where a function's declared arities are kept (shared by module copies). */
const ARITY = Symbol.for("noderl.arity");

type Declared = readonly number[] | "any";

/**
 * Declares the numbers of arguments `fn` takes when it is called through
 * `defineModule` (rpc, `spawnRemote`, tasks): one arity, a list of them,
 * or `"any"`. Returns a new function that calls `fn`; `fn` itself is not
 * changed.
 *
 * @throws {RangeError} for an arity that is not an integer from 0 to 255.
 */
export function withArity<F extends (...args: never[]) => unknown>(
  arity: number | readonly number[] | "any",
  fn: F,
): F {
  if (typeof fn !== "function") {
    throw new TypeError(`withArity: expected a function, got ${typeof fn}`);
  }
  let declared: Declared;
  if (arity === "any") {
    declared = "any";
  } else {
    const list = typeof arity === "number" ? [arity] : [...arity];
    for (const a of list) {
      if (!Number.isInteger(a) || a < 0 || a > 255) {
        throw new RangeError(
          `withArity: an arity is an integer from 0 to 255 (as on the BEAM), got ${
            String(a)
          }`,
        );
      }
    }
    if (list.length === 0) {
      throw new RangeError('withArity: give at least one arity, or "any"');
    }
    declared = Object.freeze(list);
  }
  const wrapped = {
    [fn.name]: (...args: never[]) => fn(...args),
  }[fn.name];
  Object.defineProperty(wrapped, ARITY, { value: declared });
  return wrapped as unknown as F;
}

/** Whether `fn` takes `n` arguments (see the module's rule). @internal */
export function takesArity(
  fn: (...args: never[]) => unknown,
  n: number,
): boolean {
  const declared = (fn as { [ARITY]?: Declared })[ARITY];
  if (declared === undefined) return fn.length === n;
  return declared === "any" || declared.includes(n);
}

/** The arities `fn` takes, for messages: `"2"`, `"1 or 2"`, `"any number of"`. @internal */
export function describeArity(fn: (...args: never[]) => unknown): string {
  const declared = (fn as { [ARITY]?: Declared })[ARITY];
  if (declared === undefined) return String(fn.length);
  if (declared === "any") return "any number of";
  return declared.length === 1
    ? String(declared[0])
    : `${declared.slice(0, -1).join(", ")} or ${declared[declared.length - 1]}`;
}
