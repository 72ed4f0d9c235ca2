/**
 * Clients of the registry (the EPMD protocol): register a node name, look a
 * name up, list the names. They work against noderl's registry daemon and
 * against Erlang's own `epmd`.
 *
 * @example
 * ```ts
 * import { startRegistry } from "./registry.ts";
 * import { listNames, lookupNode, registerNode } from "./registry_client.ts";
 * import assert from "node:assert/strict";
 *
 * const registry = await startRegistry({ port: 0 });
 * const options = { port: registry.port };
 * const reg = await registerNode("alex", 9100, options);
 * assert.equal((await lookupNode("alex", options))?.port, 9100);
 * assert.deepEqual(await listNames(options), [{ name: "alex", port: 9100 }]);
 * await reg.close();
 * assert.equal(await lookupNode("alex", options), undefined);
 * await registry.close();
 * ```
 *
 * @module
 */
import { connect, type Socket } from "node:net";
import process from "node:process";
import {
  ALIVE2_REQ,
  ALIVE2_RESP,
  ALIVE2_X_RESP,
  isPort,
  NAMES_REQ,
  PORT2_RESP,
  PORT_PLEASE2_REQ,
} from "./_epmd.ts";

/** Where the registry is and how long to wait for it. */
export interface RegistryClientOptions {
  /** Host of the registry. Default `"127.0.0.1"`. */
  host?: string;
  /** Port of the registry. Default: the `ERL_EPMD_PORT` environment variable, else 4369. */
  port?: number;
  /** Gives up (with a {@linkcode RegistryError}) after this many milliseconds. Default 5000. */
  timeoutMs?: number;
}

/**
 * A node name held in the registry. The registration lives exactly as long as
 * its connection to the registry: {@linkcode Registration.close} ends it, and
 * so does the registry going away or this process dying.
 */
export interface Registration {
  /** The registered name (the part before `@`). */
  readonly name: string;
  /** The distribution port registered for the name. */
  readonly port: number;
  /** The creation the registry assigned to this incarnation (never 0). */
  readonly creation: number;
  /** Unregisters the name; resolves when the registry has dropped it. */
  close(): Promise<void>;
  /** Resolves when the registry connection closes for any reason. */
  readonly closed: Promise<void>;
}

/** Where a registered node listens, as {@linkcode lookupNode} returns it. */
export interface NodeAddress {
  /** The node's distribution port. */
  port: number;
  /** Highest distribution protocol version the node speaks. */
  highestVersion: number;
  /** Lowest distribution protocol version the node speaks. */
  lowestVersion: number;
}

/**
 * A registry could not be reached, refused a request, or answered
 * something that is not the EPMD protocol. The message says which and what
 * to do.
 *
 * @example
 * ```ts
 * import { lookupNode, RegistryError } from "./registry_client.ts";
 * import assert from "node:assert/strict";
 *
 * await assert.rejects(lookupNode("a@localhost"), RegistryError);
 * ```
 */
