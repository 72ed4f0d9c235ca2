/**
 * The registry daemon's TCP layer: accepts connections and hands their bytes
 * to the daemon, on `node:net` or, on Deno, on `Deno.listen` directly. Internal.
 *
 * Why two: a lookup is one short connection (accept, one read, one write,
 * close), so what a runtime spends per connection is most of what a lookup
 * costs. On Deno, `node:net` adds Node's stream machinery on top of Deno's own
 * sockets: with `Deno.listen` and one read loop per connection the daemon
 * spends 3-5 µs less CPU (user) per lookup, of 22-27 µs, in the registry bench
 * (`tests/bench_registry.ts`, 2-core machine).
 *
 * On Node, the same reasoning goes one layer down: `net.Socket` (its
 * construction and the stream machinery) is most of the ~45 µs of user CPU a
 * lookup costs a `node:net` server, so the daemon uses Node's TCP handles
 * (`tcp_wrap`, what `net.Socket` is built on) directly: ~10 µs, and lookups
 * then outpace `epmd`'s. It falls back to `node:net` where those handles are
 * not what it expects, and for host names (which need a DNS lookup).
 *
 * @module
 */
import { createServer, isIP, type Socket } from "node:net";
import process from "node:process";
import { setTimeout } from "node:timers";
import { getSystemErrorMap } from "node:util";

/** One accepted connection. */
export interface Link {
  /** The peer's address (`undefined` once closed, on Node). */
  readonly remoteAddress: string | undefined;
  /** The peer's port. */
  readonly remotePort: number | undefined;
  /** Writes `bytes` and keeps the connection open. */
  write(bytes: Uint8Array): void;
  /**
   * Writes `bytes`, then closes the connection as soon as they are handed
   * to the OS (not waiting for the peer's end of input), as `epmd` does;
   * calls `after` then (also when the write failed).
   */
  writeAndClose(bytes: Uint8Array, after?: () => void): void;
  /** Closes the connection at once. */
  destroy(): void;
}

/**
 * What the daemon does with connections. `accept` returns the daemon's
 * state for the connection, or `null` to refuse it (the link is closed);
 * `data` and `closed` get that state back. `closed` comes once, whoever
 * closed the connection, after the last `data`.
 */
export interface LinkHandler<S> {
  accept(link: Link): S | null;
  data(state: S, chunk: Uint8Array): void;
  closed(state: S): void;
  /** An error of the listener itself (accept failing): logged, not fatal. */
  error(err: Error): void;
}

/** A listening socket, as {@linkcode listenTcp} returns it. */
export interface TcpListener {
  /** The port it listens on (the chosen one when asked for port 0). */
  readonly port: number;
  /**
   * Stops accepting, closes the connections still writing a last reply
   * (`writeAndClose`), and resolves once every connection is closed: the
   * daemon closes the ones it holds (idle, registered) itself.
   */
  close(): Promise<void>;
}

/**
 * Listens on `address:port`, closing connections at once while
 * `maxConnections` are open; rejects with the runtime's error (its `code`,
 * e.g. `EADDRINUSE`, kept) when it cannot listen.
 */
export function listenTcp<S>(
  port: number,
  address: string,
  maxConnections: number,
  handler: LinkHandler<S>,
  layer: TcpLayer = tcpLayer(address),
): Promise<TcpListener> {
  const deno = denoNet();
  if (layer === "deno" && deno) {
    return listenDeno(deno, port, address, maxConnections, handler);
  }
  const handles = layer === "handles" && !deno ? nodeHandles() : undefined;
  if (handles && isIP(address) !== 0) {
    return listenHandles(handles, port, address, maxConnections, handler);
  }
  if (layer === "node:net") {
    return listenNode(port, address, maxConnections, handler);
  }
  return Promise.reject(new Error(`TCP layer ${layer} is not available here`));
}

/** The TCP layers of {@linkcode listenTcp}. */
export type TcpLayer = "deno" | "handles" | "node:net";

/**
 * Which TCP layer {@linkcode listenTcp} uses for `address` here: `"deno"`,
 * `"handles"` (Node's TCP handles, for IP addresses) or `"node:net"`. The
 * environment variable `NODERL_REGISTRY_NET=node:net` makes Node use
 * `node:net` (a way out should Node's handles ever misbehave).
 */
export function tcpLayer(address = "127.0.0.1"): TcpLayer {
  if (denoNet()) return "deno";
  if (process.env.NODERL_REGISTRY_NET === "node:net") return "node:net";
  return isIP(address) !== 0 && nodeHandles() ? "handles" : "node:net";
}

