/**
 * Connections between nodes, as OTP's `net_kernel`: dialling a peer
 * (registry lookup, TCP connect, handshake), accepting peers, resolving
 * simultaneous connects, queueing what is sent while a connection is being
 * made, ticks, and node-down — the one place where everything that
 * depended on a lost connection is broken ({@linkcode NetKernel.nodeDown}).
 * Also the `net_kernel` process that answers `net_adm:ping`. Internal.
 *
 * @module
 */
import { createConnection, type Server, type Socket } from "node:net";
import { A, isTuple } from "./_atoms.ts";
import { DFLAG } from "./_dist.ts";
import { resolveHost } from "./_names.ts";
import { isOwnAddress, lookupFailure } from "./_hosts.ts";
import type { TlsTransport } from "./_tls.ts";
import { Connection, type ConnectionLimits } from "./connection.ts";
import { HandshakeError, NoConnectionError } from "./errors.ts";
import {
  type AcceptDecision,
  acceptHandshake,
  type HandshakeLocal,
  type HandshakePeer,
  hasFlag,
  initiateHandshake,
} from "./handshake.ts";
import type { Node } from "./node.ts";
import type { Process } from "./process.ts";
import { lookupNode } from "./registry_client.ts";
import { Atom, tuple } from "./terms.ts";
import {
  publishConnect,
  publishDisconnect,
  publishHandshakeFailure,
} from "./diagnostics.ts";

/** What the net kernel needs to know of its node. */
export interface NetKernelConfig {
  /** Our side of every handshake. */
  local: HandshakeLocal;
  /** The registry peers are looked up in (for peers on this host). */
  registryHost: string;
  registryPort: number;
  /** Time allowed for lookup, connect and handshake, in ms. */
  connectTimeoutMs: number;
  /** Net tick time in seconds. */
  tickTime: number;
  /** The limits of each connection. */
  limits: ConnectionLimits;
  /** TLS distribution (dial and accept over TLS), when configured. */
  tls?: TlsTransport;
}

/** A dial in progress. */
interface Dial {
  /** Its socket, once connected. */
  socket: Socket | undefined;
  /** The peer's simultaneous attempt won: this dial gives way to it. */
  superseded: boolean;
}

/**
 * Connections of one node.
 *
 * @internal
 */
export class NetKernel {
  private readonly node: Node;
  private readonly config: NetKernelConfig;
  /** Open connections by peer name. */
  private readonly connections = new Map<string, Connection>();
  /** Connections being dialled, by peer name. */
  private readonly connecting = new Map<string, Promise<Connection>>();
  /** The state of each dial in progress, by peer name. */
  private readonly dials = new Map<string, Dial>();
  /** Peers whose incoming handshake is in progress. */
  private readonly accepting = new Set<string>();
  /** Dials that lost a simultaneous connect and wait for the peer's. */
  private readonly connectWaiters = new Map<
    string,
    Array<(c: Connection | undefined) => void>
  >();
  /** What was sent to a peer while its connection was being made. */
  private readonly queued = new Map<string, Array<(c: Connection) => void>>();
  /** Sockets in a handshake (dialled or accepted). */
  private readonly handshaking = new Set<Socket>();
  /** Processes that called `monitorNode`, by node. */
  private readonly nodeMonitors = new Map<string, Set<Process>>();
  private readonly tickTimer: ReturnType<typeof setInterval>;
  private stopped = false;

  constructor(node: Node, server: Server, config: NetKernelConfig) {
    this.node = node;
    this.config = config;
    server.on(
      "connection",
      (s) => config.tls ? this.acceptTls(s, config.tls) : this.accept(s),
    );
    const tickMs = Math.max(50, (config.tickTime * 1000) / 4);
    this.tickTimer = setInterval(() => this.tickAll(), tickMs);
    this.tickTimer.unref?.();
  }

  /** The open connection to `node`, if there is one. */
  connection(node: string): Connection | undefined {
    const c = this.connections.get(node);
    return c !== undefined && c.open ? c : undefined;
  }

