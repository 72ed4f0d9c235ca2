/**
 * Which process is running: a context that follows a process's async
 * function across awaits, and the list of running nodes (the first is the
 * default node for code outside any process). Internal.
 *
 * Two implementations, the cheaper one for the runtime:
 *
 * - `AsyncLocalStorage` on Deno and on Node ≥ 24 (where it is built on
 *   V8's continuation data and costs next to nothing). It follows awaits and
 *   also the callbacks of timers and I/O started inside the process.
 * - On Node 20 and 22, AsyncLocalStorage runs Node's async hooks for every
 *   promise of the program, about a quarter of the cost of receiving a
 *   message. There the context rides on `v8.promiseHooks` instead: a promise
 *   made by `then` or `await` in a process remembers it, and its reaction
 *   runs as that process. It follows awaits and promise-based APIs, not
 *   plain callbacks (wrap those with `bindProcess`).
 *
 * `NODERL_CONTEXT=async-local-storage` (or `promise-hooks`) picks one. On
 * Deno, `promise-hooks` makes an idle process ~300 bytes smaller and spawn
 * ~40% faster, at the price of plain callbacks and of ~30% of the rate of
 * small one-way messages (docs/bench.md).
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import process from "node:process";
import v8 from "node:v8";
import { optionalEnv } from "./_env.ts";
import type { Process } from "./process.ts";

/** The process whose code runs, kept across awaits. */
export interface ProcessContext {
  /** Runs `fn` as process `p`; whatever `fn` awaits continues as `p`. */
  run<R>(p: Process, fn: () => R): R;
  /** The running process, if any. */
  getStore(): Process | undefined;
}

/** The context on `v8.promiseHooks` (see the module's notes). */
class PromiseHookContext implements ProcessContext {
  private current: Process | undefined;
  private installed = false;
  private readonly saved: Array<Process | undefined> = [];

  run<R>(p: Process, fn: () => R): R {
    if (!this.installed) this.install();
    const prev = this.current;
    this.current = p;
    try {
      return fn();
    } finally {
      this.current = prev;
    }
  }

  getStore(): Process | undefined {
    return this.current;
  }

  private install(): void {
    this.installed = true;
    const key = Symbol("noderl process");
    type Marked = Promise<unknown> & { [key]?: Process };
    v8.promiseHooks.createHook({
      // Only promises with a parent are marked: those `then` and `await`
      // make, whose reactions run the code that follows. A promise without
      // one (an async function's result, `new Promise`) runs no code of its
      // own in a reaction, and a mark costs the promise a property array
      // (40 bytes): an idle process has two of each kind.
      init: (promise: Marked, parent: unknown) => {
        if (parent !== undefined && this.current !== undefined) {
          promise[key] = this.current;
        }
      },
      before: (promise: Marked) => {
        this.saved.push(this.current);
        this.current = promise[key];
      },
      after: () => {
        this.current = this.saved.pop();
      },
    });
  }
}

/** NODE_OPTIONS, where flags may be passed too. */
function wantedOptions(): string | undefined {
  return optionalEnv("NODE_OPTIONS");
}

function choose(): ProcessContext {
  // Unset when the environment may not be read (Deno): the default.
  const wanted = optionalEnv("NODERL_CONTEXT");
  if (wanted === "async-local-storage") return new AsyncLocalStorage();
  const hooks = typeof v8.promiseHooks?.createHook === "function";
  if (wanted === "promise-hooks" && hooks) return new PromiseHookContext();
  if (wanted !== undefined && wanted !== "promise-hooks") {
    console.warn(
      `noderl: NODERL_CONTEXT=${wanted} is not async-local-storage or promise-hooks; using the default`,
    );
  }
  const isNode = !("Deno" in globalThis) && !("Bun" in globalThis);
  const major = Number(process.versions?.node?.split(".")[0] ?? 0);
  const flag = "--experimental-async-context-frame";
  const frames = process.execArgv?.includes(flag) ||
    (wantedOptions() ?? "").includes(flag);
  return isNode && hooks && major < 24 && !frames
    ? new PromiseHookContext()
    : new AsyncLocalStorage();
}

/** The process whose code is running, if any. */
export const processContext: ProcessContext = choose();

/** Nodes started in this OS process and still running, oldest first. */
export const runningNodes: unknown[] = [];
