/**
 * A named node: it listens for distribution connections, registers with the
 * registry (noderl's or a real `epmd`), runs processes, and speaks the Erlang
 * distribution protocol with noderl and BEAM peers alike.
 *
 * This file holds what every message touches, kept together for speed:
 * processes and their names, sending and delivery, links, monitors and exit
 * signals, and the dispatch of incoming control messages. Each protocol
 * built on them has a file of its own (see docs/architecture.md):
 * connections and node-down in `_net_kernel.ts`, remote spawn in
 * `_spawn.ts`, rpc in `_erpc.ts`, GenServer-style calls in `_gen_call.ts`,
 * group-leader I/O in `_io_server.ts`, control messages on the wire in
 * `connection.ts`.
 *
 * @module
 */
import { EventEmitter } from "node:events";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import process from "node:process";
import { A, isTuple } from "./_atoms.ts";
import { describeArity, takesArity } from "./arity.ts";
import { installBuiltins } from "./_builtins.ts";
import { processContext, runningNodes } from "./_context.ts";
import { ProcessTable } from "./_process_table.ts";
import type { Destination } from "./_dest.ts";
import { DFLAG, DFLAG_NODERL, OP } from "./_dist.ts";
import { erpcCall, erpcCast, installErpc, rexHandler } from "./_erpc.ts";
import { type CallOptions, type CallTarget, GenCalls } from "./_gen_call.ts";
import { IoServer } from "./_io_server.ts";
import { type GlobalHandle, sendGlobalFrom, startGlobal } from "./global.ts";
import { listenAddressFor, listenForNode, type PortRange } from "./_hosts.ts";
import { type TlsOptions, TlsTransport } from "./_tls.ts";
import { nodeNameFrom, resolveCookie } from "./_names.ts";
import { NetKernel } from "./_net_kernel.ts";
import { errorReason } from "./_reason.ts";
import { briefTerm, RateLimitedLog } from "./_rate_log.ts";
import { Secret } from "./_secret.ts";
import { SpawnRequests } from "./_spawn.ts";
import type { Connection } from "./connection.ts";
import {
  ExitError,
  HandshakeError,
  NameTakenError,
  type NoConnectionError,
} from "./errors.ts";
import { type MessageHandler, Process } from "./process.ts";
import {
  defaultRegistryPort,
  registerNode,
  type Registration,
} from "./registry_client.ts";
import { Atom, ImproperList, Pid, Ref, Tuple, tuple } from "./terms.ts";
import { Logger } from "./logger.ts";
import { processCrashed } from "./_crash_report.ts";
import { installIntrospection } from "./_introspection.ts";
import {
  checkOptions,
  type ModuleFunction,
  type MonitorTarget,
  type NodeEvents,
  type NodeOptions,
  type SpawnOptions,
} from "./node_options.ts";
import { Timers } from "./_timers.ts";

const A_GLOBAL = Atom.of("global");

export type {
  CallOptions,
  CallTarget,
  Destination,
  ModuleFunction,
  MonitorTarget,
  NodeEvents,
  NodeOptions,
  PortRange,
  SpawnOptions,
  TlsOptions,
};

/**
 * A running node. Start one with {@linkcode startNode}.
 *
 * @example
 * ```ts
 * import { startRegistry } from "./registry.ts";
 * import { startNode } from "./node.ts";
 * import assert from "node:assert/strict";
 *
 * const registry = await startRegistry({ port: 0 });
 * const alex = await startNode({ name: "alex@localhost", cookie: "c", registryPort: registry.port });
 * const kate = await startNode({ name: "kate@localhost", cookie: "c", registryPort: registry.port });
 * kate.defineModule("Kate", { name: () => "Kate" });
 * assert.equal(await alex.call("kate@localhost", "Kate", "name", []), "Kate");
 * await alex.stop();
 * await kate.stop();
 * await registry.close();
 * ```
 */
export class Node extends EventEmitter<NodeEvents> {
  /** This node's full name, e.g. `alex@localhost`. */
  readonly name: string;
  /** The port this node listens on for distribution connections. */
  readonly port: number;
  /** The incarnation number the registry gave this node. */
  readonly creation: number;
  /** The process that code outside any process acts through. */
  readonly shell: Process;
  /** This node's I/O server: the group leader of its processes. */
  readonly ioServer: Process;

  /** Connections to other nodes. @internal */
  readonly net: NetKernel;
  /** Remote spawn requests, sent and answered. @internal */
  readonly spawns: SpawnRequests;
  /** GenServer-style calls in flight. @internal */
  readonly calls: GenCalls;
  /** Group-leader I/O. @internal */
  readonly io: IoServer;
  /** This node's logger (levels, debug traces); crash reports go through it. */
  readonly logger: Logger;
  /** Reports a problem (a warning on the logger). @internal */
  readonly log: (message: string) => void;
  /** Reports what peers cause, at a bounded rate. @internal */
  readonly peerLog: RateLimitedLog;
  /** global on this node (node/global.ts). */
  private readonly global: GlobalHandle;

  private readonly options: NodeOptions;
  private readonly server: ReturnType<typeof createServer>;
  private readonly registration: Registration;
  private readonly processes = new ProcessTable();
  /** The class of this node's processes (they find the node on it). */
  private readonly Proc = Process.ofOwner(this);
  private readonly names = new Map<string, Process>();
  private readonly aliasOwners = new Map<string, Process>();
  private readonly modules = new Map<string, Record<string, ModuleFunction>>();
  private readonly timers = new Timers(this);
  private refCounter = 0;
  private readonly refSalt = randomBytes(4).readUInt32BE(0);
  private stopped = false;
  /** The last local delivery's target, for runs of messages to one process. */
  private lastTargetPid: Pid | undefined;
  private lastTarget: Process | undefined;