export class RegistryError extends Error {
  /** The system error code behind it (`ECONNREFUSED`, …), if any. */
  readonly code?: string;
  /** `options.code` is the system error code, `options.cause` the error behind it. */
  constructor(message: string, options?: { code?: string; cause?: unknown }) {
    super(
      message,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = "RegistryError";
    if (options?.code !== undefined) this.code = options.code;
  }
}

/** Largest names reply read (1,000 names take about 30 KB). */
const MAX_NAMES_REPLY = 64 * 1024 * 1024;
/** Largest PORT2_RESP: 12 + a 1,020-byte name + 2 + 1,020 bytes of extra. */
const MAX_PORT_REPLY = 4096;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The registry port to use when none is given: `ERL_EPMD_PORT` if set, else
 * 4369 — as `epmd` and `erl` do.
 *
 * @example
 * ```ts
 * import { defaultRegistryPort } from "./registry_client.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(defaultRegistryPort() > 0);
 * ```
 */
export function defaultRegistryPort(): number {
  const raw = process.env.ERL_EPMD_PORT;
  if (raw === undefined || raw === "") return 4369;
  const port = Number(raw);
  if (!isPort(port, 1)) {
    throw new RegistryError(
      `ERL_EPMD_PORT must be a port number from 1 to 65535, got "${raw}": fix or unset it`,
    );
  }
  return port;
}

interface Resolved {
  host: string;
  port: number;
  timeoutMs: number;
  where: string;
}

function resolve(options: RegistryClientOptions | undefined): Resolved {
  const host = options?.host ?? "127.0.0.1";
  const port = options?.port ?? defaultRegistryPort();
  if (!isPort(port, 1)) {
    throw new RegistryError(
      `registry port must be an integer from 1 to 65535, got ${port}`,
    );
  }
  const timeoutMs = options?.timeoutMs ?? 5000;
  if (!(timeoutMs > 0)) {
    throw new RegistryError(`timeoutMs must be positive, got ${timeoutMs}`);
  }
  return { host, port, timeoutMs, where: `${host}:${port}` };
}

/** Checks a node name as the registry would; returns its UTF-8 bytes. */
function nameBytes(name: string, what: string): Uint8Array {
  if (typeof name !== "string" || name.length === 0) {
    throw new RegistryError(
      `${what}: the node name must be a non-empty string`,
    );
  }
  if (name.includes("@")) {
    throw new RegistryError(
      `${what}: pass the name without its host, "${
        name.slice(0, name.indexOf("@"))
      }" rather than "${name}"`,
    );
  }
  if (name.includes("\0")) {
    throw new RegistryError(`${what}: the node name must not contain NUL`);
  }
  let chars = 0;
  for (const _ of name) chars++;
  const bytes = encoder.encode(name);
  if (chars > 255 || bytes.length > 1020) {
    throw new RegistryError(
      `${what}: node names are at most 255 characters, "${
        name.slice(0, 20)
      }…" has ${chars}`,
    );
  }
  if (decoder.decode(bytes) !== name) {
    throw new RegistryError(`${what}: the node name is not valid Unicode text`);
  }
  return bytes;
}

function frame(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(2 + body.length);
  out[0] = body.length >>> 8;
  out[1] = body.length & 255;
  out.set(body, 2);
  return out;
}

function connectError(err: unknown, r: Resolved): RegistryError {
  const code = (err as { code?: string })?.code;
  if (code === "ECONNREFUSED") {
    return new RegistryError(
      `no registry is listening at ${r.where} (connection refused): start one with ` +
        `\`noderl-registry --port ${r.port}\` (npm: \`npx noderl-registry\`) ` +
        `or \`epmd -port ${r.port} -daemon\`, or point ERL_EPMD_PORT or the port option at a running one`,
      { code, cause: err },
    );
  }
  return new RegistryError(
    `registry at ${r.where} is unreachable: ${(err as Error)?.message ?? err}`,
    { code, cause: err },
  );
}

/**
 * Sends one request and collects the reply until the registry closes the
 * connection (what it does after PORT_PLEASE2 and NAMES).
 */
function request(
  r: Resolved,
  body: Uint8Array,
  maxReply: number,
  what: string,
): Promise<Uint8Array> {
  return new Promise((resolvePromise, reject) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    let done = false;
    const socket = connect({ host: r.host, port: r.port });
    const timer = setTimeout(() => {
      finish(
        new RegistryError(
          `registry at ${r.where} did not answer ${what} within ${r.timeoutMs} ms: ` +
            `check that a registry (not another service) listens there`,
          { code: "ETIMEDOUT" },
        ),
      );
    }, r.timeoutMs);
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else {
        resolvePromise(
          chunks.length === 1 ? chunks[0] : concat(chunks, size),
        );
      }
    };
    socket.on("connect", () => socket.write(frame(body)));
    socket.on("data", (chunk: Uint8Array) => {
      size += chunk.length;
      if (size > maxReply) {
        finish(
          new RegistryError(
            `registry at ${r.where} sent more than ${maxReply} bytes for ${what}: it is not a registry`,
          ),
        );
        return;
      }
      chunks.push(chunk);
    });
    socket.on("error", (err) => {
      finish(size === 0 ? connectError(err, r) : undefined);
    });
    socket.on("close", () => finish());
  });
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * Registers `name` (the part before `@`) with distribution port `port`
 * (ALIVE2_REQ → ALIVE2_X_RESP). The name stays registered while the returned
 * {@linkcode Registration} is open. Registries accept registrations only over
 * loopback.
 *
 * Throws {@linkcode RegistryError} when the name is taken, the registry is
 * unreachable, or it does not answer within `timeoutMs`.
 *
 * @example
 * ```ts
 * import { startRegistry } from "./registry.ts";
 * import { registerNode, RegistryError } from "./registry_client.ts";
 * import assert from "node:assert/strict";
 *
 * const registry = await startRegistry({ port: 0 });
 * const reg = await registerNode("kate", 9101, { port: registry.port });
 * assert.ok(reg.creation > 0);
 * // The name is taken while `reg` holds it.
 * await assert.rejects(registerNode("kate", 9102, { port: registry.port }), RegistryError);
 * await reg.close();
 * await registry.close();
 * ```
 */
