/**
 * The registry daemon: a port mapper that speaks the EPMD protocol, so
 * noderl nodes and real `erl`/`iex` nodes can find each other through it.
 *
 * Start it in a program with {@linkcode startRegistry}, or run it as a
 * program (`registry_main.ts`):
 *
 * ```sh
 * deno run -A node/registry_main.ts [--port 4369] [--address 127.0.0.1] [--debug] [--relaxed]
 * node --import tsx node/registry_main.ts …     # or, installed from npm: npx noderl-registry …
 * deno run -A node/registry_main.ts --names      # what `epmd -names` shows
 * ```
 *
 * What it does, as `epmd` does it:
 * - ALIVE2_REQ registers a name; the registration lives exactly as long as
 *   that TCP connection, and only loopback peers may register.
 * - PORT_PLEASE2_REQ and NAMES_REQ answer anyone who can reach the daemon.
 * - DUMP_REQ, KILL_REQ and STOP_REQ answer loopback peers as `epmd` without
 *   `-relaxed_command_check` answers them: KILL stops the daemon only when no
 *   name is registered (else `NO`), STOP is refused. `relaxed` lifts both
 *   limits, as `-relaxed_command_check` does.
 * - Malformed, oversized and idle requests close the connection; every
 *   length is bounded.
 *
 * Two deliberate differences from `epmd`: only loopback peers (127.0.0.0/8,
 * ::1) count as local — `epmd` also trusts connections from the host's own
 * address — and a refused registration's connection is closed after the
 * refusal instead of being kept open.
 *
 * @example
 * ```ts
 * import { startRegistry } from "./registry.ts";
 * import { registerNode } from "./registry_client.ts";
 * import assert from "node:assert/strict";
 *
 * const registry = await startRegistry({ port: 0 });
 * const reg = await registerNode("alex", 9200, { port: registry.port });
 * assert.deepEqual(registry.names().map((n) => [n.name, n.port]), [["alex", 9200]]);
 * await reg.close();
 * assert.deepEqual(registry.names(), []);
 * await registry.close();
 * ```
 *
 * @module
 */
import { Buffer } from "node:buffer";
import {
  ALIVE2_REQ,
  ALIVE2_RESP,
  ALIVE2_X_RESP,
  DUMP_REQ,
  isPort,
  KILL_REQ,
  NAMES_REQ,
  PORT2_RESP,
  PORT_PLEASE2_REQ,
  STOP_REQ,
} from "./_epmd.ts";
import {
  clearInterval,
  clearTimeout,
  setInterval,
  setTimeout,
} from "node:timers";
import { defaultRegistryPort, RegistryError } from "./registry_client.ts";
import { type Link, listenTcp, type TcpListener } from "./_registry_net.ts";

/** Options of {@linkcode startRegistry}. */
export interface RegistryOptions {
  /**
   * TCP port to listen on. Default: the `ERL_EPMD_PORT` environment variable,
   * else 4369. `0` picks a free port (see {@linkcode Registry.port}).
   */
  port?: number;
  /** Address to listen on. Default `"127.0.0.1"` (this host only). */
  address?: string;
  /** Logs one line per request. Default `false`. */
  debug?: boolean;
  /**
   * Allows KILL while names are registered and STOP (unregister a name of
   * another node), as `epmd -relaxed_command_check` does. Default `false`.
   */
  relaxed?: boolean;
  /**
   * Closes a connection that has not sent a complete request within this
   * many milliseconds. Registered nodes' connections are exempt. Default
   * 60 000 (`epmd`'s 60 s).
   */
  packetTimeoutMs?: number;
  /** Most connections open at once; more are closed at once. Default 16 384. */
  maxConnections?: number;
  /** Where log lines go. Default: standard error. */
  log?: (line: string) => void;
}

/** A registered node, as {@linkcode Registry.names} reports it. */
export interface RegisteredNode {
  /** The node name (the part before `@`). */
  name: string;
  /** The node's distribution port. */
  port: number;
  /** 77 for a normal node, 72 for a hidden node. */
  nodeType: number;
  /** 0: TCP/IPv4. */
  protocol: number;
  /** Highest distribution protocol version the node speaks. */
  highestVersion: number;
  /** Lowest distribution protocol version the node speaks. */
  lowestVersion: number;
  /** The creation assigned to this registration. */
  creation: number;
  /** The node's extra bytes (usually empty). */
  extra: Uint8Array;
}