  /** @internal Use {@linkcode startNode}. */
  constructor(
    init: {
      name: string;
      cookie: string;
      server: ReturnType<typeof createServer>;
      port: number;
      registration: Registration;
      registryPort: number;
      registryHost: string;
      options: NodeOptions;
      tls?: TlsTransport;
    },
  ) {
    super();
    const options = init.options;
    this.name = init.name;
    this.server = init.server;
    this.port = init.port;
    this.registration = init.registration;
    this.creation = init.registration.creation;
    this.options = options;
    this.logger = new Logger({
      name: this.name,
      level: options.logLevel,
      sink: options.log,
      debug: options.debug,
    });
    this.log = (m) => this.logger.warning(m);
    this.peerLog = new RateLimitedLog(this.log);
    this.io = new IoServer(
      this,
      options.stdout ?? ((t) => process.stdout.write(t)),
    );
    this.spawns = new SpawnRequests(this);
    this.calls = new GenCalls(this);
    this.net = new NetKernel(this, init.server, {
      local: {
        name: this.name,
        creation: this.creation,
        flags: options.hidden ? DFLAG_NODERL : DFLAG_NODERL | DFLAG.PUBLISHED,
        cookie: new Secret(init.cookie),
        lengthBytes: init.tls?.lengthBytes,
      },
      registryHost: init.registryHost,
      registryPort: init.registryPort,
      connectTimeoutMs: options.connectTimeoutMs ?? 7000,
      tickTime: options.tickTime ?? 60,
      limits: {
        maxPacketSize: options.maxPacketSize ?? 128 * 1024 * 1024,
        busyLimit: options.distBufBusyLimit ?? 1024 * 1024,
        maxOutputBuffer: options.maxOutputBuffer ?? 1024 * 1024 * 1024,
        maxMessageSize: options.maxMessageSize ?? 1024 * 1024 * 1024,
      },
      tls: init.tls,
    });
    if (init.tls?.warning) this.log(init.tls.warning);

    // The I/O server first: every other process's group leader.
    const ioPid = this.newPid();
    this.ioServer = this.addProcess(ioPid, ioPid);
    this.ioServer.handler = (m) => this.io.handle(m);
    this.ioServer.label = "io server";
    this.ioServer.system = true;
    this.names.set("user", this.ioServer);
    this.ioServer.registeredName = "user";
    this.shell = this.addProcess(ioPid);
    this.shell.label = "shell";
    this.systemProcess("net_kernel", (m) => this.net.handle(m));
    this.systemProcess("rex", rexHandler(this));
    // global: its name server, locker and registrar (node/global.ts).
    this.global = startGlobal(this, {
      hidden: options.hidden === true,
      log: (m) => this.log(m),
      systemProcess: (name, handler) => this.systemProcess(name, handler),
    });
    installErpc(this);
    installBuiltins(this);
    installIntrospection(this);
    this.logger.trace(
      "registry",
      `registered ${this.name} (port ${this.port}, creation ${this.creation}) with the registry at ${init.registryHost}:${init.registryPort}`,
    );

    this.registration.closed.then(() => {
      if (!this.stopped) {
        this.log(
          "the registry connection closed; this node can no longer be found by name (restart the registry and the node)",
        );
      }
    });
    runningNodes.push(this);
  }

  /** Whether {@linkcode Node.stop} was called. */
  get isStopped(): boolean {
    return this.stopped;
  }

  /** What `console.log(node)` shows: name, port, creation, peers — never the cookie. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.summary();
  }

  /** What Deno's `console.log(node)` shows (see the Node.js one). */
  [Symbol.for("Deno.customInspect")](): string {
    return this.summary();
  }

  /** One line about this node, for the inspectors. */
  private summary(): string {
    return `Node { name: ${
      JSON.stringify(this.name)
    }, port: ${this.port}, creation: ${this.creation}, nodes: ${
      JSON.stringify(this.stopped ? [] : this.nodes("all"))
    }${this.stopped ? ", stopped" : ""} }`;
  }

  // ---------------------------------------------------------------- processes

  /** The next pid of this node. */
  private newPid(): Pid {
    const slot = this.processes.reserve();
    return new Pid(
      this.name,
      slot,
      this.processes.serialOf(slot),
      this.creation,
    );
  }

  /** A new unique reference made by this node. */
  makeRef(): Ref {
    const n = ++this.refCounter;
    return new Ref(this.name, this.creation, [
      n & 0x3ffff,
      Math.floor(n / 0x40000) >>> 0,
      this.refSalt,
    ]);
  }

  /** Adds a process to this node's table. */
  private addProcess(groupLeader: Pid, pid = this.newPid()): Process {
    const p = new this.Proc(pid, groupLeader);
    this.processes.set(p);
    return p;
  }

  /** A registered handler process of the node's own (net_kernel, rex, …). */
  private systemProcess(name: string, handler: MessageHandler): Process {
    const p = this.handlerProcess(name, handler);
    p.registeredName = name;
    this.names.set(name, p);
    return p;
  }

  /**
   * A process that takes each message by calling `handler` (no mailbox, no
   * async function): for servers written as callbacks. @internal
   */
  handlerProcess(label: string, handler: MessageHandler): Process {
    const p = this.addProcess(this.ioServer.pid);
    p.handler = handler;
    p.label = label;
    p.system = true;
    return p;
  }

  /** The node that owns a process (for the free functions). @internal */
  static ownerOf(p: Process): Node | undefined {
    const n = p.owner as Node | undefined;
    return n !== undefined && !n.stopped ? n : undefined;
  }

  /** The calling process if it belongs to this node, else the shell. @internal */
  current(): Process {
    const p = processContext.getStore();
    if (p !== undefined && p.owner === this) return p;
    return this.shell;
  }

  /** The local process for a pid, if alive. */
  private local(pid: Pid): Process | undefined {
    if (pid.node !== this.name || pid.creation !== this.creation) {
      return undefined;
    }
    return this.processes.get(pid.id, pid.serial);
  }

  /** The running processes (a copy, safe to iterate while they end). @internal */
  liveProcesses(): Process[] {
    return this.processes.values().filter((p) => p.alive);
  }

  /**
   * Spawns a local process running `fn`. Inside it, `self()`, `receive()`,
   * `send()` and `puts()` act as this process. When `fn` returns (or its
   * promise resolves) the process exits `normal`; when it throws, it exits
   * with a reason carrying the error's message and stack.
   */
  spawn(fn: () => unknown, options: SpawnOptions = {}): Pid {
    return this.spawnLocal(this.current(), fn, options).pid;
  }

