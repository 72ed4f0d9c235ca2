/**
 * A publish/subscribe service that is a Phoenix.PubSub (2.x) node on the
 * wire: its adapter servers join the `pg` scope `Elixir.Phoenix.PubSub`
 * under the group `Elixir.<Name>.Adapter` (and `…Adapter_2` … `_N` for a
 * pool), and a broadcast sends `{forward_to_local, Topic, Message,
 * Dispatcher}` to each adapter server of the group on the other nodes,
 * which hands the message to its local subscribers. So a TypeScript
 * service subscribes to an Elixir application's topics and broadcasts to
 * its subscribers directly — no Redis, no bridge process.
 *
 * Subscribers are processes; each gets the broadcast message itself in its
 * mailbox, as an Elixir subscriber does.
 *
 * @example
 * ```ts
 * import { startRegistry } from "../node/registry.ts";
 * import { startNode } from "../node/node.ts";
 * import { receive } from "../node/process_api.ts";
 * import { PubSub } from "./pubsub.ts";
 * import assert from "node:assert/strict";
 *
 * const registry = await startRegistry({ port: 0 });
 * const alex = await startNode({ name: "psalex@localhost", cookie: "c", registryPort: registry.port });
 * const kate = await startNode({ name: "pskate@localhost", cookie: "c", registryPort: registry.port });
 * const name = "Elixir.MyApp.PubSub"; // MyApp.PubSub in Elixir
 * const onAlex = await PubSub.start(alex, { name });
 * const onKate = await PubSub.start(kate, { name });
 * await alex.connect("pskate@localhost");
 * await onAlex.whenConnected("pskate@localhost"); // kate's adapter joined
 * const got = new Promise((resolve) => {
 *   kate.spawn(async () => {
 *     onKate.subscribe("news");
 *     resolve(await receive());
 *   });
 * });
 * PubSub.broadcast(name, "news", "hello", { node: alex });
 * assert.equal(await got, "hello");
 * await alex.stop();
 * await kate.stop();
 * await registry.close();
 * ```
 *
 * @module
 */
import {
  brief,
  hooksOf,
  peerLine,
  serialHandler,
} from "../node/_cluster_hooks.ts";
import { processContext, runningNodes } from "../node/_context.ts";
import { termKey } from "../node/_term_key.ts";
import type { Node } from "../node/node.ts";
import { type PgScope, pgScope } from "../node/pg.ts";
import type { Process } from "../node/process.ts";
import { Atom, Pid, type Ref, Tuple, tuple } from "../node/terms.ts";

/** The pg scope every Phoenix.PubSub uses (`Phoenix.PubSub` in Elixir). */
export const PUBSUB_SCOPE = "Elixir.Phoenix.PubSub";
/** The default dispatcher module (`Phoenix.PubSub`). */
export const DEFAULT_DISPATCHER = "Elixir.Phoenix.PubSub";

/**
 * A dispatcher: given the subscribers of a topic (pid and the metadata
 * they subscribed with), the sender to skip (or `undefined`) and the
 * message, delivers it. Phoenix.PubSub's default sends the message to each.
 */
export type Dispatcher = (
  entries: ReadonlyArray<readonly [pid: Pid, metadata: unknown]>,
  from: Pid | undefined,
  message: unknown,
  send: (pid: Pid, message: unknown) => void,
) => void;

/** Options of {@linkcode PubSub.start}. */
export interface PubSubOptions {
  /**
   * The PubSub's name, as an atom's exact text: Elixir's `MyApp.PubSub` is
   * `"Elixir.MyApp.PubSub"`. The adapter group is this name plus `.Adapter`.
   */
  name: string | Atom;
  /**
   * How many adapter servers (and pg groups) the PubSub has, as the
   * `:pool_size` of the Elixir side, which must match. Default 1.
   */
  poolSize?: number;
  /**
   * Dispatchers for broadcasts that name another dispatcher module than
   * `Phoenix.PubSub`, by module atom text. A broadcast naming a module that
   * is not here is delivered as the default dispatcher does (and logged
   * once). Default: none.
   */
  dispatchers?: Record<string, Dispatcher>;
}

/** Options that say which node a call acts on. */
export interface OnNode {
  /** Default: the calling process's node. */
  node?: Node;
}

