/**
 * Which process is running: an AsyncLocalStorage that follows a process's
 * async function across awaits, and the list of running nodes (the first is
 * the default node for code outside any process). Internal.
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Process } from "./process.ts";

/** The process whose code is running, if any. */
export const processContext: AsyncLocalStorage<Process> = new AsyncLocalStorage<
  Process
>();

/** Nodes started in this OS process and still running, oldest first. */
export const runningNodes: unknown[] = [];
