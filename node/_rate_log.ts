/**
 * Logging of what peers cause (failed handshakes, malformed messages to
 * system processes) with a bound: a flood of bad connections must not
 * become a flood of log lines. Internal.
 *
 * @module
 */

/**
 * Passes at most `limit` lines per kind to `log` in each `windowMs`; counts
 * the rest and reports the count once the window is over (on the next line
 * of that kind, or on `flush`).
 *
 * @internal
 */
export class RateLimitedLog {
  private readonly log: (message: string) => void;
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly kinds = new Map<
    string,
    { start: number; passed: number; dropped: number }
  >();

  constructor(log: (message: string) => void, limit = 10, windowMs = 60_000) {
    this.log = log;
    this.limit = limit;
    this.windowMs = windowMs;
  }

  /** Logs `message` unless `kind` has had `limit` lines in this window. */
  line(kind: string, message: string): void {
    const now = Date.now();
    let k = this.kinds.get(kind);
    if (k === undefined || now - k.start >= this.windowMs) {
      if (k !== undefined) this.report(kind, k.dropped);
      k = { start: now, passed: 0, dropped: 0 };
      this.kinds.set(kind, k);
    }
    if (k.passed < this.limit) {
      k.passed++;
      this.log(message);
    } else k.dropped++;
  }

  /** Reports what was held back. */
  flush(): void {
    for (const [kind, k] of this.kinds) this.report(kind, k.dropped);
    this.kinds.clear();
  }

  private report(kind: string, dropped: number): void {
    if (dropped > 0) {
      this.log(
        `${dropped} more ${kind} not logged (at most ${this.limit} a ${
          this.windowMs / 1000
        } s)`,
      );
    }
  }
}

/**
 * A term in a few dozen characters, for log lines about what a peer sent:
 * nested tuples and lists are cut after a few elements, long binaries after
 * 40 characters — a huge hostile term costs no more to log than a small one.
 */
export function briefTerm(term: unknown, budget = { nodes: 24 }): string {
  if (--budget.nodes < 0) return "…";
  if (Array.isArray(term)) {
    const tuple = term.constructor !== Array;
    const parts: string[] = [];
    for (const x of term) {
      if (budget.nodes <= 0 || parts.length >= 6) {
        parts.push("…");
        break;
      }
      parts.push(briefTerm(x, budget));
    }
    return tuple ? `{${parts.join(",")}}` : `[${parts.join(",")}]`;
  }
  if (typeof term === "string") {
    return JSON.stringify(term.length > 40 ? `${term.slice(0, 40)}…` : term);
  }
  if (term instanceof Uint8Array) return `<<${term.length} bytes>>`;
  if (term instanceof Map) return `#{${term.size} keys}`;
  if (term === null || term === undefined) return String(term);
  if (typeof term === "object" && !("toString" in term)) return "#object";
  const s = String(term);
  return s.length > 60 ? `${s.slice(0, 60)}…` : s;
}