/** Options of the broadcasts. */
export interface BroadcastOptions extends OnNode {
  /** The dispatcher module's atom text. Default `"Elixir.Phoenix.PubSub"`. */
  dispatcher?: string | Atom;
}

const FORWARD = Atom.of("forward_to_local");
const instances = new WeakMap<Node, Map<string, PubSub>>();

function callerOf(explicit?: Node): [Node, Process] {
  const p = processContext.getStore();
  if (explicit !== undefined) {
    return [
      explicit,
      p !== undefined && p.owner === explicit && p.alive ? p : explicit.shell,
    ];
  }
  if (p !== undefined && p.owner !== undefined && p.alive) {
    return [p.owner as Node, p];
  }
  const n = runningNodes[0] as Node | undefined;
  if (n === undefined) {
    throw new Error(
      "no node is running in this process: start one with startNode({ name }) first",
    );
  }
  return [n, n.shell];
}

function hashKey(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
  return h >>> 0;
}

/** Where a subscriber is, and with what metadata, by topic. */
interface Subscription {
  pid: Pid;
  metadata: unknown;
}

/**
 * A Phoenix.PubSub on a noderl node. {@linkcode PubSub.start} one; then
 * subscribe processes to topics and broadcast, through the instance or the
 * static functions that take the PubSub's name (as Elixir's do).
 */
export class PubSub {
  /** The PubSub's name (an atom's text, `Elixir.MyApp.PubSub`). */
  readonly name: string;
  /** The node it runs on. */
  readonly node: Node;
  /** The adapter's pg groups: `<name>.Adapter`, then `_2` … `_N`. */
  readonly groups: readonly Atom[];
  private readonly scope: PgScope;
  private readonly groupKeys: readonly string[];
  private readonly workers: Process[] = [];
  /** Watches subscribers, to drop them when they end. */
  private readonly watcher: Process;
  private readonly topics = new Map<string, Subscription[]>();
  private readonly watched = new Map<string, { ref: Ref; count: number }>();
  private readonly dispatchers: Record<string, Dispatcher>;
  private readonly warned = new Set<string>();
  private readonly log: (m: string) => void;

  private constructor(node: Node, options: PubSubOptions) {
    this.node = node;
    this.name = String(options.name);
    this.log = (m) => hooksOf(node).log(m);
    const poolSize = options.poolSize ?? 1;
    if (!Number.isInteger(poolSize) || poolSize < 1 || poolSize > 1024) {
      throw new RangeError(
        `poolSize must be an integer from 1 to 1024 (the Elixir side's :pool_size), got ${
          String(options.poolSize)
        }`,
      );
    }
    if (!/^\S+$/.test(this.name) || this.name.length > 200) {
      throw new TypeError(
        `a PubSub name is an atom's text such as "Elixir.MyApp.PubSub", got ${
          JSON.stringify(this.name)
        }`,
      );
    }
    this.dispatchers = { ...(options.dispatchers ?? {}) };
    const adapter = `${this.name}.Adapter`;
    this.groups = Array.from(
      { length: poolSize },
      (_, i) => Atom.of(i === 0 ? adapter : `${adapter}_${i + 1}`),
    );
    this.groupKeys = this.groups.map(termKey);
    for (const g of this.groups) {
      if (node.whereis(g) !== undefined) {
        throw new Error(
          `cannot start PubSub ${this.name} on ${node.name}: ${g.name} is taken by ${
            node.whereis(g)
          }`,
        );
      }
    }
    this.scope = pgScope(PUBSUB_SCOPE, { node, start: true });
    this.watcher = node.handlerProcess(
      `${this.name} subscribers`,
      (m) => this.watcherMessage(m),
    );
    for (const g of this.groups) {
      const w: Process = node.handlerProcess(
        g.name,
        serialHandler(
          (m) => this.workerMessage(w, m),
          (e, m) =>
            this.log(
              `${g.name} dropped a message it failed on (${
                (e as Error)?.message ?? e
              }): ${brief(m)}`,
            ),
        ),
      );
      node.register(g, w.pid);
      this.workers.push(w);
      this.scope.join(g, w.pid);
    }
  }