  /** Spawns a local process linked to the caller. */
  spawnLink(fn: () => unknown): Pid;
  /**
   * Spawns `mod.fun(...args)` on `node`, linked to the caller — `Node.spawn_link`
   * with module/function/args. Resolves with the new pid.
   */
  spawnLink(
    node: string,
    mod: string | Atom,
    fun: string | Atom,
    args: unknown[],
  ): Promise<Pid>;
  spawnLink(
    a: string | (() => unknown),
    mod?: string | Atom,
    fun?: string | Atom,
    args?: unknown[],
  ): Pid | Promise<Pid> {
    if (typeof a === "function") return this.spawn(a, { link: true });
    return this.spawnRemote(a, mod!, fun!, args ?? [], { link: true });
  }

  /**
   * Spawns `mod.fun(...args)` on `node` (this node or another), optionally
   * linked or monitored. Resolves with the new pid once the node has
   * answered; rejects with a {@linkcode NoConnectionError} if the node cannot
   * be reached.
   */
  spawnRemote(
    node: string | Atom,
    mod: string | Atom,
    fun: string | Atom,
    args: unknown[],
    options: SpawnOptions = {},
  ): Promise<Pid> {
    return this.spawns.requestPid(
      this.current(),
      String(node),
      String(mod),
      String(fun),
      args,
      options,
    );
  }

  /**
   * Spawns `mod.fun(...args)` on `node` for `caller` with one SPAWN_REQUEST
   * and returns the request id at once (the monitor reference when
   * `options.monitor` is set); `done` gets the pid or the error. See
   * `SpawnRequests.request`. @internal
   */
  spawnRequestFrom(
    caller: Process,
    node: string,
    mod: string,
    fun: string,
    args: unknown[],
    options: SpawnOptions,
    done: (error: unknown, pid?: Pid) => void,
    reqId?: Ref,
  ): Ref {
    return this.spawns.request(
      caller,
      node,
      mod,
      fun,
      args,
      { ...options, reqId },
      done,
    );
  }

  /** @internal */
  spawnLocal(
    caller: Process,
    fn: () => unknown,
    options: SpawnOptions & {
      groupLeader?: Pid;
      label?: string;
      monitorRef?: Ref;
    } = {},
  ): Process {
    const p = this.addProcess(options.groupLeader ?? caller.groupLeader);
    p.label = options.label ?? (fn.name || undefined);
    if (options.link) {
      p.links.set(caller.pid.key, caller.pid);
      caller.links.set(p.pid.key, p.pid);
    }
    if (options.monitor) {
      const ref = options.monitorRef ?? this.makeRef();
      p.monitoredBy.set(ref.key, { ref, watcher: caller.pid });
      caller.monitoring.set(ref.key, { ref, target: p.pid });
    }
    this.run(p, fn);
    return p;
  }

  /**
   * Spawns a local process that runs `mod.fun(...args)` for `requester`
   * (a local or remote pid), linked to it and monitored by it as asked;
   * only the new process's side of the link and monitor is set. @internal
   */
  spawnApply(
    requester: Pid,
    groupLeader: Pid,
    mod: string,
    fun: string,
    args: unknown[],
    options: { link?: boolean; monitorRef?: Ref },
  ): Process {
    const p = this.addProcess(groupLeader);
    p.label = `${mod}.${fun}/${args.length}`;
    p.initialCall = tuple(Atom.of(mod), Atom.of(fun), args.length);
    if (options.link) p.links.set(requester.key, requester);
    if (options.monitorRef) {
      p.monitoredBy.set(options.monitorRef.key, {
        ref: options.monitorRef,
        watcher: requester,
      });
    }
    this.run(p, () => this.apply(mod, fun, args));
    return p;
  }

  /**
   * Starts `fn` as process `p` — not now: in a microtask, as Erlang's spawn
   * returns before the process runs. Spawns made in one turn share one
   * microtask.
   */
  private run(p: Process, fn: () => unknown): void {
    this.toStart.push(p, fn);
    if (!this.startScheduled) {
      this.startScheduled = true;
      queueMicrotask(this.startAll);
    }
  }

  private toStart: unknown[] = [];
  private startScheduled = false;
  private readonly startAll = (): void => {
    this.startScheduled = false;
    const q = this.toStart;
    this.toStart = [];
    for (let i = 0; i < q.length; i += 2) {
      this.start(q[i] as Process, q[i + 1] as () => unknown);
    }
  };

  /** Runs `fn` as `p`; its return (or its promise's settling) ends `p`. */
  private start(p: Process, fn: () => unknown): void {
    if (!p.alive) return;
    try {
      // The reactions that end the process are registered inside it: they
      // run as `p` (whichever process context is in use), so two shared
      // functions serve every process — no closures per process.
      processContext.run(p, () => {
        const r = fn();
        if (r instanceof Promise) r.then(processDone, processFailed);
        else if (
          r !== null && typeof r === "object" &&
          typeof (r as { then?: unknown }).then === "function"
        ) Promise.resolve(r).then(processDone, processFailed);
        else this.terminate(p, A.normal);
      });
    } catch (e) {
      const reason = errorReason(e);
      if (p.alive) processCrashed(this, p, e, reason);
      this.terminate(p, reason);
    }
  }

  /**
   * Registers `pid` (a local process) under `name`.
   *
   * @throws {ExitError} `noproc` when `pid` is not a live local process.
   * @throws {NameTakenError} when another live process holds the name.
   */
  register(name: string | Atom, pid: Pid): void {
    const n = String(name);
    const p = this.local(pid);
    if (!p) {
      throw new ExitError(
        A.noproc,
        `cannot register ${n}: ${pid} is not a live process of ${this.name}`,
      );
    }
    const holder = this.names.get(n);
    if (holder && holder.alive) {
      throw new NameTakenError(n, String(holder.pid), "register");
    }
    if (p.registeredName !== undefined) {
      throw new Error(
        `cannot register ${n}: ${pid} is already registered as ${p.registeredName}`,
      );
    }
    this.names.set(n, p);
    p.registeredName = n;
  }

  /** Removes a registered name. Returns whether it was registered. */
  unregister(name: string | Atom): boolean {
    const n = String(name);
    const p = this.names.get(n);
    if (!p) return false;
    this.names.delete(n);
    p.registeredName = undefined;
    return true;
  }

