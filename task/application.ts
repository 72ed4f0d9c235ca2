/**
 * Applications, as Elixir's `Application`: a node's supervision tree
 * started from a list of children, and the application environment —
 * per-application key/values (`Application.getEnv(:chat, :remote_supervisor)`)
 * loaded per environment, as the seed's `config/dev.exs` and
 * `config/test.exs`.
 *
 * The environment is one per OS process (as one per BEAM VM): every node
 * started in the process sees the same values.
 *
 * @example
 * ```ts
 * import { startRegistry } from "../node/registry.ts";
 * import { startNode } from "../node/node.ts";
 * import { Application } from "./application.ts";
 * import { Task } from "./task.ts";
 * import { TaskSupervisor } from "./task_supervisor.ts";
 * import assert from "node:assert/strict";
 *
 * // config/dev.exs and config/test.exs, as data: under test, tasks run locally.
 * Application.loadConfig({
 *   dev: { chat: { remoteSupervisor: (r: string) => ["Elixir.Chat.TaskSupervisor", r] } },
 *   test: { chat: { remoteSupervisor: (_r: string) => "Elixir.Chat.TaskSupervisor" } },
 * }, { env: "test" });
 *
 * const registry = await startRegistry({ port: 0 });
 * const node = await startNode({ name: "alex@localhost", cookie: "c", registryPort: registry.port });
 * node.defineModule("Elixir.Chat", { receive_message: (m: string) => m.toUpperCase() });
 * // Chat.Application: {Task.Supervisor, name: Chat.TaskSupervisor} under Chat.Supervisor.
 * await Application.start(node, "chat", {
 *   children: [[TaskSupervisor, { name: "Elixir.Chat.TaskSupervisor" }]],
 *   strategy: "one_for_one",
 *   name: "Elixir.Chat.Supervisor",
 * });
 * const remoteSupervisor = Application.fetchEnv<(r: string) => string>("chat", "remoteSupervisor");
 * const task = TaskSupervisor.async(remoteSupervisor("moebi@localhost"), "Elixir.Chat", "receive_message", ["hi"]);
 * assert.equal(await Task.await(task), "HI");
 * await Application.stop(node, "chat");
 * await node.stop();
 * await registry.close();
 * ```
 *
 * @module
 */
import process from "node:process";
import type { Node } from "../node/node.ts";
import type { Pid } from "../node/terms.ts";
import {
  type ChildEntry,
  Supervisor,
  type SupervisorOptions,
} from "./supervisor.ts";

/** What {@linkcode Application.start} starts. */
export interface ApplicationSpec extends Omit<SupervisorOptions, "link"> {
  /** The top supervisor's children, started in order. */
  children: readonly ChildEntry[];
  /** Environment values to put before starting (kept when already set). */
  env?: Record<string, unknown>;
}

/** Per-application configuration: `{ app: { key: value } }`. */
export type AppConfig = Record<string, Record<string, unknown>>;

/**
 * Configuration per environment, as `config/*.exs`: `all` applies first in
 * every environment, then the entry named by the environment.
 */
export type ConfigByEnvironment =
  & { all?: AppConfig }
  & Record<
    string,
    AppConfig | undefined
  >;

/** Options of {@linkcode Application.loadConfig}. */
export interface LoadConfigOptions {
  /**
   * The environment.
   * @default `NODERL_ENV`, else `MIX_ENV`, else "dev"
   */
  env?: string;
}

const envs = new Map<string, Map<string, unknown>>();
let currentEnvironment: string | undefined;
const running = new WeakMap<Node, Map<string, Pid>>();

function appName(app: string): string {
  if (typeof app !== "string" || app === "") {
    throw new TypeError(
      `an application name is a non-empty string like "chat", got ${
        String(app)
      }`,
    );
  }
  return app;
}

/**
 * Applications and their environment. Start a node's supervision tree with
 * {@linkcode Application.start}; read configuration with
 * {@linkcode Application.getEnv} / {@linkcode Application.fetchEnv}.
 */
export class Application {
  private constructor() {}

