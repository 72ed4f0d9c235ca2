/**
 * Which process is running: a context that follows a process's async
 * function across awaits, and the list of running nodes (the first is the
 * default node for code outside any process). Internal.
 *
 * Three implementations, the cheapest one for the runtime:
 *
 * - On Deno, V8's continuation data directly (`ContinuationContext`): the
 *   value V8 carries from where a promise reaction, timer or I/O callback
 *   was made to where it runs, which Deno's `AsyncLocalStorage` is built on.
 *   A process's context is one 32-byte object; `AsyncLocalStorage.run`
 *   would make a ~380-byte mapping per process (its spawn ~1.5-2.5× slower).
 *   It follows awaits and the callbacks of timers and I/O. Deno exposes the
 *   accessors only internally (`Deno[Deno.internal].core`): they are checked
 *   at start, and without them `AsyncLocalStorage` is used.
 * - `AsyncLocalStorage` on Node ≥ 24 (where it is built on V8's
 *   continuation data and costs next to nothing), and where the above is
 *   missing. It follows awaits and also the callbacks of timers and I/O
 *   started inside the process.
 * - On Node 20 and 22, AsyncLocalStorage runs Node's async hooks for every
 *   promise of the program, about a quarter of the cost of receiving a
 *   message. There the context rides on `v8.promiseHooks` instead: a promise
 *   made by `then` or `await` in a process remembers it, and its reaction
 *   runs as that process. It follows awaits and promise-based APIs, not
 *   plain callbacks (wrap those with `bindProcess`).
 *
 * `NODERL_CONTEXT=async-local-storage` (`promise-hooks`,
 * `continuation-data`) picks one.
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

/**
 * The context on Deno's continuation data (see the module's notes): the
 * running process rides on the value V8 keeps with every promise reaction,
 * timer and I/O callback, which `AsyncLocalStorage` is built on in Deno.
 * `AsyncLocalStorage.run` makes a context mapping (a dictionary object, an
 * entry object and a `WeakMap` entry: ~380 bytes) for every process; here a
 * process's context is one small object holding it. Code that runs its own
 * `AsyncLocalStorage` inside a process keeps both: Deno copies the current
 * context into its mapping, this key included; a process spawned inside
 * someone's `AsyncLocalStorage.run` gets a mapping with their values and
 * this key.
 */
class ContinuationContext implements ProcessContext {
  private readonly core: DenoCore;
  constructor(core: DenoCore) {
    this.core = core;
  }

  run<R>(p: Process, fn: () => R): R {
    const core = this.core;
    const prev = core.getAsyncContext();
    core.setAsyncContext(
      prev === undefined || prev === null || prev instanceof Frame
        ? new Frame(p)
        : { __proto__: null, ...(prev as object), [kProcess]: p },
    );
    try {
      return fn();
    } finally {
      core.setAsyncContext(prev);
    }
  }

  getStore(): Process | undefined {
    const c = this.core.getAsyncContext() as
      | { [kProcess]?: Process }
      | null
      | undefined;
    return c?.[kProcess];
  }
}

/** The key of the running process in a context (one per copy of noderl). */
const kProcess = Symbol("noderl.process");

/** A process's own context: the process, under {@linkcode kProcess}. */
class Frame {
  readonly [kProcess]: Process;
  constructor(p: Process) {
    this[kProcess] = p;
  }
}

/** Deno's getter and setter of V8's continuation data (internal to Deno). */
interface DenoCore {
  getAsyncContext(): unknown;
  setAsyncContext(value: unknown): void;
}

/**
 * Deno's continuation data accessors, when this Deno has them and they
 * behave as expected; else undefined (then `AsyncLocalStorage` is used).
 */
function denoCore(): DenoCore | undefined {
  try {
    const deno = (globalThis as { Deno?: Record<symbol, unknown> }).Deno;
    const internal = (deno as { internal?: unknown } | undefined)?.internal;
    if (deno === undefined || typeof internal !== "symbol") return undefined;
    const core = (deno[internal] as { core?: Partial<DenoCore> } | undefined)
      ?.core;
    if (
      typeof core?.getAsyncContext !== "function" ||
      typeof core.setAsyncContext !== "function"
    ) return undefined;
    const c = core as DenoCore;
    const prev = c.getAsyncContext();
    const probe = { probe: true };
    c.setAsyncContext(probe);
    const ok = c.getAsyncContext() === probe;
    c.setAsyncContext(prev);
    return ok && c.getAsyncContext() === prev ? c : undefined;
  } catch {
    return undefined;
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
  const core = denoCore();
  if (wanted === "continuation-data" && core) {
    return new ContinuationContext(core);
  }
  if (
    wanted !== undefined && wanted !== "promise-hooks" &&
    wanted !== "continuation-data"
  ) {
    console.warn(
      `noderl: NODERL_CONTEXT=${wanted} is not async-local-storage, promise-hooks or continuation-data; using the default`,
    );
  }
  if (core) return new ContinuationContext(core);
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

/** Which implementation {@linkcode processContext} is (for tests and docs). */
export const contextKind:
  | "continuation-data"
  | "async-local-storage"
  | "promise-hooks" = processContext instanceof ContinuationContext
    ? "continuation-data"
    : processContext instanceof PromiseHookContext
    ? "promise-hooks"
    : "async-local-storage";

/** Nodes started in this OS process and still running, oldest first. */
export const runningNodes: unknown[] = [];