  /** The pid registered under `name` on this node, if any. */
  whereis(name: string | Atom): Pid | undefined {
    const p = this.names.get(String(name));
    return p?.alive ? p.pid : undefined;
  }

  /** Names registered on this node. */
  registered(): string[] {
    return [...this.names.keys()];
  }

  /** The local process behind a pid (for tests and tools). @internal */
  processOf(pid: Pid): Process | undefined {
    return this.local(pid);
  }

  /** Whether a local pid is alive. */
  isAlive(pid: Pid): boolean {
    return this.local(pid)?.alive ?? false;
  }

  // ---------------------------------------------------------------- modules

  /**
   * Makes functions callable from other nodes (and from `spawnRemote`,
   * `call`, `Task.Supervisor` …) as `name.fn(args…)`. The module name is an
   * atom's exact text: an Elixir module `Chat` is `"Elixir.Chat"`.
   */
  defineModule(
    name: string | Atom,
    functions: Record<string, ModuleFunction>,
  ): void {
    const n = String(name);
    const existing = this.modules.get(n) ?? {};
    this.modules.set(n, { ...existing, ...functions });
  }

  /** The function `mod.fun`, if defined. */
  functionOf(mod: string, fun: string): ModuleFunction | undefined {
    const m = this.modules.get(mod);
    if (!m || !Object.hasOwn(m, fun)) return undefined;
    return m[fun];
  }

  /** Runs `mod.fun(...args)` in the calling process; throws `undef` if missing. @internal */
  apply(mod: string, fun: string, args: unknown[]): unknown {
    const f = this.functionOf(mod, fun);
    // A function takes fn.length arguments unless it declares its arities
    // with withArity (see arity.ts): another count is undef, as on the BEAM.
    if (f === undefined || !takesArity(f, args.length)) {
      const reason = tuple(A.undef, [
        tuple(Atom.of(mod), Atom.of(fun), args, []),
      ]);
      throw new ExitError(
        reason,
        `${mod}.${fun}/${args.length} is undefined (${
          f === undefined
            ? `not defined with defineModule on ${this.name}`
            : `${mod}.${fun} takes ${
              describeArity(f)
            } arguments; declare other arities with withArity`
        })`,
      );
    }
    return f(...args);
  }

  // ---------------------------------------------------------------- sending

  /** Sends `message` to `dest` from the calling process (or the shell). */
  send(dest: Destination, message: unknown): void {
    this.sendFrom(this.current(), dest, message);
  }

  /** @internal */
  sendFrom(from: Process, dest: Destination, message: unknown): void {
    if (dest instanceof Pid) {
      if (dest.node === this.name) {
        this.deliverTo(dest, message);
        return;
      }
      const c = this.net.connection(dest.node);
      if (c !== undefined) {
        c.send(from.pid, dest, message);
        if (c.busy) this.suspend(from, c);
      } else {
        this.net.toNode(dest.node, (c) => c.send(from.pid, dest, message));
      }
      return;
    }
    if (typeof dest === "string" || dest instanceof Atom) {
      const p = this.names.get(String(dest));
      if (p) this.deliverProcess(p, message);
      // A bare name nobody holds is badarg, as Erlang's `Name ! Msg`
      // ({Name, Node} stays silent, as there).
      else throw unregisteredName(String(dest), this.name);
      return;
    }
    if (dest instanceof Ref) {
      if (dest.node === this.name) {
        const p = this.aliasOwners.get(dest.key);
        if (p) this.deliverProcess(p, message);
      } else {
        this.net.toNode(dest.node, (c) => c.aliasSend(from.pid, dest, message));
      }
      return;
    }
    if (dest instanceof Tuple && dest.length === 2 && dest[0] === A_GLOBAL) {
      sendGlobalFrom(this, from, dest[1], message); // {global, Name}: node/global.ts
      return;
    }
    if (Array.isArray(dest) && dest.length === 2) {
      const [name, node] = dest;
      const n = String(node);
      if (n === this.name) {
        const p = this.names.get(String(name));
        if (p) this.deliverProcess(p, message);
      } else {
        const nameAtom = name instanceof Atom ? name : Atom.of(String(name));
        const c = this.net.connection(n);
        if (c !== undefined) {
          c.regSend(from.pid, nameAtom, message);
          if (c.busy) this.suspend(from, c);
        } else {
          this.net.toNode(n, (c) => c.regSend(from.pid, nameAtom, message));
        }
      }
      return;
    }
    throw new TypeError(
      `cannot send to ${
        String(dest)
      }: a destination is a Pid, a registered name, [name, node] or an alias Ref`,
    );
  }

  /**
   * `from` sent on a busy connection: it is suspended (its next receive,
   * sleep or call waits) until the connection's output drains, as the BEAM
   * suspends a process on a busy distribution port.
   */
  private suspend(from: Process, c: Connection): void {
    if (from.suspended !== undefined || from.handler !== undefined) return;
    from.suspended = c.drained().then(() => {
      from.suspended = undefined;
    });
  }

  /**
   * Erlang's `erlang:send_after/3`: sends `message` to `dest` in `ms`
   * milliseconds, from `from` (or the shell, if `from` has ended by then).
   * Returns the timer's reference, for {@linkcode Node.cancelTimer}.
   * @internal
   */
  sendAfterFrom(
    from: Process,
    dest: Destination,
    message: unknown,
    ms: number,
  ): Ref {
    return this.timers.sendAfter(from, dest, message, ms);
  }

  /**
   * Cancels a timer made by `sendAfter` (`erlang:cancel_timer/1`): returns
   * the milliseconds it had left, or `false` if it had already fired, was
   * cancelled, or is unknown.
   */
  cancelTimer(ref: Ref): number | false {
    return this.timers.cancel(ref);
  }

  /**
   * The milliseconds left on a `sendAfter` timer (`erlang:read_timer/1`), or
   * `false` if it is no longer pending.
   */
  readTimer(ref: Ref): number | false {
    return this.timers.read(ref);
  }

