/**
 * Helpers for the registry tests and bench: raw EPMD exchanges over real
 * sockets, free ports, the real `epmd` daemon, and the registry script run
 * as a child process of the current runtime.
 *
 * @module
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { connect, createServer } from "node:net";
import { networkInterfaces } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { setTimeout as sleep } from "node:timers/promises";

const here = dirname(fileURLToPath(import.meta.url));
/** Path of the registry daemon's command line, `node/registry_main.ts`. */
export const registryScript: string = join(
  here,
  "..",
  "node",
  "registry_main.ts",
);

function which(cmd: string): string | undefined {
  try {
    return execFileSync("sh", ["-c", `command -v ${cmd}`], {
      encoding: "utf8",
    }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Path of Erlang's `epmd`, or undefined when it is not installed. */
export const epmdPath: string | undefined = which("epmd");
/** The skip reason for tests that need `epmd`, or false. */
export const noEpmd: string | false = epmdPath
  ? false
  : "epmd not found: install erlang-base (CI does) to compare with the real epmd";

/** What came back from one raw exchange. */
export interface RawResult {
  /** Every byte the daemon sent. */
  data: Uint8Array;
  /** True when the daemon closed the connection (or reset it). */
  closed: boolean;
  /** The socket error code, if any (ECONNRESET, ECONNREFUSED, …). */
  error?: string;
}

/** A 2-byte length prefix followed by `body`. */
export function framed(body: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(2 + body.length);
  out[0] = body.length >>> 8;
  out[1] = body.length & 255;
  out.set(body, 2);
  return out;
}

/** The bytes of an ALIVE2_REQ body. */
export function alive2(
  name: string | Uint8Array,
  port: number,
  options: {
    nodeType?: number;
    high?: number;
    low?: number;
    extra?: Uint8Array;
  } = {},
): Uint8Array {
  const nb = typeof name === "string" ? new TextEncoder().encode(name) : name;
  const extra = options.extra ?? new Uint8Array(0);
  const high = options.high ?? 6, low = options.low ?? 6;
  return new Uint8Array([
    120,
    port >>> 8,
    port & 255,
    options.nodeType ?? 77,
    0,
    high >>> 8,
    high & 255,
    low >>> 8,
    low & 255,
    nb.length >>> 8,
    nb.length & 255,
    ...nb,
    extra.length >>> 8,
    extra.length & 255,
    ...extra,
  ]);
}

/**
 * Connects, writes `bytes` (as given: frame them with {@linkcode framed}),
 * and collects what comes back until the daemon closes the connection or
 * `waitMs` passes; then closes the socket.
 */
export function exchange(
  port: number,
  bytes: Uint8Array,
  options: {
    host?: string;
    localAddress?: string;
    waitMs?: number;
    /** Half-close after writing (the daemon sees end of input). */
    end?: boolean;
  } = {},
): Promise<RawResult> {
  return new Promise((resolve) => {
    const chunks: number[] = [];
    let done = false;
    const socket = connect({
      host: options.host ?? "127.0.0.1",
      port,
      localAddress: options.localAddress,
    });
    const finish = (closed: boolean, error?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ data: new Uint8Array(chunks), closed, error });
    };
    const timer = setTimeout(() => finish(false), options.waitMs ?? 3000);
    socket.on("connect", () => {
      if (bytes.length) socket.write(bytes);
      if (options.end) socket.end();
    });
    socket.on("data", (d: Uint8Array) => {
      for (const b of d) chunks.push(b);
    });
    socket.on("error", (e: Error & { code?: string }) => finish(true, e.code));
    socket.on("close", () => finish(true));
  });
}

/** A raw connection that stays open: for registrations. */
export interface Held {
  /** What the daemon sent so far. */
  data(): Uint8Array;
  /** Resolves when at least `n` bytes arrived (or the socket closed). */
  waitFor(n: number, timeoutMs?: number): Promise<Uint8Array>;
  /** Writes more bytes. */
  write(bytes: Uint8Array): void;
  /** Resolves when the daemon closed the connection. */
  readonly closed: Promise<void>;
  /** Closes it from this side. */
  close(): Promise<void>;
}

/** Opens a connection, writes `bytes` and keeps it open. */
export function hold(
  port: number,
  bytes: Uint8Array,
  host = "127.0.0.1",
): Held {
  const socket = connect({ host, port });
  let buf: number[] = [];
  let waiters: Array<() => void> = [];
  let isClosed = false;
  const wake = () => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  const closed = new Promise<void>((res) =>
    socket.on("close", () => {
      isClosed = true;
      wake();
      res();
    })
  );
  socket.on("error", () => {});
  socket.on("data", (d: Uint8Array) => {
    buf = buf.concat(Array.from(d));
    wake();
  });
  socket.on("connect", () => socket.write(bytes));
  return {
    data: () => new Uint8Array(buf),
    async waitFor(n, timeoutMs = 3000) {
      const deadline = Date.now() + timeoutMs;
      while (buf.length < n && !isClosed && Date.now() < deadline) {
        await new Promise<void>((res) => {
          const t = setTimeout(res, Math.max(1, deadline - Date.now()));
          waiters.push(() => {
            clearTimeout(t);
            res();
          });
        });
      }
      return new Uint8Array(buf);
    },
    write: (b) => void socket.write(b),
    closed,
    close() {
      socket.destroy();
      return closed;
    },
  };
}

/** A TCP port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on `port`. */
export async function waitForPort(
  port: number,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((res) => {
      const s = connect({ host: "127.0.0.1", port });
      s.on("connect", () => {
        s.destroy();
        res(true);
      });
      s.on("error", () => res(false));
    });
    if (ok) return;
    if (Date.now() > deadline) {
      throw new Error(
        `nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`,
      );
    }
    await sleep(50);
  }
}

