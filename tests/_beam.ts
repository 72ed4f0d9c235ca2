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