  /** Delivers `message` to the local process `pid`, if alive. */
  private deliverTo(pid: Pid, message: unknown): void {
    // A run of messages to one process carries the same Pid object (the
    // connection reuses decoded control messages): skip the lookup.
    let p: Process | undefined = this.lastTarget;
    if (pid !== this.lastTargetPid || p === undefined || !p.alive) {
      p = this.local(pid);
      this.lastTargetPid = pid;
      this.lastTarget = p;
    }
    if (p !== undefined) this.deliverProcess(p, message);
  }

  /** Puts a message in a local process's mailbox (or runs its handler). @internal */
  deliverProcess(p: Process, message: unknown): void {
    if (
      p.ioRefs !== undefined && p.ioRefs.size > 0 && message instanceof Tuple &&
      message[0] === A.io_reply && message[1] instanceof Ref &&
      p.ioRefs.delete(message[1].key)
    ) return;
    try {
      p.deliver(message);
    } catch (e) {
      // A handler process failed on this message: a system process drops
      // it (a peer's malformed message must not take the node's services
      // down); any other ends.
      if (p.system) {
        this.peerLog.line(
          "malformed messages to system processes",
          `${p.label ?? p.pid} dropped a message it cannot handle (${
            (e as Error)?.message ?? String(e)
          }): ${briefTerm(message)}`,
        );
      } else {
        const reason = errorReason(e);
        if (p.alive) processCrashed(this, p, e, reason);
        this.terminate(p, reason);
      }
    }
  }

  // ---------------------------------------------------------------- links, monitors, exits

  /** Links the calling process to `pid`. */
  link(pid: Pid): void {
    this.linkFrom(this.current(), pid);
  }

  /** @internal */
  linkFrom(from: Process, pid: Pid): void {
    if (pid.equals(from.pid)) return;
    if (pid.node === this.name) {
      const target = this.local(pid);
      if (!target) {
        this.exitSignal(from, pid, A.noproc, true);
        return;
      }
      target.links.set(from.pid.key, from.pid);
      from.links.set(pid.key, pid);
      return;
    }
    from.links.set(pid.key, pid);
    this.net.toNode(pid.node, (c) => c.link(from.pid, pid));
  }

  /** Removes a link between the calling process and `pid`. */
  unlink(pid: Pid): void {
    this.unlinkFrom(this.current(), pid);
  }

  /** @internal */
  unlinkFrom(from: Process, pid: Pid): void {
    from.linksIfAny?.delete(pid.key);
    if (pid.node === this.name) {
      this.local(pid)?.linksIfAny?.delete(from.pid.key);
      return;
    }
    const id = (this.refCounter++ % 0xffffffff) + 1;
    this.net.toNode(pid.node, (c) => c.unlink(id, from.pid, pid));
  }

  /**
   * Monitors a process (a pid, a local name, or `[name, node]`) from the
   * calling process. A `{DOWN, Ref, process, Object, Reason}` message comes
   * when it ends (at once with `noproc` if it is not alive).
   */
  monitor(target: MonitorTarget): Ref {
    return this.monitorFrom(this.current(), target);
  }

  /** @internal */
  monitorFrom(
    from: Process,
    target: MonitorTarget,
    ref: Ref = this.makeRef(),
  ): Ref {
    let pid: Pid | undefined, name: string | undefined, node = this.name;
    if (target instanceof Pid) {
      pid = target;
      node = target.node;
    } else if (Array.isArray(target)) {
      name = String(target[0]);
      node = String(target[1]);
    } else {
      name = String(target);
    }
    const object = name !== undefined
      ? tuple(Atom.of(name), Atom.of(node))
      : pid!;
    if (node === this.name) {
      const p = pid ? this.local(pid) : this.names.get(name!);
      if (!p || !p.alive) {
        this.deliverProcess(
          from,
          tuple(A.DOWN, ref, A.process, object, A.noproc),
        );
        return ref;
      }
      p.monitoredBy.set(ref.key, { ref, watcher: from.pid, name });
      from.monitoring.set(ref.key, {
        ref,
        target: p.pid,
        byName: name ? [name, node] : undefined,
      });
      return ref;
    }
    from.monitoring.set(ref.key, {
      ref,
      target: pid ?? new Pid(node, 0, 0, 0),
      byName: name !== undefined ? [name, node] : undefined,
    });
    const to = pid ?? Atom.of(name!);
    const connected = this.net.connection(node) !== undefined;
    this.net.toNode(node, (c) => c.monitor(from.pid, to, ref));
    if (connected) return ref;
    // If the connection fails, the DOWN says noconnection.
    this.net.connectTo(node).catch(() => {
      if (from.monitoringIfAny?.delete(ref.key)) {
        this.deliverProcess(
          from,
          tuple(A.DOWN, ref, A.process, object, A.noconnection),
        );
      }
    });
    return ref;
  }

  /** Removes a monitor; with `flush`, also drops its DOWN if already queued. */
  demonitor(ref: Ref, flush = false): boolean {
    return this.demonitorFrom(this.current(), ref, flush);
  }

  /** @internal */
  demonitorFrom(from: Process, ref: Ref, flush = false): boolean {
    const m = from.monitoringIfAny?.get(ref.key);
    if (flush) {
      from.drain((msg) =>
        isTuple(msg, A.DOWN, 5) && msg[1] instanceof Ref && msg[1].equals(ref)
      );
    }
    if (!m) return false;
    from.monitoringIfAny!.delete(ref.key);
    if (m.target.node === this.name) {
      this.local(m.target)?.monitoredByIfAny?.delete(ref.key);
    } else {
      const target = m.byName ? Atom.of(m.byName[0]) : m.target;
      this.net.connection(m.target.node)?.demonitor(from.pid, target, ref);
    }
    return true;
  }

  /**
   * Sends an exit signal to `pid` from the calling process (`Process.exit/2`):
   * `kill` always ends it (reason `killed`); other reasons end it unless it
   * traps exits, in which case it gets an `{EXIT, From, Reason}` message.
   */
  exit(pid: Pid, reason: unknown): void {
    this.exitFrom(this.current(), pid, reason);
  }

  /** @internal */
  exitFrom(from: Process, pid: Pid, reason: unknown): void {
    if (pid.node === this.name) {
      const p = this.local(pid);
      if (p) this.exitSignal(p, from.pid, reason, false);
      return;
    }
    this.net.toNode(pid.node, (c) => c.exit2(from.pid, pid, reason));
  }

