/**
 * Peer nodes for tests, like OTP's `peer` module: a registry on a free port
 * and noderl nodes in child processes of the runtime running the caller
 * (Deno runs `deno run -A`, Node runs `node` with the caller's `execArgv`, so
 * a loader such as tsx carries over), each loading modules from a file.
 *
 * A modules file default-exports a setup function:
 *
 * ```ts ignore
 * // kate.ts
 * import { type Node, puts } from "noderl/node";
 * export default (node: Node) =>
 *   node.defineModule("Kate", { say_name: () => puts("Hi, my name is Kate") });
 * ```
 *
 * Everything a peer leaves behind is cleaned up: `stop()` ends a peer (its
 * node stops, peers see it go down), `kill()` sends SIGKILL; a peer also
 * stops when its standard input ends, so it never outlives the process that
 * started it, and peers still running when that process exits are killed.
 * {@linkcode peerScope} stops what a block of code started, even when it
 * throws or is abandoned after a timeout.
 *
 * @example
 * ```ts
 * import { startPeers } from "./peer.ts";
 * import assert from "node:assert/strict";
 *
 * const modules = "data:text/javascript,export default (node) => " +
 *   "node.defineModule('Kate', { add: (a, b) => a + b });";
 * const cluster = await startPeers({ peers: ["kate"], modules });
 * try {
 *   const alex = await cluster.startNode("alex");
 *   assert.equal(await alex.call("kate@localhost", "Kate", "add", [1, 2]), 3);
 * } finally {
 *   await cluster.stop();
 * }
 * ```
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { type Node, type NodeOptions, startNode } from "./node.ts";
import { type Registry, startRegistry } from "./registry.ts";
import { defaultRegistryPort } from "./registry_client.ts";
import { nodeNameFrom } from "./_names.ts";

/** Options of {@linkcode startPeer}. */
export interface PeerOptions {
  /** The node name: `"kate@localhost"`, or `"kate"` for `kate@localhost`. */
  name: string;
  /**
   * A module (a path, relative to the working directory, or a URL) whose
   * default export — or export `setup` — is called with the peer's started
   * {@linkcode Node}: `(node) => void | Promise<void>`. Built (npm) peers
   * load it with plain `import()`: give them JavaScript, or TypeScript when
   * the caller runs under a loader such as tsx.
   */
  modules?: string | URL;
  /** The registry's port. Default: `ERL_EPMD_PORT`, else 4369. */
  registryPort?: number;
  /**
   * The cookie. Default: the child resolves it as {@linkcode startNode} does
   * (`NODERL_COOKIE`, else `~/.erlang.cookie`). Passed in the environment,
   * never on the command line.
   */
  cookie?: string;
  /** Start a hidden node. Default false. */
  hidden?: boolean;
  /** Extra environment variables for the child (added to this process's). */
  env?: Record<string, string>;
  /**
   * Runtime flags for the child, replacing the default: under Node, this
   * process's `execArgv` less test-runner, watch and inspector flags; under
   * Deno, nothing (added after `run -A`).
   */
  runtimeArgs?: string[];
  /** How long the peer may take to be ready, in ms. Default 30 000. */
  startTimeoutMs?: number;
  /**
   * Echo the peer's output, one prefixed line at a time, to this process's
   * standard error (`true`) or to a function. Default: on when the
   * `NODERL_PEER_ECHO` environment variable is `1`.
   */
  echo?: boolean | ((line: string) => void);
}

/** How a peer's process ended. */
export interface PeerExit {
  /** The exit code, or null when a signal ended it. */
  code: number | null;
  /** The signal that ended it (e.g. `"SIGKILL"`), or null. */
  signal: string | null;
}

interface Stoppable {
  stop(): Promise<unknown>;
}

