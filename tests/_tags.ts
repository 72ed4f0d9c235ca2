/**
 * Tagged tests, as ExUnit has them: `test(name, { tags }, fn)`. The runner
 * (`tests/run.mjs`) passes `--include`, `--exclude` and `--only` through the
 * `NODERL_TEST_TAGS` environment variable; an excluded test is reported as
 * skipped and its name carries its tags, since Deno prints skips without a
 * reason.
 *
 * @module
 */
import { test as nodeTest } from "node:test";
import process from "node:process";

/** Options of a tagged test. */
export interface TaggedOptions {
  /** Tags such as `"distributed"` or `"beam"`. */
  tags?: string[];
  /** Fails the test after this many milliseconds. Default 60 000. */
  timeout?: number;
  /** Skips the test with this reason (e.g. a tool is missing). */
  skip?: string | false;
}

interface Filters {
  include: string[];
  exclude: string[];
  only: string[];
}

function filters(): Filters {
  const raw = process.env.NODERL_TEST_TAGS;
  const f: Filters = { include: [], exclude: [], only: [] };
  if (!raw) return f;
  try {
    const parsed = JSON.parse(raw) as Partial<Filters>;
    f.include = parsed.include ?? [];
    f.exclude = parsed.exclude ?? [];
    f.only = parsed.only ?? [];
  } catch {
    throw new Error(
      `NODERL_TEST_TAGS must be JSON like {"exclude":["distributed"]}, got ${raw}`,
    );
  }
  return f;
}

const active = filters();
const defaultExcludes = new Map<string, string>();

/**
 * Excludes every test tagged `tag` unless the command line includes it —
 * the seed's `ExUnit.start(exclude: …)` when a node cannot be alive.
 */
export function excludeByDefault(tag: string, reason: string): void {
  defaultExcludes.set(tag, reason);
}

/** Why a test with these tags does not run, or undefined when it runs. */
export function exclusionReason(tags: readonly string[]): string | undefined {
  const included = (t: string) =>
    active.include.includes(t) || active.only.includes(t);
  if (active.only.length > 0 && !tags.some((t) => active.only.includes(t))) {
    return `excluded: not tagged ${active.only.join(" or ")} (--only)`;
  }
  for (const t of tags) {
    if (active.exclude.includes(t) && !included(t)) {
      return `excluded by tag ${t} (--exclude ${t})`;
    }
  }
  for (const t of tags) {
    const why = defaultExcludes.get(t);
    if (why !== undefined && !included(t)) {
      return `excluded by tag ${t}: ${why}`;
    }
  }
  return undefined;
}

/**
 * Declares a test with tags. Excluded tests are skipped with the reason.
 *
 * @example
 * ```ts ignore
 * test("send_message", { tags: ["distributed"] }, async () => {
 *   // …
 * });
 * ```
 */
export function test(
  name: string,
  options: TaggedOptions,
  fn: () => unknown | Promise<unknown>,
): void {
  const tags = options.tags ?? [];
  const label = tags.length ? `${name} [${tags.join(", ")}]` : name;
  const reason = options.skip || exclusionReason(tags);
  if (reason) {
    nodeTest(label, { skip: reason }, () => {});
    return;
  }
  nodeTest(label, { timeout: options.timeout ?? 60_000 }, async () => {
    await fn();
  });
}
