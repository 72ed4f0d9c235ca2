/**
 * A secret (the cookie) that stays out of logs: printing, inspecting or
 * serialising it shows `[secret]`; only `reveal()` gives the value. The
 * value is held in a WeakMap, not in a property, so no inspection of the
 * object (nor of what holds it) can reach it. Internal.
 *
 * @module
 */

const values = new WeakMap<Secret, string>();

/** A string that is never printed. */
export class Secret {
  constructor(value: string) {
    values.set(this, value);
  }

  /** The value itself: for the handshake's digests only. */
  reveal(): string {
    return values.get(this)!;
  }

  /** `[secret]`. */
  toString(): string {
    return "[secret]";
  }

  /** `"[secret]"`. */
  toJSON(): string {
    return "[secret]";
  }

  /** How Node.js's `util.inspect` and `console.log` show it. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return "[secret]";
  }

  /** How Deno's `console.log` shows it. */
  [Symbol.for("Deno.customInspect")](): string {
    return "[secret]";
  }
}
