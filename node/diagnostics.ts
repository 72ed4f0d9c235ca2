/**
 * `node:diagnostics_channel` events, so APM tools can subscribe to what a
 * node does without a logger: connections made and lost, handshakes that
 * failed, processes that crashed. The channels exist on Node.js and on
 * Deno; publishing costs nothing while nobody subscribes.
 *
 * @example
 * ```ts
 * import dc from "node:diagnostics_channel";
 * import { diagnosticsChannels, type ProcessCrashEvent } from "./diagnostics.ts";
 * import { startRegistry } from "./registry.ts";
 * import { startNode } from "./node.ts";
 * import assert from "node:assert/strict";
 *
 * const crashes: ProcessCrashEvent[] = [];
 * const onCrash = (e: unknown) => crashes.push(e as ProcessCrashEvent);
 * dc.subscribe(diagnosticsChannels.processCrash, onCrash);
 * const registry = await startRegistry({ port: 0 });
 * const node = await startNode({ name: "dc@localhost", cookie: "c", registryPort: registry.port, logLevel: "none" });
 * const pid = node.spawn(() => {
 *   throw new Error("boom");
 * });
 * await node.processOf(pid)?.exited;
 * assert.equal(crashes.length, 1);
 * assert.ok(crashes[0].pid.equals(pid));
 * dc.unsubscribe(diagnosticsChannels.processCrash, onCrash);
 * await node.stop();
 * await registry.close();
 * ```
 *
 * @module
 */
import dc from "node:diagnostics_channel";
import type { Pid } from "./terms.ts";

/** The channel names noderl publishes on. */
export const diagnosticsChannels = {
  /** A distribution connection is up: {@linkcode ConnectEvent}. */
  connect: "noderl:connect",
  /** A distribution connection went down: {@linkcode DisconnectEvent}. */
  disconnect: "noderl:disconnect",
  /** A handshake failed (wrong cookie, refused, …): {@linkcode HandshakeFailureEvent}. */
  handshakeFailure: "noderl:handshake-failure",
  /** A process crashed: {@linkcode ProcessCrashEvent}. */
  processCrash: "noderl:process-crash",
} as const;

/** Published on `noderl:connect`. */
export interface ConnectEvent {
  /** This node's name. */
  node: string;
  /** The peer's name. */
  peer: string;
  /** Whether the peer is hidden (not published). */
  hidden: boolean;
  /** The peer's distribution flags. */
  flags: bigint;
  /** The peer's creation. */
  creation: number;
}

/** Published on `noderl:disconnect`. */
export interface DisconnectEvent {
  /** This node's name. */
  node: string;
  /** The peer's name. */
  peer: string;
  /** Why the connection ended. */
  reason: string;
}

/** Published on `noderl:handshake-failure`. */
export interface HandshakeFailureEvent {
  /** This node's name. */
  node: string;
  /** The peer's name, or its address when its name is not known. */
  peer: string;
  /** `"out"` when this node was connecting, `"in"` when the peer was. */
  direction: "in" | "out";
  /** The error (a `HandshakeError` or a connection error); never holds the cookie. */
  error: Error;
}

/** Published on `noderl:process-crash`. */
export interface ProcessCrashEvent {
  /** This node's name. */
  node: string;
  /** The crashed process. */
  pid: Pid;
  /** Its registered name, if it had one. */
  registeredName: string | undefined;
  /** The exit reason, as a term. */
  reason: unknown;
  /** The JavaScript error thrown, when there was one. */
  error: unknown;
  /** The initial call, as text (`Elixir.Kate.say_name/0`). */
  initialCall: string | undefined;
  /**
   * Whether a crash report was logged (false when a linked process that
   * traps exits — a supervisor — takes the exit instead).
   */
  logged: boolean;
}

const connect = dc.channel(diagnosticsChannels.connect);
const disconnect = dc.channel(diagnosticsChannels.disconnect);
const handshakeFailure = dc.channel(diagnosticsChannels.handshakeFailure);
const processCrash = dc.channel(diagnosticsChannels.processCrash);

/** @internal */
export function publishConnect(e: ConnectEvent): void {
  if (connect.hasSubscribers) connect.publish(e);
}

/** @internal */
export function publishDisconnect(e: DisconnectEvent): void {
  if (disconnect.hasSubscribers) disconnect.publish(e);
}

/** @internal */
export function publishHandshakeFailure(e: HandshakeFailureEvent): void {
  if (handshakeFailure.hasSubscribers) handshakeFailure.publish(e);
}

/** @internal */
export function publishProcessCrash(e: ProcessCrashEvent): void {
  if (processCrash.hasSubscribers) processCrash.publish(e);
}