/** A running registry daemon, as {@linkcode startRegistry} returns it. */
export interface Registry {
  /** The port it listens on (the chosen one when started with port 0). */
  readonly port: number;
  /** The address it listens on. */
  readonly address: string;
  /** The registered nodes, newest first (the order `epmd -names` uses). */
  names(): RegisteredNode[];
  /** Stops listening and drops every connection (and so every registration). */
  close(): Promise<void>;
  /** Closes the registry: `await using registry = await startRegistry(…)`. */
  [Symbol.asyncDispose](): Promise<void>;
  /** Resolves when the daemon has stopped: by `close()` or a KILL request. */
  readonly closed: Promise<void>;
}

/** Longest node name in bytes: 255 characters of up to 4 UTF-8 bytes. */
const MAX_SYMLEN = 255 * 4;
/** A request (length prefix included) must be shorter than this, as in epmd. */
const INBUF_SIZE = 3 * MAX_SYMLEN;
/** Unregistered names remembered, to give a reused name a new creation. */
const MAX_UNREG = 1000;

const utf8 = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();
// Replies sent as they are kept are Buffers: Node's socket.write wraps
// any other Uint8Array in a new Buffer on every write (about 1.5 µs of a
// lookup's CPU on Node 20, measured with tests/bench_registry.ts).
const latin1 = (s: string) => Buffer.from(s, "latin1");
const REPLY_NO = latin1("NO");
const REPLY_OK = latin1("OK");
const REPLY_STOPPED = latin1("STOPPED");
const REPLY_NOEXIST_STOPPED = latin1("NOEXISTSTOPPED");
const REPLY_NOT_FOUND = Buffer.from([PORT2_RESP, 1]);

interface Entry {
  readonly name: string;
  readonly nameBytes: Uint8Array;
  readonly port: number;
  readonly nodeType: number;
  readonly protocol: number;
  readonly highestVersion: number;
  readonly lowestVersion: number;
  readonly extra: Uint8Array;
  /** 32-bit creation counter, as epmd keeps it (never below 4). */
  readonly counter: number;
  readonly conn: Conn;
  /** The PORT2_RESP for this node, built once. */
  readonly portReply: Uint8Array;
}

interface Unused {
  counter: number;
  port: number;
  connId: number;
}

class Conn {
  readonly link: Link;
  readonly id: number;
  /** Bytes of a request received so far (null: none yet). */
  buf: Uint8Array | null = null;
  /** Request size including the 2-byte length, once known. */
  want = 0;
  last: number;
  /** A registered node's connection: kept open, no packet timeout. */
  entry: Entry | null = null;
  done = false;
  constructor(link: Link, id: number, now: number) {
    this.link = link;
    this.id = id;
    this.last = now;
  }
}

function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  if (address.startsWith("::ffff:")) address = address.slice(7);
  return address.startsWith("127.") || address === "::1";
}

function u16(b: Uint8Array, at: number): number {
  return (b[at] << 8) | b[at + 1];
}

/** Number of code points of valid UTF-8 `bytes`, or -1 when invalid. */
function utf8Chars(bytes: Uint8Array): [string, number] | undefined {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return undefined;
  }
  let chars = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xdc00 && c <= 0xdfff) chars--; // low half of a surrogate pair
  }
  return [text, chars];
}

/**
 * `bytes` as a string when they are 1 to 255 ASCII characters without NUL,
 * else undefined (the caller then decodes and checks them as UTF-8).
 */
function asciiName(bytes: Uint8Array): string | undefined {
  const n = bytes.length;
  if (n < 1 || n > 255) return undefined;
  for (let i = 0; i < n; i++) {
    const b = bytes[i];
    if (b === 0 || b > 127) return undefined;
  }
  return String.fromCharCode.apply(null, bytes as unknown as number[]);
}

function nextCounter(counter: number): number {
  const next = (counter + 1) >>> 0;
  return next < 4 ? 4 : next;
}

class Daemon implements Registry {
  port = 0;
  readonly address: string;
  readonly closed: Promise<void>;
  #listener: TcpListener | null = null;
  #pending = new Set<Conn>();
  #reg = new Map<string, Entry>();
  #unused = new Map<string, Unused>();
  #namesReply: Uint8Array | null = null;
  #nextId = 1;
  #sweeper: ReturnType<typeof setInterval> | undefined;
  #debug: boolean;
  #relaxed: boolean;
  #timeoutMs: number;
  #maxConns: number;
  #log: (line: string) => void;
  #closing: Promise<void> | null = null;
  #killTimer: ReturnType<typeof setTimeout> | undefined;
  #markClosed!: () => void;