/** The layers {@linkcode listenTcp} can use in this runtime (for tests). */
export function tcpLayers(): TcpLayer[] {
  if (denoNet()) return ["deno"];
  return nodeHandles() ? ["handles", "node:net"] : ["node:net"];
}

// ---------------------------------------------------------------------------
// node:net
//
// Per connection, only what a lookup needs: the daemon's state rides on the
// socket and the listeners are shared functions, not closures kept in a set
// of open sockets (those cost a bare server 2-4 µs of CPU per connection on
// Node 20); Node's own `maxConnections` counts connections. Of the ~22 µs
// (user) a lookup then costs, ~12 are net.Socket's: its construction and the
// stream machinery (a server on Node's internal handles spends ~9 µs).

const ignore = (): void => {};
const kState = Symbol("noderl.registry.state");
type Tagged = Socket & { [kState]?: unknown };

class NodeLink implements Link {
  readonly socket: Socket;
  readonly #flushing: Set<Socket>;
  constructor(socket: Socket, flushing: Set<Socket>) {
    this.socket = socket;
    this.#flushing = flushing;
  }
  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.socket.remotePort;
  }
  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }
  writeAndClose(bytes: Uint8Array, after?: () => void): void {
    const socket = this.socket;
    socket.write(bytes);
    // When the write went straight to the kernel (the usual case), closing
    // now sends the reply, then FIN; else close once it is flushed.
    if (socket.writableLength === 0 && !after) {
      socket.destroy();
      return;
    }
    this.#flushing.add(socket);
    socket.end(() => {
      socket.destroy();
      after?.();
    });
  }
  destroy(): void {
    this.socket.destroy();
  }
}

function listenNode<S>(
  port: number,
  address: string,
  maxConnections: number,
  handler: LinkHandler<S>,
): Promise<TcpListener> {
  return new Promise((resolve, reject) => {
    const server = createServer({ allowHalfOpen: false });
    server.maxConnections = maxConnections;
    const flushing = new Set<Socket>();
    function onData(this: Tagged, chunk: Uint8Array): void {
      handler.data(this[kState] as S, chunk);
    }
    function onClose(this: Tagged): void {
      if (flushing.size !== 0) flushing.delete(this);
      handler.closed(this[kState] as S);
    }
    server.on("connection", (socket: Tagged) => {
      socket.on("error", ignore); // 'close' follows; nothing to report
      const state = handler.accept(new NodeLink(socket, flushing));
      if (state === null) {
        socket.destroy();
        return;
      }
      socket[kState] = state;
      socket.on("data", onData);
      socket.on("close", onClose);
    });
    server.once("error", (err: Error) => {
      server.close();
      reject(err);
    });
    server.listen({ port, host: address }, () => {
      server.removeAllListeners("error");
      server.on("error", (err: Error) => handler.error(err));
      const bound = server.address();
      let closing: Promise<void> | undefined;
      resolve({
        port: typeof bound === "object" && bound ? bound.port : port,
        close() {
          return closing ??= new Promise<void>((res) => {
            server.close(() => res());
            for (const s of flushing) s.destroy();
          });
        },
      });
    });
  });
}

// ---------------------------------------------------------------------------
// Deno.listen

/** The parts of Deno's API used here (typed here: tsc has no Deno types). */
interface DenoAddr {
  hostname?: string;
  port?: number;
}
interface DenoConn {
  readonly remoteAddr: DenoAddr;
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  close(): void;
}
interface DenoListener {
  readonly addr: DenoAddr;
  accept(): Promise<DenoConn>;
  close(): void;
}
interface DenoNet {
  listen(options: { hostname: string; port: number }): DenoListener;
}

function denoNet(): DenoNet | undefined {
  const deno = (globalThis as { Deno?: Partial<DenoNet> }).Deno;
  return typeof deno?.listen === "function" ? deno as DenoNet : undefined;
}

/** Bytes asked for per read: a lookup's whole request, usually in one read. */
const READ_SIZE = 512;
/** Read buffers kept for reuse. */
const POOL_MAX = 64;
/** Pause before accepting again after accept failed (e.g. out of fds). */
const ACCEPT_RETRY_MS = 50;