  /** Whether the calling process traps exits; sets it when `flag` is given. */
  trapExit(flag?: boolean): boolean {
    const p = this.current();
    const old = p.trapExit;
    if (flag !== undefined) p.trapExit = flag;
    return old;
  }

  /** Delivers an exit signal to a local process. @internal */
  exitSignal(
    target: Process,
    from: Pid,
    reason: unknown,
    viaLink: boolean,
  ): void {
    if (!target.alive) return;
    if (viaLink) {
      if (
        !target.linksIfAny?.delete(from.key) && !from.equals(target.pid)
      ) {
        // Not linked (any more): a link exit signal for a stale link is dropped.
        if (reason !== A.noproc) return;
      }
    }
    if (!viaLink && reason === A.kill) {
      this.terminate(target, A.killed);
    } else if (target.trapExit) {
      this.deliverProcess(target, tuple(A.EXIT, from, reason));
    } else if (reason === A.normal) {
      if (!viaLink && from.equals(target.pid)) this.terminate(target, reason);
    } else {
      this.terminate(target, reason);
    }
  }

  /** Ends a local process and tells its links and monitors. @internal */
  terminate(p: Process, reason: unknown): void {
    if (!p.alive) return;
    if (p === this.shell && !this.stopped) {
      // Code outside processes has no process to end: report and carry on.
      p.interrupt(
        new ExitError(reason, "the shell process got an exit signal"),
      );
      return;
    }
    p.markExited(reason);
    this.processes.delete(p);
    if (p.registeredName !== undefined) {
      if (this.names.get(p.registeredName) === p) {
        this.names.delete(p.registeredName);
      }
    }
    const aliases = p.aliasesIfAny;
    if (aliases !== undefined) {
      for (const a of aliases) this.aliasOwners.delete(a);
    }
    const links = p.linksIfAny;
    if (links !== undefined && links.size > 0) {
      for (const pid of links.values()) {
        if (pid.node === this.name) {
          const t = this.local(pid);
          if (t) this.exitSignal(t, p.pid, reason, true);
        } else {
          this.net.connection(pid.node)?.exit(p.pid, pid, reason);
        }
      }
      links.clear();
    }
    const monitoredBy = p.monitoredByIfAny;
    if (monitoredBy !== undefined && monitoredBy.size > 0) {
      for (const m of monitoredBy.values()) {
        const object = m.name !== undefined
          ? tuple(Atom.of(m.name), Atom.of(this.name))
          : p.pid;
        if (m.watcher.node === this.name) {
          const w = this.local(m.watcher);
          if (w) {
            w.monitoringIfAny?.delete(m.ref.key);
            this.deliverProcess(
              w,
              tuple(A.DOWN, m.ref, A.process, object, reason),
            );
          }
        } else {
          const from = m.name !== undefined ? Atom.of(m.name) : p.pid;
          this.net.connection(m.watcher.node)?.monitorExit(
            from,
            m.watcher,
            m.ref,
            reason,
          );
        }
      }
      monitoredBy.clear();
    }
    const monitoring = p.monitoringIfAny;
    if (monitoring !== undefined && monitoring.size > 0) {
      for (const m of monitoring.values()) {
        if (m.target.node === this.name) {
          this.local(m.target)?.monitoredByIfAny?.delete(m.ref.key);
        } else {
          const target = m.byName ? Atom.of(m.byName[0]) : m.target;
          this.net.connection(m.target.node)?.demonitor(p.pid, target, m.ref);
        }
      }
      monitoring.clear();
    }
    this.net.forget(p);
  }

  // ---------------------------------------------------------------- aliases and calls

  /** Makes an alias for the calling process: messages sent to it reach the process. */
  alias(): Ref {
    return this.aliasFor(this.current());
  }

  /** @internal */
  aliasFor(p: Process): Ref {
    const ref = this.makeRef();
    this.aliasAs(p, ref);
    return ref;
  }

  /** Makes `ref` an alias of `p`. @internal */
  aliasAs(p: Process, ref: Ref): void {
    p.aliases.add(ref.key);
    this.aliasOwners.set(ref.key, p);
  }

  /** Deactivates an alias. */
  unalias(ref: Ref): boolean {
    const p = this.aliasOwners.get(ref.key);
    if (!p) return false;
    this.aliasOwners.delete(ref.key);
    p.aliasesIfAny?.delete(ref.key);
    return true;
  }

  /**
   * GenServer-style call: sends `{'$gen_call', {Self, [alias | Ref]}, request}`
   * to `dest` and waits for the reply, failing with `noproc`, `noconnection`
   * or the server's exit reason if it dies, or a timeout (default 5000 ms).
   */
  genCall(
    dest: Destination,
    request: unknown,
    timeoutMs = 5000,
  ): Promise<unknown> {
    return this.genCallFrom(this.current(), dest, request, timeoutMs);
  }

  /** @internal */
  genCallFrom(
    from: Process,
    dest: Destination,
    request: unknown,
    timeoutMs: number | undefined = 5000,
    options: Omit<CallOptions, "timeoutMs"> = {},
  ): Promise<unknown> {
    let target: CallTarget;
    if (
      dest instanceof Pid || typeof dest === "string" || dest instanceof Atom
    ) target = dest;
    else if (Array.isArray(dest) && dest.length === 2) {
      target = [dest[0] as string | Atom, dest[1] as string | Atom];
    } else {
      return Promise.reject(
        new TypeError(
          `cannot call ${
            String(dest)
          }: a server is a Pid, a registered name or [name, node]`,
        ),
      );
    }
    const opts = { ...options, timeoutMs };
    if (from.suspended !== undefined) {
      return from.suspended.then(() =>
        this.calls.call(from, target, request, opts)
      );
    }
    return this.calls.call(from, target, request, opts);
  }

  /** Answers a `$gen_call`: `from` is the `{Pid, Tag}` the request carried. */
  reply(from: unknown, value: unknown): void {
    this.replyFrom(this.current(), from, value);
  }

