/**
 * OTP behaviours: `GenServer` and `Agent`, as Elixir's — and compatible on
 * the wire with them, so Elixir nodes call noderl servers and noderl calls
 * Elixir servers.
 *
 * @module
 */
export {
  type CallResult,
  type From,
  GenServer,
  type GenServerChildOptions,
  type GenServerImpl,
  type InitResult,
  type MaybePromise,
  type NoReplyResult,
  type ResultExtras,
  type StartOptions,
} from "./gen_server.ts";
export { GenServerCallError, GenServerStartError } from "./errors.ts";
export {
  type GlobalNameRegistry,
  noderlGlobalNames,
  type ServerRef,
  setGlobalNameRegistry,
} from "./_names.ts";
export { Agent, type AgentMfa } from "./agent.ts";