class DenoLink implements Link {
  readonly conn: DenoConn;
  closed = false;
  /** True while the read loop hands a chunk to the daemon. */
  inData = false;
  /** The last bytes to write (then close), set while in `data`. */
  last: Uint8Array | null = null;
  /** Called once the last bytes are out and the link closed. */
  after: (() => void) | undefined = undefined;
  /** A write-then-close started outside `data`: no more input is wanted. */
  ending: Promise<void> | null = null;
  constructor(conn: DenoConn) {
    this.conn = conn;
  }
  get remoteAddress(): string | undefined {
    return this.conn.remoteAddr.hostname;
  }
  get remotePort(): number | undefined {
    return this.conn.remoteAddr.port;
  }
  write(bytes: Uint8Array): void {
    writeAll(this.conn, bytes).catch(() => this.destroy());
  }
  writeAndClose(bytes: Uint8Array, after?: () => void): void {
    if (this.inData) {
      // The read loop writes them when `data` returns (no promise more).
      this.last = bytes;
      this.after = after;
      return;
    }
    const done = () => {
      this.destroy();
      after?.();
    };
    this.ending = writeAll(this.conn, bytes).then(done, done);
  }
  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }
}

async function writeAll(conn: DenoConn, bytes: Uint8Array): Promise<void> {
  let at = await conn.write(bytes);
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}

function listenDeno<S>(
  deno: DenoNet,
  port: number,
  address: string,
  maxConnections: number,
  handler: LinkHandler<S>,
): Promise<TcpListener> {
  let listener: DenoListener;
  try {
    listener = deno.listen({ hostname: address, port });
  } catch (e) {
    return Promise.reject(e);
  }
  const links = new Set<DenoLink>();
  const pool: Uint8Array[] = [];
  let closing = false;
  let allClosed: (() => void) | undefined;

  const serve = async (link: DenoLink, state: S) => {
    const buf = pool.pop() ?? new Uint8Array(READ_SIZE);
    try {
      for (;;) {
        const n = await link.conn.read(buf);
        if (n === null || link.closed) break;
        link.inData = true;
        try {
          handler.data(state, buf.subarray(0, n));
        } finally {
          link.inData = false;
        }
        const last = link.last;
        if (last !== null && !link.closed) {
          let at = await link.conn.write(last);
          while (at < last.length) {
            at += await link.conn.write(last.subarray(at));
          }
          break;
        }
        if (link.ending) {
          await link.ending;
          break;
        }
        if (link.closed) break;
      }
    } catch {
      // reset by the peer, or closed by us while reading
    }
    link.destroy();
    link.after?.();
    links.delete(link);
    if (pool.length < POOL_MAX) pool.push(buf);
    handler.closed(state);
    if (links.size === 0 && allClosed) allClosed();
  };

  const acceptLoop = async () => {
    while (!closing) {
      let conn: DenoConn;
      try {
        conn = await listener.accept();
      } catch (e) {
        if (closing) break;
        handler.error(e as Error);
        await new Promise((res) => setTimeout(res, ACCEPT_RETRY_MS));
        continue;
      }
      const link = new DenoLink(conn);
      if (closing) {
        link.destroy();
        break;
      }
      if (links.size >= maxConnections) {
        link.destroy();
        continue;
      }
      const state = handler.accept(link);
      if (state === null) {
        link.destroy();
        continue;
      }
      links.add(link);
      void serve(link, state);
    }
  };
  const accepting = acceptLoop();

  let closed: Promise<void> | undefined;
  return Promise.resolve({
    port: listener.addr.port ?? port,
    close() {
      return closed ??= (async () => {
        closing = true;
        try {
          listener.close();
        } catch {
          // already closed
        }
        await accepting;
        const drained = links.size === 0
          ? Promise.resolve()
          : new Promise<void>((res) => (allClosed = res));
        for (const l of links) l.destroy();
        await drained;
      })();
    },
  });
}

// ---------------------------------------------------------------------------
// Node's TCP handles
//
// `net.Socket` wraps a `tcp_wrap` TCP handle; a lookup needs none of what the
// wrapper adds (streams, events, buffering, timers). This layer talks to the
// handle as `net` itself does: `onconnection` for accepts, `readStart` and
// `onread` (bytes counted in `streamBaseState`), `writeBuffer` with a
// `WriteWrap` (completed at once, or later through `oncomplete`), `close`.
// `process.binding` exposes these (DEP0111, a documentation-only
// deprecation); every part used is checked before use, and without them the
// daemon runs on `node:net`.

