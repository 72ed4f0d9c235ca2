/**
 * Helpers for tests that use the real BEAM as the oracle: find `erl`,
 * compile the Erlang helper modules in `tests/beam/`, run `erl` commands,
 * start BEAM nodes.
 *
 * The BEAM under test is the host's (`erl`, `elixir` on the PATH) or, when
 * `NODERL_BEAM_ROOT` names a directory, the one installed in that Debian
 * root, run with `chroot ROOT erl …` (the test command, `tests/run.mjs`,
 * sets it for each OTP version of its matrix; see `NODERL_OTP`). A chroot
 * shares the host's network, so its nodes reach our registry through
 * `ERL_EPMD_PORT`; files they read (the compiled helpers, the `.ex` files,
 * term files) are copied under `ROOT/tmp`, and their processes are host
 * processes, killed by pid like any other child.
 *
 * @module
 */
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
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

/**
 * The Debian root (a chroot) whose BEAM the tests run against, from
 * `NODERL_BEAM_ROOT`; undefined for the host's.
 */
export const beamRoot: string | undefined = process.env.NODERL_BEAM_ROOT
  ? resolve(process.env.NODERL_BEAM_ROOT)
  : undefined;

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

/** Why the chroot cannot be used, or undefined when it can (or none is set). */
const rootProblem: string | undefined = beamRoot === undefined
  ? undefined
  : !existsSync(join(beamRoot, "usr", "bin", "erl"))
  ? `NODERL_BEAM_ROOT=${beamRoot} has no usr/bin/erl: build it with .ci/run, or debootstrap --variant=minbase --include=erlang-base,erlang-nox,erlang-src,elixir trixie ${beamRoot}`
  : !isRoot
  ? `NODERL_BEAM_ROOT=${beamRoot}: running a BEAM in a chroot needs root`
  : undefined;

function find(cmd: string): string | undefined {
  if (beamRoot === undefined) return which(cmd);
  if (rootProblem !== undefined) return undefined;
  const inside = `/usr/bin/${cmd}`;
  return existsSync(join(beamRoot, inside)) ? inside : undefined;
}

/** Path of `erl` (inside the chroot when there is one), or undefined when the BEAM is not installed. */
export const erlPath: string | undefined = find("erl");
/** Path of `elixir` (inside the chroot when there is one), or undefined. */
export const elixirPath: string | undefined = find("elixir");

/** The skip reason for BEAM tests, or false when `erl` is present. */
export const noErl: string | false = erlPath ? false : rootProblem ??
  "erl not found: install erlang-base erlang-nox (CI does) to run BEAM interop tests";
/** The skip reason for Elixir tests, or false when `elixir` is present. */
export const noElixir: string | false = elixirPath ? false : rootProblem ??
  "elixir not found: install elixir (CI does) to run Elixir interop tests";

/**
 * The OTP release of the BEAM under test (`"25"`, `"27"` …), read from its
 * installation; undefined without one.
 */
export const otpRelease: string | undefined = (() => {
  if (!erlPath) return undefined;
  const lib = beamRoot === undefined
    ? join(
      dirname(
        execFileSync("readlink", ["-f", erlPath], {
          encoding: "utf8",
        }).trim(),
      ),
      "..", // …/lib/erlang/bin/erl → …/lib/erlang
    )
    : join(beamRoot, "usr", "lib", "erlang");
  try {
    const rel = readdirSync(join(lib, "releases")).find((d) => /^\d+$/.test(d));
    return rel;
  } catch {
    return undefined;
  }
})();

/**
 * The command line that runs `cmd` (`erl`, `elixir`, `erlc`, `epmd`) of the
 * BEAM under test: `[cmd, args]` on the host, `["chroot", [root, cmd, …args]]`
 * for a chroot.
 */
export function beamCommand(
  cmd: string,
  args: readonly string[],
): [string, string[]] {
  if (beamRoot === undefined) return [which(cmd) ?? cmd, [...args]];
  return ["chroot", [beamRoot, `/usr/bin/${cmd}`, ...args]];
}

/** `[cmd, args]` run through `prefix` (`[prefix0, [...prefix, cmd, ...args]]`). */
function prefixed(
  prefix: string[] | undefined,
  [cmd, args]: [string, string[]],
): [string, string[]] {
  if (!prefix?.length) return [cmd, args];
  return [prefix[0], [...prefix.slice(1), cmd, ...args]];
}

/** A directory both the tests and the BEAM under test can read and write. */
export interface BeamTempDir {
  /** Its path here. */
  host: string;
  /** Its path as the BEAM sees it (the same without a chroot). */
  beam: string;
  /** Removes it. */
  remove(): void;
}

/** Makes a temporary directory the BEAM under test can reach (under `ROOT/tmp` for a chroot). */
export function beamTempDir(prefix: string): BeamTempDir {
  const base = beamRoot === undefined ? tmpdir() : join(beamRoot, "tmp");
  const host = mkdtempSync(join(base, prefix));
  const beam = beamRoot === undefined ? host : host.slice(beamRoot.length);
  return {
    host,
    beam,
    remove: () => rmSync(host, { recursive: true, force: true }),
  };
}

/**
 * Builds `files` (host paths) once per version of their content and of
 * the BEAM under test: `compile(dir)` fills a fresh directory with them
 * (copied under `src/`), which then becomes `<tmp>/<prefix><hash>` (under
 * the chroot's `/tmp`), shared by every later test process; a build that
 * loses a race to another is dropped. Returns that directory as the BEAM
 * sees it.
 */
