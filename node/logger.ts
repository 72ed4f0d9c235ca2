/**
 * One logger per node: levels as Erlang's `logger` has them, a sink (the
 * node's `log` option, else standard error), and debug traces by category
 * — `connection`, `handshake`, `registry`, `process` — turned on with the
 * `debug` option, `NODERL_DEBUG` or Node's `NODE_DEBUG=noderl`.
 *
 * @example
 * ```ts
 * import { Logger } from "./logger.ts";
 * import assert from "node:assert/strict";
 *
 * const lines: string[] = [];
 * const logger = new Logger({
 *   level: "warning",
 *   sink: (message, level) => lines.push(`${level}: ${message}`),
 *   debug: ["connection"],
 * });
 * logger.error("the sky fell");
 * logger.info("not shown: below warning");
 * logger.trace("connection", "connected to kate@localhost"); // a debug trace, shown: its category is on
 * logger.trace("registry", "not shown: registry traces are off");
 * assert.deepEqual(lines, [
 *   "error: the sky fell",
 *   "debug: connection: connected to kate@localhost",
 * ]);
 * ```
 *
 * @module
 */
import process from "node:process";

/** Severity levels, most severe first (Erlang's `logger` levels). */
export type LogLevel =
  | "emergency"
  | "alert"
  | "critical"
  | "error"
  | "warning"
  | "notice"
  | "info"
  | "debug";

/** What a debug trace is about. */
export type DebugCategory = "connection" | "handshake" | "registry" | "process";

/** Every debug category, as `NODERL_DEBUG=all` turns them on. */
export const DEBUG_CATEGORIES: readonly DebugCategory[] = [
  "connection",
  "handshake",
  "registry",
  "process",
];

/** Where log messages go: the text and its level. */
export type LogSink = (message: string, level: LogLevel) => void;

/** Options of {@linkcode Logger}. */
export interface LoggerOptions {
  /**
   * Messages below this level are dropped; `"none"` drops everything (the
   * quiet option for tests).
   * @default "info"
   */
  level?: LogLevel | "none";
  /**
   * Where messages go.
   * @default standard error, each line prefixed with `[noderl NAME] LEVEL:`
   */
  sink?: LogSink;
  /** The node's name, for the default sink's prefix. */
  name?: string;
  /**
   * Debug traces to turn on: `true` for all, a list of categories, or a
   * string as `NODERL_DEBUG` takes it (`"connection,handshake"`, `"all"`).
   * @default from `NODERL_DEBUG`, else `NODE_DEBUG` containing `noderl`
   */
  debug?: boolean | string | readonly DebugCategory[];
}

const SEVERITY: Record<LogLevel, number> = {
  emergency: 0,
  alert: 1,
  critical: 2,
  error: 3,
  warning: 4,
  notice: 5,
  info: 6,
  debug: 7,
};

/** Whether `x` names a level (or `"none"`). */
export function isLogLevel(x: unknown): x is LogLevel | "none" {
  return x === "none" || (typeof x === "string" && Object.hasOwn(SEVERITY, x));
}

function env(name: string): string | undefined {
  try {
    return process.env[name];
  } catch {
    return undefined; // Deno without --allow-env
  }
}

/**
 * The debug categories a setting names: `"1"`, `"true"`, `"all"`, `"*"`
 * mean all; otherwise a comma- or space-separated list. Unknown names are
 * ignored.
 */
export function parseDebug(
  setting: boolean | string | readonly string[] | undefined,
): Set<DebugCategory> {
  if (setting === undefined || setting === false) return new Set();
  if (setting === true) return new Set(DEBUG_CATEGORIES);
  const words = typeof setting === "string"
    ? setting.split(/[\s,]+/).filter(Boolean)
    : [...setting];
  const out = new Set<DebugCategory>();
  for (const w of words.map((w) => w.toLowerCase())) {
    if (w === "1" || w === "true" || w === "all" || w === "*") {
      return new Set(DEBUG_CATEGORIES);
    }
    if ((DEBUG_CATEGORIES as readonly string[]).includes(w)) {
      out.add(w as DebugCategory);
    }
  }
  return out;
}

/**
 * The debug categories the environment turns on: `NODERL_DEBUG`, else all
 * of them when `NODE_DEBUG` names `noderl` (Node's convention for debug
 * output of a module).
 */
export function debugFromEnv(): Set<DebugCategory> {
  const own = env("NODERL_DEBUG");
  if (own !== undefined && own !== "") return parseDebug(own);
  const nodeDebug = env("NODE_DEBUG");
  if (
    nodeDebug !== undefined &&
    nodeDebug.split(/[\s,]+/).some((w) => /^(noderl\*?|\*)$/i.test(w))
  ) {
    return new Set(DEBUG_CATEGORIES);
  }
  return new Set();
}

/** A logger with levels and debug categories; each node has one (`node.logger`). */
export class Logger {
  /** Messages below this level are dropped (`"none"`: all are). */
  level: LogLevel | "none";
  /** The debug categories whose traces are written. */
  readonly debugCategories: Set<DebugCategory>;
  private readonly sink: LogSink;

  /** A logger writing to `options.sink` above `options.level`. */
  constructor(options: LoggerOptions = {}) {
    const level = options.level ?? "info";
    if (!isLogLevel(level)) {
      throw new RangeError(
        `log level must be one of ${
          Object.keys(SEVERITY).join(", ")
        } or none, got ${String(level)}`,
      );
    }
    this.level = level;
    this.debugCategories = options.debug === undefined
      ? debugFromEnv()
      : parseDebug(options.debug);
    const prefix = options.name ? `[noderl ${options.name}]` : "[noderl]";
    this.sink = options.sink ??
      ((message, lvl) =>
        process.stderr.write(`${prefix} ${lvl}: ${message}\n`));
  }

  /** Whether a message at `level` would be written. */
  enabled(level: LogLevel): boolean {
    return this.level !== "none" && SEVERITY[level] <= SEVERITY[this.level];
  }

  /** Whether traces of `category` are on. */
  tracing(category: DebugCategory): boolean {
    return this.debugCategories.has(category);
  }

  /** Writes `message` at `level` if the level is enabled. */
  log(level: LogLevel, message: string): void {
    if (!this.enabled(level)) return;
    this.write(message, level);
  }

  /** Logs at `error`. */
  error(message: string): void {
    this.log("error", message);
  }

  /** Logs at `warning`. */
  warning(message: string): void {
    this.log("warning", message);
  }

  /** Logs at `notice`. */
  notice(message: string): void {
    this.log("notice", message);
  }

  /** Logs at `info`. */
  info(message: string): void {
    this.log("info", message);
  }

  /** Logs at `debug`. */
  debug(message: string): void {
    this.log("debug", message);
  }

  /**
   * A debug trace of `category`: written (at level `debug`, prefixed with
   * the category) when that category is on, whatever the level. Pass a
   * function to build the text only then.
   */
  trace(category: DebugCategory, message: string | (() => string)): void {
    if (!this.debugCategories.has(category)) return;
    this.write(
      `${category}: ${typeof message === "function" ? message() : message}`,
      "debug",
    );
  }

  /** Writes one line to the sink; a sink that throws is ignored. */
  private write(message: string, level: LogLevel): void {
    try {
      this.sink(message, level);
    } catch {
      // A failing sink must not take the node down.
    }
  }
}