  /**
   * Runs `op` on the connection to `node` — at once if it is open, else once
   * it is made (connecting first); ops queue in order meanwhile and are
   * dropped if the connection cannot be made, as Erlang drops messages to
   * unreachable nodes.
   */
  toNode(node: string, op: (c: Connection) => void): void {
    if (this.stopped) return;
    const c = this.connections.get(node);
    if (c !== undefined && c.open) {
      op(c);
      return;
    }
    let q = this.queued.get(node);
    if (q === undefined) {
      q = [];
      this.queued.set(node, q);
      this.connectTo(node).catch(() => {});
    }
    q.push(op);
  }

  private flushQueued(c: Connection): void {
    const q = this.queued.get(c.peer);
    if (q === undefined) return;
    this.queued.delete(c.peer);
    for (const op of q) {
      try {
        op(c);
      } catch (e) {
        this.node.log(
          `dropped a message to ${c.peer}: ${(e as Error).message}`,
        );
      }
    }
  }

  /**
   * Names of the connected nodes (visible ones, as `Node.list()`; `"all"`
   * includes hidden nodes).
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
   * `monitor_node(Node, Flag)` for process `p`: `{nodedown, Node}` when the
   * connection goes down (at once if it cannot be made).
   */
  monitorNode(p: Process, node: string, flag: boolean): void {
    if (!flag) {
      this.nodeMonitors.get(node)?.delete(p);
      return;
    }
    let set = this.nodeMonitors.get(node);
    if (!set) this.nodeMonitors.set(node, set = new Set());
    set.add(p);
    this.connectTo(node).catch(() => {
      if (this.nodeMonitors.get(node)?.delete(p)) {
        this.node.deliverProcess(p, tuple(A.nodedown, Atom.of(node)));
      }
    });
  }

  /** Forgets the node monitors of an ended process. */
  forget(p: Process): void {
    for (const set of this.nodeMonitors.values()) set.delete(p);
  }

  // ------------------------------------------------------------ dialling

  /**
   * Connects to `node`, or rejects with the reason — a
   * {@linkcode NoConnectionError} or a {@linkcode HandshakeError}.
   */
  connectTo(node: string): Promise<Connection> {
    if (this.stopped) {
      return Promise.reject(
        new NoConnectionError(node, `${this.node.name} is stopped`),
      );
    }
    if (node === this.node.name) {
      return Promise.reject(new Error("a node does not connect to itself"));
    }
    const c = this.connections.get(node);
    if (c?.open) return Promise.resolve(c);
    let p = this.connecting.get(node);
    if (p) return p;
    const d: Dial = { socket: undefined, superseded: false };
    this.dials.set(node, d);
    p = this.dial(node, d).finally(() => {
      this.connecting.delete(node);
      if (this.dials.get(node) === d) this.dials.delete(node);
    });
    this.connecting.set(node, p);
    p.catch((e) => {
      if (this.connections.get(node)?.open) return;
      this.queued.delete(node);
      this.node.connectFailed(node, toNoConnection(node, e));
    });
    return p;
  }