  /**
   * Starts application `app` on `node`: puts `spec.env` values that are not
   * set yet, then starts a supervisor (not linked to the caller) with
   * `spec.children` and the supervisor options (`strategy`, `maxRestarts`,
   * `maxSeconds`, `name`). Resolves with the supervisor's pid; rejects if
   * the application already runs on `node` or a child fails to start.
   */
  static async start(
    node: Node,
    app: string,
    spec: ApplicationSpec,
  ): Promise<Pid> {
    appName(app);
    let apps = running.get(node);
    if (!apps) running.set(node, apps = new Map());
    const pid = apps.get(app);
    if (pid !== undefined && node.isAlive(pid)) {
      throw new Error(
        `application ${app} is already started on ${node.name} (stop it first with Application.stop)`,
      );
    }
    for (const [k, v] of Object.entries(spec.env ?? {})) {
      if (!Application.hasEnv(app, k)) Application.putEnv(app, k, v);
    }
    const { children, env: _env, ...options } = spec;
    const sup = await Supervisor.start(node, children, {
      ...options,
      link: false,
    });
    apps.set(app, sup);
    return sup;
  }

  /**
   * Stops application `app` on `node`: its supervision tree shuts down in
   * order (reason `shutdown`). Resolves false if it was not running.
   */
  static async stop(node: Node, app: string): Promise<boolean> {
    const apps = running.get(node);
    const pid = apps?.get(app);
    if (pid === undefined) return false;
    apps!.delete(app);
    if (!node.isAlive(pid)) return false;
    await Supervisor.stop(pid, "shutdown", { node });
    return true;
  }

  /** The applications running on `node`, with their supervisors. */
  static started(node: Node): Array<{ app: string; supervisor: Pid }> {
    const apps = running.get(node);
    if (!apps) return [];
    return [...apps].filter(([, pid]) => node.isAlive(pid)).map((
      [app, supervisor],
    ) => ({ app, supervisor }));
  }

  /** Sets `key` of application `app`. */
  static putEnv(app: string, key: string, value: unknown): void {
    let m = envs.get(appName(app));
    if (!m) envs.set(app, m = new Map());
    m.set(key, value);
  }

  /** The value of `key` of `app`, or `defaultValue` (default `undefined`) when unset. */
  static getEnv<T = unknown>(
    app: string,
    key: string,
    defaultValue?: T,
  ): T | undefined {
    const m = envs.get(app);
    return m !== undefined && m.has(key) ? m.get(key) as T : defaultValue;
  }

  /** The value of `key` of `app`; throws an error saying how to set it when unset. */
  static fetchEnv<T = unknown>(app: string, key: string): T {
    const m = envs.get(app);
    if (m === undefined || !m.has(key)) {
      throw new Error(
        `application ${app} has no environment value ${key}${
          currentEnvironment ? ` in environment ${currentEnvironment}` : ""
        }: set it with Application.putEnv("${app}", "${key}", value) or in the config given to Application.loadConfig`,
      );
    }
    return m.get(key) as T;
  }

  /** Whether `key` of `app` is set. */
  static hasEnv(app: string, key: string): boolean {
    return envs.get(app)?.has(key) ?? false;
  }

  /** Removes `key` of `app`. */
  static deleteEnv(app: string, key: string): void {
    envs.get(app)?.delete(key);
  }

  /** All keys and values of `app`. */
  static getAllEnv(app: string): Record<string, unknown> {
    return Object.fromEntries(envs.get(app) ?? []);
  }

  /**
   * Loads configuration for one environment: `config.all`, then
   * `config[env]`, each value put with {@linkcode Application.putEnv}
   * (later ones win). Returns the environment's name. The environment is
   * `options.env`, else `NODERL_ENV`, else `MIX_ENV`, else `"dev"`.
   */
  static loadConfig(
    config: ConfigByEnvironment,
    options: LoadConfigOptions = {},
  ): string {
    const env = options.env ?? process.env.NODERL_ENV ?? process.env.MIX_ENV ??
      "dev";
    for (const part of [config.all, config[env]]) {
      for (const [app, values] of Object.entries(part ?? {})) {
        for (const [k, v] of Object.entries(values)) {
          Application.putEnv(app, k, v);
        }
      }
    }
    currentEnvironment = env;
    return env;
  }

  /** The environment last loaded with {@linkcode Application.loadConfig}, if any. */
  static environment(): string | undefined {
    return currentEnvironment;
  }
}