export function registerNode(
  name: string,
  port: number,
  options?: RegistryClientOptions & { hidden?: boolean },
): Promise<Registration> {
  let r: Resolved, nb: Uint8Array;
  try {
    r = resolve(options);
    nb = nameBytes(name, "registerNode");
    if (!isPort(port, 1)) {
      throw new RegistryError(
        `registerNode: the distribution port must be an integer from 1 to 65535, got ${port}`,
      );
    }
  } catch (e) {
    return Promise.reject(e);
  }
  const body = new Uint8Array(13 + nb.length);
  body[0] = ALIVE2_REQ;
  body[1] = port >>> 8;
  body[2] = port & 255;
  body[3] = options?.hidden ? 72 : 77; // 72 hidden node, 77 normal node
  body[4] = 0; // protocol: TCP/IPv4
  body[5] = 0;
  body[6] = 6; // highest version
  body[7] = 0;
  body[8] = 6; // lowest version
  body[9] = nb.length >>> 8;
  body[10] = nb.length & 255;
  body.set(nb, 11);
  // extra: length 0 (the last two bytes are already 0)

  return new Promise((resolvePromise, reject) => {
    const socket: Socket = connect({ host: r.host, port: r.port });
    let settled = false;
    let reply = new Uint8Array(0);
    let markClosed!: () => void;
    const closed = new Promise<void>((res) => (markClosed = res));
    const timer = setTimeout(() => {
      fail(
        new RegistryError(
          `registry at ${r.where} did not answer the registration of "${name}" within ${r.timeoutMs} ms: ` +
            `check that a registry (not another service) listens there`,
          { code: "ETIMEDOUT" },
        ),
      );
    }, r.timeoutMs);
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    const onData = (chunk: Uint8Array) => {
      if (settled) return; // the registry sends nothing after its reply
      const all = new Uint8Array(reply.length + chunk.length);
      all.set(reply);
      all.set(chunk, reply.length);
      reply = all;
      const tag = reply[0];
      const need = tag === ALIVE2_X_RESP ? 6 : tag === ALIVE2_RESP ? 4 : -1;
      if (need < 0) {
        fail(
          new RegistryError(
            `registry at ${r.where} answered the registration with tag ${tag}, not ALIVE2_X_RESP: it is not a registry`,
          ),
        );
        return;
      }
      if (reply.length < Math.min(need, 2)) return;
      if (reply[1] !== 0) {
        fail(
          new RegistryError(
            `the name "${name}" is already registered at ${r.where} (or was refused): ` +
              `choose another name, or stop the node that holds it`,
            { code: "EADDRINUSE" },
          ),
        );
        return;
      }
      if (reply.length < need) return;
      const creation = need === 6
        ? ((reply[2] << 24) | (reply[3] << 16) | (reply[4] << 8) | reply[5]) >>>
          0
        : (reply[2] << 8) | reply[3];
      settled = true;
      clearTimeout(timer);
      socket.setKeepAlive(true, 10_000);
      resolvePromise(
        new OpenRegistration(name, port, creation, socket, closed, r.timeoutMs),
      );
    };
    socket.on("connect", () => socket.write(frame(body)));
    socket.on("data", onData);
    socket.on("error", (err) => {
      if (!settled) fail(connectError(err, r));
    });
    socket.on("close", () => {
      markClosed();
      if (!settled) {
        fail(
          new RegistryError(
            `registry at ${r.where} closed the connection without accepting "${name}": ` +
              `registries accept registrations only over loopback (127.0.0.1), and only valid names`,
          ),
        );
      }
    });
  });
}