  /**
   * Starts a PubSub named `options.name` on `node`: its adapter servers
   * register under the group names and join the `Elixir.Phoenix.PubSub`
   * pg scope (started on demand), where the Elixir nodes' adapters are.
   */
  static start(node: Node, options: PubSubOptions): Promise<PubSub> {
    try {
      const name = String(options?.name ?? "");
      const running = instances.get(node)?.get(name);
      if (running !== undefined && running.workers[0]?.alive) {
        throw new Error(
          `PubSub ${name} already runs on ${node.name}: use PubSub.of(${
            JSON.stringify(name)
          })`,
        );
      }
      const ps = new PubSub(node, options);
      let m = instances.get(node);
      if (m === undefined) instances.set(node, m = new Map());
      m.set(ps.name, ps);
      return Promise.resolve(ps);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** The PubSub `name` running on the calling process's node (or `options.node`). */
  static of(name: string | Atom | PubSub, options: OnNode = {}): PubSub {
    if (name instanceof PubSub) return name;
    const [node] = callerOf(options.node);
    const ps = instances.get(node)?.get(String(name));
    if (ps === undefined || !ps.workers[0]?.alive) {
      throw new Error(
        `no PubSub ${
          String(name)
        } runs on ${node.name}: start it with PubSub.start(node, { name: ${
          JSON.stringify(String(name))
        } })`,
      );
    }
    return ps;
  }

  /** Subscribes the calling process to `topic` (`Phoenix.PubSub.subscribe/3`). */
  static subscribe(
    pubsub: string | Atom | PubSub,
    topic: string,
    options: OnNode & { metadata?: unknown } = {},
  ): void {
    PubSub.of(pubsub, options).subscribe(topic, options);
  }

  /** Unsubscribes the calling process from `topic`. */
  static unsubscribe(
    pubsub: string | Atom | PubSub,
    topic: string,
    options: OnNode = {},
  ): void {
    PubSub.of(pubsub, options).unsubscribe(topic, options);
  }

  /** Broadcasts `message` to `topic`'s subscribers on every node. */
  static broadcast(
    pubsub: string | Atom | PubSub,
    topic: string,
    message: unknown,
    options: BroadcastOptions = {},
  ): void {
    PubSub.of(pubsub, options).broadcast(topic, message, options);
  }

  /** As {@linkcode PubSub.broadcast}, but not to `from` (a local process). */
  static broadcastFrom(
    pubsub: string | Atom | PubSub,
    from: Pid,
    topic: string,
    message: unknown,
    options: BroadcastOptions = {},
  ): void {
    PubSub.of(pubsub, options).broadcastFrom(from, topic, message, options);
  }

  /** Broadcasts to `topic`'s subscribers on this node only. */
  static localBroadcast(
    pubsub: string | Atom | PubSub,
    topic: string,
    message: unknown,
    options: BroadcastOptions = {},
  ): void {
    PubSub.of(pubsub, options).localBroadcast(topic, message, options);
  }

  /** Broadcasts to `topic`'s subscribers on node `nodeName` only. */
  static directBroadcast(
    nodeName: string,
    pubsub: string | Atom | PubSub,
    topic: string,
    message: unknown,
    options: BroadcastOptions = {},
  ): void {
    PubSub.of(pubsub, options).directBroadcast(
      nodeName,
      topic,
      message,
      options,
    );
  }

  /** Stops the PubSub `name`: its adapter servers leave the group. */
  static stop(pubsub: string | Atom | PubSub, options: OnNode = {}): void {
    PubSub.of(pubsub, options).stop();
  }

  // ------------------------------------------------------------ instance

  /**
   * Subscribes the calling process (or the shell, outside processes) to
   * `topic`; a process may subscribe more than once and then gets each
   * message as many times, as with Elixir's duplicate-key Registry.
   */
  subscribe(
    topic: string,
    options: OnNode & { metadata?: unknown } = {},
  ): void {
    checkTopic(topic);
    const [, p] = callerOf(options.node ?? this.node);
    this.add(topic, p.pid, options.metadata ?? null);
  }

  /** Unsubscribes the calling process from `topic` (every subscription). */
  unsubscribe(topic: string, options: OnNode = {}): void {
    checkTopic(topic);
    const [, p] = callerOf(options.node ?? this.node);
    this.remove(topic, p.pid);
  }

  /** The processes subscribed to `topic` on this node. */
  subscribers(topic: string): Pid[] {
    return (this.topics.get(topic) ?? []).map((s) => s.pid);
  }

  /**
   * Broadcasts `message` to every subscriber of `topic`: the adapter
   * servers of the other nodes get `{forward_to_local, Topic, Message,
   * Dispatcher}`, the local subscribers get it now.
   */
  broadcast(
    topic: string,
    message: unknown,
    options: BroadcastOptions = {},
  ): void {
    checkTopic(topic);
    const [, p] = callerOf(options.node ?? this.node);
    const dispatcher = dispatcherOf(options.dispatcher);
    this.forward(p, topic, message, dispatcher);
    this.dispatch(topic, message, dispatcher, undefined);
  }

  /** As {@linkcode PubSub.broadcast}, but not to `from` (`broadcast_from/5`). */
  broadcastFrom(
    from: Pid,
    topic: string,
    message: unknown,
    options: BroadcastOptions = {},
  ): void {
    checkTopic(topic);
    if (!(from instanceof Pid)) throw new TypeError("from must be a Pid");
    const [, p] = callerOf(options.node ?? this.node);
    const dispatcher = dispatcherOf(options.dispatcher);
    this.forward(p, topic, message, dispatcher);
    this.dispatch(topic, message, dispatcher, from);
  }

  /** Delivers to this node's subscribers of `topic` only (`local_broadcast/4`). */
  localBroadcast(
    topic: string,
    message: unknown,
    options: BroadcastOptions = {},
  ): void {
    checkTopic(topic);
    this.dispatch(topic, message, dispatcherOf(options.dispatcher), undefined);
  }

  /** As {@linkcode PubSub.localBroadcast}, but not to `from`. */
  localBroadcastFrom(
    from: Pid,
    topic: string,
    message: unknown,
    options: BroadcastOptions = {},
  ): void {
    checkTopic(topic);
    this.dispatch(topic, message, dispatcherOf(options.dispatcher), from);
  }

  /**
   * Delivers to the subscribers of `topic` on node `nodeName` only, through
   * its adapter server (`direct_broadcast/5`); this node's own for itself.
   */
  directBroadcast(
    nodeName: string,
    topic: string,
    message: unknown,
    options: BroadcastOptions = {},
  ): void {
    checkTopic(topic);
    const [, p] = callerOf(options.node ?? this.node);
    const dispatcher = dispatcherOf(options.dispatcher);
    this.node.sendFrom(
      p,
      [this.groupFor(p), String(nodeName)],
      tuple(FORWARD, topic, message, dispatcher),
    );
  }

  /** This node's name, as `Phoenix.PubSub.node_name/1` gives it. */
  nodeName(): string {
    return this.node.name;
  }

  /**
   * Resolves once an adapter server of this PubSub on `nodeName` is in the
   * group here (broadcasts reach that node's subscribers from then on).
   */
  async whenConnected(nodeName: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (
      !this.scope.getMembers(this.groups[0]).some((p) => p.node === nodeName)
    ) {
      if (Date.now() > deadline) {
        throw new Error(
          `no adapter of PubSub ${this.name} on ${nodeName} joined within ${timeoutMs} ms (is the node connected, and does it run the PubSub?)`,
        );
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Stops this PubSub: its adapter servers end and leave the group. */
  stop(): void {
    for (const w of this.workers) this.node.terminate(w, Atom.of("shutdown"));
    this.node.terminate(this.watcher, Atom.of("shutdown"));
    instances.get(this.node)?.delete(this.name);
  }

  // ------------------------------------------------------------ internals

  /** Which adapter of the pool serves process `p`. */
  private groupIndex(p: Process): number {
    return this.groups.length === 1
      ? 0
      : hashKey(p.pid.key) % this.groups.length;
  }

  /** The pg group of the adapter that serves process `p`. */
  private groupFor(p: Process): Atom {
    return this.groups[this.groupIndex(p)];
  }

  /** Sends a broadcast to the adapters of the other nodes. */
  private forward(
    p: Process,
    topic: string,
    message: unknown,
    dispatcher: Atom,
  ): void {
    const members = this.scope.membersByKey(this.groupKeys[this.groupIndex(p)]);
    if (members.length === 0) return;
    let msg: Tuple | undefined;
    const me = this.node.name;
    for (const pid of members) {
      if (pid.node === me) continue;
      msg ??= tuple(FORWARD, topic, message, dispatcher);
      this.node.sendFrom(p, pid, msg);
    }
  }

  /** Delivers a broadcast to this node's subscribers of `topic`. */
  private dispatch(
    topic: string,
    message: unknown,
    dispatcher: Atom,
    from: Pid | undefined,
  ): void {
    const subs = this.topics.get(topic);
    if (subs === undefined || subs.length === 0) return;
    const sender = this.workers[0];
    const send = (pid: Pid, m: unknown) => this.node.sendFrom(sender, pid, m);
    if (dispatcher.name !== DEFAULT_DISPATCHER) {
      const d = this.dispatchers[dispatcher.name];
      if (d !== undefined) {
        d(subs.map((s) => [s.pid, s.metadata] as const), from, message, send);
        return;
      }
      if (!this.warned.has(dispatcher.name)) {
        this.warned.add(dispatcher.name);
        this.log(
          `${this.name}: no dispatcher ${dispatcher.name} here (give it in PubSub.start's dispatchers); delivering as Phoenix.PubSub does`,
        );
      }
    }
    // Subscription arrays are replaced, never changed: safe to walk while a
    // subscriber (un)subscribes.
    for (const s of subs) {
      if (from === undefined || !s.pid.equals(from)) send(s.pid, message);
    }
  }

  /** Takes one message of an adapter process (a forwarded broadcast). */
  private workerMessage(w: Process, m: unknown): void {
    if (
      m instanceof Tuple && m.length === 4 && m[0] === FORWARD &&
      typeof m[1] === "string" && m[3] instanceof Atom
    ) {
      this.dispatch(m[1], m[2], m[3], undefined);
      return;
    }
    peerLine(
      this.node,
      `unexpected messages to ${w.label}`,
      `${w.label} dropped an unexpected message (it takes {forward_to_local, Topic, Message, Dispatcher}): ${
        brief(m)
      }`,
    );
  }

  /** Takes one message of the watcher (a subscriber's DOWN). */
  private watcherMessage(m: unknown): void {
    if (
      m instanceof Tuple && m.length === 5 && m[0] === Atom.of("DOWN") &&
      m[3] instanceof Pid
    ) {
      const pid = m[3];
      const w = this.watched.get(pid.key);
      if (w === undefined || !w.ref.equals(m[1])) return;
      this.watched.delete(pid.key);
      for (const [topic, subs] of this.topics) {
        const kept = subs.filter((s) => !s.pid.equals(pid));
        if (kept.length === 0) this.topics.delete(topic);
        else if (kept.length !== subs.length) this.topics.set(topic, kept);
      }
    }
  }

  /** Subscribes `pid` to `topic`, watching it. */
  private add(topic: string, pid: Pid, metadata: unknown): void {
    const subs = this.topics.get(topic);
    this.topics.set(topic, [...(subs ?? []), { pid, metadata }]);
    const w = this.watched.get(pid.key);
    if (w !== undefined) w.count++;
    else {
      const ref = this.node.monitorFrom(this.watcher, pid);
      this.watched.set(pid.key, { ref, count: 1 });
    }
  }

  /** Unsubscribes `pid` from `topic`. */
  private remove(topic: string, pid: Pid): void {
    const subs = this.topics.get(topic);
    if (subs === undefined) return;
    const kept = subs.filter((s) => !s.pid.equals(pid));
    const gone = subs.length - kept.length;
    if (gone === 0) return;
    if (kept.length === 0) this.topics.delete(topic);
    else this.topics.set(topic, kept);
    const w = this.watched.get(pid.key);
    if (w !== undefined) {
      w.count -= gone;
      if (w.count <= 0) {
        this.watched.delete(pid.key);
        this.node.demonitorFrom(this.watcher, w.ref, true);
      }
    }
  }
}

function checkTopic(topic: unknown): asserts topic is string {
  if (typeof topic !== "string") {
    throw new TypeError(
      `a topic is a string (an Elixir binary), got ${typeof topic}`,
    );
  }
}

function dispatcherOf(d: string | Atom | undefined): Atom {
  if (d === undefined) return Atom.of(DEFAULT_DISPATCHER);
  return d instanceof Atom ? d : Atom.of(String(d));
}