  constructor(address: string, o: RegistryOptions) {
    this.address = address;
    this.#debug = o.debug ?? false;
    this.#relaxed = o.relaxed ?? false;
    this.#timeoutMs = o.packetTimeoutMs ?? 60_000;
    this.#maxConns = o.maxConnections ?? 16_384;
    this.#log = o.log ?? ((line) => console.error(line));
    this.closed = new Promise((res) => (this.#markClosed = res));
  }

  /** Listens on `port` (rejects with the runtime's error), then sweeps. */
  async listen(port: number): Promise<void> {
    this.#listener = await listenTcp<Conn>(port, this.address, this.#maxConns, {
      accept: (link) => this.#accept(link),
      data: (c, chunk) => this.#data(c, chunk),
      closed: (c) => this.#closed(c),
      error: (err) => this.#log(`registry: ${err.message}`),
    });
    this.port = this.#listener.port;
    const every = Math.max(5, Math.min(1000, Math.floor(this.#timeoutMs / 4)));
    this.#sweeper = setInterval(() => this.#sweep(), every);
    this.#sweeper.unref();
  }

  names(): RegisteredNode[] {
    const out: RegisteredNode[] = [];
    for (const e of this.#reg.values()) {
      out.push({
        name: e.name,
        port: e.port,
        nodeType: e.nodeType,
        protocol: e.protocol,
        highestVersion: e.highestVersion,
        lowestVersion: e.lowestVersion,
        creation: creationOf(e),
        extra: e.extra.slice(),
      });
    }
    return out.reverse();
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    clearInterval(this.#sweeper);
    clearTimeout(this.#killTimer);
    // The listener closes what it still writes to; the rest is ours.
    for (const c of this.#pending) c.link.destroy();
    for (const e of [...this.#reg.values()]) {
      this.#unregister(e, "registry closed");
      e.conn.link.destroy();
    }
    this.#closing = (this.#listener?.close() ?? Promise.resolve()).then(() =>
      this.#markClosed()
    );
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #accept(link: Link): Conn | null {
    if (this.#closing) return null;
    const c = new Conn(link, this.#nextId++, Date.now());
    this.#pending.add(c);
    return c;
  }

  #closed(c: Conn): void {
    this.#pending.delete(c);
    c.done = true;
    if (c.entry) this.#unregister(c.entry, "connection closed");
  }

  #drop(c: Conn): void {
    c.done = true;
    this.#pending.delete(c);
    c.link.destroy();
  }

  #reply(c: Conn, bytes: Uint8Array | null): void {
    c.done = true;
    this.#pending.delete(c);
    if (!bytes) {
      c.link.destroy();
      return;
    }
    // Close as soon as the reply is out, as epmd does (write, close), not
    // waiting for the peer's end of input.
    c.link.writeAndClose(bytes);
  }

  #sweep(): void {
    const limit = Date.now() - this.#timeoutMs;
    for (const c of this.#pending) {
      if (c.last <= limit) {
        if (this.#debug) {
          this.#log(
            `registry: ${
              peer(c)
            } closed: no complete request within ${this.#timeoutMs} ms`,
          );
        }
        this.#drop(c);
      }
    }
  }

  #data(c: Conn, chunk: Uint8Array): void {
    if (c.done) return;
    if (c.entry) {
      // A registered node sends nothing more; epmd drops it if it does.
      if (this.#debug) {
        this.#log(`registry: ${peer(c)} sent data after ALIVE2: unregistering`);
      }
      this.#unregister(c.entry, "unexpected data");
      this.#drop(c);
      return;
    }
    let buf: Uint8Array;
    if (c.buf === null) {
      buf = chunk;
    } else {
      if (c.buf.length + chunk.length >= INBUF_SIZE) {
        this.#bad(c, `request longer than ${INBUF_SIZE - 3} bytes`);
        return;
      }
      buf = new Uint8Array(c.buf.length + chunk.length);
      buf.set(c.buf);
      buf.set(chunk, c.buf.length);
    }
    c.last = Date.now();
    if (c.want === 0 && buf.length >= 2) {
      c.want = u16(buf, 0) + 2;
      if (c.want < 3 || c.want >= INBUF_SIZE) {
        this.#bad(c, `invalid packet size ${c.want - 2}`);
        return;
      }
    }
    if (c.want !== 0 && buf.length > c.want) {
      this.#bad(
        c,
        `got ${buf.length - 2} bytes in packet, expected ${c.want - 2}`,
      );
      return;
    }
    if (c.want === 0 || buf.length < c.want) {
      c.buf = buf === chunk ? chunk.slice() : buf;
      return;
    }
    c.buf = null;
    this.#request(c, buf.subarray(2, c.want));
  }

  #bad(c: Conn, why: string): void {
    if (this.#debug) this.#log(`registry: ${peer(c)} closed: ${why}`);
    this.#drop(c);
  }

  #request(c: Conn, req: Uint8Array): void {
    switch (req[0]) {
      case PORT_PLEASE2_REQ:
        return this.#portPlease(c, req);
      case ALIVE2_REQ:
        return this.#alive(c, req);
      case NAMES_REQ:
        if (this.#debug) {
          this.#log(`registry: ${peer(c)} NAMES_REQ → ${this.#reg.size} names`);
        }
        return this.#reply(c, this.#names());
      case DUMP_REQ:
        if (!this.#local(c, "DUMP_REQ")) return;
        if (this.#debug) this.#log(`registry: ${peer(c)} DUMP_REQ`);
        return this.#reply(c, this.#dump());
      case KILL_REQ:
        return this.#kill(c);
      case STOP_REQ:
        return this.#stop(c, req);
      default:
        return this.#bad(c, `unknown request ${req[0]}`);
    }
  }

  #local(c: Conn, what: string): boolean {
    if (isLoopback(c.link.remoteAddress)) return true;
    this.#bad(c, `${what} from a non-loopback address`);
    return false;
  }

  #portPlease(c: Conn, req: Uint8Array): void {
    let end = req.length;
    if (req[end - 1] === 0) end--; // a NUL-terminated name
    if (end <= 1) return this.#bad(c, "PORT_PLEASE2_REQ without a name");
    const nb = req.subarray(1, end);
    // Names are ASCII almost always: read those without a UTF-8 decoder
    // (a call into the runtime, a good part of a lookup's cost on Deno).
    let name = asciiName(nb);
    if (name === undefined) {
      if (nb.indexOf(0) >= 0) {
        return this.#bad(c, "PORT_PLEASE2_REQ name contains NUL");
      }
      const decoded = utf8Chars(nb);
      if (!decoded || decoded[1] < 1 || decoded[1] > 255) {
        return this.#bad(
          c,
          "PORT_PLEASE2_REQ name is not 1 to 255 characters of UTF-8",
        );
      }
      name = decoded[0];
    }
    const e = this.#reg.get(name);
    if (this.#debug) {
      this.#log(
        `registry: ${peer(c)} PORT_PLEASE2_REQ ${JSON.stringify(name)} → ${
          e ? `port ${e.port}` : "not registered"
        }`,
      );
    }
    this.#reply(c, e ? e.portReply : REPLY_NOT_FOUND);
  }

  #alive(c: Conn, req: Uint8Array): void {
    if (!this.#local(c, "ALIVE2_REQ")) return;
    const size = req.length;
    if (size <= 13) return this.#bad(c, `ALIVE2_REQ too small (${size} bytes)`);
    const port = u16(req, 1);
    const nodeType = req[3];
    const protocol = req[4];
    const high = u16(req, 5);
    const low = u16(req, 7);
    const nlen = u16(req, 9);
    if (nlen + 13 > size) {
      return this.#bad(c, "ALIVE2_REQ name length exceeds the packet");
    }
    const elen = u16(req, 11 + nlen);
    if (elen + nlen + 13 > size) {
      return this.#bad(c, "ALIVE2_REQ extra length exceeds the packet");
    }
    const nb = req.subarray(11, 11 + nlen);
    if (nb.indexOf(0) >= 0) return this.#bad(c, "ALIVE2_REQ name contains NUL");
    const extra = req.slice(13 + nlen, 13 + nlen + elen);

    let refused: string | undefined;
    let name = "";
    let counter = 0;
    if (nlen > MAX_SYMLEN) refused = `name longer than ${MAX_SYMLEN} bytes`;
    else {
      const decoded = utf8Chars(nb);
      if (!decoded) refused = "name is not UTF-8";
      else if (decoded[1] > 255) refused = "name longer than 255 characters";
      else if (decoded[1] < 1) refused = "empty name";
      else name = decoded[0];
    }
    if (!refused && elen > MAX_SYMLEN) {
      refused = `extra longer than ${MAX_SYMLEN} bytes`;
    }
    if (!refused && this.#reg.has(name)) {
      refused = `name ${JSON.stringify(name)} already registered`;
    }
    if (!refused) {
      const old = this.#unused.get(name);
      if (old) {
        this.#unused.delete(name);
        counter = nextCounter(old.counter);
      } else {
        counter = nextCounter(Math.floor(Math.random() * 0x1_0000_0000));
      }
    }
    const x = high >= 6;
    const reply = new Uint8Array(x ? 6 : 4);
    reply[0] = x ? ALIVE2_X_RESP : ALIVE2_RESP;
    if (refused) {
      if (this.#debug) {
        this.#log(`registry: ${peer(c)} ALIVE2_REQ refused: ${refused}`);
      }
      reply[1] = 1;
      reply[reply.length - 1] = 99; // what epmd sends as the creation of a refusal
      this.#reply(c, reply);
      return;
    }
    const entry: Entry = {
      name,
      nameBytes: nb.slice(),
      port,
      nodeType,
      protocol,
      highestVersion: high,
      lowestVersion: low,
      extra,
      counter,
      conn: c,
      portReply: portReply(nb, port, nodeType, protocol, high, low, extra),
    };
    const creation = creationOf(entry);
    if (x) {
      reply[2] = creation >>> 24;
      reply[3] = (creation >>> 16) & 255;
      reply[4] = (creation >>> 8) & 255;
      reply[5] = creation & 255;
    } else {
      reply[2] = creation >>> 8;
      reply[3] = creation & 255;
    }
    c.entry = entry;
    this.#pending.delete(c);
    this.#reg.set(name, entry);
    this.#namesReply = null;
    if (this.#debug) {
      this.#log(
        `registry: ${peer(c)} ALIVE2_REQ ${
          JSON.stringify(name)
        } port ${port} → creation ${creation}`,
      );
    }
    c.link.write(reply);
  }

  #unregister(e: Entry, why: string): void {
    const c = e.conn;
    c.entry = null;
    if (this.#reg.get(e.name) !== e) return;
    this.#reg.delete(e.name);
    this.#namesReply = null;
    this.#unused.set(e.name, {
      counter: e.counter,
      port: e.port,
      connId: c.id,
    });
    if (this.#unused.size > MAX_UNREG) {
      this.#unused.delete(this.#unused.keys().next().value as string);
    }
    if (this.#debug) {
      this.#log(`registry: unregistered ${JSON.stringify(e.name)} (${why})`);
    }
  }

  #names(): Uint8Array {
    if (this.#namesReply) return this.#namesReply;
    let text = "";
    for (const e of this.#reg.values()) {
      text = `name ${e.name} at port ${e.port}\n` + text;
    }
    const body = encoder.encode(text);
    const out = new Uint8Array(4 + body.length);
    writeU32(out, 0, this.port);
    out.set(body, 4);
    return (this.#namesReply = out);
  }

  #dump(): Uint8Array {
    let text = "";
    for (const e of this.#reg.values()) {
      text =
        `active name     <${e.name}> at port ${e.port}, fd = ${e.conn.id}\n\0` +
        text;
    }
    for (const [name, u] of this.#unused) {
      text +=
        `old/unused name <${name}>, port = ${u.port}, fd = ${u.connId} \n\0`;
    }
    const body = encoder.encode(text);
    const out = new Uint8Array(4 + body.length);
    writeU32(out, 0, this.port);
    out.set(body, 4);
    return out;
  }

  #kill(c: Conn): void {
    if (!this.#local(c, "KILL_REQ")) return;
    if (!this.#relaxed && this.#reg.size > 0) {
      if (this.#debug) {
        this.#log(
          `registry: ${peer(c)} KILL_REQ refused: names are registered`,
        );
      }
      this.#reply(c, REPLY_NO);
      return;
    }
    this.#log(`registry: stopping on KILL_REQ from ${peer(c)}`);
    this.#pending.delete(c);
    c.done = true;
    // Stop once the reply is on its way (or after a second if it is stuck).
    this.#killTimer = setTimeout(() => void this.close(), 1000);
    c.link.writeAndClose(REPLY_OK, () => void this.close());
  }

  #stop(c: Conn, req: Uint8Array): void {
    if (!this.#local(c, "STOP_REQ")) return;
    if (!this.#relaxed) {
      return this.#bad(
        c,
        "STOP_REQ refused: start the registry with --relaxed to allow it",
      );
    }
    if (req.length <= 1) return this.#bad(c, "STOP_REQ without a name");
    let end = req.indexOf(0, 1);
    if (end < 0) end = req.length;
    let name: string | undefined;
    try {
      name = utf8.decode(req.subarray(1, end));
    } catch {
      name = undefined;
    }
    const e = name === undefined ? undefined : this.#reg.get(name);
    if (this.#debug) {
      this.#log(
        `registry: ${peer(c)} STOP_REQ ${JSON.stringify(name)} → ${
          e ? "stopped" : "no such name"
        }`,
      );
    }
    if (!e) return this.#reply(c, REPLY_NOEXIST_STOPPED);
    const other = e.conn;
    this.#unregister(e, "STOP_REQ");
    other.done = true;
    other.link.destroy();
    this.#reply(c, REPLY_STOPPED);
  }
}