  /** @internal */
  replyFrom(sender: Process, from: unknown, value: unknown): void {
    if (
      !(from instanceof Tuple) || from.length !== 2 || !(from[0] instanceof Pid)
    ) {
      throw new TypeError(
        "reply needs the {Pid, Tag} that came with the $gen_call",
      );
    }
    const [pid, tag] = from;
    // OTP 24+ callers tag with [alias | Ref]: the reply goes to the alias.
    const to = tag instanceof ImproperList && tag.items[0] === A.alias &&
        tag.tail instanceof Ref
      ? tag.tail
      : pid;
    this.sendFrom(sender, to, tuple(tag, value));
  }

  /**
   * Calls `mod.fun(...args)` on `node` and resolves with its result, like
   * `:rpc.call` (as erpc does it: a spawned process, one round trip). Rejects
   * with a {@linkcode RemoteError} if the function raised, `NoConnectionError`
   * if the node is unreachable, `TimeoutError` after `timeoutMs` (default: none).
   */
  call(
    node: string | Atom,
    mod: string | Atom,
    fun: string | Atom,
    args: unknown[],
    timeoutMs?: number,
  ): Promise<unknown> {
    return erpcCall(
      this,
      this.current(),
      String(node),
      String(mod),
      String(fun),
      args,
      timeoutMs,
    );
  }

  /** @internal */
  callFrom(
    from: Process,
    node: string,
    mod: string,
    fun: string,
    args: unknown[],
    timeoutMs?: number,
  ): Promise<unknown> {
    return erpcCall(this, from, node, mod, fun, args, timeoutMs);
  }

  /** Runs `mod.fun(...args)` on `node` without waiting for anything. */
  cast(
    node: string | Atom,
    mod: string | Atom,
    fun: string | Atom,
    args: unknown[],
  ): void {
    erpcCast(
      this,
      this.current(),
      String(node),
      String(mod),
      String(fun),
      args,
    );
  }

  // ---------------------------------------------------------------- I/O

  /** Writes `text` plus a newline through the calling process's group leader. */
  puts(text: string): void {
    this.io.putChars(this.current(), `${text}\n`);
  }

  /** @internal */
  putChars(p: Process, text: string): void {
    this.io.putChars(p, text);
  }

  // ---------------------------------------------------------------- nodes and connections

  /**
   * Names of the nodes this node is connected to (visible ones, as
   * `Node.list()`; pass `"all"` to include hidden nodes).
   */
  nodes(which: "visible" | "all" = "visible"): string[] {
    return this.net.nodes(which);
  }

  /**
   * Makes the calling process get `{nodedown, Node}` when the connection to
   * `node` goes down (`monitor_node(Node, true)`); with `flag` false, stops.
   * Connects first; if that fails the message comes at once.
   */
  monitorNode(node: string, flag = true): void {
    this.net.monitorNode(this.current(), node, flag);
  }

  /** Connects to `node` (`Node.connect`): true when connected. */
  async connect(node: string): Promise<boolean> {
    try {
      await this.net.connectTo(String(node));
      return true;
    } catch (e) {
      if (e instanceof HandshakeError) this.log(e.message);
      return false;
    }
  }

  /**
   * Connects to `node`, or rejects with the reason — a
   * {@linkcode NoConnectionError} or a {@linkcode HandshakeError}.
   */
  async connectTo(node: string): Promise<void> {
    await this.net.connectTo(node);
  }

  /** Closes the connection to `node` (`Node.disconnect`). */
  disconnect(node: string): Promise<boolean> {
    const done = this.net.disconnect(node);
    this.global.disconnecting(node); // global's nodedown comes now, as OTP's does
    return done;
  }

  /**
   * A connection to `node` could not be made or was lost: what waited on it
   * fails. Called by the net kernel. @internal
   */
  connectFailed(node: string, error: NoConnectionError): void {
    this.spawns.fail(node, error);
  }

  // ---------------------------------------------------------------- incoming control messages