/** A `tcp_wrap` TCP handle, the parts used here. */
interface TcpHandle {
  bind(address: string, port: number): number;
  bind6(address: string, port: number, flags: number): number;
  listen(backlog: number): number;
  getsockname(out: { address?: string; port?: number }): number;
  getpeername(out: { address?: string; port?: number }): number;
  readStart(): number;
  writeBuffer(req: WriteReq, data: Uint8Array): number;
  close(cb?: () => void): void;
  onconnection: (err: number, handle?: TcpHandle) => void;
  /** Must be a function: Node aborts the process on anything else. */
  onread: (this: TcpHandle, buf: ArrayBuffer | undefined) => void;
  /** The link reading from this handle (set here). */
  link?: HandleLink<unknown>;
}
interface WriteReq {
  handle: TcpHandle;
  oncomplete: (this: WriteReq, status: number) => void;
  async: boolean;
  link: HandleLink<unknown>;
}
interface Handles {
  TCP: new (type: number) => TcpHandle;
  server: number;
  WriteWrap: new () => WriteReq;
  state: Int32Array;
  nread: number;
  offset: number;
  wasAsync: number;
}

let handlesChecked = false;
let handles: Handles | undefined;

function nodeHandles(): Handles | undefined {
  if (handlesChecked) return handles;
  handlesChecked = true;
  // Node.js only (other runtimes' process.binding is another thing).
  if ("Bun" in globalThis || process.release?.name !== "node") return undefined;
  // With --pending-deprecation, process.binding warns: stay on node:net.
  if (
    process.execArgv.includes("--pending-deprecation") ||
    process.env.NODE_PENDING_DEPRECATION === "1"
  ) return undefined;
  try {
    const binding = (process as { binding?: (name: string) => unknown })
      .binding;
    if (typeof binding !== "function") return undefined;
    const tcp = binding("tcp_wrap") as {
      TCP?: unknown;
      constants?: { SERVER?: unknown };
    };
    const stream = binding("stream_wrap") as Record<string, unknown>;
    const { TCP, constants } = tcp;
    const { WriteWrap, streamBaseState } = stream;
    const nread = stream.kReadBytesOrError, offset = stream.kArrayBufferOffset;
    const wasAsync = stream.kLastWriteWasAsync;
    if (
      typeof TCP !== "function" || typeof WriteWrap !== "function" ||
      typeof constants?.SERVER !== "number" ||
      !(streamBaseState instanceof Int32Array) ||
      typeof nread !== "number" || typeof offset !== "number" ||
      typeof wasAsync !== "number"
    ) return undefined;
    const proto = (TCP as { prototype: Record<string, unknown> }).prototype;
    for (
      const m of [
        "bind",
        "bind6",
        "listen",
        "getsockname",
        "getpeername",
        "readStart",
        "writeBuffer",
        "close",
      ]
    ) {
      if (typeof proto[m] !== "function") return undefined;
    }
    handles = {
      TCP: TCP as Handles["TCP"],
      server: constants.SERVER,
      WriteWrap: WriteWrap as Handles["WriteWrap"],
      state: streamBaseState,
      nread,
      offset,
      wasAsync,
    };
  } catch {
    handles = undefined;
  }
  return handles;
}

/** An error as Node's `net` makes it from a libuv status (code, errno, syscall). */
function uvError(
  status: number,
  syscall: string,
  address?: string,
  port?: number,
): Error {
  const [code, text] = getSystemErrorMap().get(status) ??
    [`E${-status}`, "unknown error"];
  const where = address === undefined ? "" : ` ${address}:${port}`;
  return Object.assign(new Error(`${syscall} ${code}: ${text}${where}`), {
    code,
    errno: status,
    syscall,
    address,
    port,
  });
}

