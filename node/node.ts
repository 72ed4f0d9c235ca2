/**
 * A named node: it listens for distribution connections, registers with the
 * registry (noderl's or a real `epmd`), runs processes, and speaks the Erlang
 * distribution protocol with noderl and BEAM peers alike.
 *
 * @module
 */
import { EventEmitter } from "node:events";
import { randomBytes } from "node:crypto";
import { lookup as dnsLookup } from "node:dns/promises";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { homedir, hostname } from "node:os";
import { join } from "node:path";
import {
  createConnection,
  createServer,
  type Server,
  type Socket,
} from "node:net";
import process from "node:process";
import { DFLAG, DFLAG_NODERL, OP, SPAWN_REPLY_FLAG } from "./_dist.ts";
import { processContext, runningNodes } from "./_context.ts";
import { Connection, NO_MESSAGE } from "./connection.ts";
import {
  ExitError,
  HandshakeError,
  NameTakenError,
  NoConnectionError,
  RemoteError,
  TimeoutError,
} from "./errors.ts";
import {
  type AcceptDecision,
  acceptHandshake,
  type HandshakePeer,
  hasFlag,
  initiateHandshake,
} from "./handshake.ts";
import { chardataToString, ioLibFormat } from "./io_format.ts";
import { type MessageHandler, Process } from "./process.ts";
import {
  defaultRegistryPort,
  lookupNode,
  registerNode,
  type Registration,
} from "./registry_client.ts";
import { listen } from "./_listen.ts";
import { A, isTuple } from "./_atoms.ts";
import { describeDest, type Destination, isDestination } from "./_dest.ts";

export type { Destination };
import { Atom, ImproperList, Pid, Ref, Tuple, tuple } from "./terms.ts";

/** A function a module exports: called with the decoded arguments. */
// deno-lint-ignore no-explicit-any
export type ModuleFunction = (...args: any[]) => unknown;

/** Options for {@linkcode startNode}. */
export interface NodeOptions {
  /** A full node name, used as given: `"alex@localhost"`. */
  name?: string;
  /** A short name: `"alex"` becomes `alex@<this host's short name>`. */
  sname?: string;
  /**
   * The magic cookie. Default: `NODERL_COOKIE`, else the contents of
   * `~/.erlang.cookie` (created with a random value, mode 0600, if missing,
   * as `erl` does).
   */
  cookie?: string;
  /** The registry's port. Default: `ERL_EPMD_PORT`, else 4369. */
  registryPort?: number;
  /** Where our registry runs. Default `"127.0.0.1"`. */
  registryHost?: string;
  /** Address to listen on for distribution connections. Default `"127.0.0.1"`. */
  address?: string;
  /** Port to listen on. Default 0 (any free port). */
  port?: number;
  /**
   * Net tick time in seconds, as Erlang's `net_ticktime`: a peer that is
   * silent this long is declared down. Default 60.
   */
  tickTime?: number;
  /** A hidden node is not listed by its peers' `nodes()`. Default false. */
  hidden?: boolean;
  /** Time allowed for lookup, connect and handshake, in ms. Default 7000. */
  connectTimeoutMs?: number;
  /** Largest distribution packet accepted, in bytes. Default 128 MiB. */
  maxPacketSize?: number;
  /** Where this node's group leader writes. Default: standard output. */
  stdout?: (text: string) => void;
  /** Where the node reports problems. Default: standard error, prefixed. */
  log?: (message: string) => void;
}

/** Options for spawning a process. */
export interface SpawnOptions {
  /** Link the new process to the caller. */
  link?: boolean;
  /** Monitor the new process from the caller. */
  monitor?: boolean;
}

const NAME_PART = /^[A-Za-z0-9_\-]+$/;
const HOST_PART = /^[A-Za-z0-9_\-.]+$/;

/** Validates and completes a node name from `name` or `sname`. */
function nodeNameFrom(options: NodeOptions): string {
  if (options.name !== undefined && options.sname !== undefined) {
    throw new TypeError("give either name or sname, not both");
  }
  if (options.name !== undefined) {
    const [alive, host, ...more] = options.name.split("@");
    if (more.length || !alive || !host) {
      throw new TypeError(
        `name must be a full node name like "alex@localhost", got ${
          JSON.stringify(options.name)
        }; use sname for a short name`,
      );
    }
    if (!NAME_PART.test(alive) || !HOST_PART.test(host) || alive.length > 255) {
      throw new TypeError(
        `invalid node name ${
          JSON.stringify(options.name)
        }: use letters, digits, _ and - before the @, and a host name after it`,
      );
    }
    return options.name;
  }
  if (options.sname !== undefined) {
    const s = options.sname;
    if (s.includes("@")) {
      const [, host] = s.split("@");
      if (host.includes(".")) {
        throw new TypeError(
          `sname ${
            JSON.stringify(s)
          } has a dotted host; short names take a host without dots (use name for long names)`,
        );
      }
      return nodeNameFrom({ name: s });
    }
    if (!NAME_PART.test(s) || s.length > 255) {
      throw new TypeError(
        `invalid short name ${JSON.stringify(s)}: use letters, digits, _ and -`,
      );
    }
    return `${s}@${hostname().split(".")[0]}`;
  }
  throw new TypeError(
    'startNode needs a name ("alex@localhost") or an sname ("alex")',
  );
}

/** Finds the cookie: option, NODERL_COOKIE, or ~/.erlang.cookie (created if missing). */
function resolveCookie(option: string | undefined): string {
  if (option !== undefined) {
    if (option.length === 0) {
      throw new TypeError("the cookie must not be empty");
    }
    return option;
  }
  const env = process.env.NODERL_COOKIE;
  if (env) return env;
  const file = join(homedir(), ".erlang.cookie");
  if (existsSync(file)) {
    const c = readFileSync(file, "utf8").trim();
    if (c) return c;
  }
  const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  const bytes = randomBytes(20);
  const cookie = Array.from(bytes, (b) => letters[b % 26]).join("");
  writeFileSync(file, cookie, { mode: 0o600 });
  chmodSync(file, 0o400);
  return cookie;
}

async function resolveHost(host: string): Promise<string> {
  if (host === "localhost") return "127.0.0.1";
  if (/^[0-9.]+$/.test(host) || host.includes(":")) return host;
  try {
    const r = await dnsLookup(host, { family: 4 });
    return r.address;
  } catch {
    if (host === hostname() || host === hostname().split(".")[0]) {
      return "127.0.0.1";
    }
    throw new Error(`cannot resolve host ${host}`);
  }
}

function errorReason(e: unknown): unknown {
  if (e instanceof ExitError) return e.reason;
  const err = e instanceof Error ? e : new Error(String(e));
  const message = err.name && err.name !== "Error"
    ? `${err.name}: ${err.message}`
    : err.message;
  const ex = new Map<unknown, unknown>([
    [A.__struct__, A.RuntimeError],
    [A.__exception__, true],
    [A.message, message],
  ]);
  return tuple(ex, jsStack(err));
}

