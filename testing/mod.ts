/**
 * Tagged tests, as ExUnit has them, for `node --test` and `deno test` alike:
 * `test(name, { tags: ["distributed"] }, fn)`, filtered the way `mix test`
 * filters with `--exclude`, `--include` and `--only`.
 *
 * The filters come from the `NODERL_TEST_TAGS` environment variable, either
 * as flags or as JSON:
 *
 * ```sh
 * NODERL_TEST_TAGS="--exclude distributed" node --import tsx --test
 * NODERL_TEST_TAGS="--only distributed" deno test -A
 * NODERL_TEST_TAGS='{"include":["distributed"]}' deno test -A
 * ```
 *
 * An excluded test is reported as skipped, with the reason; its name carries
 * its tags (`send_message [distributed]`), because Deno prints a skipped test
 * as "ignored" without the reason. Each test runs in a
 * {@linkcode peerScope}: peers and clusters it started and left running are
 * stopped when it ends — passed, failed or timed out.
 *
 * @example
 * ```ts ignore
 * import { excludeUnlessDistributed, test } from "noderl/testing";
 *
 * // The seed's `exclude = if Node.alive?, do: [], else: [distributed: true]`:
 * await excludeUnlessDistributed();
 *
 * test("send_message", { tags: ["distributed"] }, async () => {
 *   // …start peers, call them…
 * });
 * ```
 *
 * @module
 */
import { test as nodeTest } from "node:test";
import { optionalEnv } from "../node/_env.ts";
import { peerScope } from "../node/peer.ts";
import { startRegistry } from "../node/registry.ts";

/** Options of a tagged test. */
export interface TaggedOptions {
  /**
   * Tags such as `"distributed"` or `"beam"`; a tag may carry a value,
   * `"type:slow"` (a tag without one has the value `true`, as in ExUnit).
   */
  tags?: string[];
  /** Fails the test after this many milliseconds. Default 60 000. */
  timeout?: number;
  /** Skips the test with this reason (e.g. a tool is missing). */
  skip?: string | false;
}

/** The tag filters of a run, as `mix test` takes them. */
export interface TagFilters {
  /** Run tests with these tags even where they are excluded. */
  include: string[];
  /** Skip tests with these tags. */
  exclude: string[];
  /** Run only tests with these tags. */
  only: string[];
}

/**
 * Parses tag filters: flags (`--exclude a --include b --only c`, also
 * `--exclude=a`) or JSON (`{"exclude":["a"]}`). Empty or undefined: none.
 *
 * @throws {TypeError} for anything else, saying what is expected.
 */
export function parseTagFilters(raw: string | undefined): TagFilters {
  const f: TagFilters = { include: [], exclude: [], only: [] };
  const text = raw?.trim() ?? "";
  if (text === "") return f;
  if (text.startsWith("{")) {
    let parsed: Partial<Record<keyof TagFilters, unknown>>;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new TypeError(
        `NODERL_TEST_TAGS must be flags like "--exclude distributed" or JSON like {"exclude":["distributed"]}, got ${text}`,
      );
    }
    for (const key of ["include", "exclude", "only"] as const) {
      const v = parsed[key] ?? [];
      if (!Array.isArray(v) || v.some((t) => typeof t !== "string" || !t)) {
        throw new TypeError(
          `NODERL_TEST_TAGS: "${key}" must be a list of tag names, got ${
            JSON.stringify(v)
          }`,
        );
      }
      f[key] = v;
    }
    return f;
  }
  const words = text.split(/\s+/);
  for (let i = 0; i < words.length; i++) {
    const m = /^--(include|exclude|only)(?:=(.*))?$/.exec(words[i]);
    const value = m?.[2] ?? words[i + 1];
    if (!m || !value || value.startsWith("--")) {
      throw new TypeError(
        `NODERL_TEST_TAGS: expected --include TAG, --exclude TAG or --only TAG, got ${
          JSON.stringify(text)
        }`,
      );
    }
    if (m[2] === undefined) i++;
    f[m[1] as keyof TagFilters].push(value);
  }
  return f;
}

let active: TagFilters = parseTagFilters(optionalEnv("NODERL_TEST_TAGS"));
const defaultExcludes = new Map<string, string>();

