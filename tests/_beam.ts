/**
 * Helpers for tests that use the real BEAM as the oracle: find `erl`,
 * compile the Erlang helper modules in `tests/beam/`, run `erl` commands.
 *
 * @module
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import process from "node:process";

const here = dirname(fileURLToPath(import.meta.url));

function which(cmd: string): string | undefined {
  try {
    return execFileSync("sh", ["-c", `command -v ${cmd}`], {
      encoding: "utf8",
    }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Path of `erl`, or undefined when the BEAM is not installed. */
export const erlPath: string | undefined = which("erl");
/** Path of `elixir`, or undefined. */
export const elixirPath: string | undefined = which("elixir");

/** The skip reason for BEAM tests, or false when `erl` is present. */
export const noErl: string | false = erlPath
  ? false
  : "erl not found: install erlang-base erlang-nox (CI does) to run BEAM interop tests";
/** The skip reason for Elixir tests, or false when `elixir` is present. */
export const noElixir: string | false = elixirPath
  ? false
  : "elixir not found: install elixir (CI does) to run Elixir interop tests";

let compiled: string | undefined;

/** Compiles `tests/beam/*.erl` once per process; returns the `-pa` dir. */
export function beamDir(): string {
  if (compiled) return compiled;
  const out = mkdtempSync(join(tmpdir(), "noderl-beam-"));
  const src = join(here, "beam");
  const files = readdirSync(src).filter((f) => f.endsWith(".erl")).map((f) =>
    join(src, f)
  );
  execFileSync("erlc", ["-o", out, ...files], { stdio: "pipe" });
  compiled = out;
  return out;
}

/** Result of {@linkcode runErl}. */
export interface ErlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `erl -noshell -pa <helpers> -eval <code>` (plus `args`) and returns
 * its output. `code` must end the VM (e.g. with `halt()`); the process is
 * killed after `timeoutMs`.
 */
export function runErl(
  code: string,
  options: {
    args?: string[];
    env?: Record<string, string>;
    timeoutMs?: number;
  } = {},
): Promise<ErlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      erlPath ?? "erl",
      [
        "-noshell",
        "-start_epmd",
        "false",
        "-pa",
        beamDir(),
        ...(options.args ?? []),
        "-eval",
        code,
      ],
      { env: { ...process.env, ...options.env }, stdio: "pipe" },
    );
    let stdout = "", stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(
          `erl did not finish within ${
            options.timeoutMs ?? 30000
          } ms\nstdout: ${stdout}\nstderr: ${stderr}`,
        ),
      );
    }, options.timeoutMs ?? 30000);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A running BEAM node started by {@linkcode startBeamNode}. */
export interface BeamNode {
  /** Its full node name. */
  name: string;
  /** Everything it printed so far. */
  output(): string;
  /** Waits until its output matches `re` (or fails after `timeoutMs`). */
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
  /** SIGKILL, and wait for the process to be gone. */
  kill(): Promise<void>;
  /** Stop it (SIGTERM, then SIGKILL) and wait. */
  stop(): Promise<void>;
  /** The OS process id. */
  pid: number;
}

const children = new Set<import("node:child_process").ChildProcess>();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

/**
 * Starts `erl` (or `elixir`) as a distributed node that uses our registry
 * (`ERL_EPMD_PORT`), never a real epmd daemon. Resolves once it printed
 * `ready`.
 */
export async function startBeamNode(options: {
  name: string;
  cookie: string;
  registryPort: number;
  elixir?: string;
  timeoutMs?: number;
}): Promise<BeamNode> {
  const env = { ...process.env, ERL_EPMD_PORT: String(options.registryPort) };
  const child = options.elixir !== undefined
    ? spawn(elixirPath ?? "elixir", [
      "--sname",
      options.name,
      "--cookie",
      options.cookie,
      "--erl",
      `-start_epmd false -pa ${beamDir()}`,
      "-e",
      `${options.elixir}\nIO.puts("ready #{node()}")\nProcess.sleep(:infinity)`,
    ], { env, stdio: "pipe" })
    : spawn(erlPath ?? "erl", [
      "-noshell",
      "-sname",
      options.name,
      "-setcookie",
      options.cookie,
      "-start_epmd",
      "false",
      "-pa",
      beamDir(),
      "-eval",
      "noderl_peer:ready().",
    ], { env, stdio: "pipe" });
  children.add(child);
  let out = "";
  const waiters = new Set<() => void>();
  const onData = (d: Uint8Array) => {
    out += new TextDecoder().decode(d);
    for (const w of waiters) w();
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const exited = new Promise<void>((r) =>
    child.on("exit", () => {
      children.delete(child);
      for (const w of waiters) w();
      r();
    })
  );
  const waitFor = (re: RegExp, timeoutMs = 20_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (re.test(out)) {
          done();
          resolve();
        } else if (child.exitCode !== null || child.signalCode !== null) {
          done();
          reject(
            new Error(`${options.name} exited before printing ${re}:\n${out}`),
          );
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `${options.name} did not print ${re} within ${timeoutMs} ms:\n${out}`,
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  const node: BeamNode = {
    name: options.name,
    pid: child.pid!,
    output: () => out,
    waitFor,
    kill: async () => {
      child.kill("SIGKILL");
      await exited;
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 3000);
        await exited;
        clearTimeout(t);
      }
    },
  };
  try {
    await waitFor(/ready /, options.timeoutMs ?? 30_000);
  } catch (e) {
    await node.kill();
    throw e;
  }
  return node;
}