/** A child process with its collected output. */
export interface Child {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or signal name) once it exits. */
  exited: Promise<number | string>;
  /** Resolves when stdout contains `text`. */
  waitForOutput(text: string | RegExp, timeoutMs?: number): Promise<string>;
  /** Kills it (SIGKILL unless told otherwise) and waits for the exit. */
  kill(signal?: "SIGKILL" | "SIGTERM" | "SIGINT"): Promise<number | string>;
}

/** Spawns `cmd` with `args`, collecting its output. */
export function start(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Child {
  const proc = spawn(cmd, args, {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "", err = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<number | string>((res) => {
    proc.on("error", (e) => {
      err += String(e);
      res("error");
    });
    proc.on("close", (code, signal) => res(code ?? signal ?? "unknown"));
  });
  let exitedNow = false;
  exited.then(() => (exitedNow = true));
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    exited,
    async waitForOutput(text, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      const seen = () =>
        typeof text === "string" ? out.includes(text) : text.test(out);
      while (!seen()) {
        if (exitedNow) {
          throw new Error(
            `${cmd} exited before printing ${text}\nstdout: ${out}\nstderr: ${err}`,
          );
        }
        if (Date.now() > deadline) {
          throw new Error(
            `${cmd} did not print ${text} within ${timeoutMs} ms\nstdout: ${out}\nstderr: ${err}`,
          );
        }
        await sleep(20);
      }
      return out;
    },
    async kill(signal: "SIGKILL" | "SIGTERM" | "SIGINT" = "SIGKILL") {
      if (!exitedNow) proc.kill(signal);
      return await exited;
    },
  };
}

/** Whether this code runs under Deno. */
export const isDeno: boolean = "Deno" in globalThis;

/** The command and leading arguments that run a `.ts` script in this runtime. */
export function tsRunner(): [string, string[]] {
  if (isDeno) return [process.execPath, ["run", "-A"]];
  const imports: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--import" && i + 1 < argv.length) {
      imports.push("--import", argv[++i]);
    } else if (argv[i].startsWith("--import=")) imports.push(argv[i]);
  }
  return [process.execPath, imports.length ? imports : ["--import", "tsx"]];
}

/** Runs `node/registry_main.ts` with `args` in this runtime. */
export function startRegistryScript(
  args: string[],
  env: Record<string, string> = {},
): Child {
  const [cmd, pre] = tsRunner();
  return start(cmd, [...pre, registryScript, ...args], env);
}

/** Starts a real `epmd -port P` (never on 4369) and waits until it listens. */
export async function startEpmd(extra: string[] = []): Promise<{
  port: number;
  child: Child;
}> {
  if (!epmdPath) throw new Error("epmd not found");
  for (let attempt = 0;; attempt++) {
    const port = await freePort();
    const child = start(epmdPath, ["-port", String(port), ...extra]);
    try {
      await waitForPort(port, 5000);
      return { port, child };
    } catch (e) {
      await child.kill();
      if (attempt >= 2) throw e;
    }
  }
}

/** An IPv4 address of this host that is not loopback, if there is one. */
export function nonLoopbackAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family === "IPv4" && !a.internal) return a.address;
    }
  }
  return undefined;
}

/** Text of bytes, one char per byte (for comparing replies). */
export function latin1(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}