/** The tag filters this process runs with (from `NODERL_TEST_TAGS`). */
export function tagFilters(): TagFilters {
  return {
    include: [...active.include],
    exclude: [...active.exclude],
    only: [...active.only],
  };
}

/**
 * Replaces the tag filters (from `NODERL_TEST_TAGS` by default) for the
 * tests declared after this call.
 */
export function setTagFilters(filters: Partial<TagFilters>): void {
  active = {
    include: [...filters.include ?? []],
    exclude: [...filters.exclude ?? []],
    only: [...filters.only ?? []],
  };
}

/**
 * Excludes every test tagged `tag` unless the run includes it
 * (`--include tag` or `--only tag`) — as `ExUnit.start(exclude: [tag])`.
 */
export function excludeByDefault(tag: string, reason: string): void {
  defaultExcludes.set(tag, reason);
}

/** Whether filter `filter` (`"a"` or `"a:v"`) selects tag `tag`. */
function matches(filter: string, tag: string): boolean {
  if (filter === tag) return true;
  const [fk, ...fv] = filter.split(":");
  const [tk, ...tv] = tag.split(":");
  if (fk !== tk) return false;
  if (fv.length === 0) return true; // "a" selects a:any
  return fv.join(":") === (tv.length ? tv.join(":") : "true");
}

const anyMatch = (filters: string[], tags: readonly string[]) =>
  filters.find((f) => tags.some((t) => matches(f, t)));

/**
 * Why a test with these tags does not run, or undefined when it runs.
 * As ExUnit decides: a test that an `--include` or `--only` filter selects
 * runs; otherwise `--only` excludes everything else, then `--exclude`
 * filters and default exclusions ({@linkcode excludeByDefault}) apply.
 */
export function exclusionReason(tags: readonly string[]): string | undefined {
  if (anyMatch([...active.include, ...active.only], tags)) return undefined;
  if (active.only.length > 0) {
    return `excluded: not tagged ${active.only.join(" or ")} (--only)`;
  }
  const excluded = anyMatch(active.exclude, tags);
  if (excluded !== undefined) {
    return `excluded by tag ${excluded} (--exclude ${excluded})`;
  }
  for (const [tag, why] of defaultExcludes) {
    if (tags.some((t) => matches(tag, t))) {
      return `excluded by tag ${tag}: ${why} (--include ${tag} runs it)`;
    }
  }
  return undefined;
}

/**
 * Whether this machine can run distributed tests: starts a registry on a
 * free port of `address` (default 127.0.0.1) and closes it. Resolves with
 * undefined when it can, else with the reason.
 */
export async function distributedUnavailable(
  address = "127.0.0.1",
): Promise<string | undefined> {
  try {
    const registry = await startRegistry({ port: 0, address });
    await registry.close();
    return undefined;
  } catch (e) {
    return `no registry can be started: ${(e as Error).message}`;
  }
}

/**
 * The seed's `Node.alive?` check: when no registry can be started here,
 * excludes tests tagged `tag` (default `"distributed"`) with the reason,
 * unless the run includes them. Call it at the top of a test file, before
 * its tests. Resolves with the reason, or undefined when they can run.
 */
export async function excludeUnlessDistributed(
  options: { tag?: string; address?: string } = {},
): Promise<string | undefined> {
  const reason = await distributedUnavailable(options.address);
  if (reason !== undefined) {
    excludeByDefault(options.tag ?? "distributed", reason);
  }
  return reason;
}

/**
 * Declares a test with tags, under `node --test` and `deno test`. Excluded
 * tests are skipped with the reason; the name shows the tags. The test
 * fails after `timeout` ms; peers and clusters it started
 * ({@linkcode startPeers}) and left running are stopped when it ends.
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
  const timeout = options.timeout ?? 60_000;
  // Node's own timeout is a backstop: ours fires first and cleans up.
  nodeTest(label, { timeout: timeout + 10_000 }, async () => {
    const scope = peerScope();
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        scope.run(fn),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`test timed out after ${timeout} ms`)),
            timeout,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
      await scope.stop();
    }
  });
}

export {
  type Cluster,
  type Peer,
  type PeerExit,
  type PeerOptions,
  type PeerScope,
  peerScope,
  startPeer,
  startPeers,
  type StartPeersOptions,
  stopAll,
} from "../node/peer.ts";
