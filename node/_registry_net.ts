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
 * @module
 */
import { createServer, type Socket } from "node:net";
import { setTimeout } from "node:timers";

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
): Promise<TcpListener> {
  const deno = denoNet();
  return deno
    ? listenDeno(deno, port, address, maxConnections, handler)
    : listenNode(port, address, maxConnections, handler);
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
