/**
 * noderl: Erlang/Elixir-style distribution for TypeScript.
 *
 * @module
 */
export * from "./node/mod.ts";