const READY_PREFIX = "noderl peer ready "; // as node/peer_main.ts prints it
const MAX_OUTPUT = 4 * 1024 * 1024;
const scopes = new AsyncLocalStorage<Set<Stoppable>>();
const livePeers = new Set<Peer>();
const liveClusters = new Set<Cluster>();
const children = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort: whatever still runs when this process exits dies with it.
  process.on("exit", () => {
    for (const c of children) {
      try {
        c.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
  });
}

function adopt(s: Stoppable, scope: Set<Stoppable> | undefined): void {
  scope?.add(s);
}

/** A noderl node running in a child process, as {@linkcode startPeer} returns it. */
export class Peer {
  /** The node's full name, e.g. `kate@localhost`. */
  readonly name: string;
  /** The child's OS process id. */
  readonly pid: number;
  /** The node's distribution port. */
  readonly port: number;
  /** The port of the registry the node registered with. */
  readonly registryPort: number;
  /** Resolves when the child process has exited (and its output is read). */
  readonly exited: Promise<PeerExit>;

  readonly #child: ChildProcess;
  readonly #chunks: { text: string };
  readonly #onOutput: Set<() => void>;
  #exit: PeerExit | undefined;

  /** @internal Use {@linkcode startPeer} or {@linkcode startPeers}. */
  constructor(init: {
    name: string;
    port: number;
    registryPort: number;
    child: ChildProcess;
    chunks: { text: string };
    onOutput: Set<() => void>;
    exited: Promise<PeerExit>;
  }) {
    this.name = init.name;
    this.port = init.port;
    this.registryPort = init.registryPort;
    this.#child = init.child;
    this.pid = init.child.pid!;
    this.#chunks = init.chunks;
    this.#onOutput = init.onOutput;
    this.exited = init.exited.then((e) => {
      this.#exit = e;
      livePeers.delete(this);
      return e;
    });
  }

  /** Whether the child process is still running. */
  get running(): boolean {
    return this.#exit === undefined && this.#child.exitCode === null &&
      this.#child.signalCode === null;
  }

  /** Everything the peer wrote to stdout and stderr so far, interleaved. */
  output(): string {
    return this.#chunks.text;
  }

  /**
   * Waits until the peer's output (from its start) matches `pattern`;
   * resolves with the match. Rejects when the peer exits first or after
   * `timeoutMs` (default 30 000), quoting the output.
   */
  waitForOutput(
    pattern: string | RegExp,
    timeoutMs = 30_000,
  ): Promise<RegExpExecArray> {
    const re = typeof pattern === "string"
      ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
      : new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ""));
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = re.exec(this.#chunks.text);
        if (m) {
          done();
          resolve(m);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `peer ${this.name}: output did not match ${re} within ${timeoutMs} ms; output:\n${
              tail(this.#chunks.text)
            }`,
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#onOutput.delete(check);
      };
      this.#onOutput.add(check);
      check();
      this.exited.then((e) => {
        if (!this.#onOutput.has(check)) return;
        check();
        if (!this.#onOutput.has(check)) return;
        done();
        reject(
          new Error(
            `peer ${this.name} exited (${
              describeExit(e)
            }) before its output matched ${re}; output:\n${
              tail(this.#chunks.text)
            }`,
          ),
        );
      });
    });
  }

  /**
   * Stops the peer: closes its standard input, so its node stops (its
   * connections close: peers see `noconnection`) and the process exits.
   * Sends SIGTERM if it still runs after half of `timeoutMs` (at most 3 s),
   * SIGKILL after `timeoutMs` (default 10 000). Resolves with how it ended.
   */
  async stop(timeoutMs = 10_000): Promise<PeerExit> {
    if (!this.running) return this.exited;
    // The end of its standard input stops a peer; SIGTERM if it does not
    // (Deno reports any child sent SIGTERM as killed by it, hence not first).
    this.#child.stdin?.end();
    const term = setTimeout(() => {
      if (this.running) this.#child.kill("SIGTERM");
    }, Math.min(3000, timeoutMs / 2));
    const timer = setTimeout(() => this.killNow(), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(term);
      clearTimeout(timer);
    }
  }

  /**
   * Kills the peer with SIGKILL — a crash, as far as its peers can tell —
   * and resolves once the process is gone.
   */
  async kill(): Promise<PeerExit> {
    if (!this.running) return this.exited;
    this.killNow();
    const timer = setTimeout(() => {}, 60_000); // keep the event loop alive
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** @internal Sends SIGKILL now, synchronously. */
  killNow(): void {
    if (!this.running) return;
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }

  /** Stops the peer (for `await using`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

function tail(text: string, lines = 40): string {
  const all = text.trimEnd().split("\n");
  return (all.length > lines ? ["…", ...all.slice(-lines)] : all)
    .map((l) => `  | ${l}`).join("\n");
}

function describeExit(e: PeerExit): string {
  return e.signal ? `signal ${e.signal}` : `code ${e.code}`;
}

/** Where node/peer_main lives next to this module: source, or built (dist). */
function peerMainUrl(): URL {
  // In the CJS build import.meta is empty; there the module has __filename.
  const here = import.meta.url ??
    (typeof __filename === "string" ? pathToFileURL(__filename).href : "");
  if (!here) {
    throw new Error(
      "noderl: cannot locate node/peer_main (no import.meta.url)",
    );
  }
  if (!here.startsWith("file:")) return new URL("./peer_main.ts", here);
  const candidates = /\.[mc]?ts$/.test(here)
    ? ["./peer_main.ts"]
    : ["./peer_main.js", "./node/peer_main.js", "../node/peer_main.js"];
  for (const c of candidates) {
    const u = new URL(c, here);
    if (existsSync(fileURLToPath(u))) return u;
  }
  throw new Error(
    `noderl: cannot find the peer script next to ${here} (looked for ${
      candidates.join(", ")
    })`,
  );
}

const VALUED = new Set([
  "--test-reporter",
  "--test-reporter-destination",
  "--test-name-pattern",
  "--test-skip-pattern",
  "--test-concurrency",
  "--test-timeout",
  "--test-shard",
  "--watch-path",
  "--inspect-port",
  "--debug-port",
  "-e",
  "--eval",
  "-p",
  "--print",
  "--input-type",
]);
const DROPPED =
  /^(--test|--experimental-test|--watch|--inspect|--debug-port|-e$|--eval|-p$|--print|-c$|--check|-i$|--interactive|--input-type)/;

/** This process's Node flags a peer should inherit (loaders, conditions…). */
function inheritedExecArgv(): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (DROPPED.test(a)) {
      if (VALUED.has(a)) i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

/** `kate` is `kate@localhost`; a full name is checked as `startNode` checks it. */
function fullName(name: string): string {
  return nodeNameFrom({
    name: name.includes("@") ? name : `${name}@localhost`,
  });
}

function modulesSpec(m: string | URL): string {
  if (m instanceof URL) return m.href;
  if (/^[a-z][a-z0-9+.-]*:/i.test(m) && !/^[a-z]:[\\/]/i.test(m)) return m;
  return pathToFileURL(isAbsolute(m) ? m : resolve(m)).href;
}

/**
 * Starts one peer node in a child process of this runtime and resolves once
 * its node is registered and its modules are defined. Rejects, with the
 * peer's output, if it exits or is not ready within `startTimeoutMs`.
 *
 * @example
 * ```ts ignore
 * const peer = await startPeer({ name: "kate", registryPort, cookie, modules: "./kate.ts" });
 * await peer.waitForOutput(/listening/);
 * await peer.kill();
 * ```
 */
export function startPeer(options: PeerOptions): Promise<Peer> {
  const scope = scopes.getStore();
  return startPeerIn(options, scope);
}

async function startPeerIn(
  options: PeerOptions,
  scope: Set<Stoppable> | undefined,
): Promise<Peer> {
  const name = fullName(options.name);
  const registryPort = options.registryPort ?? defaultRegistryPort();
  const script = peerMainUrl();
  const isDeno = "Deno" in globalThis;
  const scriptArg = script.protocol === "file:"
    ? fileURLToPath(script)
    : script.href;
  const peerArgs = [
    scriptArg,
    "--name",
    name,
    "--registry-port",
    String(registryPort),
    "--watch-stdin",
    ...(options.hidden ? ["--hidden"] : []),
    ...(options.modules ? ["--modules", modulesSpec(options.modules)] : []),
  ];
  const args = isDeno
    ? ["run", "-A", ...(options.runtimeArgs ?? []), ...peerArgs]
    : [...(options.runtimeArgs ?? inheritedExecArgv()), ...peerArgs];
  const env: Record<string, string | undefined> = {
    ...process.env,
    ...options.env,
  };
  if (options.cookie !== undefined) env.NODERL_COOKIE = options.cookie;
  delete env.NODE_TEST_CONTEXT; // Node's test runner: not a test file

  const echoOpt = options.echo ?? process.env.NODERL_PEER_ECHO === "1";
  const echo = typeof echoOpt === "function"
    ? echoOpt
    : echoOpt
    ? (line: string) => process.stderr.write(`[${name}] ${line}\n`)
    : undefined;

  installExitHook();
  const child = spawn(process.execPath, args, {
    stdio: ["pipe", "pipe", "pipe"],
    env,
  });
  // Tracked at once, so that even a peer that never gets ready is killed.
  children.add(child);
  child.on("exit", () => children.delete(child));
  child.stdout!.setEncoding("utf8");
  child.stderr!.setEncoding("utf8");
  const chunks = { text: "" };
  const onOutput = new Set<() => void>();
  let partial = "";
  const onData = (s: string) => {
    chunks.text += s;
    if (chunks.text.length > MAX_OUTPUT) {
      chunks.text = chunks.text.slice(-MAX_OUTPUT / 2);
    }
    if (echo) {
      partial += s;
      const lines = partial.split("\n");
      partial = lines.pop()!;
      for (const l of lines) echo(l);
    }
    for (const f of [...onOutput]) f();
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  child.stdin!.on("error", () => {}); // EPIPE once the child is gone

  let exitInfo: PeerExit | undefined;
  const exited = new Promise<PeerExit>((resolve) => {
    let fallback: ReturnType<typeof setTimeout> | undefined;
    const finish = () => {
      clearTimeout(fallback);
      if (echo && partial) echo(partial);
      partial = "";
      resolve(exitInfo!);
    };
    child.on("exit", (code, signal) => {
      exitInfo = { code, signal };
      // Normally "close" follows once the pipes are drained.
      fallback = setTimeout(finish, 1000);
    });
    child.on("close", (code, signal) => {
      exitInfo ??= { code, signal };
      finish();
    });
  });
  const spawnError = new Promise<never>((_, reject) =>
    child.on("error", (e) => reject(e))
  );

  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const ready = await Promise.race([
      new Promise<[number]>((resolve) => {
        const re = new RegExp(`^${READY_PREFIX}(\\S+) (\\d+)$`, "m");
        const check = () => {
          const m = re.exec(chunks.text);
          if (m) {
            onOutput.delete(check);
            resolve([Number(m[2])]);
          }
        };
        onOutput.add(check);
      }),
      exited.then((e) => {
        throw new Error(
          `peer ${name} exited (${
            describeExit(e)
          }) before it was ready; output:\n${tail(chunks.text)}`,
        );
      }),
      spawnError,
      new Promise<never>((_, reject) => {
        const ms = options.startTimeoutMs ?? 30_000;
        timer = setTimeout(() => {
          child.kill("SIGKILL");
          reject(
            new Error(
              `peer ${name} was not ready within ${ms} ms; output:\n${
                tail(chunks.text)
              }`,
            ),
          );
        }, ms);
      }),
    ]);
    const peer = new Peer({
      name,
      port: ready[0],
      registryPort,
      child,
      chunks,
      onOutput,
      exited,
    });
    livePeers.add(peer);
    adopt(peer, scope);
    // A forgotten peer must not keep this process alive: it dies with it.
    child.unref();
    for (const s of [child.stdin, child.stdout, child.stderr]) {
      (s as unknown as { unref?: () => void } | null)?.unref?.();
    }
    return peer;
  } catch (e) {
    child.kill("SIGKILL");
    await exited;
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/** Options of {@linkcode startPeers}. */
export interface StartPeersOptions extends Omit<PeerOptions, "name"> {
  /**
   * The peers to start: their names (`"kate"` or `"kate@localhost"`), or how
   * many (named `peer1`, `peer2`, …).
   */
  peers: number | string[];
  /**
   * A registry that already runs. Default: a new registry, in this process,
   * on a free port, closed by {@linkcode Cluster.stop}.
   */
  registryPort?: number;
  /** The cookie of every node. Default: a new random cookie. */
  cookie?: string;
}

/** A registry and the peers started by {@linkcode startPeers}. */
export class Cluster {
  /** The peers, in the order they were named (and any added later). */
  readonly peers: Peer[];
  /** The registry's port. */
  readonly registryPort: number;
  /** The registry, when the cluster started its own. */
  readonly registry: Registry | undefined;
  /** The cookie every node of the cluster uses. */
  readonly cookie: string;

  readonly #options: StartPeersOptions;
  readonly #nodes: Node[] = [];
  readonly #scope: Set<Stoppable> | undefined;
  #stopping: Promise<void> | undefined;

  /** @internal Use {@linkcode startPeers}. */
  constructor(init: {
    peers: Peer[];
    registryPort: number;
    registry: Registry | undefined;
    cookie: string;
    options: StartPeersOptions;
    scope: Set<Stoppable> | undefined;
  }) {
    this.peers = init.peers;
    this.registryPort = init.registryPort;
    this.registry = init.registry;
    this.cookie = init.cookie;
    this.#options = init.options;
    this.#scope = init.scope;
  }

  /** The peer named `name` (full or short name); throws if there is none. */
  peer(name: string): Peer {
    const full = fullName(name);
    const p = this.peers.find((p) => p.name === full);
    if (!p) {
      throw new Error(
        `no peer ${full} in this cluster (${
          this.peers.map((p) => p.name).join(", ")
        })`,
      );
    }
    return p;
  }

  /** Starts another peer in this cluster (same registry, cookie, defaults). */
  async startPeer(
    nameOrOptions: string | Partial<PeerOptions> & { name: string },
  ): Promise<Peer> {
    const o = typeof nameOrOptions === "string"
      ? { name: nameOrOptions }
      : nameOrOptions;
    const { peers: _peers, ...defaults } = this.#options;
    const peer = await startPeerIn({
      ...defaults,
      ...o,
      registryPort: this.registryPort,
      cookie: this.cookie,
    }, this.#scope);
    this.peers.push(peer);
    return peer;
  }

  /**
   * Starts a node in this process that belongs to the cluster (its registry
   * and cookie); it is stopped with the cluster. A name without a host,
   * `"alex"`, is `alex@localhost`.
   */
  async startNode(nameOrOptions: string | NodeOptions): Promise<Node> {
    const o = typeof nameOrOptions === "string"
      ? { name: fullName(nameOrOptions) }
      : nameOrOptions.name === undefined
      ? nameOrOptions
      : { ...nameOrOptions, name: fullName(nameOrOptions.name) };
    const node = await startNode({
      cookie: this.cookie,
      registryPort: this.registryPort,
      ...o,
    });
    this.#nodes.push(node);
    return node;
  }

  /**
   * Stops every peer (in parallel), every node started with
   * {@linkcode Cluster.startNode}, and the registry if the cluster started
   * it. Safe to call more than once.
   */
  stop(): Promise<void> {
    return this.#stopping ??= (async () => {
      await Promise.all(this.peers.map((p) => p.stop().catch(() => {})));
      await Promise.all(this.#nodes.map((n) => n.stop().catch(() => {})));
      await this.registry?.close().catch(() => {});
      liveClusters.delete(this);
    })();
  }

  /** Stops the cluster (for `await using`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/**
 * Starts a registry on a free port (or uses `registryPort`) and the peers,
 * in parallel, as child processes of this runtime. If any peer fails to
 * start, everything started is stopped and the error (with that peer's
 * output) is thrown.
 *
 * @example
 * ```ts ignore
 * const cluster = await startPeers({ peers: ["kate", "jane"], modules: "./tests/kate.ts" });
 * try {
 *   const alex = await cluster.startNode("alex");
 *   await alex.call("kate@localhost", "Kate", "say_name", []);
 *   await cluster.peer("jane").kill();
 * } finally {
 *   await cluster.stop();
 * }
 * ```
 */
export async function startPeers(options: StartPeersOptions): Promise<Cluster> {
  const scope = scopes.getStore();
  const names = typeof options.peers === "number"
    ? Array.from({ length: options.peers }, (_, i) => `peer${i + 1}`)
    : options.peers;
  const full = names.map(fullName);
  const dup = full.find((n, i) => full.indexOf(n) !== i);
  if (dup) throw new TypeError(`peer name ${dup} given twice`);
  const cookie = options.cookie ?? randomCookie();
  const registry = options.registryPort === undefined
    ? await startRegistry({ port: 0 })
    : undefined;
  const registryPort = registry?.port ?? options.registryPort!;
  const { peers: _peers, ...defaults } = options;
  const started = await Promise.allSettled(
    full.map((name) =>
      startPeerIn({ ...defaults, name, registryPort, cookie }, scope)
    ),
  );
  const peers = started.flatMap((r) =>
    r.status === "fulfilled" ? [r.value] : []
  );
  const cluster = new Cluster({
    peers,
    registryPort,
    registry,
    cookie,
    options,
    scope,
  });
  const failed = started.find((r): r is PromiseRejectedResult =>
    r.status === "rejected"
  );
  if (failed) {
    await cluster.stop();
    throw failed.reason;
  }
  liveClusters.add(cluster);
  adopt(cluster, scope);
  return cluster;
}

function randomCookie(): string {
  const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  return Array.from(randomBytes(20), (b) => letters[b % 26]).join("");
}

/**
 * Stops every cluster and peer started in this process that still runs.
 * For an `after` hook: `after(stopAll)`.
 */
export async function stopAll(): Promise<void> {
  await Promise.all([...liveClusters].map((c) => c.stop()));
  await Promise.all([...livePeers].map((p) => p.stop().catch(() => {})));
}

/** The peers started in this process that still run. */
export function runningPeers(): Peer[] {
  return [...livePeers];
}

/** Cleans up what a block of code started: see {@linkcode peerScope}. */
export interface PeerScope {
  /**
   * Runs `fn`; every peer and cluster it starts (in its async context) is
   * owned by this scope.
   */
  run<T>(fn: () => T | Promise<T>): Promise<T>;
  /** Stops everything the scope owns that still runs. */
  stop(): Promise<void>;
  /** Stops what it owns: `await using scope = peerScope()`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * A scope that owns the peers and clusters started inside
 * {@linkcode PeerScope.run}: `stop()` ends those still running — after the
 * block returned, threw, or was given up on after a timeout. The tagged
 * `test()` of `noderl/testing` runs each test in one.
 *
 * @example
 * ```ts ignore
 * const scope = peerScope();
 * try {
 *   await scope.run(async () => {
 *     const cluster = await startPeers({ peers: 2 });
 *     throw new Error("the test fails, the cluster is not stopped here");
 *   });
 * } finally {
 *   await scope.stop(); // …but here
 * }
 * ```
 */
export function peerScope(): PeerScope {
  const owned = new Set<Stoppable>();
  return {
    run: <T>(fn: () => T | Promise<T>) =>
      scopes.run(owned, async () => await fn()),
    async stop() {
      const all = [...owned].reverse();
      owned.clear();
      for (const s of all) await s.stop().catch(() => {});
    },
    async [Symbol.asyncDispose]() {
      await this.stop();
    },
  };
}
