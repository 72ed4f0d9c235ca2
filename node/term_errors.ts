/**
 * Errors raised by the External Term Format codec.
 *
 * @module
 */

/**
 * Thrown by {@linkcode decode} when the bytes are not a valid term: the
 * message names the byte offset and what was expected there.
 *
 * @example
 * ```ts
 * import { decode } from "./decode.ts";
 * import { TermDecodeError } from "./term_errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => decode(new Uint8Array([131, 109, 0, 0, 0, 9])), TermDecodeError);
 * ```
 */
export class TermDecodeError extends Error {
  /** Byte offset in the input where decoding failed. */
  readonly offset: number;
  /** `message` says what was expected at byte `offset`. */
  constructor(message: string, offset: number) {
    super(`cannot decode term at byte ${offset}: ${message}`);
    this.name = "TermDecodeError";
    this.offset = offset;
  }
}

/**
 * Thrown by {@linkcode encode} for a JavaScript value that has no Erlang
 * term (a function, a symbol, `NaN`, a cyclic structure, …).
 */
export class TermEncodeError extends Error {
  /** `message` says which value cannot be encoded and why. */
  constructor(message: string) {
    super(`cannot encode as an Erlang term: ${message}`);
    this.name = "TermEncodeError";
  }
}