  /** One control message (and payload) from connection `c`. @internal */
  dispatch(c: Connection, ctl: Tuple, msg: unknown): void {
    switch (ctl[0] as number) {
      case OP.SEND: // {2, Unused, To}
      case OP.SEND_TT:
      case OP.SEND_SENDER: // {22, From, To}
      case OP.SEND_SENDER_TT:
        if (ctl[2] instanceof Pid) this.deliverTo(ctl[2], msg);
        return;
      case OP.REG_SEND: // {6, From, Unused, ToName}
      case OP.REG_SEND_TT: {
        const p = this.names.get(String(ctl[3]));
        if (p) this.deliverProcess(p, msg);
        return;
      }
      case OP.ALIAS_SEND: // {33, From, Alias}
      case OP.ALIAS_SEND_TT: {
        const ref = ctl[2];
        if (ref instanceof Ref) {
          const p = this.aliasOwners.get(ref.key);
          if (p) this.deliverProcess(p, msg);
        }
        return;
      }
      case OP.LINK: { // {1, From, To}
        const [, from, to] = ctl;
        if (!(from instanceof Pid) || !(to instanceof Pid)) return;
        const p = this.local(to);
        if (p) p.links.set(from.key, from);
        else c.exit(to, from, A.noproc);
        return;
      }
      case OP.UNLINK: { // {4, From, To}
        const [, from, to] = ctl;
        if (from instanceof Pid && to instanceof Pid) {
          this.local(to)?.linksIfAny?.delete(from.key);
        }
        return;
      }
      case OP.UNLINK_ID: { // {35, Id, From, To}
        const [, id, from, to] = ctl;
        if (from instanceof Pid && to instanceof Pid) {
          this.local(to)?.linksIfAny?.delete(from.key);
          c.unlinkIdAck(id, to, from);
        }
        return;
      }
      case OP.UNLINK_ID_ACK:
        return;
      case OP.EXIT: // {3, From, To, Reason}
      case OP.EXIT_TT: // {13, From, To, Token, Reason}
      case OP.PAYLOAD_EXIT: // {24, From, To} + Reason
      case OP.PAYLOAD_EXIT_TT:
      case OP.EXIT2: // {8, From, To, Reason}
      case OP.EXIT2_TT:
      case OP.PAYLOAD_EXIT2: // {26, From, To} + Reason
      case OP.PAYLOAD_EXIT2_TT: {
        const op = ctl[0] as number;
        const [, from, to] = ctl;
        if (!(from instanceof Pid) || !(to instanceof Pid)) return;
        const reason = op === OP.EXIT || op === OP.EXIT2
          ? ctl[3]
          : op === OP.EXIT_TT || op === OP.EXIT2_TT
          ? ctl[4]
          : msg;
        const viaLink = op === OP.EXIT || op === OP.EXIT_TT ||
          op === OP.PAYLOAD_EXIT || op === OP.PAYLOAD_EXIT_TT;
        const p = this.local(to);
        if (p) this.exitSignal(p, from, reason, viaLink);
        return;
      }
      case OP.MONITOR_P: { // {19, FromPid, ToProc, Ref}
        const [, from, to, ref] = ctl;
        if (!(from instanceof Pid) || !(ref instanceof Ref)) return;
        const byName = to instanceof Atom ? to.name : undefined;
        const p = to instanceof Pid
          ? this.local(to)
          : byName !== undefined
          ? this.names.get(byName)
          : undefined;
        if (p?.alive) {
          p.monitoredBy.set(ref.key, { ref, watcher: from, name: byName });
        } else if (to instanceof Pid || to instanceof Atom) {
          c.monitorExit(to, from, ref, A.noproc);
        }
        return;
      }
      case OP.DEMONITOR_P: { // {20, FromPid, ToProc, Ref}
        const [, , to, ref] = ctl;
        if (!(ref instanceof Ref)) return;
        const p = to instanceof Pid
          ? this.local(to)
          : to instanceof Atom
          ? this.names.get(to.name)
          : undefined;
        p?.monitoredByIfAny?.delete(ref.key);
        return;
      }
      case OP.MONITOR_P_EXIT: // {21, FromProc, ToPid, Ref, Reason}
      case OP.PAYLOAD_MONITOR_P_EXIT: { // {28, FromProc, ToPid, Ref} + Reason
        const [, fromProc, to, ref] = ctl;
        if (!(to instanceof Pid) || !(ref instanceof Ref)) return;
        const reason = ctl[0] === OP.MONITOR_P_EXIT ? ctl[4] : msg;
        const p = this.local(to);
        if (!p) return;
        const m = p.monitoringIfAny?.get(ref.key);
        if (!m) return;
        p.monitoringIfAny!.delete(ref.key);
        const object = m.byName
          ? tuple(Atom.of(m.byName[0]), Atom.of(m.byName[1]))
          : fromProc instanceof Pid
          ? fromProc
          : m.target;
        this.deliverProcess(p, tuple(A.DOWN, ref, A.process, object, reason));
        return;
      }
      case OP.SPAWN_REQUEST: // {29, ReqId, From, GroupLeader, {M, F, Arity}, OptList} + Args
      case OP.SPAWN_REQUEST_TT:
        this.spawns.incoming(c, ctl, msg);
        return;
      case OP.SPAWN_REPLY: // {31, ReqId, To, Flags, Result}
      case OP.SPAWN_REPLY_TT:
        this.spawns.reply(c, ctl);
        return;
      case OP.GROUP_LEADER: { // {7, From, To}
        const [, from, to] = ctl;
        if (from instanceof Pid && to instanceof Pid) {
          const p = this.local(to);
          if (p) p.groupLeader = from;
        }
        return;
      }
      default:
        return;
    }
  }

  // ---------------------------------------------------------------- stop

  /**
   * Stops the node: ends its processes (reason `shutdown`), closes every
   * connection (peers see it go down), unregisters and stops listening.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.timers.clear();
    const i = runningNodes.indexOf(this);
    if (i >= 0) runningNodes.splice(i, 1);
    // Connections first: to peers this node is simply gone (noconnection).
    const closing = this.net.stop();
    for (const p of this.processes.values()) this.terminate(p, A.shutdown);
    this.spawns.stop();
    await closing;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.registration.close();
  }

  /** Stops the node: `await using node = await startNode(…)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

/** Erlang's `badarg` for a send to a local name nobody holds. */
function unregisteredName(name: string, node: string): ExitError {
  return new ExitError(
    A.badarg,
    `cannot send to ${name}: no process is registered under that name on ${node} (as Erlang's send; [name, node] drops such a message silently)`,
  );
}

/** A process's function resolved: it ends `normal`. */
function processDone(): void {
  const p = processContext.getStore();
  if (p !== undefined) (p.owner as Node).terminate(p, A.normal);
}

/** A process's function threw or rejected: it ends with that error. */
function processFailed(e: unknown): void {
  const p = processContext.getStore();
  if (p === undefined) return;
  const node = p.owner as Node;
  const reason = errorReason(e);
  if (p.alive) processCrashed(node, p, e, reason);
  node.terminate(p, reason);
}

/**
 * Starts a node: listens on `address:port`, registers its name with the
 * registry, and returns the {@linkcode Node}. The first node started in
 * an OS process is the default node of the free functions (`send`,
 * `receive`, `self`, …) called outside any process.
 *
 * @throws {TypeError} for a bad name, cookie or TLS certificate.
 * @throws {RangeError} for a port, tick time, timeout or size out of range.
 * @throws {Error} when the registry cannot be reached or the name is taken
 * (the message says how to fix it).
 */
export async function startNode(options: NodeOptions): Promise<Node> {
  const name = nodeNameFrom(options);
  checkOptions(options);
  const cookie = resolveCookie(options.cookie);
  const registryPort = options.registryPort ?? defaultRegistryPort();
  const registryHost = options.registryHost ?? "127.0.0.1";
  const tls = options.tls === undefined
    ? undefined
    : new TlsTransport(options.tls, name);
  const server = createServer();
  const port = await listenForNode(
    server,
    name,
    options.address ?? await listenAddressFor(name),
    options.port ?? 0,
    options.portRange,
    options.address !== undefined,
  );
  let registration: Registration;
  try {
    registration = await registerNode(name.slice(0, name.indexOf("@")), port, {
      host: registryHost,
      port: registryPort,
      timeoutMs: options.connectTimeoutMs ?? 7000,
      hidden: options.hidden,
    });
  } catch (e) {
    await new Promise<void>((r) => server.close(() => r()));
    throw e;
  }
  return new Node({
    name,
    cookie,
    server,
    port,
    registration,
    registryPort,
    registryHost,
    options,
    tls,
  });
}
