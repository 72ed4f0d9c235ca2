/**
 * The routing table: ranges of a bucket name's first byte, each owned by a
 * node (`[{?a..?m, :"foo@host"}, {?n..?z, :"bar@host"}]` in the guide).
 *
 * @module
 */

/** One entry: bytes `from..to` (inclusive) are owned by `node`. */
export interface RouteEntry {
  /** The first byte this entry owns. */
  from: number;
  /** The last byte this entry owns (inclusive). */
  to: number;
  /** The node that holds the buckets whose names start with these bytes. */
  node: string;
}

/**
 * Parses a table written as `"a-m=foo@host,n-z=bar@host"`: each entry is a
 * byte range (two characters, or one for a single byte, or decimal numbers
 * like `0-96`) and a node name. Throws a clear error for anything else.
 *
 * @example
 * ```ts
 * import { parseTable } from "./table.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseTable("a-m=foo@localhost,n-z=bar@localhost"), [
 *   { from: 97, to: 109, node: "foo@localhost" },
 *   { from: 110, to: 122, node: "bar@localhost" },
 * ]);
 * ```
 */
export function parseTable(spec: string): RouteEntry[] {
  const entries: RouteEntry[] = [];
  for (const part of spec.split(",").map((p) => p.trim()).filter(Boolean)) {
    const m = /^(.+?)=([^=@\s]+@[^=@\s]+)$/.exec(part);
    if (!m) {
      throw new TypeError(
        `bad routing table entry ${
          JSON.stringify(part)
        }: write RANGE=NODE, e.g. a-m=foo@localhost`,
      );
    }
    const range = m[1];
    let from: number, to: number;
    const nums = /^(\d+)-(\d+)$/.exec(range);
    if (nums) {
      from = Number(nums[1]);
      to = Number(nums[2]);
    } else if (/^.-.$/u.test(range) && range.length === 3) {
      from = range.charCodeAt(0);
      to = range.charCodeAt(2);
    } else if (range.length === 1) {
      from = to = range.charCodeAt(0);
    } else {
      throw new TypeError(
        `bad range ${
          JSON.stringify(range)
        } in routing table: use a-m, a single character, or bytes like 0-96`,
      );
    }
    if (!(from >= 0 && to <= 255 && from <= to)) {
      throw new TypeError(
        `bad range ${
          JSON.stringify(range)
        }: bytes go from 0 to 255, low to high`,
      );
    }
    entries.push({ from, to, node: m[2] });
  }
  if (entries.length === 0) throw new TypeError("the routing table is empty");
  return entries;
}

/** Prints a table the way the guide's error message shows it. */
export function formatTable(table: readonly RouteEntry[]): string {
  const ch = (
    b: number,
  ) => (b >= 33 && b < 127 ? `?${String.fromCharCode(b)}` : String(b));
  return `[${
    table.map((e) => `{${ch(e.from)}..${ch(e.to)}, :"${e.node}"}`).join(", ")
  }]`;
}