function cachedBuild(
  prefix: string,
  files: string[],
  compile: (dir: BeamTempDir, sources: string[]) => void,
): string {
  const hash = createHash("sha256");
  hash.update(`${beamRoot ?? "host"}\0${erlPath}\0${otpRelease}\0`);
  for (const f of files) {
    hash.update(`${basename(f)}\0`).update(readFileSync(f));
  }
  const base = beamRoot === undefined ? tmpdir() : join(beamRoot, "tmp");
  const final = join(base, `${prefix}${hash.digest("hex").slice(0, 16)}`);
  const beamSide = beamRoot === undefined
    ? final
    : final.slice(beamRoot.length);
  if (existsSync(join(final, ".built"))) return beamSide;
  const dir = beamTempDir(`${prefix}build-`);
  try {
    mkdirSync(join(dir.host, "src"));
    for (const f of files) copyFileSync(f, join(dir.host, "src", basename(f)));
    compile(dir, files.map((f) => `${dir.beam}/src/${basename(f)}`));
    writeFileSync(join(dir.host, ".built"), "");
    try {
      renameSync(dir.host, final);
    } catch (e) {
      if (!existsSync(join(final, ".built"))) throw e; // else: built meanwhile
    }
  } finally {
    dir.remove();
  }
  return beamSide;
}

let compiled: string | undefined;

/**
 * Compiles `tests/beam/*.erl` with the BEAM under test, next to copies of
 * the `.ex` helpers (once per version of them: see `cachedBuild`); returns
 * the `-pa` dir as the BEAM sees it.
 */
export function beamDir(): string {
  if (compiled) return compiled;
  const src = join(here, "beam");
  const names = readdirSync(src).sort();
  const erls = names.filter((f) => f.endsWith(".erl"));
  const exs = names.filter((f) => f.endsWith(".ex"));
  compiled = cachedBuild(
    "noderl-beam-",
    [...erls, ...exs].map((f) => join(src, f)),
    (dir, sources) => {
      for (const f of exs) copyFileSync(join(src, f), join(dir.host, f));
      const [cmd, args] = beamCommand("erlc", [
        "-o",
        dir.beam,
        ...sources.filter((f) => f.endsWith(".erl")),
      ]);
      execFileSync(cmd, args, { stdio: "pipe" });
    },
  );
  return compiled;
}

/**
 * Compiles the `.ex` files of `srcDir` (e.g. `tests/beam/kv`) with the
 * `elixirc` of the BEAM under test (once per version of them); returns the
 * directory of the `.beam` files as the BEAM sees it (for
 * {@linkcode startBeamNode}'s `paths`).
 */
export function compileElixir(srcDir: string): string {
  const names = readdirSync(srcDir).filter((f) => f.endsWith(".ex")).sort();
  return cachedBuild(
    "noderl-ex-",
    names.map((f) => join(srcDir, f)),
    (dir, sources) => {
      const [cmd, args] = beamCommand("elixirc", [
        "--ignore-module-conflict",
        "-o",
        dir.beam,
        ...sources,
      ]);
      execFileSync(cmd, args, { stdio: "pipe" });
    },
  );
}

/** The path, as the BEAM sees it, of a helper file of `tests/beam/` (e.g. `noderl_tasks.ex`). */
export function beamHelper(name: string): string {
  return `${beamDir()}/${name}`;
}

// Every BEAM process a test starts, killed by pid if the test process
// exits first.
const children = new Set<import("node:child_process").ChildProcess>();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

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
    const [cmd, args] = beamCommand("erl", [
      "-noshell",
      "-start_epmd",
      "false",
      "-pa",
      beamDir(),
      ...(options.args ?? []),
      "-eval",
      code,
    ]);
    const child = spawn(cmd, args, {
      env: { ...process.env, ...options.env },
      stdio: "pipe",
    });
    children.add(child);
    child.on("exit", () => children.delete(child));
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
  /** More code paths (`-pa`), as the BEAM sees them. */
  paths?: string[];
  timeoutMs?: number;
  /** Extra `erl` arguments (e.g. `-proto_dist inet_tls …`). */
  args?: string[];
  /** Start with `-name` (long names) rather than `-sname`. */
  longNames?: boolean;
  /** Run the BEAM through this command (e.g. `ip netns exec NS`). */
  prefix?: string[];
}): Promise<BeamNode> {
  const pa = [beamDir(), ...(options.paths ?? [])];
  const env = { ...process.env, ERL_EPMD_PORT: String(options.registryPort) };
  const child = options.elixir !== undefined
    ? spawn(
      ...beamCommand("elixir", [
        "--sname",
        options.name,
        "--cookie",
        options.cookie,
        "--erl",
        `-start_epmd false -pa ${pa.join(" ")}`,
        "-e",
        `${options.elixir}\nIO.puts("ready #{node()}")\nProcess.sleep(:infinity)`,
      ]),
      { env, stdio: "pipe" },
    )
    : spawn(
      ...prefixed(
        options.prefix,
        beamCommand("erl", [
          "-noshell",
          options.longNames ? "-name" : "-sname",
          options.name,
          "-setcookie",
          options.cookie,
          "-start_epmd",
          "false",
          "-pa",
          ...pa,
          ...(options.args ?? []),
          "-eval",
          "noderl_peer:ready().",
        ]),
      ),
      { env, stdio: "pipe" },
    );
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