function creationOf(e: Entry): number {
  return e.highestVersion >= 6 ? e.counter : (e.counter % 3) + 1;
}

function writeU32(out: Uint8Array, at: number, v: number): void {
  out[at] = v >>> 24;
  out[at + 1] = (v >>> 16) & 255;
  out[at + 2] = (v >>> 8) & 255;
  out[at + 3] = v & 255;
}

function portReply(
  nb: Uint8Array,
  port: number,
  nodeType: number,
  protocol: number,
  high: number,
  low: number,
  extra: Uint8Array,
): Uint8Array {
  const out = Buffer.alloc(14 + nb.length + extra.length);
  out[0] = PORT2_RESP;
  out[1] = 0;
  out[2] = port >>> 8;
  out[3] = port & 255;
  out[4] = nodeType;
  out[5] = protocol;
  out[6] = high >>> 8;
  out[7] = high & 255;
  out[8] = low >>> 8;
  out[9] = low & 255;
  out[10] = nb.length >>> 8;
  out[11] = nb.length & 255;
  out.set(nb, 12);
  out[12 + nb.length] = extra.length >>> 8;
  out[13 + nb.length] = extra.length & 255;
  out.set(extra, 14 + nb.length);
  return out;
}

function peer(c: Conn): string {
  return `${c.link.remoteAddress}:${c.link.remotePort}`;
}