class OpenRegistration implements Registration {
  readonly name: string;
  readonly port: number;
  readonly creation: number;
  readonly closed: Promise<void>;
  #socket: Socket;
  #timeoutMs: number;
  constructor(
    name: string,
    port: number,
    creation: number,
    socket: Socket,
    closed: Promise<void>,
    timeoutMs: number,
  ) {
    this.name = name;
    this.port = port;
    this.creation = creation;
    this.#socket = socket;
    this.closed = closed;
    this.#timeoutMs = timeoutMs;
  }

  close(): Promise<void> {
    const socket = this.#socket;
    if (!socket.destroyed) {
      // Half-close and wait for the registry's own close: by then it has
      // dropped the name. Give up waiting after the timeout.
      socket.end();
      const timer = setTimeout(() => socket.destroy(), this.#timeoutMs);
      this.closed.then(() => clearTimeout(timer));
    }
    return this.closed;
  }
}

/**
 * Looks up where the node `name` (the part before `@`) listens
 * (PORT_PLEASE2_REQ → PORT2_RESP); `undefined` when no such name is
 * registered.
 *
 * @example
 * ```ts
 * import { startRegistry } from "./registry.ts";
 * import { lookupNode, registerNode } from "./registry_client.ts";
 * import assert from "node:assert/strict";
 *
 * const registry = await startRegistry({ port: 0 });
 * const reg = await registerNode("bob", 9103, { port: registry.port });
 * assert.deepEqual(await lookupNode("bob", { port: registry.port }), {
 *   port: 9103,
 *   highestVersion: 6,
 *   lowestVersion: 6,
 * });
 * assert.equal(await lookupNode("nobody", { port: registry.port }), undefined);
 * await reg.close();
 * await registry.close();
 * ```
 */
export async function lookupNode(
  name: string,
  options?: RegistryClientOptions,
): Promise<NodeAddress | undefined> {
  const r = resolve(options);
  const nb = nameBytes(name, "lookupNode");
  const body = new Uint8Array(1 + nb.length);
  body[0] = PORT_PLEASE2_REQ;
  body.set(nb, 1);
  const reply = await request(
    r,
    body,
    MAX_PORT_REPLY,
    `the lookup of "${name}"`,
  );
  if (reply.length >= 2 && reply[0] === PORT2_RESP) {
    if (reply[1] !== 0) return undefined;
    if (reply.length >= 10) {
      return {
        port: (reply[2] << 8) | reply[3],
        highestVersion: (reply[6] << 8) | reply[7],
        lowestVersion: (reply[8] << 8) | reply[9],
      };
    }
  }
  if (reply.length === 0) {
    throw new RegistryError(
      `registry at ${r.where} closed the connection without answering the lookup of "${name}"`,
    );
  }
  throw new RegistryError(
    `registry at ${r.where} sent a malformed answer (${reply.length} bytes, tag ${
      reply[0]
    }) ` +
      `to the lookup of "${name}": it is not a registry`,
  );
}

/**
 * Lists the registered names and their ports (NAMES_REQ), as `epmd -names`
 * shows them.
 *
 * @example
 * ```ts
 * import { startRegistry } from "./registry.ts";
 * import { listNames } from "./registry_client.ts";
 * import assert from "node:assert/strict";
 *
 * const registry = await startRegistry({ port: 0 });
 * assert.deepEqual(await listNames({ port: registry.port }), []);
 * await registry.close();
 * ```
 */
export async function listNames(
  options?: RegistryClientOptions,
): Promise<Array<{ name: string; port: number }>> {
  const r = resolve(options);
  const reply = await request(
    r,
    new Uint8Array([NAMES_REQ]),
    MAX_NAMES_REPLY,
    "the names request",
  );
  if (reply.length < 4) {
    throw new RegistryError(
      `registry at ${r.where} sent ${reply.length} bytes for the names request, expected at least 4: it is not a registry`,
    );
  }
  const out: Array<{ name: string; port: number }> = [];
  const text = decoder.decode(reply.subarray(4));
  for (const line of text.split("\n")) {
    const m = /^name (.+) at port (\d+)$/.exec(line);
    if (m) out.push({ name: m[1], port: Number(m[2]) });
  }
  return out;
}