  private async dial(node: string, d: Dial): Promise<Connection> {
    const at = node.indexOf("@");
    if (at < 1 || at === node.length - 1 || node.indexOf("@", at + 1) >= 0) {
      throw new NoConnectionError(
        node,
        `${JSON.stringify(node)} is not a node name like "kate@localhost"`,
      );
    }
    const alive = node.slice(0, at), host = node.slice(at + 1);
    const own = this.node.name;
    const thisIsShort = !own.slice(own.indexOf("@") + 1).includes(".");
    if (thisIsShort !== !host.includes(".") && host !== "localhost") {
      // Erlang refuses mixing short and long names; say so clearly.
      this.node.log(
        `note: connecting from ${own} to ${node} mixes short and long host names`,
      );
    }
    const timeoutMs = this.config.connectTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    let address: string;
    try {
      address = await resolveHost(host);
    } catch (e) {
      throw new NoConnectionError(node, (e as Error).message);
    }
    // A node on this machine is in our registry; elsewhere, in its host's.
    const local = host === "localhost" || isOwnAddress(address);
    const registryHost = local ? this.config.registryHost : address;
    const registryPort = this.config.registryPort;
    let info;
    try {
      info = await lookupNode(alive, {
        host: registryHost,
        port: registryPort,
        timeoutMs,
      });
    } catch (e) {
      throw new NoConnectionError(
        node,
        lookupFailure(node, registryHost, registryPort, local, e),
      );
    }
    this.node.logger.trace(
      "registry",
      () =>
        `lookup of ${alive} at ${registryHost}:${registryPort}: ${
          info ? `port ${info.port}` : "not registered"
        }`,
    );
    if (!info) {
      throw new NoConnectionError(
        node,
        `no node named ${alive} is registered with the registry at ${registryHost}:${registryPort}`,
      );
    }
    const socket = this.config.tls
      ? await this.config.tls.connect(node, address, info.port, deadline)
      : await connectSocket(node, address, info.port, deadline);
    this.node.logger.trace(
      "handshake",
      () => `to ${node} at ${address}:${info.port}: started`,
    );
    d.socket = socket;
    this.handshaking.add(socket);
    let peer: HandshakePeer;
    try {
      if (d.superseded) throw new Error("superseded");
      peer = await initiateHandshake(
        socket,
        this.config.local,
        node,
        Math.max(1, deadline - Date.now()),
        () => !d.superseded && this.connection(node) === undefined,
      );
    } catch (e) {
      socket.destroy();
      if (
        d.superseded ||
        (e instanceof HandshakeError && /failed: (nok|alive)/.test(e.message))
      ) {
        // A simultaneous connect: the peer's attempt wins (or already
        // won). Its connection is the one to use: wait for it.
        return await this.awaitIncoming(
          node,
          Math.max(1, deadline - Date.now()),
          e as Error,
        );
      }
      this.handshakeFailed(node, "out", e);
      throw this.config.tls ? this.config.tls.explain(e) : e;
    } finally {
      this.handshaking.delete(socket);
    }
    if (this.stopped) {
      socket.destroy();
      throw new NoConnectionError(node, `${own} stopped`);
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

  // ------------------------------------------------------------ accepting

  private accept(socket: Socket): void {
    if (this.stopped) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    socket.on("error", () => {});
    this.handshaking.add(socket);
    this.node.logger.trace(
      "handshake",
      () => `from ${socket.remoteAddress}:${socket.remotePort}: started`,
    );
    let claimed: string | undefined;
    acceptHandshake(
      socket,
      this.config.local,
      this.handshakeTimeLeft(socket),
      (peer) => {
        const status = this.decide(peer, socket);
        if (status !== "nok" && status !== "not_allowed") {
          claimed = peer;
          this.accepting.add(peer);
        }
        return status;
      },
      (peer) => this.replace(peer),
    ).then(
      (peer) => {
        this.handshaking.delete(socket);
        if (claimed !== undefined) this.accepting.delete(claimed);
        if (this.stopped) {
          socket.destroy();
          return;
        }
        this.adopt(socket, peer);
      },
      (e: Error) => {
        this.handshaking.delete(socket);
        if (claimed !== undefined) this.accepting.delete(claimed);
        socket.destroy();
        const why = this.config.tls ? this.config.tls.explain(e) : e;
        // Our own refusal of the losing side of a simultaneous connect is
        // no failure; anything else is traced, published and logged (at a
        // bounded rate).
        const text = (why as Error).message;
        if (!this.stopped && !/refused \(nok\)$/.test(text)) {
          this.handshakeFailed(
            e instanceof HandshakeError ? e.peer : "?",
            "in",
            why,
          );
          // A peer that only closed (a node stopping mid-handshake, a TCP
          // health check) is traced, not logged: the BEAM says nothing.
          if (!(e instanceof HandshakeError && e.peerClosed)) {
            this.node.peerLog.line("failed handshakes", text);
          }
        }
      },
    );
  }

  /**
   * A peer that said it reconnects (we answered `alive`, it answered
   * `true`) has proved it knows the cookie: the old connection goes, and
   * what depended on it breaks, before the new one is adopted.
   */
  private async replace(peer: string): Promise<void> {
    const old = this.connections.get(peer);
    if (old === undefined || !old.open) return;
    old.destroy("the peer reconnected");
    await old.closed;
  }

  /**
   * The acceptor's status for a peer's name, as OTP's net_kernel decides
   * it: `alive` if we are connected (the peer may replace the connection,
   * once authenticated); a simultaneous connect goes to the greater name's
   * attempt (`nok` to the peer's, or `ok_simultaneous` and our own dial is
   * dropped); one incoming handshake per peer at a time.
   */
  private decide(peer: string, socket?: Socket): AcceptDecision {
    if (this.stopped) return "not_allowed";
    const refusal = socket && this.config.tls?.refusal(socket, peer);
    if (refusal) {
      this.node.peerLog.line("refused TLS peers", refusal);
      return "not_allowed";
    }
    if (this.accepting.has(peer)) return "nok";
    if (this.connections.get(peer)?.open) return "alive";
    const d = this.dials.get(peer);
    if (d !== undefined && !d.superseded) {
      if (this.node.name > peer) return "nok";
      d.superseded = true;
      d.socket?.destroy();
      return "ok_simultaneous";
    }
    return "ok";
  }

  /** A handshake succeeded: the socket becomes the connection to the peer. */
  private adopt(socket: Socket, peer: HandshakePeer): Connection {
    const existing = this.connections.get(peer.name);
    if (existing?.open) {
      socket.destroy();
      return existing;
    }
    const node = this.node;
    const c = new Connection(socket, peer.name, peer.flags, peer.creation, {
      packet: (conn, control, message) => node.dispatch(conn, control, message),
      closed: (conn, reason) => this.closed(conn, reason),
    }, this.config.limits);
    this.connections.set(peer.name, c);
    this.flushQueued(c);
    const waiters = this.connectWaiters.get(peer.name);
    if (waiters) {
      this.connectWaiters.delete(peer.name);
      for (const w of waiters) w(c);
    }
    c.start(peer.rest);
    const hidden = (peer.flags & DFLAG.PUBLISHED) === 0n;
    node.logger.trace(
      "handshake",
      () =>
        `with ${peer.name}: ok, flags 0x${
          peer.flags.toString(16)
        }, creation ${peer.creation}`,
    );
    node.logger.trace(
      "connection",
      () => `connected to ${peer.name}${hidden ? " (hidden)" : ""}`,
    );
    publishConnect({
      node: node.name,
      peer: peer.name,
      hidden,
      flags: peer.flags,
      creation: peer.creation,
    });
    node.emit("nodeup", peer.name);
    return c;
  }

  /** Time left for an accepted socket's handshake (less what TLS took). */
  private handshakeTimeLeft(socket: Socket): number {
    const deadline = tlsDeadline.get(socket);
    return deadline === undefined
      ? this.config.connectTimeoutMs
      : Math.max(1, deadline - Date.now());
  }

  /**
   * TLS first (see _tls.ts), then the handshake as over TCP; both within
   * one `connectTimeoutMs` from the TCP accept.
   */
  private acceptTls(raw: Socket, tls: TlsTransport): void {
    if (this.stopped) {
      raw.destroy();
      return;
    }
    raw.on("error", () => {});
    const deadline = Date.now() + this.config.connectTimeoutMs;
    tls.accept(raw, this.config.connectTimeoutMs).then((s) => {
      tlsDeadline.set(s, deadline);
      this.accept(s);
    }, (e: Error) => {
      if (this.stopped) return;
      this.handshakeFailed("?", "in", e);
      // Closed before sending a byte: a TCP health check or port scan.
      if (raw.bytesRead !== 0) {
        this.node.peerLog.line("failed handshakes", e.message);
      }
    });
  }

  /** Traces and publishes a failed handshake. */
  private handshakeFailed(peer: string, dir: "in" | "out", e: unknown): void {
    const error = e instanceof Error ? e : new Error(String(e));
    this.node.logger.trace(
      "handshake",
      () => `${dir === "out" ? "to" : "from"} ${peer} failed: ${error.message}`,
    );
    publishHandshakeFailure({
      node: this.node.name,
      peer,
      direction: dir,
      error,
    });
  }

  // ------------------------------------------------------------ ticks and node-down

  /** Closes the connection to `node` (`Node.disconnect`). */
  disconnect(node: string): Promise<boolean> {
    const c = this.connections.get(node);
    if (!c?.open) return Promise.resolve(false);
    return new Promise((resolve) => {
      const n = this.node;
      n.once("nodedown", function wait(name: string) {
        if (name === node) resolve(true);
        else n.once("nodedown", wait);
      });
      c.close("disconnected");
    });
  }

  private tickAll(): void {
    for (const c of this.connections.values()) {
      if (!c.tick()) {
        this.node.log(
          `${c.peer} did not answer ticks for ${this.config.tickTime} s; disconnecting`,
        );
        c.destroy("net_tick_timeout");
      }
    }
  }

  private closed(c: Connection, reason: string): void {
    if (this.connections.get(c.peer) === c) this.connections.delete(c.peer);
    this.nodeDown(c.peer, reason);
  }

  /**
   * The connection to `node` is gone: every link to a process there breaks
   * with `noconnection`, every monitor of a process there fires a DOWN with
   * `noconnection`, monitors held from there are dropped, pending spawn
   * requests to it fail, node monitors get `{nodedown, Node}`, and the node
   * emits `nodedown`.
   */
  private nodeDown(node: string, reason: string): void {
    const n = this.node;
    n.connectFailed(node, new NoConnectionError(node, reason));
    for (const p of n.liveProcesses()) {
      const monitoredBy = p.monitoredByIfAny;
      if (monitoredBy !== undefined) {
        for (const m of [...monitoredBy.values()]) {
          if (m.watcher.node === node) monitoredBy.delete(m.ref.key);
        }
      }
      const monitoring = p.monitoringIfAny;
      if (monitoring !== undefined) {
        for (const m of [...monitoring.values()]) {
          if (m.target.node === node) {
            monitoring.delete(m.ref.key);
            const object = m.byName
              ? tuple(Atom.of(m.byName[0]), Atom.of(m.byName[1]))
              : m.target;
            n.deliverProcess(
              p,
              tuple(A.DOWN, m.ref, A.process, object, A.noconnection),
            );
          }
        }
      }
      const links = p.linksIfAny;
      if (links !== undefined) {
        for (const pid of [...links.values()]) {
          if (pid.node === node) n.exitSignal(p, pid, A.noconnection, true);
        }
      }
    }
    const watchers = this.nodeMonitors.get(node);
    if (watchers) {
      this.nodeMonitors.delete(node);
      for (const p of watchers) {
        n.deliverProcess(p, tuple(A.nodedown, Atom.of(node)));
      }
    }
    n.logger.trace("connection", () => `${node} is down: ${reason}`);
    publishDisconnect({ node: n.name, peer: node, reason });
    if (!this.stopped) n.emit("nodedown", node, reason);
  }

  // ------------------------------------------------------------ net_kernel process

  /**
   * The `net_kernel` process: `net_adm:ping` asks it `{is_auth, Node}`
   * (anything else, or a malformed caller, is dropped and logged).
   */
  handle(m: unknown): void {
    if (isTuple(m, A.gen_call, 3) && isTuple(m[2], A.is_auth)) {
      this.node.replyFrom(this.node.shell, m[1], A.yes);
    }
  }

  // ------------------------------------------------------------ stop

  /**
   * Stops: closes every connection (peers see this node go down), fails
   * waiting dials, drops handshakes. Resolves once the connections are
   * closed (or after 1.5 s).
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.tickTimer);
    const closing = [...this.connections.values()].map((c) => {
      c.close("stopped");
      return c.closed;
    });
    for (const [node, list] of this.connectWaiters) {
      for (const w of list) w(undefined);
      this.connectWaiters.delete(node);
    }
    for (const s of this.handshaking) s.destroy();
    this.config.tls?.close();
    await Promise.race([
      Promise.all(closing),
      new Promise((r) => setTimeout(r, 1500)),
    ]);
    for (const c of this.connections.values()) c.destroy("stopped");
  }
}

/** When an accepted TLS socket's handshake must end (TCP accept + connectTimeoutMs). */
const tlsDeadline = new WeakMap<Socket, number>();

function toNoConnection(node: string, e: unknown): NoConnectionError {
  return e instanceof NoConnectionError
    ? e
    : new NoConnectionError(node, (e as Error)?.message);
}

/** Opens a TCP connection to a peer's distribution port, by the deadline. */
function connectSocket(
  node: string,
  address: string,
  port: number,
  deadline: number,
): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const s = createConnection({ host: address, port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(
        new NoConnectionError(node, `connect to ${address}:${port} timed out`),
      );
    }, Math.max(1, deadline - Date.now()));
    const onErr = (e: Error) => {
      clearTimeout(timer);
      reject(
        new NoConnectionError(
          node,
          `connect to ${address}:${port}: ${e.message}`,
        ),
      );
    };
    s.once("connect", () => {
      clearTimeout(timer);
      s.off("error", onErr);
      s.setNoDelay(true);
      resolve(s);
    });
    s.once("error", onErr);
  });
}