/**
 * Starts a registry daemon and resolves once it listens. Rejects with a
 * {@linkcode RegistryError} (code `EADDRINUSE`) when the port is taken.
 *
 * @example
 * ```ts
 * import { startRegistry } from "./registry.ts";
 * import { lookupNode, registerNode } from "./registry_client.ts";
 * import assert from "node:assert/strict";
 *
 * const registry = await startRegistry({ port: 0, packetTimeoutMs: 5_000 });
 * const reg = await registerNode("ann", 9300, { port: registry.port });
 * assert.equal((await lookupNode("ann", { port: registry.port }))?.port, 9300);
 * await reg.close();
 * await registry.close();
 * ```
 */
export function startRegistry(
  options: RegistryOptions = {},
): Promise<Registry> {
  let port: number;
  try {
    port = options.port ?? defaultRegistryPort();
  } catch (e) {
    return Promise.reject(e);
  }
  const address = options.address ?? "127.0.0.1";
  if (!isPort(port, 0)) {
    return Promise.reject(
      new RegistryError(
        `registry port must be an integer from 0 to 65535, got ${port}`,
      ),
    );
  }
  const timeout = options.packetTimeoutMs ?? 60_000;
  if (!(timeout > 0)) {
    return Promise.reject(
      new RegistryError(`packetTimeoutMs must be positive, got ${timeout}`),
    );
  }
  const max = options.maxConnections ?? 16_384;
  if (!Number.isInteger(max) || max < 1) {
    return Promise.reject(
      new RegistryError(
        `maxConnections must be a positive integer, got ${max}`,
      ),
    );
  }
  const daemon = new Daemon(address, options);
  return daemon.listen(port).then(
    () => daemon,
    (err: Error & { code?: string }) => {
      throw err.code === "EADDRINUSE"
        ? new RegistryError(
          `port ${port} on ${address} is already in use — another registry or epmd runs there ` +
            `(list its names with \`epmd -port ${port} -names\`); choose another port with --port or ERL_EPMD_PORT`,
          { code: err.code, cause: err },
        )
        : new RegistryError(
          `cannot listen on ${address}:${port}: ${err.message}`,
          { code: err.code, cause: err },
        );
    },
  );
}