/** A JS stack as an Erlang stack trace: `[{js, Fn, 0, [{file, F}, {line, L}]}]`. */
function jsStack(err: Error): unknown[] {
  const out: unknown[] = [];
  for (const line of (err.stack ?? "").split("\n").slice(1, 16)) {
    const m = /^\s*at (?:(.+?) \()?(.*?):(\d+):\d+\)?$/.exec(line);
    if (!m) continue;
    const fn = m[1] ?? "anonymous";
    const file = m[2].replace(/^file:\/\//, "");
    out.push(
      tuple(A.js, Atom.of(fn.slice(0, 200)), 0, [
        tuple(A.file, Array.from(file.slice(-200), (c) => c.codePointAt(0)!)),
        tuple(A.line, Number(m[3])),
      ]),
    );
  }
  return out;
}

/** Events a node emits. */
export interface NodeEvents {
  nodeup: [node: string];
  nodedown: [node: string, reason: string];
}

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
export class Node extends EventEmitter {
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

  private readonly cookie: string;
  private readonly options: NodeOptions;
  private readonly server: Server;
  private readonly registration: Registration;
  private readonly registryPort: number;
  private readonly registryHost: string;
  private readonly connectTimeoutMs: number;
  private readonly log: (message: string) => void;
  private readonly writeOut: (text: string) => void;
  private readonly flags: bigint;
  private readonly tickTimer: ReturnType<typeof setInterval>;

  private readonly connections = new Map<string, Connection>();
  private readonly connecting = new Map<string, Promise<Connection>>();
  private readonly connectWaiters = new Map<
    string,
    Array<(c: Connection | undefined) => void>
  >();
  private readonly queued = new Map<
    string,
    Array<{ control: (c: Connection) => unknown[]; message: unknown }>
  >();
  private readonly handshaking = new Set<Socket>();
  private readonly processes = new Map<number, Process>();
  private readonly names = new Map<string, Process>();
  private readonly aliasOwners = new Map<string, Process>();
  private readonly modules = new Map<string, Record<string, ModuleFunction>>();
  private readonly spawnRequests = new Map<
    string,
    {
      caller: Process;
      node: string;
      resolve: (p: Pid) => void;
      reject: (e: unknown) => void;
    }
  >();
  private readonly nodeMonitors = new Map<string, Set<Process>>();
  private readonly unlinkIds = new Map<string, number>();
  private nextId = 1;
  private refCounter = 0;
  private readonly refSalt = randomBytes(4).readUInt32BE(0);
  private stopped = false;

  /** @internal Use {@linkcode startNode}. */
  constructor(
    init: {
      name: string;
      cookie: string;
      server: Server;
      port: number;
      registration: Registration;
      registryPort: number;
      registryHost: string;
      options: NodeOptions;
    },
  ) {
    super();
    this.name = init.name;
    this.cookie = init.cookie;
    this.server = init.server;
    this.port = init.port;
    this.registration = init.registration;
    this.creation = init.registration.creation;
    this.registryPort = init.registryPort;
    this.registryHost = init.registryHost;
    this.options = init.options;
    this.connectTimeoutMs = init.options.connectTimeoutMs ?? 7000;
    this.log = init.options.log ??
      ((m) => process.stderr.write(`[noderl ${this.name}] ${m}\n`));
    this.writeOut = init.options.stdout ?? ((t) => process.stdout.write(t));
    this.flags = init.options.hidden
      ? DFLAG_NODERL
      : DFLAG_NODERL | DFLAG.PUBLISHED;

    // The I/O server first: every other process's group leader.
    const ioPid = this.newPid();
    this.ioServer = this.addProcess(new Process(ioPid, ioPid));
    this.ioServer.handler = (m) => this.ioRequest(m);
    this.ioServer.label = "io server";
    this.names.set("user", this.ioServer);
    this.ioServer.registeredName = "user";
    this.shell = this.addProcess(new Process(this.newPid(), ioPid));
    this.shell.label = "shell";
    this.systemProcess("net_kernel", (m) => this.netKernel(m));
    this.systemProcess("rex", (m) => this.rex(m));
    // global's name server: accepted and ignored (noderl nodes do not run global).
    this.systemProcess("global_name_server", () => {});
    this.installBuiltins();

    this.server.on("connection", (s) => this.accept(s));
    const tickMs = Math.max(50, ((init.options.tickTime ?? 60) * 1000) / 4);
    this.tickTimer = setInterval(() => this.tickAll(), tickMs);
    this.tickTimer.unref?.();
    this.registration.closed.then(() => {
      if (!this.stopped) {
        this.log(
          "the registry connection closed; this node can no longer be found by name (restart the registry and the node)",
        );
      }
    });
    runningNodes.push(this);
  }

  // ---------------------------------------------------------------- processes

  private newPid(): Pid {
    const id = this.nextId++;
    return new Pid(
      this.name,
      id & 0x7fffffff,
      Math.floor(id / 0x80000000),
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

  private addProcess(p: Process): Process {
    this.processes.set(p.pid.id, p);
    p.owner = this;
    return p;
  }

  private systemProcess(name: string, handler: MessageHandler): Process {
    const p = this.addProcess(new Process(this.newPid(), this.ioServer.pid));
    p.handler = handler;
    p.label = name;
    p.registeredName = name;
    this.names.set(name, p);
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
    const p = this.processes.get(pid.id);
    return p !== undefined && p.pid.serial === pid.serial ? p : undefined;
  }

  private handshakeLocal(): {
    name: string;
    creation: number;
    flags: bigint;
    cookie: string;
  } {
    return {
      name: this.name,
      creation: this.creation,
      flags: this.flags,
      cookie: this.cookie,
    };
  }

  private isLocal(pid: Pid): boolean {
    return pid.node === this.name;
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
    return this.spawnRequest(
      this.current(),
      String(node),
      String(mod),
      String(fun),
      args,
      options,
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
    const p = this.addProcess(
      new Process(this.newPid(), options.groupLeader ?? caller.groupLeader),
    );
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

  private run(p: Process, fn: () => unknown): void {
    queueMicrotask(() => {
      if (!p.alive) return;
      processContext.run(p, async () => {
        let reason: unknown = A.normal;
        try {
          await fn();
        } catch (e) {
          reason = errorReason(e);
        }
        this.terminate(p, reason);
      });
    });
  }

  /** Registers `pid` (a local process) under `name`. */
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
    if (f === undefined) {
      const reason = tuple(A.undef, [
        tuple(Atom.of(mod), Atom.of(fun), args, []),
      ]);
      throw new ExitError(
        reason,
        `${mod}.${fun}/${args.length} is undefined (not defined with defineModule on ${this.name})`,
      );
    }
    return f(...args);
  }

  private installBuiltins(): void {
    const apply = (m: unknown, f: unknown, a: unknown) =>
      this.apply(String(m), String(f), Array.isArray(a) ? a : []);
    this.defineModule("erpc", {
      // Runs in the spawned process; its exit reason carries the result.
      async execute_call(ref: unknown, m: unknown, f: unknown, a: unknown) {
        let reply: unknown;
        try {
          const v = await apply(m, f, a);
          reply = tuple(ref, A.return, v === undefined ? A.ok : v);
        } catch (e) {
          if (e instanceof ExitError && isTuple(e.reason, A.undef)) {
            reply = tuple(ref, A.error, A.undef, (e.reason as Tuple)[1]);
          } else if (e instanceof ExitError) {
            reply = tuple(ref, A.exit, e.reason);
          } else {
            const r = errorReason(e) as Tuple;
            reply = tuple(ref, A.error, r[0], r[1]);
          }
        }
        throw new ExitError(reply);
      },
      async execute_cast(m: unknown, f: unknown, a: unknown) {
        await apply(m, f, a);
      },
    });
    this.defineModule("erlang", {
      node: () => Atom.of(this.name),
      nodes: () => this.nodes().map((n) => Atom.of(n)),
      self: () => this.current().pid,
      apply: (m: unknown, f: unknown, a: unknown) =>
        this.apply(String(m), String(f), Array.isArray(a) ? a : []),
    });
    this.defineModule("Elixir.Kernel", {
      node: () => Atom.of(this.name),
    });
    this.defineModule("io", {
      format: (fmt: unknown, args: unknown = []) => {
        this.putChars(this.current(), ioLibFormat(fmt, args, this.name));
        return A.ok;
      },
      put_chars: (chars: unknown) => {
        this.putChars(this.current(), chardataToString(chars));
        return A.ok;
      },
    });
    this.defineModule("Elixir.IO", {
      puts: (chars: unknown) => {
        this.putChars(this.current(), `${chardataToString(chars)}\n`);
        return A.ok;
      },
      write: (chars: unknown) => {
        this.putChars(this.current(), chardataToString(chars));
        return A.ok;
      },
    });
  }

  // ---------------------------------------------------------------- sending

  /** Sends `message` to `dest` from the calling process (or the shell). */
  send(dest: Destination, message: unknown): void {
    this.sendFrom(this.current(), dest, message);
  }

  /** @internal */
  sendFrom(from: Process, dest: Destination, message: unknown): void {
    if (dest instanceof Pid) {
      if (this.isLocal(dest)) {
        this.deliverTo(dest, message);
      } else {
        const c = this.connections.get(dest.node);
        if (c !== undefined && c.open) {
          c.sendMessage(from.pid, dest, message);
          return;
        }
        this.toNode(
          dest.node,
          (c) =>
            hasFlag(c.flags, DFLAG.SEND_SENDER)
              ? [OP.SEND_SENDER, from.pid, dest]
              : [OP.SEND, A.empty, dest],
          message,
        );
      }
      return;
    }
    if (typeof dest === "string" || dest instanceof Atom) {
      const p = this.names.get(String(dest));
      if (p) this.deliverProcess(p, message);
      return;
    }
    if (dest instanceof Ref) {
      if (dest.node === this.name) {
        const p = this.aliasOwners.get(dest.key);
        if (p) this.deliverProcess(p, message);
      } else {
        this.toNode(dest.node, () => [OP.ALIAS_SEND, from.pid, dest], message);
      }
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
        this.toNode(
          n,
          () => [OP.REG_SEND, from.pid, A.empty, nameAtom],
          message,
        );
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
    if (typeof ms !== "number" || !(ms >= 0) || ms > 0x7fffffff) {
      throw new RangeError(
        `sendAfter: the delay must be a number of milliseconds from 0 to 2147483647, got ${
          String(ms)
        }`,
      );
    }
    if (!isDestination(dest)) {
      throw new TypeError(
        `sendAfter: cannot send to ${
          String(dest)
        }: a destination is a Pid, a registered name, [name, node] or an alias Ref`,
      );
    }
    const ref = this.makeRef();
    const timer = setTimeout(() => {
      this.timers.delete(ref.key);
      if (this.stopped) return;
      try {
        this.sendFrom(from.alive ? from : this.shell, dest, message);
      } catch (e) {
        this.log(
          `sendAfter to ${describeDest(dest)} dropped its message: ${
            (e as Error).message
          }`,
        );
      }
    }, ms);
    this.timers.set(ref.key, { timer, due: performance.now() + ms });
    return ref;
  }

  /**
   * Cancels a timer made by `sendAfter` (`erlang:cancel_timer/1`): returns
   * the milliseconds it had left, or `false` if it had already fired, was
   * cancelled, or is unknown.
   */
  cancelTimer(ref: Ref): number | false {
    const t = this.timers.get(ref.key);
    if (t === undefined) return false;
    clearTimeout(t.timer);
    this.timers.delete(ref.key);
    return Math.max(0, Math.round(t.due - performance.now()));
  }

  /**
   * The milliseconds left on a `sendAfter` timer (`erlang:read_timer/1`), or
   * `false` if it is no longer pending.
   */
  readTimer(ref: Ref): number | false {
    const t = this.timers.get(ref.key);
    return t === undefined
      ? false
      : Math.max(0, Math.round(t.due - performance.now()));
  }

  private readonly timers = new Map<
    string,
    { timer: ReturnType<typeof setTimeout>; due: number }
  >();

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
  private lastTargetPid: Pid | undefined;
  private lastTarget: Process | undefined;

  private deliverProcess(p: Process, message: unknown): void {
    if (
      p.ioRefs !== undefined && p.ioRefs.size > 0 && message instanceof Tuple &&
      message[0] === A.io_reply && message[1] instanceof Ref &&
      p.ioRefs.delete(message[1].key)
    ) return;
    try {
      p.deliver(message);
    } catch (e) {
      // A handler process failed on this message.
      this.terminate(p, errorReason(e));
    }
  }

  /**
   * Sends a control message (built once the connection is known) to `node`,
   * connecting first if needed; messages queue in order meanwhile and are
   * dropped if the connection cannot be made, as in Erlang.
   */
  private toNode(
    node: string,
    control: (c: Connection) => unknown[],
    message: unknown,
  ): void {
    if (this.stopped) return;
    const c = this.connections.get(node);
    if (c !== undefined && c.open) {
      c.send(control(c), message);
      return;
    }
    let q = this.queued.get(node);
    if (q === undefined) {
      q = [];
      this.queued.set(node, q);
      this.connectTo(node).catch(() => {});
    }
    q.push({ control, message });
  }

  private flushQueued(c: Connection): void {
    const q = this.queued.get(c.peer);
    if (q === undefined) return;
    this.queued.delete(c.peer);
    for (const { control, message } of q) {
      try {
        c.send(control(c), message);
      } catch (e) {
        this.log(`dropped a message to ${c.peer}: ${(e as Error).message}`);
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
    if (this.isLocal(pid)) {
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
    this.toNode(pid.node, () => [OP.LINK, from.pid, pid], NO_MESSAGE);
  }

  /** Removes a link between the calling process and `pid`. */
  unlink(pid: Pid): void {
    this.unlinkFrom(this.current(), pid);
  }

  /** @internal */
  unlinkFrom(from: Process, pid: Pid): void {
    from.links.delete(pid.key);
    if (this.isLocal(pid)) {
      this.local(pid)?.links.delete(from.pid.key);
      return;
    }
    const id = (this.refCounter++ % 0xffffffff) + 1;
    this.toNode(
      pid.node,
      (c) =>
        hasFlag(c.flags, DFLAG.UNLINK_ID)
          ? [OP.UNLINK_ID, id, from.pid, pid]
          : [OP.UNLINK, from.pid, pid],
      NO_MESSAGE,
    );
  }

  /**
   * Monitors a process (a pid, a local name, or `[name, node]`) from the
   * calling process. A `{DOWN, Ref, process, Object, Reason}` message comes
   * when it ends (at once with `noproc` if it is not alive).
   */
  monitor(
    target: Pid | string | Atom | readonly [string | Atom, string | Atom],
  ): Ref {
    return this.monitorFrom(this.current(), target);
  }

  /** @internal */
  monitorFrom(
    from: Process,
    target: Pid | string | Atom | readonly [string | Atom, string | Atom],
  ): Ref {
    const ref = this.makeRef();
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
    this.toNode(
      node,
      () => [OP.MONITOR_P, from.pid, pid ?? Atom.of(name!), ref],
      NO_MESSAGE,
    );
    if (!this.connections.get(node)?.open) {
      // If the connection fails, the DOWN says noconnection.
      this.connectTo(node).catch(() => {
        if (from.monitoring.delete(ref.key)) {
          this.deliverProcess(
            from,
            tuple(A.DOWN, ref, A.process, object, A.noconnection),
          );
        }
      });
    }
    return ref;
  }

  /** Removes a monitor; with `flush`, also drops its DOWN if already queued. */
  demonitor(ref: Ref, flush = false): boolean {
    return this.demonitorFrom(this.current(), ref, flush);
  }

  /** @internal */
  demonitorFrom(from: Process, ref: Ref, flush = false): boolean {
    const m = from.monitoring.get(ref.key);
    if (flush) {
      from.drain((msg) =>
        isTuple(msg, A.DOWN, 5) && msg[1] instanceof Ref && msg[1].equals(ref)
      );
    }
    if (!m) return false;
    from.monitoring.delete(ref.key);
    if (this.isLocal(m.target)) {
      this.local(m.target)?.monitoredBy.delete(ref.key);
    } else {
      const target = m.byName ? Atom.of(m.byName[0]) : m.target;
      const c = this.connections.get(m.target.node);
      c?.send([OP.DEMONITOR_P, from.pid, target, ref], NO_MESSAGE);
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
    if (this.isLocal(pid)) {
      const p = this.local(pid);
      if (p) this.exitSignal(p, from.pid, reason, false);
      return;
    }
    this.toNode(
      pid.node,
      (c) =>
        hasFlag(c.flags, DFLAG.EXIT_PAYLOAD)
          ? [OP.PAYLOAD_EXIT2, from.pid, pid]
          : [OP.EXIT2, from.pid, pid, reason],
      reason,
    );
  }

  /** Whether the calling process traps exits; sets it when `flag` is given. */
  trapExit(flag?: boolean): boolean {
    const p = this.current();
    const old = p.trapExit;
    if (flag !== undefined) p.trapExit = flag;
    return old;
  }

  /** Delivers an exit signal to a local process. */
  private exitSignal(
    target: Process,
    from: Pid,
    reason: unknown,
    viaLink: boolean,
  ): void {
    if (!target.alive) return;
    if (viaLink) {
      if (!target.links.delete(from.key) && !from.equals(target.pid)) {
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
    this.processes.delete(p.pid.id);
    if (p.registeredName !== undefined) {
      if (this.names.get(p.registeredName) === p) {
        this.names.delete(p.registeredName);
      }
    }
    for (const a of p.aliases) this.aliasOwners.delete(a);
    for (const pid of p.links.values()) {
      if (this.isLocal(pid)) {
        const t = this.local(pid);
        if (t) this.exitSignal(t, p.pid, reason, true);
      } else {
        const c = this.connections.get(pid.node);
        if (c?.open) {
          c.send(
            hasFlag(c.flags, DFLAG.EXIT_PAYLOAD)
              ? [OP.PAYLOAD_EXIT, p.pid, pid]
              : [OP.EXIT, p.pid, pid, reason],
            hasFlag(c.flags, DFLAG.EXIT_PAYLOAD) ? reason : NO_MESSAGE,
          );
        }
      }
    }
    p.links.clear();
    for (const m of p.monitoredBy.values()) {
      const object = m.name !== undefined
        ? tuple(Atom.of(m.name), Atom.of(this.name))
        : p.pid;
      if (this.isLocal(m.watcher)) {
        const w = this.local(m.watcher);
        if (w) {
          w.monitoring.delete(m.ref.key);
          this.deliverProcess(
            w,
            tuple(A.DOWN, m.ref, A.process, object, reason),
          );
        }
      } else {
        const c = this.connections.get(m.watcher.node);
        if (c?.open) {
          const from = m.name !== undefined ? Atom.of(m.name) : p.pid;
          if (hasFlag(c.flags, DFLAG.EXIT_PAYLOAD)) {
            c.send([OP.PAYLOAD_MONITOR_P_EXIT, from, m.watcher, m.ref], reason);
          } else {
            c.send(
              [OP.MONITOR_P_EXIT, from, m.watcher, m.ref, reason],
              NO_MESSAGE,
            );
          }
        }
      }
    }
    p.monitoredBy.clear();
    for (const m of p.monitoring.values()) {
      if (this.isLocal(m.target)) {
        this.local(m.target)?.monitoredBy.delete(m.ref.key);
      } else {
        const c = this.connections.get(m.target.node);
        if (c?.open) {
          const target = m.byName ? Atom.of(m.byName[0]) : m.target;
          c.send([OP.DEMONITOR_P, p.pid, target, m.ref], NO_MESSAGE);
        }
      }
    }
    p.monitoring.clear();
    for (const set of this.nodeMonitors.values()) set.delete(p);
  }

  // ---------------------------------------------------------------- aliases and calls

  /** Makes an alias for the calling process: messages sent to it reach the process. */
  alias(): Ref {
    return this.aliasFor(this.current());
  }

  /** @internal */
  aliasFor(p: Process): Ref {
    const ref = this.makeRef();
    p.aliases.add(ref.key);
    this.aliasOwners.set(ref.key, p);
    return ref;
  }

  /** Deactivates an alias. */
  unalias(ref: Ref): boolean {
    const p = this.aliasOwners.get(ref.key);
    if (!p) return false;
    this.aliasOwners.delete(ref.key);
    p.aliases.delete(ref.key);
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
  async genCallFrom(
    from: Process,
    dest: Destination,
    request: unknown,
    timeoutMs = 5000,
  ): Promise<unknown> {
    let target: Pid | string | Atom | [string | Atom, string | Atom];
    if (
      dest instanceof Pid || typeof dest === "string" || dest instanceof Atom
    ) target = dest;
    else if (Array.isArray(dest)) {
      target = [dest[0] as string | Atom, dest[1] as string | Atom];
    } else throw new TypeError(`cannot call ${String(dest)}`);
    const mref = this.monitorFrom(from, target);
    from.aliases.add(mref.key);
    this.aliasOwners.set(mref.key, from);
    const tag = new ImproperList([A.alias], mref);
    this.sendFrom(from, dest, tuple(A.gen_call, tuple(from.pid, tag), request));
    try {
      const reply = await from.receive(
        (m) =>
          m instanceof Tuple && m.length >= 2 &&
          ((m[0] instanceof ImproperList && m[0].tail instanceof Ref &&
            m[0].tail.equals(mref)) ||
            (m[0] === A.DOWN && m[1] instanceof Ref && m[1].equals(mref))),
        timeoutMs,
      ) as Tuple;
      if (reply[0] === A.DOWN) {
        const reason = reply[4];
        if (reason === A.noconnection) {
          const node = Array.isArray(target)
            ? String(target[1])
            : target instanceof Pid
            ? target.node
            : this.name;
          throw new NoConnectionError(node, `call to ${describeDest(dest)}`);
        }
        throw new ExitError(reason, `call to ${describeDest(dest)}`);
      }
      this.demonitorFrom(from, mref, true);
      return reply[1];
    } catch (e) {
      if (e instanceof TimeoutError) {
        this.demonitorFrom(from, mref, true);
        throw new TimeoutError(
          `call to ${describeDest(dest)} got no reply within ${timeoutMs} ms`,
        );
      }
      throw e;
    } finally {
      from.aliases.delete(mref.key);
      this.aliasOwners.delete(mref.key);
    }
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
    if (
      tag instanceof ImproperList && tag.items[0] === A.alias &&
      tag.tail instanceof Ref
    ) {
      this.sendFrom(sender, tag.tail, tuple(tag, value));
    } else {
      this.sendFrom(sender, pid, tuple(tag, value));
    }
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
    return this.callFrom(
      this.current(),
      String(node),
      String(mod),
      String(fun),
      args,
      timeoutMs,
    );
  }

  /** @internal */
  async callFrom(
    from: Process,
    node: string,
    mod: string,
    fun: string,
    args: unknown[],
    timeoutMs?: number,
  ): Promise<unknown> {
    const res = this.makeRef();
    const where = `call ${mod}.${fun}/${args.length} on ${node}`;
    let reqId: Ref;
    try {
      reqId = await this.spawnRequestRef(
        from,
        node,
        "erpc",
        "execute_call",
        [
          res,
          Atom.of(mod),
          Atom.of(fun),
          args,
        ],
        { monitor: true },
        timeoutMs,
      );
    } catch (e) {
      if (e instanceof ExitError && !(e instanceof NoConnectionError)) {
        throw new RemoteError("error", e.reason, undefined, where);
      }
      throw e;
    }
    let down: Tuple;
    try {
      down = await from.receive(
        (m) =>
          isTuple(m, A.DOWN, 5) && m[1] instanceof Ref && m[1].equals(reqId),
        timeoutMs,
      ) as Tuple;
    } catch (e) {
      if (e instanceof TimeoutError) {
        this.demonitorFrom(from, reqId, true);
        throw new TimeoutError(`${where} timed out after ${timeoutMs} ms`);
      }
      throw e;
    }
    const reason = down[4];
    if (
      reason instanceof Tuple && reason[0] instanceof Ref &&
      reason[0].equals(res)
    ) {
      const kind = reason[1];
      if (kind === A.return) return reason[2];
      if (kind === A.throw) {
        throw new RemoteError("throw", reason[2], undefined, where);
      }
      if (kind === A.exit) {
        throw new RemoteError("exit", reason[2], undefined, where);
      }
      if (kind === A.error) {
        throw new RemoteError(
          "error",
          reason[2],
          reason.length > 3 ? reason[3] : undefined,
          where,
        );
      }
    }
    if (reason === A.noconnection) throw new NoConnectionError(node, where);
    throw new ExitError(reason, where);
  }

  /** Runs `mod.fun(...args)` on `node` without waiting for anything. */
  cast(
    node: string | Atom,
    mod: string | Atom,
    fun: string | Atom,
    args: unknown[],
  ): void {
    this.spawnRequestRef(this.current(), String(node), "erpc", "execute_cast", [
      Atom.of(String(mod)),
      Atom.of(String(fun)),
      args,
    ], {}).catch(() => {});
  }

  private async spawnRequest(
    caller: Process,
    node: string,
    mod: string,
    fun: string,
    args: unknown[],
    options: SpawnOptions,
  ): Promise<Pid> {
    let pid: Pid | undefined;
    await this.spawnRequestRef(
      caller,
      node,
      mod,
      fun,
      args,
      options,
      undefined,
      (p) => (pid = p),
    );
    return pid!;
  }

  /**
   * Spawns `mod.fun(...args)` on `node` for `caller` with one SPAWN_REQUEST
   * (no waiting before the next message, as erpc does) and returns the
   * request id at once — it is the monitor reference when `options.monitor`
   * is set, so a DOWN can be matched before the reply comes; pass `reqId`
   * to choose it. `done` is called once, with the new pid or with the error
   * (a {@linkcode NoConnectionError} if the node cannot be reached). No
   * promise is made when the connection is up: this is the hot path of
   * remote tasks. @internal
   */
  spawnRequestFrom(
    caller: Process,
    node: string,
    mod: string,
    fun: string,
    args: unknown[],
    options: SpawnOptions,
    done: (error: unknown, pid?: Pid) => void,
    reqId: Ref = this.makeRef(),
  ): Ref {
    const c = node === this.name ? undefined : this.connections.get(node);
    if (c === undefined || !c.open) {
      let pid: Pid | undefined;
      this.spawnRequestRef(
        caller,
        node,
        mod,
        fun,
        args,
        options,
        undefined,
        (p) => (pid = p),
        reqId,
      ).then(() => done(undefined, pid), (e) => done(e));
      return reqId;
    }
    const opts: unknown[] = [];
    if (options.link) opts.push(A.link);
    if (options.monitor) opts.push(A.monitor);
    this.spawnRequests.set(reqId.key, {
      caller,
      node,
      resolve: (pid) => done(undefined, pid),
      reject: (e) => done(e),
    });
    try {
      c.send([
        OP.SPAWN_REQUEST,
        reqId,
        caller.pid,
        caller.groupLeader,
        tuple(Atom.of(mod), Atom.of(fun), args.length),
        opts,
      ], args);
    } catch (e) {
      this.spawnRequests.delete(reqId.key);
      done(e);
    }
    return reqId;
  }

  /**
   * Sends a SPAWN_REQUEST; resolves with the request id (which is also the
   * monitor reference) once the reply has come. `onPid` gets the pid.
   */
  private spawnRequestRef(
    caller: Process,
    node: string,
    mod: string,
    fun: string,
    args: unknown[],
    options: SpawnOptions,
    timeoutMs?: number,
    onPid?: (p: Pid) => void,
    reqId: Ref = this.makeRef(),
  ): Promise<Ref> {
    if (node === this.name) {
      const p = this.spawnModuleFunction(
        caller.pid,
        caller.groupLeader,
        mod,
        fun,
        args,
        {
          link: options.link,
          monitorRef: options.monitor ? reqId : undefined,
        },
      );
      if (options.link) caller.links.set(p.pid.key, p.pid);
      if (options.monitor) {
        caller.monitoring.set(reqId.key, { ref: reqId, target: p.pid });
      }
      onPid?.(p.pid);
      return Promise.resolve(reqId);
    }
    if (!Array.isArray(args)) {
      return Promise.reject(new TypeError("args must be an array"));
    }
    const opts: unknown[] = [];
    if (options.link) opts.push(A.link);
    if (options.monitor) opts.push(A.monitor);
    return new Promise<Ref>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = () => timer !== undefined && clearTimeout(timer);
      this.spawnRequests.set(reqId.key, {
        caller,
        node,
        resolve: (pid) => {
          done();
          onPid?.(pid);
          resolve(reqId);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      });
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          if (this.spawnRequests.delete(reqId.key)) {
            reject(
              new TimeoutError(
                `spawn of ${mod}.${fun} on ${node} got no reply within ${timeoutMs} ms`,
              ),
            );
          }
        }, timeoutMs);
      }
      this.toNode(
        node,
        () => [
          OP.SPAWN_REQUEST,
          reqId,
          caller.pid,
          caller.groupLeader,
          tuple(Atom.of(mod), Atom.of(fun), args.length),
          opts,
        ],
        args,
      );
      this.connectTo(node).catch((e) => {
        const pending = this.spawnRequests.get(reqId.key);
        if (pending) {
          this.spawnRequests.delete(reqId.key);
          pending.reject(
            e instanceof NoConnectionError
              ? e
              : new NoConnectionError(node, (e as Error).message),
          );
        }
      });
    });
  }

  /** Spawns a local process that runs `mod.fun(...args)`. */
  private spawnModuleFunction(
    requester: Pid,
    groupLeader: Pid,
    mod: string,
    fun: string,
    args: unknown[],
    options: { link?: boolean; monitorRef?: Ref },
  ): Process {
    const p = this.addProcess(new Process(this.newPid(), groupLeader));
    p.label = `${mod}.${fun}/${args.length}`;
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

  // ---------------------------------------------------------------- I/O

  /** Writes `text` plus a newline through the calling process's group leader. */
  puts(text: string): void {
    this.putChars(this.current(), `${text}\n`);
  }

  /** @internal */
  putChars(p: Process, text: string): void {
    const gl = p.groupLeader;
    if (gl.equals(this.ioServer.pid)) {
      this.writeOut(text);
      return;
    }
    const ref = this.makeRef();
    (p.ioRefs ??= new Set()).add(ref.key);
    this.sendFrom(
      p,
      gl,
      tuple(A.io_request, p.pid, ref, tuple(A.put_chars, A.unicode, text)),
    );
  }

  /** Serves the BEAM io protocol for this node's group leader. */
  private ioRequest(m: unknown): void {
    if (!(m instanceof Tuple) || m[0] !== A.io_request || m.length !== 4) {
      return;
    }
    const [, from, replyAs, request] = m;
    let reply: unknown;
    try {
      reply = this.ioServe(request);
    } catch {
      reply = tuple(A.error, A.request);
    }
    if (from instanceof Pid) {
      this.sendFrom(this.ioServer, from, tuple(A.io_reply, replyAs, reply));
    }
  }

  private ioServe(req: unknown): unknown {
    if (!(req instanceof Tuple)) return tuple(A.error, A.request);
    if (req[0] === A.put_chars) {
      if (req.length === 3) {
        const enc = req[1] === A.latin1 ? "latin1" : "unicode";
        this.writeOut(chardataToString(req[2], enc));
        return A.ok;
      }
      if (req.length === 2) {
        this.writeOut(chardataToString(req[1], "latin1"));
        return A.ok;
      }
      if (req.length === 5 && req[2] === A.io_lib && req[3] === A.format) {
        const fa = req[4];
        if (!Array.isArray(fa) || fa.length !== 2) {
          return tuple(A.error, A.request);
        }
        this.writeOut(ioLibFormat(fa[0], fa[1], this.name));
        return A.ok;
      }
    }
    if (req[0] === A.requests && Array.isArray(req[1])) {
      let last: unknown = A.ok;
      for (const r of req[1]) {
        last = this.ioServe(r);
        if (isTuple(last, A.error)) return last;
      }
      return last;
    }
    return tuple(A.error, A.request);
  }

  // ---------------------------------------------------------------- system processes

  private netKernel(m: unknown): void {
    if (isTuple(m, A.gen_call, 3) && isTuple(m[2], A.is_auth)) {
      this.replyFrom(this.shell, m[1], A.yes);
    }
  }

  private rex(m: unknown): void {
    if (
      m instanceof Tuple && m.length === 2 && m[0] instanceof Pid &&
      m[1] === A.features_request
    ) {
      this.sendFrom(
        this.shell,
        m[0],
        tuple(A.features_reply, Atom.of(this.name), [A.erpc]),
      );
      return;
    }
    // The classic rex protocol: {'$gen_call', From, {call, M, F, A, GL}}.
    if (isTuple(m, A.gen_call, 3) && isTuple(m[2], A.call)) {
      const [, mod, fun, args, gl] = m[2] as Tuple;
      const from = m[1];
      const caller = this.shell;
      const worker = this.addProcess(
        new Process(this.newPid(), gl instanceof Pid ? gl : this.ioServer.pid),
      );
      this.run(worker, async () => {
        let result: unknown;
        try {
          const v = await this.apply(
            String(mod),
            String(fun),
            Array.isArray(args) ? args : [],
          );
          result = v === undefined ? A.ok : v;
        } catch (e) {
          result = tuple(A.badrpc, tuple(A.EXIT, errorReason(e)));
        }
        this.replyFrom(caller, from, result);
      });
      return;
    }
    if (isTuple(m, A.gen_cast, 2) && isTuple(m[1], A.cast)) {
      const [, mod, fun, args, gl] = m[1] as Tuple;
      const worker = this.addProcess(
        new Process(this.newPid(), gl instanceof Pid ? gl : this.ioServer.pid),
      );
      this.run(
        worker,
        () =>
          this.apply(String(mod), String(fun), Array.isArray(args) ? args : []),
      );
    }
  }

  // ---------------------------------------------------------------- node monitoring

  /**
   * Names of the nodes this node is connected to (visible ones, as
   * `Node.list()`; pass `"all"` to include hidden nodes).
   */
  nodes(which: "visible" | "all" = "visible"): string[] {
    const out: string[] = [];
    for (const c of this.connections.values()) {
      if (c.open && (which === "all" || hasFlag(c.flags, DFLAG.PUBLISHED))) {
        out.push(c.peer);
      }
    }
    return out;
  }

  /**
   * Makes the calling process get `{nodedown, Node}` when the connection to
   * `node` goes down (`monitor_node(Node, true)`); with `flag` false, stops.
   * Connects first; if that fails the message comes at once.
   */
  monitorNode(node: string, flag = true): void {
    const p = this.current();
    if (!flag) {
      this.nodeMonitors.get(node)?.delete(p);
      return;
    }
    let set = this.nodeMonitors.get(node);
    if (!set) this.nodeMonitors.set(node, set = new Set());
    set.add(p);
    this.connectTo(node).catch(() => {
      if (this.nodeMonitors.get(node)?.delete(p)) {
        this.deliverProcess(p, tuple(A.nodedown, Atom.of(node)));
      }
    });
  }

  // ---------------------------------------------------------------- connections

  /** Connects to `node` (`Node.connect`): true when connected. */
  async connect(node: string): Promise<boolean> {
    try {
      await this.connectTo(String(node));
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
  connectTo(node: string): Promise<Connection> {
    if (this.stopped) {
      return Promise.reject(
        new NoConnectionError(node, `${this.name} is stopped`),
      );
    }
    if (node === this.name) {
      return Promise.reject(new Error("a node does not connect to itself"));
    }
    const c = this.connections.get(node);
    if (c?.open) return Promise.resolve(c);
    let p = this.connecting.get(node);
    if (p) return p;
    p = this.dial(node).finally(() => this.connecting.delete(node));
    this.connecting.set(node, p);
    p.catch((e) => {
      if (this.connections.get(node)?.open) return;
      this.queued.delete(node);
      this.failPending(node, e);
    });
    return p;
  }

  private async dial(node: string): Promise<Connection> {
    const at = node.indexOf("@");
    if (at < 1 || at === node.length - 1 || node.indexOf("@", at + 1) >= 0) {
      throw new NoConnectionError(
        node,
        `${JSON.stringify(node)} is not a node name like "kate@localhost"`,
      );
    }
    const alive = node.slice(0, at), host = node.slice(at + 1);
    const thisIsShort = !this.name.slice(this.name.indexOf("@") + 1).includes(
      ".",
    );
    if (thisIsShort !== !host.includes(".") && host !== "localhost") {
      // Erlang refuses mixing short and long names; say so clearly.
      this.log(
        `note: connecting from ${this.name} to ${node} mixes short and long host names`,
      );
    }
    const deadline = Date.now() + this.connectTimeoutMs;
    let address: string;
    try {
      address = await resolveHost(host);
    } catch (e) {
      throw new NoConnectionError(node, (e as Error).message);
    }
    const registryHost = host === "localhost" || address === "127.0.0.1"
      ? this.registryHost
      : address;
    let info;
    try {
      info = await lookupNode(alive, {
        host: registryHost,
        port: this.registryPort,
        timeoutMs: this.connectTimeoutMs,
      });
    } catch (e) {
      throw new NoConnectionError(node, (e as Error).message);
    }
    if (!info) {
      throw new NoConnectionError(
        node,
        `no node named ${alive} is registered with the registry at ${registryHost}:${this.registryPort}`,
      );
    }
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = createConnection({ host: address, port: info.port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(
          new NoConnectionError(
            node,
            `connect to ${address}:${info.port} timed out`,
          ),
        );
      }, Math.max(1, deadline - Date.now()));
      s.once("connect", () => {
        clearTimeout(timer);
        s.off("error", onErr);
        resolve(s);
      });
      const onErr = (e: Error) => {
        clearTimeout(timer);
        reject(
          new NoConnectionError(
            node,
            `connect to ${address}:${info.port}: ${e.message}`,
          ),
        );
      };
      s.once("error", onErr);
    });
    socket.setNoDelay(true);
    this.handshaking.add(socket);
    let peer: HandshakePeer;
    try {
      peer = await initiateHandshake(
        socket,
        this.handshakeLocal(),
        node,
        Math.max(1, deadline - Date.now()),
      );
    } catch (e) {
      socket.destroy();
      if (
        e instanceof HandshakeError &&
        /^handshake with .* failed: nok/.test(e.message)
      ) {
        // A simultaneous connect that the peer's attempt wins: wait for it.
        return await this.awaitIncoming(
          node,
          Math.max(1, deadline - Date.now()),
          e,
        );
      }
      throw e;
    } finally {
      this.handshaking.delete(socket);
    }
    if (this.stopped) {
      socket.destroy();
      throw new NoConnectionError(node, `${this.name} stopped`);
    }
    return this.adopt(socket, peer);
  }

  private awaitIncoming(
    node: string,
    ms: number,
    cause: Error,
  ): Promise<Connection> {
    const c = this.connections.get(node);
    if (c?.open) return Promise.resolve(c);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        remove();
        reject(cause);
      }, ms);
      const fn = (conn: Connection | undefined) => {
        clearTimeout(timer);
        if (conn) resolve(conn);
        else reject(cause);
      };
      const remove = () => {
        const list = this.connectWaiters.get(node);
        if (list) list.splice(list.indexOf(fn), 1);
      };
      let list = this.connectWaiters.get(node);
      if (!list) this.connectWaiters.set(node, list = []);
      list.push(fn);
    });
  }

  private accept(socket: Socket): void {
    if (this.stopped) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    socket.on("error", () => {});
    this.handshaking.add(socket);
    acceptHandshake(
      socket,
      this.handshakeLocal(),
      this.connectTimeoutMs,
      (peer) => this.decide(peer),
      (peer, goOn) => {
        if (goOn) this.connections.get(peer)?.destroy("the peer reconnected");
      },
    ).then(
      (peer) => {
        this.handshaking.delete(socket);
        if (this.stopped) {
          socket.destroy();
          return;
        }
        this.adopt(socket, peer);
      },
      (e: Error) => {
        this.handshaking.delete(socket);
        socket.destroy();
        if (!this.stopped) this.log(e.message);
      },
    );
  }

  private decide(peer: string): AcceptDecision {
    if (this.stopped) return "not_allowed";
    if (this.connections.get(peer)?.open) return "alive";
    if (this.connecting.has(peer)) {
      // Both sides are connecting: the greater name's attempt wins.
      return this.name > peer ? "nok" : "ok_simultaneous";
    }
    return "ok";
  }

  private adopt(socket: Socket, peer: HandshakePeer): Connection {
    const existing = this.connections.get(peer.name);
    if (existing?.open) {
      socket.destroy();
      return existing;
    }
    const c = new Connection(socket, peer.name, peer.flags, peer.creation, {
      packet: (conn, control, message) => this.packet(conn, control, message),
      closed: (conn, reason) => this.connectionClosed(conn, reason),
    }, { maxPacketSize: this.options.maxPacketSize ?? 128 * 1024 * 1024 });
    this.connections.set(peer.name, c);
    this.flushQueued(c);
    const waiters = this.connectWaiters.get(peer.name);
    if (waiters) {
      this.connectWaiters.delete(peer.name);
      for (const w of waiters) w(c);
    }
    c.start(peer.rest);
    this.emit("nodeup", peer.name);
    return c;
  }

  /** Closes the connection to `node` (`Node.disconnect`). */
  disconnect(node: string): Promise<boolean> {
    const c = this.connections.get(node);
    if (!c?.open) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.once("nodedown", function wait(this: Node, n: string) {
        if (n === node) resolve(true);
        else this.once("nodedown", wait);
      });
      c.close("disconnected");
    });
  }

  private tickAll(): void {
    for (const c of this.connections.values()) {
      if (!c.tick()) {
        this.log(
          `${c.peer} did not answer ticks for ${
            this.options.tickTime ?? 60
          } s; disconnecting`,
        );
        c.destroy("net_tick_timeout");
      }
    }
  }

  private failPending(node: string, e: unknown): void {
    const err = e instanceof NoConnectionError
      ? e
      : new NoConnectionError(node, (e as Error)?.message);
    for (const [k, req] of this.spawnRequests) {
      if (req.node === node) {
        this.spawnRequests.delete(k);
        req.reject(err);
      }
    }
  }

  private connectionClosed(c: Connection, reason: string): void {
    if (this.connections.get(c.peer) === c) this.connections.delete(c.peer);
    const node = c.peer;
    this.failPending(node, new NoConnectionError(node, reason));
    for (const p of [...this.processes.values()]) {
      if (!p.alive) continue;
      for (const m of [...p.monitoredBy.values()]) {
        if (m.watcher.node === node) p.monitoredBy.delete(m.ref.key);
      }
      for (const m of [...p.monitoring.values()]) {
        if (m.target.node === node) {
          p.monitoring.delete(m.ref.key);
          const object = m.byName
            ? tuple(Atom.of(m.byName[0]), Atom.of(m.byName[1]))
            : m.target;
          this.deliverProcess(
            p,
            tuple(A.DOWN, m.ref, A.process, object, A.noconnection),
          );
        }
      }
      for (const pid of [...p.links.values()]) {
        if (pid.node === node) this.exitSignal(p, pid, A.noconnection, true);
      }
    }
    const watchers = this.nodeMonitors.get(node);
    if (watchers) {
      this.nodeMonitors.delete(node);
      for (const p of watchers) {
        this.deliverProcess(p, tuple(A.nodedown, Atom.of(node)));
      }
    }
    if (!this.stopped) this.emit("nodedown", node, reason);
  }

  // ---------------------------------------------------------------- incoming packets

  private packet(c: Connection, ctl: Tuple, msg: unknown): void {
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
        else this.sendExit(c, to, from, A.noproc);
        return;
      }
      case OP.UNLINK: { // {4, From, To}
        const [, from, to] = ctl;
        if (from instanceof Pid && to instanceof Pid) {
          this.local(to)?.links.delete(from.key);
        }
        return;
      }
      case OP.UNLINK_ID: { // {35, Id, From, To}
        const [, id, from, to] = ctl;
        if (from instanceof Pid && to instanceof Pid) {
          this.local(to)?.links.delete(from.key);
          c.send([OP.UNLINK_ID_ACK, id, to, from], NO_MESSAGE);
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
          op === OP.PAYLOAD_EXIT ||
          op === OP.PAYLOAD_EXIT_TT;
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
        } else if (hasFlag(c.flags, DFLAG.EXIT_PAYLOAD)) {
          c.send([OP.PAYLOAD_MONITOR_P_EXIT, to, from, ref], A.noproc);
        } else {
          c.send([OP.MONITOR_P_EXIT, to, from, ref, A.noproc], NO_MESSAGE);
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
        p?.monitoredBy.delete(ref.key);
        return;
      }
      case OP.MONITOR_P_EXIT: // {21, FromProc, ToPid, Ref, Reason}
      case OP.PAYLOAD_MONITOR_P_EXIT: { // {28, FromProc, ToPid, Ref} + Reason
        const [, fromProc, to, ref] = ctl;
        if (!(to instanceof Pid) || !(ref instanceof Ref)) return;
        const reason = ctl[0] === OP.MONITOR_P_EXIT ? ctl[4] : msg;
        const p = this.local(to);
        if (!p) return;
        const m = p.monitoring.get(ref.key);
        if (!m) return;
        p.monitoring.delete(ref.key);
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
        this.spawnRequestIn(c, ctl, msg);
        return;
      case OP.SPAWN_REPLY: // {31, ReqId, To, Flags, Result}
      case OP.SPAWN_REPLY_TT: {
        const [, reqId, , flags, result] = ctl;
        if (!(reqId instanceof Ref)) return;
        const req = this.spawnRequests.get(reqId.key);
        if (!req) {
          // Abandoned (timed out): do not leave a process running for nobody.
          if (
            result instanceof Pid && typeof flags === "number" &&
            flags & SPAWN_REPLY_FLAG.LINK
          ) {
            c.send(
              hasFlag(c.flags, DFLAG.EXIT_PAYLOAD)
                ? [OP.PAYLOAD_EXIT2, this.shell.pid, result]
                : [OP.EXIT2, this.shell.pid, result, A.kill],
              hasFlag(c.flags, DFLAG.EXIT_PAYLOAD) ? A.kill : NO_MESSAGE,
            );
          }
          return;
        }
        this.spawnRequests.delete(reqId.key);
        if (result instanceof Pid) {
          const f = typeof flags === "number" ? flags : 0;
          if (f & SPAWN_REPLY_FLAG.LINK) {
            req.caller.links.set(result.key, result);
          }
          if (f & SPAWN_REPLY_FLAG.MONITOR) {
            req.caller.monitoring.set(reqId.key, {
              ref: reqId,
              target: result,
            });
          }
          req.resolve(result);
        } else {
          req.reject(new ExitError(result, `spawn on ${c.peer} failed`));
        }
        return;
      }
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

  private sendExit(c: Connection, from: Pid, to: Pid, reason: unknown): void {
    if (hasFlag(c.flags, DFLAG.EXIT_PAYLOAD)) {
      c.send([OP.PAYLOAD_EXIT, from, to], reason);
    } else c.send([OP.EXIT, from, to, reason], NO_MESSAGE);
  }

  private spawnRequestIn(c: Connection, ctl: Tuple, args: unknown): void {
    const [, reqId, from, gl, mfa, opts] = ctl;
    if (
      !(reqId instanceof Ref) || !(from instanceof Pid) ||
      !(mfa instanceof Tuple)
    ) return;
    const argList = Array.isArray(args) ? args : [];
    let link = false, monitor = false;
    if (Array.isArray(opts)) {
      for (const o of opts) {
        if (o === A.link) link = true;
        else if (o === A.monitor || isTuple(o, A.monitor)) monitor = true;
      }
    }
    const p = this.spawnModuleFunction(
      from,
      gl instanceof Pid ? gl : this.ioServer.pid,
      String(mfa[0]),
      String(mfa[1]),
      argList,
      { link, monitorRef: monitor ? reqId : undefined },
    );
    const flags = (link ? SPAWN_REPLY_FLAG.LINK : 0) |
      (monitor ? SPAWN_REPLY_FLAG.MONITOR : 0);
    c.send([OP.SPAWN_REPLY, reqId, from, flags, p.pid], NO_MESSAGE);
  }

  // ---------------------------------------------------------------- stop

  /**
   * Stops the node: ends its processes (reason `shutdown`), closes every
   * connection (peers see it go down), unregisters and stops listening.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.tickTimer);
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    const i = runningNodes.indexOf(this);
    if (i >= 0) runningNodes.splice(i, 1);
    // Connections first: to peers this node is simply gone (noconnection).
    const closing = [...this.connections.values()].map((c) => {
      c.close("stopped");
      return c.closed;
    });
    for (const p of [...this.processes.values()]) this.terminate(p, A.shutdown);
    for (const [node, list] of this.connectWaiters) {
      for (const w of list) w(undefined);
      this.connectWaiters.delete(node);
    }
    this.failPending("", new Error("stopped"));
    for (const [, req] of this.spawnRequests) {
      req.reject(new NoConnectionError(req.node, `${this.name} stopped`));
    }
    this.spawnRequests.clear();
    for (const s of this.handshaking) s.destroy();
    await Promise.race([
      Promise.all(closing),
      new Promise((r) => setTimeout(r, 1500)),
    ]);
    for (const c of this.connections.values()) c.destroy("stopped");
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.registration.close();
  }
}

/**
 * Starts a node: listens on `address:port`, registers its name with the
 * registry, and returns the {@linkcode Node}. The first node started in
 * an OS process is the default node of the free functions (`send`,
 * `receive`, `self`, …) called outside any process.
 *
 * @throws {TypeError} for a bad name or cookie.
 * @throws {Error} when the registry cannot be reached or the name is taken
 * (the message says how to fix it).
 */
export async function startNode(options: NodeOptions): Promise<Node> {
  const name = nodeNameFrom(options);
  const cookie = resolveCookie(options.cookie);
  const registryPort = options.registryPort ?? defaultRegistryPort();
  const registryHost = options.registryHost ?? "127.0.0.1";
  const server = createServer();
  const port = await listen(
    server,
    options.port ?? 0,
    options.address ?? "127.0.0.1",
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
  });
}