class HandleLink<S> implements Link {
  readonly handle: TcpHandle;
  readonly listener: HandleListener<S>;
  state: S | undefined = undefined;
  #peer: { address?: string; port?: number } | undefined;
  closed = false;
  /** Writes handed to the OS asynchronously and not yet complete. */
  pending = 0;
  /** Close once `pending` is 0, then call this (write-then-close). */
  closeAfter: (() => void) | null = null;
  constructor(handle: TcpHandle, listener: HandleListener<S>) {
    this.handle = handle;
    this.listener = listener;
  }
  #peername(): { address?: string; port?: number } {
    if (this.#peer === undefined) {
      const out: { address?: string; port?: number } = {};
      if (!this.closed && this.handle.getpeername(out) === 0) this.#peer = out;
      return out;
    }
    return this.#peer;
  }
  get remoteAddress(): string | undefined {
    return this.#peername().address;
  }
  get remotePort(): number | undefined {
    return this.#peername().port;
  }
  /** Hands `bytes` to the OS; false when the write failed (link closed). */
  #write(bytes: Uint8Array): boolean {
    const h = this.listener.handles;
    const req = new h.WriteWrap();
    req.handle = this.handle;
    req.oncomplete = writeDone;
    req.async = false;
    req.link = this as HandleLink<unknown>;
    const err = this.handle.writeBuffer(req, bytes);
    if (err !== 0) {
      this.destroy();
      return false;
    }
    if (h.state[h.wasAsync] !== 0) {
      req.async = true;
      this.pending++;
    }
    return true;
  }
  write(bytes: Uint8Array): void {
    if (!this.closed) this.#write(bytes);
  }
  writeAndClose(bytes: Uint8Array, after?: () => void): void {
    if (this.closed || !this.#write(bytes)) {
      after?.();
      return;
    }
    if (this.pending === 0) {
      this.destroy();
      after?.();
      return;
    }
    this.closeAfter = after ?? ignore;
    this.listener.flushing.add(this);
  }
  /** A write completed (asynchronously). */
  written(status: number): void {
    this.pending--;
    if (status < 0 || (this.pending === 0 && this.closeAfter !== null)) {
      this.destroy();
    }
  }
  /** Closes at once; a pending write-then-close's `after` runs (the write failed or is cut). */
  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    const after = this.closeAfter;
    this.closeAfter = null;
    this.listener.flushing.delete(this);
    this.listener.open--;
    this.handle.close(); // onread stays: Node aborts on a non-function
    if (this.state !== undefined) this.listener.handler.closed(this.state);
    after?.();
    this.listener.closedOne();
  }
}

function writeDone(this: WriteReq, status: number): void {
  this.link.written(status);
}

function onRead(this: TcpHandle, buf: ArrayBuffer | undefined): void {
  const link = this.link;
  if (link === undefined || link.closed) return;
  const h = link.listener.handles;
  const n = h.state[h.nread];
  if (n > 0 && buf !== undefined) {
    link.listener.handler.data(
      link.state,
      new Uint8Array(buf, h.state[h.offset], n),
    );
  } else if (n < 0) {
    link.destroy(); // end of input, or reset by the peer
  }
}

class HandleListener<S> {
  readonly handles: Handles;
  readonly handler: LinkHandler<S>;
  readonly flushing = new Set<HandleLink<S>>();
  open = 0;
  #allClosed: (() => void) | null = null;
  constructor(h: Handles, handler: LinkHandler<S>) {
    this.handles = h;
    this.handler = handler;
  }
  closedOne(): void {
    if (this.open === 0 && this.#allClosed !== null) this.#allClosed();
  }
  /** Resolves once every link is closed (after the server stopped). */
  drained(): Promise<void> {
    if (this.open === 0) return Promise.resolve();
    return new Promise((res) => (this.#allClosed = res));
  }
}

function listenHandles<S>(
  h: Handles,
  port: number,
  address: string,
  maxConnections: number,
  handler: LinkHandler<S>,
): Promise<TcpListener> {
  const server = new h.TCP(h.server);
  const v6 = isIP(address) === 6;
  let err = v6 ? server.bind6(address, port, 0) : server.bind(address, port);
  if (err === 0) err = server.listen(511);
  if (err !== 0) {
    server.close();
    return Promise.reject(uvError(err, "listen", address, port));
  }
  const bound: { port?: number } = {};
  server.getsockname(bound);
  const listener = new HandleListener(h, handler);
  let stopped = false;
  server.onconnection = (status, handle) => {
    if (status !== 0 || handle === undefined) {
      handler.error(uvError(status, "accept"));
      return;
    }
    if (stopped || listener.open >= maxConnections) {
      handle.close();
      return;
    }
    const link = new HandleLink(handle, listener);
    listener.open++;
    const state = handler.accept(link);
    if (state === null) {
      link.destroy();
      return;
    }
    link.state = state;
    handle.link = link as HandleLink<unknown>;
    handle.onread = onRead;
    const e = handle.readStart();
    if (e !== 0) link.destroy();
  };
  let closing: Promise<void> | undefined;
  return Promise.resolve({
    port: bound.port ?? port,
    close() {
      return closing ??= new Promise<void>((res) => {
        stopped = true;
        server.close(() => {
          for (const l of [...listener.flushing]) l.destroy();
          listener.drained().then(res);
        });
      });
    },
  });
}
